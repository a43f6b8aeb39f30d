/* The fused, chunked LM head + objective: logits = hidden W^T, softmax, the objective's loss and
 * its gradient dL/dz = c(p) (softmax - onehot(target)), and the gradients on the hidden states
 * and on W, computed chunk by chunk so that the full (N x V) logits are never held: only one
 * (T x V) chunk (T tokens, sized from a byte budget) exists at a time. GEMMs run in oneDNN's
 * dnnl_sgemm, the softmax part in OpenMP threads.
 *
 * Tokens whose target is -1 are not response tokens (prompt, padding): they are skipped
 * entirely (no loss, no gradient, not counted, no compute spent on them). Response tokens that
 * fail the objective's threshold are "masked": they count as response tokens but not as kept
 * ones, and contribute no loss and no gradient.
 *
 * Normalisation: the head only multiplies the per-token gradient by the caller's grad_scale
 * (see LossNorm and loss_norm_scale in objective.h). Kept counts of thresholded objectives are
 * only known after the forward pass; a trainer in LOSS_NORM_KEPT mode can run the head with
 * grad_scale 1 and multiply the summed gradient of the step by 1 / kept_global afterwards
 * (exact: everything is linear), and LOSS_NORM_REFERENCE can use divide_by_kept below. */
#ifndef PRIORFT_OBJECTIVE_LM_HEAD_H
#define PRIORFT_OBJECTIVE_LM_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "objective/objective.h"

/* Default byte budget of the logits chunk: 128 MiB, i.e. 220 tokens at V = 151,936. */
#define LM_HEAD_DEFAULT_CHUNK_BYTES ((size_t)128 << 20)

typedef struct LmHeadOptions {
    int chunk_tokens;        /* tokens per chunk; 0: as many as max_chunk_bytes allows */
    size_t max_chunk_bytes;  /* budget of the (T, V) logits chunk; 0: the default above */
    /* Divide grad_scale by this call's kept-token count (LOSS_NORM_REFERENCE with one call per
     * micro batch). For thresholded objectives this costs one extra forward pass to count. */
    bool divide_by_kept;
} LmHeadOptions;

typedef struct LmHeadStats {
    double loss_sum;          /* sum of f(p) over kept tokens */
    long kept_tokens;         /* response tokens that pass the threshold */
    long response_tokens;     /* tokens with target >= 0 */
    double nll_kept_sum;      /* sum of -log p over kept tokens */
    double nll_response_sum;  /* sum of -log p over all response tokens */
    double p_response_sum;    /* sum of p over response tokens */
    double grad_scale_used;   /* the scale applied (grad_scale, or divided by kept) */
    double seconds_logits;    /* wall time in the logits GEMMs */
    double seconds_softmax;   /* in the softmax / objective pass */
    double seconds_backward;  /* in the two gradient GEMMs */
} LmHeadStats;

/* The training step of the head for N tokens.
 *   hidden   (N, C)  final-norm outputs
 *   weight   (V, C)  lm_head weight, nn.Linear layout
 *   targets  (N)     target token ids in [0, V), or -1 for tokens that are not response
 *   d_hidden (N, C)  written (zero rows for ignored or masked tokens); NULL to skip
 *   d_weight (V, C)  ADDED to; NULL to skip
 * Per kept token the gradient on its logits is c(p) (s - onehot) * grad_scale. stats (never
 * NULL) gets the sums above. opts may be NULL (defaults). Returns 0, or -1 with a message for
 * bad sizes or a target outside [-1, V) (naming the token position). */
int lm_head_forward_backward(const float *hidden, const float *weight, const int *targets,
                             int n, int c, int v, const Objective *obj, float grad_scale,
                             const LmHeadOptions *opts, float *d_hidden, float *d_weight,
                             LmHeadStats *stats);

/* Called by lm_head_probe once per chunk with the rows of that chunk: token_index (n_rows)
 * gives each row's token position, log_softmax (n_rows, V) the full log-distribution of each
 * row (valid only during the call). Return 0 to go on, nonzero to stop the probe (it then
 * returns -1, keeping any message the callback recorded with pf_fail). */
typedef int (*LmHeadRowsFn)(void *ctx, const int *token_index, int n_rows,
                            const float *log_softmax, int v);

/* Forward only, for probing: for each token with target >= 0, log_p (N) gets log p(target) and
 * entropy (N) the entropy of its distribution (nats); other tokens get NAN. Either array may be
 * NULL. rows_fn (may be NULL) sees each chunk's log-softmax rows. stats (may be NULL) gets the
 * response sums (no objective: kept = response, loss_sum = nll sum). Returns 0 or -1. */
int lm_head_probe(const float *hidden, const float *weight, const int *targets, int n, int c,
                  int v, const LmHeadOptions *opts, float *log_p, float *entropy,
                  LmHeadRowsFn rows_fn, void *ctx, LmHeadStats *stats);

/* Log-softmax of n_rows tokens' logits into out (n_rows, V): the building block for comparing
 * two models chunk by chunk (call it for the same rows of each model). hidden (n_rows, C). */
int lm_head_log_softmax(const float *hidden, const float *weight, int n_rows, int c, int v,
                        float *out);

/* Per-token divergences between two models' next-token distributions, P from (hidden_a,
 * weight_a) and Q from (hidden_b, weight_b), both (N, C) / (V, C), chunked: kl_pq = KL(P||Q),
 * kl_qp = KL(Q||P), js = Jensen-Shannon (nats), each (N) or NULL; tokens whose target is -1 get
 * NAN (targets may be NULL: every token). Returns 0 or -1. */
int lm_head_divergence(const float *hidden_a, const float *weight_a, const float *hidden_b,
                       const float *weight_b, const int *targets, int n, int c, int v,
                       const LmHeadOptions *opts, float *kl_pq, float *kl_qp, float *js);

#endif
