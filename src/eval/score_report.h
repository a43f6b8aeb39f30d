/* Scoring whole prediction files for `priorft eval`: read JSONL rows of generations with their
 * gold answers, score every sample with the task's scorer, and summarise per benchmark
 * (accuracy, avg@n and pass@k when several samples share a prompt), as Markdown and JSON. */
#ifndef PRIORFT_EVAL_SCORE_REPORT_H
#define PRIORFT_EVAL_SCORE_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "eval/bench_file.h"
#include "util/buf.h"

typedef struct ScoredSample {
    char *benchmark;  /* the row's "benchmark" field, else the file's name without .jsonl */
    char *group;      /* samples of one prompt share this: the row's id, else its prompt */
    char *prompt;     /* may be NULL */
    char *generation;
    char *extracted;  /* the answer taken from the generation (choice: the letter); or NULL */
    char *gold;       /* the gold answer as compared (math: final answer; choice: letter) */
    bool correct;
    double similarity; /* figlet: Jaro-Winkler to the gold word; else 0 */
    bool exact;        /* figlet: exact (case-sensitive) match; else equals `correct` */
} ScoredSample;

typedef struct ScoredSet {
    BenchTask task;
    ScoredSample *samples;
    size_t n_samples;
} ScoredSet;

/* Reads a predictions JSONL file and scores each sample, appending to `set` (whose task must
 * be set). Row fields: generation | output | response (text, or a list of texts = several
 * samples of one prompt), gold | answer (text or number; a math gold holding "####" or
 * \boxed{} is reduced to its final answer), options ({"A": ...} or a list; choice only),
 * id, prompt, benchmark (all optional). Returns 0, or -1 with a message naming file and line. */
int score_predictions_read(const char *path, ScoredSet *set);

void scored_set_free(ScoredSet *set);

/* The unbiased pass@k estimate for one prompt with n samples of which c are correct:
 * 1 - C(n - c, k) / C(n, k); requires 1 <= k <= n. */
double score_pass_at_k(int n, int c, int k);

/* Appends a Markdown section per benchmark (in order of first appearance) to `md` and the same
 * numbers as a JSON document {"task": ..., "benchmarks": [...]} to `json`. */
void score_report_write(const ScoredSet *set, StrBuf *md, StrBuf *json);

/* Appends one JSON line per sample (benchmark, prompt, generation, extracted, gold, verdict,
 * and for figlet exact and similarity) to `out`. */
void score_samples_write(const ScoredSet *set, StrBuf *out);

#endif
