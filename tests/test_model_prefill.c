/* Multi-token prefill (model_prefill) against token-by-token model_step: the last prompt
 * token's logits, the cache it leaves (the decoding steps that follow give the same logits and
 * the same greedy tokens), prompts longer than one prefill chunk, a prompt fed in two calls,
 * and a prefill into one cache sequence leaving another alone. On tiny random models (with and
 * without qkv bias, both RoPE pairings) and on stories260K from ../shared. Tolerances are fp32
 * summation-order differences (GEMM over the chunk vs one row at a time). Also sample_logits'
 * nucleus sampling, whose scratch moved to the stack. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/infer.h"
#include "model/load.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

static void random_model(Model *m, bool interleaved, bool bias, uint64_t seed)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 36; /* not a multiple of 8: the AVX2 kernels' tails run */
    c.hidden_dim = 52;
    c.n_layers = 2;
    c.n_heads = 6;
    c.n_kv_heads = 2;
    c.head_dim = 6;
    c.vocab_size = 41;
    c.rope_interleaved = interleaved;
    c.qkv_bias = bias;
    c.tied_embeddings = !bias;
    assert_int_equal(model_init(m, &c), 0);
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params_memory[i] = 0.3f * rng_normal(&r);
    for (int i = 0; i < c.n_layers * c.dim; i++) {
        m->params.attn_norm[i] = 1.0f + 0.1f * rng_normal(&r);
        m->params.ffn_norm[i] = 1.0f + 0.1f * rng_normal(&r);
    }
    for (int i = 0; i < c.dim; i++) m->params.final_norm[i] = 1.0f;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy decoding of `steps` tokens after prompt (P ids) in cache sequence `slot` of a cache of
 * `batch` sequences, the prompt either stepped token by token or prefilled (in two calls when
 * split > 0, the first taking split tokens). Writes the prompt's last logits and each decoding
 * step's logits into logits ((steps + 1), V) and the tokens into out (steps + 1). */
static void greedy(const Model *m, const int *prompt, int P, int steps, bool prefill, int split,
                   int batch, int slot, float *logits, int *out)
{
    int V = m->config.vocab_size;
    KVCache *cache = NULL;
    assert_int_equal(kv_cache_init(&cache, &m->config, batch, P + steps + 1), 0);
    float *step_logits = malloc(sizeof(float) * (size_t)batch * V);
    int tok[64] = {0}, pos[64] = {0};
    assert_true(batch <= 64);
    if (prefill) {
        if (split > 0) {
            assert_int_equal(model_prefill(m, cache, slot, prompt, 0, split, NULL), 0);
            assert_int_equal(model_prefill(m, cache, slot, prompt + split, split, P - split,
                                           logits),
                             0);
        } else {
            assert_int_equal(model_prefill(m, cache, slot, prompt, 0, P, logits), 0);
        }
    } else {
        for (int t = 0; t < P; t++) {
            /* Other sequences step a dummy token at position t alongside. */
            tok[slot] = prompt[t];
            pos[slot] = t;
            for (int b = 0; b < batch; b++) pos[b] = t;
            assert_int_equal(model_step(m, cache, tok, pos, batch, step_logits), 0);
        }
        memcpy(logits, step_logits + (size_t)slot * V, sizeof(float) * V);
    }
    out[0] = argmax(logits, V);
    for (int s = 1; s <= steps; s++) {
        for (int b = 0; b < batch; b++) {
            tok[b] = b == slot ? out[s - 1] : 0;
            pos[b] = b == slot ? P + s - 1 : 0;
        }
        assert_int_equal(model_step(m, cache, tok, pos, batch, step_logits), 0);
        memcpy(logits + (size_t)s * V, step_logits + (size_t)slot * V, sizeof(float) * V);
        out[s] = argmax(logits + (size_t)s * V, V);
    }
    free(step_logits);
    kv_cache_free(cache);
}

static void check_random(bool interleaved, bool bias, int P, int split, int batch, int slot)
{
    enum { STEPS = 12 };
    Model m;
    random_model(&m, interleaved, bias, 11 + (uint64_t)P);
    int V = m.config.vocab_size;
    int *prompt = malloc(sizeof(int) * (size_t)P);
    Rng r;
    rng_seed(&r, 5 + (uint64_t)P);
    for (int t = 0; t < P; t++) prompt[t] = (int)rng_below(&r, (uint64_t)V);
    float *ref = malloc(sizeof(float) * (STEPS + 1) * V);
    float *got = malloc(sizeof(float) * (STEPS + 1) * V);
    int ref_tok[STEPS + 1], got_tok[STEPS + 1];
    greedy(&m, prompt, P, STEPS, false, 0, 1, 0, ref, ref_tok);
    greedy(&m, prompt, P, STEPS, true, split, batch, slot, got, got_tok);
    assert_true(compare_floats("prefill last logits", got, ref, (size_t)V, 1e-4, 1e-4) <= 1.0);
    assert_true(compare_floats("steps after prefill", got + V, ref + V, (size_t)STEPS * V, 1e-4,
                               1e-4) <= 1.0);
    assert_memory_equal(got_tok, ref_tok, sizeof ref_tok);
    free(ref);
    free(got);
    free(prompt);
    model_free(&m);
}

static void test_prefill_matches_steps(void **state)
{
    (void)state;
    check_random(false, true, 9, 0, 1, 0);
    check_random(true, false, 9, 0, 1, 0);
    check_random(false, false, 1, 0, 1, 0);       /* a one-token prompt */
    check_random(false, true, 20, 7, 1, 0);       /* two calls: attends to earlier positions */
    check_random(true, true, 300, 0, 1, 0);       /* three chunks of up to 128 */
    check_random(false, false, 15, 0, 3, 2);      /* sequence 2 of 3 */
    check_random(true, true, 15, 0, 9, 4);        /* 9 sequences: steps through sgemm */
}

/* Prefilling sequence 1 must not disturb sequence 0, whose decoding is under way. */
static void test_prefill_leaves_other_sequences(void **state)
{
    (void)state;
    Model m;
    random_model(&m, false, true, 3);
    int V = m.config.vocab_size;
    KVCache *a = NULL, *b = NULL;
    assert_int_equal(kv_cache_init(&a, &m.config, 2, 32), 0);
    assert_int_equal(kv_cache_init(&b, &m.config, 1, 32), 0);
    float la[2 * 64], lb[64], scratch[64];
    int seq0[6] = {3, 1, 4, 1, 5, 9}, other[5] = {2, 7, 1, 8, 2};
    for (int t = 0; t < 5; t++) {
        int tok[2] = {seq0[t], 0}, pos[2] = {t, 0};
        assert_int_equal(model_step(&m, a, tok, pos, 2, la), 0);
        assert_int_equal(model_step(&m, b, &seq0[t], &t, 1, lb), 0);
    }
    assert_int_equal(model_prefill(&m, a, 1, other, 0, 5, scratch), 0);
    /* Sequence 1 steps its sixth token beside sequence 0's. */
    int tok[2] = {seq0[5], other[4]}, pos[2] = {5, 5}, p5 = 5;
    assert_int_equal(model_step(&m, a, tok, pos, 2, la), 0);
    assert_int_equal(model_step(&m, b, &seq0[5], &p5, 1, lb), 0);
    assert_true(compare_floats("sequence 0 after a prefill of 1", la, lb, (size_t)V, 1e-5,
                               1e-5) <= 1.0);
    kv_cache_free(a);
    kv_cache_free(b);
    model_free(&m);
}

static void test_prefill_errors(void **state)
{
    (void)state;
    Model m;
    random_model(&m, false, false, 1);
    KVCache *c = NULL;
    assert_int_equal(kv_cache_init(&c, &m.config, 2, 8), 0);
    int ok[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, bad[2] = {1, 41};
    float logits[64];
    assert_int_equal(model_prefill(&m, c, 2, ok, 0, 2, logits), -1);
    assert_non_null(strstr(pf_error(), "sequence 2"));
    assert_int_equal(model_prefill(&m, c, -1, ok, 0, 2, logits), -1);
    assert_int_equal(model_prefill(&m, c, 0, ok, 0, 9, logits), -1); /* 9 > 8 positions */
    assert_non_null(strstr(pf_error(), "outside the cache"));
    assert_int_equal(model_prefill(&m, c, 0, ok, 7, 2, logits), -1);
    assert_int_equal(model_prefill(&m, c, 0, ok, 0, 0, logits), -1);
    assert_int_equal(model_prefill(&m, c, 0, bad, 0, 2, logits), -1);
    assert_non_null(strstr(pf_error(), "token 41 at position 1"));
    assert_int_equal(model_prefill(&m, c, 1, ok, 0, 8, logits), 0);
    kv_cache_free(c);
    model_free(&m);
}

/* stories260K: prefill of the first tokens of its greedy story from BOS, then greedy steps,
 * gives the token-by-token greedy continuation. */
static void test_stories_prefill(void **state)
{
    (void)state;
    const char *mp = shared_path("models/stories260K/stories260K.bin");
    if (!mp) skip(); /* ../shared/models/stories260K is absent */
    Model m;
    assert_int_equal(model_load(mp, &m), 0);
    enum { P = 10, STEPS = 40 };
    int V = m.config.vocab_size;
    int prompt[P], ref_tok[STEPS + 1], got_tok[STEPS + 1];
    float *ref = malloc(sizeof(float) * (STEPS + 1) * V);
    float *got = malloc(sizeof(float) * (STEPS + 1) * V);
    /* The prompt: BOS and the first greedy tokens after it. */
    int bos = 1;
    greedy(&m, &bos, 1, P - 2, false, 0, 1, 0, ref, ref_tok);
    prompt[0] = bos;
    memcpy(prompt + 1, ref_tok, sizeof(int) * (P - 1));
    greedy(&m, prompt, P, STEPS, false, 0, 1, 0, ref, ref_tok);
    greedy(&m, prompt, P, STEPS, true, 0, 1, 0, got, got_tok);
    assert_memory_equal(got_tok, ref_tok, sizeof ref_tok);
    assert_true(compare_floats("stories260K prefill + steps", got, ref, (size_t)(STEPS + 1) * V,
                               1e-4, 1e-4) <= 1.0);
    free(ref);
    free(got);
    model_free(&m);
}

/* sample_logits' nucleus: with p = (0.5, 0.3, 0.15, 0.05) and top_p 0.7 only ids 0 and 1 are
 * drawn, in proportion 5:3; a flat distribution over more ids than the stack scratch holds
 * still samples ids in range. */
static void test_sample_logits_nucleus(void **state)
{
    (void)state;
    const float p[4] = {0.5f, 0.3f, 0.15f, 0.05f};
    Rng r;
    rng_seed(&r, 9);
    int counts[4] = {0};
    enum { DRAWS = 4000 };
    for (int k = 0; k < DRAWS; k++) {
        float z[4];
        for (int v = 0; v < 4; v++) z[v] = logf(p[v]);
        counts[sample_logits(z, 4, 1.0f, 0.7f, &r)]++;
    }
    assert_int_equal(counts[2] + counts[3], 0);
    double f0 = (double)counts[0] / DRAWS; /* expect 0.625, sd 0.008 */
    assert_true(f0 > 0.59 && f0 < 0.66);
    enum { BIG = 5000 };
    float *flat = malloc(sizeof(float) * BIG);
    for (int k = 0; k < 20; k++) {
        for (int v = 0; v < BIG; v++) flat[v] = 0.0f;
        int id = sample_logits(flat, BIG, 1.0f, 0.5f, &r);
        assert_true(id >= 0 && id < BIG);
    }
    free(flat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_matches_steps),
        cmocka_unit_test(test_prefill_leaves_other_sequences),
        cmocka_unit_test(test_prefill_errors),
        cmocka_unit_test(test_stories_prefill),
        cmocka_unit_test(test_sample_logits_nucleus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
