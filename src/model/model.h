/* A Llama-family decoder's parameters: one flat fp32 buffer and named views into it.
 * Weights keep PyTorch's nn.Linear layout (out_features, in_features), row-major, so a
 * projection is y = x W^T. Per-layer tensors of one kind are stacked, (L, ...), llm.c style,
 * so that the optimiser and the gradient buffer are single loops over n_params floats. */
#ifndef PRIORFT_MODEL_MODEL_H
#define PRIORFT_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "model/config.h"

typedef struct ModelParams {
    float *tok_embedding; /* (V, C) */
    float *attn_norm;     /* (L, C) */
    float *wq;            /* (L, Q, C) */
    float *wk;            /* (L, KV, C) */
    float *wv;            /* (L, KV, C) */
    float *bq;            /* (L, Q) or NULL without qkv_bias */
    float *bk;            /* (L, KV) or NULL */
    float *bv;            /* (L, KV) or NULL */
    float *wo;            /* (L, C, Q) */
    float *ffn_norm;      /* (L, C) */
    float *w_gate;        /* (L, H, C) */
    float *w_up;          /* (L, H, C) */
    float *w_down;        /* (L, C, H) */
    float *final_norm;    /* (C) */
    float *lm_head;       /* (V, C); the same pointer as tok_embedding when tied */
} ModelParams;

typedef struct Model {
    ModelConfig config;
    size_t n_params;      /* floats in params_memory (a tied head is counted once) */
    float *params_memory; /* (n_params), 64-byte aligned */
    ModelParams params;
} Model;

/* One named tensor of the model, with its Hugging Face name, e.g.
 * "model.layers.3.self_attn.q_proj.weight", and where its floats live. */
typedef struct TensorRef {
    char name[96];
    int ndim;             /* 1 or 2 */
    int64_t shape[2];     /* row-major; shape[1] unused for 1-D */
    size_t offset;        /* in floats from the start of the flat buffer */
    size_t count;         /* shape[0] * shape[1] (or shape[0]) */
} TensorRef;

/* Floats a model of this shape needs in one flat buffer. */
size_t model_param_count(const ModelConfig *cfg);

/* Points every field of `out` into `memory` (n = model_param_count floats); used for
 * parameters, gradients and optimiser moments alike. */
void model_params_bind(const ModelConfig *cfg, float *memory, ModelParams *out);

/* The model's tensors in Hugging Face naming and order. A tied head is not listed.
 * Returns the count; *out is malloc'ed and freed by the caller. */
int model_tensor_list(const ModelConfig *cfg, TensorRef **out);

/* Allocates a zero-filled model of this shape (validated first). */
int model_init(Model *m, const ModelConfig *cfg);

/* Fills parameters with a seeded random initialisation (normal, std 0.02; norms 1). */
void model_init_random(Model *m, uint64_t seed);

void model_free(Model *m);

#endif
