/* attention_backward_heads (one task per query head, per-head dk/dv partials summed per group)
 * against attention_backward (one task per kv head), which test_kernels_grad checks by finite
 * differences, and the query-block-parallel attention_forward run single- and multi-threaded:
 * dq, dk, dv must agree within 1e-5 + 1e-4 relative (only the summation order of the heads of
 * a group differs), the forward within 1e-7 + 1e-5 relative (oneDNN may block a GEMM
 * differently when it runs outside a team). Rows of 300 tokens span three 128-query blocks;
 * cases cover grouped-query, multi-query and multi-head attention, with and without segments. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

enum { B = 2, T = 300, HD = 16, N = B * T };

static void fill(float *x, long n, Rng *r)
{
    for (long i = 0; i < n; i++) x[i] = rng_normal(r);
}

static void check(int NH, int NKV, bool packed)
{
    int QW = NH * HD, KW = NKV * HD, threads = 2;
    Rng r;
    rng_seed(&r, (uint64_t)(NH * 10 + NKV + packed));
    float *q = xalloc_floats((size_t)N * QW), *k = xalloc_floats((size_t)N * KW);
    float *v = xalloc_floats((size_t)N * KW), *dout = xalloc_floats((size_t)N * QW);
    float *out = xalloc_floats((size_t)N * QW), *out1 = xalloc_floats((size_t)N * QW);
    float *lse = xalloc_floats((size_t)B * NH * T), *lse1 = xalloc_floats((size_t)B * NH * T);
    float *scratch = xalloc_floats((size_t)attention_scratch_floats(T, threads));
    float *heads = xalloc_floats((size_t)attention_head_scratch_floats(B, T, NH, HD));
    float *dq0 = xalloc_floats((size_t)N * QW), *dq1 = xalloc_floats((size_t)N * QW);
    float *dk0 = xalloc_floats((size_t)N * KW), *dk1 = xalloc_floats((size_t)N * KW);
    float *dv0 = xalloc_floats((size_t)N * KW), *dv1 = xalloc_floats((size_t)N * KW);
    int *seg = malloc(sizeof(int) * N);
    fill(q, (long)N * QW, &r);
    fill(k, (long)N * KW, &r);
    fill(v, (long)N * KW, &r);
    fill(dout, (long)N * QW, &r);
    for (int i = 0; i < N; i++) seg[i] = (i % T) < (i / T == 0 ? 70 : 200) ? 3 : 4;
    const int *s = packed ? seg : NULL;

    assert_int_equal(attention_forward(out, lse, q, k, v, s, B, T, NH, NKV, HD, scratch, 1), 0);
    assert_int_equal(attention_forward(out1, lse1, q, k, v, s, B, T, NH, NKV, HD, scratch,
                                       threads), 0);
    assert_true(compare_floats("out", out1, out, (size_t)N * QW, 1e-7, 1e-5) <= 1.0);
    assert_true(compare_floats("lse", lse1, lse, (size_t)B * NH * T, 1e-7, 1e-5) <= 1.0);

    assert_int_equal(attention_backward(dq0, dk0, dv0, dout, out, lse, q, k, v, s, B, T, NH, NKV,
                                        HD, scratch, threads), 0);
    /* Garbage in the outputs and the head scratch must not leak into the results. */
    for (long i = 0; i < (long)N * KW; i++) dk1[i] = dv1[i] = 1e30f;
    for (long i = 0; i < attention_head_scratch_floats(B, T, NH, HD); i++) heads[i] = 1e30f;
    assert_int_equal(attention_backward_heads(dq1, dk1, dv1, dout, out, lse, q, k, v, s, B, T,
                                              NH, NKV, HD, scratch, threads, heads), 0);
    assert_true(compare_floats("dq", dq1, dq0, (size_t)N * QW, 1e-5, 1e-4) <= 1.0);
    assert_true(compare_floats("dk", dk1, dk0, (size_t)N * KW, 1e-5, 1e-4) <= 1.0);
    assert_true(compare_floats("dv", dv1, dv0, (size_t)N * KW, 1e-5, 1e-4) <= 1.0);

    free(q), free(k), free(v), free(dout), free(out), free(out1), free(lse), free(lse1);
    free(scratch), free(heads), free(dq0), free(dq1), free(dk0), free(dk1), free(dv0), free(dv1);
    free(seg);
}

static void test_gqa(void **state)
{
    (void)state;
    check(6, 2, false);
    check(6, 2, true);
}

static void test_mqa_mha(void **state)
{
    (void)state;
    check(4, 1, true);
    check(3, 3, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gqa),
        cmocka_unit_test(test_mqa_mha),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
