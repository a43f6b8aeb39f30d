/* Compute primitives of the decoder on the CPU: GEMM through oneDNN, RMSNorm, RoPE (both
 * pairings), causal grouped-query attention with segments, SwiGLU, embedding and residual
 * adds, each with its backward. Threaded with OpenMP; no function allocates except
 * attention's callers, which pass scratch sized by attention_scratch_floats. A CUDA backend
 * can sit beside this interface later: model/ calls only these functions.
 * Shape letters as in model/config.h; N = number of tokens (B * T). */
#ifndef PRIORFT_KERNELS_CPU_H
#define PRIORFT_KERNELS_CPU_H

#include <stdbool.h>

/* C = alpha * op(A) * op(B) + beta * C, row-major, op(A) (M, K), op(B) (K, N), C (M, N).
 * Returns 0, or -1 with a message when oneDNN reports an error. */
int matmul(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
           int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* out = x / sqrt(mean(x^2) + eps) * w per row; rstd (N) keeps 1/sqrt(...) for backward.
 * x, out: (N, C); w: (C). out may equal x. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                     float eps);
/* Adds the input gradient into dx (N, C) and the weight gradient into dw (C). */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C);
/* out = x * rstd * w, recomputing the forward output from its saved rstd. */
void rmsnorm_apply(float *out, const float *x, const float *w, const float *rstd, int N, int C);

/* Cos and sin tables (N, HD/2) of angle positions[i] * inv_freq[j]. */
void rope_tables(float *cos_t, float *sin_t, const int *positions, const float *inv_freq,
                 int N, int half);
/* Rotates x (N, n_heads * HD) in place. interleaved=false pairs dims (j, j + HD/2) as Hugging
 * Face; true pairs (2j, 2j + 1) as llama2.c and GGUF. */
void rope_forward(float *x, const float *cos_t, const float *sin_t, int N, int n_heads,
                  int head_dim, bool interleaved);
/* The transpose of rope_forward (rotation by minus the angle), in place on a gradient. */
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int N, int n_heads,
                   int head_dim, bool interleaved);

/* Reorders the rows of a (n_heads * head_dim, cols) weight from interleaved RoPE pairing
 * (2j, 2j + 1) to rotate-half pairing (j, j + HD/2): new row j = old 2j, new row j + HD/2 =
 * old 2j + 1, per head. Use cols = 1 for a bias. Loaders call this on q and k projections. */
void rope_permute_to_half(float *w, int n_heads, int head_dim, int cols);

/* Floats of scratch attention_forward/backward need for sequences of length T when they run
 * on `threads` threads (the n_threads they are then given, at most this). */
long attention_scratch_floats(int T, int threads);

/* Causal grouped-query attention over B rows of T tokens. q, out: (B*T, NH*HD); k, v:
 * (B*T, NKV*HD); lse (B, NH, T) keeps each query's log-sum-exp for backward. segments (B*T)
 * or NULL: a token attends to earlier-or-same positions with the same segment id. Query
 * head h uses kv head h / (NH / NKV). Scale 1/sqrt(HD). Runs on at most n_threads threads,
 * each with its slice of scratch. Returns 0 or -1 (GEMM error). */
int attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                      const int *segments, int B, int T, int NH, int NKV, int HD,
                      float *scratch, int n_threads);
/* Writes (not adds) dq (B*T, NH*HD), dk and dv (B*T, NKV*HD) from dout (B*T, NH*HD). */
int attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out,
                       const float *lse, const float *q, const float *k, const float *v,
                       const int *segments, int B, int T, int NH, int NKV, int HD,
                       float *scratch, int n_threads);

/* Floats of the extra scratch attention_backward_heads needs: per-head dk and dv partials,
 * 2 x (B*T, NH*HD). */
long attention_head_scratch_floats(int B, int T, int NH, int HD);
/* attention_backward with one task per (row, query head) instead of per (row, kv head), so
 * that B * NH tasks (not B * NKV) share the threads: each head's dk/dv partial lands in
 * head_scratch (attention_head_scratch_floats) and the heads of a group are summed at the
 * end. Same arguments and results as attention_backward up to float summation order. */
int attention_backward_heads(float *dq, float *dk, float *dv, const float *dout,
                             const float *out, const float *lse, const float *q, const float *k,
                             const float *v, const int *segments, int B, int T, int NH, int NKV,
                             int HD, float *scratch, int n_threads, float *head_scratch);

/* One decoding step for n sequences: query q (n, NH*HD) of sequence i attends to cached
 * keys/values 0..len[i]-1 of that sequence, k_cache/v_cache (n, S, NKV*HD). out (n, NH*HD);
 * scratch holds n * NH * S floats. */
void attention_decode(float *out, const float *q, const float *k_cache, const float *v_cache,
                      const int *len, int n, int S, int NH, int NKV, int HD, float *scratch);

/* h = silu(gate) * up, all (N*H) flat. */
void swiglu_forward(float *h, const float *gate, const float *up, long n);
/* Writes dgate and dup from dh. */
void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate,
                     const float *up, long n);

/* out (N, C) = rows tokens[i] of table (V, C); tokens must be in range (checked by callers). */
void embedding_forward(float *out, const int *tokens, const float *table, int N, int C);
/* Adds dout's rows into rows tokens[i] of dtable. */
void embedding_backward(float *dtable, const int *tokens, const float *dout, int N, int C);

/* y += x, both (n) flat. */
void residual_add(float *y, const float *x, long n);
/* y (N, C) += bias (C) per row. */
void bias_add(float *y, const float *bias, int N, int C);
/* dbias (C) += column sums of dy (N, C). */
void bias_backward(float *dbias, const float *dy, int N, int C);

#endif
