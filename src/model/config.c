/* Defaults, validation and RoPE frequencies of a ModelConfig (see config.h). */
#include "model/config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "util/error.h"

void config_defaults(ModelConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->arch, "llama");
    cfg->norm_eps = 1e-5f;
    cfg->rope_theta = 10000.0f;
    cfg->rope_factor = 1.0f;
    cfg->max_seq_len = 2048;
    cfg->bos_token_id = -1;
    cfg->eos_token_id = -1;
}

int config_validate(const ModelConfig *c, const char *source)
{
    /* Limits are far above any real model and keep every size product inside 64 bits. */
    const int limit = 1 << 20;
    struct { const char *name; int value; } fields[] = {
        {"dim", c->dim},           {"hidden_dim", c->hidden_dim}, {"n_layers", c->n_layers},
        {"n_heads", c->n_heads},   {"n_kv_heads", c->n_kv_heads}, {"head_dim", c->head_dim},
        {"vocab_size", c->vocab_size},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value <= 0 || fields[i].value > limit)
            return pf_fail("%s: %s = %d is out of range (1 to %d)", source, fields[i].name,
                           fields[i].value, limit);
    }
    if (c->n_heads % c->n_kv_heads != 0)
        return pf_fail("%s: n_heads = %d is not a multiple of n_kv_heads = %d", source,
                       c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return pf_fail("%s: head_dim = %d must be even for RoPE", source, c->head_dim);
    if (c->max_seq_len <= 0)
        return pf_fail("%s: max_seq_len = %d must be positive", source, c->max_seq_len);
    if (!(c->norm_eps > 0.0f) || !(c->rope_theta > 0.0f))
        return pf_fail("%s: norm_eps and rope_theta must be positive", source);
    if (c->rope_scaling != ROPE_SCALING_NONE && !(c->rope_factor > 0.0f))
        return pf_fail("%s: rope scaling factor must be positive", source);

    double params = (double)c->vocab_size * c->dim * 2 +
                    (double)c->n_layers * c->dim * (4.0 * c->n_heads * c->head_dim + 3.0 *
                                                    c->hidden_dim);
    if (params > (double)(INT64_C(1) << 36))
        return pf_fail("%s: %.3g parameters is more than this engine can hold", source, params);
    return 0;
}

void config_rope_inv_freq(const ModelConfig *c, float *inv_freq)
{
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double freq = 1.0 / pow((double)c->rope_theta, (2.0 * i) / (double)c->head_dim);
        if (c->rope_scaling == ROPE_SCALING_LINEAR) {
            freq /= c->rope_factor;
        } else if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
            /* As transformers' _compute_llama3_parameters. */
            double low_wavelen = c->rope_original_max_pos / c->rope_low_freq_factor;
            double high_wavelen = c->rope_original_max_pos / c->rope_high_freq_factor;
            double wavelen = 2.0 * M_PI / freq;
            if (wavelen > low_wavelen) {
                freq /= c->rope_factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (c->rope_original_max_pos / wavelen - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                freq = (1.0 - smooth) * freq / c->rope_factor + smooth * freq;
            }
        }
        inv_freq[i] = (float)freq;
    }
}
