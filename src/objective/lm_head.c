/* The fused, chunked LM head + objective (see lm_head.h). Per chunk of T response tokens:
 * gather their hidden rows, logits = hidden_chunk W^T by GEMM, one threaded pass per row for
 * the max, exp and sum, then the row turns in place into d_logits (training) or log-softmax
 * (probing), and two more GEMMs give d_hidden_chunk = d_logits W and d_W += d_logits^T h. */
#include "objective/lm_head.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <dnnl.h>

#include "util/error.h"
#include "util/log.h"

/* Everything one head call reads, checked once. */
typedef struct HeadInput {
    const float *hidden;  /* (N, C) */
    const float *weight;  /* (V, C) */
    const int *targets;   /* (N) or NULL (every token, target unknown) */
    int n, c, v;
    int *rows;            /* (n_rows) positions of the tokens to compute, ascending */
    int n_rows;
    int chunk;            /* T */
} HeadInput;

/* Per-chunk scratch. */
typedef struct HeadWork {
    float *logits;        /* (T, V) */
    float *h;             /* (T, C) gathered hidden rows */
    float *dh;            /* (T, C) d_hidden of the chunk, or NULL */
    double *log_p;        /* (T) */
    double *entropy;      /* (T) */
    unsigned char *keep;  /* (T) */
} HeadWork;

static int chunk_tokens(const LmHeadOptions *opts, int v, int n_rows, int buffers)
{
    size_t budget = (opts && opts->max_chunk_bytes) ? opts->max_chunk_bytes
                                                    : LM_HEAD_DEFAULT_CHUNK_BYTES;
    size_t t = (opts && opts->chunk_tokens > 0)
                   ? (size_t)opts->chunk_tokens
                   : budget / ((size_t)v * sizeof(float) * (size_t)buffers);
    if (t < 1) t = 1;
    if (t > (size_t)n_rows) t = (size_t)(n_rows > 0 ? n_rows : 1);
    return (int)t;
}

/* Validates sizes and targets, and lists the rows to compute: target >= 0 (all when targets is
 * NULL). */
static int input_init(HeadInput *in, const char *what, const float *hidden, const float *weight,
                      const int *targets, int n, int c, int v, const LmHeadOptions *opts,
                      int buffers)
{
    memset(in, 0, sizeof *in);
    if (n < 0 || c <= 0 || v <= 0)
        return pf_fail("%s: invalid sizes N=%d C=%d V=%d (need N >= 0, C > 0, V > 0)", what, n,
                       c, v);
    if (n > 0 && (!hidden || !weight)) return pf_fail("%s: hidden or weight is NULL", what);
    in->hidden = hidden;
    in->weight = weight;
    in->targets = targets;
    in->n = n;
    in->c = c;
    in->v = v;
    in->rows = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    for (int i = 0; i < n; i++) {
        int y = targets ? targets[i] : 0;
        if (y < -1 || y >= v) {
            free(in->rows);
            in->rows = NULL;
            return pf_fail("%s: target %d of token %d is outside [-1, %d)", what, y, i, v);
        }
        if (y >= 0) in->rows[in->n_rows++] = i;
    }
    in->chunk = chunk_tokens(opts, v, in->n_rows, buffers);
    return 0;
}

static void work_init(HeadWork *w, const HeadInput *in, bool with_dh)
{
    size_t t = (size_t)in->chunk;
    w->logits = xalloc_floats(t * (size_t)in->v);
    w->h = xalloc_floats(t * (size_t)in->c);
    w->dh = with_dh ? xalloc_floats(t * (size_t)in->c) : NULL;
    w->log_p = xmalloc(t * sizeof(double));
    w->entropy = xmalloc(t * sizeof(double));
    w->keep = xmalloc(t);
}

static void work_free(HeadWork *w)
{
    free(w->logits);
    free(w->h);
    free(w->dh);
    free(w->log_p);
    free(w->entropy);
    free(w->keep);
}

static int gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
                const float *b, int64_t ldb, float beta, float *out, int64_t ldc)
{
    dnnl_status_t st = dnnl_sgemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, out, ldc);
    if (st != dnnl_success) return pf_fail("lm_head: dnnl_sgemm failed with status %d", (int)st);
    return 0;
}

/* exp(x) for x <= 0 on 8 lanes with GCC vector extensions (glibc's expf is scalar without
 * -ffast-math, and the softmax runs it V times per token): x = n ln2 + r, |r| <= ln2 / 2,
 * exp(r) by its degree-7 Taylor polynomial (relative error < 1e-8 before rounding, a few ulp
 * after), times 2^n built in the exponent bits. x < -87 gives 0 (below 2^-125, which a softmax
 * over them does not notice). */
typedef float f32x8 __attribute__((vector_size(32)));
typedef int32_t i32x8 __attribute__((vector_size(32)));

static inline f32x8 exp_nonpositive8(f32x8 x)
{
    const f32x8 lowest = {-87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f, -87.0f};
    i32x8 under = x < lowest;
    x = (f32x8)(((i32x8)x & ~under) | ((i32x8)lowest & under));
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    f32x8 n = (x * 1.44269504088896341f + shifter) - shifter;
    f32x8 r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-6f;
    f32x8 p = r * (1.0f / 5040) + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    i32x8 bits = (__builtin_convertvector(n, i32x8) + 127) << 23;
    f32x8 e = p * (f32x8)bits;
    return (f32x8)((i32x8)e & ~under);
}

/* z[j] = exp(z[j] - m) over a row (all z[j] <= m). */
static void row_exp_shifted(float *z, int v, float m)
{
    int j = 0;
    for (; j + 8 <= v; j += 8) {
        f32x8 x;
        memcpy(&x, z + j, sizeof x);
        x = exp_nonpositive8(x - m);
        memcpy(z + j, &x, sizeof x);
    }
    for (; j < v; j++) z[j] = expf(z[j] - m);
}

/* Max of a row, vectorised. */
static float row_max(const float *z, int v)
{
    float m = z[0];
#pragma omp simd reduction(max : m)
    for (int j = 0; j < v; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* logits (t, V) of the chunk's rows rows[0..t): gathers their hidden rows into w->h first. */
static int chunk_logits(const HeadInput *in, const int *rows, int t, HeadWork *w)
{
    size_t c = (size_t)in->c;
    for (int i = 0; i < t; i++)
        memcpy(w->h + (size_t)i * c, in->hidden + (size_t)rows[i] * c, c * sizeof(float));
    return gemm('N', 'T', t, in->v, in->c, w->h, in->c, in->weight, in->c, 0.0f, w->logits,
                in->v);
}

/* One row's max, sum of exp(z - max) and sum of exp(z - max) (z - max); z untouched. */
static void row_softmax_sums(const float *z, int v, float *max_out, double *sum_out,
                             double *ez_out)
{
    float m = row_max(z, v);
    double s = 0.0, ez = 0.0;
    int j = 0;
    for (; j + 8 <= v; j += 8) {
        f32x8 d;
        memcpy(&d, z + j, sizeof d);
        d -= m;
        f32x8 e = exp_nonpositive8(d), ed = e * d;
        for (int k = 0; k < 8; k++) {
            s += e[k];
            ez += ed[k];
        }
    }
    for (; j < v; j++) {
        float d = z[j] - m;
        float e = expf(d);
        s += e;
        ez += (double)e * d;
    }
    *max_out = m;
    *sum_out = s;
    if (ez_out) *ez_out = ez;
}

/* Training chunk: per row log p and keep flag; the row keeps exp(z - max). When `backward`,
 * kept rows become d_logits = coef (s - onehot) with coef = c(p) scale. */
static void chunk_objective(const HeadInput *in, const int *rows, int t, const Objective *obj,
                            double scale, bool backward, HeadWork *w)
{
    int v = in->v;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < t; i++) {
        float *z = w->logits + (size_t)i * v;
        int y = in->targets[rows[i]];
        float m = row_max(z, v);
        float zy = z[y];
        row_exp_shifted(z, v, m);
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int j = 0; j < v; j++) s += z[j];
        double log_p = ((double)zy - m) - log(s);
        if (log_p > 0.0) log_p = 0.0;
        w->log_p[i] = log_p;
        w->keep[i] = objective_keeps(obj, log_p);
        if (!backward || !w->keep[i]) continue;

        double coef = objective_c(obj, log_p) * scale;
        float k = (float)(coef / s);
        for (int j = 0; j < v; j++) z[j] *= k;
        z[y] -= (float)coef;
    }
}

/* Moves the kept rows of the chunk (d_logits and gathered hidden) to its front, listing their
 * token positions in kept_rows; returns their number. */
static int chunk_compact_kept(const HeadInput *in, const int *rows, int t, HeadWork *w,
                              int *kept_rows)
{
    size_t v = (size_t)in->v, c = (size_t)in->c;
    int k = 0;
    for (int i = 0; i < t; i++) {
        if (!w->keep[i]) continue;
        if (k != i) {
            memcpy(w->logits + k * v, w->logits + i * v, v * sizeof(float));
            memcpy(w->h + k * c, w->h + i * c, c * sizeof(float));
        }
        kept_rows[k++] = rows[i];
    }
    return k;
}

static void stats_add_rows(LmHeadStats *st, const Objective *obj, const HeadWork *w, int t)
{
    for (int i = 0; i < t; i++) {
        double log_p = w->log_p[i];
        st->response_tokens++;
        st->nll_response_sum += -log_p;
        st->p_response_sum += exp(log_p);
        if (!w->keep[i]) continue;
        st->kept_tokens++;
        st->nll_kept_sum += -log_p;
        st->loss_sum += objective_f(obj, log_p);
    }
}

/* Backward GEMMs of one chunk whose logits hold d_logits. */
static int chunk_backward(const HeadInput *in, const int *rows, int t, HeadWork *w,
                          float *d_hidden, float *d_weight)
{
    size_t c = (size_t)in->c;
    if (d_hidden) {
        if (gemm('N', 'N', t, in->c, in->v, w->logits, in->v, in->weight, in->c, 0.0f, w->dh,
                 in->c) != 0)
            return -1;
        for (int i = 0; i < t; i++)
            memcpy(d_hidden + (size_t)rows[i] * c, w->dh + (size_t)i * c, c * sizeof(float));
    }
    if (d_weight)
        return gemm('T', 'N', in->v, in->c, t, w->logits, in->v, w->h, in->c, 1.0f, d_weight,
                    in->c);
    return 0;
}

/* One pass over all response rows: statistics, and gradients when backward. */
static int head_run(const HeadInput *in, const Objective *obj, double scale, bool backward,
                    float *d_hidden, float *d_weight, LmHeadStats *st)
{
    HeadWork w;
    work_init(&w, in, backward && d_hidden);
    int *kept_rows = xmalloc((size_t)in->chunk * sizeof(int));
    int rc = 0;
    for (int start = 0; start < in->n_rows && rc == 0; start += in->chunk) {
        int t = in->n_rows - start < in->chunk ? in->n_rows - start : in->chunk;
        const int *rows = in->rows + start;
        double t0 = time_now();
        if ((rc = chunk_logits(in, rows, t, &w)) != 0) break;
        double t1 = time_now();
        chunk_objective(in, rows, t, obj, scale, backward, &w);
        stats_add_rows(st, obj, &w, t);
        double t2 = time_now();
        st->seconds_logits += t1 - t0;
        st->seconds_softmax += t2 - t1;
        if (!backward) continue;
        int k = chunk_compact_kept(in, rows, t, &w, kept_rows);
        if (k > 0) rc = chunk_backward(in, kept_rows, k, &w, d_hidden, d_weight);
        st->seconds_backward += time_now() - t2;
    }
    free(kept_rows);
    work_free(&w);
    return rc;
}

int lm_head_forward_backward(const float *hidden, const float *weight, const int *targets,
                             int n, int c, int v, const Objective *obj, float grad_scale,
                             const LmHeadOptions *opts, float *d_hidden, float *d_weight,
                             LmHeadStats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (!targets && n > 0) return pf_fail("lm_head: targets is NULL");
    HeadInput in;
    if (input_init(&in, "lm_head", hidden, weight, targets, n, c, v, opts, 1) != 0) return -1;
    if (d_hidden) memset(d_hidden, 0, (size_t)n * (size_t)c * sizeof(float));

    double scale = grad_scale;
    if (opts && opts->divide_by_kept) {
        long kept = in.n_rows;
        if (obj->side != THRESHOLD_NONE) {
            LmHeadStats count = {0};
            if (head_run(&in, obj, 0.0, false, NULL, NULL, &count) != 0) {
                free(in.rows);
                return -1;
            }
            kept = count.kept_tokens;
        }
        scale = kept > 0 ? scale / (double)kept : 0.0;
    }
    stats->grad_scale_used = scale;
    bool backward = d_hidden || d_weight;
    int rc = head_run(&in, obj, scale, backward, d_hidden, d_weight, stats);
    free(in.rows);
    return rc;
}

/* Probe chunk: rows become log-softmax; per row log p (NAN without targets) and entropy. */
static void chunk_log_softmax(const HeadInput *in, const int *rows, int t, HeadWork *w)
{
    int v = in->v;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < t; i++) {
        float *z = w->logits + (size_t)i * v;
        float m;
        double s, ez;
        row_softmax_sums(z, v, &m, &s, &ez);
        double log_s = log(s);
        w->entropy[i] = log_s - ez / s;
        int y = in->targets ? in->targets[rows[i]] : -1;
        double log_p = y >= 0 ? ((double)z[y] - m) - log_s : NAN;
        w->log_p[i] = log_p > 0.0 ? 0.0 : log_p;
        float shift = (float)((double)m + log_s);
        for (int j = 0; j < v; j++) z[j] -= shift;
    }
}

int lm_head_probe(const float *hidden, const float *weight, const int *targets, int n, int c,
                  int v, const LmHeadOptions *opts, float *log_p, float *entropy,
                  LmHeadRowsFn rows_fn, void *ctx, LmHeadStats *stats)
{
    if (stats) memset(stats, 0, sizeof *stats);
    if (!targets && n > 0) return pf_fail("lm_head_probe: targets is NULL");
    HeadInput in;
    if (input_init(&in, "lm_head_probe", hidden, weight, targets, n, c, v, opts, 1) != 0)
        return -1;
    for (int i = 0; i < n; i++) {
        if (log_p) log_p[i] = NAN;
        if (entropy) entropy[i] = NAN;
    }
    Objective nll = {.kind = OBJECTIVE_NLL};
    HeadWork w;
    work_init(&w, &in, false);
    int rc = 0;
    for (int start = 0; start < in.n_rows && rc == 0; start += in.chunk) {
        int t = in.n_rows - start < in.chunk ? in.n_rows - start : in.chunk;
        const int *rows = in.rows + start;
        if ((rc = chunk_logits(&in, rows, t, &w)) != 0) break;
        chunk_log_softmax(&in, rows, t, &w);
        for (int i = 0; i < t; i++) {
            if (log_p) log_p[rows[i]] = (float)w.log_p[i];
            if (entropy) entropy[rows[i]] = (float)w.entropy[i];
            w.keep[i] = 1;
        }
        if (stats) stats_add_rows(stats, &nll, &w, t);
        if (rows_fn && rows_fn(ctx, rows, t, w.logits, v) != 0) rc = -1;
    }
    work_free(&w);
    free(in.rows);
    return rc;
}

int lm_head_log_softmax(const float *hidden, const float *weight, int n_rows, int c, int v,
                        float *out)
{
    if (n_rows < 0 || c <= 0 || v <= 0)
        return pf_fail("lm_head_log_softmax: invalid sizes N=%d C=%d V=%d", n_rows, c, v);
    if (n_rows == 0) return 0;
    if (gemm('N', 'T', n_rows, v, c, hidden, c, weight, c, 0.0f, out, v) != 0) return -1;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n_rows; i++) {
        float *z = out + (size_t)i * v;
        float m;
        double s;
        row_softmax_sums(z, v, &m, &s, NULL);
        float shift = (float)((double)m + log(s));
        for (int j = 0; j < v; j++) z[j] -= shift;
    }
    return 0;
}

/* KL(P||Q), KL(Q||P) and JS of one pair of log-softmax rows. */
static void row_divergence(const float *lp, const float *lq, int v, double *kl_pq,
                           double *kl_qp, double *js)
{
    const double ln2 = 0.69314718055994530942;
    double a = 0.0, b = 0.0, m_sum = 0.0;
    for (int j = 0; j < v; j++) {
        double p = exp((double)lp[j]), q = exp((double)lq[j]);
        double d = (double)lp[j] - (double)lq[j];
        if (p > 0.0) a += p * d;
        if (q > 0.0) b -= q * d;
        if (p > 0.0 || q > 0.0) {
            double hi = lp[j] > lq[j] ? lp[j] : lq[j];
            double lm = hi + log1p(exp(-fabs(d))) - ln2; /* log((p + q) / 2) */
            if (p > 0.0) m_sum += 0.5 * p * ((double)lp[j] - lm);
            if (q > 0.0) m_sum += 0.5 * q * ((double)lq[j] - lm);
        }
    }
    *kl_pq = a;
    *kl_qp = b;
    *js = m_sum;
}

int lm_head_divergence(const float *hidden_a, const float *weight_a, const float *hidden_b,
                       const float *weight_b, const int *targets, int n, int c, int v,
                       const LmHeadOptions *opts, float *kl_pq, float *kl_qp, float *js)
{
    HeadInput in;
    if (input_init(&in, "lm_head_divergence", hidden_a, weight_a, targets, n, c, v, opts, 2))
        return -1;
    if (n > 0 && (!hidden_b || !weight_b)) {
        free(in.rows);
        return pf_fail("lm_head_divergence: second model's hidden or weight is NULL");
    }
    for (int i = 0; i < n; i++) {
        if (kl_pq) kl_pq[i] = NAN;
        if (kl_qp) kl_qp[i] = NAN;
        if (js) js[i] = NAN;
    }
    size_t t_max = (size_t)in.chunk;
    float *ha = xalloc_floats(t_max * (size_t)c), *hb = xalloc_floats(t_max * (size_t)c);
    float *la = xalloc_floats(t_max * (size_t)v), *lb = xalloc_floats(t_max * (size_t)v);
    int rc = 0;
    for (int start = 0; start < in.n_rows && rc == 0; start += in.chunk) {
        int t = in.n_rows - start < in.chunk ? in.n_rows - start : in.chunk;
        const int *rows = in.rows + start;
        for (int i = 0; i < t; i++) {
            memcpy(ha + (size_t)i * c, hidden_a + (size_t)rows[i] * c, (size_t)c * 4);
            memcpy(hb + (size_t)i * c, hidden_b + (size_t)rows[i] * c, (size_t)c * 4);
        }
        if ((rc = lm_head_log_softmax(ha, weight_a, t, c, v, la)) != 0) break;
        if ((rc = lm_head_log_softmax(hb, weight_b, t, c, v, lb)) != 0) break;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < t; i++) {
            double x, y, z;
            row_divergence(la + (size_t)i * v, lb + (size_t)i * v, v, &x, &y, &z);
            if (kl_pq) kl_pq[rows[i]] = (float)x;
            if (kl_qp) kl_qp[rows[i]] = (float)y;
            if (js) js[rows[i]] = (float)z;
        }
    }
    free(ha);
    free(hb);
    free(la);
    free(lb);
    free(in.rows);
    return rc;
}
