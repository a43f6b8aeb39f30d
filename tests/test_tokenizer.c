/* Tokenizers against their references: the ids of 520 awkward strings and 240 lines of GSM8K and
 * the medical sets must equal those of HF tokenizers (Llama-3, Qwen3), sentencepiece (Llama 2)
 * and a Python port of llama2.c's encode (tok512.bin), written by
 * tools/make_tokenizer_fixtures.py; decode must invert encode where the reference does. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "testutil.h"

typedef struct Text {
    char *data;
    size_t len;
} Text;

typedef struct Corpus {
    Text *texts;
    size_t n_corpus; /* the synthetic strings come first, then the shared lines */
    size_t n;
} Corpus;

static uint64_t fnv1a64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static void corpus_push(Corpus *c, const char *s, size_t n)
{
    c->texts = realloc(c->texts, (c->n + 1) * sizeof *c->texts);
    c->texts[c->n].data = malloc(n + 1);
    memcpy(c->texts[c->n].data, s, n);
    c->texts[c->n].data[n] = '\0';
    c->texts[c->n].len = n;
    c->n++;
}

/* The line `lineno` (1-based) of a file under ../shared, parsed as JSON; NULL if absent. */
static json_t *shared_json_line(const char *rel, long lineno)
{
    const char *path = shared_path(rel);
    if (!path) return NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *line = NULL;
    size_t cap = 0;
    json_t *row = NULL;
    for (long i = 1; getline(&line, &cap, f) >= 0; i++) {
        if (i == lineno) {
            row = json_loads(line, 0, NULL);
            break;
        }
    }
    free(line);
    fclose(f);
    return row;
}

static int corpus_load(Corpus *c)
{
    memset(c, 0, sizeof *c);
    const char *path = fixture_path("tokenizer/corpus.json");
    assert_non_null(path);
    json_t *list = json_load_file(path, 0, NULL);
    assert_true(json_is_array(list));
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) corpus_push(c, json_string_value(s), json_string_length(s));
    json_decref(list);
    c->n_corpus = c->n;

    FILE *f = fopen(fixture_path("tokenizer/shared_lines.txt"), "r");
    assert_non_null(f);
    char rel[256], field[64];
    long lineno;
    unsigned long long hash;
    while (fscanf(f, "%255s %ld %63s %llx", rel, &lineno, field, &hash) == 4) {
        json_t *row = shared_json_line(rel, lineno);
        if (!row) {
            fclose(f);
            return -1;
        }
        json_t *v = json_object_get(row, field);
        assert_true(json_is_string(v));
        assert_int_equal(fnv1a64(json_string_value(v), json_string_length(v)), hash);
        corpus_push(c, json_string_value(v), json_string_length(v));
        json_decref(row);
    }
    fclose(f);
    return 0;
}

static void corpus_free(Corpus *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->texts[i].data);
    free(c->texts);
}

/* Reads one line of an .ids fixture: flag ('R' = the reference round-trips) and base-36 ids. */
static bool read_ids_line(FILE *f, char *flag, IntVec *ids)
{
    static char line[1 << 20];
    if (!fgets(line, sizeof line, f)) return false;
    *flag = line[0];
    ids->len = 0;
    char *p = line + 1;
    for (;;) {
        char *end;
        long v = strtol(p, &end, 36);
        if (end == p) break;
        intvec_push(ids, (int)v);
        p = end;
    }
    return true;
}

static void print_text(const Text *t)
{
    fprintf(stderr, "  text (%zu bytes): \"", t->len);
    for (size_t i = 0; i < t->len && i < 120; i++) {
        unsigned char ch = (unsigned char)t->data[i];
        if (ch < 0x20 || ch == '"') fprintf(stderr, "\\x%02x", ch);
        else fputc(ch, stderr);
    }
    fprintf(stderr, "\"\n");
}

static void print_ids(const char *what, const IntVec *v)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < v->len && i < 40; i++) fprintf(stderr, " %d", v->data[i]);
    fprintf(stderr, v->len > 40 ? " ...\n" : "\n");
}

/* Encodes texts[0..n) and compares with the fixture; checks round trips flagged 'R' (all of
 * them when every_roundtrip, i.e. for tokenizers that promise exact byte round trips). */
static void check_fixture(const char *tok_rel, const char *ids_name, size_t n, bool special,
                          bool every_roundtrip)
{
    const char *tp = shared_path(tok_rel);
    if (!tp) skip();
    Tokenizer *t = NULL;
    assert_int_equal(tokenizer_load(tp, &t), 0);
    Corpus c;
    if (corpus_load(&c)) {
        tokenizer_free(t);
        skip();
    }
    if (n > c.n) n = c.n;
    char fname[128];
    snprintf(fname, sizeof fname, "tokenizer/%s", ids_name);
    FILE *f = fopen(fixture_path(fname), "r");
    assert_non_null(f);

    IntVec want = {0}, got = {0};
    StrBuf back = {0};
    int mismatches = 0, roundtrip_fail = 0, checked_rt = 0;
    for (size_t i = 0; i < n; i++) {
        char flag = '-';
        assert_true(read_ids_line(f, &flag, &want));
        got.len = 0;
        assert_int_equal(tokenizer_encode(t, c.texts[i].data, c.texts[i].len, special, &got), 0);
        if (got.len != want.len ||
            (got.len && memcmp(got.data, want.data, got.len * sizeof(int)) != 0)) {
            if (mismatches++ < 5) {
                fprintf(stderr, "%s: item %zu differs\n", ids_name, i);
                print_text(&c.texts[i]);
                print_ids("want", &want);
                print_ids("got ", &got);
            }
            continue;
        }
        if (flag == 'R' || every_roundtrip) {
            back.len = 0;
            assert_int_equal(tokenizer_decode(t, got.data, got.len, false, &back), 0);
            checked_rt++;
            if (back.len != c.texts[i].len || memcmp(back.data, c.texts[i].data, back.len)) {
                if (roundtrip_fail++ < 5) {
                    fprintf(stderr, "%s: item %zu does not round-trip\n", ids_name, i);
                    print_text(&c.texts[i]);
                }
            }
        }
    }
    fprintf(stderr, "%s: %zu texts, %d differ; %d round trips checked, %d fail\n", ids_name, n,
            mismatches, checked_rt, roundtrip_fail);
    assert_int_equal(mismatches, 0);
    assert_int_equal(roundtrip_fail, 0);
    assert_true(checked_rt > (int)n / 2);
    fclose(f);
    intvec_free(&want);
    intvec_free(&got);
    strbuf_free(&back);
    corpus_free(&c);
    tokenizer_free(t);
}

static void test_llama3(void **state)
{
    (void)state;
    check_fixture("tokenizers/llama3/tokenizer.json", "llama3.ids", (size_t)-1, true, false);
    check_fixture("tokenizers/llama3/tokenizer.json", "llama3_nospecial.ids", 520, false, true);
}

static void test_qwen3(void **state)
{
    (void)state;
    check_fixture("tokenizers/qwen3/tokenizer.json", "qwen3.ids", (size_t)-1, true, false);
    check_fixture("tokenizers/qwen3/tokenizer.json", "qwen3_nospecial.ids", 520, false, false);
}

static void test_llama2(void **state)
{
    (void)state;
    check_fixture("tokenizers/llama2/tokenizer.bin", "llama2.ids", (size_t)-1, false, false);
}

static void test_tok512(void **state)
{
    (void)state;
    /* the reference here is llama2.c's encode, whose decode rule differs: ids only, and round
     * trips checked for the texts that need no byte fallback outside the vocabulary */
    check_fixture("models/stories260K/tok512.bin", "tok512.ids", 520, false, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_llama2),
        cmocka_unit_test(test_tok512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
