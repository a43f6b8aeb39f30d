/* Math answer scoring for `priorft eval`: pull the final answer out of a generation, normalise
 * LaTeX-ish answers, and decide whether two answers are mathematically equal where that is
 * decidable (numbers, fractions, radicals, pi, tuples, intervals, sets, lists of solutions). */
#ifndef PRIORFT_EVAL_SCORE_MATH_H
#define PRIORFT_EVAL_SCORE_MATH_H

#include <stdbool.h>

/* Extracts the final answer of a generation: the content of the last \boxed{...} or \fbox{...}
 * (nested braces respected), else what follows the last "the answer is", else the rest of the
 * line after the last "####", else the last number. Returns a malloc'ed string, or NULL when
 * the text holds none of these. Never reads past the terminating NUL. */
char *math_extract_answer(const char *text);

/* Normalises an answer for comparison (drops $, \text{}, \left/\right, spacing, units, degree
 * and percent signs, thousands separators, "x =" prefixes, trailing zeros; \dfrac -> \frac).
 * Returns a malloc'ed string (possibly empty); answers over 4096 bytes come back only trimmed. */
char *math_normalize(const char *answer);

/* Evaluates an arithmetic expression of numbers, \frac, \sqrt, \pi, \infty, ^, *, /, +, -,
 * \cdot, \times, parentheses and mixed numbers ("2\frac{1}{2}") to a double. The input is
 * normalised first. Returns 0 and sets *value on success, -1 if it is not such an expression. */
int math_evaluate(const char *answer, double *value);

/* True when `predicted` and `gold` are the same answer: equal after normalisation, or equal
 * numbers within a relative tolerance of 1e-6, or tuples/intervals equal element by element
 * with the same brackets, or sets/lists of solutions equal up to order. NULL, empty answers and
 * answers over 4096 bytes are never equal to anything. */
bool math_equal(const char *predicted, const char *gold);

#endif
