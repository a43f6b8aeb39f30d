/* Tokenizers from GGUF metadata: "llama" vocabularies (SentencePiece BPE with scores and token
 * types) and "gpt2" vocabularies (byte-level BPE with tokenizer.ggml.merges and a pre-tokenizer
 * chosen by tokenizer.ggml.pre, written to behave as the Hugging Face tokenizer.json would). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "tokenizer/tok_internal.h"
#include "util/error.h"

static const char LLAMA3_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char QWEN2_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* SmolLM's tokenizer.json: Digits(individual_digits: every Unicode numeric char alone) then
 * ByteLevel's GPT-2 regex on each piece, folded into one pattern where no match crosses a
 * numeric char. */
static const char SMOLLM_PATTERN[] =
    "\\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?![^\\s\\p{N}])|\\s+";

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4, TYPE_UNUSED = 5,
       TYPE_BYTE = 6 };

static int gguf_token_type(const GgufFile *f, size_t i, bool has_types)
{
    int64_t v = TYPE_NORMAL;
    if (has_types && gguf_get_array_int(f, "tokenizer.ggml.token_type", i, &v)) return -1;
    return (int)v;
}

static int load_tokens(Tokenizer *t, const GgufFile *f, const char *path, bool byte_level)
{
    size_t n, n_types = 0;
    if (gguf_get_array_len(f, "tokenizer.ggml.tokens", &n)) return -1;
    if (n == 0 || n > (1u << 24))
        return pf_fail("%s: tokenizer.ggml.tokens has %zu entries", path, n);
    bool has_types = gguf_find_key(f, "tokenizer.ggml.token_type") >= 0;
    if (has_types && (gguf_get_array_len(f, "tokenizer.ggml.token_type", &n_types) ||
                      n_types != n))
        return pf_fail("%s: tokenizer.ggml.token_type does not have one entry per token", path);
    bool has_scores = gguf_find_key(f, "tokenizer.ggml.scores") >= 0;
    size_t n_scores = 0;
    if (has_scores && (gguf_get_array_len(f, "tokenizer.ggml.scores", &n_scores) ||
                       n_scores != n))
        return pf_fail("%s: tokenizer.ggml.scores does not have one entry per token", path);

    tok_alloc_vocab(t, (int)n);
    strmap_init(&t->piece_map, n);
    strmap_init(&t->bytes_map, n);
    char *raw = NULL;
    size_t raw_cap = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (gguf_get_array_string(f, "tokenizer.ggml.tokens", i, &s, &len)) break;
        int type = gguf_token_type(f, i, has_types);
        if (type < 0) break;
        if (has_scores && gguf_get_array_float(f, "tokenizer.ggml.scores", i, &t->score[i]))
            break;
        if (len + 1 > raw_cap) {
            raw_cap = 2 * len + 16;
            raw = xrealloc(raw, raw_cap);
        }
        long k = byte_level ? bytelevel_decode(s, len, raw) : -1;
        if (k >= 0) tok_set_piece(t, (int)i, s, len, raw, (size_t)k);
        else tok_set_piece(t, (int)i, s, len, s, len);
        if (byte_level) {
            if (strmap_get(&t->piece_map, s, len) < 0) strmap_put(&t->piece_map, s, len, (int)i);
            if (type == TYPE_NORMAL && k >= 0 && strmap_get(&t->bytes_map, raw, (size_t)k) < 0)
                strmap_put(&t->bytes_map, raw, (size_t)k, (int)i);
        }
        if (type == TYPE_UNKNOWN) t->unk_id = (int)i;
        if (type == TYPE_CONTROL || type == TYPE_UNKNOWN) t->is_special[i] = true;
        if (type == TYPE_CONTROL || type == TYPE_USER)
            tok_add_token(t, s, len, (int)i, type == TYPE_CONTROL, false, false, false, false);
    }
    free(raw);
    if (t->n_vocab > 0 && !t->piece[t->n_vocab - 1])
        return pf_fail_context("%s: tokenizer vocabulary", path);
    return 0;
}

static int load_merges(Tokenizer *t, const GgufFile *f, const char *path)
{
    size_t n;
    if (gguf_get_array_len(f, "tokenizer.ggml.merges", &n)) return -1;
    pairmap_init(&t->merges, n);
    StrBuf joined = {0};
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t len;
        if (gguf_get_array_string(f, "tokenizer.ggml.merges", i, &s, &len)) {
            strbuf_free(&joined);
            return -1;
        }
        const char *sp = memchr(s, ' ', len);
        int a = sp ? strmap_get(&t->piece_map, s, (size_t)(sp - s)) : -1;
        int b = sp ? strmap_get(&t->piece_map, sp + 1, len - (size_t)(sp - s) - 1) : -1;
        joined.len = 0;
        if (sp) {
            strbuf_append(&joined, s, (size_t)(sp - s));
            strbuf_append(&joined, sp + 1, len - (size_t)(sp - s) - 1);
        }
        int m = sp ? strmap_get(&t->piece_map, joined.data, joined.len) : -1;
        if (a < 0 || b < 0 || m < 0) {
            strbuf_free(&joined);
            return pf_fail("%s: tokenizer.ggml.merges[%zu] is not \"a b\" of known tokens", path,
                           i);
        }
        pairmap_put(&t->merges, a, b, (int)i, m);
    }
    strbuf_free(&joined);
    return 0;
}

static int set_pretokenizer(Tokenizer *t, const GgufFile *f, const char *path)
{
    const char *pre = "default";
    size_t len = 7;
    if (gguf_find_key(f, "tokenizer.ggml.pre") >= 0 &&
        gguf_get_string(f, "tokenizer.ggml.pre", &pre, &len))
        return -1;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), pre);
    if (strcmp(name, "llama-bpe") == 0 || strcmp(name, "llama3") == 0) {
        t->ignore_merges = true;
        return bpe_set_pattern(t, LLAMA3_PATTERN, path);
    }
    if (strcmp(name, "qwen2") == 0) {
        t->nfc = true;
        return bpe_set_pattern(t, QWEN2_PATTERN, path);
    }
    if (strcmp(name, "smollm") == 0) return bpe_set_pattern(t, SMOLLM_PATTERN, path);
    if (strcmp(name, "gpt2") == 0 || strcmp(name, "default") == 0)
        return bpe_set_pattern(t, GPT2_PATTERN, path);
    return pf_fail("%s: tokenizer.ggml.pre \"%s\" is not supported (llama-bpe, qwen2, smollm, "
                   "gpt2, default)", path, name);
}

static void load_special_ids(Tokenizer *t, const GgufFile *f)
{
    uint32_t v;
    if (gguf_find_key(f, "tokenizer.ggml.bos_token_id") >= 0 &&
        gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &v) == 0 && v < (uint32_t)t->n_vocab)
        t->bos_id = (int)v;
    if (gguf_find_key(f, "tokenizer.ggml.eos_token_id") >= 0 &&
        gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &v) == 0 && v < (uint32_t)t->n_vocab)
        t->eos_id = (int)v;
}

int gguf_vocab_load(Tokenizer *t, const char *path)
{
    GgufFile *f = NULL;
    if (gguf_open(path, &f)) return -1;
    const char *model;
    size_t len;
    int rc = -1;
    if (gguf_get_string(f, "tokenizer.ggml.model", &model, &len)) goto done;
    if (len == 5 && memcmp(model, "llama", 5) == 0) {
        if (load_tokens(t, f, path, false)) goto done;
        spm_finish(t);
        int add = 1;
        if (gguf_find_key(f, "tokenizer.ggml.add_space_prefix") >= 0 &&
            gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &add))
            goto done;
        t->add_dummy_prefix = add != 0;
        load_special_ids(t, f);
        rc = 0;
    } else if (len == 4 && memcmp(model, "gpt2", 4) == 0) {
        t->kind = TOK_BYTE_BPE;
        if (load_tokens(t, f, path, true) || load_merges(t, f, path) ||
            set_pretokenizer(t, f, path) || bpe_finish(t, path))
            goto done;
        load_special_ids(t, f);
        rc = 0;
    } else {
        pf_fail("%s: tokenizer.ggml.model \"%.*s\" is not supported (llama, gpt2)", path,
                (int)(len < 40 ? len : 40), model);
    }
done:
    gguf_close(f);
    return rc;
}
