/* The head under each reference-implementation objective name against PyTorch autograd run the
 * way the reference trainer computes the loss (tools/make_objective_fixtures.py): same kept
 * counts, loss = sum / kept (the `reference` normalisation via divide_by_kept), same gradients
 * on the hidden states and the head weight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "objective/lm_head.h"
#include "util/error.h"
#include "testutil.h"

static float *floats_from(json_t *array, size_t expect)
{
    assert_true(json_is_array(array));
    assert_int_equal(json_array_size(array), expect);
    float *out = xalloc_floats(expect);
    for (size_t i = 0; i < expect; i++) out[i] = (float)json_number_value(json_array_get(array, i));
    return out;
}

static void test_matches_pytorch_reference(void **state)
{
    (void)state;
    const char *path = fixture_path("objective/reference_losses.json");
    if (!path) skip();
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) fail_msg("%s:%d: %s", path, err.line, err.text);
    int n = (int)json_integer_value(json_object_get(root, "n"));
    int c = (int)json_integer_value(json_object_get(root, "c"));
    int v = (int)json_integer_value(json_object_get(root, "v"));
    float *hidden = floats_from(json_object_get(root, "hidden"), (size_t)n * c);
    float *weight = floats_from(json_object_get(root, "weight"), (size_t)v * c);
    json_t *jt = json_object_get(root, "targets");
    int *targets = xmalloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) targets[i] = (int)json_integer_value(json_array_get(jt, i));

    json_t *cases = json_object_get(root, "cases");
    assert_true(json_array_size(cases) >= 11);
    for (size_t k = 0; k < json_array_size(cases); k++) {
        json_t *cs = json_array_get(cases, k);
        const char *name = json_string_value(json_object_get(cs, "name"));
        Objective obj;
        if (objective_parse(name, &obj) != 0) fail_msg("%s", pf_error());
        float *want_dh = floats_from(json_object_get(cs, "d_hidden"), (size_t)n * c);
        float *want_dw = floats_from(json_object_get(cs, "d_weight"), (size_t)v * c);
        float *dh = xalloc_floats((size_t)n * c), *dw = xalloc_floats((size_t)v * c);
        LmHeadOptions opts = {.divide_by_kept = true, .chunk_tokens = 5};
        LmHeadStats st;
        assert_int_equal(lm_head_forward_backward(hidden, weight, targets, n, c, v, &obj, 1.0f,
                                                  &opts, dh, dw, &st), 0);
        long kept = (long)json_integer_value(json_object_get(cs, "kept"));
        if (st.kept_tokens != kept) fail_msg("%s: kept %ld, reference %ld", name,
                                             st.kept_tokens, kept);
        double loss = st.loss_sum / (double)st.kept_tokens;
        double want = json_number_value(json_object_get(cs, "loss"));
        if (fabs(loss - want) > 1e-5 * (1 + fabs(want)))
            fail_msg("%s: loss %.9g, reference %.9g", name, loss, want);
        if (compare_floats(name, dh, want_dh, (size_t)n * c, 1e-6, 1e-4) > 1.0)
            fail_msg("%s: d_hidden differs from PyTorch", name);
        if (compare_floats(name, dw, want_dw, (size_t)v * c, 1e-6, 1e-4) > 1.0)
            fail_msg("%s: d_weight differs from PyTorch", name);
        free(want_dh);
        free(want_dw);
        free(dh);
        free(dw);
    }
    free(hidden);
    free(weight);
    free(targets);
    json_decref(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_pytorch_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
