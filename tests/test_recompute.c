/* Activation recomputation (model_acts_init_opt with recompute): the hidden state and every
 * parameter gradient must equal those of the path that keeps all activations (which
 * test_model_grad checks against finite differences). Both paths run the same kernels on the
 * same inputs, so the results agree to rounding: we allow 1e-6 + 1e-5 relative. A layer slot
 * indexed wrongly, a skipped recomputation or a stale buffer gives errors of order the
 * gradient itself. Rows are longer than one attention block (128 queries) and packed with
 * segments; q/k/v biases and grouped-query attention are on. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "model/forward.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

enum { B = 2, T = 150, N = B * T };

/* Runs forward + backward with d_hidden fixed; writes hidden (N, C) and grads (n_params). */
static void run(Model *m, bool recompute, const int *tokens, const int *positions,
                const int *segments, const float *d_hidden, float *hidden_out, float *grads)
{
    ModelActs *a = NULL;
    assert_int_equal(model_acts_init_opt(&a, &m->config, B, T, recompute), 0);
    ModelParams g;
    model_params_bind(&m->config, grads, &g);
    memset(grads, 0, sizeof(float) * m->n_params);
    float *hidden = NULL;
    assert_int_equal(model_forward(m, a, tokens, positions, segments, B, T, &hidden), 0);
    memcpy(hidden_out, hidden, sizeof(float) * (size_t)N * m->config.dim);
    assert_int_equal(model_backward(m, a, d_hidden, &g), 0);
    model_acts_free(a);
}

static void test_recompute_equals_kept(void **state)
{
    (void)state;
    ModelConfig c;
    config_defaults(&c);
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = 3;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.vocab_size = 37;
    c.qkv_bias = true;
    c.tied_embeddings = true;
    Model m;
    assert_int_equal(model_init(&m, &c), 0);
    model_init_random(&m, 7);
    Rng r;
    rng_seed(&r, 3);
    /* Larger biases than the default init so that a lost bias shows. */
    for (int i = 0; i < c.n_layers * c.n_heads * c.head_dim; i++)
        m.params.bq[i] = 0.3f * rng_normal(&r);
    int *tokens = malloc(sizeof(int) * N), *positions = malloc(sizeof(int) * N);
    int *segments = malloc(sizeof(int) * N);
    float *d_hidden = malloc(sizeof(float) * N * c.dim);
    for (int i = 0; i < N; i++) {
        int t = i % T, cut = i / T == 0 ? 40 : 100;
        tokens[i] = (int)rng_below(&r, (uint64_t)c.vocab_size);
        segments[i] = t < cut ? 1 : 2;
        positions[i] = t < cut ? t : t - cut;
    }
    for (int i = 0; i < N * c.dim; i++) d_hidden[i] = rng_normal(&r);

    float *h0 = malloc(sizeof(float) * N * c.dim), *h1 = malloc(sizeof(float) * N * c.dim);
    float *g0 = malloc(sizeof(float) * m.n_params), *g1 = malloc(sizeof(float) * m.n_params);
    run(&m, false, tokens, positions, segments, d_hidden, h0, g0);
    run(&m, true, tokens, positions, segments, d_hidden, h1, g1);
    assert_true(compare_floats("hidden", h1, h0, (size_t)N * c.dim, 1e-6, 1e-5) <= 1.0);
    assert_true(compare_floats("grads", g1, g0, m.n_params, 1e-6, 1e-5) <= 1.0);
    /* The gradient is not trivially zero. */
    double s = 0.0;
    for (size_t i = 0; i < m.n_params; i++) s += (double)g0[i] * g0[i];
    assert_true(s > 1e-3);
    /* Memory: the recompute layout is smaller than the kept one. */
    assert_true(model_acts_floats_opt(&c, B, T, true) < model_acts_floats_opt(&c, B, T, false));

    free(h0), free(h1), free(g0), free(g1), free(d_hidden);
    free(tokens), free(positions), free(segments);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recompute_equals_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
