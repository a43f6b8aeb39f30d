/* `priorft eval --model` end to end on stories260K (from ../shared): math and multiple-choice
 * benchmark files in a temporary folder are generated for, scored, and written out; the files
 * must agree with each other and with rescoring each generation by the scorers directly. Also:
 * the question layout of choice rows, UTF-8 cleaning of generations, and the end-of-turn stop
 * ids of a ChatML template with a real tokenizer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval/eval_run.h"
#include "eval/score_choice.h"
#include "eval/score_math.h"
#include "eval/score_report.h"
#include "util/error.h"
#include "testutil.h"

static void test_row_question_and_utf8(void **state)
{
    (void)state;
    char *opts[] = {"aspirin", "heparin", "warfarin"};
    BenchRow row = {.prompt = "Which drug?", .gold = "B", .options = opts, .n_options = 3};
    char *q = eval_row_question(BENCH_CHOICE, &row);
    assert_string_equal(q, "Which drug?\nA. aspirin\nB. heparin\nC. warfarin");
    free(q);
    q = eval_row_question(BENCH_MATH, &row);
    assert_string_equal(q, "Which drug?");
    free(q);

    /* 0xFF and a truncated 3-byte sequence become U+FFFD per byte; valid text is kept. */
    const char bad[] = "a\xff\xc3\xa9 \xe2\x82";
    char *clean = eval_utf8_clean(bad, sizeof bad - 1);
    assert_string_equal(clean, "a\xef\xbf\xbd\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd");
    free(clean);
}

static void test_chatml_stop_ids(void **state)
{
    (void)state;
    const char *tp = shared_path("tokenizers/qwen3/tokenizer.json");
    if (!tp) skip(); /* ../shared/tokenizers/qwen3 is absent */
    char tok_path[4096];
    snprintf(tok_path, sizeof tok_path, "%s", tp);
    BundleOptions bo = {.tokenizer_path = tok_path, .chat_template = "chatml"};
    ModelBundle b;
    assert_int_equal(bundle_open(tok_path, &bo, &b), 0);
    IntVec ids = {0};
    assert_int_equal(eval_stop_ids(&b, &ids), 0);
    int im_end = tokenizer_token_id(b.tokenizer, "<|im_end|>");
    assert_true(im_end >= 0);
    bool found = false;
    for (size_t i = 0; i < ids.len; i++) found |= ids.data[i] == im_end;
    assert_true(found);
    intvec_free(&ids);
    bundle_close(&b);
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

/* Runs priorft eval; returns its exit status. */
static int run_eval(const char *bin, const char *model, const char *bench, const char *task,
                    const char *extra, const char *out)
{
    char cmd[16384];
    mkdir(out, 0755);
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --bench '%s' --task %s %s --out '%s' "
             "> '%s/stdout.md'", bin, model, bench, task, extra, out, out);
    return system(cmd);
}

/* Checks samples.jsonl against results.json and against rescoring every generation (choice:
 * with options[i] for sample i); returns the number of samples. */
static int check_outputs(const char *dir, BenchTask task, const char *const *const *options,
                         int n_options, int want_samples)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", dir);
    json_error_t err;
    json_t *results = json_load_file(path, 0, &err);
    assert_non_null(results);
    json_t *bench = json_array_get(json_object_get(results, "benchmarks"), 0);
    assert_non_null(bench);
    assert_int_equal(json_integer_value(json_object_get(bench, "samples")), want_samples);
    double accuracy = json_number_value(json_object_get(bench, "accuracy"));

    snprintf(path, sizeof path, "%s/samples.jsonl", dir);
    char *text = read_all(path);
    assert_non_null(text);
    int n = 0, correct = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *row = json_loads(line, 0, &err);
        assert_non_null(row);
        const char *gen = json_string_value(json_object_get(row, "generation"));
        const char *gold = json_string_value(json_object_get(row, "gold"));
        assert_non_null(gen);
        assert_non_null(gold);
        assert_non_null(json_string_value(json_object_get(row, "prompt")));
        bool verdict = json_is_true(json_object_get(row, "verdict"));
        bool rescored;
        if (task == BENCH_MATH) {
            char *answer = math_extract_answer(gen);
            rescored = math_equal(answer, gold);
            json_t *ex = json_object_get(row, "extracted");
            if (answer) assert_string_equal(json_string_value(ex), answer);
            else assert_true(json_is_null(ex) || !ex);
            free(answer);
        } else {
            int k = choice_extract(gen, options[n], n_options);
            rescored = k >= 0 && 'A' + k == gold[0];
        }
        assert_int_equal(verdict, rescored);
        printf("sample %d: verdict %d: %.60s\n", n, verdict, gen);
        correct += verdict;
        n++;
        json_decref(row);
    }
    free(text);
    assert_int_equal(n, want_samples);
    assert_true(accuracy > (double)correct / n - 1e-9 && accuracy < (double)correct / n + 1e-9);

    /* predictions.jsonl rescored by the --predictions path gives the same verdicts. */
    snprintf(path, sizeof path, "%s/predictions.jsonl", dir);
    ScoredSet set = {.task = task};
    assert_int_equal(score_predictions_read(path, &set), 0);
    assert_int_equal((int)set.n_samples, want_samples);
    int again = 0;
    for (size_t i = 0; i < set.n_samples; i++) again += set.samples[i].correct;
    assert_int_equal(again, correct);
    scored_set_free(&set);
    json_decref(results);
    return n;
}

static void test_eval_model_end_to_end(void **state)
{
    (void)state;
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) skip(); /* PRIORFT_BIN is not set (run through ctest) */
    const char *mp = shared_path("models/stories260K/stories260K.bin");
    if (!mp) skip(); /* ../shared/models/stories260K is absent */
    char model[1024];
    snprintf(model, sizeof model, "%s", mp);
    char *dir = tmpdir_make();
    char bench[1024], out[1024];

    snprintf(bench, sizeof bench, "%s/tiny_math.jsonl", dir);
    const char *math_rows =
        "{\"question\": \"Lily has 2 apples and gets 3 more. How many apples?\", "
        "\"answer\": \"2 + 3 = 5\\n#### 5\"}\n"
        "{\"question\": \"Tom had 10 toys and gave away 4. How many are left?\", "
        "\"answer\": \"#### 6\"}\n"
        "{\"question\": \"What is 7 times 8?\", \"answer\": \"#### 56\"}\n";
    assert_int_equal(write_file(bench, math_rows, strlen(math_rows)), 0);
    snprintf(out, sizeof out, "%s/math_out", dir);
    assert_int_equal(run_eval(bin, model, bench, "math",
                              "--max-new-tokens 48 --batch 2 --samples 2 --temperature 0.7 "
                              "--seed 5",
                              out),
                     0);
    check_outputs(out, BENCH_MATH, NULL, 0, 6);
    char md_path[2048];
    snprintf(md_path, sizeof md_path, "%s/stdout.md", out);
    char *md = read_all(md_path);
    assert_non_null(strstr(md, "### tiny_math (math)"));
    free(md);

    /* Choice, greedy: the story model continues these prompts with "was very excited ..." and
     * "... a big box ...", so rows are scored by option text (correct in row 1, wrong in row
     * 2 on this machine); whatever it writes, verdicts must equal rescoring. */
    snprintf(bench, sizeof bench, "%s/tiny_choice.jsonl", dir);
    const char *choice_rows =
        "{\"question\": \"Once upon a time, there was a little girl named\", \"options\": "
        "{\"A\": \"excited\", \"B\": \"zebra\"}, \"answer_idx\": \"A\", \"answer\": \"excited\"}\n"
        "{\"question\": \"Once upon a time, there was a little girl named\", \"options\": "
        "{\"A\": \"zebra\", \"B\": \"big\"}, \"answer_idx\": \"A\", \"answer\": \"zebra\"}\n";
    assert_int_equal(write_file(bench, choice_rows, strlen(choice_rows)), 0);
    snprintf(out, sizeof out, "%s/choice_out", dir);
    assert_int_equal(run_eval(bin, model, bench, "choice",
                              "--max-new-tokens 20 --prompt-suffix ''", out), 0);
    const char *const row1[] = {"excited", "zebra"}, *const row2[] = {"zebra", "big"};
    const char *const *const options[] = {row1, row2};
    check_outputs(out, BENCH_CHOICE, options, 2, 2);

    /* Bad input is refused with a message, not a crash. */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' eval --model '%s' --bench '%s/missing.jsonl' --task math "
             "2> /dev/null", bin, model, dir);
    assert_int_not_equal(system(cmd), 0);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_question_and_utf8),
        cmocka_unit_test(test_chatml_stop_ids),
        cmocka_unit_test(test_eval_model_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
