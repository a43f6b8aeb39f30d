/* Batched generation over many prompts with the key/value cache: the engine behind
 * `priorft eval --model` and `priorft bench-generate`. Prompts (token ids) are decoded in a batch
 * of cache slots; a slot whose sequence ends takes the next waiting one at once (continuous
 * batching): its prompt goes through the model in one pass (model_prefill), then it decodes one
 * token per step alongside the others. Sampling is greedy or temperature with top-k and top-p;
 * every sample draws from its own random stream derived from (seed, prompt index, sample
 * index), so the batch size and the order in which slots free up never change what a sample
 * produces. */
#ifndef PRIORFT_EVAL_GENERATE_H
#define PRIORFT_EVAL_GENERATE_H

#include <stdint.h>

#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/rng.h"

/* Why a sample stopped. */
typedef enum GenStop {
    GEN_STOP_TOKEN = 0, /* it produced a stop id (end of sequence / end of turn) */
    GEN_STOP_STRING,    /* its text came to contain a stop string */
    GEN_STOP_LENGTH,    /* max_new_tokens reached */
    GEN_STOP_CONTEXT,   /* prompt + generation filled max_context (or the prompt alone did) */
} GenStop;

/* Called after each finished sample: done of total samples, tokens generated so far. */
typedef void (*GenProgressFn)(void *ctx, long done, long total, long tokens);

typedef struct GenOptions {
    int batch;                /* sequences decoded together (cache slots), >= 1 */
    int n_samples;            /* samples per prompt, >= 1 */
    int max_new_tokens;       /* >= 0 */
    int max_context;          /* prompt + new tokens per sequence; 0: the model's max_seq_len */
    float temperature;        /* 0: greedy (argmax, lowest id on ties) */
    float top_p;              /* nucleus mass in (0, 1); 0 or >= 1: off */
    int top_k;                /* keep the k most likely tokens; 0: off */
    uint64_t seed;
    const int *stop_ids;      /* (n_stop_ids) ids that end a sample; not part of its output */
    int n_stop_ids;
    const char *const *stop_strings; /* (n_stop_strings); need `tokenizer` */
    int n_stop_strings;
    const Tokenizer *tokenizer; /* decodes GenOutput.text; NULL: no text, no stop strings */
    GenProgressFn progress;   /* may be NULL */
    void *progress_ctx;
} GenOptions;

/* batch 1, one greedy sample, 256 new tokens, no stops. */
void gen_options_default(GenOptions *o);

typedef struct GenOutput {
    int *tokens;      /* (n_tokens) generated ids, without the stop id */
    int n_tokens;
    char *text;       /* tokens decoded without special tokens, cut before the first stop
                       * string; NULL without a tokenizer. May hold invalid UTF-8 when the
                       * generation ends inside a multi-byte character. */
    GenStop stop;
} GenOutput;

/* Generates n_samples continuations of each of n_prompts prompts (prompts[i] has
 * prompt_lens[i] >= 1 ids within the vocabulary). out must hold n_prompts * n_samples entries;
 * sample s of prompt i lands in out[i * n_samples + s]. A prompt that alone fills max_context
 * gets empty samples with stop GEN_STOP_CONTEXT. Returns 0, or -1 with a message (bad options,
 * an id outside the vocabulary naming the prompt and position); on error out holds nothing to
 * free. Results do not depend on opts->batch: greedy and seeded samples are the same
 * (up to how the matrix library rounds a different batch shape, which can flip exact ties). */
int generate_run(const Model *m, const int *const *prompts, const int *prompt_lens,
                 int n_prompts, const GenOptions *opts, GenOutput *out);

/* Frees the tokens and text of n outputs. */
void gen_outputs_free(GenOutput *out, long n);

/* Picks the next token from logits (V), which it overwrites with probabilities. temperature
 * <= 0: argmax (lowest id on ties), no random draw. Otherwise softmax(logits / temperature)
 * restricted first to the top_k most likely ids (ties at the k-th broken by lower id) when
 * 0 < top_k < V, then to the smallest most-likely prefix whose mass reaches top_p when
 * 0 < top_p < 1, renormalised; draws exactly one uniform number from rng. */
int gen_sample_token(float *logits, int V, float temperature, float top_p, int top_k, Rng *rng);

/* Seeds the random stream of sample `sample` of prompt `prompt` under `seed`. */
void gen_sample_rng(Rng *r, uint64_t seed, long prompt, int sample);

/* A short name for a stop reason: "token", "string", "length", "context". */
const char *gen_stop_name(GenStop stop);

#endif
