/* Benchmark file reader: hand-made rows in each benchmark's field layout map to the expected
 * prompt, gold answer and options; malformed files are refused with file and line; and every
 * benchmark file in ../shared/data reads completely (row counts from `wc -l`, first-row golds
 * read by eye from the files). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/bench_file.h"
#include "util/error.h"
#include "testutil.h"

static char *write_tmp(const char *dir, const char *name, const char *text)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    assert_int_equal(write_file(path, text, strlen(text)), 0);
    return path;
}

static void test_layouts(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    BenchFile b;

    char *p = write_tmp(dir, "gsm.jsonl",
                        "{\"question\": \"Q1\", \"answer\": \"a <<1+1=2>>2\\n#### 1,234\"}\n\n"
                        "{\"question\": \"Q2\", \"answer\": \"x\\n#### 5\"}\n");
    assert_int_equal(bench_file_read(p, &b), 0);
    assert_int_equal(b.n_rows, 2);
    assert_int_equal(b.task, BENCH_MATH);
    assert_string_equal(b.name, "gsm");
    assert_string_equal(b.rows[0].gold, "1,234");
    assert_string_equal(b.rows[1].prompt, "Q2");
    assert_int_equal(b.rows[1].line, 3);
    bench_file_free(&b);
    free(p);

    p = write_tmp(dir, "mixed.jsonl",
                  "{\"problem\": \"P\", \"solution\": \"so \\\\boxed{\\\\frac{1}{2}}\", "
                  "\"answer\": \"\\\\frac12\", \"unique_id\": \"t/1\"}\n"
                  "{\"Body\": \"B.\", \"Question\": \"Q?\", \"Answer\": 145.0, \"ID\": 7}\n"
                  "{\"question\": \"Q\", \"final_answer\": [\"1\", \"2\"], \"context\": null}\n"
                  "{\"problem\": \"M\", \"solution\": \"x = \\\\boxed{1.6} cm\"}\n"
                  "{\"body\": \"Seven.\", \"question\": \"How?\", \"answer\": \"9 (apples)\"}\n");
    assert_int_equal(bench_file_read(p, &b), 0);
    assert_int_equal(b.n_rows, 5);
    assert_string_equal(b.rows[0].gold, "\\frac12");
    assert_string_equal(b.rows[0].id, "t/1");
    assert_string_equal(b.rows[1].prompt, "B. Q?");
    assert_string_equal(b.rows[1].gold, "145");
    assert_string_equal(b.rows[1].id, "7");
    assert_string_equal(b.rows[2].gold, "1, 2");
    assert_string_equal(b.rows[3].gold, "1.6");
    assert_string_equal(b.rows[4].prompt, "Seven. How?");
    bench_file_free(&b);
    free(p);

    p = write_tmp(dir, "med.jsonl",
                  "{\"question\": \"Which?\", \"options\": {\"B\": \"two\", \"A\": \"one\"}, "
                  "\"answer_idx\": \"B\", \"answer\": \"two\"}\n"
                  "{\"question\": \"Pick\", \"choices\": [\"p\", \"q\", \"r\"], \"answer\": 2}\n"
                  "{\"question\": \"Text\", \"options\": [\"p\", \"q\"], \"answer\": \"q\"}\n");
    assert_int_equal(bench_file_read(p, &b), 0);
    assert_int_equal(b.task, BENCH_CHOICE);
    assert_int_equal(b.rows[0].n_options, 2);
    assert_string_equal(b.rows[0].options[0], "one");
    assert_string_equal(b.rows[0].gold, "B");
    assert_string_equal(b.rows[1].gold, "C");
    assert_string_equal(b.rows[1].options[2], "r");
    assert_string_equal(b.rows[2].gold, "B");
    bench_file_free(&b);
    free(p);

    /* A file under a "figlet" folder without options is a figlet benchmark. */
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/figlet", dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", sub);
    assert_int_equal(system(cmd), 0);
    p = write_tmp(sub, "puzzles.jsonl", "{\"question\": \"art\", \"answer\": \"castle\"}\n");
    assert_int_equal(bench_file_read(p, &b), 0);
    assert_int_equal(b.task, BENCH_FIGLET);
    assert_string_equal(b.rows[0].gold, "castle");
    bench_file_free(&b);
    free(p);
    tmpdir_remove(dir);
}

static void expect_refused(const char *dir, const char *text, const char *what)
{
    char *p = write_tmp(dir, "bad.jsonl", text);
    BenchFile b;
    pf_error_clear();
    assert_int_equal(bench_file_read(p, &b), -1);
    if (!strstr(pf_error(), what)) fprintf(stderr, "'%s' lacks '%s'\n", pf_error(), what);
    assert_non_null(strstr(pf_error(), what));
    assert_non_null(strstr(pf_error(), "bad.jsonl"));
    assert_null(b.rows);
    free(p);
}

static void test_malformed_files(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    expect_refused(dir, "", "no rows");
    expect_refused(dir, "{\"question\": \"q\", \"answer\": \"1\"}\n{\"question\": \"q\"", ":2:");
    expect_refused(dir, "{\"answer\": \"1\", \"foo\": 2}\n", "no question");
    expect_refused(dir, "{\"answer\": \"1\", \"foo\": 2}\n", "foo");
    expect_refused(dir, "{\"question\": \"q\"}\n", ":1: no gold answer");
    expect_refused(dir, "{\"question\": \"q\", \"solution\": \"no box\"}\n", "no gold answer");
    expect_refused(dir, "{\"question\": \"q\", \"answer\": \"\"}\n", "no gold answer");
    expect_refused(dir, "[1]\n", "not a JSON object");
    expect_refused(dir, "{\"question\": \"\xc3\x28\", \"answer\": \"1\"}\n", ":1:");
    expect_refused(dir, "{\"question\": \"q\", \"answer\": \"1\"}\n{\"question\": \"q\", "
                   "\"answer\": \"1\x00\"}\n", ":2:");
    expect_refused(dir, "{\"question\": \"q\", \"options\": {\"A\": \"a\"}, \"answer_idx\": "
                   "\"D\"}\n", "not one of the 1 options");
    expect_refused(dir, "{\"question\": \"q\", \"options\": {\"A\": \"a\", \"X\": \"b\"}, "
                   "\"answer_idx\": \"A\"}\n", "no text for letter B");
    expect_refused(dir, "{\"question\": \"q\", \"options\": {}, \"answer_idx\": \"A\"}\n",
                   "0 entries");
    expect_refused(dir, "{\"question\": \"q\", \"options\": {\"A\": \"a\"}, \"answer_idx\": "
                   "\"A\"}\n{\"question\": \"q\", \"answer\": \"1\"}\n", ":2: no options");
    BenchFile b;
    assert_int_equal(bench_file_read("/nonexistent/x.jsonl", &b), -1);
    assert_non_null(strstr(pf_error(), "/nonexistent/x.jsonl"));
    tmpdir_remove(dir);
}

typedef struct SharedCase {
    const char *path;
    size_t rows;
    BenchTask task;
    const char *first_gold;
} SharedCase;

static void test_shared_benchmarks(void **state)
{
    (void)state;
    if (!shared_path("data/math/math500.jsonl")) skip();
    const SharedCase cases[] = {
        {"data/gsm8k/test.jsonl", 1319, BENCH_MATH, "18"},
        {"data/math/math500.jsonl", 500, BENCH_MATH, "\\left( 3, \\frac{\\pi}{2} \\right)"},
        {"data/math/aime24.jsonl", 30, BENCH_MATH, "204"},
        {"data/math/aime25.jsonl", 30, BENCH_MATH, "468"},
        {"data/math/amc23.jsonl", 40, BENCH_MATH, "27"},
        {"data/math/asdiv.jsonl", 2215, BENCH_MATH, "9 (apples)"},
        {"data/math/college_math.jsonl", 2818, BENCH_MATH, "$10-4 n$"},
        {"data/math/minerva_math.jsonl", 272, BENCH_MATH, "1.6"},
        {"data/math/olympiadbench.jsonl", 675, BENCH_MATH, "2"},
        {"data/math/svamp.jsonl", 1000, BENCH_MATH, "145"},
        {"data/math/mmlu_stem.jsonl", 3018, BENCH_CHOICE, "C"},
        {"data/medical/medqa_test.jsonl", 1273, BENCH_CHOICE, "B"},
        {"data/medical/medqa_5options_test.jsonl", 1273, BENCH_CHOICE, "C"},
        {"data/medical/medmcqa_test.jsonl", 2816, BENCH_CHOICE, "C"},
        {"data/medical/mmlu_test.jsonl", 1089, BENCH_CHOICE, "A"},
        {"data/medical/mmlu-pro_test.jsonl", 818, BENCH_CHOICE, "E"},
        {"data/medical/pubmedqa_test.jsonl", 500, BENCH_CHOICE, "A"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        BenchFile b;
        const char *path = shared_path(cases[i].path);
        assert_non_null(path);
        if (bench_file_read(path, &b) != 0) fprintf(stderr, "%s\n", pf_error());
        assert_int_equal(b.n_rows > 0, 1);
        if (b.n_rows != cases[i].rows)
            fprintf(stderr, "%s: %zu rows, expected %zu\n", cases[i].path, b.n_rows,
                    cases[i].rows);
        assert_int_equal(b.n_rows, cases[i].rows);
        assert_int_equal(b.task, cases[i].task);
        assert_string_equal(b.rows[0].gold, cases[i].first_gold);
        for (size_t r = 0; r < b.n_rows; r++) {
            assert_true(b.rows[r].prompt[0] != '\0');
            assert_true(b.rows[r].gold[0] != '\0');
        }
        bench_file_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layouts),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_shared_benchmarks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
