/* GGUF (v2 and v3) reader: validates the whole header against the file size on open, exposes the
 * metadata key/values (scalars, strings and arrays, e.g. the tokenizer.ggml.* vocabulary) and the
 * tensors, and dequantises ggml block formats (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q2_K..Q6_K, Q8_K) to fp32. Strings point into the memory-mapped file and are NOT
 * NUL-terminated: use the returned length. Everything stays valid until gguf_close. */
#ifndef PRIORFT_MODEL_GGUF_H
#define PRIORFT_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Metadata value types, numbered as in the GGUF specification. */
typedef enum GgufValueType {
    GGUF_VALUE_UINT8 = 0,
    GGUF_VALUE_INT8 = 1,
    GGUF_VALUE_UINT16 = 2,
    GGUF_VALUE_INT16 = 3,
    GGUF_VALUE_UINT32 = 4,
    GGUF_VALUE_INT32 = 5,
    GGUF_VALUE_FLOAT32 = 6,
    GGUF_VALUE_BOOL = 7,
    GGUF_VALUE_STRING = 8,
    GGUF_VALUE_ARRAY = 9,
    GGUF_VALUE_UINT64 = 10,
    GGUF_VALUE_INT64 = 11,
    GGUF_VALUE_FLOAT64 = 12,
    GGUF_VALUE_COUNT
} GgufValueType;

/* Tensor element types, numbered as ggml's ggml_type. */
typedef enum GgmlType {
    GGML_TYPE_F32 = 0,
    GGML_TYPE_F16 = 1,
    GGML_TYPE_Q4_0 = 2,
    GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6,
    GGML_TYPE_Q5_1 = 7,
    GGML_TYPE_Q8_0 = 8,
    GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10,
    GGML_TYPE_Q3_K = 11,
    GGML_TYPE_Q4_K = 12,
    GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14,
    GGML_TYPE_Q8_K = 15,
    GGML_TYPE_BF16 = 30,
} GgmlType;

#define GGUF_MAX_DIMS 4

/* One tensor of the file. ne[0] is the innermost (fastest-varying) dimension, i.e. the number
 * of columns of a PyTorch (rows, cols) matrix; data points into the mapped file. */
typedef struct GgufTensor {
    const char *name;      /* not NUL-terminated: name_len bytes */
    size_t name_len;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* unused dims are 1 */
    uint32_t type;         /* GgmlType */
    uint64_t n_elements;
    uint64_t n_bytes;
    const uint8_t *data;
} GgufTensor;

typedef struct GgufFile GgufFile;

/* Maps and validates `path` (magic, version 2 or 3, counts against the file size, string and
 * array lengths, value and tensor types, dims, offsets and alignment). 0 or -1 with a message
 * naming the file and the problem. */
int gguf_open(const char *path, GgufFile **out);
void gguf_close(GgufFile *f);

uint32_t gguf_version(const GgufFile *f);
const char *gguf_path(const GgufFile *f);

/* Metadata: index of `key` (0 .. gguf_key_count-1) or -1 when absent (no error recorded). */
int gguf_find_key(const GgufFile *f, const char *key);
int gguf_key_count(const GgufFile *f);
/* NUL-terminated copy of the i-th key's name. */
const char *gguf_key_name(const GgufFile *f, int i);
GgufValueType gguf_key_type(const GgufFile *f, int i);
/* Element type of an array value (GGUF_VALUE_COUNT when the key is not an array). */
GgufValueType gguf_key_array_type(const GgufFile *f, int i);

/* Typed getters by key name. Each returns 0, or -1 with a message naming the file and key when
 * the key is absent or of an incompatible type. Integer getters accept any integer type whose
 * value fits; float getters accept float32/float64 and integers. */
int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out);
int gguf_get_i64(const GgufFile *f, const char *key, int64_t *out);
int gguf_get_f32(const GgufFile *f, const char *key, float *out);
int gguf_get_bool(const GgufFile *f, const char *key, int *out);
int gguf_get_string(const GgufFile *f, const char *key, const char **s, size_t *len);

/* Arrays (e.g. "tokenizer.ggml.tokens"): length, then elements by index. The element getters
 * check the index and the element type (strings only from string arrays; floats and ints from
 * numeric arrays). */
int gguf_get_array_len(const GgufFile *f, const char *key, size_t *len);
int gguf_get_array_string(const GgufFile *f, const char *key, size_t i, const char **s,
                          size_t *len);
int gguf_get_array_float(const GgufFile *f, const char *key, size_t i, float *out);
int gguf_get_array_int(const GgufFile *f, const char *key, size_t i, int64_t *out);

/* Tensors. */
int gguf_tensor_count(const GgufFile *f);
const GgufTensor *gguf_tensor_at(const GgufFile *f, int i);
/* The tensor named `name` or NULL (no error recorded). */
const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name);

/* Dequantises a whole tensor into out[n_elements], row-major with ne[0] innermost. */
int gguf_tensor_to_f32(const GgufFile *f, const GgufTensor *t, float *out);

/* Elements per block and bytes per block of a ggml type; 0 when unsupported. */
size_t ggml_block_elems(uint32_t type);
size_t ggml_block_bytes(uint32_t type);
const char *ggml_type_name(uint32_t type);

/* Dequantises n elements (a multiple of the block size) of `type` from src to dst. Returns -1
 * with a message for an unsupported type. */
int ggml_dequantize(uint32_t type, const void *src, size_t n, float *dst);

/* Loads a llama- or qwen2-architecture model from an open GGUF file (see model/load.h for the
 * path-based entry point). q/k weights of llama-arch files are un-permuted to rotate-half. */
int gguf_load_model(const GgufFile *f, Model *out);

#endif
