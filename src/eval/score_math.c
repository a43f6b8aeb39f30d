/* Math answer extraction, normalisation and equivalence (see score_math.h).
 *
 * Equality is decided in steps: identical strings after normalisation; else both sides parse
 * as arithmetic expressions and agree numerically within a relative 1e-6; else both are
 * structures (unions of intervals, tuples/intervals, sets or comma lists) whose elements are
 * equal by the same rules. Anything else (expressions with variables, words) must match as
 * normalised strings. */
#include "eval/score_math.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_text.h"
#include "util/buf.h"
#include "util/error.h"

#define MAX_NESTING 64
#define REL_TOLERANCE 1e-6
/* Answers longer than this are not compared: some normalisation passes are regular
 * expressions that can take quadratic time, and no real final answer is this long. */
#define MAX_ANSWER_BYTES 4096

/* ---- extraction ---- */

/* The text after the last "answer is", up to the end of its line or sentence. */
static char *after_answer_is(const char *text)
{
    size_t start, end;
    if (!text_regex_last(text, "answer\\s+is\\s*:?[ \\t]*", 0, true, &start, &end))
        return NULL;
    start = end;
    while (text[end] && text[end] != '\n') end++;

    /* The sentence ends at a period followed by a space or the end, unless it is a decimal
     * point. */
    for (size_t i = start; i < end; i++) {
        if (text[i] != '.') continue;
        bool digit_after = i + 1 < end && isdigit((unsigned char)text[i + 1]);
        if (!digit_after) {
            end = i;
            break;
        }
    }
    char *answer = text_trimmed(text, start, end);
    if (answer[0] == '\0') {
        free(answer);
        return NULL;
    }
    return answer;
}

char *math_extract_answer(const char *text)
{
    if (!text) return NULL;
    char *boxed = text_last_boxed(text);
    if (boxed) return boxed;

    char *said = after_answer_is(text);
    if (said) return said;

    size_t start, end;
    if (text_regex_last(text, "####\\s*([^\\n]*)", 1, false, &start, &end)) {
        char *answer = text_trimmed(text, start, end);
        if (answer[0]) return answer;
        free(answer);
    }
    if (text_regex_last(text, "-?(?:[0-9][0-9,]*(?:\\.[0-9]+)?|\\.[0-9]+)(?:/[0-9]+)?", 0,
                        false, &start, &end)) {
        while (end > start && text[end - 1] == ',') end--;
        return text_trimmed(text, start, end);
    }
    return NULL;
}

/* ---- normalisation ---- */

/* Replaces \cmd{X} by X for every occurrence of the command (whose name must not continue
 * with a letter). Returns a new string. */
static char *unwrap_command(const char *s, const char *cmd)
{
    size_t n = strlen(cmd);
    StrBuf b = {0};
    strbuf_puts(&b, "");
    size_t i = 0;
    while (s[i]) {
        const char *hit = strstr(s + i, cmd);
        if (!hit) break;
        size_t at = (size_t)(hit - s), arg = at + n;
        if (isalpha((unsigned char)s[arg])) {
            strbuf_append(&b, s + i, arg - i);
            i = arg;
            continue;
        }
        while (s[arg] == ' ') arg++;
        long close = s[arg] == '{' ? text_match_brace(s, arg) : -1;
        if (close < 0) {
            strbuf_append(&b, s + i, at + n - i);
            i = at + n;
            continue;
        }
        strbuf_append(&b, s + i, at - i);
        strbuf_append(&b, s + arg + 1, (size_t)close - arg - 1);
        i = (size_t)close + 1;
    }
    strbuf_puts(&b, s + i);
    return b.data;
}

static void apply(char **s, char *next)
{
    free(*s);
    *s = next;
}

static void replace(char **s, const char *from, const char *to)
{
    apply(s, text_replace_all(*s, from, to));
}

static void regex(char **s, const char *pattern, const char *to)
{
    apply(s, text_regex_replace(*s, pattern, to, false));
}

/* Drops spaces, except one between two letters (so "\pi r" keeps its meaning). */
static void drop_spaces(char *s)
{
    size_t w = 0;
    for (size_t r = 0; s[r]; r++) {
        if (isspace((unsigned char)s[r])) {
            size_t next = r;
            while (isspace((unsigned char)s[next])) next++;
            bool keep = w > 0 && isalpha((unsigned char)s[w - 1]) &&
                        isalpha((unsigned char)s[next]);
            if (keep) s[w++] = ' ';
            r = next - 1;
            continue;
        }
        s[w++] = s[r];
    }
    s[w] = '\0';
}

/* "2.500" -> "2.5", "3.0" -> "3", "+4" -> "4", "-0" -> "0" when the whole string is a plain
 * decimal number. */
static void canonical_decimal(char *s)
{
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    size_t digits = strspn(p, "0123456789");
    const char *dot = p + digits;
    if (*dot == '.') {
        size_t frac = strspn(dot + 1, "0123456789");
        if (dot[1 + frac] != '\0' || digits + frac == 0) return;
        char *end = (char *)dot + 1 + frac;
        while (end > dot + 1 && end[-1] == '0') end--;
        if (end == dot + 1) end = (char *)dot;
        *end = '\0';
    } else if (*dot != '\0' || digits == 0) {
        return;
    }
    if (s[0] == '+') memmove(s, s + 1, strlen(s));
    if (strcmp(s, "-0") == 0) strcpy(s, "0");
}

/* Removes thousands separators: "1,234,567" -> "1234567" where every group after the first
 * has three digits and the number is not part of a bracketed tuple. */
static void drop_thousands(char **s)
{
    const char *p = *s;
    if (p[0] == '(' || p[0] == '[' || strncmp(p, "\\{", 2) == 0) return;
    regex(s, "(?<![0-9.,])([0-9]{1,3})((?:,[0-9]{3})+)(?![0-9]|,[0-9])", "$1\\x{1}$2");
    /* The \x{1} marks groups to squash; commas after it inside the run go. */
    StrBuf b = {0};
    strbuf_puts(&b, "");
    bool squash = false;
    for (const char *q = *s; *q; q++) {
        if (*q == '\x01') {
            squash = true;
            continue;
        }
        if (squash && *q == ',') continue;
        if (squash && !isdigit((unsigned char)*q)) squash = false;
        strbuf_append(&b, q, 1);
    }
    apply(s, b.data);
}

/* Strips trailing unit words after a number: "5 cm^2" -> "5", "20 miles per hour" -> "20". */
static void drop_units(char **s)
{
    regex(s, "^(.*[0-9}).|])\\s*(?:\\b[a-zA-Z]{2,}(?:\\^\\{?[0-9]\\}?)?(?:\\s*(?:/|per)\\s*"
             "[a-zA-Z]{1,}(?:\\^\\{?[0-9]\\}?)?)?\\s*)+$",
          "$1");
    regex(s, "^([-+]?[0-9.]+)\\s*\\(\\s*[a-zA-Z ]+\\s*\\)$", "$1"); /* asdiv "9 (apples)" */
}

/* Turns "a \pm b" (one \pm, no comma list) into "a+b,a-b". */
static void expand_plus_minus(char **s)
{
    char *pm = strstr(*s, "\\pm");
    if (!pm || strstr(pm + 3, "\\pm") || strchr(*s, ',')) return;
    StrBuf b = {0};
    size_t head = (size_t)(pm - *s);
    const char *tail = pm + 3;
    strbuf_append(&b, *s, head);
    strbuf_printf(&b, "+%s,", tail);
    strbuf_append(&b, *s, head);
    strbuf_printf(&b, "-%s", tail);
    apply(s, b.data);
}

char *math_normalize(const char *answer)
{
    char *s = text_trimmed(answer, 0, strlen(answer));
    if (strlen(s) > MAX_ANSWER_BYTES) return s;

    const char *wrappers[] = {"\\boxed", "\\fbox", "\\text", "\\textbf", "\\textit",
                              "\\textrm", "\\mathrm", "\\mathbf", "\\mathit", "\\mbox",
                              "\\operatorname", "\\displaystyle", "\\mathbb"};
    for (size_t k = 0; k < sizeof wrappers / sizeof *wrappers; k++)
        apply(&s, unwrap_command(s, wrappers[k]));

    const char *drop[] = {"\\left", "\\right", "\\displaystyle", "\\!", "\\,", "{,}", "\\$",
                          "$", "\\%", "%", "^{\\circ}", "^\\circ", "\\circ", "\\degree",
                          "\xc2\xb0", "\\(", "\\)", "\\[", "\\]"};
    replace(&s, "\\dfrac", "\\frac");
    replace(&s, "\\tfrac", "\\frac");
    replace(&s, "\\leq", "\\le");
    replace(&s, "\\geq", "\\ge");
    replace(&s, "\\rightarrow", "\\to");
    for (size_t k = 0; k < sizeof drop / sizeof *drop; k++) replace(&s, drop[k], "");
    regex(&s, "\\\\begin\\{[pbv]?matrix\\}", "(");
    regex(&s, "\\\\end\\{[pbv]?matrix\\}", ")");
    replace(&s, "\\\\", ",");
    replace(&s, "&", ",");
    const char *spaces[] = {"\\;", "\\:", "\\ ", "~", "\\quad", "\\qquad", "\n", "\t"};
    for (size_t k = 0; k < sizeof spaces / sizeof *spaces; k++) replace(&s, spaces[k], " ");
    replace(&s, "\xe2\x88\x92", "-");      /* unicode minus */
    replace(&s, "\xcf\x80", "\\pi ");      /* π */
    replace(&s, "\xe2\x88\x9e", "\\infty"); /* ∞ */
    regex(&s, "\\binfinity\\b", "\\\\infty");

    /* Brace-less arguments: \frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}. */
    regex(&s, "\\\\frac\\s*([0-9a-zA-Z])\\s*([0-9a-zA-Z])", "\\\\frac{$1}{$2}");
    regex(&s, "\\\\frac\\s*(\\{[^{}]*\\})\\s*([0-9a-zA-Z])", "\\\\frac$1{$2}");
    regex(&s, "\\\\sqrt\\s*([0-9a-zA-Z])", "\\\\sqrt{$1}");

    /* Words that join solutions become commas; "degrees" and similar go with the units. */
    regex(&s, "\\s*\\b(?:or|and)\\b\\s*", ",");
    regex(&s, "(?<=[0-9])\\s+(?=[0-9]+/[0-9]+$)", "\\\\MIXED"); /* "2 1/2" */
    drop_units(&s);
    drop_thousands(&s);
    /* "x = 3", "a_1 = 3", "\theta = 3" */
    regex(&s, "^[^=,]*(?:[a-zA-Z}]|_[0-9a-z])\\s*(?:\\\\approx|=)\\s*(?=.)", "");
    regex(&s, "(?<=,)\\s*[a-zA-Z](?:_\\{?[0-9a-z]+\\}?)?\\s*=\\s*", ""); /* "x=1, x=2" */
    regex(&s, "^\\(([A-Za-z])\\)$", "$1");                             /* "(C)" -> "C" */

    drop_spaces(s);
    replace(&s, "\\MIXED", " ");
    while (strlen(s) > 0 && (s[strlen(s) - 1] == '.' || s[strlen(s) - 1] == ',' ||
                             s[strlen(s) - 1] == ';'))
        s[strlen(s) - 1] = '\0';
    expand_plus_minus(&s);
    canonical_decimal(s);
    return s;
}

/* ---- evaluation ---- */

typedef struct Parser {
    const char *s;
    size_t i;
    int depth;
    bool failed;
} Parser;

static double parse_sum(Parser *p);

static bool at_command(Parser *p, const char *name)
{
    size_t n = strlen(name);
    return strncmp(p->s + p->i, name, n) == 0 && !isalpha((unsigned char)p->s[p->i + n]);
}

static void skip_spaces(Parser *p)
{
    while (p->s[p->i] == ' ') p->i++;
}

static bool eat(Parser *p, char c)
{
    skip_spaces(p);
    if (p->s[p->i] != c) return false;
    p->i++;
    return true;
}

static double fail(Parser *p)
{
    p->failed = true;
    return NAN;
}

/* "{expr}" */
static double parse_group(Parser *p)
{
    if (!eat(p, '{')) return fail(p);
    double v = parse_sum(p);
    if (!eat(p, '}')) return fail(p);
    return v;
}

/* A decimal number with optional exponent ("1.5e-3"); *integer tells whether it had neither
 * a point nor an exponent. */
static double parse_number(Parser *p, bool *integer)
{
    const char *start = p->s + p->i;
    size_t n = strspn(start, "0123456789");
    *integer = true;
    if (start[n] == '.') {
        *integer = false;
        n += 1 + strspn(start + n + 1, "0123456789");
    }
    if ((start[n] == 'e' || start[n] == 'E') &&
        (isdigit((unsigned char)start[n + 1]) ||
         ((start[n + 1] == '-' || start[n + 1] == '+') && isdigit((unsigned char)start[n + 2])))) {
        *integer = false;
        n += 2 + strspn(start + n + 2, "0123456789");
    }
    if (n == 1 && start[0] == '.') return fail(p);
    p->i += n;
    return strtod(start, NULL);
}

/* Whether "{digits}{digits}" follows \frac at the parser's position (a mixed number's part). */
static bool simple_fraction_follows(const Parser *p)
{
    const char *q = p->s + p->i;
    if (strncmp(q, "\\frac{", 6) != 0) return false;
    q += 6;
    size_t a = strspn(q, "0123456789");
    if (a == 0 || q[a] != '}' || q[a + 1] != '{') return false;
    q += a + 2;
    size_t b = strspn(q, "0123456789");
    return b > 0 && q[b] == '}';
}

static double parse_power(Parser *p);

static double parse_primary(Parser *p)
{
    skip_spaces(p);
    char c = p->s[p->i];
    if (isdigit((unsigned char)c) || c == '.') {
        bool integer;
        double v = parse_number(p, &integer);
        if (integer && strncmp(p->s + p->i, "\\MIXED", 6) == 0) p->i += 6; /* "2 1/2" */
        if (integer && simple_fraction_follows(p)) {
            p->i += 5;
            double num = parse_group(p), den = parse_group(p);
            return v + num / den;
        }
        if (integer && p->s[p->i] == ' ' && isdigit((unsigned char)p->s[p->i + 1])) {
            p->i++; /* "2 1/2" after normalisation keeps one space */
            double num = parse_number(p, &integer);
            if (!eat(p, '/')) return fail(p);
            double den = parse_number(p, &integer);
            return v + num / den;
        }
        return v;
    }
    if (c == '(' || c == '{') {
        p->i++;
        double v = parse_sum(p);
        if (!eat(p, c == '(' ? ')' : '}')) return fail(p);
        return v;
    }
    if (at_command(p, "\\frac")) {
        p->i += 5;
        double num = parse_group(p), den = parse_group(p);
        return num / den;
    }
    if (at_command(p, "\\sqrt") || at_command(p, "sqrt")) {
        p->i += p->s[p->i] == '\\' ? 5 : 4;
        double index = 2.0;
        if (eat(p, '[')) {
            index = parse_sum(p);
            if (!eat(p, ']')) return fail(p);
        }
        skip_spaces(p);
        double radicand = p->s[p->i] == '(' ? parse_primary(p) : parse_group(p);
        return index == 2.0 ? sqrt(radicand) : pow(radicand, 1.0 / index);
    }
    if (at_command(p, "\\pi") || at_command(p, "pi")) {
        p->i += p->s[p->i] == '\\' ? 3 : 2;
        return M_PI;
    }
    if (at_command(p, "\\infty") || at_command(p, "\\inf")) {
        p->i += at_command(p, "\\infty") ? 6 : 4;
        return INFINITY;
    }
    return fail(p);
}

/* primary ('^' exponent)?, right-associative; the exponent may carry a sign. */
static double parse_power(Parser *p)
{
    if (++p->depth > MAX_NESTING) return fail(p);
    double base = parse_primary(p);
    if (eat(p, '^')) {
        skip_spaces(p);
        double sign = 1.0;
        if (p->s[p->i] == '-' || p->s[p->i] == '+') sign = p->s[p->i++] == '-' ? -1.0 : 1.0;
        double exponent = sign * parse_power(p);
        base = pow(base, exponent);
    }
    p->depth--;
    return base;
}

static double parse_unary(Parser *p)
{
    skip_spaces(p);
    if (p->s[p->i] == '-' || p->s[p->i] == '+') {
        bool negative = p->s[p->i++] == '-';
        if (++p->depth > MAX_NESTING) return fail(p);
        double v = parse_unary(p);
        p->depth--;
        return negative ? -v : v;
    }
    return parse_power(p);
}

/* Whether the next token starts a factor that multiplies implicitly: "2\pi", "3(4)". */
static bool implicit_factor_follows(Parser *p)
{
    skip_spaces(p);
    char c = p->s[p->i];
    return c == '(' || at_command(p, "\\frac") || at_command(p, "\\sqrt") ||
           at_command(p, "\\pi") || at_command(p, "pi") || at_command(p, "sqrt");
}

static double parse_product(Parser *p)
{
    double v = parse_unary(p);
    while (!p->failed) {
        skip_spaces(p);
        if (eat(p, '*') || (at_command(p, "\\cdot") && (p->i += 5)) ||
            (at_command(p, "\\times") && (p->i += 6))) {
            v *= parse_unary(p);
        } else if (eat(p, '/') || (at_command(p, "\\div") && (p->i += 4))) {
            v /= parse_unary(p);
        } else if (implicit_factor_follows(p)) {
            v *= parse_power(p);
        } else {
            break;
        }
    }
    return v;
}

static double parse_sum(Parser *p)
{
    if (++p->depth > MAX_NESTING) return fail(p);
    double v = parse_product(p);
    while (!p->failed) {
        if (eat(p, '+'))
            v += parse_product(p);
        else if (eat(p, '-'))
            v -= parse_product(p);
        else
            break;
    }
    p->depth--;
    return v;
}

/* Evaluates an already normalised string. */
static int evaluate_normalized(const char *s, double *value)
{
    Parser p = {.s = s};
    if (s[0] == '\0') return -1;
    double v = parse_sum(&p);
    skip_spaces(&p);
    if (p.failed || p.s[p.i] != '\0' || isnan(v)) return -1;
    *value = v;
    return 0;
}

int math_evaluate(const char *answer, double *value)
{
    if (strlen(answer) > MAX_ANSWER_BYTES) return -1;
    char *s = math_normalize(answer);
    int rc = evaluate_normalized(s, value);
    free(s);
    return rc;
}

/* ---- structural comparison ---- */

static bool numbers_equal(double a, double b)
{
    if (isinf(a) || isinf(b)) return a == b;
    double scale = fmax(fabs(a), fabs(b));
    return fabs(a - b) <= REL_TOLERANCE * scale || fabs(a - b) < 1e-12;
}

/* Splits s[start, end) at top-level occurrences of `sep` (outside any bracket). */
static int split_top(const char *s, size_t start, size_t end, const char *sep, char ***parts)
{
    size_t n_sep = strlen(sep);
    int depth = 0, count = 0;
    char **out = NULL;
    size_t piece = start;
    for (size_t i = start; i <= end; i++) {
        bool boundary = i == end || (depth == 0 && strncmp(s + i, sep, n_sep) == 0);
        if (boundary) {
            out = xrealloc(out, (size_t)(count + 1) * sizeof *out);
            out[count++] = text_trimmed(s, piece, i);
            piece = i + n_sep;
            i += n_sep - 1;
            continue;
        }
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        if ((s[i] == ')' || s[i] == ']' || s[i] == '}') && depth > 0) depth--;
    }
    *parts = out;
    return count;
}

static void free_parts(char **parts, int n)
{
    for (int i = 0; i < n; i++) free(parts[i]);
    free(parts);
}

/* Whether the bracket opened at s[0] closes exactly at the last character (bracket kinds
 * may differ, as in the interval "(1,2]"). */
static bool wrapped(const char *s)
{
    size_t n = strlen(s);
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '(' || s[i] == '[' || s[i] == '{') depth++;
        if (s[i] == ')' || s[i] == ']' || s[i] == '}') depth--;
        if (depth <= 0) return depth == 0 && i == n - 1;
    }
    return false;
}

typedef enum { SHAPE_ATOM, SHAPE_TUPLE, SHAPE_SET, SHAPE_LIST } Shape;

typedef struct Structure {
    Shape shape;
    char open, close; /* tuple/interval brackets */
    char **items;
    int n_items;
} Structure;

static Structure structure_of(const char *s)
{
    Structure st = {SHAPE_ATOM, 0, 0, NULL, 0};
    size_t n = strlen(s);
    if (n >= 4 && strncmp(s, "\\{", 2) == 0 && strcmp(s + n - 2, "\\}") == 0) {
        st.shape = SHAPE_SET;
        st.n_items = split_top(s, 2, n - 2, ",", &st.items);
        return st;
    }
    if (n >= 2 && (s[0] == '(' || s[0] == '[') && (s[n - 1] == ')' || s[n - 1] == ']') &&
        wrapped(s)) {
        char **items = NULL;
        int count = split_top(s, 1, n - 1, ",", &items);
        if (count >= 2) {
            st.shape = SHAPE_TUPLE;
            st.open = s[0];
            st.close = s[n - 1];
            st.items = items;
            st.n_items = count;
            return st;
        }
        free_parts(items, count);
    }
    char **items = NULL;
    int count = split_top(s, 0, n, ",", &items);
    if (count >= 2) {
        st.shape = SHAPE_LIST;
        st.items = items;
        st.n_items = count;
        return st;
    }
    free_parts(items, count);
    return st;
}

static bool normalized_equal(const char *a, const char *b, int depth);

/* Drops an "x=" left over on a list element. */
static char *element_clean(const char *s)
{
    char *e = text_regex_replace(s, "^[a-zA-Z](?:_\\{?[0-9a-z]+\\}?)?=(?=.)", "", false);
    canonical_decimal(e);
    return e;
}

static bool items_equal(char *a, char *b, int depth)
{
    char *x = element_clean(a), *y = element_clean(b);
    bool eq = normalized_equal(x, y, depth + 1);
    free(x);
    free(y);
    return eq;
}

/* Order-insensitive match of two lists (each element used once). */
static bool multiset_equal(const Structure *a, const Structure *b, int depth)
{
    if (a->n_items != b->n_items) return false;
    bool *used = xcalloc((size_t)b->n_items, 1);
    bool all = true;
    for (int i = 0; i < a->n_items && all; i++) {
        bool found = false;
        for (int j = 0; j < b->n_items && !found; j++) {
            if (used[j] || !items_equal(a->items[i], b->items[j], depth)) continue;
            used[j] = true;
            found = true;
        }
        all = found;
    }
    free(used);
    return all;
}

static bool structures_equal(const Structure *a, const Structure *b, int depth)
{
    if (a->shape == SHAPE_TUPLE || b->shape == SHAPE_TUPLE) {
        if (a->shape != b->shape || a->open != b->open || a->close != b->close ||
            a->n_items != b->n_items)
            return false;
        for (int i = 0; i < a->n_items; i++)
            if (!items_equal(a->items[i], b->items[i], depth)) return false;
        return true;
    }
    return multiset_equal(a, b, depth);
}

static bool alpha_word(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s) && *s != ' ') return false;
    return true;
}

static bool normalized_equal(const char *a, const char *b, int depth)
{
    if (depth > MAX_NESTING) return false;
    if (strcmp(a, b) == 0) return a[0] != '\0';
    if (alpha_word(a) && alpha_word(b) && strcasecmp(a, b) == 0) return true;

    double x, y;
    bool ax = evaluate_normalized(a, &x) == 0, by = evaluate_normalized(b, &y) == 0;
    if (ax && by) return numbers_equal(x, y);

    char **ua = NULL, **ub = NULL;
    int na = split_top(a, 0, strlen(a), "\\cup", &ua);
    int nb = split_top(b, 0, strlen(b), "\\cup", &ub);
    if (na > 1 || nb > 1) {
        bool eq = na == nb;
        for (int i = 0; i < na && eq; i++) eq = normalized_equal(ua[i], ub[i], depth + 1);
        free_parts(ua, na);
        free_parts(ub, nb);
        return eq;
    }
    free_parts(ua, na);
    free_parts(ub, nb);

    Structure sa = structure_of(a), sb = structure_of(b);
    bool eq = false;
    if (sa.shape != SHAPE_ATOM && sb.shape != SHAPE_ATOM) {
        eq = structures_equal(&sa, &sb, depth);
    } else if (sa.shape == SHAPE_SET && sa.n_items == 1) {
        eq = items_equal(sa.items[0], (char *)b, depth);
    } else if (sb.shape == SHAPE_SET && sb.n_items == 1) {
        eq = items_equal((char *)a, sb.items[0], depth);
    }
    free_parts(sa.items, sa.n_items);
    free_parts(sb.items, sb.n_items);
    return eq;
}

bool math_equal(const char *predicted, const char *gold)
{
    if (!predicted || !gold) return false;
    if (strlen(predicted) > MAX_ANSWER_BYTES || strlen(gold) > MAX_ANSWER_BYTES) return false;
    char *a = math_normalize(predicted), *b = math_normalize(gold);
    bool eq = normalized_equal(a, b, 0);
    free(a);
    free(b);
    return eq;
}
