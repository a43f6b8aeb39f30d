/* Training path of the decoder: the forward pass over a batch of B rows of T tokens, keeping
 * the activations the backward pass needs, and the backward pass that adds parameter
 * gradients. The LM head and the objective are not here (see objective/): forward stops at
 * the final RMSNorm and backward starts from the gradient of that hidden state. */
#ifndef PRIORFT_MODEL_FORWARD_H
#define PRIORFT_MODEL_FORWARD_H

#include "model/model.h"

typedef struct ModelActs ModelActs; /* activations for B x T tokens, allocated once */

/* Allocates activations and scratch for up to B rows of T tokens of this shape. Everything
 * model_forward/model_backward use is allocated here, none per step. The attention scratch is
 * sized for omp_get_max_threads() at this call, and attention never uses more threads.
 * Keeps every layer's activations (fastest; a 135M model at 4 x 512 keeps 1.5 GB). */
int model_acts_init(ModelActs **out, const ModelConfig *cfg, int B, int T);
/* As model_acts_init; with recompute true only each layer's input is kept and backward reruns
 * the layer's forward (all but its down projection) before its backward: about a third more
 * compute, activations of one layer instead of L. Gradients equal the kept path's (the same
 * kernels run on the same inputs). */
int model_acts_init_opt(ModelActs **out, const ModelConfig *cfg, int B, int T, bool recompute);
void model_acts_free(ModelActs *a);

/* Floats model_acts_init allocates for this shape (for memory estimates). */
size_t model_acts_floats(const ModelConfig *cfg, int B, int T);
size_t model_acts_floats_opt(const ModelConfig *cfg, int B, int T, bool recompute);

/* tokens, positions, segments: (B*T); segments may be NULL (one sequence per row). A token
 * attends to earlier-or-same tokens of its row with the same segment id; positions feed RoPE.
 * B and T may be smaller than at init, never larger. Tokens must lie in [0, V) and positions
 * be non-negative (errors name the index). On return *hidden points to the final-RMSNorm
 * output (B*T, C), owned by acts and valid until the next forward. */
int model_forward(const Model *m, ModelActs *a, const int *tokens, const int *positions,
                  const int *segments, int B, int T, float **hidden);

/* d_hidden: (B*T, C) gradient of the loss w.r.t. the hidden of the last model_forward on `a`.
 * Gradients are ADDED into grads (bound with model_params_bind on a flat buffer of n_params
 * floats; with tied embeddings the embedding gradient lands in the shared tensor). The LM
 * head's own gradient is not computed here. */
int model_backward(const Model *m, ModelActs *a, const float *d_hidden, ModelParams *grads);

/* Seconds spent in forward and backward since init (or the last reset), by phase: GEMMs of
 * the projections, attention (its own GEMMs included), and everything else. */
typedef struct ModelTimes {
    double matmul, attention, other;
    double recompute; /* of the three above, the seconds backward spent rerunning forwards */
} ModelTimes;
ModelTimes model_acts_times(const ModelActs *a);
void model_acts_reset_times(ModelActs *a);

#endif
