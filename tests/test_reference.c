/* The C forward and backward passes against PyTorch/transformers on the fixture models of
 * tools/make_model_fixtures.py (GQA llama, llama3-rope BF16 llama, qwen2 with biases and tied
 * embeddings): logits, mean NLL and every parameter's gradient. The LM head and the NLL
 * gradient are written out here in plain loops (softmax minus one-hot, divided by the T-1
 * targets), independent of the objective module. */
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
#include "model/load.h"
#include "model/safetensors.h"
#include "util/error.h"
#include "testutil.h"

static float *ref_tensor(const SafetensorsFile *f, const char *name, size_t count)
{
    const StTensor *t = st_find(f, name);
    if (!t) fail_msg("reference tensor '%s' missing", name);
    assert_int_equal(t->n_elements, count);
    float *out = malloc(count * sizeof(float));
    assert_int_equal(st_tensor_to_f32(f, t, out), 0);
    return out;
}

static void check_model(const char *name)
{
    char dir[4096], path[4200];
    const char *p = fixture_path(name);
    if (!p) skip();
    snprintf(dir, sizeof dir, "%s", p);
    Model m;
    int rc = model_load(dir, &m);
    if (rc) fprintf(stderr, "%s\n", pf_error());
    assert_int_equal(rc, 0);
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    SafetensorsFile ref;
    assert_int_equal(st_open(path, &ref), 0);

    const StTensor *tt = st_find(&ref, "tokens");
    assert_non_null(tt);
    int T = (int)tt->n_elements;
    int tokens[64], positions[64];
    assert_true(T <= 64);
    memcpy(tokens, tt->data, (size_t)T * sizeof(int)); /* I32 little-endian */
    for (int t = 0; t < T; t++) positions[t] = t;

    const ModelConfig *c = &m.config;
    size_t C = (size_t)c->dim, V = (size_t)c->vocab_size;
    ModelActs *acts;
    assert_int_equal(model_acts_init(&acts, c, 1, T), 0);
    float *hidden;
    assert_int_equal(model_forward(&m, acts, tokens, positions, NULL, 1, T, &hidden), 0);

    /* LM head: logits (T, V) = hidden (T, C) lm_head^T */
    float *logits = calloc((size_t)T * V, sizeof(float));
    for (int t = 0; t < T; t++)
        for (size_t v = 0; v < V; v++) {
            double s = 0;
            for (size_t k = 0; k < C; k++)
                s += (double)hidden[t * C + k] * m.params.lm_head[v * C + k];
            logits[t * V + v] = (float)s;
        }
    float *want_logits = ref_tensor(&ref, "logits", (size_t)T * V);
    assert_true(compare_floats("logits", logits, want_logits, (size_t)T * V, 1e-5, 1e-4) <= 1.0);

    /* mean NLL over the T-1 next-token targets, and its gradient on the logits */
    float *d_logits = calloc((size_t)T * V, sizeof(float));
    double loss = 0;
    for (int t = 0; t + 1 < T; t++) {
        const float *z = logits + t * V;
        double mx = z[0], sum = 0;
        for (size_t v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        for (size_t v = 0; v < V; v++) sum += exp(z[v] - mx);
        int y = tokens[t + 1];
        loss += -(z[y] - mx - log(sum));
        for (size_t v = 0; v < V; v++)
            d_logits[t * V + v] = (float)((exp(z[v] - mx) / sum - (v == (size_t)y)) / (T - 1));
    }
    loss /= T - 1;
    float *want_loss = ref_tensor(&ref, "loss", 1);
    assert_float_equal(loss, want_loss[0], 1e-5 * fabs(want_loss[0]));

    /* backward: d_hidden = d_logits lm_head, lm_head grad = d_logits^T hidden */
    float *grad_mem = xalloc_floats(m.n_params);
    ModelParams g;
    model_params_bind(c, grad_mem, &g);
    float *d_hidden = calloc((size_t)T * C, sizeof(float));
    for (int t = 0; t < T; t++)
        for (size_t v = 0; v < V; v++) {
            float d = d_logits[t * V + v];
            for (size_t k = 0; k < C; k++) {
                d_hidden[t * C + k] += d * m.params.lm_head[v * C + k];
                g.lm_head[v * C + k] += d * hidden[t * C + k];
            }
        }
    assert_int_equal(model_backward(&m, acts, d_hidden, &g), 0);

    TensorRef *list;
    int n = model_tensor_list(c, &list);
    for (int i = 0; i < n; i++) {
        char gname[128];
        snprintf(gname, sizeof gname, "grad.%s", list[i].name);
        float *want = ref_tensor(&ref, gname, list[i].count);
        double err = compare_floats(gname, grad_mem + list[i].offset, want, list[i].count, 1e-6,
                                    1e-3);
        if (err > 1.0) fprintf(stderr, "%s: %s differs (ratio %.3g)\n", name, gname, err);
        assert_true(err <= 1.0);
        free(want);
    }
    free(list);
    free(d_hidden);
    free(grad_mem);
    free(want_loss);
    free(d_logits);
    free(want_logits);
    free(logits);
    model_acts_free(acts);
    st_close(&ref);
    model_free(&m);
}

static void test_llama_gqa(void **state) { (void)state; check_model("models/llama_gqa"); }
static void test_llama3_bf16(void **state) { (void)state; check_model("models/llama3_bf16"); }
static void test_qwen2(void **state) { (void)state; check_model("models/qwen2_sharded"); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_gqa),
        cmocka_unit_test(test_llama3_bf16),
        cmocka_unit_test(test_qwen2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
