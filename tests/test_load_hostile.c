/* Hostile checkpoints: truncated, oversized, inconsistent and corrupted safetensors, GGUF,
 * llama2.c files and config.json must give an error naming the file and the problem, never a
 * crash, hang or out-of-bounds read (this test also runs under ASan + UBSan). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/hf_config.h"
#include "model/load.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = tmpdir_make();
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tmpdir_remove(tmp);
    return 0;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n ? *n : 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* Writes bytes to tmp/<name> and returns the path (static). */
static const char *put(const char *name, const void *data, size_t n)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    assert_int_equal(write_file(path, data, n), 0);
    return path;
}

/* Asserts the last call failed with a message containing the path and `phrase`. */
static void expect_error(int rc, const char *path, const char *phrase)
{
    if (rc != -1 || !strstr(pf_error(), path) || !strstr(pf_error(), phrase))
        fprintf(stderr, "expected error with '%s', got rc %d: %s\n", phrase, rc, pf_error());
    assert_int_equal(rc, -1);
    assert_non_null(strstr(pf_error(), path));
    assert_non_null(strstr(pf_error(), phrase));
}

/* A safetensors file with this JSON header followed by `data_bytes` zero bytes. */
static const char *put_st(const char *name, const char *json, size_t data_bytes)
{
    size_t h = strlen(json), n = 8 + h + data_bytes;
    unsigned char *b = calloc(n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, json, h);
    const char *p = put(name, b, n);
    free(b);
    return p;
}

static int st_try(const char *path)
{
    SafetensorsFile f;
    int rc = st_open(path, &f);
    if (rc == 0) st_close(&f);
    return rc;
}

static void test_safetensors_hostile(void **state)
{
    (void)state;
    struct { const char *json; size_t data; const char *phrase; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12"},
        {"{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", 8, "absurdly large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,99999999999999999999]}}",
         8, "not valid JSON"},
        {"[1,2]", 0, "not a JSON object"},
        {"{\"a\":", 0, "not valid JSON"},
        {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing dtype"},
        {"{\"a\":7}", 0, "not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "dims"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = put_st("bad.safetensors", cases[i].json, cases[i].data);
        expect_error(st_try(p), p, cases[i].phrase);
    }

    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'};
    const char *p = put("len.safetensors", big, sizeof big);
    expect_error(st_try(p), p, "exceeds the file size");
    p = put("short.safetensors", big, 5);
    expect_error(st_try(p), p, "too short");

    /* a dtype that parses but does not convert */
    p = put_st("i32.safetensors",
               "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    SafetensorsFile f;
    assert_int_equal(st_open(p, &f), 0);
    float out[2];
    expect_error(st_tensor_to_f32(&f, st_find(&f, "a"), out), p, "not supported");
    st_close(&f);
}

/* Copies a fixture HF folder into tmp/<name> with config.json replaced by `config` (when not
 * NULL) and returns the folder path (static). */
static const char *hf_copy(const char *name, const char *config)
{
    static char dir[4200];
    char path[4400];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    assert_int_equal(system(path), 0);
    const char *src = fixture_path("models/llama_gqa/model.safetensors");
    size_t n;
    unsigned char *b = read_all(src, &n);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(write_file(path, b, n), 0);
    free(b);
    if (!config) {
        b = read_all(fixture_path("models/llama_gqa/config.json"), &n);
        snprintf(path, sizeof path, "%s/config.json", dir);
        assert_int_equal(write_file(path, b, n), 0);
        free(b);
    } else {
        snprintf(path, sizeof path, "%s/config.json", dir);
        assert_int_equal(write_file(path, config, strlen(config)), 0);
    }
    return dir;
}

#define BASE "\"model_type\":\"llama\",\"hidden_size\":32,\"intermediate_size\":48," \
             "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2," \
             "\"vocab_size\":64"

static void test_config_hostile(void **state)
{
    (void)state;
    if (!fixture_path("models/llama_gqa")) skip();
    struct { const char *config; const char *phrase; } cases[] = {
        {"{" BASE ",\"tie_word_embeddings\":false}", NULL},
        {"{\"model_type\":\"llama\"}", "missing field 'hidden_size'"},
        {"{" BASE ",\"rms_norm_eps\":\"small\"}", "'rms_norm_eps' must be a number"},
        {"{" BASE ",\"tie_word_embeddings\":1}", "'tie_word_embeddings' must be true or false"},
        {"{\"model_type\":\"gpt2\",\"hidden_size\":32}", "model_type 'gpt2' is not supported"},
        {"{\"model_type\":7}", "model_type"},
        {"{" BASE ",\"num_local_experts\":8}", "mixture-of-experts"},
        {"{" BASE ",\"sliding_window\":16,\"max_position_embeddings\":128}", "sliding-window"},
        {"{" BASE ",\"hidden_act\":\"gelu\"}", "hidden_act"},
        {"{" BASE ",\"attention_bias\":true}", "attention_bias"},
        {"{" BASE ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}", "yarn"},
        {"{" BASE ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
         "low_freq_factor"},
        {"{" BASE ",\"num_key_value_heads\":3}", "not a multiple"},
        {"{" BASE ",\"vocab_size\":99999999999}", "out of range"},
        {"{" BASE ",\"eos_token_id\":\"x\"}", "eos_token_id"},
        {"[]", "not a JSON object"},
        {"{" BASE, "invalid JSON"},
        {"{" BASE ",\"vocab_size\":65,\"tie_word_embeddings\":false}",
         "model.embed_tokens.weight' has shape [64, 32] but the config needs [65, 32]"},
        /* tied, yet the file carries an lm_head.weight of the right shape: ignored */
        {"{" BASE ",\"tie_word_embeddings\":true}", NULL},
        {"{" BASE ",\"num_hidden_layers\":3,\"tie_word_embeddings\":false}",
         "missing tensor 'model.layers.2.input_layernorm.weight'"},
        {"{" BASE ",\"num_hidden_layers\":1,\"tie_word_embeddings\":false}",
         "unexpected tensor 'model.layers.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = hf_copy("hf", cases[i].config);
        char dir_copy[4200];
        snprintf(dir_copy, sizeof dir_copy, "%s", dir);
        Model m;
        int rc = model_load(dir_copy, &m);
        if (!cases[i].phrase) {
            if (rc) fprintf(stderr, "%s\n", pf_error());
            assert_int_equal(rc, 0);
            model_free(&m);
        } else {
            expect_error(rc, dir_copy, cases[i].phrase);
        }
    }

    /* a folder without weights */
    char dir[4200], path[4400];
    snprintf(dir, sizeof dir, "%s/empty", tmp);
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(write_file(path, "{" BASE "}", strlen("{" BASE "}")), 0);
    Model m;
    expect_error(model_load(dir, &m), dir, "model.safetensors");
    /* an index naming a file outside the folder */
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    const char *index = "{\"weight_map\":{\"model.norm.weight\":\"../../etc/passwd\"}}";
    assert_int_equal(write_file(path, index, strlen(index)), 0);
    expect_error(model_load(dir, &m), "model.safetensors.index.json", "not a plain file name");
}

/* Offset of the first occurrence of `needle` in b. */
static size_t find_bytes(const unsigned char *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(b + i, needle, k) == 0) return i;
    fail_msg("'%s' not found", needle);
    return 0;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static int gguf_try(const char *path)
{
    GgufFile *f;
    int rc = gguf_open(path, &f);
    gguf_close(f);
    return rc;
}

static void test_gguf_hostile(void **state)
{
    (void)state;
    const char *src = fixture_path("models/quants.gguf");
    if (!src) skip();
    size_t n;
    unsigned char *orig = read_all(src, &n);
    unsigned char *b = malloc(n);
    const char *p;

#define MUTATE(stmt, phrase)                      \
    do {                                          \
        memcpy(b, orig, n);                       \
        stmt;                                     \
        p = put("bad.gguf", b, n);                \
        expect_error(gguf_try(p), p, phrase);     \
    } while (0)

    MUTATE(b[0] = 'X', "bad magic");
    MUTATE(b[4] = 1, "version 1 is not supported");
    MUTATE(b[4] = 4, "version 4");
    MUTATE(put_u64(b + 8, UINT64_MAX / 2), "tensor count");
    MUTATE(put_u64(b + 16, 1u << 20), "metadata count");
    MUTATE(put_u64(b + 24, UINT64_MAX - 3), "absurd string length");
    MUTATE(put_u64(b + 24, n), "truncated");

    /* the first key's value type, then an array's length and element type */
    size_t k = find_bytes(orig, n, "test.string");
    MUTATE(b[k + 11] = 99, "unknown value type 99");
    k = find_bytes(orig, n, "test.floats");
    MUTATE(b[k + 11 + 4] = 9, "unsupported element type");
    MUTATE(put_u64(b + k + 11 + 8, UINT64_MAX / 4), "runs past the end");
    k = find_bytes(orig, n, "test.strings");
    MUTATE(put_u64(b + k + 12 + 8, n), "runs past the end");
    MUTATE(put_u64(b + k + 12 + 16, n), "truncated");

    /* the tensor info of "q.Q4_0": n_dims, ne[0], ne[1], type, offset */
    k = find_bytes(orig, n, "q.Q4_0") + 6;
    MUTATE(b[k] = 0, "dims");
    MUTATE(b[k] = 5, "dims");
    MUTATE(put_u64(b + k + 4, 33), "not a multiple");
    MUTATE(put_u64(b + k + 4, 0), "invalid dimension");
    MUTATE(put_u64(b + k + 12, UINT64_MAX), "invalid dimension");
    MUTATE(b[k + 20] = 200, "unknown type id 200");
    MUTATE(put_u64(b + k + 24, 8), "not aligned");
    MUTATE(put_u64(b + k + 24, (uint64_t)n * 64), "past the end");
    MUTATE(put_u64(b + k + 12, 1u << 20), "past the end");
    /* duplicate tensor name: rename "q.Q4_1" to "q.Q4_0" */
    MUTATE(b[find_bytes(orig, n, "q.Q4_1") + 5] = '0', "duplicate tensor");

    /* Truncations: every byte of the metadata, every 7th through the tensor infos, a sample of
     * the data section; all fail cleanly. */
    size_t header_end = find_bytes(orig, n, "ref.BF16") + 64;
    for (size_t cut = 0; cut < n; cut += cut < 512 ? 1 : cut < header_end ? 7 : 997) {
        p = put("cut.gguf", orig, cut);
        expect_error(gguf_try(p), p, "");
    }

    /* Random byte corruption of the header: either a clean error or a valid file. */
    Rng rng;
    rng_seed(&rng, 7);
    for (int it = 0; it < 300; it++) {
        memcpy(b, orig, n);
        for (int j = 0; j < 4; j++) b[rng_below(&rng, header_end)] = (unsigned char)rng_next(&rng);
        p = put("fuzz.gguf", b, n);
        GgufFile *f;
        if (gguf_open(p, &f) == 0) {
            for (int t = 0; t < gguf_tensor_count(f); t++) {
                const GgufTensor *gt = gguf_tensor_at(f, t);
                if (gt->n_elements > (1u << 20)) continue;
                float *out = malloc(gt->n_elements * sizeof(float));
                gguf_tensor_to_f32(f, gt, out);
                free(out);
            }
            gguf_close(f);
        } else {
            assert_non_null(strstr(pf_error(), p));
        }
    }
#undef MUTATE

    /* v2 reads like v3 */
    memcpy(b, orig, n);
    b[4] = 2;
    p = put("v2.gguf", b, n);
    GgufFile *f;
    assert_int_equal(gguf_open(p, &f), 0);
    assert_int_equal(gguf_version(f), 2);
    gguf_close(f);

    /* Not a model: quants.gguf lacks llama.* metadata */
    Model m;
    expect_error(model_load(src, &m), src, "missing metadata key 'llama.embedding_length'");
    free(b);
    free(orig);
}

static void test_gguf_model_hostile(void **state)
{
    (void)state;
    const char *src = fixture_path("models/llama_gqa.gguf");
    if (!src) skip();
    size_t n;
    unsigned char *orig = read_all(src, &n);
    unsigned char *b = malloc(n);
    Model m;
    const char *p;

    memcpy(b, orig, n);
    memcpy(b + find_bytes(orig, n, "blk.1.ffn_up.weight"), "blk.1.ffn_XX", 12);
    p = put("m.gguf", b, n);
    expect_error(model_load(p, &m), p, "missing tensor 'blk.1.ffn_up.weight'");

    memcpy(b, orig, n);
    size_t k = find_bytes(orig, n, "llama.block_count");
    b[k + 17 + 4] = 3; /* the uint32 value */
    p = put("m.gguf", b, n);
    expect_error(model_load(p, &m), p, "missing tensor 'blk.2.attn_norm.weight'");

    memcpy(b, orig, n);
    k = find_bytes(orig, n, "llama.embedding_length");
    b[k + 22 + 4] = 16;
    p = put("m.gguf", b, n);
    expect_error(model_load(p, &m), p, "shape");

    memcpy(b, orig, n);
    k = find_bytes(orig, n, "general.architecture");
    memcpy(b + k + 20 + 4 + 8, "gpt2!", 5);
    p = put("m.gguf", b, n);
    expect_error(model_load(p, &m), p, "architecture 'gpt2!' is not supported");
    free(b);
    free(orig);
}

static void test_llama2c_hostile(void **state)
{
    (void)state;
    const char *v0 = fixture_path("models/llama_gqa_v0.bin");
    if (!v0) skip();
    size_t n;
    unsigned char *orig = read_all(v0, &n);
    unsigned char *b = malloc(n + 8);
    Model m;
    const char *p;

    p = put("short.bin", orig, n - 4);
    expect_error(model_load(p, &m), p, "bytes but a llama2.c v0 checkpoint");
    memcpy(b, orig, n);
    memset(b + n, 0, 8);
    p = put("long.bin", b, n + 8);
    expect_error(model_load(p, &m), p, "bytes but a llama2.c v0 checkpoint");
    p = put("tiny.bin", orig, 10);
    expect_error(model_load(p, &m), p, "too short");

    int32_t hdr[7] = {32, 48, 2, 4, 2, INT32_MIN, 128};
    p = put("hdr.bin", hdr, sizeof hdr);
    expect_error(model_load(p, &m), p, "vocab_size");
    int32_t hdr2[7] = {1 << 20, 1 << 20, 1 << 20, 1, 1, 1 << 20, 1 << 30};
    p = put("hdr2.bin", hdr2, sizeof hdr2);
    expect_error(model_load(p, &m), p, "parameters");
    int32_t hdr3[7] = {32, 48, 2, 3, 3, 64, 128};
    p = put("hdr3.bin", hdr3, sizeof hdr3);
    expect_error(model_load(p, &m), p, "not a multiple of n_heads");
    int32_t hdr4[7] = {0, 0, 0, 0, 0, 0, 0};
    p = put("zeros.bin", hdr4, sizeof hdr4);
    expect_error(model_load(p, &m), p, "out of range");

    const char *v1 = fixture_path("models/llama_gqa_v1.bin");
    free(orig);
    orig = read_all(v1, &n);
    memcpy(b, orig, n);
    b[4] = 2;
    p = put("v1.bin", b, n);
    expect_error(model_load(p, &m), p, "version 2 is not supported");
    p = put("v1short.bin", orig, 100);
    expect_error(model_load(p, &m), p, "v1 header truncated");
    memcpy(b, orig, n);
    b[36] = 1; /* claims a shared classifier: the file is then too long */
    p = put("v1shared.bin", b, n);
    expect_error(model_load(p, &m), p, "llama2.c v1 checkpoint");
    free(b);
    free(orig);

    expect_error(model_load("/nonexistent/model.bin", &m), "/nonexistent/model.bin", "open");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safetensors_hostile),
        cmocka_unit_test(test_config_hostile),
        cmocka_unit_test(test_gguf_hostile),
        cmocka_unit_test(test_gguf_model_hostile),
        cmocka_unit_test(test_llama2c_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
