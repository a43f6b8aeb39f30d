/* Private to model/forward.c and model/backward.c: the layout of ModelActs. Per-layer buffers
 * are stacked (L, ...) and indexed with the row stride of the allocated maximum, N_max. */
#ifndef PRIORFT_MODEL_ACTS_H
#define PRIORFT_MODEL_ACTS_H

#include "model/forward.h"

struct ModelActs {
    ModelConfig cfg;
    int B_max, T_max;
    long N_max;        /* B_max * T_max */
    int B, T;          /* of the last forward; 0 before the first */
    int *tokens;       /* (N_max) copy of the last forward's tokens */
    int *segments;     /* (N_max) copy, or unused when has_segments is false */
    bool has_segments;
    bool recompute;    /* keep only `res`; backward reruns each layer's forward first */
    float *inv_freq;   /* (HD/2) */
    float *rope_cos;   /* (N, HD/2) */
    float *rope_sin;   /* (N, HD/2) */

    /* Kept for backward. With recompute, every per-layer buffer below except res holds one
     * layer (index it with acts_layer_slot). */
    float *res;        /* (L+1, N, C) residual stream entering each layer, then the last */
    float *mid;        /* (L, N, C) residual stream after attention */
    float *rstd1;      /* (L, N) */
    float *rstd2;      /* (L, N) */
    float *q;          /* (L, N, Q) after bias and RoPE */
    float *k;          /* (L, N, KV) after bias and RoPE */
    float *v;          /* (L, N, KV) */
    float *att;        /* (L, N, Q) attention output before wo */
    float *lse;        /* (L, B, NH, T) attention log-sum-exp */
    float *gate;       /* (L, N, H) */
    float *up;         /* (L, N, H) */
    float *rstd_final; /* (N) */
    float *hidden;     /* (N, C) final RMSNorm output */

    /* Scratch, shared by forward and backward. */
    float *xn;         /* (N, C) normed input of a block (recomputed in backward) */
    float *hh;         /* (N, H) silu(gate) * up (recomputed in backward) */
    float *d_res;      /* (N, C) */
    float *d_xn;       /* (N, C) */
    float *d_hh;       /* (N, H) */
    float *d_gate;     /* (N, H) */
    float *d_up;       /* (N, H) */
    float *d_att;      /* (N, Q) */
    float *d_q;        /* (N, Q) */
    float *d_k;        /* (N, KV) */
    float *d_v;        /* (N, KV) */
    float *att_scratch;
    float *att_head_scratch; /* per-head dk/dv partials of attention_backward_heads */
    int att_threads;   /* threads att_scratch was sized for */

    ModelTimes times;  /* accumulated by phase, see model_acts_times */
    float *memory;     /* the one allocation all float buffers above live in */
};

/* The slot of layer l in the per-layer buffers other than res: l, or 0 with recompute. */
static inline long acts_layer_slot(const struct ModelActs *a, int l)
{
    return a->recompute ? 0 : l;
}

/* Runs layer l's forward on a->res[l], filling its kept buffers (slot acts_layer_slot). With
 * full = false the down projection and the write of res[l + 1] are skipped: backward's
 * recomputation needs everything but the layer's output. Defined in forward.c. */
int model_layer_forward(const Model *m, struct ModelActs *a, int l, int B, int T, bool full);

#endif
