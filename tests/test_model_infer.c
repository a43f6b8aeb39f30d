/* Forward-pass agreements: the KV-cache decoding step gives the training forward's logits;
 * packed examples (segments + restarted positions) give the hidden states they give alone; an
 * interleaved-RoPE model equals its rotate-half twin with q/k rows permuted by
 * rope_permute_to_half. Tolerances are fp32 summation-order differences: atol 2e-5 plus rtol
 * 1e-4 (values are O(1)). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/forward.h"
#include "model/infer.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

static ModelConfig tiny_config(bool interleaved, bool bias, bool tied)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = 3;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.vocab_size = 37;
    c.rope_interleaved = interleaved;
    c.qkv_bias = bias;
    c.tied_embeddings = tied;
    return c;
}

static void random_model(Model *m, const ModelConfig *c, uint64_t seed)
{
    assert_int_equal(model_init(m, c), 0);
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params_memory[i] = 0.2f * rng_normal(&r);
    for (int i = 0; i < c->n_layers * c->dim; i++) {
        m->params.attn_norm[i] = 1.0f + 0.1f * rng_normal(&r);
        m->params.ffn_norm[i] = 1.0f + 0.1f * rng_normal(&r);
    }
    for (int i = 0; i < c->dim; i++) m->params.final_norm[i] = 1.0f;
}

/* logits (n, V) = hidden (n, C) lm_head^T, in double, independently of the engine. */
static void head_logits(const float *hidden, const float *head, int n, int C, int V,
                        float *logits)
{
    for (int i = 0; i < n; i++)
        for (int v = 0; v < V; v++) {
            double z = 0.0;
            for (int c = 0; c < C; c++) z += (double)hidden[i * C + c] * head[v * C + c];
            logits[i * V + v] = (float)z;
        }
}

static void check_step_matches_forward(bool interleaved, bool bias, bool tied)
{
    enum { B = 2, T = 9, LATE = 2 };
    ModelConfig c = tiny_config(interleaved, bias, tied);
    Model m;
    random_model(&m, &c, 7);
    int V = c.vocab_size, C = c.dim;
    int tokens[B * T], positions[B * T];
    Rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < B * T; i++) {
        tokens[i] = (int)rng_below(&r, (uint64_t)V);
        positions[i] = i % T;
    }
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, &c, B, T), 0);
    float *hidden = NULL;
    assert_int_equal(model_forward(&m, a, tokens, positions, NULL, B, T, &hidden), 0);
    float *expected = malloc(sizeof(float) * B * T * V);
    head_logits(hidden, m.params.lm_head, B * T, C, V, expected);

    /* Sequence 1 starts LATE steps after sequence 0, so the two sit at different positions. */
    KVCache *cache = NULL;
    assert_int_equal(kv_cache_init(&cache, &c, B, T + 4), 0);
    float logits[B * 64];
    for (int step = 0; step < T + LATE; step++) {
        int tok[B], pos[B], n = 0, seqs[B];
        for (int b = 0; b < B; b++) {
            int t = step - (b == 1 ? LATE : 0);
            if (t < 0 || t >= T) continue;
            /* model_step serves sequences 0..n-1; once sequence 0 is done, feed it a dummy
             * token at a fresh position so that slot 1 keeps its place. */
            tok[b] = tokens[b * T + t];
            pos[b] = t;
            seqs[n++] = b;
        }
        if (step >= T) {
            tok[0] = 0;
            pos[0] = step;
            n = 2;
            seqs[0] = -1;
            seqs[1] = 1;
        }
        assert_int_equal(model_step(&m, cache, tok, pos, n, logits), 0);
        for (int i = 0; i < n; i++) {
            int b = seqs[i];
            if (b < 0) continue;
            double err = compare_floats("step logits", logits + i * V,
                                        expected + (b * T + pos[i]) * V, (size_t)V, 2e-5, 1e-4);
            assert_true(err <= 1.0);
        }
    }
    free(expected);
    kv_cache_free(cache);
    model_acts_free(a);
    model_free(&m);
}

static void test_step_matches_forward(void **state)
{
    (void)state;
    check_step_matches_forward(false, true, false);
    check_step_matches_forward(true, false, true);
}

static void test_packing_matches_separate_rows(void **state)
{
    (void)state;
    enum { LEN1 = 3, LEN2 = 5, T = LEN1 + LEN2 };
    ModelConfig c = tiny_config(false, true, false);
    Model m;
    random_model(&m, &c, 11);
    int tokens[T], positions[T], segments[T];
    Rng r;
    rng_seed(&r, 5);
    for (int t = 0; t < T; t++) {
        tokens[t] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        segments[t] = t < LEN1 ? 1 : 2;
        positions[t] = t < LEN1 ? t : t - LEN1;
    }
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, &c, 1, T), 0);
    float *hidden = NULL, packed[T * 32], alone[T * 32];
    assert_int_equal(model_forward(&m, a, tokens, positions, segments, 1, T, &hidden), 0);
    memcpy(packed, hidden, sizeof(float) * T * c.dim);

    assert_int_equal(model_forward(&m, a, tokens, positions, NULL, 1, LEN1, &hidden), 0);
    memcpy(alone, hidden, sizeof(float) * LEN1 * c.dim);
    assert_int_equal(model_forward(&m, a, tokens + LEN1, positions + LEN1, NULL, 1, LEN2,
                                   &hidden), 0);
    memcpy(alone + LEN1 * c.dim, hidden, sizeof(float) * LEN2 * c.dim);
    assert_true(compare_floats("packed hidden", packed, alone, T * c.dim, 2e-5, 1e-4) <= 1.0);

    /* Without segments the second example sees the first, so the states must differ. */
    assert_int_equal(model_forward(&m, a, tokens, positions, NULL, 1, T, &hidden), 0);
    assert_true(fabsf(hidden[(T - 1) * c.dim] - packed[(T - 1) * c.dim]) > 1e-3f);
    model_acts_free(a);
    model_free(&m);
}

static void test_permute_by_hand(void **state)
{
    (void)state;
    /* Two heads of head_dim 4, two columns: row r holds (10r, 10r + 1). Interleaved pairs
     * (0,1), (2,3) become rotate-half pairs (0,2), (1,3): new rows 0,1,2,3 = old 0,2,1,3. */
    float w[16];
    for (int r = 0; r < 8; r++) {
        w[2 * r] = 10.0f * r;
        w[2 * r + 1] = 10.0f * r + 1.0f;
    }
    rope_permute_to_half(w, 2, 4, 2);
    const int old_row[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int r = 0; r < 8; r++) {
        assert_true(w[2 * r] == 10.0f * old_row[r]);
        assert_true(w[2 * r + 1] == 10.0f * old_row[r] + 1.0f);
    }
}

static void test_interleaved_equals_permuted_half(void **state)
{
    (void)state;
    enum { T = 11 };
    ModelConfig ci = tiny_config(true, true, false), ch = tiny_config(false, true, false);
    Model mi, mh;
    random_model(&mi, &ci, 21);
    random_model(&mh, &ch, 21);
    memcpy(mh.params_memory, mi.params_memory, sizeof(float) * mi.n_params);
    int Q = ci.n_heads * ci.head_dim, KV = ci.n_kv_heads * ci.head_dim, C = ci.dim;
    for (int l = 0; l < ci.n_layers; l++) {
        rope_permute_to_half(mh.params.wq + (long)l * Q * C, ci.n_heads, ci.head_dim, C);
        rope_permute_to_half(mh.params.wk + (long)l * KV * C, ci.n_kv_heads, ci.head_dim, C);
        rope_permute_to_half(mh.params.bq + (long)l * Q, ci.n_heads, ci.head_dim, 1);
        rope_permute_to_half(mh.params.bk + (long)l * KV, ci.n_kv_heads, ci.head_dim, 1);
    }
    int tokens[T], positions[T];
    for (int t = 0; t < T; t++) {
        tokens[t] = (t * 7 + 3) % ci.vocab_size;
        positions[t] = t + 100;
    }
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, &ci, 1, T), 0);
    float *hidden = NULL, *first = malloc(sizeof(float) * T * C);
    assert_int_equal(model_forward(&mi, a, tokens, positions, NULL, 1, T, &hidden), 0);
    memcpy(first, hidden, sizeof(float) * T * C);
    assert_int_equal(model_forward(&mh, a, tokens, positions, NULL, 1, T, &hidden), 0);
    assert_true(compare_floats("interleaved vs permuted", first, hidden, T * C, 2e-5, 1e-4) <=
                1.0);

    /* Unpermuted weights with the other pairing give a different model. */
    memcpy(mh.params_memory, mi.params_memory, sizeof(float) * mi.n_params);
    assert_int_equal(model_forward(&mh, a, tokens, positions, NULL, 1, T, &hidden), 0);
    assert_true(compare_floats("(expected to differ)", first, hidden, T * C, 2e-5, 1e-4) > 10.0);
    free(first);
    model_acts_free(a);
    model_free(&mi);
    model_free(&mh);
}

static void test_step_refuses_bad_input(void **state)
{
    (void)state;
    ModelConfig c = tiny_config(false, false, true);
    Model m;
    random_model(&m, &c, 1);
    KVCache *cache = NULL;
    assert_int_equal(kv_cache_init(&cache, &c, 1, 4), 0);
    float logits[64];
    int tok = 0, pos = 4;
    assert_int_equal(model_step(&m, cache, &tok, &pos, 1, logits), -1);
    assert_non_null(strstr(pf_error(), "outside the cache"));
    tok = -1;
    pos = 0;
    assert_int_equal(model_step(&m, cache, &tok, &pos, 1, logits), -1);
    assert_int_equal(model_step(&m, cache, &tok, &pos, 2, logits), -1);
    kv_cache_free(cache);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_matches_forward),
        cmocka_unit_test(test_packing_matches_separate_rows),
        cmocka_unit_test(test_permute_by_hand),
        cmocka_unit_test(test_interleaved_equals_permuted_half),
        cmocka_unit_test(test_step_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
