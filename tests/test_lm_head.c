/* The fused LM head against an independent double-precision reference (full softmax, then f and
 * c written out per objective here) and against central finite differences of the loss in the
 * hidden states and the weight, for every objective and alias, vocabularies from 7 to 151,936,
 * p near 0 and near 1; thresholds keep exactly the tokens constructed to pass; chunked and
 * one-chunk runs agree; probe and divergence outputs; hostile targets are refused. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "objective/lm_head.h"
#include "util/error.h"
#include "util/rng.h"
#include "testutil.h"

static const char *ALL_OBJECTIVES[] = {
    "nll", "p", "power:0.01", "power:0.5", "power:2", "power:10", "dft", "nll@top:0.2",
    "nll@bottom:0.5", "p@top:0.3", "p@bottom:0.6", "power:3@top:0.1", "dft@bottom:0.9",
    "original", "logp", "GeneralFamily-8", "OnlyTopP-0.2", "OnlyBottomP-0.5", "OnlyTopLogP-0.2",
    "OnlyBottomLogP-0.5",
};
#define N_OBJECTIVES (sizeof ALL_OBJECTIVES / sizeof ALL_OBJECTIVES[0])

typedef struct Case {
    int n, c, v;
    float *hidden;  // (N, C)
    float *weight;  // (V, C)
    int *targets;   // (N)
} Case;

/* Random weights; each token's hidden row is noise plus gain * W[y] / |W[y]|^2, with gains
 * spread from strongly negative (p near 0) to large (p near 1). Every fifth token is a prompt
 * token (target -1). */
static Case case_make(int n, int c, int v, uint64_t seed)
{
    Case k = {n, c, v, xalloc_floats((size_t)n * c), xalloc_floats((size_t)v * c),
              xmalloc((size_t)n * sizeof(int))};
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)v * c; i++) k.weight[i] = rng_normal(&r);
    for (int i = 0; i < n; i++) {
        int y = (int)rng_below(&r, (uint64_t)v);
        k.targets[i] = (i % 5 == 4) ? -1 : y;
        double norm2 = 0;
        const float *wy = k.weight + (size_t)y * c;
        for (int j = 0; j < c; j++) norm2 += (double)wy[j] * wy[j];
        double gain = -8.0 + 30.0 * i / (n > 1 ? n - 1 : 1);
        for (int j = 0; j < c; j++)
            k.hidden[(size_t)i * c + j] = 0.3f * rng_normal(&r) +
                                          (float)(gain * k.weight[(size_t)y * c + j] / norm2);
    }
    return k;
}

static void case_free(Case *k)
{
    free(k->hidden);
    free(k->weight);
    free(k->targets);
}

/* The reference's own f and c (not objective.c's), straight from the definitions. */
static double ref_f(const Objective *o, double p)
{
    if (o->kind == OBJECTIVE_NLL) return -log(p);
    if (o->kind == OBJECTIVE_DFT) return -p * log(p);
    return (1.0 - pow(p, o->alpha)) / o->alpha;
}

static double ref_c(const Objective *o, double p)
{
    if (o->kind == OBJECTIVE_NLL) return 1.0;
    if (o->kind == OBJECTIVE_DFT) return p;
    return pow(p, o->alpha);
}

static bool ref_keeps(const Objective *o, double p)
{
    if (o->side == THRESHOLD_TOP) return p >= o->q;
    if (o->side == THRESHOLD_BOTTOM) return p <= o->q;
    return true;
}

/* Row i's log-softmax in double into lsm (V). */
static void ref_log_softmax(const Case *k, const double *hidden, const double *weight, int i,
                            double *lsm)
{
    double m = -INFINITY;
    for (int t = 0; t < k->v; t++) {
        double z = 0;
        const double *hi = hidden + (size_t)i * k->c, *wt = weight + (size_t)t * k->c;
        for (int j = 0; j < k->c; j++) z += hi[j] * wt[j];
        lsm[t] = z;
        if (z > m) m = z;
    }
    double s = 0;
    for (int t = 0; t < k->v; t++) s += exp(lsm[t] - m);
    for (int t = 0; t < k->v; t++) lsm[t] -= m + log(s);
}

typedef struct Ref {
    LmHeadStats st;
    double *log_p;    // (N)
    double *d_hidden; // (N, C)
    double *d_weight; // (V, C)
} Ref;

static double *to_double(const float *x, size_t n)
{
    double *d = xmalloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static Ref ref_head(const Case *k, const Objective *o, double scale)
{
    Ref r = {{0}, xcalloc((size_t)k->n, sizeof(double)),
             xcalloc((size_t)k->n * k->c, sizeof(double)),
             xcalloc((size_t)k->v * k->c, sizeof(double))};
    double *h = to_double(k->hidden, (size_t)k->n * k->c);
    double *w = to_double(k->weight, (size_t)k->v * k->c);
    double *lsm = xmalloc((size_t)k->v * sizeof(double));
    for (int i = 0; i < k->n; i++) {
        int y = k->targets[i];
        if (y < 0) continue;
        ref_log_softmax(k, h, w, i, lsm);
        double p = exp(lsm[y]);
        r.log_p[i] = lsm[y];
        r.st.response_tokens++;
        r.st.nll_response_sum += -lsm[y];
        r.st.p_response_sum += p;
        if (!ref_keeps(o, p)) continue;
        r.st.kept_tokens++;
        r.st.nll_kept_sum += -lsm[y];
        r.st.loss_sum += ref_f(o, p);
        double coef = ref_c(o, p) * scale;
        for (int t = 0; t < k->v; t++) {
            double g = coef * (exp(lsm[t]) - (t == y));
            for (int j = 0; j < k->c; j++) {
                r.d_hidden[(size_t)i * k->c + j] += g * w[(size_t)t * k->c + j];
                r.d_weight[(size_t)t * k->c + j] += g * h[(size_t)i * k->c + j];
            }
        }
    }
    free(h);
    free(w);
    free(lsm);
    return r;
}

static void ref_free(Ref *r)
{
    free(r->log_p);
    free(r->d_hidden);
    free(r->d_weight);
}

static void assert_close(const char *what, double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * (1.0 + fabs(want))))
        fail_msg("%s: %.12g, reference %.12g", what, got, want);
}

static void assert_stats(const char *name, const LmHeadStats *a, const LmHeadStats *b)
{
    if (a->kept_tokens != b->kept_tokens || a->response_tokens != b->response_tokens)
        fail_msg("%s: kept %ld/%ld response %ld/%ld", name, a->kept_tokens, b->kept_tokens,
                 a->response_tokens, b->response_tokens);
    assert_close(name, a->loss_sum, b->loss_sum, 2e-5);
    assert_close(name, a->nll_kept_sum, b->nll_kept_sum, 2e-5);
    assert_close(name, a->nll_response_sum, b->nll_response_sum, 2e-5);
    assert_close(name, a->p_response_sum, b->p_response_sum, 2e-5);
}

static float *floats_of(const double *x, size_t n)
{
    float *f = xalloc_floats(n);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    return f;
}

/* The head's loss, stats and gradients equal the double reference for every objective. */
static void check_against_reference(const Case *k, double scale, int chunk)
{
    for (size_t oi = 0; oi < N_OBJECTIVES; oi++) {
        Objective o;
        assert_int_equal(objective_parse(ALL_OBJECTIVES[oi], &o), 0);
        Ref r = ref_head(k, &o, scale);
        float *dh = xalloc_floats((size_t)k->n * k->c);
        float *dw = xalloc_floats((size_t)k->v * k->c);
        for (size_t i = 0; i < (size_t)k->v * k->c; i++) dw[i] = 0.25f; /* d_W is added to */
        LmHeadOptions opts = {.chunk_tokens = chunk};
        LmHeadStats st;
        int rc = lm_head_forward_backward(k->hidden, k->weight, k->targets, k->n, k->c, k->v,
                                          &o, (float)scale, &opts, dh, dw, &st);
        if (rc != 0) fail_msg("%s: %s", ALL_OBJECTIVES[oi], pf_error());
        assert_stats(ALL_OBJECTIVES[oi], &st, &r.st);
        for (size_t i = 0; i < (size_t)k->v * k->c; i++) r.d_weight[i] += 0.25;
        float *ref_dh = floats_of(r.d_hidden, (size_t)k->n * k->c);
        float *ref_dw = floats_of(r.d_weight, (size_t)k->v * k->c);
        if (compare_floats(ALL_OBJECTIVES[oi], dh, ref_dh, (size_t)k->n * k->c, 2e-5 * scale *
                           k->c, 1e-3) > 1.0)
            fail_msg("%s: d_hidden differs (V=%d chunk=%d)", ALL_OBJECTIVES[oi], k->v, chunk);
        if (compare_floats(ALL_OBJECTIVES[oi], dw, ref_dw, (size_t)k->v * k->c, 2e-5 * scale *
                           k->n, 1e-3) > 1.0)
            fail_msg("%s: d_weight differs (V=%d chunk=%d)", ALL_OBJECTIVES[oi], k->v, chunk);
        free(ref_dh);
        free(ref_dw);
        free(dh);
        free(dw);
        ref_free(&r);
    }
}

static void test_matches_reference_small_vocab(void **state)
{
    (void)state;
    Case k = case_make(23, 5, 7, 1);
    check_against_reference(&k, 1.0, 0);
    check_against_reference(&k, 0.37, 4);
    case_free(&k);
    k = case_make(40, 16, 1000, 2);
    check_against_reference(&k, 1.0 / 32, 0);
    check_against_reference(&k, 1.0 / 32, 7);
    case_free(&k);
}

static void test_matches_reference_large_vocab(void **state)
{
    (void)state;
    Case k = case_make(4, 8, 32000, 3);
    check_against_reference(&k, 0.5, 0);
    case_free(&k);
    k = case_make(3, 4, 151936, 4);
    check_against_reference(&k, 1.0, 2);
    case_free(&k);
}

/* Loss in double as a function of the inputs, mask and DFT's sg(p) frozen at `frozen_log_p`. */
static double fd_loss(const Case *k, const Objective *o, const double *h, const double *w,
                      const double *frozen_log_p, double scale)
{
    double *lsm = xmalloc((size_t)k->v * sizeof(double));
    double loss = 0;
    for (int i = 0; i < k->n; i++) {
        int y = k->targets[i];
        if (y < 0 || !ref_keeps(o, exp(frozen_log_p[i]))) continue;
        ref_log_softmax(k, h, w, i, lsm);
        if (o->kind == OBJECTIVE_DFT) loss += -exp(frozen_log_p[i]) * lsm[y];
        else loss += ref_f(o, exp(lsm[y]));
    }
    free(lsm);
    return loss * scale;
}

/* Central differences of the loss in sampled hidden and weight entries equal the head's
 * gradients (this checks c = -f'(p) p and the chain rule through the GEMMs). */
static void check_finite_differences(const Case *k, double scale, int n_probe)
{
    Rng r;
    rng_seed(&r, 99);
    for (size_t oi = 0; oi < N_OBJECTIVES; oi++) {
        Objective o;
        assert_int_equal(objective_parse(ALL_OBJECTIVES[oi], &o), 0);
        float *dh = xalloc_floats((size_t)k->n * k->c);
        float *dw = xalloc_floats((size_t)k->v * k->c);
        LmHeadStats st;
        assert_int_equal(lm_head_forward_backward(k->hidden, k->weight, k->targets, k->n, k->c,
                                                  k->v, &o, (float)scale, NULL, dh, dw, &st),
                         0);
        Ref ref = ref_head(k, &o, scale);
        double *h = to_double(k->hidden, (size_t)k->n * k->c);
        double *w = to_double(k->weight, (size_t)k->v * k->c);
        for (int probe = 0; probe < n_probe; probe++) {
            bool on_w = probe % 2;
            double *x = on_w ? w : h;
            size_t idx;
            if (on_w) { /* prefer rows of targets so the entry matters */
                int i = (int)rng_below(&r, (uint64_t)k->n);
                int row = k->targets[i] >= 0 ? k->targets[i] : (int)rng_below(&r, (uint64_t)k->v);
                idx = (size_t)row * k->c + rng_below(&r, (uint64_t)k->c);
            } else {
                idx = rng_below(&r, (uint64_t)k->n * k->c);
            }
            double x0 = x[idx], eps = 1e-5;
            x[idx] = x0 + eps;
            double lp = fd_loss(k, &o, h, w, ref.log_p, scale);
            x[idx] = x0 - eps;
            double lm = fd_loss(k, &o, h, w, ref.log_p, scale);
            x[idx] = x0;
            double fd = (lp - lm) / (2 * eps);
            double got = on_w ? dw[idx] : dh[idx];
            if (fabs(got - fd) > 1e-4 * scale + 2e-3 * fabs(fd))
                fail_msg("%s V=%d d_%s[%zu]: head %.9g, finite difference %.9g",
                         ALL_OBJECTIVES[oi], k->v, on_w ? "weight" : "hidden", idx, got, fd);
        }
        free(h);
        free(w);
        free(dh);
        free(dw);
        ref_free(&ref);
    }
}

static void test_finite_differences(void **state)
{
    (void)state;
    Case k = case_make(15, 6, 7, 5);
    check_finite_differences(&k, 1.0, 24);
    case_free(&k);
    k = case_make(10, 8, 500, 6);
    check_finite_differences(&k, 0.2, 12);
    case_free(&k);
    k = case_make(3, 4, 151936, 7);
    check_finite_differences(&k, 1.0, 2);
    case_free(&k);
}

/* V = 7, C = 7, W = identity: hidden rows 0, 2, 4 are zero (p = 1/7 exactly), rows 1, 3, 5
 * are 10 * onehot(target) (p = e^10 / (e^10 + 6) > 0.9997): top:0.5 keeps exactly the odd rows,
 * bottom:0.5 the even ones. */
static void test_thresholds_keep_expected_tokens(void **state)
{
    (void)state;
    enum { n = 6, c = 7, v = 7 };
    float weight[v * c] = {0}, hidden[n * c] = {0};
    int targets[n] = {0, 1, 2, 3, 4, 5};
    for (int t = 0; t < v; t++) weight[t * c + t] = 1.0f;
    for (int i = 1; i < n; i += 2) hidden[i * c + targets[i]] = 10.0f;
    double p_high = exp(10.0) / (exp(10.0) + 6);
    struct {
        const char *name;
        bool keep_odd;
        double loss;
    } cases[] = {
        {"nll@bottom:0.5", false, 3 * log(7.0)},
        {"OnlyBottomLogP-0.5", false, 3 * log(7.0)},
        {"p@bottom:0.5", false, 3 * (1 - 1.0 / 7)},
        {"OnlyBottomP-0.5", false, 3 * (1 - 1.0 / 7)},
        {"dft@bottom:0.2", false, 3 * log(7.0) / 7},
        {"nll@top:0.5", true, -3 * log(p_high)},
        {"OnlyTopP-0.5", true, 3 * (1 - p_high)},
        {"OnlyTopLogP-0.5", true, -3 * log(p_high)},
        {"power:10@top:0.5", true, 3 * (1 - pow(p_high, 10)) / 10},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        Objective o;
        assert_int_equal(objective_parse(cases[ci].name, &o), 0);
        float dh[n * c];
        LmHeadStats st;
        assert_int_equal(lm_head_forward_backward(hidden, weight, targets, n, c, v, &o, 1.0f,
                                                  NULL, dh, NULL, &st), 0);
        assert_int_equal(st.kept_tokens, 3);
        assert_int_equal(st.response_tokens, 6);
        for (int i = 0; i < n; i++) {
            bool kept = (i % 2 == 1) == cases[ci].keep_odd;
            double mag = 0;
            for (int j = 0; j < c; j++) mag += fabs(dh[i * c + j]);
            if (!kept && mag != 0.0)
                fail_msg("%s: masked token %d has gradient", cases[ci].name, i);
            if (kept && mag == 0.0)
                fail_msg("%s: kept token %d has no gradient", cases[ci].name, i);
        }
        assert_close(cases[ci].name, st.loss_sum, cases[ci].loss, 1e-5);
        assert_close(cases[ci].name, st.p_response_sum, 3.0 / 7 + 3 * p_high, 1e-6);
        assert_close(cases[ci].name, st.nll_response_sum, 3 * log(7.0) - 3 * log(p_high), 1e-6);
    }
}

/* Chunk sizes 1, 3 and "all" give the same stats and gradients. */
static void test_chunked_equals_one_chunk(void **state)
{
    (void)state;
    Case k = case_make(37, 12, 301, 8);
    Objective o;
    assert_int_equal(objective_parse("power:2@top:0.05", &o), 0);
    size_t nh = (size_t)k.n * k.c, nw = (size_t)k.v * k.c;
    float *dh0 = xalloc_floats(nh), *dw0 = xalloc_floats(nw);
    LmHeadStats s0;
    LmHeadOptions one = {.chunk_tokens = k.n};
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v, &o,
                                              0.1f, &one, dh0, dw0, &s0), 0);
    const int chunks[] = {1, 3, 16};
    for (int ci = 0; ci < 3; ci++) {
        float *dh = xalloc_floats(nh), *dw = xalloc_floats(nw);
        LmHeadStats s;
        LmHeadOptions opts = {.chunk_tokens = chunks[ci]};
        assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v,
                                                  &o, 0.1f, &opts, dh, dw, &s), 0);
        assert_int_equal(s.kept_tokens, s0.kept_tokens);
        assert_close("chunked loss", s.loss_sum, s0.loss_sum, 1e-6); /* GEMM blocking differs */
        assert_true(compare_floats("chunked d_hidden", dh, dh0, nh, 1e-7, 1e-5) <= 1.0);
        assert_true(compare_floats("chunked d_weight", dw, dw0, nw, 1e-7, 1e-5) <= 1.0);
        free(dh);
        free(dw);
    }
    /* A byte budget that allows two rows behaves like chunk_tokens = 2. */
    LmHeadOptions budget = {.max_chunk_bytes = 2 * (size_t)k.v * sizeof(float)};
    float *dh = xalloc_floats(nh);
    LmHeadStats s;
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v, &o,
                                              0.1f, &budget, dh, NULL, &s), 0);
    assert_true(compare_floats("budget d_hidden", dh, dh0, nh, 1e-7, 1e-5) <= 1.0);
    free(dh);
    free(dh0);
    free(dw0);
    case_free(&k);
}

/* Tiny alpha approaches NLL in loss and gradient; divide_by_kept divides by the kept count. */
static void test_small_alpha_and_divide_by_kept(void **state)
{
    (void)state;
    Case k = case_make(20, 6, 50, 9);
    Objective nll, tiny, top;
    assert_int_equal(objective_parse("nll", &nll), 0);
    assert_int_equal(objective_parse("power:1e-6", &tiny), 0);
    assert_int_equal(objective_parse("p@top:0.3", &top), 0);
    size_t nh = (size_t)k.n * k.c;
    float *a = xalloc_floats(nh), *b = xalloc_floats(nh);
    LmHeadStats sa, sb;
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v,
                                              &nll, 1.0f, NULL, a, NULL, &sa), 0);
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v,
                                              &tiny, 1.0f, NULL, b, NULL, &sb), 0);
    assert_close("tiny alpha loss", sb.loss_sum, sa.loss_sum, 1e-4);
    assert_true(compare_floats("tiny alpha d_hidden", b, a, nh, 1e-5, 1e-4) <= 1.0);

    LmHeadOptions div = {.divide_by_kept = true};
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v,
                                              &top, 1.0f, NULL, a, NULL, &sa), 0);
    assert_int_equal(lm_head_forward_backward(k.hidden, k.weight, k.targets, k.n, k.c, k.v,
                                              &top, 1.0f, &div, b, NULL, &sb), 0);
    assert_true(sa.kept_tokens > 0 && sa.kept_tokens < sa.response_tokens);
    assert_close("scale used", sb.grad_scale_used, 1.0 / sa.kept_tokens, 1e-12);
    for (size_t i = 0; i < nh; i++) a[i] /= (float)sa.kept_tokens;
    assert_true(compare_floats("divide_by_kept", b, a, nh, 1e-8, 1e-5) <= 1.0);
    free(a);
    free(b);
    case_free(&k);
}

typedef struct RowsSeen {
    const Case *k;
    int rows;
    double worst;
} RowsSeen;

static int rows_check(void *ctx, const int *token_index, int n_rows, const float *lsm, int v)
{
    RowsSeen *seen = ctx;
    double *h = to_double(seen->k->hidden, (size_t)seen->k->n * seen->k->c);
    double *w = to_double(seen->k->weight, (size_t)v * seen->k->c);
    double *ref = xmalloc((size_t)v * sizeof(double));
    for (int i = 0; i < n_rows; i++) {
        ref_log_softmax(seen->k, h, w, token_index[i], ref);
        for (int t = 0; t < v; t++) {
            double e = fabs(lsm[(size_t)i * v + t] - ref[t]) / (1 + fabs(ref[t]));
            if (e > seen->worst) seen->worst = e;
        }
        seen->rows++;
    }
    free(h);
    free(w);
    free(ref);
    return 0;
}

static void test_probe_and_divergence(void **state)
{
    (void)state;
    Case k = case_make(17, 6, 40, 10);
    Case k2 = case_make(17, 6, 40, 11);
    memcpy(k2.targets, k.targets, (size_t)k.n * sizeof(int));
    float log_p[17], entropy[17], kl_pq[17], kl_qp[17], js[17];
    RowsSeen seen = {&k, 0, 0};
    LmHeadOptions opts = {.chunk_tokens = 4};
    LmHeadStats st;
    assert_int_equal(lm_head_probe(k.hidden, k.weight, k.targets, k.n, k.c, k.v, &opts, log_p,
                                   entropy, rows_check, &seen, &st), 0);
    assert_true(seen.worst < 1e-5);
    double *h = to_double(k.hidden, (size_t)k.n * k.c), *w = to_double(k.weight, (size_t)k.v * k.c);
    double *h2 = to_double(k2.hidden, (size_t)k.n * k.c);
    double *w2 = to_double(k2.weight, (size_t)k.v * k.c);
    double lp[40], lq[40];
    int response = 0;
    assert_int_equal(lm_head_divergence(k.hidden, k.weight, k2.hidden, k2.weight, k.targets, k.n,
                                        k.c, k.v, &opts, kl_pq, kl_qp, js), 0);
    for (int i = 0; i < k.n; i++) {
        if (k.targets[i] < 0) {
            assert_true(isnan(log_p[i]) && isnan(entropy[i]) && isnan(js[i]));
            continue;
        }
        response++;
        ref_log_softmax(&k, h, w, i, lp);
        ref_log_softmax(&k2, h2, w2, i, lq);
        double ent = 0, a = 0, b = 0, j = 0;
        for (int t = 0; t < k.v; t++) {
            double p = exp(lp[t]), q = exp(lq[t]), m = 0.5 * (p + q);
            ent -= p * lp[t];
            a += p * (lp[t] - lq[t]);
            b += q * (lq[t] - lp[t]);
            j += 0.5 * p * log(p / m) + 0.5 * q * log(q / m);
        }
        assert_close("log p", log_p[i], lp[k.targets[i]], 1e-5);
        assert_close("entropy", entropy[i], ent, 1e-5);
        assert_close("KL(P||Q)", kl_pq[i], a, 1e-4);
        assert_close("KL(Q||P)", kl_qp[i], b, 1e-4);
        assert_close("JS", js[i], j, 1e-4);
        assert_true(js[i] >= -1e-6 && js[i] <= log(2.0) + 1e-6);
    }
    assert_int_equal(seen.rows, response);
    assert_int_equal(st.response_tokens, response);
    free(h);
    free(w);
    free(h2);
    free(w2);
    case_free(&k);
    case_free(&k2);
}

static void test_hostile_input_refused(void **state)
{
    (void)state;
    float hidden[4] = {0}, weight[6] = {0}, dh[4];
    Objective o = {.kind = OBJECTIVE_NLL};
    LmHeadStats st;
    int bad_targets[][2] = {{0, 3}, {-2, 0}, {1, 1 << 30}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lm_head_forward_backward(hidden, weight, bad_targets[i], 2, 2, 3, &o,
                                                  1.0f, NULL, dh, NULL, &st), -1);
        assert_non_null(strstr(pf_error(), "outside [-1, 3)"));
    }
    int ok[2] = {0, -1};
    assert_int_equal(lm_head_forward_backward(hidden, weight, ok, 2, 0, 3, &o, 1.0f, NULL, dh,
                                              NULL, &st), -1);
    assert_int_equal(lm_head_forward_backward(hidden, weight, ok, -1, 2, 3, &o, 1.0f, NULL, dh,
                                              NULL, &st), -1);
    /* No response tokens: zero loss, zero gradient, no NaN. */
    int none[2] = {-1, -1};
    dh[0] = 7;
    assert_int_equal(lm_head_forward_backward(hidden, weight, none, 2, 2, 3, &o, 1.0f, NULL, dh,
                                              NULL, &st), 0);
    assert_int_equal(st.response_tokens, 0);
    assert_true(dh[0] == 0.0f && st.loss_sum == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_small_vocab),
        cmocka_unit_test(test_matches_reference_large_vocab),
        cmocka_unit_test(test_finite_differences),
        cmocka_unit_test(test_thresholds_keep_expected_tokens),
        cmocka_unit_test(test_chunked_equals_one_chunk),
        cmocka_unit_test(test_small_alpha_and_divide_by_kept),
        cmocka_unit_test(test_probe_and_divergence),
        cmocka_unit_test(test_hostile_input_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
