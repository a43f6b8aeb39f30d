/* Figlet-puzzle answer extraction and string similarity (see score_figlet.h). */
#include "eval/score_figlet.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_text.h"
#include "util/error.h"

double jaro(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == 0 && lb == 0) return 1.0;
    if (la == 0 || lb == 0) return 0.0;

    /* Characters match when equal and at most `window` positions apart. */
    size_t longer = la > lb ? la : lb;
    size_t window = longer / 2 > 0 ? longer / 2 - 1 : 0;
    unsigned char *used_a = xcalloc(la, 1), *used_b = xcalloc(lb, 1);
    size_t matches = 0;
    for (size_t i = 0; i < la; i++) {
        size_t lo = i > window ? i - window : 0;
        size_t hi = i + window + 1 < lb ? i + window + 1 : lb;
        for (size_t j = lo; j < hi; j++) {
            if (used_b[j] || a[i] != b[j]) continue;
            used_a[i] = used_b[j] = 1;
            matches++;
            break;
        }
    }

    /* Transpositions: half the matched characters that are out of order. */
    size_t out_of_order = 0, j = 0;
    for (size_t i = 0; i < la && matches > 0; i++) {
        if (!used_a[i]) continue;
        while (!used_b[j]) j++;
        if (a[i] != b[j]) out_of_order++;
        j++;
    }
    free(used_a);
    free(used_b);
    if (matches == 0) return 0.0;

    double m = (double)matches, t = (double)out_of_order / 2.0;
    return (m / (double)la + m / (double)lb + (m - t) / m) / 3.0;
}

double jaro_winkler(const char *a, const char *b)
{
    double sim = jaro(a, b);
    size_t prefix = 0;
    while (prefix < 4 && a[prefix] && a[prefix] == b[prefix]) prefix++;
    return sim + 0.1 * (double)prefix * (1.0 - sim);
}

static bool strip_char(char c)
{
    return strchr("\"'`*_.,;:!?()[]{}<>", c) != NULL || isspace((unsigned char)c);
}

/* A copy of s[start, end) without wrapping quotes and punctuation, or NULL if empty. */
static char *cleaned_word(const char *s, size_t start, size_t end)
{
    while (start < end && strip_char(s[start])) start++;
    while (end > start && strip_char(s[end - 1])) end--;
    if (end == start) return NULL;
    return text_trimmed(s, start, end);
}

/* The last whitespace-separated word of s[0, end) that has something left after cleaning. */
static char *last_word(const char *s, size_t end)
{
    while (end > 0) {
        while (end > 0 && isspace((unsigned char)s[end - 1])) end--;
        size_t start = end;
        while (start > 0 && !isspace((unsigned char)s[start - 1])) start--;
        char *w = cleaned_word(s, start, end);
        if (w) return w;
        end = start;
    }
    return NULL;
}

char *figlet_extract_answer(const char *text)
{
    if (!text) return NULL;
    char *boxed = text_last_boxed(text);
    if (boxed) {
        char *inner = boxed;
        size_t n = strlen(inner);
        if (strncmp(inner, "\\text{", 6) == 0 && n > 7 && inner[n - 1] == '}') {
            inner[n - 1] = '\0';
            inner += 6;
        }
        char *w = cleaned_word(inner, 0, strlen(inner));
        free(boxed);
        if (w) return w;
    }

    size_t start, end;
    if (text_regex_last(text, "answer\\s+is\\s*:?\\s*(\\S+)", 1, true, &start, &end)) {
        char *w = cleaned_word(text, start, end);
        if (w) return w;
    }
    return last_word(text, strlen(text));
}

FigletScore figlet_score(const char *predicted, const char *gold)
{
    FigletScore s = {false, false, 0.0};
    if (!predicted || !gold) return s;
    s.exact = strcmp(predicted, gold) == 0;
    s.caseless = strcasecmp(predicted, gold) == 0;

    char *a = xstrdup(predicted), *b = xstrdup(gold);
    for (char *p = a; *p; p++) *p = (char)tolower((unsigned char)*p);
    for (char *p = b; *p; p++) *p = (char)tolower((unsigned char)*p);
    s.similarity = jaro_winkler(a, b);
    free(a);
    free(b);
    return s;
}
