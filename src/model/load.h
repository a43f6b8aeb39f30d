/* One entry point for loading checkpoints in any supported format, and the Hugging Face writer.
 * Formats: a Hugging Face folder (config.json + model.safetensors or sharded safetensors with
 * model.safetensors.index.json), a GGUF file (by magic) and a llama2.c checkpoint (by magic or
 * exact size). Loaded models always use rotate-half RoPE (rope_interleaved false). */
#ifndef PRIORFT_MODEL_LOAD_H
#define PRIORFT_MODEL_LOAD_H

#include "model/model.h"

/* Loads `path` (folder or file) into out, which is allocated here and freed with model_free.
 * 0, or -1 with a message naming the file and what was wrong; out is left empty then. */
int model_load(const char *path, Model *out);

/* Loads a Hugging Face folder: config.json plus model.safetensors or the shards named by
 * model.safetensors.index.json (F32, F16, BF16). Every expected tensor must be present with its
 * exact shape; rotary_emb.inv_freq and a tied model's lm_head.weight are ignored, any other
 * extra tensor is an error. */
int model_load_hf(const char *dir, Model *out);

/* Writes config.json and model.safetensors (F32) into `dir` (created if missing), each
 * atomically; reloading gives bit-identical parameters. */
int model_save_hf(const Model *m, const char *dir);

#endif
