/* Benchmark files for `priorft eval`: JSONL files whose rows hold a question and its gold
 * answer under names that differ by benchmark (gsm8k, MATH-style, olympiadbench, svamp, asdiv,
 * medical multiple choice, mmlu_stem, figlet puzzles). The reader guesses the fields from each
 * row's keys and maps every row to {prompt, gold answer, options}. */
#ifndef PRIORFT_EVAL_BENCH_FILE_H
#define PRIORFT_EVAL_BENCH_FILE_H

#include <jansson.h>
#include <stddef.h>

typedef enum { BENCH_MATH = 0, BENCH_CHOICE = 1, BENCH_FIGLET = 2 } BenchTask;

typedef struct BenchRow {
    char *id;        /* the row's id/idx/realidx/unique_id as text, or NULL */
    char *prompt;    /* the question (with its body/context when the file splits them) */
    char *gold;      /* math: the final answer; choice: the letter ("C"); figlet: the word */
    char **options;  /* choice: option texts in letter order (A, B, ...); else NULL */
    int n_options;
    long line;       /* 1-based line of the row in the file */
} BenchRow;

typedef struct BenchFile {
    char *path;
    char *name;      /* file name without folder and .jsonl, e.g. "math500" */
    BenchTask task;  /* guessed: options => choice; "figlet" in the path => figlet; else math */
    BenchRow *rows;
    size_t n_rows;
} BenchFile;

/* Reads a benchmark JSONL file. Blank lines are skipped. Returns 0, or -1 with a message
 * naming the file and line (and the keys it saw) when a row is not JSON, has no question or
 * no gold answer, or has options that do not contain its answer letter. */
int bench_file_read(const char *path, BenchFile *out);

/* A JSON scalar as text, malloc'ed (strings as they are, numbers printed: 27.0 -> "27");
 * NULL for other kinds. Shared by the benchmark and prediction readers. */
char *json_scalar_text(json_t *v);

/* Frees everything the reader allocated; safe on a zeroed struct. */
void bench_file_free(BenchFile *bench);

/* The name of a task ("math", "choice", "figlet") and its parse; -1 for an unknown name. */
const char *bench_task_name(BenchTask task);
int bench_task_parse(const char *name, BenchTask *task);

#endif
