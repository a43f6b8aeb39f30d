/* The one description of a Llama-family decoder's shape, filled from a Hugging Face
 * config.json, GGUF metadata or a llama2.c header. Shape letters used across the code:
 * C = dim, H = hidden_dim, L = n_layers, NH = n_heads, NKV = n_kv_heads, HD = head_dim,
 * V = vocab_size, Q = NH * HD (query width), KV = NKV * HD (key/value width). */
#ifndef PRIORFT_MODEL_CONFIG_H
#define PRIORFT_MODEL_CONFIG_H

#include <stdbool.h>

typedef enum {
    ROPE_SCALING_NONE = 0,
    ROPE_SCALING_LINEAR,  /* positions divided by rope_factor */
    ROPE_SCALING_LLAMA3,  /* Llama 3.1 frequency-dependent scaling */
} RopeScaling;

typedef struct ModelConfig {
    char arch[32];        /* Hugging Face model_type: "llama", "qwen2", "mistral" */
    int dim;              /* C */
    int hidden_dim;       /* H: SwiGLU intermediate size */
    int n_layers;         /* L */
    int n_heads;          /* NH */
    int n_kv_heads;       /* NKV, divides NH (grouped-query attention) */
    int head_dim;         /* HD, usually C / NH */
    int vocab_size;       /* V */
    int max_seq_len;      /* max_position_embeddings */
    float norm_eps;       /* RMSNorm epsilon */
    float rope_theta;
    RopeScaling rope_scaling;
    float rope_factor;
    float rope_low_freq_factor;
    float rope_high_freq_factor;
    int rope_original_max_pos;
    /* RoPE pairing. false: rotate-half, dims (i, i + HD/2) as Hugging Face. true: interleaved,
     * dims (2i, 2i + 1) as llama2.c and GGUF. Loaders of interleaved checkpoints permute the
     * q/k weights once to rotate-half, so loaded models always have this false; the kernels
     * keep both so that the permutation itself can be tested. */
    bool rope_interleaved;
    bool qkv_bias;        /* q/k/v projections have biases (Qwen2) */
    bool tied_embeddings; /* lm_head shares the token embedding */
    int bos_token_id;     /* -1 when unknown */
    int eos_token_id;     /* -1 when unknown */
} ModelConfig;

/* Fills the defaults that every loader starts from (theta 10000, eps 1e-5, no scaling). */
void config_defaults(ModelConfig *cfg);

/* Checks the shape for consistency (positive sizes, NKV divides NH, even HD, sizes small enough
 * that parameter counts fit); on failure names `source` and the field. */
int config_validate(const ModelConfig *cfg, const char *source);

/* Inverse frequencies for RoPE, (HD/2), including any scaling. */
void config_rope_inv_freq(const ModelConfig *cfg, float *inv_freq);

#endif
