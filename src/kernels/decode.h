/* CPU kernels of the inference path (model/infer.c): a hand AVX2 small-batch projection that
 * streams each weight row once for up to a few tokens (decoding is bound by reading the weights,
 * and oneDNN's sgemm is slow for M = 1), written to run on a caller-chosen slice of output rows
 * so that a whole decoding step can live in one OpenMP parallel region; per-token RMSNorm and
 * RoPE, single-(sequence, head) decoding attention, and the causal attention of a prompt chunk
 * against the cache (prefill). None of them allocates. Shape letters as in model/config.h. */
#ifndef PRIORFT_KERNELS_DECODE_H
#define PRIORFT_KERNELS_DECODE_H

#include <stdbool.h>

/* For output rows r in [r0, r1) and tokens i < n:
 * y[i * ldy + r] = (accumulate ? y[i * ldy + r] : 0) + (bias ? bias[r] : 0)
 *                  + sum_k x[i * ldx + k] * w[r * in + k].
 * w: (out, in) row-major as nn.Linear. Single-threaded: callers split rows between threads. */
void linear_rows(float *y, int ldy, const float *x, int ldx, const float *w, const float *bias,
                 int n, int in, int r0, int r1, bool accumulate);

/* out (C) = x / sqrt(mean(x^2) + eps) * w for one row. out may equal x. */
void rmsnorm_row(float *out, const float *x, const float *w, int C, float eps);

/* Rotates one head x (HD) by the angles whose cos/sin are cos_t/sin_t (HD/2); interleaved as
 * in rope_forward (kernels/cpu.h). */
void rope_head(float *x, const float *cos_t, const float *sin_t, int head_dim, bool interleaved);

/* h[j] = silu(gate[j]) * up[j] for j < n. */
void swiglu_row(float *h, const float *gate, const float *up, int n);

/* One query head q (HD) attends to keys/values 0..len-1 at k, v (rows of stride kv_stride
 * floats): out (HD) = softmax(q k^T / sqrt(HD)) v. scores: len floats of scratch. */
void attention_head_decode(float *out, const float *q, const float *k, const float *v,
                           int kv_stride, int len, int HD, float *scores);

/* Causal attention of a prompt chunk of N tokens at positions p0..p0+N-1 of one sequence whose
 * keys/values for positions 0..p0+N-1 are already in k_cache/v_cache (S, NKV*HD). q, out:
 * (N, NH*HD). Query t sees keys 0..p0+t. Runs on at most n_threads threads; scratch holds
 * n_threads * N * (p0 + N) floats. Returns 0 or -1 (GEMM error). */
int attention_prefill(float *out, const float *q, const float *k_cache, const float *v_cache,
                      int p0, int N, int NH, int NKV, int HD, float *scratch, int n_threads);

#endif
