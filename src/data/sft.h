/* SFT examples from JSONL: each row (prompt/response fields by name, dotted keys reaching into
 * nested objects, or a `messages` list of {role, content}) is rendered with a chat template,
 * tokenized segment by segment, and stored as `tokens` with a `loss_mask` that is 1 exactly on
 * the tokens the model must learn to produce (each assistant response and its end-of-turn
 * token). Bad rows give an error naming the file and line, or, with skip_bad_rows, are skipped
 * and counted by reason: nothing is dropped silently. */
#ifndef PRIORFT_DATA_SFT_H
#define PRIORFT_DATA_SFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "util/buf.h"

/* How text becomes ids: a Tokenizer (sft_encoder_from_tokenizer) or any other encoder. */
typedef struct SftEncoder {
    int (*encode)(void *ctx, const char *text, size_t len, bool parse_special, IntVec *out);
    int (*token_id)(void *ctx, const char *piece); /* -1 when absent */
    int bos_id;                                    /* -1: none */
    int eos_id;                                    /* -1: none */
    void *ctx;
} SftEncoder;

/* An encoder backed by `tok` (which must outlive it). */
void sft_encoder_from_tokenizer(const Tokenizer *tok, SftEncoder *out);

typedef enum SftTruncation {
    SFT_TRUNCATE_ERROR = 0, /* a row longer than max_length is an error (or skipped) */
    SFT_TRUNCATE_LEFT,      /* drop tokens from the start */
    SFT_TRUNCATE_RIGHT,     /* drop tokens from the end */
} SftTruncation;

typedef struct SftOptions {
    const char *prompt_key;   /* "prompt"; dots reach nested keys: "extra_info.question" */
    const char *response_key; /* "response" */
    const char *messages_key; /* "messages": used when a row has it */
    int max_length;           /* tokens per example; 0: no limit */
    SftTruncation truncation;
    bool skip_bad_rows;       /* skip and count bad rows instead of failing */
    long max_rows;            /* stop after this many non-blank lines; 0: all */
} SftOptions;

/* prompt/response/messages keys, no length limit, truncation error, no skipping. */
void sft_options_default(SftOptions *o);

/* Parses "error", "left" or "right". */
int sft_truncation_parse(const char *name, SftTruncation *out);

typedef enum SftSkip {
    SFT_SKIP_JSON = 0,       /* malformed JSON, not an object, binary bytes, line too long */
    SFT_SKIP_FIELD,          /* missing or non-string field, bad messages list */
    SFT_SKIP_EMPTY_RESPONSE, /* a response that is empty or only whitespace */
    SFT_SKIP_PROMPT_TOO_LONG,/* the prompt alone reaches max_length */
    SFT_SKIP_TOO_LONG,       /* longer than max_length with truncation "error" */
    SFT_SKIP_NO_LOSS,        /* no token left under the loss mask */
    SFT_SKIP_COUNT,
} SftSkip;

typedef struct SftStats {
    long rows;                    /* non-blank lines read */
    long blank_lines;             /* lines with only whitespace (not rows) */
    long kept;                    /* examples produced */
    long truncated;               /* examples shortened to max_length */
    long skipped[SFT_SKIP_COUNT]; /* by reason */
    long response_tokens;         /* loss-mask tokens over kept examples */
    long total_tokens;
    char first_skip[512];         /* message of the first skipped row ("" if none) */
} SftStats;

typedef struct SftExample {
    int *tokens;        /* (len) */
    uint8_t *loss_mask; /* (len) 1: the model is trained to produce this token */
    int len;
    long line;          /* 1-based line in the source file (0 when built in memory) */
} SftExample;

typedef struct SftDataset {
    SftExample *examples;
    size_t n, cap;
} SftDataset;

/* Renders and tokenizes one conversation: appends ids to *tokens and 0/1 to *mask (same
 * length). With add_generation_prompt, stops where the assistant's content starts (for eval and
 * probes). Errors name the token that the vocabulary lacks. */
int sft_encode_messages(const ChatTemplate *t, const SftEncoder *enc, const ChatMessage *msgs,
                        size_t n, bool add_generation_prompt, IntVec *tokens, IntVec *mask);

/* Reads a JSONL file into *out (appending) and fills *stats. Errors name the file and line; an
 * empty file or one with no usable row is an error even with skip_bad_rows. */
int sft_load_jsonl(const char *path, const ChatTemplate *t, const SftEncoder *enc,
                   const SftOptions *o, SftDataset *out, SftStats *stats);

/* One line per nonzero counter, for the CLI to print. */
void sft_stats_summary(const SftStats *s, StrBuf *out);

/* Appends a copy of an example (tokens and mask of length len). */
void sft_dataset_push(SftDataset *d, const int *tokens, const uint8_t *mask, int len, long line);

/* Tokens under the loss mask that can be targets (all but a masked first token). */
long sft_example_kept(const SftExample *e);

/* Seeded Fisher-Yates shuffle of the examples (same order on every machine). */
void sft_dataset_shuffle(SftDataset *d, uint64_t seed);

/* Moves a seeded random choice of examples to *val: `count` of them when count > 0, else
 * round(fraction * n). Both keep their relative order. Fails (changing nothing) when that would
 * leave no training example. */
int sft_dataset_split(SftDataset *d, double fraction, long count, uint64_t seed,
                      SftDataset *val);

void sft_dataset_free(SftDataset *d);

#endif
