/* AdamW and the cosine schedule against PyTorch's torch.optim.AdamW and transformers'
 * get_cosine_schedule_with_warmup (values written by tools/make_optim_fixtures.py), plus
 * gradient clipping and the WSD schedule checked by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim/optim.h"
#include "testutil.h"

/* Reads the row starting with `name` into out (at most cap values); returns the count. */
static int read_row(const char *path, const char *name, double *out, int cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    int n = -1;
    while (fgets(line, sizeof line, f)) {
        char *tok = strtok(line, " \n");
        if (!tok || strcmp(tok, name) != 0) continue;
        n = 0;
        while ((tok = strtok(NULL, " \n")) && n < cap) out[n++] = strtod(tok, NULL);
        break;
    }
    fclose(f);
    return n;
}

static void test_adamw_matches_torch(void **state)
{
    (void)state;
    const char *path = fixture_path("optim/adamw_reference.txt");
    assert_non_null(path);
    double init[8], grads[3][8], lrs[3], final[8];
    assert_int_equal(read_row(path, "init", init, 8), 8);
    for (int s = 0; s < 3; s++) {
        char name[16];
        snprintf(name, sizeof name, "grad%d", s);
        assert_int_equal(read_row(path, name, grads[s], 8), 8);
    }
    assert_int_equal(read_row(path, "lr", lrs, 3), 3);
    assert_int_equal(read_row(path, "final", final, 8), 8);

    float params[8], g[8], expect[8];
    unsigned char decay[8] = {1, 1, 1, 1, 1, 0, 0, 0};
    for (int i = 0; i < 8; i++) params[i] = (float)init[i], expect[i] = (float)final[i];
    AdamW opt;
    AdamWConfig cfg = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    adamw_init(&opt, &cfg, 8, decay);
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 8; i++) g[i] = (float)grads[s][i];
        adamw_step(&opt, params, g, (float)lrs[s]);
    }
    /* fp32 arithmetic in a different order than torch's: agree to 1e-6 relative. */
    assert_true(compare_floats("adamw", params, expect, 8, 1e-7, 1e-6) <= 1.0);
    assert_int_equal(opt.step, 3);
    adamw_free(&opt);
}

static void test_cosine_matches_transformers(void **state)
{
    (void)state;
    const char *path = fixture_path("optim/adamw_reference.txt");
    assert_non_null(path);
    double ref[20];
    assert_int_equal(read_row(path, "cosine_w3_t20_peak5e-5", ref, 20), 20);
    Schedule s = {.kind = SCHEDULE_COSINE, .peak_lr = 5e-5f, .total_steps = 20,
                  .warmup_steps = 3};
    /* fp32 lr against torch's double: equal to 1e-6 relative. */
    for (int i = 0; i < 20; i++) assert_true(fabs(schedule_lr(&s, i) - ref[i]) <= 1e-6 * ref[3]);
}

static void test_wsd_and_constant_by_hand(void **state)
{
    (void)state;
    /* 10 steps, 2 warmup, last 40% (4 steps) decay linearly from 1 to 0: steps 6..9 give
     * 1, 0.75, 0.5, 0.25. */
    Schedule s = {.kind = SCHEDULE_WSD, .peak_lr = 1.0f, .total_steps = 10, .warmup_steps = 2,
                  .decay_ratio = 0.4f};
    float expect[10] = {0, 0.5f, 1, 1, 1, 1, 1, 0.75f, 0.5f, 0.25f};
    expect[6] = 1.0f;
    for (int i = 0; i < 10; i++) assert_float_equal(schedule_lr(&s, i), expect[i], 1e-6);
    s.kind = SCHEDULE_CONSTANT;
    assert_float_equal(schedule_lr(&s, 9), 1.0f, 0);
    ScheduleKind k;
    assert_int_equal(schedule_parse("linear-ish", &k), -1);
    assert_int_equal(schedule_parse("wsd", &k), 0);
    assert_int_equal(k, SCHEDULE_WSD);
}

static void test_clip_by_global_norm(void **state)
{
    (void)state;
    float g[4] = {3, 4, 0, 0}; /* norm 5 */
    double norm = grad_global_norm(g, 4);
    assert_float_equal(norm, 5.0, 1e-12);
    float scale = grad_clip(g, 4, norm, 1.0);
    assert_float_equal(scale, 1.0 / (5.0 + 1e-6), 1e-7);
    assert_float_equal(grad_global_norm(g, 4), 1.0, 1e-6);
    assert_float_equal(grad_clip(g, 4, 0.5, 1.0), 1.0f, 0); /* below the limit: untouched */
    g[2] = NAN;
    assert_true(isnan(grad_global_norm(g, 4)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_matches_torch),
        cmocka_unit_test(test_cosine_matches_transformers),
        cmocka_unit_test(test_wsd_and_constant_by_hand),
        cmocka_unit_test(test_clip_by_global_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
