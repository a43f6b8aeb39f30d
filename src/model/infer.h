/* Inference path of the decoder, llama2.c style: a key/value cache per sequence and a step that
 * takes one token for each of a batch of sequences and writes their logits. Used by generation
 * and evaluation; gives the same logits as the training forward followed by the LM head. */
#ifndef PRIORFT_MODEL_INFER_H
#define PRIORFT_MODEL_INFER_H

#include "model/model.h"
#include "util/rng.h"

typedef struct KVCache KVCache;

/* Allocates a cache for `batch` sequences of up to max_seq positions each, plus the scratch one
 * step needs (nothing is allocated per step). */
int kv_cache_init(KVCache **out, const ModelConfig *cfg, int batch, int max_seq);
void kv_cache_free(KVCache *c);

/* Runs one token for each of sequences 0..n-1 (n <= batch): tokens (n), positions (n). Sequence
 * i stores its key/value at slot positions[i] and attends to slots 0..positions[i], which
 * earlier steps must have filled (positions start at 0 and rise by one per step; a sequence
 * restarts by stepping from position 0 again). Writes logits (n, V). Errors name the index of a
 * token outside the vocabulary or a position outside the cache. */
int model_step(const Model *m, KVCache *c, const int *tokens, const int *positions, int n,
               float *logits);

/* Reads n prompt tokens of sequence `slot` at positions pos0..pos0+n-1 in one pass (in chunks
 * of up to 128 tokens: projections as GEMMs over the chunk, causal attention within it and to
 * the positions before pos0, which earlier calls must have filled), writing their keys/values
 * into the cache. With logits_last non-NULL writes the logits (V) of the last token. Gives
 * model_step's logits for the same tokens up to fp32 summation order; leaves the other
 * sequences alone. Errors name a token outside the vocabulary or positions outside the cache. */
int model_prefill(const Model *m, KVCache *c, int slot, const int *tokens, int pos0, int n,
                  float *logits_last);

/* Picks the next token from logits (V), which it overwrites with probabilities. temperature 0
 * is greedy (argmax, lowest id on ties); otherwise samples softmax(logits / temperature),
 * restricted to the smallest most-likely set whose mass reaches top_p when 0 < top_p < 1
 * (nucleus sampling). Draws one number from rng per sampled token. */
int sample_logits(float *logits, int V, float temperature, float top_p, Rng *rng);

#endif
