/* Byte-level BPE (GPT-2, Llama-3, Qwen, SmolLM): pre-tokenisation with the tokenizer's regex
 * (PCRE2, UTF + UCP, JIT), optional NFC normalisation (utf8proc), then rank-ordered merges on
 * the bytes of each pre-token, with a cache for repeated words. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"

/* The characters Oniguruma (which Hugging Face tokenizers uses) counts as \s: Unicode
 * White_Space. PCRE2's \s under UCP differs (e.g. U+0085), so the pattern spells it out. */
#define WS_CLASS "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}" \
                 "\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* Rewrites \s and \S of a Hugging Face pattern into explicit classes (see WS_CLASS). */
static char *translate_pattern(const char *p)
{
    StrBuf b = {0};
    bool in_class = false;
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\\' && p[i + 1]) {
            char c = p[i + 1];
            if (c == 's') {
                strbuf_puts(&b, in_class ? WS_CLASS : "[" WS_CLASS "]");
            } else if (c == 'S' && !in_class) {
                strbuf_puts(&b, "[^" WS_CLASS "]");
            } else {
                strbuf_append(&b, p + i, 2);
            }
            i++;
            continue;
        }
        if (p[i] == '[' && !in_class) {
            in_class = true;
            strbuf_append(&b, p + i, 1);
            if (p[i + 1] == '^') strbuf_append(&b, p + ++i, 1);
            if (p[i + 1] == ']') strbuf_append(&b, p + ++i, 1);
            continue;
        }
        if (p[i] == ']' && in_class) in_class = false;
        strbuf_append(&b, p + i, 1);
    }
    if (!b.data) strbuf_puts(&b, "");
    return b.data;
}

int bpe_set_pattern(Tokenizer *t, const char *pattern, const char *where)
{
    char *translated = translate_pattern(pattern);
    int err = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)translated, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off,
                                   NULL);
    free(translated);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return pf_fail("%s: pre-tokenizer regex does not compile at offset %zu: %s", where,
                       (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if it fails */
    if (t->regex) pcre2_code_free(t->regex);
    t->regex = re;
    return 0;
}

int bpe_finish(Tokenizer *t, const char *where)
{
    int missing = 0;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        t->byte_id[b] = strmap_get(&t->bytes_map, &c, 1);
        if (t->byte_id[b] < 0) missing++;
    }
    (void)where;
    (void)missing; /* bytes without a token are dropped, as Hugging Face does without unk */
    t->cache = xcalloc(1, sizeof *t->cache);
    pthread_mutex_init(&t->cache->lock, NULL);
    return 0;
}

/* ---- BPE on one pre-token ---- */

typedef struct HeapItem {
    int32_t rank, pos, merged;
} HeapItem;

static bool heap_less(const HeapItem *a, const HeapItem *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(HeapItem *h, size_t *n, HeapItem x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static HeapItem heap_pop(HeapItem *h, size_t *n)
{
    HeapItem top = h[0];
    HeapItem last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

/* Merges the symbols ids[0..n) (linked by nxt/prv, -1 ends) with a priority queue ordered by
 * (rank, position): the same order as Hugging Face's Word::merge_all. For long words. */
static void merge_heap(const Tokenizer *t, int *ids, int *nxt, int *prv, int n)
{
    HeapItem *heap = xmalloc((size_t)n * 2 * sizeof *heap + sizeof *heap);
    size_t hn = 0;
    for (int i = 0; i + 1 < n; i++) {
        int rank, merged;
        if (pairmap_get(&t->merges, ids[i], ids[i + 1], &rank, &merged))
            heap_push(heap, &hn, (HeapItem){rank, i, merged});
    }
    while (hn > 0) {
        HeapItem top = heap_pop(heap, &hn);
        int i = top.pos;
        if (ids[i] < 0 || nxt[i] < 0) continue;
        int j = nxt[i];
        int rank, merged;
        if (!pairmap_get(&t->merges, ids[i], ids[j], &rank, &merged) || merged != top.merged)
            continue;
        ids[i] = merged;
        ids[j] = -1;
        nxt[i] = nxt[j];
        if (nxt[j] >= 0) prv[nxt[j]] = i;
        if (prv[i] >= 0 && pairmap_get(&t->merges, ids[prv[i]], ids[i], &rank, &merged))
            heap_push(heap, &hn, (HeapItem){rank, prv[i], merged});
        if (nxt[i] >= 0 && pairmap_get(&t->merges, ids[i], ids[nxt[i]], &rank, &merged))
            heap_push(heap, &hn, (HeapItem){rank, i, merged});
    }
    free(heap);
}

/* Same result as merge_heap for short words: keeps the rank of each adjacent pair and scans for
 * the smallest (leftmost on ties). */
static void merge_scan(const Tokenizer *t, int *ids, int *nxt, int *prv, int n)
{
    int rank[256], merged[256];
    for (int i = 0; i < n; i++) {
        rank[i] = INT32_MAX;
        if (i + 1 < n && !pairmap_get(&t->merges, ids[i], ids[i + 1], &rank[i], &merged[i]))
            rank[i] = INT32_MAX;
    }
    for (;;) {
        int best = -1, best_rank = INT32_MAX;
        for (int i = 0; i >= 0; i = nxt[i]) {
            if (rank[i] < best_rank) {
                best_rank = rank[i];
                best = i;
            }
        }
        if (best < 0) break;
        int j = nxt[best];
        ids[best] = merged[best];
        ids[j] = -1;
        nxt[best] = nxt[j];
        if (nxt[j] >= 0) prv[nxt[j]] = best;
        rank[best] = INT32_MAX;
        if (nxt[best] >= 0 &&
            !pairmap_get(&t->merges, ids[best], ids[nxt[best]], &rank[best], &merged[best]))
            rank[best] = INT32_MAX;
        int p = prv[best];
        if (p >= 0 && !pairmap_get(&t->merges, ids[p], ids[best], &rank[p], &merged[p]))
            rank[p] = INT32_MAX;
    }
}

static bool cache_get(const Tokenizer *t, const char *w, size_t n, IntVec *out)
{
    if (n > TOK_CACHE_KEY || !t->cache) return false;
    TokCache *c = t->cache;
    if (pthread_mutex_trylock(&c->lock) != 0) return false;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)w[i]) * 1099511628211ull;
    TokCacheEntry *e = &c->entries[(h ^ (h >> 29)) & (TOK_CACHE_SLOTS - 1)];
    bool hit = e->key_len == n && memcmp(e->key, w, n) == 0;
    if (hit) {
        for (int i = 0; i < e->n_ids; i++) intvec_push(out, e->ids[i]);
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static void cache_put(const Tokenizer *t, const char *w, size_t n, const int *ids, size_t k)
{
    if (n > TOK_CACHE_KEY || k > TOK_CACHE_IDS || !t->cache) return;
    TokCache *c = t->cache;
    if (pthread_mutex_trylock(&c->lock) != 0) return;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)w[i]) * 1099511628211ull;
    TokCacheEntry *e = &c->entries[(h ^ (h >> 29)) & (TOK_CACHE_SLOTS - 1)];
    e->key_len = (uint8_t)n;
    e->n_ids = (uint8_t)k;
    memcpy(e->key, w, n);
    for (size_t i = 0; i < k; i++) e->ids[i] = ids[i];
    pthread_mutex_unlock(&c->lock);
}

/* Appends the BPE ids of one pre-token (raw bytes). */
static void bpe_word(const Tokenizer *t, const char *w, size_t n, IntVec *out)
{
    if (n == 0) return;
    if (n == 1) {
        if (t->byte_id[(uint8_t)w[0]] >= 0) intvec_push(out, t->byte_id[(uint8_t)w[0]]);
        return;
    }
    if (t->ignore_merges) {
        int id = strmap_get(&t->bytes_map, w, n);
        if (id >= 0) {
            intvec_push(out, id);
            return;
        }
    }
    if (cache_get(t, w, n, out)) return;

    int small[3 * 256];
    int *buf = n <= 256 ? small : xmalloc(3 * n * sizeof *buf);
    int *ids = buf, *nxt = buf + n, *prv = buf + 2 * n;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int id = t->byte_id[(uint8_t)w[i]];
        if (id < 0) continue;
        ids[m] = id;
        nxt[m] = m + 1;
        prv[m] = m - 1;
        m++;
    }
    if (m > 0) nxt[m - 1] = -1;
    if (m > 0 && m <= 256) merge_scan(t, ids, nxt, prv, m);
    else if (m > 0) merge_heap(t, ids, nxt, prv, m);

    size_t start = out->len;
    for (int i = 0; i >= 0 && m > 0; i = nxt[i]) intvec_push(out, ids[i]);
    cache_put(t, w, n, out->data + start, out->len - start);
    if (buf != small) free(buf);
}

/* ---- normalisation and pre-tokenisation ---- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is invalid. */
static size_t utf8_valid_len(const uint8_t *s, size_t n)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(s, (utf8proc_ssize_t)n, &cp);
    return k > 0 ? (size_t)k : 0;
}

/* NFC of the valid UTF-8 runs of text; invalid bytes are copied as they are. */
static void nfc_append(const char *text, size_t len, StrBuf *out)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len) {
            size_t k = utf8_valid_len((const uint8_t *)text + j, len - j);
            if (k == 0) break;
            j += k;
        }
        if (j > i) {
            utf8proc_uint8_t *norm = NULL;
            utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(j - i), &norm,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (r >= 0) strbuf_append(out, (const char *)norm, (size_t)r);
            else strbuf_append(out, text + i, j - i);
            free(norm);
        }
        if (j < len) strbuf_append(out, text + j, 1);
        i = j + (j < len ? 1 : 0);
    }
}

static bool all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((uint8_t)s[i] >= 0x80) return false;
    }
    return true;
}

int bpe_encode_segment(const Tokenizer *t, const char *text, size_t len, IntVec *out)
{
    StrBuf norm = {0};
    if (t->nfc && !all_ascii(text, len)) {
        nfc_append(text, len, &norm);
        text = norm.data ? norm.data : "";
        len = norm.len;
    }
    if (!t->regex) {
        bpe_word(t, text, len, out);
        strbuf_free(&norm);
        return 0;
    }

    pcre2_code *re = t->regex;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    size_t pos = 0;
    int rc = 0;
    while (pos < len) {
        int r = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (r == PCRE2_ERROR_NOMATCH) break;
        if (r < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(r, msg, sizeof msg);
            rc = pf_fail("pre-tokenizer regex failed at byte %zu: %s", pos, (char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t s = ov[0], e = ov[1];
        if (s > pos) bpe_word(t, text + pos, s - pos, out);
        if (e == s) {
            /* an empty match: step over one character so the loop always advances */
            size_t k = utf8_valid_len((const uint8_t *)text + e, len - e);
            e += k ? k : 1;
            bpe_word(t, text + s, e - s, out);
        } else {
            bpe_word(t, text + s, e - s, out);
        }
        pos = e;
    }
    if (rc == 0 && pos < len) bpe_word(t, text + pos, len - pos, out);
    pcre2_match_data_free(md);
    strbuf_free(&norm);
    return rc;
}
