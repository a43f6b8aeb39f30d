/* Whole-model gradient check: model_forward + model_backward against central finite
 * differences of a plain full-softmax NLL over logits = hidden x lm_head^T, on tiny random
 * models covering both RoPE pairings, grouped-query/multi-query/multi-head attention, q/k/v
 * biases on and off, tied and untied heads, and packed rows with segments. The head and the
 * loss are written here independently of the engine (the fused objective head is elsewhere).
 *
 * Precision: the engine runs in fp32, so the differences are fp32 central differences with
 * step 3e-3 on weights of scale ~0.3 and a loss accumulated in double. Every parameter is
 * checked with |analytic - numeric| <= 2e-3 + 2e-2 * |numeric|, and the whole gradient vector
 * must agree to 1e-3 in relative L2 norm. A wrong term in any backward formula gives errors of
 * order the gradient itself (relative ~1), far above these bounds. */
/* Not in the sanitizer run: thousands of whole-model forwards take over ten minutes under ASan;
 * test_kernels_grad and test_recompute cover the same code there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

enum { B = 2, T = 6, N = B * T };

typedef struct Case {
    const char *name;
    bool interleaved, bias, tied, packed;
    int n_kv_heads;
} Case;

static ModelConfig case_config(const Case *k)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 16;
    c.hidden_dim = 24;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = k->n_kv_heads;
    c.head_dim = 4;
    c.vocab_size = 23;
    c.rope_theta = 100.0f; /* fast-turning angles so positions matter in a short row */
    c.rope_interleaved = k->interleaved;
    c.qkv_bias = k->bias;
    c.tied_embeddings = k->tied;
    return c;
}

/* Random weights of scale ~0.3 and norm weights near 1, so every term has a visible effect. */
static void init_weights(Model *m, uint64_t seed)
{
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params_memory[i] = 0.3f * rng_normal(&r);
    const ModelConfig *c = &m->config;
    for (int i = 0; i < c->n_layers * c->dim; i++) {
        m->params.attn_norm[i] = 1.0f + 0.2f * rng_normal(&r);
        m->params.ffn_norm[i] = 1.0f + 0.2f * rng_normal(&r);
    }
    for (int i = 0; i < c->dim; i++) m->params.final_norm[i] = 1.0f + 0.2f * rng_normal(&r);
}

typedef struct Batch {
    int tokens[N], positions[N], segments[N], targets[N];
} Batch;

static Batch make_batch(bool packed, uint64_t seed, int V)
{
    Batch b;
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < N; i++) {
        b.tokens[i] = (int)rng_below(&r, (uint64_t)V);
        b.targets[i] = (int)rng_below(&r, (uint64_t)V);
        int t = i % T;
        /* Packed: row 0 holds examples of 2 and 4 tokens, row 1 of 3 and 3, positions restart. */
        int cut = (i / T == 0) ? 2 : 3;
        b.segments[i] = packed ? (t < cut ? 7 : 9) : 0;
        b.positions[i] = packed ? (t < cut ? t : t - cut) : t + 3;
    }
    return b;
}

/* Mean NLL of the targets under softmax(hidden lm_head^T). With d_hidden non-NULL also writes
 * the gradient w.r.t. hidden and adds the head's gradient into d_head (V, C). */
static double head_nll(const float *hidden, const float *head, const int *targets, int C, int V,
                       float *d_hidden, float *d_head)
{
    double loss = 0.0;
    double *logits = malloc(sizeof(double) * V);
    if (d_hidden) memset(d_hidden, 0, sizeof(float) * N * C);
    for (int i = 0; i < N; i++) {
        double mx = -INFINITY, sum = 0.0;
        for (int v = 0; v < V; v++) {
            double z = 0.0;
            for (int c = 0; c < C; c++) z += (double)hidden[i * C + c] * head[v * C + c];
            logits[v] = z;
            if (z > mx) mx = z;
        }
        for (int v = 0; v < V; v++) sum += exp(logits[v] - mx);
        loss -= logits[targets[i]] - mx - log(sum);
        if (!d_hidden) continue;
        for (int v = 0; v < V; v++) {
            double dz = (exp(logits[v] - mx) / sum - (v == targets[i])) / N;
            for (int c = 0; c < C; c++) {
                d_hidden[i * C + c] += (float)(dz * head[v * C + c]);
                d_head[v * C + c] += (float)(dz * hidden[i * C + c]);
            }
        }
    }
    free(logits);
    return loss / N;
}

static double model_loss(Model *m, ModelActs *a, const Batch *b, bool packed)
{
    float *hidden = NULL;
    assert_int_equal(model_forward(m, a, b->tokens, b->positions, packed ? b->segments : NULL,
                                   B, T, &hidden), 0);
    return head_nll(hidden, m->params.lm_head, b->targets, m->config.dim, m->config.vocab_size,
                    NULL, NULL);
}

static void check_case(const Case *k)
{
    ModelConfig c = case_config(k);
    Model m;
    assert_int_equal(model_init(&m, &c), 0);
    init_weights(&m, 1234);
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, &c, B, T), 0);
    Batch b = make_batch(k->packed, 99, c.vocab_size);

    float *grad_memory = xalloc_floats(m.n_params);
    ModelParams grads;
    model_params_bind(&c, grad_memory, &grads);
    float *hidden = NULL, *d_hidden = xalloc_floats(N * c.dim);
    assert_int_equal(model_forward(&m, a, b.tokens, b.positions, k->packed ? b.segments : NULL,
                                   B, T, &hidden), 0);
    head_nll(hidden, m.params.lm_head, b.targets, c.dim, c.vocab_size, d_hidden, grads.lm_head);
    assert_int_equal(model_backward(&m, a, d_hidden, &grads), 0);

    /* The many tiny forwards of the differences run on one thread: faster than waking a team
     * for each small kernel, and the analytic pass above already ran threaded. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const float step = 3e-3f;
    double worst = 0.0, diff2 = 0.0, ref2 = 0.0;
    size_t worst_i = 0;
    for (size_t i = 0; i < m.n_params; i++) {
        float saved = m.params_memory[i];
        m.params_memory[i] = saved + step;
        double up = model_loss(&m, a, &b, k->packed);
        m.params_memory[i] = saved - step;
        double down = model_loss(&m, a, &b, k->packed);
        m.params_memory[i] = saved;
        double numeric = (up - down) / (2.0 * step), analytic = grad_memory[i];
        double err = fabs(analytic - numeric) / (2e-3 + 2e-2 * fabs(numeric));
        if (err > worst) {
            worst = err;
            worst_i = i;
        }
        diff2 += (analytic - numeric) * (analytic - numeric);
        ref2 += numeric * numeric;
    }
    omp_set_num_threads(threads);
    double rel = sqrt(diff2 / ref2);
    printf("%s: %zu params, worst ratio %.3f at %zu (grad %.6g), relative L2 error %.2e\n",
           k->name, m.n_params, worst, worst_i, grad_memory[worst_i], rel);
    assert_true(worst <= 1.0);
    assert_true(rel <= 1e-3);

    free(d_hidden);
    free(grad_memory);
    model_acts_free(a);
    model_free(&m);
}

static void test_half_gqa_bias_untied(void **state)
{
    (void)state;
    Case k = {"rotate-half, GQA 4/2, biases, untied", false, true, false, false, 2};
    check_case(&k);
}

static void test_interleaved_gqa_tied(void **state)
{
    (void)state;
    Case k = {"interleaved, GQA 4/2, no biases, tied", true, false, true, false, 2};
    check_case(&k);
}

static void test_half_mha_tied_packed(void **state)
{
    (void)state;
    Case k = {"rotate-half, MHA, tied, packed", false, false, true, true, 4};
    check_case(&k);
}

static void test_interleaved_mqa_bias_packed(void **state)
{
    (void)state;
    Case k = {"interleaved, MQA 4/1, biases, untied, packed", true, true, false, true, 1};
    check_case(&k);
}

static void test_refuses_bad_input(void **state)
{
    (void)state;
    Case k = {"refusals", false, false, false, false, 2};
    ModelConfig c = case_config(&k);
    Model m;
    assert_int_equal(model_init(&m, &c), 0);
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init(&a, &c, B, T), 0);
    Batch b = make_batch(false, 5, c.vocab_size);
    float *hidden = NULL;
    assert_int_equal(model_forward(&m, a, b.tokens, b.positions, NULL, B, T + 1, &hidden), -1);
    assert_non_null(strstr(pf_error(), "exceeds"));
    b.tokens[3] = c.vocab_size;
    assert_int_equal(model_forward(&m, a, b.tokens, b.positions, NULL, B, T, &hidden), -1);
    assert_non_null(strstr(pf_error(), "index 3"));
    float *d = xalloc_floats(N * c.dim);
    ModelParams g = m.params;
    assert_int_equal(model_backward(&m, a, d, &g), -1);
    free(d);
    model_acts_free(a);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_gqa_bias_untied),
        cmocka_unit_test(test_interleaved_gqa_tied),
        cmocka_unit_test(test_half_mha_tied_packed),
        cmocka_unit_test(test_interleaved_mqa_bias_packed),
        cmocka_unit_test(test_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
