/* One-token-per-sequence decoding steps with a key/value cache (see infer.h). */
#include "model/infer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "util/error.h"

struct KVCache {
    ModelConfig cfg;
    int batch, max_seq;
    float *k;        /* (L, batch, max_seq, KV) */
    float *v;        /* (L, batch, max_seq, KV) */
    float *x;        /* (batch, C) residual stream */
    float *xn;       /* (batch, C) */
    float *q;        /* (batch, Q) */
    float *k_new;    /* (batch, KV) */
    float *v_new;    /* (batch, KV) */
    float *att;      /* (batch, Q) */
    float *gate;     /* (batch, H) */
    float *up;       /* (batch, H) */
    float *hh;       /* (batch, H) */
    float *rstd;     /* (batch) */
    float *inv_freq; /* (HD/2) */
    float *rope_cos; /* (batch, HD/2) */
    float *rope_sin; /* (batch, HD/2) */
    float *scores;   /* (batch, NH, max_seq) */
    int *len;        /* (batch) */
};

int kv_cache_init(KVCache **out, const ModelConfig *cfg, int batch, int max_seq)
{
    *out = NULL;
    if (config_validate(cfg, "kv_cache_init") != 0) return -1;
    if (batch <= 0 || max_seq <= 0 || (long)batch * max_seq > (1L << 26))
        return pf_fail("kv_cache_init: %d sequences x %d positions is out of range", batch,
                       max_seq);
    KVCache *c = xcalloc(1, sizeof *c);
    size_t L = (size_t)cfg->n_layers, C = (size_t)cfg->dim, H = (size_t)cfg->hidden_dim;
    size_t HD = (size_t)cfg->head_dim, Q = cfg->n_heads * HD, KV = cfg->n_kv_heads * HD;
    size_t nb = (size_t)batch, S = (size_t)max_seq;
    c->cfg = *cfg;
    c->batch = batch;
    c->max_seq = max_seq;
    c->k = xalloc_floats(L * nb * S * KV);
    c->v = xalloc_floats(L * nb * S * KV);
    c->x = xalloc_floats(nb * C);
    c->xn = xalloc_floats(nb * C);
    c->q = xalloc_floats(nb * Q);
    c->k_new = xalloc_floats(nb * KV);
    c->v_new = xalloc_floats(nb * KV);
    c->att = xalloc_floats(nb * Q);
    c->gate = xalloc_floats(nb * H);
    c->up = xalloc_floats(nb * H);
    c->hh = xalloc_floats(nb * H);
    c->rstd = xalloc_floats(nb);
    c->inv_freq = xalloc_floats(HD / 2);
    c->rope_cos = xalloc_floats(nb * HD / 2);
    c->rope_sin = xalloc_floats(nb * HD / 2);
    c->scores = xalloc_floats(nb * cfg->n_heads * S);
    c->len = xcalloc(nb, sizeof(int));
    config_rope_inv_freq(cfg, c->inv_freq);
    *out = c;
    return 0;
}

void kv_cache_free(KVCache *c)
{
    if (!c) return;
    float *bufs[] = {c->k,    c->v,  c->x,    c->xn,       c->q,        c->k_new,
                     c->v_new, c->att, c->gate, c->up,      c->hh,       c->rstd,
                     c->inv_freq, c->rope_cos, c->rope_sin, c->scores};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c->len);
    free(c);
}

/* y (n, out) = x (n, in) W^T (+ bias), beta 1 adds into y. */
static int linear(float *y, const float *x, const float *w, const float *bias, int n, int in,
                  int out, float beta)
{
    if (matmul(false, true, n, out, in, 1.0f, x, in, w, in, beta, y, out) != 0) return -1;
    if (bias) bias_add(y, bias, n, out);
    return 0;
}

static int layer_step(const Model *m, KVCache *c, int l, const int *positions, int n)
{
    const ModelConfig *cf = &m->config;
    const ModelParams *p = &m->params;
    int C = cf->dim, H = cf->hidden_dim, HD = cf->head_dim;
    int Q = cf->n_heads * HD, KV = cf->n_kv_heads * HD, S = c->max_seq;
    long layer_cache = (long)c->batch * S * KV;
    float *kc = c->k + l * layer_cache, *vc = c->v + l * layer_cache;

    rmsnorm_forward(c->xn, c->rstd, c->x, p->attn_norm + (long)l * C, n, C, cf->norm_eps);
    if (linear(c->q, c->xn, p->wq + (long)l * Q * C, p->bq ? p->bq + (long)l * Q : NULL, n, C,
               Q, 0.0f) ||
        linear(c->k_new, c->xn, p->wk + (long)l * KV * C, p->bk ? p->bk + (long)l * KV : NULL,
               n, C, KV, 0.0f) ||
        linear(c->v_new, c->xn, p->wv + (long)l * KV * C, p->bv ? p->bv + (long)l * KV : NULL,
               n, C, KV, 0.0f))
        return -1;
    rope_forward(c->q, c->rope_cos, c->rope_sin, n, cf->n_heads, HD, cf->rope_interleaved);
    rope_forward(c->k_new, c->rope_cos, c->rope_sin, n, cf->n_kv_heads, HD,
                 cf->rope_interleaved);
    for (int i = 0; i < n; i++) {
        long slot = ((long)i * S + positions[i]) * KV;
        memcpy(kc + slot, c->k_new + (long)i * KV, sizeof(float) * KV);
        memcpy(vc + slot, c->v_new + (long)i * KV, sizeof(float) * KV);
    }
    attention_decode(c->att, c->q, kc, vc, c->len, n, S, cf->n_heads, cf->n_kv_heads, HD,
                     c->scores);
    if (linear(c->x, c->att, p->wo + (long)l * C * Q, NULL, n, Q, C, 1.0f)) return -1;

    rmsnorm_forward(c->xn, c->rstd, c->x, p->ffn_norm + (long)l * C, n, C, cf->norm_eps);
    if (linear(c->gate, c->xn, p->w_gate + (long)l * H * C, NULL, n, C, H, 0.0f) ||
        linear(c->up, c->xn, p->w_up + (long)l * H * C, NULL, n, C, H, 0.0f))
        return -1;
    swiglu_forward(c->hh, c->gate, c->up, (long)n * H);
    return linear(c->x, c->hh, p->w_down + (long)l * C * H, NULL, n, H, C, 1.0f);
}

int model_step(const Model *m, KVCache *c, const int *tokens, const int *positions, int n,
               float *logits)
{
    const ModelConfig *cf = &m->config;
    if (n <= 0 || n > c->batch)
        return pf_fail("model_step: %d sequences, the cache holds %d", n, c->batch);
    if (cf->dim != c->cfg.dim || cf->n_layers != c->cfg.n_layers ||
        cf->n_kv_heads != c->cfg.n_kv_heads || cf->head_dim != c->cfg.head_dim ||
        cf->n_heads != c->cfg.n_heads || cf->hidden_dim != c->cfg.hidden_dim)
        return pf_fail("model_step: the cache was made for another model shape");
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= cf->vocab_size)
            return pf_fail("model_step: token %d of sequence %d is outside the vocabulary (%d)",
                           tokens[i], i, cf->vocab_size);
        if (positions[i] < 0 || positions[i] >= c->max_seq)
            return pf_fail("model_step: position %d of sequence %d is outside the cache (%d)",
                           positions[i], i, c->max_seq);
        c->len[i] = positions[i] + 1;
    }

    rope_tables(c->rope_cos, c->rope_sin, positions, c->inv_freq, n, cf->head_dim / 2);
    embedding_forward(c->x, tokens, m->params.tok_embedding, n, cf->dim);
    for (int l = 0; l < cf->n_layers; l++) {
        if (layer_step(m, c, l, positions, n) != 0)
            return pf_fail_context("model_step: layer %d", l);
    }
    rmsnorm_forward(c->xn, c->rstd, c->x, m->params.final_norm, n, cf->dim, cf->norm_eps);
    return linear(logits, c->xn, m->params.lm_head, NULL, n, cf->dim, cf->vocab_size, 0.0f);
}

/* Sorts ids by descending probability (qsort has no context argument, so pairs are sorted). */
typedef struct ProbId {
    float p;
    int id;
} ProbId;

static int prob_desc(const void *a, const void *b)
{
    float pa = ((const ProbId *)a)->p, pb = ((const ProbId *)b)->p;
    return pa < pb ? 1 : (pa > pb ? -1 : 0);
}

int sample_logits(float *logits, int V, float temperature, float top_p, Rng *rng)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    if (temperature <= 0.0f) return best;

    float mx = logits[best], sum = 0.0f;
    for (int v = 0; v < V; v++) {
        logits[v] = expf((logits[v] - mx) / temperature);
        sum += logits[v];
    }
    for (int v = 0; v < V; v++) logits[v] /= sum;
    float u = rng_uniform(rng);
    if (!(top_p > 0.0f && top_p < 1.0f)) {
        float cum = 0.0f;
        for (int v = 0; v < V; v++) {
            cum += logits[v];
            if (u < cum) return v;
        }
        return best; /* rounding left u above the total */
    }

    /* Nucleus: candidates above (1 - top_p) / (V - 1) can be in the set; sort those only. */
    float cutoff = (1.0f - top_p) / (float)(V > 1 ? V - 1 : 1);
    int n = 0;
    ProbId *pairs = xmalloc(sizeof(ProbId) * (size_t)V);
    for (int v = 0; v < V; v++)
        if (logits[v] >= cutoff) pairs[n++] = (ProbId){logits[v], v};
    qsort(pairs, (size_t)n, sizeof *pairs, prob_desc);
    float mass = 0.0f;
    int last = n - 1;
    for (int i = 0; i < n; i++) {
        mass += pairs[i].p;
        if (mass > top_p) {
            last = i;
            break;
        }
    }
    float cum = 0.0f, r = u * mass;
    int chosen = n > 0 ? pairs[last].id : best;
    for (int i = 0; i <= last; i++) {
        cum += pairs[i].p;
        if (r < cum) {
            chosen = pairs[i].id;
            break;
        }
    }
    free(pairs);
    return chosen;
}
