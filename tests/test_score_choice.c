/* Multiple-choice letter extraction and figlet scoring on hand-made cases: each case states
 * the letter (or none) a reader would take from the generation, and the Jaro-Winkler values
 * are worked out by hand in the comments. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_choice.h"
#include "eval/score_figlet.h"
#include "testutil.h"

static const char *const drugs[] = {"Aspirin", "Ibuprofen", "Acetaminophen", "Naproxen"};
static const char *const yes_no[] = {"yes", "no", "maybe"};
static const char *const nested[] = {"paralysis of the facial muscles.",
                                     "paralysis of the facial muscles and loss of taste.",
                                     "loss of taste only.", "no deficit."};

typedef struct Case {
    const char *text;
    int expected; /* 0 = A, -1 = no answer */
} Case;

static const Case drug_cases[] = {
    {"\\boxed{C}", 2},
    {"The drug of choice is \\boxed{B}.", 1},
    {"$\\boxed{\\text{D}}$", 3},
    {"\\boxed{(A)}", 0},
    {"First I thought \\boxed{A} but actually \\boxed{C}", 2},
    {"The answer is (C)", 2},
    {"The answer is C.", 2},
    {"the answer is: B", 1},
    {"Answer: D", 3},
    {"Answer: (A) Aspirin", 0},
    {"ANSWER: B", 1},
    {"So the correct option is D", 3},
    {"The correct answer is option B.", 1},
    {"The answer is **C**", 2},
    {"The answer would be A", 0},
    {"After thinking, the answer is B. Wait, the answer is D.", 3},
    {"C. Acetaminophen is safest in pregnancy.", 2},
    {"(B) because it is an NSAID", 1},
    {"B) Ibuprofen", 1},
    {"D: Naproxen", 3},
    {"A", 0},
    {"  (C)  ", 2},
    {"**B**", 1},
    {"C\nbecause it is safe", 2},
    {"I would give acetaminophen here.", 2},
    {"Naproxen is best.", 3},
    {"Either aspirin or ibuprofen could work.", -1},
    {"I do not know.", -1},
    {"", -1},
    {"A patient like this needs careful thought.", -1},
    {"I think it is unclear.", -1},
    {"The answer is E", -1}, /* E is not one of the four options */
    {"\\boxed{E}", -1},
    {"Answer: Z", -1},
    {"aspirins are not options here", -1}, /* not a whole-word match */
};

static const Case yes_no_cases[] = {
    {"Yes, the data support it.", 0},
    {"The results show no difference; answer: B", 1},
    {"The answer is maybe", 2},
    {"It is not known", -1}, /* "not" must not count as "no" */
    {"\\boxed{no}", 1},
    {"Perhaps yes, perhaps no", -1},
};

static const Case nested_cases[] = {
    {"This gives paralysis of the facial muscles and loss of taste.", 1},
    {"Only paralysis of the facial muscles.", 0},
    {"The answer is (D)", 3},
};

static int check_cases(const Case *cases, size_t n, const char *const *options, int n_opt)
{
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        int got = choice_extract(cases[i].text, options, n_opt);
        if (got != cases[i].expected) {
            fprintf(stderr, "'%s': expected %d, got %d\n", cases[i].text, cases[i].expected,
                    got);
            wrong++;
        }
    }
    return wrong;
}

static void test_choice_extraction(void **state)
{
    (void)state;
    size_t total = sizeof drug_cases / sizeof *drug_cases +
                   sizeof yes_no_cases / sizeof *yes_no_cases +
                   sizeof nested_cases / sizeof *nested_cases;
    assert_true(total >= 40);
    int wrong = check_cases(drug_cases, sizeof drug_cases / sizeof *drug_cases, drugs, 4);
    wrong += check_cases(yes_no_cases, sizeof yes_no_cases / sizeof *yes_no_cases, yes_no, 3);
    wrong += check_cases(nested_cases, sizeof nested_cases / sizeof *nested_cases, nested, 4);
    assert_int_equal(wrong, 0);
}

static void test_choice_without_options(void **state)
{
    (void)state;
    assert_int_equal(choice_extract("The answer is J", NULL, 0), 9);
    assert_int_equal(choice_extract("The answer is K", NULL, 0), -1);
    assert_int_equal(choice_extract("acetaminophen", NULL, 0), -1);
    assert_int_equal(choice_extract(NULL, drugs, 4), -1);
}

static void test_choice_gold(void **state)
{
    (void)state;
    assert_int_equal(choice_gold_index("C", drugs, 4), 2);
    assert_int_equal(choice_gold_index(" c ", drugs, 4), 2);
    assert_int_equal(choice_gold_index("(B)", drugs, 4), 1);
    assert_int_equal(choice_gold_index("Naproxen", drugs, 4), 3);
    assert_int_equal(choice_gold_index("E", drugs, 4), -1);
    assert_int_equal(choice_gold_index("Morphine", drugs, 4), -1);
}

static void test_jaro_winkler_by_hand(void **state)
{
    (void)state;
    /* MARTHA/MARHTA: 6 matches, T/H swapped = 1 transposition; Jaro (1 + 1 + 5/6)/3 =
     * 0.94444; prefix MAR = 3: 0.94444 + 0.3 * 0.05556 = 0.96111. */
    assert_true(fabs(jaro("MARTHA", "MARHTA") - 0.944444) < 1e-5);
    assert_true(fabs(jaro_winkler("MARTHA", "MARHTA") - 0.961111) < 1e-5);
    /* DIXON/DICKSONX: window 8/2 - 1 = 3; matches D, I, O, N; Jaro (4/5 + 4/8 + 1)/3 =
     * 0.76667; prefix DI = 2: 0.76667 + 0.2 * 0.23333 = 0.81333. */
    assert_true(fabs(jaro("DIXON", "DICKSONX") - 0.766667) < 1e-5);
    assert_true(fabs(jaro_winkler("DIXON", "DICKSONX") - 0.813333) < 1e-5);
    /* JELLYFISH/SMELLYFISH: 8 matches (ELLYFISH), no transpositions: (8/9 + 8/10 + 1)/3 =
     * 0.89630, no common prefix. */
    assert_true(fabs(jaro_winkler("JELLYFISH", "SMELLYFISH") - 0.896296) < 1e-5);
    /* DWAYNE/DUANE: matches D, A, N, E: (4/6 + 4/5 + 1)/3 = 0.82222; prefix 1: 0.84. */
    assert_true(fabs(jaro_winkler("DWAYNE", "DUANE") - 0.84) < 1e-5);
    /* CRATE/TRACE: window 1; matches R, A, E: (3/5 + 3/5 + 1)/3 = 0.73333. */
    assert_true(fabs(jaro_winkler("CRATE", "TRACE") - 0.733333) < 1e-5);
    assert_true(jaro_winkler("ABC", "XYZ") == 0.0);
    assert_true(jaro_winkler("word", "word") == 1.0);
    assert_true(jaro_winkler("", "") == 1.0);
    assert_true(jaro_winkler("", "a") == 0.0);
}

static void test_figlet_extract_and_score(void **state)
{
    (void)state;
    char *w = figlet_extract_answer("The letters spell \\boxed{\\text{Castle}}.");
    assert_string_equal(w, "Castle");
    FigletScore s = figlet_score(w, "castle");
    assert_false(s.exact);
    assert_true(s.caseless);
    assert_true(s.similarity == 1.0);
    free(w);

    w = figlet_extract_answer("Reading the art row by row...\nThe answer is \"river\".\n");
    assert_string_equal(w, "river");
    free(w);
    w = figlet_extract_answer("Looks like:\n\n  **MARHTA**  \n\n");
    assert_string_equal(w, "MARHTA");
    s = figlet_score(w, "MARTHA");
    assert_false(s.caseless);
    assert_true(fabs(s.similarity - 0.961111) < 1e-5);
    free(w);
    assert_null(figlet_extract_answer("  \n ... \n"));
    s = figlet_score(NULL, "word");
    assert_false(s.exact);
    assert_true(s.similarity == 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choice_extraction),
        cmocka_unit_test(test_choice_without_options),
        cmocka_unit_test(test_choice_gold),
        cmocka_unit_test(test_jaro_winkler_by_hand),
        cmocka_unit_test(test_figlet_extract_and_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
