/* Multiple-choice letter extraction (see score_choice.h). */
#include "eval/score_choice.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score_text.h"
#include "util/error.h"

static int max_letters(int n_options) { return n_options > 0 ? n_options : 10; }

/* A letter standing alone in s: optional wrapping "(", "[", "*", "\text{", then the letter,
 * then nothing or a non-letter. Returns its index or -1. */
static int lone_letter(const char *s, int n_options)
{
    while (*s == ' ' || *s == '(' || *s == '[' || *s == '*' || *s == '{') s++;
    if (strncmp(s, "\\text{", 6) == 0 || strncmp(s, "\\mathrm{", 8) == 0) {
        s = strchr(s, '{') + 1;
        while (*s == ' ' || *s == '(') s++;
    }
    int k = *s - 'A';
    if (k < 0 || k >= max_letters(n_options) || *s > 'Z') return -1;
    return isalpha((unsigned char)s[1]) ? -1 : k;
}

/* Whether `needle` (n bytes) occurs in `hay` as whole words, ignoring ASCII case. */
static bool contains_words(const char *hay, const char *needle, size_t n)
{
    if (n == 0) return false;
    bool word_start = isalnum((unsigned char)needle[0]);
    bool word_end = isalnum((unsigned char)needle[n - 1]);
    for (const char *p = hay; *p; p++) {
        if (strncasecmp(p, needle, n) != 0) continue;
        bool left = !word_start || p == hay || !isalnum((unsigned char)p[-1]);
        bool right = !word_end || !isalnum((unsigned char)p[n]);
        if (left && right) return true;
    }
    return false;
}

/* The option text without surrounding spaces and a final period. */
static char *option_core(const char *option)
{
    char *t = text_trimmed(option, 0, strlen(option));
    size_t n = strlen(t);
    while (n > 0 && (t[n - 1] == '.' || t[n - 1] == ' ')) t[--n] = '\0';
    return t;
}

static int unique_option_text(const char *text, const char *const *options, int n_options)
{
    bool *hit = xcalloc((size_t)n_options, 1);
    char **core = xcalloc((size_t)n_options, sizeof *core);
    for (int k = 0; k < n_options; k++) {
        core[k] = option_core(options[k] ? options[k] : "");
        hit[k] = contains_words(text, core[k], strlen(core[k]));
    }
    /* An option whose text lies inside another matching option's text does not count. */
    int found = -1, count = 0;
    for (int k = 0; k < n_options; k++) {
        if (!hit[k]) continue;
        bool inside = false;
        for (int j = 0; j < n_options && !inside; j++)
            inside = j != k && hit[j] && strlen(core[j]) > strlen(core[k]) &&
                     contains_words(core[j], core[k], strlen(core[k]));
        if (inside) continue;
        found = k;
        count++;
    }
    for (int k = 0; k < n_options; k++) free(core[k]);
    free(core);
    free(hit);
    return count == 1 ? found : -1;
}

int choice_extract(const char *text, const char *const *options, int n_options)
{
    if (!text) return -1;
    char *boxed = text_last_boxed(text);
    if (boxed) {
        int k = lone_letter(boxed, n_options);
        if (k < 0 && n_options > 0) k = unique_option_text(boxed, options, n_options);
        free(boxed);
        if (k >= 0) return k;
    }

    size_t start, end;
    const char *said = "(?i:answer|option|choice)\\s*(?i:is|would be|:)\\s*:?\\s*"
                       "(?i:option|choice)?\\s*[(\\[*]*\\s*(?:\\\\text\\{)?([A-Z])(?![A-Za-z])";
    if (text_regex_last(text, said, 1, false, &start, &end)) {
        int k = text[start] - 'A';
        if (k < max_letters(n_options)) return k;
    }

    const char *opening = "^\\s*[(\\[*]*\\s*([A-Z])\\s*(?:[).:\\]*]|$|\\n)";
    if (text_regex_last(text, opening, 1, false, &start, &end)) {
        int k = text[start] - 'A';
        if (k < max_letters(n_options)) return k;
    }

    if (n_options > 0) return unique_option_text(text, options, n_options);
    return -1;
}

int choice_gold_index(const char *gold, const char *const *options, int n_options)
{
    if (!gold) return -1;
    char *g = text_trimmed(gold, 0, strlen(gold));
    int k = -1;
    size_t n = strlen(g);
    if (n == 1 && isalpha((unsigned char)g[0])) k = toupper((unsigned char)g[0]) - 'A';
    if (n == 3 && g[0] == '(' && g[2] == ')' && isalpha((unsigned char)g[1]))
        k = toupper((unsigned char)g[1]) - 'A';
    if (k >= max_letters(n_options)) k = -1; /* "x" may be an option's text, not a letter */
    for (int j = 0; j < n_options && k < 0; j++)
        if (options[j] && strcasecmp(g, options[j]) == 0) k = j;
    free(g);
    return k >= 0 && k < max_letters(n_options) ? k : -1;
}
