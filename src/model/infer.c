/* One-token-per-sequence decoding steps with a key/value cache (see infer.h). */
#include "model/infer.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "kernels/decode.h"
#include "util/error.h"

/* Prompt tokens one model_prefill pass takes at a time (longer prompts go in chunks): enough
 * rows for the GEMMs to run near their peak, few enough that the scratch stays small. */
#define PREFILL_CHUNK 128
/* Output rows per work item of a decoding step's projections (a multiple of 4). */
#define ROW_BLOCK 16
/* From this many sequences on, a step's large projections go through oneDNN's sgemm (each
 * thread on its share of the output rows), which beats linear_rows there (measured on Zen 3:
 * about 25 against 20 GFLOP/s per core at 16 rows; linear_rows wins 2x at 4 rows, 1.2x at 1). */
#define GEMM_MIN_ROWS 8

struct KVCache {
    ModelConfig cfg;
    int batch, max_seq;
    int chunk;       /* prompt tokens per prefill pass, <= max_seq */
    int rows;        /* max(batch, chunk): rows of the per-token buffers below */
    int n_threads;   /* threads the scratch was sized for (omp_get_max_threads at init) */
    float *k;        /* (L, batch, max_seq, KV) */
    float *v;        /* (L, batch, max_seq, KV) */
    float *x;        /* (rows, C) residual stream */
    float *xn;       /* (rows, C) normed input of a block (prefill) */
    float *xn_t;     /* (n_threads, batch, C) each thread's copy of it (decoding) */
    float *q;        /* (rows, Q) */
    float *k_new;    /* (batch, KV) */
    float *v_new;    /* (batch, KV) */
    float *att;      /* (rows, Q) */
    float *gate;     /* (rows, H) */
    float *up;       /* (rows, H) */
    float *hh;       /* (rows, H) */
    float *rstd;     /* (rows) */
    float *inv_freq; /* (HD/2) */
    float *rope_cos; /* (rows, HD/2) */
    float *rope_sin; /* (rows, HD/2) */
    float *scores;   /* (batch, NH, max_seq) decoding attention */
    float *pscratch; /* (n_threads, chunk, max_seq) prefill attention */
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
    c->chunk = max_seq < PREFILL_CHUNK ? max_seq : PREFILL_CHUNK;
    c->rows = batch > c->chunk ? batch : c->chunk;
    c->n_threads = omp_get_max_threads();
    size_t R = (size_t)c->rows, NT = (size_t)c->n_threads;
    c->k = xalloc_floats(L * nb * S * KV);
    c->v = xalloc_floats(L * nb * S * KV);
    c->x = xalloc_floats(R * C);
    c->xn = xalloc_floats(R * C);
    c->xn_t = xalloc_floats(NT * nb * C);
    c->q = xalloc_floats(R * Q);
    c->k_new = xalloc_floats(nb * KV);
    c->v_new = xalloc_floats(nb * KV);
    c->att = xalloc_floats(R * Q);
    c->gate = xalloc_floats(R * H);
    c->up = xalloc_floats(R * H);
    c->hh = xalloc_floats(R * H);
    c->rstd = xalloc_floats(R);
    c->inv_freq = xalloc_floats(HD / 2);
    c->rope_cos = xalloc_floats(R * HD / 2);
    c->rope_sin = xalloc_floats(R * HD / 2);
    c->scores = xalloc_floats(nb * cfg->n_heads * S);
    c->pscratch = xalloc_floats(NT * (size_t)c->chunk * S);
    c->len = xcalloc(nb, sizeof(int));
    config_rope_inv_freq(cfg, c->inv_freq);
    *out = c;
    return 0;
}

void kv_cache_free(KVCache *c)
{
    if (!c) return;
    float *bufs[] = {c->k,    c->v,      c->x,        c->xn,       c->xn_t,     c->q,
                     c->k_new, c->v_new, c->att,      c->gate,     c->up,       c->hh,
                     c->rstd, c->inv_freq, c->rope_cos, c->rope_sin, c->scores, c->pscratch};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c->len);
    free(c);
}

/* y (n, out) = x (n, in) W^T (+ bias), beta 1 adds into y; ldy is y's row stride. */
static int linear(float *y, int ldy, const float *x, const float *w, const float *bias, int n,
                  int in, int out, float beta)
{
    if (matmul(false, true, n, out, in, 1.0f, x, in, w, in, beta, y, ldy) != 0) return -1;
    if (bias) {
        for (int i = 0; i < n; i++)
            for (int r = 0; r < out; r++) y[(long)i * ldy + r] += bias[r];
    }
    return 0;
}

/* Rope tables for n consecutive or listed positions, without a parallel region (n is small). */
static void rope_rows(KVCache *c, const int *positions, int first, int n)
{
    int half = c->cfg.head_dim / 2;
    for (int i = 0; i < n; i++) {
        int pos = positions ? positions[i] : first + i;
        for (int j = 0; j < half; j++) {
            /* As rope_tables (kernels/cpu.c): the angle in fp32, rotated in double. */
            float angle = (float)pos * c->inv_freq[j];
            c->rope_cos[(long)i * half + j] = (float)cos((double)angle);
            c->rope_sin[(long)i * half + j] = (float)sin((double)angle);
        }
    }
}

static int check_shape(const Model *m, const KVCache *c, const char *who)
{
    const ModelConfig *cf = &m->config;
    if (cf->dim != c->cfg.dim || cf->n_layers != c->cfg.n_layers ||
        cf->n_kv_heads != c->cfg.n_kv_heads || cf->head_dim != c->cfg.head_dim ||
        cf->n_heads != c->cfg.n_heads || cf->hidden_dim != c->cfg.hidden_dim ||
        cf->vocab_size != c->cfg.vocab_size)
        return pf_fail("%s: the cache was made for another model shape", who);
    return 0;
}

/* Rows [0, R) of y (n, ldy) = x (n, ldx) W^T (+= y when accumulate), shared out between the
 * threads of the enclosing parallel region; returns with all threads past a barrier. Then, when
 * hh is non-NULL, the same rows of hh (n, R) = silu(y) * up, with up = x W_up^T computed for
 * the same rows (the SwiGLU gate and up projections). Sets *failed on a GEMM error. */
static void step_proj(float *y, const float *x, int ldx, const float *w, int n, int in, int R,
                      bool accumulate, const float *w_up, float *up, float *hh, int *failed)
{
    if (n < GEMM_MIN_ROWS) {
        int blocks = (R + ROW_BLOCK - 1) / ROW_BLOCK;
#pragma omp for schedule(dynamic, 1)
        for (int b = 0; b < blocks; b++) {
            int r0 = b * ROW_BLOCK, r1 = r0 + ROW_BLOCK < R ? r0 + ROW_BLOCK : R;
            linear_rows(y, R, x, ldx, w, NULL, n, in, r0, r1, accumulate);
            if (!hh) continue;
            linear_rows(up, R, x, ldx, w_up, NULL, n, in, r0, r1, false);
            for (int i = 0; i < n; i++)
                swiglu_row(hh + (long)i * R + r0, y + (long)i * R + r0, up + (long)i * R + r0,
                           r1 - r0);
        }
        return;
    }
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int r0 = (int)((long)R * t / nt) & ~3;
    int r1 = t + 1 == nt ? R : (int)((long)R * (t + 1) / nt) & ~3;
    if (r1 > r0) {
        float beta = accumulate ? 1.0f : 0.0f;
        int bad = matmul(false, true, n, r1 - r0, in, 1.0f, x, ldx, w + (long)r0 * in, in, beta,
                         y + r0, R) != 0;
        if (hh && !bad) {
            bad = matmul(false, true, n, r1 - r0, in, 1.0f, x, ldx, w_up + (long)r0 * in, in,
                         0.0f, up + r0, R) != 0;
            for (int i = 0; i < n && !bad; i++)
                swiglu_row(hh + (long)i * R + r0, y + (long)i * R + r0, up + (long)i * R + r0,
                           r1 - r0);
        }
        if (bad) {
#pragma omp atomic write
            *failed = 1;
        }
    }
#pragma omp barrier
}

/* The decoding step's body, run by every thread of one parallel region: each projection's
 * output rows are shared out between threads (one barrier per projection group), the small
 * per-token work (RMSNorm) is repeated by every thread into its own copy so that it needs no
 * barrier, and RoPE and the cache writes are done by the thread that made the head. */
static void step_body(const Model *m, KVCache *c, const int *positions, int n, float *logits,
                      int *failed)
{
    const ModelConfig *cf = &m->config;
    const ModelParams *p = &m->params;
    int C = cf->dim, H = cf->hidden_dim, HD = cf->head_dim, V = cf->vocab_size;
    int NH = cf->n_heads, NKV = cf->n_kv_heads, rep = NH / NKV;
    int Q = NH * HD, KV = NKV * HD, S = c->max_seq, half = HD / 2;
    long layer_cache = (long)c->batch * S * KV;
    float *xn = c->xn_t + (long)omp_get_thread_num() * c->batch * C; // (n, C), this thread's

    for (int l = 0; l < cf->n_layers; l++) {
        float *kc = c->k + l * layer_cache, *vc = c->v + l * layer_cache;
        for (int i = 0; i < n; i++)
            rmsnorm_row(xn + (long)i * C, c->x + (long)i * C, p->attn_norm + (long)l * C, C,
                        cf->norm_eps);
        /* q heads, then k heads, then v heads. */
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < NH + 2 * NKV; task++) {
            if (task < NH) {
                int r0 = task * HD;
                linear_rows(c->q, Q, xn, C, p->wq + (long)l * Q * C,
                            p->bq ? p->bq + (long)l * Q : NULL, n, C, r0, r0 + HD, false);
                for (int i = 0; i < n; i++)
                    rope_head(c->q + (long)i * Q + r0, c->rope_cos + (long)i * half,
                              c->rope_sin + (long)i * half, HD, cf->rope_interleaved);
                continue;
            }
            bool is_k = task < NH + NKV;
            int r0 = (is_k ? task - NH : task - NH - NKV) * HD;
            float *dst = is_k ? c->k_new : c->v_new, *cache = is_k ? kc : vc;
            const float *w = (is_k ? p->wk : p->wv) + (long)l * KV * C;
            const float *b = is_k ? p->bk : p->bv;
            linear_rows(dst, KV, xn, C, w, b ? b + (long)l * KV : NULL, n, C, r0, r0 + HD,
                        false);
            for (int i = 0; i < n; i++) {
                float *row = dst + (long)i * KV + r0;
                if (is_k)
                    rope_head(row, c->rope_cos + (long)i * half, c->rope_sin + (long)i * half,
                              HD, cf->rope_interleaved);
                memcpy(cache + ((long)i * S + positions[i]) * KV + r0, row, sizeof(float) * HD);
            }
        }
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n * NH; task++) {
            int i = task / NH, h = task % NH, g = h / rep;
            attention_head_decode(c->att + (long)i * Q + h * HD, c->q + (long)i * Q + h * HD,
                                  kc + (long)i * S * KV + g * HD, vc + (long)i * S * KV + g * HD,
                                  KV, c->len[i], HD, c->scores + (long)task * S);
        }
        step_proj(c->x, c->att, Q, p->wo + (long)l * C * Q, n, Q, C, true, NULL, NULL, NULL,
                  failed);
        for (int i = 0; i < n; i++)
            rmsnorm_row(xn + (long)i * C, c->x + (long)i * C, p->ffn_norm + (long)l * C, C,
                        cf->norm_eps);
        step_proj(c->gate, xn, C, p->w_gate + (long)l * H * C, n, C, H, false,
                  p->w_up + (long)l * H * C, c->up, c->hh, failed);
        step_proj(c->x, c->hh, H, p->w_down + (long)l * C * H, n, H, C, true, NULL, NULL, NULL,
                  failed);
    }
    for (int i = 0; i < n; i++)
        rmsnorm_row(xn + (long)i * C, c->x + (long)i * C, p->final_norm, C, cf->norm_eps);
    step_proj(logits, xn, C, p->lm_head, n, C, V, false, NULL, NULL, NULL, failed);
}

int model_step(const Model *m, KVCache *c, const int *tokens, const int *positions, int n,
               float *logits)
{
    const ModelConfig *cf = &m->config;
    if (n <= 0 || n > c->batch)
        return pf_fail("model_step: %d sequences, the cache holds %d", n, c->batch);
    if (check_shape(m, c, "model_step") != 0) return -1;
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= cf->vocab_size)
            return pf_fail("model_step: token %d of sequence %d is outside the vocabulary (%d)",
                           tokens[i], i, cf->vocab_size);
        if (positions[i] < 0 || positions[i] >= c->max_seq)
            return pf_fail("model_step: position %d of sequence %d is outside the cache (%d)",
                           positions[i], i, c->max_seq);
        c->len[i] = positions[i] + 1;
    }
    rope_rows(c, positions, 0, n);
    for (int i = 0; i < n; i++)
        memcpy(c->x + (long)i * cf->dim, m->params.tok_embedding + (long)tokens[i] * cf->dim,
               sizeof(float) * cf->dim);
    int failed = 0;
#pragma omp parallel num_threads(c->n_threads)
    step_body(m, c, positions, n, logits, &failed);
    /* A worker's own message is thread-local; report on the calling thread. */
    return failed ? pf_fail("model_step: a GEMM failed (%d sequences)", n) : 0;
}

/* One prompt chunk of N tokens at positions p0.. of sequence `slot` through all layers; the
 * residual stream of its tokens is left in c->x. */
static int prefill_chunk(const Model *m, KVCache *c, int slot, const int *tokens, int p0, int N)
{
    const ModelConfig *cf = &m->config;
    const ModelParams *p = &m->params;
    int C = cf->dim, H = cf->hidden_dim, HD = cf->head_dim, S = c->max_seq;
    int Q = cf->n_heads * HD, KV = cf->n_kv_heads * HD;
    long layer_cache = (long)c->batch * S * KV, slot_off = (long)slot * S * KV;
    rope_rows(c, NULL, p0, N);
    for (int i = 0; i < N; i++)
        memcpy(c->x + (long)i * C, p->tok_embedding + (long)tokens[i] * C, sizeof(float) * C);
    for (int l = 0; l < cf->n_layers; l++) {
        float *kc = c->k + l * layer_cache + slot_off, *vc = c->v + l * layer_cache + slot_off;
        float *k_new = kc + (long)p0 * KV, *v_new = vc + (long)p0 * KV; // (N, KV) in the cache
        rmsnorm_forward(c->xn, c->rstd, c->x, p->attn_norm + (long)l * C, N, C, cf->norm_eps);
        if (linear(c->q, Q, c->xn, p->wq + (long)l * Q * C, p->bq ? p->bq + (long)l * Q : NULL,
                   N, C, Q, 0.0f) ||
            linear(k_new, KV, c->xn, p->wk + (long)l * KV * C,
                   p->bk ? p->bk + (long)l * KV : NULL, N, C, KV, 0.0f) ||
            linear(v_new, KV, c->xn, p->wv + (long)l * KV * C,
                   p->bv ? p->bv + (long)l * KV : NULL, N, C, KV, 0.0f))
            return -1;
        rope_forward(c->q, c->rope_cos, c->rope_sin, N, cf->n_heads, HD, cf->rope_interleaved);
        rope_forward(k_new, c->rope_cos, c->rope_sin, N, cf->n_kv_heads, HD,
                     cf->rope_interleaved);
        if (attention_prefill(c->att, c->q, kc, vc, p0, N, cf->n_heads, cf->n_kv_heads, HD,
                              c->pscratch, c->n_threads) != 0 ||
            linear(c->x, C, c->att, p->wo + (long)l * C * Q, NULL, N, Q, C, 1.0f) != 0)
            return -1;
        rmsnorm_forward(c->xn, c->rstd, c->x, p->ffn_norm + (long)l * C, N, C, cf->norm_eps);
        if (linear(c->gate, H, c->xn, p->w_gate + (long)l * H * C, NULL, N, C, H, 0.0f) ||
            linear(c->up, H, c->xn, p->w_up + (long)l * H * C, NULL, N, C, H, 0.0f))
            return -1;
        swiglu_forward(c->hh, c->gate, c->up, (long)N * H);
        if (linear(c->x, C, c->hh, p->w_down + (long)l * C * H, NULL, N, H, C, 1.0f) != 0)
            return -1;
    }
    return 0;
}

int model_prefill(const Model *m, KVCache *c, int slot, const int *tokens, int pos0, int n,
                  float *logits_last)
{
    const ModelConfig *cf = &m->config;
    if (slot < 0 || slot >= c->batch)
        return pf_fail("model_prefill: sequence %d, the cache holds %d", slot, c->batch);
    if (check_shape(m, c, "model_prefill") != 0) return -1;
    if (n <= 0 || pos0 < 0 || pos0 > c->max_seq - n)
        return pf_fail("model_prefill: positions %d..%d are outside the cache (%d)", pos0,
                       pos0 + n - 1, c->max_seq);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cf->vocab_size)
            return pf_fail("model_prefill: token %d at position %d is outside the vocabulary "
                           "(%d)", tokens[i], pos0 + i, cf->vocab_size);
    int N = 0;
    for (int off = 0; off < n; off += N) {
        N = n - off < c->chunk ? n - off : c->chunk;
        if (prefill_chunk(m, c, slot, tokens + off, pos0 + off, N) != 0)
            return pf_fail_context("model_prefill: positions %d..%d", pos0 + off,
                                   pos0 + off + N - 1);
    }
    if (!logits_last) return 0;
    int C = cf->dim, V = cf->vocab_size;
    rmsnorm_row(c->xn, c->x + (long)(N - 1) * C, m->params.final_norm, C, cf->norm_eps);
    int v_blocks = (V + 4 * ROW_BLOCK - 1) / (4 * ROW_BLOCK);
#pragma omp parallel for num_threads(c->n_threads) schedule(dynamic, 4)
    for (int b = 0; b < v_blocks; b++) {
        int r0 = b * 4 * ROW_BLOCK, r1 = r0 + 4 * ROW_BLOCK < V ? r0 + 4 * ROW_BLOCK : V;
        linear_rows(logits_last, V, c->xn, C, m->params.lm_head, NULL, 1, C, r0, r1, false);
    }
    return 0;
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

    /* Nucleus: candidates above (1 - top_p) / (V - 1) can be in the set; sort those only. They
     * go on the stack unless there are more than it holds (a nearly flat distribution). */
    float cutoff = (1.0f - top_p) / (float)(V > 1 ? V - 1 : 1);
    int n = 0;
    for (int v = 0; v < V; v++) n += logits[v] >= cutoff;
    ProbId stack_pairs[2048];
    ProbId *pairs = n <= 2048 ? stack_pairs : xmalloc(sizeof(ProbId) * (size_t)n);
    n = 0;
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
    if (pairs != stack_pairs) free(pairs);
    return chosen;
}
