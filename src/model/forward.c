/* Forward pass of the decoder for training (see forward.h) and the activations it keeps. */
#include "model/forward.h"

#include <stdlib.h>
#include <omp.h>
#include <string.h>

#include "kernels/cpu.h"
#include "model/acts.h"
#include "util/error.h"
#include "util/log.h"

/* Carves the float buffers of `a` from one block; with a == NULL only counts. */
static size_t acts_layout(struct ModelActs *a, const ModelConfig *c, int B, int T, bool recompute,
                          float *base)
{
    size_t N = (size_t)B * T, C = (size_t)c->dim, H = (size_t)c->hidden_dim;
    size_t L = recompute ? 1 : (size_t)c->n_layers, HD = (size_t)c->head_dim;
    size_t L_res = (size_t)c->n_layers;
    size_t Q = (size_t)c->n_heads * HD, KV = (size_t)c->n_kv_heads * HD;
    size_t at = 0;
    /* Each buffer starts on a 64-byte boundary (16 floats). */
#define CARVE(field, count)                                            \
    do {                                                               \
        if (a) a->field = base + at;                                   \
        at += ((size_t)(count) + 15) & ~(size_t)15;                    \
    } while (0)
    CARVE(inv_freq, HD / 2);
    CARVE(rope_cos, N * HD / 2);
    CARVE(rope_sin, N * HD / 2);
    CARVE(res, (L_res + 1) * N * C);
    CARVE(mid, L * N * C);
    CARVE(rstd1, L * N);
    CARVE(rstd2, L * N);
    CARVE(q, L * N * Q);
    CARVE(k, L * N * KV);
    CARVE(v, L * N * KV);
    CARVE(att, L * N * Q);
    CARVE(lse, L * N * c->n_heads);
    CARVE(gate, L * N * H);
    CARVE(up, L * N * H);
    CARVE(rstd_final, N);
    CARVE(hidden, N * C);
    CARVE(xn, N * C);
    CARVE(hh, N * H);
    CARVE(d_res, N * C);
    CARVE(d_xn, N * C);
    CARVE(d_hh, N * H);
    CARVE(d_gate, N * H);
    CARVE(d_up, N * H);
    CARVE(d_att, N * Q);
    CARVE(d_q, N * Q);
    CARVE(d_k, N * KV);
    CARVE(d_v, N * KV);
    CARVE(att_scratch, attention_scratch_floats(T, omp_get_max_threads()));
    CARVE(att_head_scratch, attention_head_scratch_floats(B, T, c->n_heads, c->head_dim));
#undef CARVE
    return at;
}

size_t model_acts_floats(const ModelConfig *cfg, int B, int T)
{
    return acts_layout(NULL, cfg, B, T, false, NULL);
}

size_t model_acts_floats_opt(const ModelConfig *cfg, int B, int T, bool recompute)
{
    return acts_layout(NULL, cfg, B, T, recompute, NULL);
}

int model_acts_init(ModelActs **out, const ModelConfig *cfg, int B, int T)
{
    return model_acts_init_opt(out, cfg, B, T, false);
}

int model_acts_init_opt(ModelActs **out, const ModelConfig *cfg, int B, int T, bool recompute)
{
    *out = NULL;
    if (config_validate(cfg, "model_acts_init") != 0) return -1;
    if (B <= 0 || T <= 0 || (long)B * T > (1L << 24))
        return pf_fail("model_acts_init: batch %d x %d tokens is out of range", B, T);

    struct ModelActs *a = xcalloc(1, sizeof *a);
    a->cfg = *cfg;
    a->B_max = B;
    a->T_max = T;
    a->N_max = (long)B * T;
    a->recompute = recompute;
    a->att_threads = omp_get_max_threads();
    a->tokens = xcalloc((size_t)a->N_max, sizeof(int));
    a->segments = xcalloc((size_t)a->N_max, sizeof(int));
    a->memory = xalloc_floats(acts_layout(NULL, cfg, B, T, recompute, NULL));
    acts_layout(a, cfg, B, T, recompute, a->memory);
    config_rope_inv_freq(cfg, a->inv_freq);
    *out = a;
    return 0;
}

void model_acts_free(ModelActs *a)
{
    if (!a) return;
    free(a->memory);
    free(a->tokens);
    free(a->segments);
    free(a);
}

ModelTimes model_acts_times(const ModelActs *a) { return a->times; }

void model_acts_reset_times(ModelActs *a) { memset(&a->times, 0, sizeof a->times); }

/* y (N, out) = x (N, in) W^T (+ bias) for an nn.Linear weight W (out, in); beta 1 adds into y. */
static int linear_forward(ModelActs *a, float *y, const float *x, const float *w,
                          const float *bias, int N, int in, int out, float beta)
{
    double t0 = time_now();
    int rc = matmul(false, true, N, out, in, 1.0f, x, in, w, in, beta, y, out);
    if (rc == 0 && bias) bias_add(y, bias, N, out);
    a->times.matmul += time_now() - t0;
    return rc;
}

int model_layer_forward(const Model *m, ModelActs *a, int l, int B, int T, bool full)
{
    const ModelConfig *c = &m->config;
    const ModelParams *p = &m->params;
    int N = B * T, C = c->dim, H = c->hidden_dim, HD = c->head_dim;
    int Q = c->n_heads * HD, KV = c->n_kv_heads * HD;
    long NM = a->N_max, ls = acts_layer_slot(a, l);
    float *x = a->res + l * NM * C, *x_next = a->res + (l + 1) * NM * C;
    float *mid = a->mid + ls * NM * C;
    float *q = a->q + ls * NM * Q, *k = a->k + ls * NM * KV, *v = a->v + ls * NM * KV;
    float *att = a->att + ls * NM * Q, *gate = a->gate + ls * NM * H, *up = a->up + ls * NM * H;

    double t0 = time_now();
    rmsnorm_forward(a->xn, a->rstd1 + ls * NM, x, p->attn_norm + (long)l * C, N, C, c->norm_eps);
    a->times.other += time_now() - t0;
    if (linear_forward(a, q, a->xn, p->wq + (long)l * Q * C, p->bq ? p->bq + (long)l * Q : NULL,
                       N, C, Q, 0.0f) ||
        linear_forward(a, k, a->xn, p->wk + (long)l * KV * C,
                       p->bk ? p->bk + (long)l * KV : NULL, N, C, KV, 0.0f) ||
        linear_forward(a, v, a->xn, p->wv + (long)l * KV * C,
                       p->bv ? p->bv + (long)l * KV : NULL, N, C, KV, 0.0f))
        return -1;

    t0 = time_now();
    rope_forward(q, a->rope_cos, a->rope_sin, N, c->n_heads, HD, c->rope_interleaved);
    rope_forward(k, a->rope_cos, a->rope_sin, N, c->n_kv_heads, HD, c->rope_interleaved);
    double t1 = time_now();
    a->times.other += t1 - t0;
    int rc = attention_forward(att, a->lse + ls * NM * c->n_heads, q, k, v,
                               a->has_segments ? a->segments : NULL, B, T, c->n_heads,
                               c->n_kv_heads, HD, a->att_scratch, a->att_threads);
    a->times.attention += time_now() - t1;
    if (rc != 0) return -1;

    memcpy(mid, x, sizeof(float) * (size_t)N * C);
    if (linear_forward(a, mid, att, p->wo + (long)l * C * Q, NULL, N, Q, C, 1.0f)) return -1;

    t0 = time_now();
    rmsnorm_forward(a->xn, a->rstd2 + ls * NM, mid, p->ffn_norm + (long)l * C, N, C,
                    c->norm_eps);
    a->times.other += time_now() - t0;
    if (linear_forward(a, gate, a->xn, p->w_gate + (long)l * H * C, NULL, N, C, H, 0.0f) ||
        linear_forward(a, up, a->xn, p->w_up + (long)l * H * C, NULL, N, C, H, 0.0f))
        return -1;
    if (!full) return 0;
    t0 = time_now();
    swiglu_forward(a->hh, gate, up, (long)N * H);
    memcpy(x_next, mid, sizeof(float) * (size_t)N * C);
    a->times.other += time_now() - t0;
    return linear_forward(a, x_next, a->hh, p->w_down + (long)l * C * H, NULL, N, H, C, 1.0f);
}

int model_forward(const Model *m, ModelActs *a, const int *tokens, const int *positions,
                  const int *segments, int B, int T, float **hidden)
{
    const ModelConfig *c = &m->config;
    int N = B * T, C = c->dim;
    a->B = a->T = 0;
    if (B <= 0 || T <= 0 || B > a->B_max || T > a->T_max)
        return pf_fail("model_forward: batch %d x %d exceeds the %d x %d the activations hold",
                       B, T, a->B_max, a->T_max);
    if (c->dim != a->cfg.dim || c->n_layers != a->cfg.n_layers ||
        c->hidden_dim != a->cfg.hidden_dim || c->n_heads != a->cfg.n_heads ||
        c->n_kv_heads != a->cfg.n_kv_heads || c->head_dim != a->cfg.head_dim)
        return pf_fail("model_forward: activations were made for another model shape");
    for (int i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return pf_fail("model_forward: token %d at index %d is outside the vocabulary (%d)",
                           tokens[i], i, c->vocab_size);
        if (positions[i] < 0)
            return pf_fail("model_forward: position %d at index %d is negative", positions[i],
                           i);
    }

    double t0 = time_now();
    memcpy(a->tokens, tokens, sizeof(int) * (size_t)N);
    a->has_segments = segments != NULL;
    if (segments) memcpy(a->segments, segments, sizeof(int) * (size_t)N);
    rope_tables(a->rope_cos, a->rope_sin, positions, a->inv_freq, N, c->head_dim / 2);
    embedding_forward(a->res, tokens, m->params.tok_embedding, N, C);
    a->times.other += time_now() - t0;

    for (int l = 0; l < c->n_layers; l++) {
        if (model_layer_forward(m, a, l, B, T, true) != 0)
            return pf_fail_context("model_forward: layer %d", l);
    }

    t0 = time_now();
    rmsnorm_forward(a->hidden, a->rstd_final, a->res + (long)c->n_layers * a->N_max * C,
                    m->params.final_norm, N, C, c->norm_eps);
    a->times.other += time_now() - t0;
    a->B = B;
    a->T = T;
    *hidden = a->hidden;
    return 0;
}
