/* The public tokenizer interface: picks the loader by file type, splits text on added tokens
 * before the model sees it (as Hugging Face does), decodes ids back to bytes, and answers
 * vocabulary questions. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool file_has_magic(const char *path, const char *magic, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[8] = {0};
    size_t r = fread(buf, 1, n, f);
    fclose(f);
    return r == n && memcmp(buf, magic, n) == 0;
}

int tokenizer_load(const char *path, Tokenizer **out)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return pf_fail("%s: cannot open (no such file or folder)", path);
    Tokenizer *t = xcalloc(1, sizeof *t);
    t->bos_id = t->eos_id = t->unk_id = -1;
    int rc;
    if (S_ISDIR(st.st_mode)) {
        StrBuf p = {0};
        strbuf_printf(&p, "%s/tokenizer.json", path);
        struct stat js;
        if (stat(p.data, &js) != 0)
            rc = pf_fail("%s: the folder has no tokenizer.json (pass a tokenizer.json, a "
                         "llama2.c tokenizer .bin or a .gguf)", path);
        else rc = bpe_load_json(t, p.data);
        strbuf_free(&p);
    } else if (file_has_magic(path, "GGUF", 4)) {
        rc = gguf_vocab_load(t, path);
    } else if (ends_with(path, ".json")) {
        rc = bpe_load_json(t, path);
    } else {
        rc = spm_load_llama2c(t, path);
    }
    if (rc) {
        tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void tokenizer_free(Tokenizer *t)
{
    if (!t) return;
    for (int i = 0; i < t->n_vocab; i++) {
        free(t->piece[i]);
        free(t->bytes[i]);
    }
    free(t->piece);
    free(t->piece_len);
    free(t->bytes);
    free(t->bytes_len);
    free(t->is_special);
    free(t->score);
    free(t->mergeable);
    strmap_free(&t->piece_map);
    strmap_free(&t->bytes_map);
    pairmap_free(&t->merges);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    if (t->regex) pcre2_code_free(t->regex);
    if (t->cache) {
        pthread_mutex_destroy(&t->cache->lock);
        free(t->cache);
    }
    free(t);
}

/* Decodes the code point that ends just before byte `end` (0 if none or invalid). */
static int32_t char_before(const char *s, size_t end)
{
    size_t b = end;
    while (b > 0 && end - b < 4) {
        b--;
        if (((uint8_t)s[b] & 0xC0) != 0x80) break;
    }
    if (b == end) return 0;
    utf8proc_int32_t cp;
    if (utf8proc_iterate((const uint8_t *)s + b, (utf8proc_ssize_t)(end - b), &cp) !=
        (utf8proc_ssize_t)(end - b))
        return 0;
    return cp;
}

static int32_t char_at(const char *s, size_t pos, size_t len, size_t *width)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s + pos, (utf8proc_ssize_t)(len - pos),
                                          &cp);
    *width = k > 0 ? (size_t)k : 1;
    return k > 0 ? cp : 0;
}

static bool is_white(int32_t cp)
{
    return (cp >= 9 && cp <= 13) || cp == ' ' || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

static bool is_alnum(int32_t cp)
{
    if (cp <= 0) return false;
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
           (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* The longest added token that matches at text[pos] and applies (special ones only with
 * parse_special), or NULL.
 * TODO: tokens with normalized=true are matched on the raw text, not the normalised text as HF
 * does; none of the supported files has one, but a custom tokenizer.json might. */
static const AddedToken *added_match(const Tokenizer *t, const char *text, size_t len,
                                     size_t pos, bool parse_special)
{
    const AddedToken *best = NULL;
    for (int k = 0; k < t->n_added; k++) {
        const AddedToken *a = &t->added[k];
        if (a->len == 0 || a->len > len - pos || (a->special && !parse_special)) continue;
        if (best && a->len <= best->len) continue;
        if (a->content[0] != text[pos] || memcmp(a->content, text + pos, a->len) != 0) continue;
        best = a;
    }
    return best;
}

static int encode_segment(const Tokenizer *t, const char *text, size_t len, bool at_start,
                          IntVec *out)
{
    if (len == 0) return 0;
    if (t->kind == TOK_SPM_BPE) return spm_encode_segment(t, text, len, at_start, out);
    return bpe_encode_segment(t, text, len, out);
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, bool parse_special,
                     IntVec *out)
{
    size_t seg = 0;  /* start of the text not yet encoded */
    size_t pos = 0;
    while (pos < len) {
        if (!t->added_first[(uint8_t)text[pos]]) {
            pos++;
            continue;
        }
        const AddedToken *a = added_match(t, text, len, pos, parse_special);
        if (!a) {
            pos++;
            continue;
        }
        size_t start = pos, stop = pos + a->len, w;
        if (a->single_word && (is_alnum(char_before(text, start)) ||
                               (stop < len && is_alnum(char_at(text, stop, len, &w))))) {
            pos = stop;  /* Hugging Face skips the whole match, not just its first byte */
            continue;
        }
        if (a->lstrip) {
            while (start > seg && is_white(char_before(text, start))) {
                start--;
                while (start > seg && ((uint8_t)text[start] & 0xC0) == 0x80) start--;
            }
        }
        if (a->rstrip) {
            while (stop < len && is_white(char_at(text, stop, len, &w))) stop += w;
        }
        if (encode_segment(t, text + seg, start - seg, seg == 0, out)) return -1;
        intvec_push(out, a->id);
        seg = pos = stop;
    }
    return encode_segment(t, text + seg, len - seg, seg == 0, out);
}

int tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, bool skip_special,
                     StrBuf *out)
{
    bool at_start = true;  /* SentencePiece drops the dummy-prefix space of the first piece */
    if (!out->data) strbuf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_vocab || !t->piece[id])
            return pf_fail("token id %d at position %zu is not in the vocabulary (size %d)", id,
                           i, t->n_vocab);
        if (t->is_special[id]) {
            if (!skip_special) strbuf_append(out, t->piece[id], t->piece_len[id]);
            continue;
        }
        const char *b = t->bytes[id];
        size_t k = t->bytes_len[id];
        if (t->kind == TOK_SPM_BPE && at_start && t->add_dummy_prefix && t->mergeable[id] &&
            k > 0 && b[0] == ' ') {
            b++;
            k--;
        }
        if (t->bytes_len[id] > 0) at_start = false;
        strbuf_append(out, b, k);
    }
    return 0;
}

int tokenizer_vocab_size(const Tokenizer *t)
{
    return t->n_vocab;
}

int tokenizer_token_id(const Tokenizer *t, const char *piece)
{
    return strmap_get(&t->piece_map, piece, strlen(piece));
}

int tokenizer_bos_id(const Tokenizer *t)
{
    return t->bos_id;
}

int tokenizer_eos_id(const Tokenizer *t)
{
    return t->eos_id;
}
