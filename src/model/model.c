/* Parameter layout of the decoder: counting, binding views into a flat buffer, the table of
 * Hugging Face tensor names, allocation and random initialisation. */
#include "model/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/rng.h"

/* Sizes of the stacked tensors, in the order they sit in the flat buffer. */
typedef struct LayoutSizes {
    size_t tok_embedding, attn_norm, wq, wk, wv, bq, bk, bv, wo, ffn_norm, w_gate, w_up, w_down,
        final_norm, lm_head;
} LayoutSizes;

static LayoutSizes layout_sizes(const ModelConfig *c)
{
    size_t C = (size_t)c->dim, H = (size_t)c->hidden_dim, L = (size_t)c->n_layers;
    size_t V = (size_t)c->vocab_size;
    size_t Q = (size_t)c->n_heads * c->head_dim, KV = (size_t)c->n_kv_heads * c->head_dim;
    LayoutSizes s = {
        .tok_embedding = V * C,
        .attn_norm = L * C,
        .wq = L * Q * C,
        .wk = L * KV * C,
        .wv = L * KV * C,
        .bq = c->qkv_bias ? L * Q : 0,
        .bk = c->qkv_bias ? L * KV : 0,
        .bv = c->qkv_bias ? L * KV : 0,
        .wo = L * C * Q,
        .ffn_norm = L * C,
        .w_gate = L * H * C,
        .w_up = L * H * C,
        .w_down = L * C * H,
        .final_norm = C,
        .lm_head = c->tied_embeddings ? 0 : V * C,
    };
    return s;
}

size_t model_param_count(const ModelConfig *cfg)
{
    LayoutSizes s = layout_sizes(cfg);
    return s.tok_embedding + s.attn_norm + s.wq + s.wk + s.wv + s.bq + s.bk + s.bv + s.wo +
           s.ffn_norm + s.w_gate + s.w_up + s.w_down + s.final_norm + s.lm_head;
}

/* Offsets in floats of each stacked tensor, as a ModelParams of offsets stored in size_t. */
typedef struct LayoutOffsets {
    size_t tok_embedding, attn_norm, wq, wk, wv, bq, bk, bv, wo, ffn_norm, w_gate, w_up, w_down,
        final_norm, lm_head;
} LayoutOffsets;

static LayoutOffsets layout_offsets(const ModelConfig *cfg)
{
    LayoutSizes s = layout_sizes(cfg);
    LayoutOffsets o;
    size_t at = 0;
#define PLACE(field)      \
    do {                  \
        o.field = at;     \
        at += s.field;    \
    } while (0)
    PLACE(tok_embedding);
    PLACE(attn_norm);
    PLACE(wq);
    PLACE(wk);
    PLACE(wv);
    PLACE(bq);
    PLACE(bk);
    PLACE(bv);
    PLACE(wo);
    PLACE(ffn_norm);
    PLACE(w_gate);
    PLACE(w_up);
    PLACE(w_down);
    PLACE(final_norm);
    PLACE(lm_head);
#undef PLACE
    if (cfg->tied_embeddings) o.lm_head = o.tok_embedding;
    return o;
}

void model_params_bind(const ModelConfig *cfg, float *memory, ModelParams *out)
{
    LayoutOffsets o = layout_offsets(cfg);
    out->tok_embedding = memory + o.tok_embedding;
    out->attn_norm = memory + o.attn_norm;
    out->wq = memory + o.wq;
    out->wk = memory + o.wk;
    out->wv = memory + o.wv;
    out->bq = cfg->qkv_bias ? memory + o.bq : NULL;
    out->bk = cfg->qkv_bias ? memory + o.bk : NULL;
    out->bv = cfg->qkv_bias ? memory + o.bv : NULL;
    out->wo = memory + o.wo;
    out->ffn_norm = memory + o.ffn_norm;
    out->w_gate = memory + o.w_gate;
    out->w_up = memory + o.w_up;
    out->w_down = memory + o.w_down;
    out->final_norm = memory + o.final_norm;
    out->lm_head = memory + o.lm_head;
}

static void add_tensor(TensorRef *list, int *n, const char *name, int64_t rows, int64_t cols,
                       size_t offset)
{
    TensorRef *t = &list[(*n)++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 0;
    t->offset = offset;
    t->count = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
}

int model_tensor_list(const ModelConfig *c, TensorRef **out)
{
    int L = c->n_layers;
    int64_t C = c->dim, H = c->hidden_dim, V = c->vocab_size;
    int64_t Q = (int64_t)c->n_heads * c->head_dim, KV = (int64_t)c->n_kv_heads * c->head_dim;
    TensorRef *list = xcalloc((size_t)L * 12 + 3, sizeof *list);
    int n = 0;

    LayoutOffsets p = layout_offsets(c);
#define OFF(field) (field)
    add_tensor(list, &n, "model.embed_tokens.weight", V, C, OFF(p.tok_embedding));
    for (int l = 0; l < L; l++) {
        char name[96];
#define LAYER(suffix, base, rows, cols)                                                   \
    do {                                                                                  \
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);                     \
        add_tensor(list, &n, name, rows, cols, OFF(base) + (size_t)l * (size_t)(rows) *   \
                                                    (size_t)((cols) > 0 ? (cols) : 1));   \
    } while (0)
        LAYER("input_layernorm.weight", p.attn_norm, C, 0);
        LAYER("self_attn.q_proj.weight", p.wq, Q, C);
        LAYER("self_attn.k_proj.weight", p.wk, KV, C);
        LAYER("self_attn.v_proj.weight", p.wv, KV, C);
        if (c->qkv_bias) {
            LAYER("self_attn.q_proj.bias", p.bq, Q, 0);
            LAYER("self_attn.k_proj.bias", p.bk, KV, 0);
            LAYER("self_attn.v_proj.bias", p.bv, KV, 0);
        }
        LAYER("self_attn.o_proj.weight", p.wo, C, Q);
        LAYER("post_attention_layernorm.weight", p.ffn_norm, C, 0);
        LAYER("mlp.gate_proj.weight", p.w_gate, H, C);
        LAYER("mlp.up_proj.weight", p.w_up, H, C);
        LAYER("mlp.down_proj.weight", p.w_down, C, H);
#undef LAYER
    }
    add_tensor(list, &n, "model.norm.weight", C, 0, OFF(p.final_norm));
    if (!c->tied_embeddings) add_tensor(list, &n, "lm_head.weight", V, C, OFF(p.lm_head));
#undef OFF
    *out = list;
    return n;
}

int model_init(Model *m, const ModelConfig *cfg)
{
    memset(m, 0, sizeof *m);
    if (config_validate(cfg, "model config") != 0) return -1;
    m->config = *cfg;
    m->n_params = model_param_count(cfg);
    m->params_memory = xalloc_floats(m->n_params);
    model_params_bind(cfg, m->params_memory, &m->params);
    return 0;
}

void model_init_random(Model *m, uint64_t seed)
{
    const ModelConfig *c = &m->config;
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < m->n_params; i++) m->params_memory[i] = 0.02f * rng_normal(&rng);

    size_t C = (size_t)c->dim, L = (size_t)c->n_layers;
    for (size_t i = 0; i < L * C; i++) {
        m->params.attn_norm[i] = 1.0f;
        m->params.ffn_norm[i] = 1.0f;
    }
    for (size_t i = 0; i < C; i++) m->params.final_norm[i] = 1.0f;
}

void model_free(Model *m)
{
    free(m->params_memory);
    memset(m, 0, sizeof *m);
}
