/* Figlet puzzles: same seed gives the same bytes (library and CLI), rows follow the reference
 * form (wording, uppercase answer, length range, spaced letters, no excluded font), the word
 * filter, and train/test and holdout/exclude give disjoint words. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/figlet_puzzles.h"
#include "util/error.h"
#include "testutil.h"

/* Words with junk the filter must drop: an apostrophe, a digit, a non-ASCII letter, a 1-letter
 * and a 9-letter word, a duplicate in another case, and padding with spaces and CR. */
static const char *word_file =
    "cat\nDog\n  bird \r\nit's\nb2b\n\xc3\xbc" "ber\nx\nelephants\nCAT\nfrog\ntoad\nmouse\n"
    "horse\nsheep\ngoat\nllama\ncamel\nzebra\nhyena\notter\nbeaver\nbadger\nferret\n";

typedef struct Fixture {
    char *dir;
    char words[4200], fonts[4096];
} Fixture;

static int setup(void **state)
{
    const char *fonts = shared_path("data/figlet/fonts");
    if (!fonts) {
        *state = NULL;
        return 0;
    }
    Fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->fonts, sizeof fx->fonts, "%s", fonts);
    fx->dir = tmpdir_make();
    snprintf(fx->words, sizeof fx->words, "%s/words.txt", fx->dir);
    if (write_file(fx->words, word_file, strlen(word_file)) != 0) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    Fixture *fx = *state;
    if (fx) {
        tmpdir_remove(fx->dir);
        free(fx);
    }
    return 0;
}

static char *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    StrBuf b = {0};
    char chunk[65536];
    size_t k;
    strbuf_append(&b, "", 0);
    while ((k = fread(chunk, 1, sizeof chunk, fp)) > 0) strbuf_append(&b, chunk, k);
    fclose(fp);
    *n = b.len;
    return b.data;
}

static void load_set(const Fixture *fx, FigletPuzzleSet *set, FigletSplit split,
                     const char *exclude)
{
    FigletPuzzleConfig cfg;
    figlet_config_defaults(&cfg);
    cfg.fonts_dir = fx->fonts;
    cfg.words_path = fx->words;
    cfg.split = split;
    cfg.exclude_path = exclude;
    cfg.min_len = 3; /* the hand-made word lists below were worked out for 3..7 letters */
    cfg.max_len = 7;
    if (figlet_set_load(set, &cfg) != 0) fail_msg("%s", pf_error());
}

#define NEED_SHARED()                                                                        \
    do {                                                                                     \
        if (!fx) {                                                                           \
            skip(); /* ../shared/data/figlet/fonts is absent */                              \
            return;                                                                          \
        }                                                                                    \
    } while (0)

static void test_word_filter_and_fonts(void **state)
{
    Fixture *fx = *state;
    NEED_SHARED();
    FigletPuzzleSet set;
    load_set(fx, &set, FIGLET_SPLIT_ALL, NULL);
    /* By hand from word_file: 3..7 ASCII letters, uppercased, first occurrence kept. */
    const char *want[] = {"CAT", "DOG", "BIRD", "FROG", "TOAD", "MOUSE", "HORSE", "SHEEP",
                          "GOAT", "LLAMA", "CAMEL", "ZEBRA", "HYENA", "OTTER", "BEAVER",
                          "BADGER", "FERRET"};
    assert_int_equal(set.n_words, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < set.n_words; i++) assert_string_equal(set.words[i], want[i]);
    /* 66 fonts; the reference excludes courb, ivrit, mnemonic and term. */
    assert_int_equal(set.n_fonts, 62);
    assert_int_equal(set.n_fonts_skipped, 4);
    for (size_t i = 0; i < set.n_fonts; i++) assert_false(figlet_font_excluded(set.fonts[i].name));
    assert_true(figlet_font_excluded("term") && figlet_font_excluded("mnemonic"));
    figlet_set_free(&set);
}

static void test_rows_follow_reference_form(void **state)
{
    Fixture *fx = *state;
    NEED_SHARED();
    FigletPuzzleSet set;
    load_set(fx, &set, FIGLET_SPLIT_ALL, NULL);
    Rng rng;
    rng_seed(&rng, 3);
    int wordings[2] = {0, 0};
    for (int i = 0; i < 200; i++) {
        FigletPuzzle p;
        assert_int_equal(figlet_puzzle_make(&set, &rng, &p), 0);
        size_t len = strlen(p.answer);
        assert_true(len >= 3 && len <= 7);
        for (size_t k = 0; k < len; k++) assert_true(isupper((unsigned char)p.answer[k]));
        assert_string_equal(p.word, p.answer);
        const char *art;
        if (strncmp(p.question, "What word does this say?\n\n", 26) == 0) {
            wordings[0]++;
            art = p.question + 26;
        } else {
            assert_memory_equal(p.question, "Please read the following figlet font:\n\n", 40);
            wordings[1]++;
            art = p.question + 40;
        }
        /* The art is the font's rendering of the letters joined by single spaces. */
        const FigFont *font = NULL;
        for (size_t f = 0; f < set.n_fonts; f++)
            if (strcmp(set.fonts[f].name, p.font) == 0) font = &set.fonts[f];
        assert_non_null(font);
        StrBuf spaced = {0}, r = {0};
        for (size_t k = 0; k < len; k++) strbuf_printf(&spaced, k ? " %c" : "%c", p.answer[k]);
        assert_int_equal(figfont_render(font, spaced.data, &r), 0);
        strbuf_free(&spaced);
        assert_string_equal(art, r.data);
        int rows = 0;
        for (const char *c = art; *c; c++) rows += *c == '\n';
        assert_int_equal(rows, font->height);
        strbuf_free(&r);
        figlet_puzzle_free(&p);
    }
    assert_true(wordings[0] > 50 && wordings[1] > 50);
    figlet_set_free(&set);
}

static void test_same_seed_same_bytes(void **state)
{
    Fixture *fx = *state;
    NEED_SHARED();
    FigletPuzzleSet set;
    load_set(fx, &set, FIGLET_SPLIT_ALL, NULL);
    char a[4300], b[4300], c[4300];
    snprintf(a, sizeof a, "%s/a.jsonl", fx->dir);
    snprintf(b, sizeof b, "%s/b.jsonl", fx->dir);
    snprintf(c, sizeof c, "%s/c.jsonl", fx->dir);
    assert_int_equal(figlet_puzzles_write(&set, 50, 11, a, NULL, NULL), 0);
    assert_int_equal(figlet_puzzles_write(&set, 50, 11, b, NULL, NULL), 0);
    assert_int_equal(figlet_puzzles_write(&set, 50, 12, c, NULL, NULL), 0);
    size_t na, nb, nc;
    char *da = slurp(a, &na), *db = slurp(b, &nb), *dc = slurp(c, &nc);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    assert_true(na != nc || memcmp(da, dc, na) != 0);

    /* 50 JSON lines, each with exactly the four fields in order. */
    int lines = 0;
    for (char *line = strtok(da, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t err;
        json_t *row = json_loads(line, 0, &err);
        assert_non_null(row);
        assert_int_equal(json_object_size(row), 4);
        assert_true(json_is_string(json_object_get(row, "question")));
        assert_true(json_is_string(json_object_get(row, "answer")));
        assert_true(json_is_string(json_object_get(row, "font")));
        assert_true(json_is_string(json_object_get(row, "word")));
        assert_memory_equal(line, "{\"question\":", 12);
        json_decref(row);
        lines++;
    }
    assert_int_equal(lines, 50);
    free(da);
    free(db);
    free(dc);
    figlet_set_free(&set);
}

/* Words (one a line) of a file as a newline-framed string for strstr lookups. */
static char *framed(const char *path)
{
    size_t n;
    char *d = slurp(path, &n);
    char *f = malloc(n + 2);
    f[0] = '\n';
    memcpy(f + 1, d, n + 1);
    free(d);
    return f;
}

static void test_splits_are_disjoint(void **state)
{
    Fixture *fx = *state;
    NEED_SHARED();
    /* The hash partition: words fall on exactly one side, about 1 in 10 on the test side. */
    const char *path = shared_path("data/words/words3to10.txt");
    if (path) {
        FILE *fp = fopen(path, "r");
        char line[256];
        long total = 0, test = 0;
        while (fgets(line, sizeof line, fp)) {
            line[strcspn(line, "\r\n")] = '\0';
            for (char *c = line; *c; c++) *c = (char)toupper((unsigned char)*c);
            total++;
            test += figlet_word_split(line) == FIGLET_SPLIT_TEST;
        }
        fclose(fp);
        assert_true(total > 100000);
        assert_true(test > total / 12 && test < total / 8);
    }

    FigletPuzzleSet train, test;
    load_set(fx, &train, FIGLET_SPLIT_TRAIN, NULL);
    load_set(fx, &test, FIGLET_SPLIT_TEST, NULL);
    FigletPuzzleSet all;
    load_set(fx, &all, FIGLET_SPLIT_ALL, NULL);
    assert_int_equal(train.n_words + test.n_words, all.n_words);
    for (size_t i = 0; i < train.n_words; i++)
        for (size_t j = 0; j < test.n_words; j++)
            assert_string_not_equal(train.words[i], test.words[j]);
    figlet_set_free(&train);
    figlet_set_free(&test);

    /* Holdout then exclude: the second run never uses a word of the first. */
    char out1[4300], used[4300], out2[4300];
    snprintf(out1, sizeof out1, "%s/first.jsonl", fx->dir);
    snprintf(used, sizeof used, "%s/used.txt", fx->dir);
    snprintf(out2, sizeof out2, "%s/second.jsonl", fx->dir);
    size_t distinct = 0;
    assert_int_equal(figlet_puzzles_write(&all, 8, 5, out1, used, &distinct), 0);
    assert_true(distinct >= 1 && distinct <= 8);
    figlet_set_free(&all);
    FigletPuzzleSet rest;
    load_set(fx, &rest, FIGLET_SPLIT_ALL, used);
    assert_int_equal(rest.n_words, 17 - distinct);
    char *used_words = framed(used);
    for (size_t i = 0; i < rest.n_words; i++) {
        char key[80];
        snprintf(key, sizeof key, "\n%s\n", rest.words[i]);
        assert_null(strstr(used_words, key));
    }
    free(used_words);
    figlet_set_free(&rest);
}

static void test_cli_reproducible(void **state)
{
    Fixture *fx = *state;
    NEED_SHARED();
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) {
        skip(); /* PRIORFT_BIN is not set (run through ctest) */
        return;
    }
    char cmd[16384];
    for (int run = 0; run < 2; run++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' data figlet --out '%s/cli%d.jsonl' --count 20 --seed 9 --fonts '%s' "
                 "--words '%s' --split train 2>/dev/null",
                 bin, fx->dir, run, fx->fonts, fx->words);
        assert_int_equal(system(cmd), 0);
    }
    char p0[4300], p1[4300];
    snprintf(p0, sizeof p0, "%s/cli0.jsonl", fx->dir);
    snprintf(p1, sizeof p1, "%s/cli1.jsonl", fx->dir);
    size_t n0, n1;
    char *d0 = slurp(p0, &n0), *d1 = slurp(p1, &n1);
    assert_true(n0 > 0);
    assert_int_equal(n0, n1);
    assert_memory_equal(d0, d1, n0);
    free(d0);
    free(d1);
    /* A bad option value is refused with a non-zero status. */
    snprintf(cmd, sizeof cmd, "'%s' data figlet --out x --count -3 2>/dev/null", bin);
    assert_true(system(cmd) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_word_filter_and_fonts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_follow_reference_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_seed_same_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_splits_are_disjoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_reproducible, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
