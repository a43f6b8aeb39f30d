/* Math scorer: final-answer extraction from generations and answer equivalence, on hand-made
 * cases written from the specification (equal and unequal pairs), plus hostile inputs. */
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

#include "eval/score_math.h"
#include "testutil.h"

typedef struct Pair {
    const char *predicted, *gold;
    bool equal;
} Pair;

static const Pair pairs[] = {
    /* integers and signs */
    {"5", "5", true},
    {"5", "6", false},
    {"-3", "-3", true},
    {"-3", "3", false},
    {"+7", "7", true},
    {"0", "-0", true},
    {"007", "7", true},
    {"12", "120", false},
    /* decimals and trailing zeros */
    {"2.50", "2.5", true},
    {"3.0", "3", true},
    {"3.", "3", true},
    {"0.5", ".5", true},
    {"0.1", "0.10000", true},
    {"0.25", "0.26", false},
    {"1.5", "15", false},
    {"3.14", "3.14159", false},
    /* thousands separators */
    {"1,000", "1000", true},
    {"1,234,567", "1234567", true},
    {"12,345.5", "12345.5", true},
    {"1{,}000", "1000", true},
    {"1\\,000", "1000", true},
    {"1,000", "100", false},
    /* dollar signs, \text, \left/\right, spacing */
    {"$5$", "5", true},
    {"\\$18", "18", true},
    {"$\\$1,200$", "1200", true},
    {"\\text{5}", "5", true},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})", true},
    {"\\left[ 1, 2 \\right)", "[1,2)", true},
    {"\\boxed{12}", "12", true},
    {"  42  ", "42", true},
    {"4\\!2", "42", true},
    /* fractions */
    {"\\frac{1}{2}", "0.5", true},
    {"\\dfrac{1}{2}", "\\frac{1}{2}", true},
    {"\\tfrac{3}{4}", "0.75", true},
    {"\\frac12", "\\frac{1}{2}", true},
    {"1/2", "\\frac{1}{2}", true},
    {"2/4", "1/2", true},
    {"\\frac{2}{3}", "0.6667", false},
    {"\\frac{2}{3}", "0.666666667", true},
    {"\\frac{3}{2}", "\\frac{2}{3}", false},
    {"-\\frac{1}{3}", "\\frac{-1}{3}", true},
    {"\\frac{-1}{3}", "-1/3", true},
    {"\\frac{1}{3}", "-\\frac{1}{3}", false},
    {"\\frac{10}{4}", "\\frac{5}{2}", true},
    {"\\frac{\\frac{1}{2}}{2}", "\\frac14", true},
    {"\\frac{7}{8}", "7/9", false},
    /* mixed numbers */
    {"2\\frac{1}{2}", "\\frac{5}{2}", true},
    {"2 \\frac{1}{2}", "2.5", true},
    {"2 1/2", "5/2", true},
    {"3\\frac{3}{4}", "3.75", true},
    {"-2\\frac{1}{2}", "-2.5", true},
    {"2\\frac{1}{2}", "1", false},
    {"1\\frac{1}{3}", "\\frac{4}{3}", true},
    /* radicals */
    {"\\sqrt{2}", "\\sqrt2", true},
    {"\\sqrt{2}", "1.41421356", true},
    {"2\\sqrt{3}", "\\sqrt{12}", true},
    {"2\\sqrt{3}", "3\\sqrt{2}", false},
    {"\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", true},
    {"\\sqrt{8}", "2\\sqrt{2}", true},
    {"\\sqrt[3]{8}", "2", true},
    {"\\sqrt{2}/2", "\\frac{1}{\\sqrt{2}}", true},
    {"\\sqrt{2}", "2", false},
    {"1+\\sqrt{5}", "\\sqrt{5}+1", true},
    {"\\frac{1+\\sqrt{5}}{2}", "\\frac{1-\\sqrt{5}}{2}", false},
    {"5\\sqrt{2}", "\\sqrt{50}", true},
    {"3 \\sqrt{3}", "3\\sqrt{3}", true},
    /* pi */
    {"2\\pi", "2 \\pi", true},
    {"\\frac{\\pi}{3}", "\\frac{1}{3}\\pi", true},
    {"\\pi/3", "\\frac{\\pi}{3}", true},
    {"2\\pi", "\\pi", false},
    {"\\frac{\\pi}{3}", "1.0471975512", true},
    {"\\pi", "3.14", false},
    {"6\\pi", "6 \\pi", true},
    {"\\frac{2\\pi}{3}", "\\frac{2}{3}\\pi", true},
    {"4\\pi", "4\\pi^2", false},
    {"\\pi^2", "\\pi \\cdot \\pi", true},
    {"8-2\\pi", "8 - 2\\pi", true},
    {"\\frac{4\\pi}{3}", "\\frac{3\\pi}{4}", false},
    /* powers and operators */
    {"2^{10}", "1024", true},
    {"2^10", "1024", true},
    {"10^{-2}", "0.01", true},
    {"3^2", "6", false},
    {"2\\cdot 3", "6", true},
    {"2 \\times 3", "6", true},
    {"12 \\div 4", "3", true},
    {"(1+2)(3+4)", "21", true},
    {"2*3+1", "7", true},
    {"2*(3+1)", "7", false},
    /* scientific notation */
    {"1.5 \\times 10^{3}", "1500", true},
    {"1.5e3", "1500", true},
    {"1.5E-3", "0.0015", true},
    {"3 \\times 10^8", "300000000", true},
    {"6.02 \\times 10^{23}", "6.02e23", true},
    {"1.5 \\times 10^{3}", "1.5 \\times 10^{4}", false},
    {"2.5 \\cdot 10^{-4}", "0.00025", true},
    /* units and degrees */
    {"90^\\circ", "90", true},
    {"90^{\\circ}", "90", true},
    {"45\xc2\xb0", "45", true},
    {"30 degrees", "30", true},
    {"5 \\text{ cm}", "5", true},
    {"12 \\text{ cm}^2", "12", true},
    {"20 \\text{ miles per hour}", "20", true},
    {"18 dollars", "18", true},
    {"10 \\mbox{ inches}", "10", true},
    {"6 \\mathrm{~cm}", "6", true},
    {"5 cm", "6", false},
    {"9 (apples)", "9", true},
    /* percentages */
    {"50\\%", "50", true},
    {"50%", "50", true},
    {"12.5\\%", "12.5", true},
    {"50\\%", "25", false},
    /* "x =" prefixes */
    {"x = 5", "5", true},
    {"x=5", "5", true},
    {"y = -2", "-2", true},
    {"k = \\frac{1}{2}", "0.5", true},
    {"\\theta = 30^\\circ", "30", true},
    {"x = 5", "6", false},
    {"a_1 = 3", "3", true},
    /* tuples and points */
    {"(1, 2)", "(1,2)", true},
    {"(1, 2)", "(2, 1)", false},
    {"(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)", true},
    {"(0.5, 2)", "(\\frac{1}{2}, 2)", true},
    {"(1, 2, 3)", "(1, 2)", false},
    {"(1,2,3)", "(1,2,3)", true},
    {"(-1, 4)", "(-1,4)", true},
    {"(2, -\\sqrt{3})", "(2, -1.7320508)", true},
    /* intervals */
    {"[1, 2)", "[1,2)", true},
    {"[1, 2)", "(1, 2]", false},
    {"[1, 2]", "(1, 2)", false},
    {"(-\\infty, 3)", "(-\\infty,3)", true},
    {"(-\\infty, 3]", "(-\\infty, 3)", false},
    {"[0, \\infty)", "[0,\\infty)", true},
    {"(-\\infty, -2) \\cup (2, \\infty)", "(-\\infty,-2)\\cup(2,\\infty)", true},
    {"(-\\infty, -2) \\cup (2, \\infty)", "(-\\infty,-2]\\cup[2,\\infty)", false},
    {"[\\frac{1}{2}, 1]", "[0.5, 1]", true},
    {"(2, 5]", "(2, 6]", false},
    /* sets and lists of solutions */
    {"1, 2", "2, 1", true},
    {"x = 1, 2", "2, 1", true},
    {"x = 1, x = 2", "1, 2", true},
    {"1, 2", "1, 3", false},
    {"1, 2", "1, 2, 3", false},
    {"\\{1, 2\\}", "\\{2, 1\\}", true},
    {"\\{1, 2\\}", "2, 1", true},
    {"x = 3 \\text{ or } x = -3", "-3, 3", true},
    {"3 or -3", "\\pm 3", true},
    {"1 \\pm \\sqrt{2}", "1 + \\sqrt{2}, 1 - \\sqrt{2}", true},
    {"1 \\pm \\sqrt{2}", "1 + \\sqrt{2}", false},
    {"-1, \\frac{1}{2}", "0.5, -1", true},
    {"\\{5\\}", "5", true},
    {"1, 1, 2", "1, 2, 2", false},
    /* expressions with variables and text answers: string equality after normalisation */
    {"2x + 3", "2x+3", true},
    {"2x+3", "3x+2", false},
    {"y = 2x + 3", "y=2x+3", true},
    {"x^2 + 1", "x^2+1", true},
    {"\\text{Evelyn}", "Evelyn", true},
    {"evelyn", "Evelyn", true},
    {"\\text{(C)}", "C", true},
    {"(C)", "(D)", false},
    {"\\textbf{yes}", "yes", true},
    {"odd", "even", false},
    {"\\infty", "\\infty", true},
    {"\\infty", "-\\infty", false},
    /* matrices and vectors */
    {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "(1,2)", true},
    {"\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}",
     false},
    {"\\begin{pmatrix} \\frac12 \\\\ 0 \\end{pmatrix}", "\\begin{pmatrix}0.5\\\\0\\end{pmatrix}",
     true},
    /* nothing is not an answer */
    {"", "", false},
    {"", "5", false},
    {"5", "", false},
};

static void test_math_equivalence_table(void **state)
{
    (void)state;
    size_t n = sizeof pairs / sizeof *pairs;
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        bool got = math_equal(pairs[i].predicted, pairs[i].gold);
        if (got != pairs[i].equal) {
            char *a = math_normalize(pairs[i].predicted), *b = math_normalize(pairs[i].gold);
            fprintf(stderr, "case %zu: '%s' vs '%s': expected %s, got %s ('%s' / '%s')\n",
                    i, pairs[i].predicted, pairs[i].gold, pairs[i].equal ? "equal" : "unequal",
                    got ? "equal" : "unequal", a, b);
            free(a);
            free(b);
            wrong++;
        }
        /* Equality is symmetric. */
        if (math_equal(pairs[i].gold, pairs[i].predicted) != pairs[i].equal) {
            fprintf(stderr, "case %zu is not symmetric\n", i);
            wrong++;
        }
    }
    assert_true(n >= 150);
    assert_int_equal(wrong, 0);
}

typedef struct Extraction {
    const char *text, *answer; /* answer NULL: none */
} Extraction;

static const Extraction extractions[] = {
    {"So the total is \\boxed{42}.", "42"},
    {"First \\boxed{1}, then corrected: \\boxed{2}.", "2"},
    {"\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"},
    {"We get $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$",
     "\\left( 3, \\frac{\\pi}{2} \\right)"},
    {"\\fbox{7}", "7"},
    {"answer: \\boxed 5$", "5"},
    {"Unclosed at the end \\boxed{3} and \\boxed{4", "3"},
    {"Thus, the answer is 17.", "17"},
    {"The answer is: $\\frac{3}{4}$. Done", "$\\frac{3}{4}$"},
    {"I think the final answer is 3.5 and that is it", "3.5 and that is it"},
    {"The answer is 12. Later the answer is 13.", "13"},
    {"Natalia sold 48+24 = 72 clips.\n#### 72", "72"},
    {"#### 1,000\n", "1,000"},
    {"She has 3 apples and buys 5 more, so 8", "8"},
    {"The price went from 2.5 to -3.75 dollars", "-3.75"},
    {"half is 1/2", "1/2"},
    {"no digits at all", NULL},
    {"", NULL},
};

static void test_math_extraction(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof extractions / sizeof *extractions; i++) {
        char *got = math_extract_answer(extractions[i].text);
        if (!extractions[i].answer) {
            assert_null(got);
            continue;
        }
        if (!got || strcmp(got, extractions[i].answer) != 0)
            fprintf(stderr, "extraction %zu: expected '%s', got '%s'\n", i,
                    extractions[i].answer, got ? got : "(none)");
        assert_non_null(got);
        assert_string_equal(got, extractions[i].answer);
        free(got);
    }
}

static void test_math_evaluate_values(void **state)
{
    (void)state;
    double v = 0;
    assert_int_equal(math_evaluate("\\frac{\\pi}{3}", &v), 0);
    assert_true(fabs(v - 1.0471975511965976) < 1e-12);
    assert_int_equal(math_evaluate("2\\sqrt{3}", &v), 0);
    assert_true(fabs(v - 3.4641016151377544) < 1e-12);
    assert_int_equal(math_evaluate("3\\frac{1}{4}", &v), 0);
    assert_true(fabs(v - 3.25) < 1e-12);
    assert_int_equal(math_evaluate("x+1", &v), -1);
    assert_int_equal(math_evaluate("(1,2)", &v), -1);
    assert_int_equal(math_evaluate("", &v), -1);
}

static void test_math_hostile_inputs(void **state)
{
    (void)state;
    /* Deep nesting, unbalanced braces, invalid UTF-8 and long inputs give answers, not crashes. */
    char deep[4096];
    size_t n = 0;
    for (int i = 0; i < 1500; i++) deep[n++] = '(';
    deep[n++] = '1';
    deep[n] = '\0';
    double v;
    assert_int_equal(math_evaluate(deep, &v), -1);
    assert_false(math_equal(deep, "1"));

    for (int i = 0; i < 1000; i++) deep[i] = '{';
    deep[1000] = '\0';
    assert_false(math_equal(deep, "1"));
    char *a = math_extract_answer("\\boxed{{{{{{{");
    free(a);
    assert_false(math_equal("\xff\xfe\x80", "1"));
    assert_false(math_equal("\\frac{1}{", "1"));
    assert_false(math_equal("\\sqrt", "1"));
    assert_false(math_equal("^^^", "1"));
    assert_false(math_equal("1/0", "2"));
    assert_false(math_equal("\\frac", "\\sqrt"));
    a = math_extract_answer("\\boxed");
    assert_null(a);

    size_t big = 200000;
    char *long_text = malloc(big + 1);
    for (size_t i = 0; i < big; i++) long_text[i] = "12, (x)\\{"[i % 9];
    long_text[big] = '\0';
    a = math_extract_answer(long_text);
    free(a);
    assert_false(math_equal(long_text, "1"));
    free(long_text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_math_equivalence_table),
        cmocka_unit_test(test_math_extraction),
        cmocka_unit_test(test_math_evaluate_values),
        cmocka_unit_test(test_math_hostile_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
