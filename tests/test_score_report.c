/* Scoring prediction files: pass@k against hand-computed binomial ratios, per-sample verdicts
 * and per-benchmark numbers from small hand-made files, malformed files refused with file and
 * line, and the priorft binary's `eval` (tables, results.json, samples.jsonl, --model refusal). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_report.h"
#include "util/error.h"
#include "testutil.h"

static void test_pass_at_k_by_hand(void **state)
{
    (void)state;
    /* n=4, c=2, k=2: 1 - C(2,2)/C(4,2) = 1 - 1/6. */
    assert_true(fabs(score_pass_at_k(4, 2, 2) - 5.0 / 6.0) < 1e-12);
    /* n=5, c=1, k=3: 1 - C(4,3)/C(5,3) = 1 - 4/10. */
    assert_true(fabs(score_pass_at_k(5, 1, 3) - 0.6) < 1e-12);
    /* k=1 is the fraction correct. */
    assert_true(fabs(score_pass_at_k(8, 3, 1) - 3.0 / 8.0) < 1e-12);
    assert_true(score_pass_at_k(4, 0, 4) == 0.0);
    assert_true(score_pass_at_k(4, 1, 4) == 1.0);
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/%s", dir, name);
    assert_int_equal(write_file(path, text, strlen(text)), 0);
    return path;
}

static void test_math_predictions(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    /* Prompt 1: 3 of 4 right; prompt 2: 1 of 2 right (gold is a GSM8K-style solution). */
    char *path = write_tmp(dir, "toy.jsonl",
                           "{\"id\": 1, \"generation\": \"\\\\boxed{2}\", \"gold\": \"2\"}\n"
                           "{\"id\": 1, \"output\": \"so 2.0\", \"gold\": \"2\"}\n"
                           "\n"
                           "{\"id\": 1, \"response\": \"maybe 3\", \"gold\": \"2\"}\n"
                           "{\"id\": 1, \"generation\": \"The answer is $2$.\", \"answer\": 2}\n"
                           "{\"id\": 2, \"generation\": [\"\\\\boxed{\\\\frac{1}{2}}\", \"1/3\"],"
                           " \"gold\": \"half: 1/2 = <<1/2=0.5>>0.5\\n#### 0.5\"}\n");
    ScoredSet set = {.task = BENCH_MATH};
    assert_int_equal(score_predictions_read(path, &set), 0);
    assert_int_equal(set.n_samples, 6);
    const bool verdicts[] = {true, true, false, true, true, false};
    for (int i = 0; i < 6; i++) assert_int_equal(set.samples[i].correct, verdicts[i]);
    assert_string_equal(set.samples[4].gold, "0.5");
    assert_string_equal(set.samples[0].benchmark, "toy");

    StrBuf md = {0}, json = {0}, samples = {0};
    score_report_write(&set, &md, &json);
    score_samples_write(&set, &samples);
    json_error_t err;
    json_t *doc = json_loads(json.data, 0, &err);
    assert_non_null(doc);
    json_t *b = json_array_get(json_object_get(doc, "benchmarks"), 0);
    assert_int_equal(json_integer_value(json_object_get(b, "samples")), 6);
    assert_int_equal(json_integer_value(json_object_get(b, "prompts")), 2);
    assert_true(fabs(json_real_value(json_object_get(b, "accuracy")) - 4.0 / 6.0) < 1e-6);
    /* avg@2 (smallest count): mean of 3/4 and 1/2; pass@2: mean of 1 - C(1,2)/C(4,2) = 1 and
     * 1 - C(1,2)/C(2,2) = 1. */
    assert_true(fabs(json_real_value(json_object_get(b, "avg@2")) - 0.625) < 1e-6);
    json_t *pass = json_object_get(b, "pass_at_k");
    assert_true(fabs(json_real_value(json_object_get(pass, "2")) - 1.0) < 1e-6);
    assert_non_null(strstr(md.data, "### toy (math)"));
    assert_non_null(strstr(md.data, "| 6 | 2 | 0.6667 |"));
    assert_non_null(strstr(samples.data, "\"extracted\":\"3\""));
    json_decref(doc);
    strbuf_free(&md);
    strbuf_free(&json);
    strbuf_free(&samples);
    scored_set_free(&set);
    free(path);
    tmpdir_remove(dir);
}

static void test_choice_and_figlet_predictions(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    char *path = write_tmp(dir, "mc.jsonl",
                           "{\"generation\": \"Answer: B\", \"gold\": \"B\", \"options\": "
                           "{\"A\": \"cat\", \"B\": \"dog\"}}\n"
                           "{\"generation\": \"I choose the dog\", \"gold\": \"dog\", "
                           "\"options\": [\"cat\", \"dog\"]}\n"
                           "{\"generation\": \"(A)\", \"gold\": 1, \"options\": [\"cat\", "
                           "\"dog\"], \"benchmark\": \"other\"}\n");
    ScoredSet set = {.task = BENCH_CHOICE};
    assert_int_equal(score_predictions_read(path, &set), 0);
    assert_int_equal(set.n_samples, 3);
    assert_true(set.samples[0].correct);
    assert_true(set.samples[1].correct);
    assert_false(set.samples[2].correct);
    assert_string_equal(set.samples[2].gold, "B");
    assert_string_equal(set.samples[2].benchmark, "other");
    StrBuf md = {0}, json = {0};
    score_report_write(&set, &md, &json);
    assert_non_null(strstr(md.data, "### mc (choice)"));
    assert_non_null(strstr(md.data, "### other (choice)"));
    strbuf_free(&md);
    strbuf_free(&json);
    scored_set_free(&set);
    free(path);

    path = write_tmp(dir, "fig.jsonl",
                     "{\"generation\": \"\\\\boxed{MARHTA}\", \"gold\": \"MARTHA\"}\n"
                     "{\"generation\": \"it reads: Castle\", \"gold\": \"castle\"}\n");
    set = (ScoredSet){.task = BENCH_FIGLET};
    assert_int_equal(score_predictions_read(path, &set), 0);
    assert_false(set.samples[0].correct);
    assert_true(fabs(set.samples[0].similarity - 0.961111) < 1e-5);
    assert_true(set.samples[1].correct);
    assert_false(set.samples[1].exact);
    scored_set_free(&set);
    free(path);
    tmpdir_remove(dir);
}

static void expect_refused(const char *dir, BenchTask task, const char *text, const char *what)
{
    char *path = write_tmp(dir, "bad.jsonl", text);
    ScoredSet set = {.task = task};
    pf_error_clear();
    assert_int_equal(score_predictions_read(path, &set), -1);
    if (!strstr(pf_error(), what) || !strstr(pf_error(), "bad.jsonl:"))
        fprintf(stderr, "message '%s' lacks '%s'\n", pf_error(), what);
    assert_non_null(strstr(pf_error(), what));
    assert_non_null(strstr(pf_error(), "bad.jsonl:"));
    scored_set_free(&set);
    free(path);
}

static void test_malformed_predictions(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    expect_refused(dir, BENCH_MATH, "{\"gold\": \"1\"}\n", "no generation");
    expect_refused(dir, BENCH_MATH, "{\"generation\": \"1\"}\n", "no gold");
    expect_refused(dir, BENCH_MATH, "{\"generation\": \"1\", \"gold\": \"1\"}\n{\"gen", ":2:");
    expect_refused(dir, BENCH_MATH, "[1, 2]\n", "not a JSON object");
    expect_refused(dir, BENCH_MATH, "{\"generation\": \"\xff\xfe\", \"gold\": \"1\"}\n", ":1:");
    expect_refused(dir, BENCH_MATH, "{\"generation\": [1], \"gold\": \"1\"}\n", "not text");
    expect_refused(dir, BENCH_CHOICE, "{\"generation\": \"A\", \"gold\": \"Q\", \"options\": "
                   "[\"a\", \"b\"]}\n", "not an option");
    expect_refused(dir, BENCH_CHOICE, "{\"generation\": \"A\", \"gold\": \"A\", \"options\": "
                   "{\"A\": \"a\", \"C\": \"b\"}}\n", "no text for B");
    ScoredSet set = {.task = BENCH_MATH};
    assert_int_equal(score_predictions_read("/nonexistent/p.jsonl", &set), -1);
    tmpdir_remove(dir);
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_cli_eval(void **state)
{
    (void)state;
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) skip();
    char *dir = tmpdir_make();
    char *path = write_tmp(dir, "gsm.jsonl",
                           "{\"id\": \"a\", \"generation\": \"#### 1,000\", \"gold\": \"1000\"}\n"
                           "{\"id\": \"b\", \"generation\": \"so 7\", \"gold\": \"8\"}\n");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s eval --task math --predictions %s --out %s/out > %s/table.md",
             bin, path, dir, dir);
    assert_int_equal(run(cmd), 0);

    char file[4096];
    snprintf(file, sizeof file, "%s/out/results.json", dir);
    json_error_t err;
    json_t *doc = json_load_file(file, 0, &err);
    assert_non_null(doc);
    json_t *b = json_array_get(json_object_get(doc, "benchmarks"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "name")), "gsm");
    assert_true(fabs(json_real_value(json_object_get(b, "accuracy")) - 0.5) < 1e-9);
    json_decref(doc);

    snprintf(file, sizeof file, "%s/out/samples.jsonl", dir);
    FILE *f = fopen(file, "r");
    assert_non_null(f);
    char line[4096];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *row = json_loads(line, 0, &err);
        assert_non_null(row);
        assert_non_null(json_object_get(row, "verdict"));
        assert_non_null(json_object_get(row, "extracted"));
        json_decref(row);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 2);

    /* A model that does not exist is refused with its path named. */
    snprintf(cmd, sizeof cmd, "%s eval --model %s/m.gguf --task math --bench %s 2>%s/err.txt",
             bin, dir, path, dir);
    assert_int_equal(run(cmd), 1);
    snprintf(cmd, sizeof cmd, "grep -q 'm.gguf' %s/err.txt", dir);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s eval --task algebra --predictions %s 2>/dev/null", bin, path);
    assert_int_equal(run(cmd), 1);
    free(path);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_at_k_by_hand),
        cmocka_unit_test(test_math_predictions),
        cmocka_unit_test(test_choice_and_figlet_predictions),
        cmocka_unit_test(test_malformed_predictions),
        cmocka_unit_test(test_cli_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
