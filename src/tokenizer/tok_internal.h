/* Internals shared by the tokenizer's source files (not for use outside src/tokenizer): the
 * Tokenizer struct, a byte-string -> id hash map, a token-pair -> merge hash map and the loaders
 * of each file format. */
#ifndef PRIORFT_TOKENIZER_TOK_INTERNAL_H
#define PRIORFT_TOKENIZER_TOK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* Open-addressing map from byte strings to ids. Keys are copied into the map's own arena. */
typedef struct StrMap {
    uint32_t *slots;  /* index+1 into keys, 0 = empty */
    size_t cap;       /* power of two */
    size_t n;
    char **key_ptr;   /* per entry */
    uint32_t *key_len;
    int *value;
    size_t n_alloc;
} StrMap;

void strmap_init(StrMap *m, size_t expected);
void strmap_free(StrMap *m);
/* Inserts or overwrites; returns the previous value or -1. */
int strmap_put(StrMap *m, const char *key, size_t len, int value);
/* The value of `key`, or -1. */
int strmap_get(const StrMap *m, const char *key, size_t len);

/* Open-addressing map from an ordered pair of ids to (rank, merged id). */
typedef struct PairMap {
    uint64_t *keys;   /* (a << 32 | b) + 1, 0 = empty */
    int32_t *rank;
    int32_t *merged;
    size_t cap;
    size_t n;
} PairMap;

void pairmap_init(PairMap *m, size_t expected);
void pairmap_free(PairMap *m);
/* Inserts (a, b) -> (rank, merged) unless the pair is already there (the first merge wins, as
 * in Hugging Face's loader where a later duplicate would have a worse rank). */
void pairmap_put(PairMap *m, int a, int b, int rank, int merged);
/* Looks up (a, b); returns true and fills rank/merged when found. */
bool pairmap_get(const PairMap *m, int a, int b, int *rank, int *merged);

typedef struct AddedToken {
    char *content;
    size_t len;
    int id;
    bool special, lstrip, rstrip, single_word, normalized;
} AddedToken;

typedef enum { TOK_BYTE_BPE = 1, TOK_SPM_BPE = 2 } TokKind;

/* Direct-mapped cache of BPE results for short pre-tokens, guarded by a try-lock so that
 * concurrent encoders never wait (they just skip the cache). */
#define TOK_CACHE_SLOTS 16384
#define TOK_CACHE_KEY 24
#define TOK_CACHE_IDS 12
typedef struct TokCacheEntry {
    uint8_t key_len; /* 0 = empty */
    uint8_t n_ids;
    char key[TOK_CACHE_KEY];
    int32_t ids[TOK_CACHE_IDS];
} TokCacheEntry;

typedef struct TokCache {
    pthread_mutex_t lock;
    TokCacheEntry entries[TOK_CACHE_SLOTS];
} TokCache;

struct Tokenizer {
    TokKind kind;
    int n_vocab;          /* largest id + 1 */
    char **piece;         /* per id: the token as written in the vocabulary (NUL-terminated) */
    uint32_t *piece_len;
    char **bytes;         /* per id: the bytes it decodes to (byte-level inverse, or SPM text) */
    uint32_t *bytes_len;
    bool *is_special;     /* per id: control/special token (left out by skip_special) */
    StrMap piece_map;     /* piece (as written) -> id, added tokens included */
    StrMap bytes_map;     /* byte-level BPE: decoded bytes of model tokens -> id */
    PairMap merges;       /* byte-level BPE: (left id, right id) -> (rank, merged id) */

    AddedToken *added;
    int n_added;
    int added_first[256]; /* per first byte: does any added token start with it (count) */

    /* byte-level BPE */
    int byte_id[256];     /* id of the single-byte token of each byte, -1 if none */
    void *regex;          /* pcre2_code_8 *, JIT-compiled pre-tokenizer pattern, or NULL */
    bool nfc;
    bool ignore_merges;

    /* SentencePiece BPE */
    float *score;         /* per id */
    int byte_fallback[256]; /* id of <0xNN>, -1 if none */
    int unk_id;
    bool add_dummy_prefix;
    bool *mergeable;      /* per id: a normal piece that BPE merges may produce */

    int bos_id, eos_id;
    TokCache *cache;
};

/* Allocates the per-id tables of `t` for n ids (pieces NULL until set). */
void tok_alloc_vocab(Tokenizer *t, int n);
/* Sets id's piece (copied) and the bytes it decodes to (copied). */
void tok_set_piece(Tokenizer *t, int id, const char *piece, size_t len, const char *bytes,
                   size_t bytes_len);
/* Registers an added token (copied); its id must already have a piece. */
void tok_add_token(Tokenizer *t, const char *content, size_t len, int id, bool special,
                   bool lstrip, bool rstrip, bool single_word, bool normalized);

/* Byte-level alphabet: the code point that stands for byte b, and its inverse (-1 if none). */
uint32_t bytelevel_char(uint8_t b);
int bytelevel_byte(uint32_t cp);
/* Converts a byte-level string (UTF-8 of mapped chars) to raw bytes into `out` (capacity at
 * least len); returns the length, or -1 when a char is not in the alphabet. */
long bytelevel_decode(const char *s, size_t len, char *out);

/* Loaders; each fills a zeroed Tokenizer or fails with a message naming `path`. */
int bpe_load_json(Tokenizer *t, const char *path);
int spm_load_llama2c(Tokenizer *t, const char *path);
int gguf_vocab_load(Tokenizer *t, const char *path);

/* Compiles the pre-tokenizer regex (Hugging Face syntax, translated for PCRE2) into t->regex. */
int bpe_set_pattern(Tokenizer *t, const char *pattern, const char *where);
/* Builds byte_id[] after the vocabulary is loaded. */
int bpe_finish(Tokenizer *t, const char *where);
/* Fills the SentencePiece tables (byte fallback ids, mergeable) after pieces/scores are set. */
void spm_finish(Tokenizer *t);

/* Encodes one segment that holds no added token. */
int bpe_encode_segment(const Tokenizer *t, const char *text, size_t len, IntVec *out);
int spm_encode_segment(const Tokenizer *t, const char *text, size_t len, bool at_start,
                       IntVec *out);

#endif
