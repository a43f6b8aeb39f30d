/* Kernel checks: each backward in kernels/cpu.h against central finite differences of its
 * forward, attention's forward against a naive double-precision reference (including lengths
 * that span several query blocks), and matmul against a naive product for all transposes.
 *
 * Precision: kernels run in fp32. The scalar loss is sum(R * out) for a fixed random R,
 * accumulated in double; differences use step 1e-2 on O(1) inputs and must satisfy
 * |analytic - numeric| <= 2e-3 + 1e-2 * |numeric| for every checked entry. */
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

#include "kernels/cpu.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

typedef double (*LossFn)(void *ctx);

static float *random_floats(Rng *r, size_t n, float scale)
{
    float *x = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) x[i] = scale * rng_normal(r);
    return x;
}

static double weighted_sum(const float *out, const float *R, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)out[i] * R[i];
    return s;
}

/* Compares analytic[i] with the central difference of loss(ctx) in x[i], for `count` indices
 * (all when count >= n, else a seeded random subset). */
static void fd_check(const char *what, float *x, const float *analytic, size_t n, size_t count,
                     LossFn loss, void *ctx)
{
    const float step = 1e-2f;
    Rng r;
    rng_seed(&r, 17);
    double worst = 0.0, norm = 0.0;
    for (size_t k = 0; k < (count < n ? count : n); k++) {
        size_t i = count < n ? (size_t)rng_below(&r, n) : k;
        float saved = x[i];
        x[i] = saved + step;
        double up = loss(ctx);
        x[i] = saved - step;
        double down = loss(ctx);
        x[i] = saved;
        double numeric = (up - down) / (2.0 * step);
        double err = fabs(analytic[i] - numeric) / (2e-3 + 1e-2 * fabs(numeric));
        if (err > 1.0)
            fprintf(stderr, "%s[%zu]: analytic %.6g numeric %.6g\n", what, i, analytic[i],
                    numeric);
        if (err > worst) worst = err;
        norm += numeric * numeric;
    }
    assert_true(worst <= 1.0);
    assert_true(norm > 1e-6); /* the check saw real gradients */
}

/* ---- RMSNorm ---- */
typedef struct { float *x, *w, *out, *rstd, *R; int N, C; } NormCtx;

static double norm_loss(void *p)
{
    NormCtx *c = p;
    rmsnorm_forward(c->out, c->rstd, c->x, c->w, c->N, c->C, 1e-5f);
    return weighted_sum(c->out, c->R, (size_t)c->N * c->C);
}

static void test_rmsnorm(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 1);
    NormCtx c = {.N = 3, .C = 10};
    size_t n = (size_t)c.N * c.C;
    c.x = random_floats(&r, n, 1.0f);
    c.w = random_floats(&r, (size_t)c.C, 1.0f);
    c.R = random_floats(&r, n, 1.0f);
    c.out = xalloc_floats(n);
    c.rstd = xalloc_floats((size_t)c.N);
    float *dx = xalloc_floats(n), *dw = xalloc_floats((size_t)c.C);
    norm_loss(&c);
    rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.C);
    fd_check("rmsnorm dx", c.x, dx, n, n, norm_loss, &c);
    fd_check("rmsnorm dw", c.w, dw, (size_t)c.C, (size_t)c.C, norm_loss, &c);

    /* rmsnorm_apply recomputes the same output from the saved rstd. */
    float *again = xalloc_floats(n);
    norm_loss(&c);
    rmsnorm_apply(again, c.x, c.w, c.rstd, c.N, c.C);
    assert_true(compare_floats("rmsnorm_apply", again, c.out, n, 1e-7, 1e-6) <= 1.0);
    free(again);
    free(c.x), free(c.w), free(c.R), free(c.out), free(c.rstd), free(dx), free(dw);
}

/* ---- RoPE ---- */
typedef struct { float *x, *out, *cos_t, *sin_t, *R; int N, heads, HD; bool inter; } RopeCtx;

static double rope_loss(void *p)
{
    RopeCtx *c = p;
    size_t n = (size_t)c->N * c->heads * c->HD;
    memcpy(c->out, c->x, sizeof(float) * n);
    rope_forward(c->out, c->cos_t, c->sin_t, c->N, c->heads, c->HD, c->inter);
    return weighted_sum(c->out, c->R, n);
}

static void check_rope(bool interleaved)
{
    Rng r;
    rng_seed(&r, 2);
    RopeCtx c = {.N = 4, .heads = 3, .HD = 6, .inter = interleaved};
    size_t n = (size_t)c.N * c.heads * c.HD;
    int positions[4] = {0, 5, 2, 1000};
    float inv_freq[3] = {1.0f, 0.3f, 0.01f};
    c.cos_t = xalloc_floats(12);
    c.sin_t = xalloc_floats(12);
    rope_tables(c.cos_t, c.sin_t, positions, inv_freq, c.N, 3);
    c.x = random_floats(&r, n, 1.0f);
    c.R = random_floats(&r, n, 1.0f);
    c.out = xalloc_floats(n);
    float *dx = xalloc_floats(n);
    memcpy(dx, c.R, sizeof(float) * n);
    rope_backward(dx, c.cos_t, c.sin_t, c.N, c.heads, c.HD, c.inter);
    fd_check(interleaved ? "rope interleaved dx" : "rope half dx", c.x, dx, n, n, rope_loss, &c);

    /* By hand: token 1 (position 5), head 0, pair 0 rotates by 5 rad in dims (0,1) or (0,3). */
    rope_loss(&c);
    int other = interleaved ? 1 : 3;
    float x0 = c.x[18], x1 = c.x[18 + other];
    assert_true(fabsf(c.out[18] - (x0 * cosf(5.0f) - x1 * sinf(5.0f))) < 1e-5f);
    assert_true(fabsf(c.out[18 + other] - (x0 * sinf(5.0f) + x1 * cosf(5.0f))) < 1e-5f);
    free(c.x), free(c.R), free(c.out), free(c.cos_t), free(c.sin_t), free(dx);
}

static void test_rope_half(void **state)
{
    (void)state;
    check_rope(false);
}

static void test_rope_interleaved(void **state)
{
    (void)state;
    check_rope(true);
}

/* ---- Attention ---- */
typedef struct {
    float *q, *k, *v, *out, *lse, *R, *scratch;
    const int *seg;
    int B, T, NH, NKV, HD;
} AttCtx;

static double att_loss(void *p)
{
    AttCtx *c = p;
    assert_int_equal(attention_forward(c->out, c->lse, c->q, c->k, c->v, c->seg, c->B, c->T,
                                       c->NH, c->NKV, c->HD, c->scratch, 2), 0);
    return weighted_sum(c->out, c->R, (size_t)c->B * c->T * c->NH * c->HD);
}

/* Naive causal segmented GQA attention in double. */
static void att_reference(const AttCtx *c, float *out)
{
    int QW = c->NH * c->HD, KW = c->NKV * c->HD, T = c->T;
    double *s = malloc(sizeof(double) * T);
    for (int b = 0; b < c->B; b++)
        for (int h = 0; h < c->NH; h++)
            for (int t = 0; t < T; t++) {
                int g = h / (c->NH / c->NKV);
                const float *qt = c->q + ((long)b * T + t) * QW + h * c->HD;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    s[j] = -INFINITY;
                    if (c->seg && c->seg[b * T + j] != c->seg[b * T + t]) continue;
                    const float *kj = c->k + ((long)b * T + j) * KW + g * c->HD;
                    double d = 0.0;
                    for (int e = 0; e < c->HD; e++) d += (double)qt[e] * kj[e];
                    s[j] = d / sqrt((double)c->HD);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j <= t; j++) sum += exp(s[j] - mx);
                for (int e = 0; e < c->HD; e++) {
                    double o = 0.0;
                    for (int j = 0; j <= t; j++)
                        o += exp(s[j] - mx) / sum * c->v[((long)b * T + j) * KW + g * c->HD + e];
                    out[((long)b * T + t) * QW + h * c->HD + e] = (float)o;
                }
            }
    free(s);
}

static void check_attention(int B, int T, int NH, int NKV, int HD, const int *seg, size_t count)
{
    Rng r;
    rng_seed(&r, (uint64_t)(T * 100 + NKV));
    AttCtx c = {.B = B, .T = T, .NH = NH, .NKV = NKV, .HD = HD, .seg = seg};
    size_t nq = (size_t)B * T * NH * HD, nk = (size_t)B * T * NKV * HD;
    c.q = random_floats(&r, nq, 1.0f);
    c.k = random_floats(&r, nk, 1.0f);
    c.v = random_floats(&r, nk, 1.0f);
    c.R = random_floats(&r, nq, 1.0f);
    c.out = xalloc_floats(nq);
    c.lse = xalloc_floats((size_t)B * NH * T);
    c.scratch = xalloc_floats((size_t)attention_scratch_floats(T, 2));
    float *ref = xalloc_floats(nq), *dq = xalloc_floats(nq);
    float *dk = xalloc_floats(nk), *dv = xalloc_floats(nk);

    att_loss(&c);
    att_reference(&c, ref);
    assert_true(compare_floats("attention forward", c.out, ref, nq, 1e-5, 1e-4) <= 1.0);

    /* dk/dv are overwritten, not added: poison them first. */
    for (size_t i = 0; i < nk; i++) dk[i] = dv[i] = 1e9f;
    assert_int_equal(attention_backward(dq, dk, dv, c.R, c.out, c.lse, c.q, c.k, c.v, seg, B, T,
                                        NH, NKV, HD, c.scratch, 2), 0);
    fd_check("attention dq", c.q, dq, nq, count, att_loss, &c);
    fd_check("attention dk", c.k, dk, nk, count, att_loss, &c);
    fd_check("attention dv", c.v, dv, nk, count, att_loss, &c);
    free(c.q), free(c.k), free(c.v), free(c.R), free(c.out), free(c.lse), free(c.scratch);
    free(ref), free(dq), free(dk), free(dv);
}

static void test_attention_gqa(void **state)
{
    (void)state;
    check_attention(2, 5, 4, 2, 4, NULL, 100000);
}

static void test_attention_segments(void **state)
{
    (void)state;
    const int seg[2 * 6] = {0, 0, 1, 1, 1, 2, 5, 5, 5, 5, 3, 3};
    check_attention(2, 6, 4, 1, 4, seg, 100000);
    check_attention(2, 6, 2, 2, 4, seg, 100000);
}

static void test_attention_long_blocks(void **state)
{
    (void)state;
    /* 300 tokens span three query blocks; three packed segments, one crossing a block edge. */
    int seg[300];
    for (int t = 0; t < 300; t++) seg[t] = t < 100 ? 0 : (t < 250 ? 1 : 2);
    check_attention(1, 300, 2, 1, 8, seg, 80);
    check_attention(1, 300, 2, 2, 8, NULL, 80);
}

/* ---- SwiGLU ---- */
typedef struct { float *gate, *up, *h, *R; long n; } GluCtx;

static double glu_loss(void *p)
{
    GluCtx *c = p;
    swiglu_forward(c->h, c->gate, c->up, c->n);
    return weighted_sum(c->h, c->R, (size_t)c->n);
}

static void test_swiglu(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 4);
    GluCtx c = {.n = 40};
    c.gate = random_floats(&r, 40, 2.0f);
    c.up = random_floats(&r, 40, 1.0f);
    c.R = random_floats(&r, 40, 1.0f);
    c.h = xalloc_floats(40);
    float *dg = xalloc_floats(40), *du = xalloc_floats(40);
    swiglu_backward(dg, du, c.R, c.gate, c.up, 40);
    fd_check("swiglu dgate", c.gate, dg, 40, 40, glu_loss, &c);
    fd_check("swiglu dup", c.up, du, 40, 40, glu_loss, &c);
    /* By hand: silu(1) * 2 = 2 / (1 + e^-1). */
    float g = 1.0f, u = 2.0f, h;
    swiglu_forward(&h, &g, &u, 1);
    assert_true(fabsf(h - 2.0f / (1.0f + expf(-1.0f))) < 1e-6f);
    /* Saturation: silu(100) = 100, silu(-100) = 0 (about -4e-42), all finite. */
    float gs[4] = {100.0f, -100.0f, 1e4f, -1e4f}, us[4] = {1, 1, 1, 1}, hs[4], dgs[4], dus[4];
    float ones[4] = {1, 1, 1, 1};
    swiglu_forward(hs, gs, us, 4);
    swiglu_backward(dgs, dus, ones, gs, us, 4);
    assert_true(fabsf(hs[0] - 100.0f) < 1e-4f && fabsf(hs[1]) < 1e-30f);
    assert_true(fabsf(hs[2] - 1e4f) < 1e-2f && fabsf(hs[3]) < 1e-30f);
    assert_true(fabsf(dgs[0] - 1.0f) < 1e-6f && fabsf(dgs[1]) < 1e-30f && fabsf(dgs[3]) < 1e-30f);
    /* Across the range the vector exp matches libm through silu to float rounding. */
    for (int i = -800; i <= 800; i++) {
        float g = i * 0.1f, u = 1.0f;
        swiglu_forward(&h, &g, &u, 1);
        float ref = (float)(g / (1.0 + exp(-(double)g)));
        assert_true(fabsf(h - ref) <= 4e-7f * (1.0f + fabsf(ref)));
    }
    free(c.gate), free(c.up), free(c.R), free(c.h), free(dg), free(du);
}

/* ---- Embedding and bias ---- */
typedef struct { float *table, *out, *R; const int *tokens; int N, C; } EmbCtx;

static double emb_loss(void *p)
{
    EmbCtx *c = p;
    embedding_forward(c->out, c->tokens, c->table, c->N, c->C);
    return weighted_sum(c->out, c->R, (size_t)c->N * c->C);
}

static void test_embedding(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 5);
    const int tokens[6] = {3, 0, 3, 6, 3, 1}; /* repeats must accumulate */
    EmbCtx c = {.tokens = tokens, .N = 6, .C = 20};
    c.table = random_floats(&r, 7 * 20, 1.0f);
    c.R = random_floats(&r, 6 * 20, 1.0f);
    c.out = xalloc_floats(6 * 20);
    float *dt = xalloc_floats(7 * 20);
    embedding_backward(dt, tokens, c.R, 6, 20);
    fd_check("embedding", c.table, dt, 7 * 20, 7 * 20, emb_loss, &c);
    for (int e = 0; e < 20; e++) assert_true(dt[2 * 20 + e] == 0.0f); /* unused row */

    float db[3] = {0}, dy[6] = {1, 2, 3, 4, 5, 6};
    bias_backward(db, dy, 2, 3);
    assert_true(db[0] == 5.0f && db[1] == 7.0f && db[2] == 9.0f);
    free(c.table), free(c.R), free(c.out), free(dt);
}

static void test_matmul_transposes(void **state)
{
    (void)state;
    Rng r;
    rng_seed(&r, 6);
    int M = 5, N = 7, K = 3;
    float *A = random_floats(&r, 15, 1.0f), *Bm = random_floats(&r, 21, 1.0f);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float C[35], ref[35];
            for (int i = 0; i < 35; i++) C[i] = 1.0f;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0.0;
                    for (int p = 0; p < K; p++)
                        s += (double)(ta ? A[p * M + i] : A[i * K + p]) *
                             (tb ? Bm[j * K + p] : Bm[p * N + j]);
                    ref[i * N + j] = (float)(2.0 * s + 0.5);
                }
            assert_int_equal(matmul(ta, tb, M, N, K, 2.0f, A, ta ? M : K, Bm, tb ? K : N, 0.5f, C,
                                    N), 0);
            assert_true(compare_floats("matmul", C, ref, 35, 1e-6, 1e-5) <= 1.0);
        }
    free(A), free(Bm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsnorm),          cmocka_unit_test(test_rope_half),
        cmocka_unit_test(test_rope_interleaved), cmocka_unit_test(test_attention_gqa),
        cmocka_unit_test(test_attention_segments), cmocka_unit_test(test_attention_long_blocks),
        cmocka_unit_test(test_swiglu),           cmocka_unit_test(test_embedding),
        cmocka_unit_test(test_matmul_transposes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
