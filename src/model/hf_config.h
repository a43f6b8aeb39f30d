/* Hugging Face config.json <-> ModelConfig for model_type llama, qwen2 and mistral. Features the
 * engine does not implement (MoE, a sliding window actually in use, other activations, biases
 * outside q/k/v, unknown RoPE scaling) are refused with a message naming the field. */
#ifndef PRIORFT_MODEL_HF_CONFIG_H
#define PRIORFT_MODEL_HF_CONFIG_H

#include <stddef.h>

#include "model/config.h"

/* Parses the config.json at `path` into cfg (validated). 0, or -1 with a message naming the
 * file and field. */
int hf_config_parse(const char *path, ModelConfig *cfg);

/* Parses config.json text (for tests and callers holding the bytes); `source` names it in
 * messages. */
int hf_config_parse_text(const char *text, size_t len, const char *source, ModelConfig *cfg);

/* Writes config.json for cfg atomically, with the fields transformers needs to load it
 * (architectures, torch_dtype float32, ...). */
int hf_config_write(const ModelConfig *cfg, const char *path);

#endif
