/* CPU implementations of the compute primitives in kernels/cpu.h: oneDNN GEMM, OpenMP loops. */
#include "kernels/cpu.h"

#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Query rows per attention block: a block of queries [t0, t1) only needs keys [0, t1), so
 * blocking skips most of the masked upper triangle. */
#define ATT_BLOCK 128

int matmul(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
           int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M == 0 || N == 0) return 0;
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                  lda, B, ldb, beta, C, ldc);
    if (st != dnnl_success)
        return pf_fail("matmul: dnnl_sgemm failed with status %d (M=%d N=%d K=%d)", (int)st, M,
                       N, K);
    return 0;
}

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                     float eps)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (long)i * C;
        float *oi = out + (long)i * C;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += xi[c] * xi[c];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        rstd[i] = r;
        for (int c = 0; c < C; c++) oi[c] = xi[c] * r * w[c];
    }
}

void rmsnorm_apply(float *out, const float *x, const float *w, const float *rstd, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (long)i * C;
        float *oi = out + (long)i * C;
        float r = rstd[i];
        for (int c = 0; c < C; c++) oi[c] = xi[c] * r * w[c];
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C)
{
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x + (long)i * C, *di = dout + (long)i * C;
            float *dxi = dx + (long)i * C;
            float r = rstd[i], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int c = 0; c < C; c++) dot += di[c] * w[c] * xi[c];
            float k = r * r * r * dot / (float)C;
            for (int c = 0; c < C; c++) dxi[c] += r * di[c] * w[c] - k * xi[c];
        }
        /* Columns are split between threads so the weight gradient needs no reduction. */
#pragma omp for schedule(static)
        for (int c0 = 0; c0 < C; c0 += 16) {
            int c1 = c0 + 16 < C ? c0 + 16 : C;
            for (int i = 0; i < N; i++) {
                const float *xi = x + (long)i * C, *di = dout + (long)i * C;
                float r = rstd[i];
                for (int c = c0; c < c1; c++) dw[c] += di[c] * xi[c] * r;
            }
        }
    }
}

void rope_tables(float *cos_t, float *sin_t, const int *positions, const float *inv_freq,
                 int N, int half)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < half; j++) {
            /* The angle is formed in fp32 as Hugging Face does, then rotated in double. */
            float angle = (float)positions[i] * inv_freq[j];
            cos_t[(long)i * half + j] = (float)cos((double)angle);
            sin_t[(long)i * half + j] = (float)sin((double)angle);
        }
    }
}

/* Rotates every pair of x by +angle (sign 1) or -angle (sign -1). */
static void rope_rotate(float *x, const float *cos_t, const float *sin_t, int N, int n_heads,
                        int head_dim, bool interleaved, float sign)
{
    int half = head_dim / 2;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *ci = cos_t + (long)i * half, *si = sin_t + (long)i * half;
        for (int h = 0; h < n_heads; h++) {
            float *xh = x + ((long)i * n_heads + h) * head_dim;
            int stride = interleaved ? 2 : 1, other = interleaved ? 1 : half;
            for (int j = 0; j < half; j++) {
                float *a = xh + j * stride, *b = a + other;
                float c = ci[j], s = sign * si[j];
                float x0 = *a, x1 = *b;
                *a = x0 * c - x1 * s;
                *b = x0 * s + x1 * c;
            }
        }
    }
}

void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int n_heads,
                  int head_dim, bool interleaved)
{
    rope_rotate(x, cos_t, sin_t, N, n_heads, head_dim, interleaved, 1.0f);
}

void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int n_heads,
                   int head_dim, bool interleaved)
{
    rope_rotate(dx, cos_t, sin_t, N, n_heads, head_dim, interleaved, -1.0f);
}

void rope_permute_to_half(float *w, int n_heads, int head_dim, int cols)
{
    int half = head_dim / 2;
    long head_floats = (long)head_dim * cols;
    float *tmp = xalloc_floats((size_t)head_floats);
    for (int h = 0; h < n_heads; h++) {
        float *wh = w + h * head_floats;
        memcpy(tmp, wh, sizeof(float) * (size_t)head_floats);
        for (int j = 0; j < half; j++) {
            memcpy(wh + (long)j * cols, tmp + (long)(2 * j) * cols, sizeof(float) * cols);
            memcpy(wh + (long)(j + half) * cols, tmp + (long)(2 * j + 1) * cols,
                   sizeof(float) * cols);
        }
    }
    free(tmp);
}

long attention_scratch_floats(int T, int threads)
{
    long block = T < ATT_BLOCK ? T : ATT_BLOCK;
    return (long)threads * 2 * block * T;
}

/* exp(x) as straight-line code that the compiler vectorizes (libm's expf call blocks
 * vectorization): Cephes' range reduction to r in [-ln2/2, ln2/2] and degree-6 polynomial,
 * within 2 ulp of expf for x in [-87, 88]. Inputs are clamped to that range (so exp(-inf) gives
 * about 1.6e-38, not 0: callers that need exact zeros mask afterwards). Written without
 * branches, selects or libm calls, which GCC would not vectorize under trapping math. */
static inline float exp_vec(float x)
{
    float xc = x < -87.0f ? -87.0f : x;
    xc = xc > 88.0f ? 88.0f : xc;
    float t = xc * 1.44269504088896341f;
    float n = (float)(int)(t + 128.5f) - 128.0f; /* round half up; t + 128.5 > 0 */
    float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int bits = ((int)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* Turns scores S (M, n_keys) of queries t0.. into probabilities (0 where masked). With lse_out
 * the row log-sum-exps are computed and stored; otherwise the saved lse_in is used. */
static void attention_probs(float *S, int M, int t0, int n_keys, const int *seg,
                            float *lse_out, const float *lse_in)
{
    for (int i = 0; i < M; i++) {
        int t = t0 + i, seg_t = seg ? seg[t] : 0;
        float *s = S + (long)i * n_keys;
        if (seg) {
            for (int j = 0; j <= t; j++)
                if (seg[j] != seg_t) s[j] = -INFINITY;
        }
        float l;
        if (lse_out) {
            float mx = -INFINITY, sum = 0.0f;
            /* A compare, not fmaxf: without -ffast-math GCC calls libm's fmaxf per element
             * (NaN rules), which kept this loop scalar (5% of a T = 2048 step). Scores are
             * never NaN for finite inputs. */
#pragma omp simd reduction(max : mx)
            for (int j = 0; j <= t; j++) mx = s[j] > mx ? s[j] : mx;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j <= t; j++) sum += exp_vec(s[j] - mx);
            l = mx + logf(sum);
            lse_out[t] = l;
        } else {
            l = lse_in[t];
        }
#pragma omp simd
        for (int j = 0; j <= t; j++) s[j] = exp_vec(s[j] - l);
        if (seg) {
            for (int j = 0; j <= t; j++)
                if (seg[j] != seg_t) s[j] = 0.0f;
        }
        for (int j = t + 1; j < n_keys; j++) s[j] = 0.0f;
    }
}

int attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                      const int *segments, int B, int T, int NH, int NKV, int HD,
                      float *scratch, int n_threads)
{
    int QW = NH * HD, KW = NKV * HD, rep = NH / NKV;
    float scale = 1.0f / sqrtf((float)HD);
    long block = T < ATT_BLOCK ? T : ATT_BLOCK;
    int failed = 0;
    /* One task per (row, head, query block), the blocks with the most keys first, so that
     * two threads stay busy even for one row of few heads. */
    int n_blocks = (int)((T + block - 1) / block), n_tasks = B * NH * n_blocks;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        float *S = scratch + (long)omp_get_thread_num() * 2 * block * T;
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            int blk = n_blocks - 1 - task / (B * NH), bh = task % (B * NH);
            int b = bh / NH, h = bh % NH, g = h / rep;
            const float *qh = q + (long)b * T * QW + h * HD;
            const float *kg = k + (long)b * T * KW + g * HD;
            const float *vg = v + (long)b * T * KW + g * HD;
            float *oh = out + (long)b * T * QW + h * HD;
            float *lse_h = lse + ((long)b * NH + h) * T;
            const int *seg = segments ? segments + (long)b * T : NULL;
            int t0 = blk * (int)block;
            int M = T - t0 < block ? T - t0 : (int)block, n_keys = t0 + M;
            failed |= matmul(false, true, M, n_keys, HD, scale, qh + (long)t0 * QW, QW, kg, KW,
                             0.0f, S, n_keys) != 0;
            attention_probs(S, M, t0, n_keys, seg, lse_h, NULL);
            failed |= matmul(false, false, M, HD, n_keys, 1.0f, S, n_keys, vg, KW, 0.0f,
                             oh + (long)t0 * QW, QW) != 0;
        }
    }
    /* A worker's own message is thread-local; report on the calling thread. */
    return failed ? pf_fail("attention_forward: a GEMM failed (B=%d T=%d HD=%d)", B, T, HD) : 0;
}

int attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                       const float *lse, const float *q, const float *k, const float *v,
                       const int *segments, int B, int T, int NH, int NKV, int HD,
                       float *scratch, int n_threads)
{
    int QW = NH * HD, KW = NKV * HD, rep = NH / NKV;
    float scale = 1.0f / sqrtf((float)HD);
    long block = T < ATT_BLOCK ? T : ATT_BLOCK;
    int failed = 0;
    /* One task per (row, kv head): the query heads sharing a kv head accumulate into the same
     * dk/dv columns, so they run in one thread. */
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        float *P = scratch + (long)omp_get_thread_num() * 2 * block * T;
        float *dP = P + block * T;
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < B * NKV; task++) {
            int b = task / NKV, g = task % NKV;
            const float *kg = k + (long)b * T * KW + g * HD;
            const float *vg = v + (long)b * T * KW + g * HD;
            float *dkg = dk + (long)b * T * KW + g * HD, *dvg = dv + (long)b * T * KW + g * HD;
            const int *seg = segments ? segments + (long)b * T : NULL;
            for (int t = 0; t < T; t++) {
                memset(dkg + (long)t * KW, 0, sizeof(float) * HD);
                memset(dvg + (long)t * KW, 0, sizeof(float) * HD);
            }
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                long off = (long)b * T * QW + h * HD;
                const float *qh = q + off, *oh = out + off, *doh = dout + off;
                float *dqh = dq + off;
                const float *lse_h = lse + ((long)b * NH + h) * T;
                for (int t0 = 0; t0 < T; t0 += (int)block) {
                    int M = T - t0 < block ? T - t0 : (int)block, n_keys = t0 + M;
                    const float *qb = qh + (long)t0 * QW, *dob = doh + (long)t0 * QW;
                    failed |= matmul(false, true, M, n_keys, HD, scale, qb, QW, kg, KW, 0.0f, P,
                                     n_keys) != 0;
                    attention_probs(P, M, t0, n_keys, seg, NULL, lse_h);
                    failed |= matmul(false, true, M, n_keys, HD, 1.0f, dob, QW, vg, KW, 0.0f, dP,
                                     n_keys) != 0;
                    for (int i = 0; i < M; i++) {
                        const float *o_t = oh + (long)(t0 + i) * QW, *do_t = dob + (long)i * QW;
                        float d = 0.0f;
                        for (int c = 0; c < HD; c++) d += o_t[c] * do_t[c];
                        float *p = P + (long)i * n_keys, *dp = dP + (long)i * n_keys;
                        for (int j = 0; j < n_keys; j++) dp[j] = p[j] * (dp[j] - d);
                    }
                    /* dP now holds dS, the gradient of the (scaled) scores. */
                    failed |= matmul(false, false, M, HD, n_keys, scale, dP, n_keys, kg, KW, 0.0f,
                                     dqh + (long)t0 * QW, QW) != 0;
                    failed |= matmul(true, false, n_keys, HD, M, scale, dP, n_keys, qb, QW, 1.0f,
                                     dkg, KW) != 0;
                    failed |= matmul(true, false, n_keys, HD, M, 1.0f, P, n_keys, dob, QW, 1.0f,
                                     dvg, KW) != 0;
                }
            }
        }
    }
    return failed ? pf_fail("attention_backward: a GEMM failed (B=%d T=%d HD=%d)", B, T, HD) : 0;
}

long attention_head_scratch_floats(int B, int T, int NH, int HD)
{
    return 2L * B * T * NH * HD;
}

int attention_backward_heads(float *dq, float *dk, float *dv, const float *dout,
                             const float *out, const float *lse, const float *q, const float *k,
                             const float *v, const int *segments, int B, int T, int NH, int NKV,
                             int HD, float *scratch, int n_threads, float *head_scratch)
{
    int QW = NH * HD, KW = NKV * HD, rep = NH / NKV;
    float scale = 1.0f / sqrtf((float)HD);
    long block = T < ATT_BLOCK ? T : ATT_BLOCK, N = (long)B * T;
    float *dkh = head_scratch, *dvh = head_scratch + N * QW; /* (B*T, NH*HD) each */
    int failed = 0;
    /* One task per (row, query head): each head's dk/dv partial goes to its own columns of
     * dkh/dvh, summed over the heads of a group afterwards, so no two tasks share output. */
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        float *P = scratch + (long)omp_get_thread_num() * 2 * block * T;
        float *dP = P + block * T;
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < B * NH; task++) {
            int b = task / NH, h = task % NH, g = h / rep;
            const float *kg = k + (long)b * T * KW + g * HD;
            const float *vg = v + (long)b * T * KW + g * HD;
            long off = (long)b * T * QW + h * HD;
            const float *qh = q + off, *oh = out + off, *doh = dout + off;
            float *dqh = dq + off, *dkhh = dkh + off, *dvhh = dvh + off;
            const float *lse_h = lse + ((long)b * NH + h) * T;
            const int *seg = segments ? segments + (long)b * T : NULL;
            for (int t = 0; t < T; t++) {
                memset(dkhh + (long)t * QW, 0, sizeof(float) * HD);
                memset(dvhh + (long)t * QW, 0, sizeof(float) * HD);
            }
            for (int t0 = 0; t0 < T; t0 += (int)block) {
                int M = T - t0 < block ? T - t0 : (int)block, n_keys = t0 + M;
                const float *qb = qh + (long)t0 * QW, *dob = doh + (long)t0 * QW;
                failed |= matmul(false, true, M, n_keys, HD, scale, qb, QW, kg, KW, 0.0f, P,
                                 n_keys) != 0;
                attention_probs(P, M, t0, n_keys, seg, NULL, lse_h);
                failed |= matmul(false, true, M, n_keys, HD, 1.0f, dob, QW, vg, KW, 0.0f, dP,
                                 n_keys) != 0;
                for (int i = 0; i < M; i++) {
                    const float *o_t = oh + (long)(t0 + i) * QW, *do_t = dob + (long)i * QW;
                    float d = 0.0f;
#pragma omp simd reduction(+ : d)
                    for (int c = 0; c < HD; c++) d += o_t[c] * do_t[c];
                    float *p = P + (long)i * n_keys, *dp = dP + (long)i * n_keys;
                    int last = t0 + i; /* p is 0 beyond the diagonal */
#pragma omp simd
                    for (int j = 0; j <= last; j++) dp[j] = p[j] * (dp[j] - d);
                    for (int j = last + 1; j < n_keys; j++) dp[j] = 0.0f;
                }
                /* dP now holds dS, the gradient of the (scaled) scores. */
                failed |= matmul(false, false, M, HD, n_keys, scale, dP, n_keys, kg, KW, 0.0f,
                                 dqh + (long)t0 * QW, QW) != 0;
                failed |= matmul(true, false, n_keys, HD, M, scale, dP, n_keys, qb, QW, 1.0f,
                                 dkhh, QW) != 0;
                failed |= matmul(true, false, n_keys, HD, M, 1.0f, P, n_keys, dob, QW, 1.0f,
                                 dvhh, QW) != 0;
            }
        }
        /* dk, dv (row, g) = sum over the group's heads. */
#pragma omp for schedule(static)
        for (long r = 0; r < N; r++) {
            for (int g = 0; g < NKV; g++) {
                float *dkr = dk + r * KW + g * HD, *dvr = dv + r * KW + g * HD;
                const float *kh = dkh + r * QW + (long)g * rep * HD;
                const float *vh = dvh + r * QW + (long)g * rep * HD;
                for (int c = 0; c < HD; c++) {
                    dkr[c] = kh[c];
                    dvr[c] = vh[c];
                }
                for (int j = 1; j < rep; j++) {
#pragma omp simd
                    for (int c = 0; c < HD; c++) {
                        dkr[c] += kh[(long)j * HD + c];
                        dvr[c] += vh[(long)j * HD + c];
                    }
                }
            }
        }
    }
    return failed ? pf_fail("attention_backward_heads: a GEMM failed (B=%d T=%d HD=%d)", B, T,
                            HD)
                  : 0;
}

void attention_decode(float *out, const float *q, const float *k_cache, const float *v_cache,
                      const int *len, int n, int S, int NH, int NKV, int HD, float *scratch)
{
    int QW = NH * HD, KW = NKV * HD, rep = NH / NKV;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for schedule(static)
    for (int task = 0; task < n * NH; task++) {
        int i = task / NH, h = task % NH, g = h / rep;
        const float *qh = q + (long)i * QW + h * HD;
        const float *kc = k_cache + (long)i * S * KW + g * HD;
        const float *vc = v_cache + (long)i * S * KW + g * HD;
        float *att = scratch + (long)task * S, *oh = out + (long)i * QW + h * HD;
        float mx = -INFINITY;
        for (int j = 0; j < len[i]; j++) {
            float s = 0.0f;
            for (int c = 0; c < HD; c++) s += qh[c] * kc[(long)j * KW + c];
            att[j] = s * scale;
            if (att[j] > mx) mx = att[j];
        }
        float sum = 0.0f;
        for (int j = 0; j < len[i]; j++) {
            att[j] = expf(att[j] - mx);
            sum += att[j];
        }
        for (int c = 0; c < HD; c++) oh[c] = 0.0f;
        for (int j = 0; j < len[i]; j++) {
            float p = att[j] / sum;
            for (int c = 0; c < HD; c++) oh[c] += p * vc[(long)j * KW + c];
        }
    }
}

void swiglu_forward(float *h, const float *gate, const float *up, long n)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        float g = gate[i];
        h[i] = g / (1.0f + exp_vec(-g)) * up[i];
    }
}

void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate,
                     const float *up, long n)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) {
        float g = gate[i], sig = 1.0f / (1.0f + exp_vec(-g));
        float d = dh[i];
        dup[i] = d * g * sig;
        dgate[i] = d * up[i] * sig * (1.0f + g * (1.0f - sig));
    }
}

void embedding_forward(float *out, const int *tokens, const float *table, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        memcpy(out + (long)i * C, table + (long)tokens[i] * C, sizeof(float) * C);
}

void embedding_backward(float *dtable, const int *tokens, const float *dout, int N, int C)
{
    /* Columns are split between threads: repeated tokens then never race. */
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int i = 0; i < N; i++) {
            float *row = dtable + (long)tokens[i] * C;
            const float *d = dout + (long)i * C;
            for (int c = c0; c < c1; c++) row[c] += d[c];
        }
    }
}

void residual_add(float *y, const float *x, long n)
{
#pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) y[i] += x[i];
}

void bias_add(float *y, const float *bias, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++) y[(long)i * C + c] += bias[c];
}

void bias_backward(float *dbias, const float *dy, int N, int C)
{
#pragma omp parallel for schedule(static)
    for (int c0 = 0; c0 < C; c0 += 16) {
        int c1 = c0 + 16 < C ? c0 + 16 : C;
        for (int i = 0; i < N; i++)
            for (int c = c0; c < c1; c++) dbias[c] += dy[(long)i * C + c];
    }
}
