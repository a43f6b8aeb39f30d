/* Probe statistics: summaries worked out by hand, and probe_collect on a tiny random model
 * equal to a full double-precision softmax computed here (log p, entropy, mean p, quantiles,
 * fractions, histogram, per-example means) to 1e-5; bad inputs refused with a named cause. */
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
#include "probe/probe.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

/* ---- by hand ---- */

static void test_summary_by_hand(void **state)
{
    (void)state;
    const double p[4] = {0.61, 0.12, 0.97, 0.33}; /* off every bin and threshold edge */
    float lp[4];
    for (int i = 0; i < 4; i++) lp[i] = (float)log(p[i]);
    ProbeSummary s;
    assert_int_equal(probe_summarize(lp, NULL, 4, &s), 0);
    assert_int_equal(s.tokens, 4);
    assert_true(fabs(s.mean_p - 2.03 / 4) < 1e-6);
    double mlp = log(0.61 * 0.12 * 0.97 * 0.33) / 4;
    assert_true(fabs(s.mean_log_p - mlp) < 1e-6);
    assert_true(fabs(s.perplexity - exp(-mlp)) < 1e-5);
    assert_true(isnan(s.mean_entropy));
    /* sorted 0.12 0.33 0.61 0.97; level q sits at q*3 between order statistics */
    assert_true(fabs(s.median - 0.47) < 1e-6);
    assert_true(fabs(s.quantile[0] - (0.12 + 0.15 * 0.21)) < 1e-6);  /* 5% */
    assert_true(fabs(s.quantile[10] - (0.61 + 0.85 * 0.36)) < 1e-6); /* 95% */
    assert_true(fabs(s.quantile[5] - 0.47) < 1e-6);
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) {
        double q = PROBE_THRESHOLDS[k];
        double want = ((0.12 >= q) + (0.33 >= q) + (0.61 >= q) + (0.97 >= q)) / 4.0;
        assert_true(fabs(s.frac_at_least[k] - want) < 1e-12);
    }
    long hist[PROBE_HIST_BINS] = {0};
    hist[2] = hist[6] = hist[12] = hist[19] = 1;
    assert_memory_equal(s.histogram, hist, sizeof hist);
    assert_int_equal(probe_region(s.mean_p), PROBE_INTERMEDIATE);
}

static void test_regions_and_advice(void **state)
{
    (void)state;
    assert_int_equal(probe_region(0.8), PROBE_MODEL_STRONG);
    assert_int_equal(probe_region(0.6), PROBE_MODEL_STRONG);
    assert_int_equal(probe_region(0.59), PROBE_INTERMEDIATE);
    assert_int_equal(probe_region(0.2), PROBE_INTERMEDIATE);
    assert_int_equal(probe_region(0.01), PROBE_MODEL_WEAK);

    /* 10 tokens: eight at p = 0.9, two at p = 0.05 -> strong, OnlyTopLogP-0.2 keeps 80% */
    float lp[10];
    for (int i = 0; i < 10; i++) lp[i] = (float)log(i < 8 ? 0.9 : 0.05);
    ProbeSummary s;
    assert_int_equal(probe_summarize(lp, NULL, 10, &s), 0);
    StrBuf text = {0};
    probe_advice(&s, &text);
    assert_non_null(strstr(text.data, "model-strong"));
    assert_non_null(strstr(text.data, "`power:10`"));
    assert_non_null(strstr(text.data, "OnlyTopLogP-0.2"));
    assert_non_null(strstr(text.data, "keeps 80.0% of tokens"));
    strbuf_free(&text);

    for (int i = 0; i < 10; i++) lp[i] = (float)log(0.01);
    assert_int_equal(probe_summarize(lp, NULL, 10, &s), 0);
    probe_advice(&s, &text);
    assert_non_null(strstr(text.data, "model-weak"));
    assert_non_null(strstr(text.data, "use `nll`"));
    assert_non_null(strstr(text.data, "figlet"));
    strbuf_free(&text);
}

static void test_summary_refuses_bad_values(void **state)
{
    (void)state;
    ProbeSummary s;
    float lp[2] = {-1.0f, NAN};
    assert_int_equal(probe_summarize(lp, NULL, 0, &s), -1);
    assert_non_null(strstr(pf_error(), "no response tokens"));
    assert_int_equal(probe_summarize(lp, NULL, 2, &s), -1);
    assert_non_null(strstr(pf_error(), "token 1"));
    lp[1] = 0.5f;
    assert_int_equal(probe_summarize(lp, NULL, 2, &s), -1);
}

/* ---- against a double-precision reference on a tiny random model ---- */

static ModelConfig tiny_config(void)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 16;
    c.hidden_dim = 24;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = 40;
    c.max_seq_len = 64;
    c.tied_embeddings = false;
    return c;
}

/* A random model whose head is scaled up so that p spreads over (0, 1). */
static void tiny_model(Model *m, uint64_t seed)
{
    ModelConfig c = tiny_config();
    assert_int_equal(model_init(m, &c), 0);
    model_init_random(m, seed);
    for (size_t i = 0; i < (size_t)c.vocab_size * c.dim; i++) m->params.lm_head[i] *= 60.0f;
}

/* The model's most likely next token after tokens[0..len) (double logits). */
static int greedy_next(const Model *m, ModelActs *acts, const int *tokens, int len)
{
    const ModelConfig *c = &m->config;
    int pos[32];
    for (int t = 0; t < len; t++) pos[t] = t;
    float *h = NULL;
    assert_int_equal(model_forward(m, acts, tokens, pos, NULL, 1, len, &h), 0);
    int best = 0;
    double best_z = -INFINITY;
    for (int j = 0; j < c->vocab_size; j++) {
        double z = 0;
        for (int k = 0; k < c->dim; k++)
            z += (double)h[(size_t)(len - 1) * c->dim + k] *
                 m->params.lm_head[(size_t)j * c->dim + k];
        if (z > best_z) {
            best_z = z;
            best = j;
        }
    }
    return best;
}

/* Examples of varied lengths: the first `prompt` tokens unmasked, the rest masked 1. Tokens
 * are the model's greedy choice with probability 0.6, else random, so p spreads over (0, 1). */
static void tiny_data(const Model *m, SftDataset *d, int n, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    ModelActs *acts = NULL;
    assert_int_equal(model_acts_init(&acts, &m->config, 1, 32), 0);
    for (int e = 0; e < n; e++) {
        int len = 5 + (int)rng_below(&r, 12), prompt = 1 + (int)rng_below(&r, 3);
        int tokens[32];
        uint8_t mask[32];
        for (int i = 0; i < len; i++) {
            bool greedy = i > 0 && rng_uniform(&r) < 0.6f;
            tokens[i] = greedy ? greedy_next(m, acts, tokens, i) : (int)rng_below(&r, 40);
            mask[i] = i >= prompt;
        }
        sft_dataset_push(d, tokens, mask, len, 10 + e);
    }
    model_acts_free(acts);
}

/* Reference per token, in data order: log p(target) and entropy from a double softmax of
 * the hidden states of a forward pass of each example alone. Returns the count. */
static size_t reference(const Model *m, const SftDataset *d, double *log_p, double *entropy,
                        int *example)
{
    const ModelConfig *c = &m->config;
    ModelActs *acts = NULL;
    assert_int_equal(model_acts_init(&acts, c, 1, 32), 0);
    size_t n = 0;
    double *z = malloc((size_t)c->vocab_size * sizeof *z);
    for (size_t e = 0; e < d->n; e++) {
        const SftExample *x = &d->examples[e];
        int pos[32];
        for (int t = 0; t < x->len; t++) pos[t] = t;
        float *h = NULL;
        assert_int_equal(model_forward(m, acts, x->tokens, pos, NULL, 1, x->len, &h), 0);
        for (int t = 0; t + 1 < x->len; t++) {
            if (!x->loss_mask[t + 1]) continue;
            double mx = -INFINITY, sum = 0, ent = 0;
            for (int j = 0; j < c->vocab_size; j++) {
                z[j] = 0;
                for (int k = 0; k < c->dim; k++)
                    z[j] += (double)h[(size_t)t * c->dim + k] *
                            m->params.lm_head[(size_t)j * c->dim + k];
                if (z[j] > mx) mx = z[j];
            }
            for (int j = 0; j < c->vocab_size; j++) sum += exp(z[j] - mx);
            for (int j = 0; j < c->vocab_size; j++) {
                double lp = z[j] - mx - log(sum);
                ent -= exp(lp) * lp;
            }
            log_p[n] = z[x->tokens[t + 1]] - mx - log(sum);
            entropy[n] = ent;
            example[n] = (int)e;
            n++;
        }
    }
    free(z);
    model_acts_free(acts);
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_collect_matches_double_softmax(void **state)
{
    (void)state;
    Model m;
    tiny_model(&m, 7);
    SftDataset d = {0};
    tiny_data(&m, &d, 7, 11);
    double ref_lp[256], ref_h[256];
    int ref_ex[256];
    size_t n = reference(&m, &d, ref_lp, ref_h, ref_ex);
    assert_true(n > 20);

    ProbeTokens t = {0};
    assert_int_equal(probe_collect(&m, &d, 3, 0, &t), 0); /* 3 batches, last one padded */
    assert_int_equal(t.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs(t.log_p[i] - ref_lp[i]) < 1e-5);
        assert_true(fabs(t.entropy[i] - ref_h[i]) < 1e-5);
        assert_int_equal(t.example[i], ref_ex[i]);
    }

    /* statistics against a direct computation from the reference values */
    double p[256], sum_p = 0, sum_lp = 0;
    long hist[PROBE_HIST_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        p[i] = exp(ref_lp[i]);
        sum_p += p[i];
        sum_lp += ref_lp[i];
        int b = (int)floor(p[i] * PROBE_HIST_BINS);
        hist[b > PROBE_HIST_BINS - 1 ? PROBE_HIST_BINS - 1 : b]++;
    }
    qsort(p, n, sizeof *p, cmp_double);
    ProbeSummary s;
    assert_int_equal(probe_summarize(t.log_p, t.entropy, t.n, &s), 0);
    assert_true(fabs(s.mean_p - sum_p / n) < 1e-5);
    assert_true(fabs(s.mean_log_p - sum_lp / n) < 1e-5);
    assert_true(p[0] < 0.05 && p[n - 1] > 0.9); /* the head scale spreads p */
    for (int k = 0; k < PROBE_N_QUANTILES; k++) {
        double pos = PROBE_QUANTILE_LEVELS[k] * (double)(n - 1);
        size_t lo = (size_t)floor(pos);
        double want = lo + 1 < n ? p[lo] + (pos - lo) * (p[lo + 1] - p[lo]) : p[lo];
        assert_true(fabs(s.quantile[k] - want) < 1e-5);
    }
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) {
        long at_least = 0;
        for (size_t i = 0; i < n; i++) at_least += p[i] >= PROBE_THRESHOLDS[k];
        assert_true(fabs(s.frac_at_least[k] - (double)at_least / n) < 1e-12);
    }
    assert_memory_equal(s.histogram, hist, sizeof hist);

    /* per-example means */
    ProbeExample ex[7];
    long lines[7];
    for (int e = 0; e < 7; e++) lines[e] = d.examples[e].line;
    probe_examples(&t, lines, 7, ex);
    for (int e = 0; e < 7; e++) {
        double sp = 0, sl = 0;
        long k = 0;
        for (size_t i = 0; i < n; i++)
            if (ref_ex[i] == e) {
                sp += exp(ref_lp[i]);
                sl += ref_lp[i];
                k++;
            }
        assert_int_equal(ex[e].tokens, k);
        assert_int_equal(ex[e].line, 10 + e);
        assert_true(fabs(ex[e].mean_p - sp / k) < 1e-5);
        assert_true(fabs(ex[e].mean_log_p - sl / k) < 1e-5);
    }

    /* batch size does not change the result */
    ProbeTokens t1 = {0};
    assert_int_equal(probe_collect(&m, &d, 1, 0, &t1), 0);
    assert_int_equal(t1.n, n);
    for (size_t i = 0; i < n; i++) assert_true(fabs(t1.log_p[i] - t.log_p[i]) < 1e-5);

    probe_tokens_free(&t1);
    probe_tokens_free(&t);
    sft_dataset_free(&d);
    model_free(&m);
}

static void test_collect_refuses_bad_input(void **state)
{
    (void)state;
    Model m;
    tiny_model(&m, 3);
    SftDataset d = {0};
    ProbeTokens t = {0};
    assert_int_equal(probe_collect(&m, &d, 4, 0, &t), -1);
    assert_non_null(strstr(pf_error(), "no examples"));
    int tokens[3] = {1, 2, 99}; /* 99 is outside the vocabulary of 40 */
    uint8_t mask[3] = {0, 1, 1};
    sft_dataset_push(&d, tokens, mask, 3, 1);
    assert_int_equal(probe_collect(&m, &d, 4, 0, &t), -1);
    assert_int_equal(probe_collect(&m, &d, 0, 0, &t), -1);
    probe_tokens_free(&t);
    sft_dataset_free(&d);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_by_hand),
        cmocka_unit_test(test_regions_and_advice),
        cmocka_unit_test(test_summary_refuses_bad_values),
        cmocka_unit_test(test_collect_matches_double_softmax),
        cmocka_unit_test(test_collect_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
