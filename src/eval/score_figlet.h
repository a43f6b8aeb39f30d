/* Figlet-puzzle scoring for `priorft eval`: the word a generation read out of the ASCII art,
 * compared with the gold word exactly, ignoring case, and by Jaro-Winkler similarity. */
#ifndef PRIORFT_EVAL_SCORE_FIGLET_H
#define PRIORFT_EVAL_SCORE_FIGLET_H

#include <stdbool.h>

/* Jaro similarity of two byte strings, in [0, 1] (1 for two empty strings). */
double jaro(const char *a, const char *b);

/* Jaro-Winkler similarity: Jaro plus 0.1 * (common prefix, at most 4) * (1 - Jaro). */
double jaro_winkler(const char *a, const char *b);

/* The answer word of a generation: the content of the last \boxed{} (with \text{} removed),
 * else the word after the last "answer is", else the last word of the last non-empty line;
 * surrounding quotes, asterisks, backticks and punctuation are stripped. Returns a malloc'ed
 * string, or NULL when the text has no word. */
char *figlet_extract_answer(const char *text);

typedef struct FigletScore {
    bool exact;        /* byte-for-byte equal */
    bool caseless;     /* equal ignoring ASCII case */
    double similarity; /* Jaro-Winkler of the lower-cased strings; 0 when nothing extracted */
} FigletScore;

/* Scores an extracted answer (may be NULL) against the gold word. */
FigletScore figlet_score(const char *predicted, const char *gold);

#endif
