/* llama2.c checkpoints: v0 (a header of 7 int32, then fp32 weights in run.c's order, negative
 * vocab_size meaning an untied classifier) and v1 (magic "ak42", version 1, 256-byte header with
 * a shared_classifier byte). The file size must match the header exactly. q/k rows are
 * permuted from llama2.c's interleaved RoPE pairing to rotate-half on load. */
#ifndef PRIORFT_MODEL_LLAMA2C_H
#define PRIORFT_MODEL_LLAMA2C_H

#include "model/model.h"

#define LLAMA2C_MAGIC 0x616b3432u

/* Loads the llama2.c checkpoint at `path` into out (allocated here). 0, or -1 with a message
 * naming the file and the problem (bad header, size mismatch). */
int llama2c_load(const char *path, Model *out);

#endif
