/* `priorft eval --model`: benchmark rows become chat prompts (tokenized exactly as SFT training
 * tokenizes a prompt), the model generates with eval/generate, the generations are written as a
 * predictions JSONL file, and that file is scored by the same code as `eval --predictions`, so
 * a run can always be rescored later from its predictions.jsonl. */
#ifndef PRIORFT_EVAL_EVAL_RUN_H
#define PRIORFT_EVAL_EVAL_RUN_H

#include <stdbool.h>

#include "eval/bench_file.h"
#include "eval/generate.h"
#include "eval/score_report.h"
#include "train/bundle.h"
#include "util/buf.h"

/* The instruction appended (after a newline) to every question when --prompt-suffix is not
 * given: math asks for step-by-step reasoning and a \boxed{} answer, choice for the option
 * letter; figlet puzzles carry their own instruction (NULL). */
const char *eval_default_suffix(BenchTask task);

/* The user turn for a benchmark row, without the suffix (the chat template adds that): the
 * question, and for choice rows the options as "A. text" lines below it. Malloc'ed. */
char *eval_row_question(BenchTask task, const BenchRow *row);

/* Appends the ids that end an answer for this model: the tokenizer's and the model's
 * end-of-sequence ids and the end-of-turn token(s) of the chat template (the special tokens it
 * puts after an assistant reply, e.g. <|im_end|>, <|eot_id|>), each once. */
int eval_stop_ids(const ModelBundle *b, IntVec *out);

typedef struct EvalOptions {
    BenchTask task;
    long limit;      /* rows per benchmark file; 0: all */
    GenOptions gen;  /* batch, samples, sampling, lengths, stop strings; stop ids are added from
                      * eval_stop_ids, and the tokenizer is the bundle's */
    /* Called before each benchmark is generated (may be NULL). */
    void (*on_bench)(void *ctx, const char *name, long n_prompts, int n_samples);
    void *on_bench_ctx;
} EvalOptions;

/* Generates answers for the first `limit` rows of each benchmark file, writes one JSON line per
 * row to predictions_path ({benchmark, id, prompt, generation: [samples], gold, options?,
 * stop: [reasons], new_tokens: [counts]}; generations made valid UTF-8) and scores that file
 * into `set` (whose task is set here). Returns 0, or -1 with a message naming the file at
 * fault. */
int eval_run(ModelBundle *b, const char *const *bench_paths, int n_bench, const EvalOptions *o,
             const char *predictions_path, ScoredSet *set);

/* A copy of text (len bytes) in which every byte that does not start a valid UTF-8 sequence is
 * replaced by U+FFFD. Malloc'ed, NUL-terminated. */
char *eval_utf8_clean(const char *text, size_t len);

#endif
