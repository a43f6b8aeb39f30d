/* SFT examples from JSONL (see sft.h): line reading with a size cap, row validation, rendering
 * through the chat template, per-segment tokenization, loss masks, truncation, shuffling and
 * the held-out split. */
#include "data/sft.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "util/error.h"
#include "util/rng.h"

#define SFT_MAX_LINE ((size_t)64 << 20) /* longer lines are refused, not read whole */
#define SFT_MAX_TURNS 4096

static int tok_encode(void *ctx, const char *text, size_t len, bool parse_special, IntVec *out)
{
    return tokenizer_encode(ctx, text, len, parse_special, out);
}

static int tok_token_id(void *ctx, const char *piece) { return tokenizer_token_id(ctx, piece); }

void sft_encoder_from_tokenizer(const Tokenizer *tok, SftEncoder *out)
{
    out->encode = tok_encode;
    out->token_id = tok_token_id;
    out->bos_id = tokenizer_bos_id(tok);
    out->eos_id = tokenizer_eos_id(tok);
    out->ctx = (void *)tok;
}

void sft_options_default(SftOptions *o)
{
    memset(o, 0, sizeof *o);
    o->prompt_key = "prompt";
    o->response_key = "response";
    o->messages_key = "messages";
    o->truncation = SFT_TRUNCATE_ERROR;
}

int sft_truncation_parse(const char *name, SftTruncation *out)
{
    if (!strcmp(name, "error")) *out = SFT_TRUNCATE_ERROR;
    else if (!strcmp(name, "left")) *out = SFT_TRUNCATE_LEFT;
    else if (!strcmp(name, "right")) *out = SFT_TRUNCATE_RIGHT;
    else return pf_fail("truncation '%s': expected error, left or right", name);
    return 0;
}

static bool ids_prefix(const IntVec *p, const IntVec *whole)
{
    if (p->len == 0) return true;
    return p->len <= whole->len && memcmp(p->data, whole->data, p->len * sizeof *p->data) == 0;
}

/* Encodes a run of consecutive text segments (no special tokens between them) the way the
 * whole text would be tokenized, so that a tokenizer that adds a space marker at the start of
 * each call (SentencePiece) or merges across the boundary gives the same ids as at inference.
 * Where the prompt/response flag changes inside the run, the split is where the tokens of the
 * text before it end; when those are not a prefix of the whole, each side is encoded alone. */
static int encode_run(const SftEncoder *enc, const ChatSegment *segs, size_t n, IntVec *tokens,
                      IntVec *mask)
{
    StrBuf text = {0};
    strbuf_append(&text, "", 0);
    size_t *cut = xmalloc((n + 1) * sizeof *cut); /* byte offset where segment k starts */
    for (size_t k = 0; k < n; k++) {
        cut[k] = text.len;
        strbuf_append(&text, segs[k].text, segs[k].len);
    }
    cut[n] = text.len;

    IntVec whole = {0}, part = {0};
    size_t *split = xmalloc((n + 1) * sizeof *split); /* token index where segment k starts */
    int rc = enc->encode(enc->ctx, text.data, text.len, false, &whole);
    bool whole_ok = rc == 0;
    split[0] = 0;
    for (size_t k = 1; k < n && whole_ok; k++) {
        split[k] = split[k - 1];
        if (segs[k].assistant == segs[k - 1].assistant) continue;
        part.len = 0;
        rc = enc->encode(enc->ctx, text.data, cut[k], false, &part);
        whole_ok = rc == 0 && ids_prefix(&part, &whole) && part.len >= split[k - 1];
        split[k] = part.len;
    }
    if (whole_ok) {
        size_t k = 0; /* the last segment starting at or before token i */
        for (size_t i = 0; i < whole.len; i++) {
            while (k + 1 < n && split[k + 1] <= i) k++;
            intvec_push(tokens, whole.data[i]);
            intvec_push(mask, segs[k].assistant ? 1 : 0);
        }
    } else if (rc == 0) {
        /* Each group of same-side segments alone. */
        for (size_t k = 0; k < n && rc == 0;) {
            size_t end = k + 1;
            while (end < n && segs[end].assistant == segs[k].assistant) end++;
            size_t before = tokens->len;
            rc = enc->encode(enc->ctx, text.data + cut[k], cut[end] - cut[k], false, tokens);
            for (size_t i = before; i < tokens->len; i++) intvec_push(mask, segs[k].assistant);
            k = end;
        }
    }
    intvec_free(&whole);
    intvec_free(&part);
    strbuf_free(&text);
    free(cut);
    free(split);
    return rc;
}

int sft_encode_messages(const ChatTemplate *t, const SftEncoder *enc, const ChatMessage *msgs,
                        size_t n, bool add_generation_prompt, IntVec *tokens, IntVec *mask)
{
    ChatRendering r = {0};
    if (chat_render(t, msgs, n, add_generation_prompt, &r) != 0) return -1;

    int rc = 0;
    for (size_t i = 0; i < r.n && rc == 0;) {
        const ChatSegment *g = &r.segments[i];
        if (g->kind == SEG_TEXT || g->kind == SEG_MARKUP) {
            size_t end = i + 1;
            while (end < r.n && (r.segments[end].kind == SEG_TEXT ||
                                 r.segments[end].kind == SEG_MARKUP))
                end++;
            rc = encode_run(enc, r.segments + i, end - i, tokens, mask);
            i = end;
            continue;
        }
        int id = -1;
        if (g->kind == SEG_TOKEN) {
            id = enc->token_id(enc->ctx, g->text);
            if (id < 0) rc = pf_fail("token '%s' of the %s template is not in the vocabulary",
                                     g->text, chat_family_name(t->family));
        } else if (g->kind == SEG_BOS) {
            id = enc->bos_id; /* none: nothing to add */
        } else if (enc->eos_id < 0) {
            rc = pf_fail("the tokenizer declares no end-of-sequence token");
        } else {
            id = enc->eos_id;
        }
        if (rc == 0 && id >= 0) {
            intvec_push(tokens, id);
            intvec_push(mask, g->assistant ? 1 : 0);
        }
        i++;
    }
    chat_rendering_free(&r);
    return rc;
}

/* Reads one line (without its '\n') into *line. Returns 1 for a line, 0 at end of file. A line
 * over the cap is consumed but not stored, and *too_long is set. NUL bytes are kept. */
static int read_line(FILE *f, StrBuf *line, bool *too_long)
{
    line->len = 0;
    strbuf_append(line, "", 0);
    *too_long = false;
    char buf[4096];
    size_t k = 0;
    bool any = false;
    int c;
    while ((c = getc_unlocked(f)) != EOF) {
        any = true;
        if (c == '\n') break;
        if (line->len + k >= SFT_MAX_LINE) {
            *too_long = true;
            continue;
        }
        buf[k++] = (char)c;
        if (k == sizeof buf) {
            strbuf_append(line, buf, k);
            k = 0;
        }
    }
    if (k) strbuf_append(line, buf, k);
    return any ? 1 : 0;
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return false;
    return true;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* The value at a dotted key ("extra_info.question"), or NULL. */
static json_t *get_dotted(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key); /* a literal key with dots wins */
    if (v) return v;
    char part[256];
    const char *p = key;
    v = obj;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part || !json_is_object(v)) return NULL;
        memcpy(part, p, n);
        part[n] = '\0';
        v = json_object_get(v, part);
        if (!v) return NULL;
        p = dot ? dot + 1 : p + n;
    }
    return v;
}

/* A row failure: its reason and message ("file: line N: ..."). */
typedef struct RowError {
    SftSkip reason;
    char msg[320];
} RowError;

static int row_fail(RowError *e, SftSkip reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int row_fail(RowError *e, SftSkip reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    e->reason = reason;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int string_field(json_t *row, const char *key, const char **out, RowError *e)
{
    json_t *v = get_dotted(row, key);
    if (!v) return row_fail(e, SFT_SKIP_FIELD, "missing field '%s'", key);
    if (!json_is_string(v))
        return row_fail(e, SFT_SKIP_FIELD, "field '%s' is %s, not a string", key, json_kind(v));
    *out = json_string_value(v);
    return 0;
}

static bool text_blank(const char *s) { return is_blank(s, strlen(s)); }

/* The conversation of a row: its messages list, or prompt then response. */
static int row_messages(json_t *row, const SftOptions *o, ChatMessage **msgs, size_t *n,
                        RowError *e)
{
    json_t *list = o->messages_key ? json_object_get(row, o->messages_key) : NULL;
    if (list) {
        if (!json_is_array(list))
            return row_fail(e, SFT_SKIP_FIELD, "field '%s' is %s, not a list", o->messages_key,
                            json_kind(list));
        size_t count = json_array_size(list);
        if (count == 0 || count > SFT_MAX_TURNS)
            return row_fail(e, SFT_SKIP_FIELD, "'%s' has %zu turns (1 to %d allowed)",
                            o->messages_key, count, SFT_MAX_TURNS);
        *msgs = xcalloc(count, sizeof **msgs);
        *n = count;
        bool any_assistant = false;
        for (size_t i = 0; i < count; i++) {
            json_t *m = json_array_get(list, i);
            json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
            if (!json_is_object(m) || !json_is_string(role) || !json_is_string(content))
                return row_fail(e, SFT_SKIP_FIELD, "%s[%zu] needs string 'role' and 'content'",
                                o->messages_key, i);
            const char *r = json_string_value(role);
            if (!strcmp(r, "system")) (*msgs)[i].role = CHAT_SYSTEM;
            else if (!strcmp(r, "user")) (*msgs)[i].role = CHAT_USER;
            else if (!strcmp(r, "assistant")) (*msgs)[i].role = CHAT_ASSISTANT;
            else return row_fail(e, SFT_SKIP_FIELD, "%s[%zu]: unknown role '%.40s' (system, "
                                 "user or assistant)", o->messages_key, i, r);
            (*msgs)[i].content = json_string_value(content);
            if ((*msgs)[i].role == CHAT_ASSISTANT) {
                any_assistant = true;
                if (text_blank((*msgs)[i].content))
                    return row_fail(e, SFT_SKIP_EMPTY_RESPONSE, "%s[%zu]: empty assistant turn",
                                    o->messages_key, i);
            }
        }
        if (!any_assistant)
            return row_fail(e, SFT_SKIP_NO_LOSS, "'%s' has no assistant turn", o->messages_key);
        return 0;
    }
    const char *prompt, *response;
    if (string_field(row, o->prompt_key, &prompt, e) != 0) return -1;
    if (string_field(row, o->response_key, &response, e) != 0) return -1;
    if (text_blank(response))
        return row_fail(e, SFT_SKIP_EMPTY_RESPONSE, "field '%s' is empty", o->response_key);
    *msgs = xcalloc(2, sizeof **msgs);
    (*msgs)[0] = (ChatMessage){CHAT_USER, prompt};
    (*msgs)[1] = (ChatMessage){CHAT_ASSISTANT, response};
    *n = 2;
    return 0;
}

/* Applies max_length to tokens/mask in place; returns -1 with *e set when the row must go. */
static int apply_max_length(IntVec *tokens, IntVec *mask, const SftOptions *o, bool *truncated,
                            RowError *e)
{
    *truncated = false;
    if (o->max_length <= 0 || tokens->len <= (size_t)o->max_length) return 0;
    size_t max = (size_t)o->max_length, prompt = 0;
    while (prompt < mask->len && mask->data[prompt] == 0) prompt++;
    if (prompt >= max)
        return row_fail(e, SFT_SKIP_PROMPT_TOO_LONG, "prompt has %zu tokens, max length is %zu",
                        prompt, max);
    if (o->truncation == SFT_TRUNCATE_ERROR)
        return row_fail(e, SFT_SKIP_TOO_LONG, "example has %zu tokens, max length is %zu (or "
                        "choose truncation left/right)", tokens->len, max);
    size_t drop = tokens->len - max;
    if (o->truncation == SFT_TRUNCATE_LEFT) {
        memmove(tokens->data, tokens->data + drop, max * sizeof *tokens->data);
        memmove(mask->data, mask->data + drop, max * sizeof *mask->data);
    }
    tokens->len = mask->len = max;
    *truncated = true;
    return 0;
}

/* One row into *out; returns 0, -1 with *e for a row problem, or -2 for a fatal error (already
 * recorded with pf_fail). */
static int process_row(const char *line, size_t len, long lineno, const ChatTemplate *t,
                       const SftEncoder *enc, const SftOptions *o, SftDataset *out,
                       SftStats *st, RowError *e)
{
    if (memchr(line, '\0', len))
        return row_fail(e, SFT_SKIP_JSON, "contains a NUL byte (binary data, not JSONL text)");
    /* A UTF-8 byte order mark (files saved by Windows editors) starts the first line. */
    if (lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
        line += 3;
        len -= 3;
    }
    json_error_t jerr;
    json_t *row = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, &jerr);
    if (!row) {
        size_t i = 0;
        while (i < len && is_blank(line + i, 1)) i++;
        bool array_start = i < len && line[i] == '[';
        return row_fail(e, SFT_SKIP_JSON, "malformed JSON at column %d: %s%s", jerr.column,
                        jerr.text, array_start ? " (a JSON array file? priorft reads JSONL: one "
                                                 "object per line)" : "");
    }
    int rc = 0;
    ChatMessage *msgs = NULL;
    size_t n = 0;
    IntVec tokens = {0}, mask = {0};
    bool truncated = false;
    if (!json_is_object(row)) {
        rc = row_fail(e, SFT_SKIP_JSON, "%s, not an object (JSONL holds one object per line)",
                      json_kind(row));
    } else if (row_messages(row, o, &msgs, &n, e) != 0) {
        rc = -1;
    } else if (sft_encode_messages(t, enc, msgs, n, false, &tokens, &mask) != 0) {
        rc = -2;
    } else if (apply_max_length(&tokens, &mask, o, &truncated, e) != 0) {
        rc = -1;
    } else {
        long kept = 0;
        for (size_t i = 1; i < mask.len; i++) kept += mask.data[i];
        if (kept == 0) {
            rc = row_fail(e, SFT_SKIP_NO_LOSS, "no token left under the loss mask");
        } else {
            uint8_t *m8 = xmalloc(mask.len ? mask.len : 1);
            for (size_t i = 0; i < mask.len; i++) m8[i] = (uint8_t)mask.data[i];
            sft_dataset_push(out, tokens.data, m8, (int)tokens.len, lineno);
            free(m8);
            st->truncated += truncated;
            st->response_tokens += kept;
            st->total_tokens += (long)tokens.len;
        }
    }
    free(msgs);
    intvec_free(&tokens);
    intvec_free(&mask);
    json_decref(row);
    return rc;
}

int sft_load_jsonl(const char *path, const ChatTemplate *t, const SftEncoder *enc,
                   const SftOptions *o, SftDataset *out, SftStats *stats)
{
    memset(stats, 0, sizeof *stats);
    FILE *f = fopen(path, "rb");
    if (!f) return pf_fail("%s: %s", path, strerror(errno));
    struct stat fs;
    if (fstat(fileno(f), &fs) == 0 && S_ISDIR(fs.st_mode)) {
        fclose(f);
        return pf_fail("%s: is a folder, not a JSONL file", path);
    }

    StrBuf line = {0};
    bool too_long = false;
    long lineno = 0, rows_seen = 0;
    int rc = 0;
    while (rc == 0 && read_line(f, &line, &too_long)) {
        lineno++;
        if (!too_long && is_blank(line.data, line.len)) {
            stats->blank_lines++;
            continue;
        }
        if (o->max_rows > 0 && rows_seen >= o->max_rows) break;
        rows_seen++;
        RowError e = {0};
        int r = too_long ? row_fail(&e, SFT_SKIP_JSON, "line longer than %zu bytes",
                                    SFT_MAX_LINE)
                         : process_row(line.data, line.len, lineno, t, enc, o, out, stats, &e);
        if (r == -2) {
            rc = pf_fail_context("%s: line %ld", path, lineno);
        } else if (r == -1 && !o->skip_bad_rows) {
            rc = pf_fail("%s: line %ld: %s", path, lineno, e.msg);
        } else if (r == -1) {
            stats->skipped[e.reason]++;
            if (!stats->first_skip[0])
                snprintf(stats->first_skip, sizeof stats->first_skip,
                         "%.150s: line %ld: %.300s", path,
                         lineno, e.msg);
        } else {
            stats->kept++;
        }
    }
    if (rc == 0 && ferror(f)) rc = pf_fail("%s: read error after line %ld", path, lineno);
    fclose(f);
    strbuf_free(&line);

    long skipped = 0;
    for (int i = 0; i < SFT_SKIP_COUNT; i++) skipped += stats->skipped[i];
    stats->rows = stats->kept + skipped;
    if (rc == 0 && stats->rows == 0)
        rc = pf_fail("%s: empty file (no JSONL rows)", path);
    else if (rc == 0 && stats->kept == 0)
        rc = pf_fail("%s: no usable example: all %ld rows skipped (first: %s)", path,
                     stats->rows, stats->first_skip);
    return rc;
}

void sft_stats_summary(const SftStats *s, StrBuf *out)
{
    static const char *names[SFT_SKIP_COUNT] = {
        "malformed JSON or not a JSON object", "missing or non-string field",
        "empty response", "prompt reaches max length", "longer than max length",
        "no token under the loss mask",
    };
    strbuf_printf(out, "%ld rows, %ld examples kept, %ld tokens (%ld under the loss mask)\n",
                  s->rows, s->kept, s->total_tokens, s->response_tokens);
    if (s->truncated) strbuf_printf(out, "%ld examples truncated to max length\n", s->truncated);
    if (s->blank_lines) strbuf_printf(out, "%ld blank lines ignored\n", s->blank_lines);
    for (int i = 0; i < SFT_SKIP_COUNT; i++)
        if (s->skipped[i]) strbuf_printf(out, "%ld rows skipped: %s\n", s->skipped[i], names[i]);
    if (s->first_skip[0]) strbuf_printf(out, "first skipped row: %s\n", s->first_skip);
}

void sft_dataset_push(SftDataset *d, const int *tokens, const uint8_t *mask, int len, long line)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 64;
        d->examples = xrealloc(d->examples, d->cap * sizeof *d->examples);
    }
    SftExample *e = &d->examples[d->n++];
    size_t n = len > 0 ? (size_t)len : 1;
    e->tokens = xmalloc(n * sizeof *e->tokens);
    e->loss_mask = xmalloc(n);
    if (len > 0) {
        memcpy(e->tokens, tokens, (size_t)len * sizeof *tokens);
        memcpy(e->loss_mask, mask, (size_t)len);
    }
    e->len = len;
    e->line = line;
}

long sft_example_kept(const SftExample *e)
{
    long kept = 0;
    for (int i = 1; i < e->len; i++) kept += e->loss_mask[i];
    return kept;
}

void sft_dataset_shuffle(SftDataset *d, uint64_t seed)
{
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = d->n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        SftExample tmp = d->examples[i - 1];
        d->examples[i - 1] = d->examples[j];
        d->examples[j] = tmp;
    }
}

int sft_dataset_split(SftDataset *d, double fraction, long count, uint64_t seed,
                      SftDataset *val)
{
    size_t n_val = count > 0 ? (size_t)count : (size_t)llround(fraction * (double)d->n);
    if (!(fraction >= 0.0 && fraction < 1.0) && count <= 0)
        return pf_fail("validation fraction %g: expected a number in [0, 1)", fraction);
    if (n_val >= d->n)
        return pf_fail("validation split of %zu examples leaves none of %zu for training",
                       n_val, d->n);
    if (n_val == 0) return 0;

    /* Seeded choice of n_val indices: the first n_val of a shuffled index list. */
    size_t *idx = xmalloc(d->n * sizeof *idx);
    uint8_t *chosen = xcalloc(d->n, 1);
    for (size_t i = 0; i < d->n; i++) idx[i] = i;
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < n_val; i++) {
        size_t j = i + (size_t)rng_below(&rng, d->n - i);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        chosen[idx[i]] = 1;
    }
    size_t keep = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (chosen[i]) {
            if (val->n == val->cap) {
                val->cap = val->cap ? 2 * val->cap : 64;
                val->examples = xrealloc(val->examples, val->cap * sizeof *val->examples);
            }
            val->examples[val->n++] = d->examples[i];
        } else {
            d->examples[keep++] = d->examples[i];
        }
    }
    d->n = keep;
    free(idx);
    free(chosen);
    return 0;
}

void sft_dataset_free(SftDataset *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->examples[i].tokens);
        free(d->examples[i].loss_mask);
    }
    free(d->examples);
    memset(d, 0, sizeof *d);
}
