/* Tokenizer building blocks: hash maps for pieces and merges, the per-id vocabulary tables and
 * the byte-level alphabet of GPT-2-style BPE. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"

static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (len * 0xff51afd7ed558ccdull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001B3ull;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, len - i);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
    return h * 0x94d049bb133111ebull;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

void strmap_init(StrMap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 1);
    m->slots = xcalloc(m->cap, sizeof *m->slots);
}

void strmap_free(StrMap *m)
{
    for (size_t i = 0; i < m->n; i++) free(m->key_ptr[i]);
    free(m->slots);
    free(m->key_ptr);
    free(m->key_len);
    free(m->value);
    memset(m, 0, sizeof *m);
}

static void strmap_grow(StrMap *m)
{
    size_t cap = m->cap * 2;
    uint32_t *slots = xcalloc(cap, sizeof *slots);
    for (size_t i = 0; i < m->n; i++) {
        size_t j = hash_bytes(m->key_ptr[i], m->key_len[i]) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

int strmap_get(const StrMap *m, const char *key, size_t len)
{
    if (!m->slots) return -1;
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        uint32_t s = m->slots[j];
        if (!s) return -1;
        if (m->key_len[s - 1] == len && memcmp(m->key_ptr[s - 1], key, len) == 0)
            return m->value[s - 1];
        j = (j + 1) & (m->cap - 1);
    }
}

int strmap_put(StrMap *m, const char *key, size_t len, int value)
{
    if ((m->n + 1) * 2 > m->cap) strmap_grow(m);
    size_t j = hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        uint32_t s = m->slots[j];
        if (!s) break;
        if (m->key_len[s - 1] == len && memcmp(m->key_ptr[s - 1], key, len) == 0) {
            int old = m->value[s - 1];
            m->value[s - 1] = value;
            return old;
        }
        j = (j + 1) & (m->cap - 1);
    }
    if (m->n == m->n_alloc) {
        m->n_alloc = m->n_alloc ? m->n_alloc * 2 : 64;
        m->key_ptr = xrealloc(m->key_ptr, m->n_alloc * sizeof *m->key_ptr);
        m->key_len = xrealloc(m->key_len, m->n_alloc * sizeof *m->key_len);
        m->value = xrealloc(m->value, m->n_alloc * sizeof *m->value);
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, key, len);
    copy[len] = '\0';
    m->key_ptr[m->n] = copy;
    m->key_len[m->n] = (uint32_t)len;
    m->value[m->n] = value;
    m->slots[j] = (uint32_t)(++m->n);
    return -1;
}

static uint64_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

void pairmap_init(PairMap *m, size_t expected)
{
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 1);
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->rank = xmalloc(m->cap * sizeof *m->rank);
    m->merged = xmalloc(m->cap * sizeof *m->merged);
}

void pairmap_free(PairMap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

static void pairmap_grow(PairMap *m)
{
    PairMap g;
    pairmap_init(&g, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        uint64_t k = m->keys[i] - 1;
        pairmap_put(&g, (int)(k >> 32), (int)(k & 0xffffffffu), m->rank[i], m->merged[i]);
    }
    pairmap_free(m);
    *m = g;
}

void pairmap_put(PairMap *m, int a, int b, int rank, int merged)
{
    if ((m->n + 1) * 2 > m->cap) pairmap_grow(m);
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = hash_pair(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (m->keys[j] == key) return;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = key;
    m->rank[j] = rank;
    m->merged[j] = merged;
    m->n++;
}

bool pairmap_get(const PairMap *m, int a, int b, int *rank, int *merged)
{
    if (!m->keys) return false;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t j = hash_pair(key) & (m->cap - 1);
    for (;;) {
        uint64_t k = m->keys[j];
        if (!k) return false;
        if (k == key) {
            *rank = m->rank[j];
            *merged = m->merged[j];
            return true;
        }
        j = (j + 1) & (m->cap - 1);
    }
}

void tok_alloc_vocab(Tokenizer *t, int n)
{
    t->n_vocab = n;
    t->piece = xcalloc((size_t)n, sizeof *t->piece);
    t->piece_len = xcalloc((size_t)n, sizeof *t->piece_len);
    t->bytes = xcalloc((size_t)n, sizeof *t->bytes);
    t->bytes_len = xcalloc((size_t)n, sizeof *t->bytes_len);
    t->is_special = xcalloc((size_t)n, sizeof *t->is_special);
    t->score = xcalloc((size_t)n, sizeof *t->score);
}

void tok_set_piece(Tokenizer *t, int id, const char *piece, size_t len, const char *bytes,
                   size_t bytes_len)
{
    free(t->piece[id]);
    free(t->bytes[id]);
    t->piece[id] = xmalloc(len + 1);
    memcpy(t->piece[id], piece, len);
    t->piece[id][len] = '\0';
    t->piece_len[id] = (uint32_t)len;
    t->bytes[id] = xmalloc(bytes_len + 1);
    memcpy(t->bytes[id], bytes, bytes_len);
    t->bytes[id][bytes_len] = '\0';
    t->bytes_len[id] = (uint32_t)bytes_len;
}

void tok_add_token(Tokenizer *t, const char *content, size_t len, int id, bool special,
                   bool lstrip, bool rstrip, bool single_word, bool normalized)
{
    t->added = xrealloc(t->added, (size_t)(t->n_added + 1) * sizeof *t->added);
    AddedToken *a = &t->added[t->n_added++];
    a->content = xmalloc(len + 1);
    memcpy(a->content, content, len);
    a->content[len] = '\0';
    a->len = len;
    a->id = id;
    a->special = special;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
    a->single_word = single_word;
    a->normalized = normalized;
    if (len > 0) t->added_first[(uint8_t)content[0]]++;
    if (special) t->is_special[id] = true;
}

/* GPT-2's alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) are shifted to U+0100 and up in byte order. */
uint32_t bytelevel_char(uint8_t b)
{
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (b - 0x7Fu);
    if (b == 0xAD) return 256u + 67u;
    return b;
}

int bytelevel_byte(uint32_t cp)
{
    if (cp < 256) return bytelevel_char((uint8_t)cp) == cp ? (int)cp : -1;
    uint32_t n = cp - 256;
    if (n < 33) return (int)n;
    if (n < 67) return (int)(0x7F + n - 33);
    if (n == 67) return 0xAD;
    return -1;
}

long bytelevel_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint8_t c = (uint8_t)s[i];
        uint32_t cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < len && ((uint8_t)s[i + 1] & 0xC0) == 0x80) {
            cp = ((uint32_t)(c & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1;  /* the alphabet lies below U+0800: longer sequences are not in it */
        }
        int b = bytelevel_byte(cp);
        if (b < 0) return -1;
        out[o++] = (char)b;
    }
    return (long)o;
}
