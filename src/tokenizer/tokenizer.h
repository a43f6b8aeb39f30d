/* Text <-> token ids for the model families priorft trains: byte-level BPE from a Hugging Face
 * tokenizer.json, SentencePiece-style BPE with byte fallback (llama2.c tokenizer.bin, GGUF llama
 * vocabularies) and GGUF byte-level vocabularies with merges. */
#ifndef PRIORFT_TOKENIZER_TOKENIZER_H
#define PRIORFT_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct Tokenizer Tokenizer;

/* Loads a tokenizer from a tokenizer.json, a llama2.c tokenizer .bin, a .gguf file, or a model
 * folder (its tokenizer.json). Errors name the file and what was wrong. */
int tokenizer_load(const char *path, Tokenizer **out);
void tokenizer_free(Tokenizer *t);

/* Appends the ids of `text` (len bytes, any bytes) to `out`. With parse_special, added/special
 * tokens written in the text (e.g. "<|im_start|>") become their ids; without, they are encoded
 * as plain text. Adds no BOS/EOS. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool parse_special,
                     IntVec *out);

/* Appends the text of `ids` to `out`; skip_special leaves special tokens out. */
int tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, bool skip_special,
                     StrBuf *out);

int tokenizer_vocab_size(const Tokenizer *t);
/* The id of a token written exactly as in the vocabulary (e.g. "<|im_end|>"), or -1. */
int tokenizer_token_id(const Tokenizer *t, const char *piece);
/* Begin/end-of-sequence ids as the tokenizer files declare them, or -1. */
int tokenizer_bos_id(const Tokenizer *t);
int tokenizer_eos_id(const Tokenizer *t);

#endif
