/* compare: per-token KL(A||B), KL(B||A), JS and both models' log p equal a double-precision
 * softmax computed here on tiny random models (also of different widths) to 1e-5; KL(A, A) = 0;
 * JS symmetric; per-example averages by hand; vocabulary and tokenizer mismatches refused. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "probe/compare.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

#define V 40

static void tiny_model(Model *m, int dim, int vocab, uint64_t seed)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = dim;
    c.hidden_dim = 24;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = vocab;
    c.max_seq_len = 64;
    assert_int_equal(model_init(m, &c), 0);
    model_init_random(m, seed);
    for (size_t i = 0; i < (size_t)vocab * dim; i++) m->params.lm_head[i] *= 40.0f;
}

static void tiny_data(SftDataset *d, int n, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (int e = 0; e < n; e++) {
        int len = 4 + (int)rng_below(&r, 10), prompt = 1 + (int)rng_below(&r, 3);
        int tokens[32];
        uint8_t mask[32];
        for (int i = 0; i < len; i++) {
            tokens[i] = (int)rng_below(&r, V);
            mask[i] = i >= prompt;
        }
        sft_dataset_push(d, tokens, mask, len, e + 1);
    }
}

/* Log-softmax rows (double) of every response position of every example, in data order:
 * out[(k) * V + j]; example[k] its example. Returns the count. */
static size_t reference_rows(const Model *m, const SftDataset *d, double *out, int *example)
{
    const ModelConfig *c = &m->config;
    ModelActs *acts = NULL;
    assert_int_equal(model_acts_init(&acts, c, 1, 32), 0);
    size_t n = 0;
    for (size_t e = 0; e < d->n; e++) {
        const SftExample *x = &d->examples[e];
        int pos[32];
        for (int t = 0; t < x->len; t++) pos[t] = t;
        float *h = NULL;
        assert_int_equal(model_forward(m, acts, x->tokens, pos, NULL, 1, x->len, &h), 0);
        for (int t = 0; t + 1 < x->len; t++) {
            if (!x->loss_mask[t + 1]) continue;
            double *z = out + n * V, mx = -INFINITY, sum = 0;
            for (int j = 0; j < V; j++) {
                z[j] = 0;
                for (int k = 0; k < c->dim; k++)
                    z[j] += (double)h[(size_t)t * c->dim + k] *
                            m->params.lm_head[(size_t)j * c->dim + k];
                if (z[j] > mx) mx = z[j];
            }
            for (int j = 0; j < V; j++) sum += exp(z[j] - mx);
            for (int j = 0; j < V; j++) z[j] -= mx + log(sum);
            example[n++] = (int)e;
        }
    }
    model_acts_free(acts);
    return n;
}

static double kl(const double *lp, const double *lq)
{
    double s = 0;
    for (int j = 0; j < V; j++) s += exp(lp[j]) * (lp[j] - lq[j]);
    return s;
}

static double js(const double *lp, const double *lq)
{
    double lm[V];
    for (int j = 0; j < V; j++) lm[j] = log(0.5 * (exp(lp[j]) + exp(lq[j])));
    return 0.5 * kl(lp, lm) + 0.5 * kl(lq, lm);
}

static int target_of(const SftDataset *d, size_t k_wanted)
{
    size_t k = 0;
    for (size_t e = 0; e < d->n; e++) {
        const SftExample *x = &d->examples[e];
        for (int t = 0; t + 1 < x->len; t++)
            if (x->loss_mask[t + 1] && k++ == k_wanted) return x->tokens[t + 1];
    }
    return -1;
}

static void check_against_reference(const Model *a, const Model *b)
{
    SftDataset d = {0};
    tiny_data(&d, 6, 5);
    double *ra = malloc(256 * V * sizeof(double)), *rb = malloc(256 * V * sizeof(double));
    int ea[256], eb[256];
    size_t n = reference_rows(a, &d, ra, ea);
    assert_int_equal(reference_rows(b, &d, rb, eb), n);

    CompareTokens t = {0};
    assert_int_equal(compare_collect(a, b, &d, 4, 0, &t), 0);
    assert_int_equal(t.n, n);
    double max_js = 0;
    for (size_t i = 0; i < n; i++) {
        const double *lp = ra + i * V, *lq = rb + i * V;
        int y = target_of(&d, i);
        assert_true(fabs(t.kl_ab[i] - kl(lp, lq)) < 1e-5 * (1 + kl(lp, lq)));
        assert_true(fabs(t.kl_ba[i] - kl(lq, lp)) < 1e-5 * (1 + kl(lq, lp)));
        assert_true(fabs(t.js[i] - js(lp, lq)) < 1e-5);
        assert_true(fabs(t.log_p_a[i] - lp[y]) < 1e-5);
        assert_true(fabs(t.log_p_b[i] - lq[y]) < 1e-5);
        assert_int_equal(t.example[i], ea[i]);
        if (js(lp, lq) > max_js) max_js = js(lp, lq);
    }
    assert_true(max_js > 0.05); /* the models really differ */

    CompareSummary s;
    CompareExample ex[6];
    assert_int_equal(compare_summarize(&t, NULL, 6, &s, ex), 0);
    double sum_kl = 0, mean_p_b = 0;
    for (size_t i = 0; i < n; i++) {
        sum_kl += kl(ra + i * V, rb + i * V);
        mean_p_b += exp(rb[i * V + target_of(&d, i)]);
    }
    assert_true(fabs(s.kl_ab - sum_kl / n) < 1e-5);
    assert_true(fabs(s.b.mean_p - mean_p_b / n) < 1e-5);
    compare_tokens_free(&t);
    free(ra);
    free(rb);
    sft_dataset_free(&d);
}

static void test_matches_double_softmax(void **state)
{
    (void)state;
    Model a, b;
    tiny_model(&a, 16, V, 1);
    tiny_model(&b, 16, V, 2);
    check_against_reference(&a, &b);
    model_free(&a);
    model_free(&b);
}

static void test_different_widths(void **state)
{
    (void)state;
    Model a, b;
    tiny_model(&a, 16, V, 1);
    tiny_model(&b, 24, V, 3);
    check_against_reference(&a, &b);
    check_against_reference(&b, &a);
    model_free(&a);
    model_free(&b);
}

static void test_self_zero_and_js_symmetric(void **state)
{
    (void)state;
    Model a, b;
    tiny_model(&a, 16, V, 1);
    tiny_model(&b, 16, V, 2);
    SftDataset d = {0};
    tiny_data(&d, 5, 9);
    CompareTokens aa = {0}, ab = {0}, ba = {0};
    assert_int_equal(compare_collect(&a, &a, &d, 3, 0, &aa), 0);
    for (size_t i = 0; i < aa.n; i++) {
        assert_true(fabs(aa.kl_ab[i]) < 1e-6 && fabs(aa.kl_ba[i]) < 1e-6);
        assert_true(fabs(aa.js[i]) < 1e-6);
        assert_true(aa.log_p_a[i] == aa.log_p_b[i]);
    }
    assert_int_equal(compare_collect(&a, &b, &d, 3, 0, &ab), 0);
    assert_int_equal(compare_collect(&b, &a, &d, 2, 0, &ba), 0);
    assert_int_equal(ab.n, ba.n);
    for (size_t i = 0; i < ab.n; i++) {
        assert_true(fabs(ab.js[i] - ba.js[i]) < 1e-6);
        assert_true(fabs(ab.kl_ab[i] - ba.kl_ba[i]) < 1e-5 * (1 + ab.kl_ab[i]));
        assert_true(ab.js[i] <= log(2.0) + 1e-6 && ab.js[i] >= -1e-7);
    }
    compare_tokens_free(&aa);
    compare_tokens_free(&ab);
    compare_tokens_free(&ba);
    sft_dataset_free(&d);
    model_free(&a);
    model_free(&b);
}

static void test_summary_by_hand(void **state)
{
    (void)state;
    /* example 0 has tokens with KL 1 and 3, example 1 one token with KL 8 (and an example 2
     * without tokens): per token (1+3+8)/3 = 4, per example (2 + 8)/2 = 5; JS per token
     * (0.1+0.3+0.5)/3 = 0.3, per example (0.2 + 0.5)/2 = 0.35. */
    float kl_ab[3] = {1, 3, 8}, kl_ba[3] = {2, 2, 2}, jsv[3] = {0.1f, 0.3f, 0.5f};
    float lpa[3] = {(float)log(0.5), (float)log(0.25), (float)log(0.75)};
    int ex_of[3] = {0, 0, 1};
    CompareTokens t = {kl_ab, kl_ba, jsv, lpa, lpa, ex_of, 3, 3};
    CompareSummary s;
    CompareExample ex[3];
    long lines[3] = {4, 7, 9};
    assert_int_equal(compare_summarize(&t, lines, 3, &s, ex), 0);
    assert_int_equal(s.tokens, 3);
    assert_int_equal(s.examples, 2);
    assert_true(fabs(s.kl_ab - 4.0) < 1e-9 && fabs(s.kl_ab_example - 5.0) < 1e-9);
    assert_true(fabs(s.js - 0.3) < 1e-7 && fabs(s.js_example - 0.35) < 1e-7);
    assert_true(fabs(ex[0].mean_p_a - 0.375) < 1e-7);
    assert_int_equal(ex[1].line, 7);
    assert_int_equal(ex[2].tokens, 0);
    assert_true(isnan(ex[2].kl_ab));
    assert_true(fabs(s.a.mean_p - 0.5) < 1e-7);
}

static void test_vocab_mismatch_refused(void **state)
{
    (void)state;
    Model a, b;
    tiny_model(&a, 16, V, 1);
    tiny_model(&b, 16, V + 1, 2);
    SftDataset d = {0};
    tiny_data(&d, 2, 9);
    CompareTokens t = {0};
    assert_int_equal(compare_collect(&a, &b, &d, 2, 0, &t), -1);
    assert_non_null(strstr(pf_error(), "vocabulary of 40 tokens"));
    assert_non_null(strstr(pf_error(), "41"));
    assert_int_equal(t.n, 0);
    SftDataset empty = {0};
    assert_int_equal(compare_collect(&a, &a, &empty, 2, 0, &t), -1);
    sft_dataset_free(&d);
    model_free(&a);
    model_free(&b);
}

static void test_tokenizer_mismatch_refused(void **state)
{
    (void)state;
    const char *p = shared_path("models/stories260K/tok512.bin");
    if (!p) {
        print_message("skipping: ../shared/models/stories260K is absent\n");
        skip();
    }
    char *small = strdup(p);
    Tokenizer *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(tokenizer_load(small, &a), 0);
    assert_int_equal(tokenizer_load(small, &b), 0);
    assert_int_equal(compare_check_tokenizers(a, b, "a", "b"), 0);
    p = shared_path("tokenizers/llama2/tokenizer.bin");
    if (p) {
        assert_int_equal(tokenizer_load(p, &c), 0);
        assert_int_equal(compare_check_tokenizers(a, c, "tok512", "llama2"), -1);
        assert_non_null(strstr(pf_error(), "512 tokens but llama2 has 32000"));
        tokenizer_free(c);
    }
    tokenizer_free(a);
    tokenizer_free(b);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_double_softmax),
        cmocka_unit_test(test_different_widths),
        cmocka_unit_test(test_self_zero_and_js_symmetric),
        cmocka_unit_test(test_summary_by_hand),
        cmocka_unit_test(test_vocab_mismatch_refused),
        cmocka_unit_test(test_tokenizer_mismatch_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
