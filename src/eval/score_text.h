/* Small string helpers shared by the answer scorers (math, multiple choice, figlet): regex
 * replace and search through PCRE2, brace matching, trimming. All results are malloc'ed. */
#ifndef PRIORFT_EVAL_SCORE_TEXT_H
#define PRIORFT_EVAL_SCORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Replaces every match of the PCRE2 `pattern` (byte mode, extended replacement syntax with
 * $1 for groups) in `s` by `replacement`. Returns a new string; on a bad pattern or a match
 * error it returns an unchanged copy (patterns are the program's own, so that is a bug). */
char *text_regex_replace(const char *s, const char *pattern, const char *replacement,
                         bool caseless);

/* Finds the last match of `pattern` in `s`. On success returns true and sets *start and *end to
 * the byte span of capture group `group` (0 = whole match); false when nothing matches. */
bool text_regex_last(const char *s, const char *pattern, int group, bool caseless,
                     size_t *start, size_t *end);

/* Index of the '}' that closes the '{' at s[open], or -1 when it is not closed. */
long text_match_brace(const char *s, size_t open);

/* Replaces every occurrence of `from` by `to`. Returns a new string. */
char *text_replace_all(const char *s, const char *from, const char *to);

/* A new copy of s[start, end) with leading and trailing ASCII whitespace removed. */
char *text_trimmed(const char *s, size_t start, size_t end);

/* The content of the last \boxed{...} or \fbox{...} (nested braces respected; also the
 * brace-less "\boxed 5"), or NULL when there is none that closes. */
char *text_last_boxed(const char *text);

#endif
