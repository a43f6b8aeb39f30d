/* GGUF reading, validation, dequantisation and model loading (see gguf.h). The block formats
 * follow ggml's ggml-quants.c (dequantize_row_*); a file is validated completely on open so
 * the getters and the dequantisers can never read outside the mapping. */
#include "model/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/fileio.h"

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define GGUF_MAX_KV 65536      /* real files have < 100 keys */
#define GGUF_MAX_STRING (1u << 30)

typedef struct GgufKv {
    char *key;             /* NUL-terminated copy */
    uint32_t type;
    uint32_t arr_type;     /* element type of an array */
    uint64_t arr_len;
    const uint8_t *val;    /* the value; for arrays the first element */
    uint64_t *str_offsets; /* string arrays: offset of element i from val */
} GgufKv;

struct GgufFile {
    char *path;
    MappedFile map;
    uint32_t version;
    int n_kv;
    GgufKv *kv;
    int n_tensors;
    GgufTensor *tensors;
    uint64_t alignment;
};

/* ---- type tables ---- */

static const struct { uint32_t type; const char *name; uint32_t elems, bytes; } ggml_types[] = {
    {0, "F32", 1, 4},        {1, "F16", 1, 2},        {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},     {6, "Q5_0", 32, 22},     {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},     {9, "Q8_1", 32, 40},     {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},  {12, "Q4_K", 256, 144},  {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},  {15, "Q8_K", 256, 292},  {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74}, {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},  {21, "IQ3_S", 256, 110}, {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},       {25, "I16", 1, 2},
    {26, "I32", 1, 4},       {27, "I64", 1, 8},       {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},  {30, "BF16", 1, 2},      {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static int type_index(uint32_t type)
{
    for (size_t i = 0; i < N_GGML_TYPES; i++)
        if (ggml_types[i].type == type) return (int)i;
    return -1;
}

size_t ggml_block_elems(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? 0 : ggml_types[i].elems;
}

size_t ggml_block_bytes(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? 0 : ggml_types[i].bytes;
}

const char *ggml_type_name(uint32_t type)
{
    int i = type_index(type);
    return i < 0 ? "unknown" : ggml_types[i].name;
}

static size_t value_size(uint32_t t)
{
    static const size_t sizes[GGUF_VALUE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < GGUF_VALUE_COUNT ? sizes[t] : 0;
}

/* ---- bounded reading of the header ---- */

typedef struct Cursor {
    const uint8_t *p;
    size_t pos, size;
    const char *path;
} Cursor;

static int need(Cursor *c, uint64_t n, const char *what)
{
    if (n > c->size - c->pos)
        return pf_fail("%s: truncated at byte %zu reading %s (%llu bytes needed, %zu left)",
                       c->path, c->pos, what, (unsigned long long)n, c->size - c->pos);
    return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int rd_u32(Cursor *c, uint32_t *v, const char *what)
{
    if (need(c, 4, what)) return -1;
    *v = (uint32_t)le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(Cursor *c, uint64_t *v, const char *what)
{
    if (need(c, 8, what)) return -1;
    *v = le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

/* A string (u64 length + bytes); *s points into the map. */
static int rd_str(Cursor *c, const char **s, uint64_t *len, const char *what)
{
    if (rd_u64(c, len, what)) return -1;
    if (*len > GGUF_MAX_STRING)
        return pf_fail("%s: %s has absurd string length %llu at byte %zu", c->path, what,
                       (unsigned long long)*len, c->pos - 8);
    if (need(c, *len, what)) return -1;
    *s = (const char *)c->p + c->pos;
    c->pos += (size_t)*len;
    return 0;
}

static int parse_kv(Cursor *c, GgufKv *kv)
{
    const char *key;
    uint64_t klen;
    if (rd_str(c, &key, &klen, "a metadata key")) return -1;
    if (memchr(key, 0, (size_t)klen))
        return pf_fail("%s: metadata key contains a NUL byte", c->path);
    kv->key = xmalloc((size_t)klen + 1);
    memcpy(kv->key, key, (size_t)klen);
    kv->key[klen] = '\0';

    if (rd_u32(c, &kv->type, kv->key)) return -1;
    if (kv->type >= GGUF_VALUE_COUNT)
        return pf_fail("%s: key '%s' has unknown value type %u", c->path, kv->key, kv->type);
    if (kv->type == GGUF_VALUE_STRING) {
        const char *s;
        uint64_t n;
        kv->val = c->p + c->pos;
        return rd_str(c, &s, &n, kv->key);
    }
    if (kv->type != GGUF_VALUE_ARRAY) {
        kv->val = c->p + c->pos;
        if (need(c, value_size(kv->type), kv->key)) return -1;
        c->pos += value_size(kv->type);
        return 0;
    }

    if (rd_u32(c, &kv->arr_type, kv->key) || rd_u64(c, &kv->arr_len, kv->key)) return -1;
    if (kv->arr_type >= GGUF_VALUE_COUNT || kv->arr_type == GGUF_VALUE_ARRAY)
        return pf_fail("%s: array '%s' has unsupported element type %u", c->path, kv->key,
                       kv->arr_type);
    kv->val = c->p + c->pos;
    if (kv->arr_type != GGUF_VALUE_STRING) {
        size_t es = value_size(kv->arr_type);
        if (kv->arr_len > (c->size - c->pos) / es)
            return pf_fail("%s: array '%s' of %llu elements runs past the end of the file",
                           c->path, kv->key, (unsigned long long)kv->arr_len);
        c->pos += (size_t)kv->arr_len * es;
        return 0;
    }
    /* Each string takes at least its 8-byte length. */
    if (kv->arr_len > (c->size - c->pos) / 8)
        return pf_fail("%s: array '%s' of %llu strings runs past the end of the file", c->path,
                       kv->key, (unsigned long long)kv->arr_len);
    kv->str_offsets = xmalloc((size_t)(kv->arr_len + 1) * sizeof(uint64_t));
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        const char *s;
        uint64_t n;
        kv->str_offsets[i] = (uint64_t)(c->p + c->pos - kv->val);
        if (rd_str(c, &s, &n, kv->key)) return -1;
    }
    return 0;
}

static int parse_tensor_info(Cursor *c, GgufTensor *t, int index)
{
    uint64_t nlen;
    uint32_t nd;
    char what[48];
    snprintf(what, sizeof what, "tensor info %d", index);
    if (rd_str(c, &t->name, &nlen, what)) return -1;
    t->name_len = (size_t)nlen;
    if (rd_u32(c, &nd, what)) return -1;
    if (nd == 0 || nd > GGUF_MAX_DIMS)
        return pf_fail("%s: tensor '%.*s' has %u dims (1 to %d allowed)", c->path, (int)nlen,
                       t->name, nd, GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    uint64_t count = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < nd; d++) {
        uint64_t ne;
        if (rd_u64(c, &ne, what)) return -1;
        if (ne == 0 || ne > (1ull << 40) || count > (1ull << 50) / ne)
            return pf_fail("%s: tensor '%.*s' has invalid dimension ne[%u] = %llu", c->path,
                           (int)nlen, t->name, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
        count *= ne;
    }
    t->n_elements = count;
    if (rd_u32(c, &t->type, what)) return -1;
    size_t be = ggml_block_elems(t->type);
    if (!be)
        return pf_fail("%s: tensor '%.*s' has unknown type id %u", c->path, (int)nlen, t->name,
                       t->type);
    if (t->ne[0] % (int64_t)be != 0)
        return pf_fail("%s: tensor '%.*s': ne[0] = %lld is not a multiple of the %s block size "
                       "%zu", c->path, (int)nlen, t->name, (long long)t->ne[0],
                       ggml_type_name(t->type), be);
    t->n_bytes = count / be * ggml_block_bytes(t->type);
    uint64_t off;
    if (rd_u64(c, &off, what)) return -1;
    t->data = (const uint8_t *)(uintptr_t)off; /* an offset until the data section is known */
    return 0;
}

static int parse_file(GgufFile *f)
{
    Cursor c = {f->map.data, 0, f->map.size, f->path};
    uint32_t magic;
    uint64_t n_tensors, n_kv;
    if (f->map.size < 4 || (rd_u32(&c, &magic, "magic"), magic != GGUF_MAGIC))
        return pf_fail("%s: not a GGUF file (bad magic)", f->path);
    if (rd_u32(&c, &f->version, "version")) return -1;
    if (f->version != 2 && f->version != 3)
        return pf_fail("%s: GGUF version %u is not supported (2 and 3 are)", f->path,
                       f->version);
    if (rd_u64(&c, &n_tensors, "tensor count") || rd_u64(&c, &n_kv, "metadata count"))
        return -1;
    /* A key/value takes at least 8 + 4 + 1 bytes, a tensor info at least 8 + 4 + 8 + 4 + 8. */
    if (n_kv > GGUF_MAX_KV || n_kv > (c.size - c.pos) / 13)
        return pf_fail("%s: metadata count %llu is absurd for a file of %zu bytes", f->path,
                       (unsigned long long)n_kv, c.size);
    if (n_tensors > (c.size - c.pos) / 32)
        return pf_fail("%s: tensor count %llu is absurd for a file of %zu bytes", f->path,
                       (unsigned long long)n_tensors, c.size);

    f->kv = xcalloc((size_t)n_kv + 1, sizeof *f->kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        if (parse_kv(&c, &f->kv[i])) {
            f->n_kv = (int)i + 1;
            return -1;
        }
        f->n_kv = (int)i + 1;
        for (uint64_t j = 0; j < i; j++)
            if (strcmp(f->kv[j].key, f->kv[i].key) == 0)
                return pf_fail("%s: duplicate metadata key '%s'", f->path, f->kv[i].key);
    }

    f->alignment = 32;
    int ai = gguf_find_key(f, "general.alignment");
    if (ai >= 0) {
        if (f->kv[ai].type != GGUF_VALUE_UINT32)
            return pf_fail("%s: general.alignment must be a uint32", f->path);
        f->alignment = le(f->kv[ai].val, 4);
        if (f->alignment == 0 || (f->alignment & (f->alignment - 1)) || f->alignment > 65536)
            return pf_fail("%s: general.alignment = %llu is not a power of two", f->path,
                           (unsigned long long)f->alignment);
    }

    f->tensors = xcalloc((size_t)n_tensors + 1, sizeof *f->tensors);
    f->n_tensors = (int)n_tensors;
    for (uint64_t i = 0; i < n_tensors; i++)
        if (parse_tensor_info(&c, &f->tensors[i], (int)i)) return -1;

    uint64_t data_start = (c.pos + f->alignment - 1) / f->alignment * f->alignment;
    if (n_tensors && data_start > c.size)
        return pf_fail("%s: data section starts past the end of the file", f->path);
    uint64_t avail = n_tensors ? c.size - data_start : 0;
    for (int i = 0; i < f->n_tensors; i++) {
        GgufTensor *t = &f->tensors[i];
        uint64_t off = (uint64_t)(uintptr_t)t->data;
        if (off % f->alignment)
            return pf_fail("%s: tensor '%.*s' offset %llu is not aligned to %llu", f->path,
                           (int)t->name_len, t->name, (unsigned long long)off,
                           (unsigned long long)f->alignment);
        if (off > avail || t->n_bytes > avail - off)
            return pf_fail("%s: tensor '%.*s' data (offset %llu, %llu bytes) runs past the end "
                           "of the file", f->path, (int)t->name_len, t->name,
                           (unsigned long long)off, (unsigned long long)t->n_bytes);
        t->data = f->map.data + data_start + off;
        for (int j = 0; j < i; j++)
            if (f->tensors[j].name_len == t->name_len &&
                memcmp(f->tensors[j].name, t->name, t->name_len) == 0)
                return pf_fail("%s: duplicate tensor '%.*s'", f->path, (int)t->name_len,
                               t->name);
    }
    return 0;
}

int gguf_open(const char *path, GgufFile **out)
{
    *out = NULL;
    GgufFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    if (file_map(path, &f->map) != 0 || parse_file(f) != 0) {
        gguf_close(f);
        return -1;
    }
    *out = f;
    return 0;
}

void gguf_close(GgufFile *f)
{
    if (!f) return;
    for (int i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free(f->kv[i].str_offsets);
    }
    free(f->kv);
    free(f->tensors);
    file_unmap(&f->map);
    free(f->path);
    free(f);
}

uint32_t gguf_version(const GgufFile *f) { return f->version; }
const char *gguf_path(const GgufFile *f) { return f->path; }
int gguf_key_count(const GgufFile *f) { return f->n_kv; }
const char *gguf_key_name(const GgufFile *f, int i) { return f->kv[i].key; }
GgufValueType gguf_key_type(const GgufFile *f, int i) { return (GgufValueType)f->kv[i].type; }

GgufValueType gguf_key_array_type(const GgufFile *f, int i)
{
    return f->kv[i].type == GGUF_VALUE_ARRAY ? (GgufValueType)f->kv[i].arr_type
                                             : GGUF_VALUE_COUNT;
}

int gguf_find_key(const GgufFile *f, const char *key)
{
    for (int i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0) return i;
    return -1;
}

/* ---- typed getters ---- */

static const GgufKv *lookup(const GgufFile *f, const char *key)
{
    int i = gguf_find_key(f, key);
    if (i < 0) {
        pf_fail("%s: missing metadata key '%s'", f->path, key);
        return NULL;
    }
    return &f->kv[i];
}

/* Reads a numeric scalar of type t at p as integer (is_int) or double. */
static int read_number(uint32_t t, const uint8_t *p, int64_t *i, double *d, int *is_int)
{
    uint64_t u = le(p, (int)value_size(t));
    *is_int = 1;
    switch (t) {
    case GGUF_VALUE_UINT8: case GGUF_VALUE_UINT16: case GGUF_VALUE_UINT32: case GGUF_VALUE_BOOL:
        *i = (int64_t)u; break;
    case GGUF_VALUE_INT8: *i = (int8_t)u; break;
    case GGUF_VALUE_INT16: *i = (int16_t)u; break;
    case GGUF_VALUE_INT32: *i = (int32_t)u; break;
    case GGUF_VALUE_INT64: *i = (int64_t)u; break;
    case GGUF_VALUE_UINT64:
        if (u > INT64_MAX) return -1;
        *i = (int64_t)u;
        break;
    case GGUF_VALUE_FLOAT32: {
        uint32_t b = (uint32_t)u;
        float x;
        memcpy(&x, &b, 4);
        *d = x;
        *is_int = 0;
        break;
    }
    case GGUF_VALUE_FLOAT64: memcpy(d, &u, 8); *is_int = 0; break;
    default: return -1;
    }
    if (*is_int) *d = (double)*i;
    return 0;
}

int gguf_get_i64(const GgufFile *f, const char *key, int64_t *out)
{
    const GgufKv *kv = lookup(f, key);
    if (!kv) return -1;
    double d;
    int is_int;
    if (kv->type == GGUF_VALUE_BOOL || read_number(kv->type, kv->val, out, &d, &is_int) ||
        !is_int)
        return pf_fail("%s: metadata key '%s' is not an integer", f->path, key);
    return 0;
}

int gguf_get_u32(const GgufFile *f, const char *key, uint32_t *out)
{
    int64_t v;
    if (gguf_get_i64(f, key, &v)) return -1;
    if (v < 0 || v > UINT32_MAX)
        return pf_fail("%s: metadata key '%s' = %lld does not fit in 32 bits", f->path, key,
                       (long long)v);
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_f32(const GgufFile *f, const char *key, float *out)
{
    const GgufKv *kv = lookup(f, key);
    if (!kv) return -1;
    int64_t i;
    double d;
    int is_int;
    if (kv->type == GGUF_VALUE_BOOL || read_number(kv->type, kv->val, &i, &d, &is_int))
        return pf_fail("%s: metadata key '%s' is not a number", f->path, key);
    *out = (float)d;
    return 0;
}

int gguf_get_bool(const GgufFile *f, const char *key, int *out)
{
    const GgufKv *kv = lookup(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_VALUE_BOOL)
        return pf_fail("%s: metadata key '%s' is not a bool", f->path, key);
    *out = kv->val[0] != 0;
    return 0;
}

int gguf_get_string(const GgufFile *f, const char *key, const char **s, size_t *len)
{
    const GgufKv *kv = lookup(f, key);
    if (!kv) return -1;
    if (kv->type != GGUF_VALUE_STRING)
        return pf_fail("%s: metadata key '%s' is not a string", f->path, key);
    *len = (size_t)le(kv->val, 8);
    *s = (const char *)kv->val + 8;
    return 0;
}

static const GgufKv *lookup_array(const GgufFile *f, const char *key)
{
    const GgufKv *kv = lookup(f, key);
    if (kv && kv->type != GGUF_VALUE_ARRAY) {
        pf_fail("%s: metadata key '%s' is not an array", f->path, key);
        return NULL;
    }
    return kv;
}

int gguf_get_array_len(const GgufFile *f, const char *key, size_t *len)
{
    const GgufKv *kv = lookup_array(f, key);
    if (!kv) return -1;
    *len = (size_t)kv->arr_len;
    return 0;
}

int gguf_get_array_string(const GgufFile *f, const char *key, size_t i, const char **s,
                          size_t *len)
{
    const GgufKv *kv = lookup_array(f, key);
    if (!kv) return -1;
    if (kv->arr_type != GGUF_VALUE_STRING)
        return pf_fail("%s: array '%s' does not hold strings", f->path, key);
    if (i >= kv->arr_len)
        return pf_fail("%s: index %zu is past the end of array '%s' (%llu elements)", f->path,
                       i, key, (unsigned long long)kv->arr_len);
    const uint8_t *p = kv->val + kv->str_offsets[i];
    *len = (size_t)le(p, 8);
    *s = (const char *)p + 8;
    return 0;
}

static int array_number(const GgufFile *f, const char *key, size_t i, int64_t *iv, double *dv,
                        int *is_int)
{
    const GgufKv *kv = lookup_array(f, key);
    if (!kv) return -1;
    if (kv->arr_type == GGUF_VALUE_STRING || kv->arr_type == GGUF_VALUE_BOOL)
        return pf_fail("%s: array '%s' does not hold numbers", f->path, key);
    if (i >= kv->arr_len)
        return pf_fail("%s: index %zu is past the end of array '%s' (%llu elements)", f->path,
                       i, key, (unsigned long long)kv->arr_len);
    const uint8_t *p = kv->val + i * value_size(kv->arr_type);
    if (read_number(kv->arr_type, p, iv, dv, is_int))
        return pf_fail("%s: array '%s' element %zu is out of range", f->path, key, i);
    return 0;
}

int gguf_get_array_float(const GgufFile *f, const char *key, size_t i, float *out)
{
    int64_t iv;
    double dv;
    int is_int;
    if (array_number(f, key, i, &iv, &dv, &is_int)) return -1;
    *out = (float)dv;
    return 0;
}

int gguf_get_array_int(const GgufFile *f, const char *key, size_t i, int64_t *out)
{
    double dv;
    int is_int;
    if (array_number(f, key, i, out, &dv, &is_int)) return -1;
    if (!is_int) return pf_fail("%s: array '%s' holds floats, not integers", f->path, key);
    return 0;
}

int gguf_tensor_count(const GgufFile *f) { return f->n_tensors; }
const GgufTensor *gguf_tensor_at(const GgufFile *f, int i) { return &f->tensors[i]; }

const GgufTensor *gguf_find_tensor(const GgufFile *f, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].name_len == n && memcmp(f->tensors[i].name, name, n) == 0)
            return &f->tensors[i];
    return NULL;
}

/* ---- dequantisation, one function per block format ---- */

static float h2f(const uint8_t *p) { return fp16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void deq_q4_0(const uint8_t *b, float *y)
{
    float d = h2f(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = ((qs[j] & 0xF) - 8) * d;
        y[j + 16] = ((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y)
{
    float d = h2f(b), m = h2f(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = (qs[j] & 0xF) * d + m;
        y[j + 16] = (qs[j] >> 4) * d + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y)
{
    float d = h2f(b);
    uint32_t qh = (uint32_t)le(b + 2, 4);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        uint8_t h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((qs[j] & 0xF) | h0) - 16) * d;
        y[j + 16] = (((qs[j] >> 4) | h1) - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y)
{
    float d = h2f(b), m = h2f(b + 2);
    uint32_t qh = (uint32_t)le(b + 4, 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        uint8_t h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((qs[j] & 0xF) | h0) * d + m;
        y[j + 16] = ((qs[j] >> 4) | h1) * d + m;
    }
}

static void deq_q8_0(const uint8_t *b, float *y)
{
    float d = h2f(b);
    for (int j = 0; j < 32; j++) y[j] = (int8_t)b[2 + j] * d;
}

static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void deq_q2_k(const uint8_t *b, float *y)
{
    const uint8_t *scales = b, *q = b + 16;
    float d = h2f(b + 80), dmin = h2f(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; j++) {
            uint8_t sc = scales[is++];
            float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * ((q[l] >> shift) & 3) - ml;
            sc = scales[is++];
            dl = d * (sc & 0xF);
            ml = dmin * (sc >> 4);
            for (int l = 0; l < 16; l++) *y++ = dl * ((q[l + 16] >> shift) & 3) - ml;
            shift += 2;
        }
        q += 32;
    }
}

static void deq_q3_k(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *q = b + 32;
    float d_all = h2f(b + 108);
    const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    memcpy(aux, b + 96, 12);
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int8_t scales[16];
    memcpy(scales, aux, 16);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < 256; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; j++) {
            float dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; l++)
                *y++ = dl * ((int8_t)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = d_all * (scales[is++] - 32);
            for (int l = 0; l < 16; l++)
                *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
            shift += 2;
            m <<= 1;
        }
        q += 32;
    }
}

static void deq_q4_k(const uint8_t *b, float *y)
{
    float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    int is = 0;
    for (int j = 0; j < 256; j += 64) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

static void deq_q5_k(const uint8_t *b, float *y)
{
    float d = h2f(b), dmin = h2f(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < 256; j += 64) {
        uint8_t sc, m;
        scale_min_k4(is, scales, &sc, &m);
        float d1 = d * sc, m1 = dmin * m;
        scale_min_k4(is + 1, scales, &sc, &m);
        float d2 = d * sc, m2 = dmin * m;
        for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        ql += 32;
        is += 2;
        u1 <<= 2;
        u2 <<= 2;
    }
}

static void deq_q6_k(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = h2f(b + 208);
    for (int n = 0; n < 256; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = (int8_t)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            int q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = (int8_t)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is + 0] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

static void deq_q8_k(const uint8_t *b, float *y)
{
    float d;
    memcpy(&d, b, 4);
    for (int j = 0; j < 256; j++) y[j] = d * (int8_t)b[4 + j];
}

int ggml_dequantize(uint32_t type, const void *src, size_t n, float *dst)
{
    const uint8_t *p = src;
    void (*block)(const uint8_t *, float *) = NULL;
    switch (type) {
    case GGML_TYPE_F32: memcpy(dst, src, n * 4); return 0;
    case GGML_TYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = h2f(p + 2 * i);
        return 0;
    case GGML_TYPE_BF16:
        for (size_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    case GGML_TYPE_Q4_0: block = deq_q4_0; break;
    case GGML_TYPE_Q4_1: block = deq_q4_1; break;
    case GGML_TYPE_Q5_0: block = deq_q5_0; break;
    case GGML_TYPE_Q5_1: block = deq_q5_1; break;
    case GGML_TYPE_Q8_0: block = deq_q8_0; break;
    case GGML_TYPE_Q2_K: block = deq_q2_k; break;
    case GGML_TYPE_Q3_K: block = deq_q3_k; break;
    case GGML_TYPE_Q4_K: block = deq_q4_k; break;
    case GGML_TYPE_Q5_K: block = deq_q5_k; break;
    case GGML_TYPE_Q6_K: block = deq_q6_k; break;
    case GGML_TYPE_Q8_K: block = deq_q8_k; break;
    default:
        return pf_fail("dequantisation of ggml type %s (%u) is not supported",
                       ggml_type_name(type), type);
    }
    size_t be = ggml_block_elems(type), bb = ggml_block_bytes(type);
    if (n % be) return pf_fail("%zu elements is not a multiple of the %s block size %zu", n,
                               ggml_type_name(type), be);
    for (size_t i = 0; i < n / be; i++) block(p + i * bb, dst + i * be);
    return 0;
}

int gguf_tensor_to_f32(const GgufFile *f, const GgufTensor *t, float *out)
{
    if (ggml_dequantize(t->type, t->data, (size_t)t->n_elements, out) != 0)
        return pf_fail_context("%s: tensor '%.*s'", f->path, (int)t->name_len, t->name);
    return 0;
}

/* ---- model loading ---- */

/* Reads "<arch>.<suffix>" as an int (required unless dflt >= 0, which is used when absent). */
static int arch_int(const GgufFile *f, const char *arch, const char *suffix, int dflt, int *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (dflt >= 0 && gguf_find_key(f, key) < 0) {
        *out = dflt;
        return 0;
    }
    uint32_t v;
    if (gguf_get_u32(f, key, &v)) return -1;
    if (v > (1u << 30)) return pf_fail("%s: %s = %u is out of range", f->path, key, v);
    *out = (int)v;
    return 0;
}

static int arch_float(const GgufFile *f, const char *arch, const char *suffix, float *out)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (gguf_find_key(f, key) < 0) return 0;
    return gguf_get_f32(f, key, out);
}

static int config_from_gguf(const GgufFile *f, ModelConfig *c)
{
    const char *arch_s;
    size_t arch_len;
    config_defaults(c);
    if (gguf_get_string(f, "general.architecture", &arch_s, &arch_len)) return -1;
    if (!((arch_len == 5 && memcmp(arch_s, "llama", 5) == 0) ||
          (arch_len == 5 && memcmp(arch_s, "qwen2", 5) == 0)))
        return pf_fail("%s: architecture '%.*s' is not supported (llama, qwen2 are)", f->path,
                       (int)(arch_len > 64 ? 64 : arch_len), arch_s);
    memcpy(c->arch, arch_s, 5);
    c->arch[5] = '\0';
    const char *a = c->arch;
    if (arch_int(f, a, "embedding_length", -1, &c->dim) ||
        arch_int(f, a, "feed_forward_length", -1, &c->hidden_dim) ||
        arch_int(f, a, "block_count", -1, &c->n_layers) ||
        arch_int(f, a, "attention.head_count", -1, &c->n_heads) ||
        arch_int(f, a, "attention.head_count_kv", c->n_heads, &c->n_kv_heads) ||
        arch_int(f, a, "context_length", c->max_seq_len, &c->max_seq_len) ||
        arch_float(f, a, "attention.layer_norm_rms_epsilon", &c->norm_eps) ||
        arch_float(f, a, "rope.freq_base", &c->rope_theta))
        return -1;
    if (c->n_heads <= 0) return pf_fail("%s: %s.attention.head_count is 0", f->path, a);
    if (arch_int(f, a, "attention.key_length", c->dim / c->n_heads, &c->head_dim)) return -1;

    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    if (gguf_find_key(f, key) >= 0) {
        const char *t;
        size_t n;
        if (gguf_get_string(f, key, &t, &n)) return -1;
        if (n == 6 && memcmp(t, "linear", 6) == 0) {
            c->rope_scaling = ROPE_SCALING_LINEAR;
            snprintf(key, sizeof key, "%s.rope.scaling.factor", a);
            if (gguf_get_f32(f, key, &c->rope_factor)) return -1;
        } else if (!(n == 4 && memcmp(t, "none", 4) == 0)) {
            return pf_fail("%s: rope scaling '%.*s' is not supported", f->path,
                           (int)(n > 32 ? 32 : n), t);
        }
    }
    /* TODO: Llama 3.1 GGUFs carry the llama3 frequency factors as a rope_freqs.weight tensor;
     * mapping them back to ModelConfig's llama3 parameters is not done, so such files are
     * refused rather than loaded with wrong positions. */
    if (gguf_find_tensor(f, "rope_freqs.weight"))
        return pf_fail("%s: rope_freqs.weight (llama3 RoPE scaling) is not supported", f->path);

    const GgufTensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) return pf_fail("%s: missing tensor 'token_embd.weight'", f->path);
    if (emb->n_dims != 2 || emb->ne[1] > (1 << 22))
        return pf_fail("%s: token_embd.weight must be 2-D (dim, vocab)", f->path);
    c->vocab_size = (int)emb->ne[1];
    c->tied_embeddings = gguf_find_tensor(f, "output.weight") == NULL;
    c->qkv_bias = gguf_find_tensor(f, "blk.0.attn_q.bias") != NULL;
    uint32_t id;
    if (gguf_find_key(f, "tokenizer.ggml.bos_token_id") >= 0) {
        if (gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &id)) return -1;
        c->bos_token_id = (int)(id & 0x7fffffff);
    }
    if (gguf_find_key(f, "tokenizer.ggml.eos_token_id") >= 0) {
        if (gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &id)) return -1;
        c->eos_token_id = (int)(id & 0x7fffffff);
    }
    return config_validate(c, f->path);
}

/* Maps a Hugging Face tensor name to its GGUF name; 0 or -1 when it has none. */
static int gguf_name_of(const char *hf, char *out, size_t n)
{
    static const struct { const char *hf, *gguf; } layer_map[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"}, {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"}, {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},     {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"}, {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    if (strcmp(hf, "model.embed_tokens.weight") == 0)
        return snprintf(out, n, "token_embd.weight"), 0;
    if (strcmp(hf, "model.norm.weight") == 0) return snprintf(out, n, "output_norm.weight"), 0;
    if (strcmp(hf, "lm_head.weight") == 0) return snprintf(out, n, "output.weight"), 0;
    int layer, used = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &used) == 1 && used > 0) {
        for (size_t i = 0; i < sizeof layer_map / sizeof layer_map[0]; i++)
            if (strcmp(hf + used, layer_map[i].hf) == 0)
                return snprintf(out, n, "blk.%d.%s", layer, layer_map[i].gguf), 0;
    }
    return -1;
}

int gguf_load_model(const GgufFile *f, Model *out)
{
    ModelConfig cfg;
    memset(out, 0, sizeof *out);
    if (config_from_gguf(f, &cfg) || model_init(out, &cfg)) return -1;
    int permute = strcmp(cfg.arch, "llama") == 0;

    TensorRef *list = NULL;
    int n = model_tensor_list(&cfg, &list);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const TensorRef *r = &list[i];
        char name[128];
        if (gguf_name_of(r->name, name, sizeof name)) {
            rc = pf_fail("%s: no GGUF name for tensor '%s'", f->path, r->name);
            break;
        }
        const GgufTensor *t = gguf_find_tensor(f, name);
        if (!t) {
            rc = pf_fail("%s: missing tensor '%s'", f->path, name);
            break;
        }
        int64_t cols = r->ndim == 2 ? r->shape[1] : r->shape[0];
        int64_t rows = r->ndim == 2 ? r->shape[0] : 1;
        if (t->n_dims > 2 || t->ne[0] != cols || t->ne[1] != rows) {
            rc = pf_fail("%s: tensor '%s' has shape [%lld, %lld] (ne) but [%lld, %lld] is "
                         "expected", f->path, name, (long long)t->ne[0], (long long)t->ne[1],
                         (long long)cols, (long long)rows);
            break;
        }
        float *dst = out->params_memory + r->offset;
        rc = gguf_tensor_to_f32(f, t, dst);
        if (rc || !permute) continue;
        int is_q = strstr(name, "attn_q.") != NULL, is_k = strstr(name, "attn_k.") != NULL;
        int weight_cols = r->ndim == 2 ? (int)cols : 1;
        if (is_q) rope_permute_to_half(dst, cfg.n_heads, cfg.head_dim, weight_cols);
        if (is_k) rope_permute_to_half(dst, cfg.n_kv_heads, cfg.head_dim, weight_cols);
    }
    free(list);
    if (rc) model_free(out);
    return rc;
}
