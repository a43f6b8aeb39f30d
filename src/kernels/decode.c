/* CPU kernels of the inference path (see kernels/decode.h): AVX2 small-batch projections,
 * per-row helpers and decode/prefill attention. */
#include "kernels/decode.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu.h"
#include "util/error.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

/* Lane sums of four vectors: {sum a, sum b, sum c, sum d}. */
static inline __m128 hsum4(__m256 a, __m256 b, __m256 c, __m256 d)
{
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

static inline float hsum1(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Four weight rows (w, stride in) against T <= 3 tokens: each weight vector is loaded once and
 * used T times, so the loop is bound by the FMA ports at T = 3 and by memory at T = 1. */
static inline __attribute__((always_inline)) void tile4(float *y, int ldy, const float *x,
                                                        int ldx, const float *w, int in, int T,
                                                        const float *bias, bool accumulate)
{
    __m256 s[3][4];
    for (int t = 0; t < T; t++)
        for (int j = 0; j < 4; j++) s[t][j] = _mm256_setzero_ps();
    const float *w0 = w, *w1 = w + in, *w2 = w + 2 * (long)in, *w3 = w + 3 * (long)in;
    int k = 0;
    for (; k + 8 <= in; k += 8) {
        __m256 a0 = _mm256_loadu_ps(w0 + k), a1 = _mm256_loadu_ps(w1 + k);
        __m256 a2 = _mm256_loadu_ps(w2 + k), a3 = _mm256_loadu_ps(w3 + k);
        for (int t = 0; t < T; t++) {
            __m256 xv = _mm256_loadu_ps(x + (long)t * ldx + k);
            s[t][0] = _mm256_fmadd_ps(a0, xv, s[t][0]);
            s[t][1] = _mm256_fmadd_ps(a1, xv, s[t][1]);
            s[t][2] = _mm256_fmadd_ps(a2, xv, s[t][2]);
            s[t][3] = _mm256_fmadd_ps(a3, xv, s[t][3]);
        }
    }
    for (int t = 0; t < T; t++) {
        float r[4];
        _mm_storeu_ps(r, hsum4(s[t][0], s[t][1], s[t][2], s[t][3]));
        const float *xt = x + (long)t * ldx;
        for (int kk = k; kk < in; kk++) {
            r[0] += w0[kk] * xt[kk];
            r[1] += w1[kk] * xt[kk];
            r[2] += w2[kk] * xt[kk];
            r[3] += w3[kk] * xt[kk];
        }
        float *yt = y + (long)t * ldy;
        for (int j = 0; j < 4; j++) {
            float v = r[j] + (bias ? bias[j] : 0.0f);
            yt[j] = accumulate ? yt[j] + v : v;
        }
    }
}

/* One weight row against one token. */
static float dot_row(const float *w, const float *x, int in)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= in; k += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), s1);
    }
    for (; k + 8 <= in; k += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), s0);
    float r = hsum1(_mm256_add_ps(s0, s1));
    for (; k < in; k++) r += w[k] * x[k];
    return r;
}

void linear_rows(float *y, int ldy, const float *x, int ldx, const float *w, const float *bias,
                 int n, int in, int r0, int r1, bool accumulate)
{
    int r = r0;
    for (; r + 4 <= r1; r += 4) {
        const float *wr = w + (long)r * in, *br = bias ? bias + r : NULL;
        int i = 0;
        for (; i + 2 <= n; i += 2)
            tile4(y + (long)i * ldy + r, ldy, x + (long)i * ldx, ldx, wr, in, 2, br, accumulate);
        if (n - i == 1)
            tile4(y + (long)i * ldy + r, ldy, x + (long)i * ldx, ldx, wr, in, 1, br, accumulate);
    }
    for (; r < r1; r++)
        for (int i = 0; i < n; i++) {
            float v = dot_row(w + (long)r * in, x + (long)i * ldx, in) + (bias ? bias[r] : 0.0f);
            float *yi = y + (long)i * ldy + r;
            *yi = accumulate ? *yi + v : v;
        }
}

#else /* portable fallback */

void linear_rows(float *y, int ldy, const float *x, int ldx, const float *w, const float *bias,
                 int n, int in, int r0, int r1, bool accumulate)
{
    for (int r = r0; r < r1; r++)
        for (int i = 0; i < n; i++) {
            const float *wr = w + (long)r * in, *xi = x + (long)i * ldx;
            float v = 0.0f;
            for (int k = 0; k < in; k++) v += wr[k] * xi[k];
            v += bias ? bias[r] : 0.0f;
            float *yi = y + (long)i * ldy + r;
            *yi = accumulate ? *yi + v : v;
        }
}

#endif

void rmsnorm_row(float *out, const float *x, const float *w, int C, float eps)
{
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < C; c++) ss += x[c] * x[c];
    float r = 1.0f / sqrtf(ss / (float)C + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) out[c] = x[c] * r * w[c];
}

void rope_head(float *x, const float *cos_t, const float *sin_t, int head_dim, bool interleaved)
{
    int half = head_dim / 2, stride = interleaved ? 2 : 1, other = interleaved ? 1 : half;
    for (int j = 0; j < half; j++) {
        float *a = x + j * stride, *b = a + other;
        float c = cos_t[j], s = sin_t[j], x0 = *a, x1 = *b;
        *a = x0 * c - x1 * s;
        *b = x0 * s + x1 * c;
    }
}

void swiglu_row(float *h, const float *gate, const float *up, int n)
{
    for (int j = 0; j < n; j++) {
        float g = gate[j];
        h[j] = g / (1.0f + expf(-g)) * up[j];
    }
}

void attention_head_decode(float *out, const float *q, const float *k, const float *v,
                           int kv_stride, int len, int HD, float *scores)
{
    float scale = 1.0f / sqrtf((float)HD), mx = -INFINITY;
    for (int j = 0; j < len; j++) {
        const float *kj = k + (long)j * kv_stride;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < HD; c++) s += q[c] * kj[c];
        scores[j] = s * scale;
        mx = scores[j] > mx ? scores[j] : mx;
    }
    float sum = 0.0f;
    for (int j = 0; j < len; j++) {
        scores[j] = expf(scores[j] - mx);
        sum += scores[j];
    }
    float inv = 1.0f / sum;
    for (int c = 0; c < HD; c++) out[c] = 0.0f;
    for (int j = 0; j < len; j++) {
        const float *vj = v + (long)j * kv_stride;
        float p = scores[j] * inv;
#pragma omp simd
        for (int c = 0; c < HD; c++) out[c] += p * vj[c];
    }
}

int attention_prefill(float *out, const float *q, const float *k_cache, const float *v_cache,
                      int p0, int N, int NH, int NKV, int HD, float *scratch, int n_threads)
{
    int QW = NH * HD, KW = NKV * HD, rep = NH / NKV, n_keys = p0 + N;
    float scale = 1.0f / sqrtf((float)HD);
    int failed = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : failed)
    {
        float *S = scratch + (long)omp_get_thread_num() * N * n_keys; // (N, n_keys)
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < NH; h++) {
            const float *kg = k_cache + (h / rep) * HD, *vg = v_cache + (h / rep) * HD;
            failed |= matmul(false, true, N, n_keys, HD, scale, q + h * HD, QW, kg, KW, 0.0f, S,
                             n_keys) != 0;
            for (int t = 0; t < N; t++) {
                float *s = S + (long)t * n_keys, mx = -INFINITY, sum = 0.0f;
                int seen = p0 + t + 1;
                for (int j = 0; j < seen; j++) mx = s[j] > mx ? s[j] : mx;
                for (int j = 0; j < seen; j++) {
                    s[j] = expf(s[j] - mx);
                    sum += s[j];
                }
                float inv = 1.0f / sum;
                for (int j = 0; j < seen; j++) s[j] *= inv;
                for (int j = seen; j < n_keys; j++) s[j] = 0.0f;
            }
            failed |= matmul(false, false, N, HD, n_keys, 1.0f, S, n_keys, vg, KW, 0.0f,
                             out + h * HD, QW) != 0;
        }
    }
    return failed ? pf_fail("attention_prefill: a GEMM failed (p0=%d N=%d HD=%d)", p0, N, HD)
                  : 0;
}
