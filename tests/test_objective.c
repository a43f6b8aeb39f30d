/* Objective names (grammar, aliases, refusals, canonical round trip), f and c against hand
 * values and finite differences of f in p, stability at p -> 0 and p -> 1, and the loss
 * normalisation scales. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "objective/objective.h"
#include "util/error.h"
#include "testutil.h"

static Objective parse_ok(const char *name)
{
    Objective o;
    if (objective_parse(name, &o) != 0) fail_msg("parse '%s': %s", name, pf_error());
    return o;
}

static void expect(const char *name, ObjectiveKind kind, double alpha, ThresholdSide side,
                   double q, const char *canonical)
{
    Objective o = parse_ok(name);
    assert_int_equal(o.kind, kind);
    if (kind == OBJECTIVE_POWER) assert_true(o.alpha == alpha);
    assert_int_equal(o.side, side);
    if (side != THRESHOLD_NONE) assert_true(o.q == q);
    char buf[64];
    objective_name(&o, buf, sizeof buf);
    assert_string_equal(buf, canonical);
    Objective back = parse_ok(buf);
    assert_int_equal(back.kind, o.kind);
    assert_true(back.alpha == o.alpha && back.q == o.q && back.side == o.side);
}

static void test_grammar_and_aliases(void **state)
{
    (void)state;
    expect("nll", OBJECTIVE_NLL, 0, THRESHOLD_NONE, 0, "nll");
    expect("p", OBJECTIVE_POWER, 1, THRESHOLD_NONE, 0, "p");
    expect("power:1", OBJECTIVE_POWER, 1, THRESHOLD_NONE, 0, "p");
    expect("power:10", OBJECTIVE_POWER, 10, THRESHOLD_NONE, 0, "power:10");
    expect("power:0.01", OBJECTIVE_POWER, 0.01, THRESHOLD_NONE, 0, "power:0.01");
    expect("dft", OBJECTIVE_DFT, 0, THRESHOLD_NONE, 0, "dft");
    expect("nll@top:0.2", OBJECTIVE_NLL, 0, THRESHOLD_TOP, 0.2, "nll@top:0.2");
    expect("p@bottom:0.5", OBJECTIVE_POWER, 1, THRESHOLD_BOTTOM, 0.5, "p@bottom:0.5");
    expect("power:3@top:0", OBJECTIVE_POWER, 3, THRESHOLD_TOP, 0, "power:3@top:0");
    expect("dft@bottom:1", OBJECTIVE_DFT, 0, THRESHOLD_BOTTOM, 1, "dft@bottom:1");
    /* The reference implementation's names. */
    expect("original", OBJECTIVE_NLL, 0, THRESHOLD_NONE, 0, "nll");
    expect("logp", OBJECTIVE_NLL, 0, THRESHOLD_NONE, 0, "nll");
    expect("GeneralFamily-8", OBJECTIVE_POWER, 8, THRESHOLD_NONE, 0, "power:8");
    expect("GeneralFamily-1", OBJECTIVE_POWER, 1, THRESHOLD_NONE, 0, "p");
    expect("OnlyTopP-0.2", OBJECTIVE_POWER, 1, THRESHOLD_TOP, 0.2, "p@top:0.2");
    expect("OnlyBottomP-0.5", OBJECTIVE_POWER, 1, THRESHOLD_BOTTOM, 0.5, "p@bottom:0.5");
    expect("OnlyTopLogP-0.5858418226242066", OBJECTIVE_NLL, 0, THRESHOLD_TOP,
           0.5858418226242066, "nll@top:0.5858418226242066");
    expect("OnlyBottomLogP-0.9", OBJECTIVE_NLL, 0, THRESHOLD_BOTTOM, 0.9, "nll@bottom:0.9");
}

static void test_refusals_list_valid_forms(void **state)
{
    (void)state;
    const char *bad[] = {"",          "NLL",          "nll ",          "power:",
                         "power:0",   "power:-1",     "power:nan",     "power:inf",
                         "power:1e999", "power: 2",   "power:0x10",    "nll@top:1.5",
                         "nll@top:-0.1", "nll@middle:0.2", "nll@top:",  "nll@",
                         "p@top:0.2@bottom:0.3", "GeneralFamily-", "GeneralFamily-0",
                         "OnlyTopP-abc", "OnlyBottomLogP-2", "unknown", "dft:2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Objective o;
        pf_error_clear();
        if (objective_parse(bad[i], &o) != -1) fail_msg("'%s' was accepted", bad[i]);
        assert_non_null(strstr(pf_error(), "power:ALPHA"));
        assert_non_null(strstr(pf_error(), "OnlyTopLogP"));
    }
    Objective o;
    assert_int_equal(objective_parse(NULL, &o), -1);
}

static void test_hand_values(void **state)
{
    (void)state;
    double lp = log(0.5);
    Objective nll = parse_ok("nll"), p = parse_ok("p"), pw2 = parse_ok("power:2"),
              dft = parse_ok("dft");
    assert_true(fabs(objective_f(&nll, lp) - log(2.0)) < 1e-15);
    assert_true(objective_c(&nll, lp) == 1.0);
    assert_true(fabs(objective_f(&p, lp) - 0.5) < 1e-15);
    assert_true(fabs(objective_c(&p, lp) - 0.5) < 1e-15);
    assert_true(fabs(objective_f(&pw2, lp) - 0.375) < 1e-15);
    assert_true(fabs(objective_c(&pw2, lp) - 0.25) < 1e-15);
    assert_true(fabs(objective_f(&dft, lp) - 0.5 * log(2.0)) < 1e-15);
    assert_true(fabs(objective_c(&dft, lp) - 0.5) < 1e-15);
}

/* c(p) = -f'(p) p by central differences of f in p (for dft: of -p0 log x, p0 frozen). */
static void test_c_is_minus_fprime_times_p(void **state)
{
    (void)state;
    const char *names[] = {"nll", "p", "power:0.01", "power:0.5", "power:2", "power:10", "dft"};
    const double ps[] = {1e-4, 0.01, 0.3, 0.7, 0.99};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        Objective o = parse_ok(names[k]);
        for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
            double p = ps[i], h = p * 1e-5, fp, fm;
            if (o.kind == OBJECTIVE_DFT) {
                fp = -p * log(p + h);
                fm = -p * log(p - h);
            } else {
                fp = objective_f(&o, log(p + h));
                fm = objective_f(&o, log(p - h));
            }
            double c_fd = -(fp - fm) / (2 * h) * p;
            double c = objective_c(&o, log(p));
            if (fabs(c - c_fd) > 1e-7 * (1 + fabs(c_fd)))
                fail_msg("%s at p=%g: c=%.12g, finite difference %.12g", names[k], p, c, c_fd);
        }
    }
}

static void test_limits_are_stable(void **state)
{
    (void)state;
    Objective tiny = parse_ok("power:1e-9"), a001 = parse_ok("power:0.01"),
              nll = parse_ok("nll"), p10 = parse_ok("power:10"), dft = parse_ok("dft");
    /* alpha -> 0 approaches nll: (1 - p^a)/a = -log p - a (log p)^2 / 2 + ... */
    const double lps[] = {-1e-12, -1e-3, -0.5, -5.0, -20.0};
    for (size_t i = 0; i < 5; i++) {
        double lp = lps[i];
        assert_true(fabs(objective_f(&tiny, lp) + lp) <= 1e-9 * lp * lp + 1e-15 * -lp);
        double a = 0.01, third = -lp - a * lp * lp / 2 - a * a * lp * lp * lp / 6;
        double next_term = a * a * a * lp * lp * lp * lp / 24;
        assert_true(fabs(objective_f(&a001, lp) - third) <= 1.1 * next_term + 1e-15 * -lp);
    }
    /* p -> 1: the loss is small but relatively exact (no 1 - p cancellation). */
    assert_true(fabs(objective_f(&p10, -1e-13) / 1e-13 - 1.0) < 1e-9);
    /* p -> 0: finite limits, no NaN. */
    assert_true(fabs(objective_f(&p10, -1000.0) - 0.1) < 1e-15);
    assert_true(objective_c(&p10, -1000.0) == 0.0);
    assert_true(objective_f(&nll, -1000.0) == 1000.0);
    assert_true(objective_f(&dft, -INFINITY) == 0.0);
    assert_true(isinf(objective_f(&nll, -INFINITY)));
}

static void test_thresholds(void **state)
{
    (void)state;
    Objective top = parse_ok("nll@top:0.2"), bottom = parse_ok("p@bottom:0.5"),
              none = parse_ok("p");
    assert_true(objective_keeps(&top, log(0.2)));
    assert_true(objective_keeps(&top, log(0.9)));
    assert_false(objective_keeps(&top, log(0.19)));
    assert_true(objective_keeps(&bottom, log(0.5)));
    assert_false(objective_keeps(&bottom, log(0.51)));
    assert_true(objective_keeps(&none, log(1e-30)));
}

static void test_loss_norm(void **state)
{
    (void)state;
    LossNorm m;
    assert_int_equal(loss_norm_parse("reference", &m), 0);
    assert_int_equal(m, LOSS_NORM_REFERENCE);
    assert_string_equal(loss_norm_name(m), "reference");
    assert_int_equal(loss_norm_parse("mean", &m), -1);
    assert_non_null(strstr(pf_error(), "kept, reference or response"));
    assert_true(loss_norm_scale(LOSS_NORM_KEPT, 200, 400, 10, 8) == 1.0 / 200);
    assert_true(loss_norm_scale(LOSS_NORM_RESPONSE, 200, 400, 10, 8) == 1.0 / 400);
    assert_true(loss_norm_scale(LOSS_NORM_REFERENCE, 200, 400, 10, 8) == 1.0 / 80);
    assert_true(loss_norm_scale(LOSS_NORM_REFERENCE, 200, 400, 0, 8) == 0.0);
    assert_true(loss_norm_scale(LOSS_NORM_KEPT, 0, 0, 0, 1) == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar_and_aliases),
        cmocka_unit_test(test_refusals_list_valid_forms),
        cmocka_unit_test(test_hand_values),
        cmocka_unit_test(test_c_is_minus_fprime_times_p),
        cmocka_unit_test(test_limits_are_stable),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_loss_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
