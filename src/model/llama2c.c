/* llama2.c checkpoint loading, versions 0 and 1 (see llama2c.h). */
#include "model/llama2c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu.h"
#include "util/error.h"
#include "util/fileio.h"

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    return (int32_t)u;
}

/* Fills cfg from the 7 header ints; *shared tells whether the classifier is tied. */
static int header_config(const char *path, const uint8_t *h, int version, int shared,
                         ModelConfig *cfg)
{
    config_defaults(cfg);
    cfg->dim = rd_i32(h);
    cfg->hidden_dim = rd_i32(h + 4);
    cfg->n_layers = rd_i32(h + 8);
    cfg->n_heads = rd_i32(h + 12);
    cfg->n_kv_heads = rd_i32(h + 16);
    int32_t vocab = rd_i32(h + 20);
    cfg->max_seq_len = rd_i32(h + 24);
    if (version == 0) {
        shared = vocab > 0;
        if (vocab == INT32_MIN)
            return pf_fail("%s: vocab_size %d in the header is out of range", path, vocab);
        vocab = vocab < 0 ? -vocab : vocab;
    }
    cfg->vocab_size = vocab;
    cfg->tied_embeddings = shared;
    cfg->head_dim = cfg->n_heads > 0 ? cfg->dim / cfg->n_heads : 0;
    cfg->bos_token_id = 1;
    cfg->eos_token_id = 2;
    if (cfg->n_heads > 0 && cfg->dim % cfg->n_heads)
        return pf_fail("%s: dim %d is not a multiple of n_heads %d", path, cfg->dim,
                       cfg->n_heads);
    return config_validate(cfg, path);
}

/* Copies `count` floats from the file cursor into dst. */
static const uint8_t *take(const uint8_t *p, float *dst, size_t count)
{
    memcpy(dst, p, count * sizeof(float));
    return p + count * sizeof(float);
}

int llama2c_load(const char *path, Model *out)
{
    memset(out, 0, sizeof *out);
    MappedFile mf;
    if (file_map(path, &mf)) return -1;
    const uint8_t *p = mf.data;
    int rc = -1, version = 0, shared = 0;
    size_t header = 28;
    ModelConfig cfg;

    if (mf.size >= 4 && (uint32_t)rd_i32(p) == LLAMA2C_MAGIC) {
        if (mf.size < 256) {
            pf_fail("%s: llama2.c v1 header truncated (%zu bytes, 256 needed)", path, mf.size);
            goto done;
        }
        version = rd_i32(p + 4);
        if (version != 1) {
            pf_fail("%s: llama2.c version %d is not supported (0 and 1 are)", path, version);
            goto done;
        }
        shared = p[36] != 0;
        if (header_config(path, p + 8, 1, shared, &cfg)) goto done;
        header = 256;
    } else {
        if (mf.size < 28) {
            pf_fail("%s: too short for a llama2.c header (%zu bytes)", path, mf.size);
            goto done;
        }
        if (header_config(path, p, 0, 0, &cfg)) goto done;
    }

    size_t C = (size_t)cfg.dim, H = (size_t)cfg.hidden_dim, L = (size_t)cfg.n_layers;
    size_t V = (size_t)cfg.vocab_size, HD = (size_t)cfg.head_dim;
    size_t expected = model_param_count(&cfg) * sizeof(float) + header;
    if (version == 0) expected += (size_t)cfg.max_seq_len * HD * sizeof(float);
    if (mf.size != expected) {
        pf_fail("%s: file is %zu bytes but a llama2.c v%d checkpoint with this header (dim %d, "
                "hidden %d, layers %d, heads %d/%d, vocab %d%s, seq_len %d) has %zu", path,
                mf.size, version, cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads,
                cfg.n_kv_heads, cfg.vocab_size, shared || cfg.tied_embeddings ? " tied" : "",
                cfg.max_seq_len, expected);
        goto done;
    }
    if (model_init(out, &cfg)) goto done;

    ModelParams *w = &out->params;
    size_t Q = (size_t)cfg.n_heads * HD, KV = (size_t)cfg.n_kv_heads * HD;
    const uint8_t *at = p + header;
    if (version == 0) {
        at = take(at, w->tok_embedding, V * C);
        at = take(at, w->attn_norm, L * C);
        at = take(at, w->wq, L * Q * C);
        at = take(at, w->wk, L * KV * C);
        at = take(at, w->wv, L * KV * C);
        at = take(at, w->wo, L * C * Q);
        at = take(at, w->ffn_norm, L * C);
        at = take(at, w->w_gate, L * H * C);
        at = take(at, w->w_down, L * C * H);
        at = take(at, w->w_up, L * H * C);
        at = take(at, w->final_norm, C);
        at += (size_t)cfg.max_seq_len * HD * sizeof(float); /* freq_cis_real, freq_cis_imag */
    } else {
        at = take(at, w->final_norm, C);
        at = take(at, w->attn_norm, L * C);
        at = take(at, w->ffn_norm, L * C);
        at = take(at, w->tok_embedding, V * C);
        at = take(at, w->wq, L * Q * C);
        at = take(at, w->wk, L * KV * C);
        at = take(at, w->wv, L * KV * C);
        at = take(at, w->wo, L * C * Q);
        at = take(at, w->w_gate, L * H * C);
        at = take(at, w->w_down, L * C * H);
        at = take(at, w->w_up, L * H * C);
    }
    if (!cfg.tied_embeddings) at = take(at, w->lm_head, V * C);

    for (size_t l = 0; l < L; l++) {
        rope_permute_to_half(w->wq + l * Q * C, cfg.n_heads, cfg.head_dim, cfg.dim);
        rope_permute_to_half(w->wk + l * KV * C, cfg.n_kv_heads, cfg.head_dim, cfg.dim);
    }
    rc = 0;
done:
    file_unmap(&mf);
    return rc;
}
