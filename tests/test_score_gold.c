/* The math scorer on real gold data from ../shared: the final answer extracted from each
 * math500 reference solution must equal its `answer` field, and the answer read from each
 * GSM8K reference (the reasoning with its "#### N" line) must equal N. Disagreements are
 * printed; agreement must be near-total. Also the last-number fallback on GSM8K reasoning with
 * the "####" line removed, whose agreement is reported and bounded from below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_math.h"
#include "testutil.h"

typedef struct Tally {
    int rows, agree;
    int shifted_agree;     /* agreements of a solution with the next row's answer */
    char *previous_answer; /* math500: the answer of the row before */
} Tally;

/* Calls `check` on each JSON row of a shared file. */
static void for_each_row(const char *path, void (*check)(json_t *, long, Tally *), Tally *t)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, f) > 0) {
        n++;
        json_error_t err;
        json_t *row = json_loads(line, 0, &err);
        assert_non_null(row);
        check(row, n, t);
        json_decref(row);
    }
    free(line);
    fclose(f);
}

static void check_math500(json_t *row, long line, Tally *t)
{
    const char *solution = json_string_value(json_object_get(row, "solution"));
    const char *answer = json_string_value(json_object_get(row, "answer"));
    assert_non_null(solution);
    assert_non_null(answer);
    char *extracted = math_extract_answer(solution);
    t->rows++;
    if (math_equal(extracted, answer))
        t->agree++;
    else
        fprintf(stderr, "math500 line %ld: extracted '%s' vs answer '%s'\n", line,
                extracted ? extracted : "(none)", answer);
    if (t->previous_answer && math_equal(extracted, t->previous_answer)) t->shifted_agree++;
    free(t->previous_answer);
    t->previous_answer = strdup(answer);
    free(extracted);
}

/* The N of the last "#### N" line. */
static char *gsm8k_final(const char *answer)
{
    const char *h = strstr(answer, "####");
    while (h && strstr(h + 4, "####")) h = strstr(h + 4, "####");
    if (!h) return NULL;
    h += 4;
    while (*h == ' ') h++;
    return strndup(h, strcspn(h, "\n"));
}

static void check_gsm8k(json_t *row, long line, Tally *t)
{
    const char *answer = json_string_value(json_object_get(row, "answer"));
    assert_non_null(answer);
    char *final = gsm8k_final(answer);
    assert_non_null(final);
    char *extracted = math_extract_answer(answer);
    t->rows++;
    if (math_equal(extracted, final))
        t->agree++;
    else
        fprintf(stderr, "gsm8k line %ld: extracted '%s' vs '#### %s'\n", line,
                extracted ? extracted : "(none)", final);
    free(extracted);
    free(final);
}

static void check_gsm8k_last_number(json_t *row, long line, Tally *t)
{
    (void)line;
    const char *answer = json_string_value(json_object_get(row, "answer"));
    char *final = gsm8k_final(answer);
    char *reasoning = strndup(answer, (size_t)(strstr(answer, "####") - answer));
    char *extracted = math_extract_answer(reasoning);
    t->rows++;
    if (math_equal(extracted, final)) t->agree++;
    free(extracted);
    free(reasoning);
    free(final);
}

static void test_math500_solutions_match_answers(void **state)
{
    (void)state;
    const char *path = shared_path("data/math/math500.jsonl");
    if (!path) skip();
    Tally t = {0};
    for_each_row(path, check_math500, &t);
    fprintf(stderr, "math500: %d of %d solutions agree with their answer; %d with the answer "
            "of the row before (a permissive scorer would show here)\n",
            t.agree, t.rows, t.shifted_agree);
    free(t.previous_answer);
    assert_true(t.rows >= 499);
    assert_true(t.agree >= t.rows - 10);
    assert_true(t.shifted_agree <= t.rows / 50);
}

static void test_gsm8k_answers_match_final_line(void **state)
{
    (void)state;
    const char *path = shared_path("data/gsm8k/test.jsonl");
    if (!path) skip();
    Tally t = {0};
    for_each_row(path, check_gsm8k, &t);
    fprintf(stderr, "gsm8k: %d of %d answers agree with their #### line\n", t.agree, t.rows);
    assert_int_equal(t.rows, 1319);
    assert_int_equal(t.agree, t.rows);

    Tally last = {0};
    for_each_row(path, check_gsm8k_last_number, &last);
    fprintf(stderr, "gsm8k: last number of the reasoning (no #### line) agrees in %d of %d\n",
            last.agree, last.rows);
    assert_true(last.agree >= last.rows * 9 / 10);
}

int main(void)
{
    if (!shared_path("data")) fprintf(stderr, "skipping: ../shared (PRIORFT_SHARED) absent\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_math500_solutions_match_answers),
        cmocka_unit_test(test_gsm8k_answers_match_final_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
