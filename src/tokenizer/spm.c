/* SentencePiece-style BPE (Llama 2, llama2.c tokenizer.bin, GGUF "llama" vocabularies): the
 * text with a dummy-prefix space, split into characters, merged pair by pair in order of the
 * merged piece's score (leftmost first on ties), and byte fallback (<0xNN>) for what is left
 * outside the vocabulary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"

/* Parses "<0xNN>" into its byte, or returns -1. */
static int byte_piece_value(const char *p, size_t n)
{
    if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
              : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Replaces every U+2581 (the SentencePiece space mark) by a space. */
static void spm_surface(const char *p, size_t n, StrBuf *out)
{
    out->len = 0;
    strbuf_append(out, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && (uint8_t)p[i] == 0xE2 && (uint8_t)p[i + 1] == 0x96 &&
            (uint8_t)p[i + 2] == 0x81) {
            strbuf_append(out, " ", 1);
            i += 2;
        } else {
            strbuf_append(out, p + i, 1);
        }
    }
}

void spm_finish(Tokenizer *t)
{
    t->kind = TOK_SPM_BPE;
    t->add_dummy_prefix = true;
    for (int b = 0; b < 256; b++) t->byte_fallback[b] = -1;
    t->mergeable = xcalloc((size_t)t->n_vocab, sizeof *t->mergeable);
    if (!t->bytes_map.slots) strmap_init(&t->bytes_map, (size_t)t->n_vocab);
    if (!t->piece_map.slots) strmap_init(&t->piece_map, (size_t)t->n_vocab);
    StrBuf surface = {0};
    for (int id = 0; id < t->n_vocab; id++) {
        if (!t->piece[id]) continue;
        if (strmap_get(&t->piece_map, t->piece[id], t->piece_len[id]) < 0)
            strmap_put(&t->piece_map, t->piece[id], t->piece_len[id], id);
        if (t->is_special[id]) continue;
        int b = byte_piece_value(t->piece[id], t->piece_len[id]);
        if (b >= 0) {
            if (t->byte_fallback[b] < 0) t->byte_fallback[b] = id;
            char c = (char)b;
            free(t->bytes[id]);
            t->bytes[id] = xmalloc(2);
            t->bytes[id][0] = c;
            t->bytes[id][1] = '\0';
            t->bytes_len[id] = 1;
            continue;
        }
        spm_surface(t->piece[id], t->piece_len[id], &surface);
        free(t->bytes[id]);
        t->bytes[id] = xstrdup(surface.data);
        t->bytes_len[id] = (uint32_t)surface.len;
        t->mergeable[id] = true;
        if (surface.len > 0 && strmap_get(&t->bytes_map, surface.data, surface.len) < 0)
            strmap_put(&t->bytes_map, surface.data, surface.len, id);
    }
    strbuf_free(&surface);
}

int spm_load_llama2c(Tokenizer *t, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return pf_fail("%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 4) {
        fclose(f);
        return pf_fail("%s: too short for a llama2.c tokenizer (%ld bytes)", path, size);
    }
    unsigned char *data = xmalloc((size_t)size);
    size_t got = fread(data, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(data);
        return pf_fail("%s: read error", path);
    }

    int32_t max_len;
    memcpy(&max_len, data, 4);
    if (max_len <= 0 || max_len > 65536) {
        free(data);
        return pf_fail("%s: max_token_length %d is not from 1 to 65536 (not a llama2.c "
                       "tokenizer?)", path, max_len);
    }
    /* first pass: count and check the records */
    size_t pos = 4;
    int n = 0;
    while (pos < (size_t)size) {
        int32_t len;
        if ((size_t)size - pos < 8) break;
        memcpy(&len, data + pos + 4, 4);
        if (len < 0 || len > max_len || (size_t)len > (size_t)size - pos - 8) break;
        pos += 8 + (size_t)len;
        n++;
    }
    if (pos != (size_t)size || n == 0) {
        free(data);
        return pf_fail("%s: token %d at byte %zu is truncated or longer than max_token_length "
                       "%d", path, n, pos, max_len);
    }

    tok_alloc_vocab(t, n);
    strmap_init(&t->piece_map, (size_t)n);
    strmap_init(&t->bytes_map, (size_t)n);
    pos = 4;
    for (int id = 0; id < n; id++) {
        int32_t len;
        memcpy(&t->score[id], data + pos, 4);
        memcpy(&len, data + pos + 4, 4);
        const char *p = (const char *)data + pos + 8;
        tok_set_piece(t, id, p, (size_t)len, p, (size_t)len);
        pos += 8 + (size_t)len;
    }
    free(data);

    /* llama2.c files do not mark their special tokens: ids 0, 1, 2 are <unk>, <s>, </s>
     * (some exports write them as "\n<s>\n"; the canonical names are used instead) */
    static const char *const names[3] = {"<unk>", "<s>", "</s>"};
    for (int id = 0; id < 3 && id < n; id++) {
        tok_set_piece(t, id, names[id], strlen(names[id]), "", 0);
        t->is_special[id] = true;
        if (id > 0) tok_add_token(t, t->piece[id], t->piece_len[id], id, true, false, false,
                                  false, false);
    }
    t->unk_id = n > 0 ? 0 : -1;
    t->bos_id = n > 1 ? 1 : -1;
    t->eos_id = n > 2 ? 2 : -1;
    spm_finish(t);
    return 0;
}

typedef struct SpmItem {
    float score;
    int32_t left, right, id;
} SpmItem;

/* Higher score first, then the leftmost pair: SentencePiece's agenda order. */
static bool spm_before(const SpmItem *a, const SpmItem *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void spm_push(SpmItem *h, size_t *n, SpmItem x)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!spm_before(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static SpmItem spm_pop(SpmItem *h, size_t *n)
{
    SpmItem top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && spm_before(&h[c + 1], &h[c])) c++;
        if (!spm_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

typedef struct SpmSym {
    int32_t start, len, prev, next;
} SpmSym;

static void spm_try_pair(const Tokenizer *t, const char *s, const SpmSym *sym, int l,
                         SpmItem *heap, size_t *hn)
{
    if (l < 0) return;
    int r = sym[l].next;
    if (r < 0) return;
    int id = strmap_get(&t->bytes_map, s + sym[l].start, (size_t)(sym[l].len + sym[r].len));
    if (id >= 0) spm_push(heap, hn, (SpmItem){t->score[id], l, r, id});
}

int spm_encode_segment(const Tokenizer *t, const char *text, size_t len, bool at_start,
                       IntVec *out)
{
    StrBuf s = {0};
    if (at_start && t->add_dummy_prefix) strbuf_append(&s, " ", 1);
    strbuf_append(&s, text, len);
    if (s.len > (size_t)INT32_MAX / 2) {
        strbuf_free(&s);
        return pf_fail("text of %zu bytes is too long to encode at once", len);
    }

    /* one symbol per UTF-8 character (an invalid byte is a symbol of its own) */
    SpmSym *sym = xmalloc((s.len + 1) * sizeof *sym);
    int n = 0;
    for (size_t i = 0; i < s.len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const uint8_t *)s.data + i,
                                              (utf8proc_ssize_t)(s.len - i), &cp);
        if (k <= 0) k = 1;
        sym[n] = (SpmSym){(int32_t)i, (int32_t)k, n - 1, n + 1};
        n++;
        i += (size_t)k;
    }
    if (n > 0) sym[n - 1].next = -1;

    SpmItem *heap = xmalloc(((size_t)n * 2 + 1) * sizeof *heap);
    size_t hn = 0;
    for (int i = 0; i + 1 < n; i++) spm_try_pair(t, s.data, sym, i, heap, &hn);
    while (hn > 0) {
        SpmItem top = spm_pop(heap, &hn);
        int l = top.left, r = top.right;
        if (sym[l].len == 0 || sym[r].len == 0 || sym[l].next != r ||
            (uint32_t)(sym[l].len + sym[r].len) != t->bytes_len[top.id])
            continue;
        sym[l].len += sym[r].len;
        sym[r].len = 0;
        sym[l].next = sym[r].next;
        if (sym[r].next >= 0) sym[sym[r].next].prev = l;
        if (sym[l].prev >= 0) spm_try_pair(t, s.data, sym, sym[l].prev, heap, &hn);
        spm_try_pair(t, s.data, sym, l, heap, &hn);
    }

    for (int i = n > 0 ? 0 : -1; i >= 0; i = sym[i].next) {
        int id = strmap_get(&t->bytes_map, s.data + sym[i].start, (size_t)sym[i].len);
        if (id >= 0) {
            intvec_push(out, id);
            continue;
        }
        for (int k = 0; k < sym[i].len; k++) {
            int b = t->byte_fallback[(uint8_t)s.data[sym[i].start + k]];
            if (b >= 0) intvec_push(out, b);
            else if (t->unk_id >= 0) intvec_push(out, t->unk_id);
            if (b < 0) break;  /* without byte pieces the whole symbol is one <unk> */
        }
    }
    free(heap);
    free(sym);
    strbuf_free(&s);
    return 0;
}
