/* safetensors reading (validated, memory-mapped) and atomic F32 writing (see safetensors.h). */
#include "model/safetensors.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* The format's own limit on the JSON header. */
#define ST_MAX_HEADER (100u << 20)

float fp16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static size_t dtype_size(const char *d)
{
    static const struct { const char *name; size_t size; } known[] = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
        {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1},
        {"F8_E4M3", 1}, {"F8_E5M2", 1},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(d, known[i].name) == 0) return known[i].size;
    return 0;
}

static int cmp_by_data(const void *a, const void *b)
{
    const StTensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data;
}

/* Parses one header entry into t; `data` is the start of the data section of `avail` bytes. */
static int parse_entry(const char *path, const char *name, json_t *v, const uint8_t *data,
                       uint64_t avail, StTensor *t)
{
    if (!json_is_object(v)) return pf_fail("%s: tensor '%s': entry is not an object", path, name);
    json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype)) return pf_fail("%s: tensor '%s': missing dtype", path, name);
    if (!json_is_array(shape)) return pf_fail("%s: tensor '%s': missing shape", path, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return pf_fail("%s: tensor '%s': data_offsets must be [begin, end]", path, name);

    const char *ds = json_string_value(dtype);
    t->elem_size = dtype_size(ds);
    if (!t->elem_size) return pf_fail("%s: tensor '%s': unknown dtype '%s'", path, name, ds);
    snprintf(t->dtype, sizeof t->dtype, "%s", ds);

    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS)
        return pf_fail("%s: tensor '%s': %zu dims (at most %d)", path, name, nd, ST_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t count = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return pf_fail("%s: tensor '%s': shape[%zu] is not a non-negative integer", path,
                           name, i);
        uint64_t n = (uint64_t)json_integer_value(d);
        if (n && count > UINT64_MAX / 16 / n)
            return pf_fail("%s: tensor '%s': shape is absurdly large", path, name);
        count *= n;
        t->shape[i] = (int64_t)n;
    }
    t->n_elements = count;

    json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return pf_fail("%s: tensor '%s': bad data_offsets", path, name);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    if (end > avail)
        return pf_fail("%s: tensor '%s': data_offsets end %llu is past the end of the data "
                       "(%llu bytes)", path, name, (unsigned long long)end,
                       (unsigned long long)avail);
    if (end - begin != count * t->elem_size)
        return pf_fail("%s: tensor '%s': %llu bytes of data but shape and dtype %s need %llu",
                       path, name, (unsigned long long)(end - begin), ds,
                       (unsigned long long)(count * t->elem_size));
    t->data = data + begin;
    t->n_bytes = (size_t)(end - begin);
    t->name = xstrdup(name);
    return 0;
}

static int parse_header(SafetensorsFile *f, const char *path)
{
    const uint8_t *p = f->map.data;
    size_t size = f->map.size;
    if (size < 8) return pf_fail("%s: file too short for a safetensors header (%zu bytes)",
                                 path, size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > size - 8)
        return pf_fail("%s: header length %llu exceeds the file size %zu", path,
                       (unsigned long long)hlen, size);
    if (hlen > ST_MAX_HEADER)
        return pf_fail("%s: header length %llu is over the 100 MB limit", path,
                       (unsigned long long)hlen);

    json_error_t err;
    json_t *root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &err);
    if (!root) return pf_fail("%s: header is not valid JSON: %s (column %d)", path, err.text,
                              err.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return pf_fail("%s: header is not a JSON object", path);
    }

    const uint8_t *data = p + 8 + hlen;
    uint64_t avail = size - 8 - hlen;
    f->tensors = xcalloc(json_object_size(root) + 1, sizeof *f->tensors);
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) continue;
        rc = parse_entry(path, key, v, data, avail, &f->tensors[f->n_tensors]);
        if (rc) break;
        f->n_tensors++;
    }
    json_decref(root);
    if (rc) return rc;

    /* Byte ranges may not overlap (the spec also forbids holes; we tolerate them). */
    StTensor *sorted = xmalloc((size_t)(f->n_tensors + 1) * sizeof *sorted);
    memcpy(sorted, f->tensors, (size_t)f->n_tensors * sizeof *sorted);
    qsort(sorted, (size_t)f->n_tensors, sizeof *sorted, cmp_by_data);
    for (int i = 1; i < f->n_tensors; i++) {
        if (sorted[i - 1].data + sorted[i - 1].n_bytes > sorted[i].data) {
            rc = pf_fail("%s: tensors '%s' and '%s' overlap", path, sorted[i - 1].name,
                         sorted[i].name);
            break;
        }
    }
    free(sorted);
    return rc;
}

int st_open(const char *path, SafetensorsFile *out)
{
    memset(out, 0, sizeof *out);
    if (file_map(path, &out->map) != 0) return -1;
    out->path = xstrdup(path);
    if (parse_header(out, path) != 0) {
        st_close(out);
        return -1;
    }
    return 0;
}

void st_close(SafetensorsFile *f)
{
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    file_unmap(&f->map);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const SafetensorsFile *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

int st_tensor_to_f32(const SafetensorsFile *f, const StTensor *t, float *out)
{
    const uint8_t *p = t->data;
    if (strcmp(t->dtype, "F32") == 0) {
        memcpy(out, p, t->n_bytes);
    } else if (strcmp(t->dtype, "F16") == 0 || strcmp(t->dtype, "BF16") == 0) {
        int bf = t->dtype[0] == 'B';
        for (uint64_t i = 0; i < t->n_elements; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            out[i] = bf ? bf16_to_f32(h) : fp16_to_f32(h);
        }
    } else {
        return pf_fail("%s: tensor '%s': dtype %s is not supported (F32, F16, BF16 are)",
                       f->path, t->name, t->dtype);
    }
    return 0;
}

int st_write_f32(const char *path, const StWriteTensor *tensors, int n)
{
    json_t *root = json_object();
    json_t *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    json_object_set_new(root, "__metadata__", meta);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        const StWriteTensor *t = &tensors[i];
        uint64_t count = (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1);
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_array_append_new(offs, json_integer((json_int_t)at));
        json_array_append_new(offs, json_integer((json_int_t)(at + 4 * count)));
        json_object_set_new(e, "dtype", json_string("F32"));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets", offs);
        json_object_set_new(root, t->name, e);
        at += 4 * count;
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!header) return pf_fail("%s: cannot serialise the header", path);

    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));

    AtomicFile a;
    if (atomic_open(&a, path) != 0) {
        free(header);
        return -1;
    }
    int rc = atomic_write(&a, len_bytes, 8);
    if (!rc) rc = atomic_write(&a, header, hlen);
    if (!rc) rc = atomic_write(&a, "        ", padded - hlen);
    free(header);
    for (int i = 0; i < n && !rc; i++) {
        const StWriteTensor *t = &tensors[i];
        size_t count = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
        rc = atomic_write(&a, t->data, count * sizeof(float));
    }
    if (rc) {
        atomic_abort(&a);
        return -1;
    }
    return atomic_commit(&a);
}
