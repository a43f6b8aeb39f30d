/* config.json parsing and writing with jansson (see hf_config.h). */
#include "model/hf_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/fileio.h"

/* Reads an optional integer field; absent or null leaves *out unchanged. */
static int get_int(json_t *root, const char *src, const char *key, int required, int *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (required) return pf_fail("%s: missing field '%s'", src, key);
        return 0;
    }
    if (!json_is_integer(v))
        return pf_fail("%s: field '%s' must be an integer", src, key);
    json_int_t x = json_integer_value(v);
    if (x < -(1LL << 31) || x > (1LL << 31) - 1)
        return pf_fail("%s: field '%s' = %lld is out of range", src, key, (long long)x);
    *out = (int)x;
    return 0;
}

static int get_float(json_t *root, const char *src, const char *key, float *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return pf_fail("%s: field '%s' must be a number", src, key);
    *out = (float)json_number_value(v);
    return 0;
}

static int get_bool(json_t *root, const char *src, const char *key, bool *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return pf_fail("%s: field '%s' must be true or false", src, key);
    *out = json_is_true(v);
    return 0;
}

static int parse_rope_scaling(json_t *root, const char *src, ModelConfig *c)
{
    json_t *rs = json_object_get(root, "rope_scaling");
    if (!rs || json_is_null(rs)) return 0;
    if (!json_is_object(rs)) return pf_fail("%s: field 'rope_scaling' must be an object", src);
    json_t *type = json_object_get(rs, "rope_type");
    if (!type) type = json_object_get(rs, "type");
    if (!json_is_string(type))
        return pf_fail("%s: rope_scaling has no string 'rope_type' or 'type'", src);
    const char *t = json_string_value(type);
    if (strcmp(t, "default") == 0) return 0;

    if (strcmp(t, "linear") == 0) c->rope_scaling = ROPE_SCALING_LINEAR;
    else if (strcmp(t, "llama3") == 0) c->rope_scaling = ROPE_SCALING_LLAMA3;
    else return pf_fail("%s: rope_scaling type '%s' is not supported (linear, llama3 are)",
                        src, t);
    if (!json_is_number(json_object_get(rs, "factor")))
        return pf_fail("%s: rope_scaling.factor must be a number", src);
    if (get_float(rs, src, "factor", &c->rope_factor)) return -1;
    if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
        const char *need[] = {"low_freq_factor", "high_freq_factor",
                              "original_max_position_embeddings"};
        for (int i = 0; i < 3; i++)
            if (!json_is_number(json_object_get(rs, need[i])))
                return pf_fail("%s: rope_scaling.%s must be a number for llama3", src, need[i]);
        if (get_float(rs, src, "low_freq_factor", &c->rope_low_freq_factor) ||
            get_float(rs, src, "high_freq_factor", &c->rope_high_freq_factor) ||
            get_int(rs, src, "original_max_position_embeddings", 1, &c->rope_original_max_pos))
            return -1;
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
            !(c->rope_low_freq_factor > 0) || c->rope_original_max_pos <= 0)
            return pf_fail("%s: rope_scaling llama3 needs 0 < low_freq_factor < "
                           "high_freq_factor and original_max_position_embeddings > 0", src);
    }
    return 0;
}

/* Refuses what the engine does not implement. */
static int refuse_unsupported(json_t *root, const char *src, const ModelConfig *c)
{
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !(json_is_string(act) && strcmp(json_string_value(act), "silu") == 0))
        return pf_fail("%s: hidden_act must be \"silu\"", src);
    const char *moe[] = {"num_local_experts", "num_experts", "n_routed_experts"};
    for (int i = 0; i < 3; i++) {
        json_t *v = json_object_get(root, moe[i]);
        if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 0))
            return pf_fail("%s: mixture-of-experts models ('%s') are not supported", src,
                           moe[i]);
    }
    bool mlp_bias = false;
    if (get_bool(root, src, "mlp_bias", &mlp_bias)) return -1;
    if (mlp_bias) return pf_fail("%s: mlp_bias is not supported", src);

    json_t *sw = json_object_get(root, "sliding_window");
    bool use_sw = strcmp(c->arch, "qwen2") != 0; /* qwen2 has use_sliding_window */
    if (get_bool(root, src, "use_sliding_window", &use_sw)) return -1;
    if (use_sw && sw && !json_is_null(sw)) {
        if (!json_is_integer(sw)) return pf_fail("%s: field 'sliding_window' must be an integer",
                                                 src);
        if (json_integer_value(sw) < c->max_seq_len)
            return pf_fail("%s: sliding-window attention (sliding_window = %lld) is not "
                           "supported", src, (long long)json_integer_value(sw));
    }
    return 0;
}

int hf_config_parse_text(const char *text, size_t len, const char *src, ModelConfig *c)
{
    json_error_t err;
    json_t *root = json_loadb(text, len, 0, &err);
    if (!root) return pf_fail("%s: invalid JSON at line %d: %s", src, err.line, err.text);
    int rc = -1;
    config_defaults(c);
    if (!json_is_object(root)) {
        pf_fail("%s: not a JSON object", src);
        goto done;
    }

    json_t *mt = json_object_get(root, "model_type");
    if (!json_is_string(mt)) {
        pf_fail("%s: missing string field 'model_type'", src);
        goto done;
    }
    const char *type = json_string_value(mt);
    if (strcmp(type, "llama") && strcmp(type, "qwen2") && strcmp(type, "mistral")) {
        pf_fail("%s: model_type '%s' is not supported (llama, qwen2, mistral are)", src, type);
        goto done;
    }
    snprintf(c->arch, sizeof c->arch, "%s", type);

    c->n_kv_heads = 0;
    c->head_dim = 0;
    c->tied_embeddings = false;
    if (get_int(root, src, "hidden_size", 1, &c->dim) ||
        get_int(root, src, "intermediate_size", 1, &c->hidden_dim) ||
        get_int(root, src, "num_hidden_layers", 1, &c->n_layers) ||
        get_int(root, src, "num_attention_heads", 1, &c->n_heads) ||
        get_int(root, src, "num_key_value_heads", 0, &c->n_kv_heads) ||
        get_int(root, src, "head_dim", 0, &c->head_dim) ||
        get_int(root, src, "vocab_size", 1, &c->vocab_size) ||
        get_int(root, src, "max_position_embeddings", 0, &c->max_seq_len) ||
        get_int(root, src, "bos_token_id", 0, &c->bos_token_id) ||
        get_float(root, src, "rms_norm_eps", &c->norm_eps) ||
        get_float(root, src, "rope_theta", &c->rope_theta) ||
        get_bool(root, src, "tie_word_embeddings", &c->tied_embeddings))
        goto done;
    if (c->n_heads <= 0) {
        pf_fail("%s: num_attention_heads = %d must be positive", src, c->n_heads);
        goto done;
    }
    if (c->n_kv_heads == 0) c->n_kv_heads = c->n_heads;
    if (c->head_dim == 0) c->head_dim = c->dim / c->n_heads;

    json_t *eos = json_object_get(root, "eos_token_id");
    if (json_is_array(eos)) eos = json_array_size(eos) ? json_array_get(eos, 0) : NULL;
    if (eos && !json_is_null(eos)) {
        if (!json_is_integer(eos)) {
            pf_fail("%s: field 'eos_token_id' must be an integer or a list of them", src);
            goto done;
        }
        c->eos_token_id = (int)json_integer_value(eos);
    }

    bool attention_bias = false;
    if (get_bool(root, src, "attention_bias", &attention_bias)) goto done;
    if (strcmp(type, "qwen2") == 0) {
        c->qkv_bias = true;
    } else if (attention_bias) {
        /* Llama's attention_bias also puts a bias on o_proj, which the model does not hold. */
        pf_fail("%s: attention_bias = true (biases on q/k/v/o) is not supported for %s", src,
                type);
        goto done;
    }
    if (parse_rope_scaling(root, src, c) || refuse_unsupported(root, src, c)) goto done;
    rc = config_validate(c, src);
done:
    json_decref(root);
    return rc;
}

int hf_config_parse(const char *path, ModelConfig *cfg)
{
    MappedFile m;
    if (file_map(path, &m) != 0) return -1;
    int rc = hf_config_parse_text(m.data ? (const char *)m.data : "", m.size, path, cfg);
    file_unmap(&m);
    return rc;
}

/* A JSON real holding the shortest decimal that reads back as the same float. */
static json_t *float_real(float f)
{
    char buf[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    return json_real(strtod(buf, NULL));
}

int hf_config_write(const ModelConfig *c, const char *path)
{
    const char *arch = strcmp(c->arch, "qwen2") == 0     ? "Qwen2ForCausalLM"
                       : strcmp(c->arch, "mistral") == 0 ? "MistralForCausalLM"
                                                         : "LlamaForCausalLM";
    const char *type = strcmp(c->arch, "qwen2") == 0     ? "qwen2"
                       : strcmp(c->arch, "mistral") == 0 ? "mistral"
                                                         : "llama";
    if (c->qkv_bias && strcmp(type, "qwen2") != 0)
        return pf_fail("%s: q/k/v biases can only be written for qwen2 models", path);
    json_t *r = json_object();
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(arch));
    json_object_set_new(r, "architectures", archs);
    json_object_set_new(r, "model_type", json_string(type));
    json_object_set_new(r, "hidden_size", json_integer(c->dim));
    json_object_set_new(r, "intermediate_size", json_integer(c->hidden_dim));
    json_object_set_new(r, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(r, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(r, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(r, "head_dim", json_integer(c->head_dim));
    json_object_set_new(r, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(r, "max_position_embeddings", json_integer(c->max_seq_len));
    json_object_set_new(r, "rms_norm_eps", float_real(c->norm_eps));
    json_object_set_new(r, "rope_theta", float_real(c->rope_theta));
    json_object_set_new(r, "hidden_act", json_string("silu"));
    json_object_set_new(r, "tie_word_embeddings", json_boolean(c->tied_embeddings));
    json_object_set_new(r, "attention_dropout", json_real(0.0));
    json_object_set_new(r, "initializer_range", json_real(0.02));
    json_object_set_new(r, "use_cache", json_true());
    json_object_set_new(r, "torch_dtype", json_string("float32"));
    if (strcmp(type, "llama") == 0) {
        json_object_set_new(r, "attention_bias", json_false());
        json_object_set_new(r, "mlp_bias", json_false());
        json_object_set_new(r, "pretraining_tp", json_integer(1));
    } else if (strcmp(type, "qwen2") == 0) {
        json_object_set_new(r, "use_sliding_window", json_false());
        json_object_set_new(r, "sliding_window", json_integer(c->max_seq_len));
        json_object_set_new(r, "max_window_layers", json_integer(c->n_layers));
    } else {
        json_object_set_new(r, "sliding_window", json_null());
    }
    if (c->bos_token_id >= 0) json_object_set_new(r, "bos_token_id", json_integer(c->bos_token_id));
    if (c->eos_token_id >= 0) json_object_set_new(r, "eos_token_id", json_integer(c->eos_token_id));
    if (c->rope_scaling == ROPE_SCALING_NONE) {
        json_object_set_new(r, "rope_scaling", json_null());
    } else {
        json_t *rs = json_object();
        int llama3 = c->rope_scaling == ROPE_SCALING_LLAMA3;
        json_object_set_new(rs, "rope_type", json_string(llama3 ? "llama3" : "linear"));
        json_object_set_new(rs, "factor", float_real(c->rope_factor));
        if (llama3) {
            json_object_set_new(rs, "low_freq_factor", float_real(c->rope_low_freq_factor));
            json_object_set_new(rs, "high_freq_factor", float_real(c->rope_high_freq_factor));
            json_object_set_new(rs, "original_max_position_embeddings",
                                json_integer(c->rope_original_max_pos));
        }
        json_object_set_new(r, "rope_scaling", rs);
    }

    char *text = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(r);
    if (!text) return pf_fail("%s: cannot serialise config", path);
    AtomicFile a;
    int rc = atomic_open(&a, path);
    if (!rc) {
        rc = atomic_write(&a, text, strlen(text));
        if (!rc) rc = atomic_write(&a, "\n", 1);
        rc = rc ? (atomic_abort(&a), -1) : atomic_commit(&a);
    }
    free(text);
    return rc;
}
