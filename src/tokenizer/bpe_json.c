/* Loads a Hugging Face tokenizer.json with a byte-level BPE model (jansson): vocabulary,
 * merges (string or pair form), added tokens, NFC normaliser, Split + ByteLevel pre-tokenizer,
 * and BOS/EOS from a tokenizer_config.json beside it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"
#include "util/error.h"

/* The GPT-2 pattern that ByteLevel(use_regex=true) applies. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int load_normalizer(Tokenizer *t, json_t *norm, const char *path)
{
    if (!norm || json_is_null(norm)) return 0;
    const char *type = json_string_value(json_object_get(norm, "type"));
    if (!type) return pf_fail("%s: normalizer has no \"type\"", path);
    if (strcmp(type, "NFC") == 0) {
        t->nfc = true;
        return 0;
    }
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(norm, "normalizers");
        if (!json_is_array(list)) return pf_fail("%s: normalizer Sequence has no list", path);
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            if (load_normalizer(t, item, path)) return -1;
        }
        return 0;
    }
    return pf_fail("%s: normalizer type \"%s\" is not supported (only NFC)", path, type);
}

static int load_pretokenizer(Tokenizer *t, json_t *pre, const char *path, bool *prefix_space)
{
    if (!pre || json_is_null(pre)) return 0;
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type) return pf_fail("%s: pre_tokenizer has no \"type\"", path);
    if (strcmp(type, "Sequence") == 0) {
        json_t *list = json_object_get(pre, "pretokenizers");
        if (!json_is_array(list)) return pf_fail("%s: pre_tokenizer Sequence has no list", path);
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item) {
            if (load_pretokenizer(t, item, path, prefix_space)) return -1;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        *prefix_space = json_is_true(json_object_get(pre, "add_prefix_space"));
        json_t *use_regex = json_object_get(pre, "use_regex");
        if (!use_regex || json_is_true(use_regex)) {
            if (t->regex) return pf_fail("%s: two regex pre-tokenizers are not supported", path);
            return bpe_set_pattern(t, GPT2_PATTERN, path);
        }
        return 0;
    }
    if (strcmp(type, "Split") == 0) {
        const char *behavior = json_string_value(json_object_get(pre, "behavior"));
        if (!behavior || strcmp(behavior, "Isolated") != 0 ||
            json_is_true(json_object_get(pre, "invert")))
            return pf_fail("%s: Split pre-tokenizer: only behavior Isolated without invert is "
                           "supported", path);
        json_t *pat = json_object_get(pre, "pattern");
        const char *regex = json_string_value(json_object_get(pat, "Regex"));
        if (!regex) return pf_fail("%s: Split pre-tokenizer needs a \"Regex\" pattern", path);
        if (t->regex) return pf_fail("%s: two regex pre-tokenizers are not supported", path);
        return bpe_set_pattern(t, regex, path);
    }
    return pf_fail("%s: pre_tokenizer type \"%s\" is not supported", path, type);
}

/* Splits a merge written "a b" into its two halves (at the only space). */
static int merge_halves(json_t *m, const char **a, size_t *alen, const char **b, size_t *blen)
{
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t n = json_string_length(m);
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s))) return -1;
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = n - *alen - 1;
        return 0;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *alen = json_string_length(json_array_get(m, 0));
        *b = json_string_value(json_array_get(m, 1));
        *blen = json_string_length(json_array_get(m, 1));
        return 0;
    }
    return -1;
}

static int load_merges(Tokenizer *t, json_t *merges, const char *path)
{
    if (!json_is_array(merges)) return pf_fail("%s: model.merges is not a list", path);
    pairmap_init(&t->merges, json_array_size(merges));
    StrBuf joined = {0};
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t alen, blen;
        if (merge_halves(m, &a, &alen, &b, &blen))
            return pf_fail("%s: model.merges[%zu] is not \"a b\" or [a, b]", path, i);
        int ia = strmap_get(&t->piece_map, a, alen);
        int ib = strmap_get(&t->piece_map, b, blen);
        joined.len = 0;
        strbuf_append(&joined, a, alen);
        strbuf_append(&joined, b, blen);
        int im = strmap_get(&t->piece_map, joined.data, joined.len);
        if (ia < 0 || ib < 0 || im < 0) {
            strbuf_free(&joined);
            return pf_fail("%s: model.merges[%zu] uses a token missing from the vocabulary",
                           path, i);
        }
        pairmap_put(&t->merges, ia, ib, (int)i, im);
    }
    strbuf_free(&joined);
    return 0;
}

/* Reads the vocabulary into the per-id tables. */
static int load_vocab(Tokenizer *t, json_t *vocab, json_t *added, const char *path)
{
    if (!json_is_object(vocab)) return pf_fail("%s: model.vocab is not an object", path);
    if (added && !json_is_array(added)) return pf_fail("%s: added_tokens is not a list", path);
    long max_id = -1;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= (1 << 24))
            return pf_fail("%s: model.vocab[\"%s\"] is not an id from 0 to 2^24", path, key);
        if (json_integer_value(v) > max_id) max_id = (long)json_integer_value(v);
    }
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= (1 << 24) || !json_is_string(json_object_get(a, "content")))
            return pf_fail("%s: added_tokens[%zu] needs an id from 0 to 2^24 and a content",
                           path, i);
        if (json_integer_value(id) > max_id) max_id = (long)json_integer_value(id);
    }
    if (max_id < 0) return pf_fail("%s: model.vocab is empty", path);

    tok_alloc_vocab(t, (int)max_id + 1);
    strmap_init(&t->piece_map, (size_t)max_id + 1);
    strmap_init(&t->bytes_map, (size_t)max_id + 1);
    char *raw = NULL;
    size_t raw_cap = 0;
    json_object_foreach(vocab, key, v) {
        int id = (int)json_integer_value(v);
        size_t len = strlen(key);
        if (len + 1 > raw_cap) {
            raw_cap = 2 * len + 16;
            raw = xrealloc(raw, raw_cap);
        }
        long n = bytelevel_decode(key, len, raw);
        if (n < 0) tok_set_piece(t, id, key, len, key, len);
        else tok_set_piece(t, id, key, len, raw, (size_t)n);
        strmap_put(&t->piece_map, key, len, id);
        if (n >= 0) strmap_put(&t->bytes_map, raw, (size_t)n, id);
    }
    free(raw);

    json_array_foreach(added, i, a) {
        int id = (int)json_integer_value(json_object_get(a, "id"));
        json_t *c = json_object_get(a, "content");
        const char *content = json_string_value(c);
        size_t len = json_string_length(c);
        if (!t->piece[id]) tok_set_piece(t, id, content, len, content, len);
        strmap_put(&t->piece_map, content, len, id);
        tok_add_token(t, content, len, id, json_is_true(json_object_get(a, "special")),
                      json_is_true(json_object_get(a, "lstrip")),
                      json_is_true(json_object_get(a, "rstrip")),
                      json_is_true(json_object_get(a, "single_word")),
                      json_is_true(json_object_get(a, "normalized")));
    }
    return 0;
}

/* Reads bos_token/eos_token ("..." or {"content": "..."}) from tokenizer_config.json. */
static void load_special_ids(Tokenizer *t, const char *path)
{
    t->bos_id = t->eos_id = -1;
    StrBuf cfg = {0};
    strbuf_puts(&cfg, path);
    char *slash = strrchr(cfg.data, '/');
    size_t dir_len = slash ? (size_t)(slash - cfg.data) + 1 : 0;
    cfg.len = dir_len;
    cfg.data[dir_len] = '\0';
    strbuf_puts(&cfg, "tokenizer_config.json");
    json_t *root = json_load_file(cfg.data, 0, NULL);
    strbuf_free(&cfg);
    if (!root) return;
    const char *names[2] = {"bos_token", "eos_token"};
    int *ids[2] = {&t->bos_id, &t->eos_id};
    for (int k = 0; k < 2; k++) {
        json_t *v = json_object_get(root, names[k]);
        if (json_is_object(v)) v = json_object_get(v, "content");
        if (json_is_string(v))
            *ids[k] = strmap_get(&t->piece_map, json_string_value(v), json_string_length(v));
    }
    json_decref(root);
}

int bpe_load_json(Tokenizer *t, const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
    if (!root)
        return pf_fail("%s: line %d: not valid JSON: %s", path, jerr.line, jerr.text);
    int rc = -1;
    json_t *model = json_object_get(root, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    bool prefix_space = false;
    if (!type || strcmp(type, "BPE") != 0) {
        pf_fail("%s: model.type is \"%s\"; only BPE is supported", path, type ? type : "?");
        goto done;
    }
    t->kind = TOK_BYTE_BPE;
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    if (load_vocab(t, json_object_get(model, "vocab"), json_object_get(root, "added_tokens"),
                   path))
        goto done;
    if (load_merges(t, json_object_get(model, "merges"), path)) goto done;
    if (load_normalizer(t, json_object_get(root, "normalizer"), path)) goto done;
    if (load_pretokenizer(t, json_object_get(root, "pre_tokenizer"), path, &prefix_space))
        goto done;
    if (prefix_space) {
        /* TODO: ByteLevel(add_prefix_space=true) (prefix a space to text that does not start
         * with one) is not implemented; none of the supported families uses it. */
        pf_fail("%s: ByteLevel add_prefix_space=true is not supported", path);
        goto done;
    }
    load_special_ids(t, path);
    rc = bpe_finish(t, path);
done:
    json_decref(root);
    return rc;
}
