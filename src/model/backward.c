/* Backward pass of the decoder (see forward.h): from the gradient of the final hidden state to
 * parameter gradients, layer by layer in reverse, recomputing the cheap normed inputs and the
 * SwiGLU product instead of keeping them. */
#include <string.h>

#include "kernels/cpu.h"
#include "model/acts.h"
#include "model/forward.h"
#include "util/error.h"
#include "util/log.h"

/* For y = x W^T with W (out, in): dW (out, in) += dy^T x and dx (N, in) = dy W (+ dx when
 * beta is 1). */
static int linear_backward(ModelActs *a, float *dx, float *dw, const float *dy, const float *x,
                           const float *w, int N, int in, int out, float beta)
{
    double t0 = time_now();
    int rc = matmul(true, false, out, in, N, 1.0f, dy, out, x, in, 1.0f, dw, in);
    if (rc == 0) rc = matmul(false, false, N, in, out, 1.0f, dy, out, w, in, beta, dx, in);
    a->times.matmul += time_now() - t0;
    return rc;
}

/* The feed-forward block of layer l: d_res (gradient of the layer's output) gains the
 * gradient that flows through the block into `mid`. */
static int ffn_backward(const Model *m, ModelActs *a, int l, int N, ModelParams *g)
{
    const ModelConfig *c = &m->config;
    const ModelParams *p = &m->params;
    int C = c->dim, H = c->hidden_dim;
    long NM = a->N_max, ls = acts_layer_slot(a, l);
    const float *mid = a->mid + ls * NM * C, *rstd2 = a->rstd2 + ls * NM;
    const float *gate = a->gate + ls * NM * H, *up = a->up + ls * NM * H;
    long wo = (long)l * H * C;

    double t0 = time_now();
    rmsnorm_apply(a->xn, mid, p->ffn_norm + (long)l * C, rstd2, N, C);
    swiglu_forward(a->hh, gate, up, (long)N * H);
    a->times.other += time_now() - t0;

    if (linear_backward(a, a->d_hh, g->w_down + wo, a->d_res, a->hh, p->w_down + wo, N, H, C,
                        0.0f))
        return -1;
    t0 = time_now();
    swiglu_backward(a->d_gate, a->d_up, a->d_hh, gate, up, (long)N * H);
    a->times.other += time_now() - t0;
    if (linear_backward(a, a->d_xn, g->w_gate + wo, a->d_gate, a->xn, p->w_gate + wo, N, C, H,
                        0.0f) ||
        linear_backward(a, a->d_xn, g->w_up + wo, a->d_up, a->xn, p->w_up + wo, N, C, H, 1.0f))
        return -1;

    t0 = time_now();
    rmsnorm_backward(a->d_res, g->ffn_norm + (long)l * C, a->d_xn, mid, p->ffn_norm + (long)l * C,
                     rstd2, N, C);
    a->times.other += time_now() - t0;
    return 0;
}

/* The attention block of layer l: d_res (gradient of `mid`) gains the gradient into the
 * layer's input. */
static int attention_block_backward(const Model *m, ModelActs *a, int l, ModelParams *g)
{
    const ModelConfig *c = &m->config;
    const ModelParams *p = &m->params;
    int B = a->B, T = a->T, N = B * T, C = c->dim, HD = c->head_dim;
    int NH = c->n_heads, NKV = c->n_kv_heads, Q = NH * HD, KV = NKV * HD;
    long NM = a->N_max, ls = acts_layer_slot(a, l);
    const float *x = a->res + l * NM * C, *rstd1 = a->rstd1 + ls * NM;
    const float *q = a->q + ls * NM * Q, *k = a->k + ls * NM * KV, *v = a->v + ls * NM * KV;
    const float *att = a->att + ls * NM * Q;

    if (linear_backward(a, a->d_att, g->wo + (long)l * C * Q, a->d_res, att,
                        p->wo + (long)l * C * Q, N, Q, C, 0.0f))
        return -1;

    double t0 = time_now();
    int rc = attention_backward_heads(a->d_q, a->d_k, a->d_v, a->d_att, att,
                                      a->lse + ls * NM * NH, q, k, v,
                                      a->has_segments ? a->segments : NULL, B, T, NH, NKV, HD,
                                      a->att_scratch, a->att_threads, a->att_head_scratch);
    double t1 = time_now();
    a->times.attention += t1 - t0;
    if (rc != 0) return -1;

    rope_backward(a->d_q, a->rope_cos, a->rope_sin, N, NH, HD, c->rope_interleaved);
    rope_backward(a->d_k, a->rope_cos, a->rope_sin, N, NKV, HD, c->rope_interleaved);
    if (g->bq) {
        bias_backward(g->bq + (long)l * Q, a->d_q, N, Q);
        bias_backward(g->bk + (long)l * KV, a->d_k, N, KV);
        bias_backward(g->bv + (long)l * KV, a->d_v, N, KV);
    }
    rmsnorm_apply(a->xn, x, p->attn_norm + (long)l * C, rstd1, N, C);
    a->times.other += time_now() - t1;

    if (linear_backward(a, a->d_xn, g->wq + (long)l * Q * C, a->d_q, a->xn,
                        p->wq + (long)l * Q * C, N, C, Q, 0.0f) ||
        linear_backward(a, a->d_xn, g->wk + (long)l * KV * C, a->d_k, a->xn,
                        p->wk + (long)l * KV * C, N, C, KV, 1.0f) ||
        linear_backward(a, a->d_xn, g->wv + (long)l * KV * C, a->d_v, a->xn,
                        p->wv + (long)l * KV * C, N, C, KV, 1.0f))
        return -1;

    t0 = time_now();
    rmsnorm_backward(a->d_res, g->attn_norm + (long)l * C, a->d_xn, x,
                     p->attn_norm + (long)l * C, rstd1, N, C);
    a->times.other += time_now() - t0;
    return 0;
}

int model_backward(const Model *m, ModelActs *a, const float *d_hidden, ModelParams *grads)
{
    const ModelConfig *c = &m->config;
    if (a->B == 0) return pf_fail("model_backward: no model_forward ran on these activations");
    int N = a->B * a->T, C = c->dim, L = c->n_layers;

    double t0 = time_now();
    memset(a->d_res, 0, sizeof(float) * (size_t)N * C);
    rmsnorm_backward(a->d_res, grads->final_norm, d_hidden, a->res + (long)L * a->N_max * C,
                     m->params.final_norm, a->rstd_final, N, C);
    a->times.other += time_now() - t0;

    for (int l = L - 1; l >= 0; l--) {
        if (a->recompute) {
            t0 = time_now();
            int rc = model_layer_forward(m, a, l, a->B, a->T, false);
            a->times.recompute += time_now() - t0;
            if (rc != 0) return pf_fail_context("model_backward: recomputing layer %d", l);
        }
        if (ffn_backward(m, a, l, N, grads) != 0 || attention_block_backward(m, a, l, grads) != 0)
            return pf_fail_context("model_backward: layer %d", l);
    }

    t0 = time_now();
    embedding_backward(grads->tok_embedding, a->tokens, a->d_res, N, C);
    a->times.other += time_now() - t0;
    return 0;
}
