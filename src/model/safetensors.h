/* safetensors reader and writer: an 8-byte little-endian header length, a JSON header naming
 * each tensor's dtype, shape and byte range, then the data. The reader memory-maps the file and
 * validates every entry against the file size; F32, F16 and BF16 convert to fp32. The writer
 * writes F32 atomically (see util/fileio.h) with the header padded to 8 bytes. */
#ifndef PRIORFT_MODEL_SAFETENSORS_H
#define PRIORFT_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/fileio.h"

#define ST_MAX_DIMS 8

typedef struct StTensor {
    char *name;
    char dtype[16];        /* "F32", "BF16", ... */
    size_t elem_size;      /* bytes per element of dtype */
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t n_elements;
    const uint8_t *data;   /* into the map */
    size_t n_bytes;
} StTensor;

typedef struct SafetensorsFile {
    char *path;
    MappedFile map;
    int n_tensors;
    StTensor *tensors;
} SafetensorsFile;

/* Maps and validates `path`. 0, or -1 with a message naming the file and the tensor or field. */
int st_open(const char *path, SafetensorsFile *out);
void st_close(SafetensorsFile *f);

/* The tensor named `name` or NULL. */
const StTensor *st_find(const SafetensorsFile *f, const char *name);

/* Converts a F32, F16 or BF16 tensor to fp32 into out[n_elements]; -1 for other dtypes. */
int st_tensor_to_f32(const SafetensorsFile *f, const StTensor *t, float *out);

/* One tensor to write: fp32, row-major. */
typedef struct StWriteTensor {
    const char *name;
    int ndim;              /* 1 or 2 */
    int64_t shape[2];
    const float *data;
} StWriteTensor;

/* Writes the tensors as F32 to `path` atomically (no file under `path` on failure). */
int st_write_f32(const char *path, const StWriteTensor *tensors, int n);

/* IEEE half and bfloat16 to float. */
float fp16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t h);

#endif
