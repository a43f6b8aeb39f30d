/* `priorft compare`: how far apart two models' next-token distributions are on the response
 * tokens of a data set (tokenized with model A's tokenizer): forward KL(A||B), reverse KL(B||A)
 * and Jensen-Shannon divergence per token, averaged per token and per example, and each
 * model's probe statistics (mean p, quantiles, histogram) on the same tokens. */
#ifndef PRIORFT_PROBE_COMPARE_H
#define PRIORFT_PROBE_COMPARE_H

#include <stddef.h>

#include "probe/probe.h"

/* Every response token of a comparison, in data-set order; divergences in nats. */
typedef struct CompareTokens {
    float *kl_ab;    /* (n) KL(A||B) */
    float *kl_ba;    /* (n) KL(B||A) */
    float *js;       /* (n) JS(A, B) */
    float *log_p_a;  /* (n) log p_A(target) */
    float *log_p_b;  /* (n) log p_B(target) */
    int *example;    /* (n) index of the token's example */
    size_t n, cap;
} CompareTokens;

void compare_tokens_free(CompareTokens *t);

/* Refuses two models that cannot be compared token by token: different vocabulary sizes
 * (naming both paths and sizes). Different widths (dim) are fine. */
int compare_check_models(const Model *a, const Model *b, const char *name_a,
                         const char *name_b);

/* Refuses two tokenizers that differ: vocabulary sizes, or any id whose text differs (the
 * first such id is named). */
int compare_check_tokenizers(const Tokenizer *a, const Tokenizer *b, const char *name_a,
                             const char *name_b);

/* Teacher-forced pass of both models over the examples of `d` (B rows per forward): appends
 * per-token divergences and both models' log p(target). */
int compare_collect(const Model *a, const Model *b, const SftDataset *d, int batch,
                    int pad_id, CompareTokens *out);

typedef struct CompareExample {
    long line;
    long tokens;
    double kl_ab, kl_ba, js;      /* means over the example's tokens (NAN without tokens) */
    double mean_p_a, mean_p_b;
} CompareExample;

typedef struct CompareSummary {
    long tokens;
    long examples;                /* examples with at least one response token */
    double kl_ab, kl_ba, js;      /* means over tokens */
    double kl_ab_example, kl_ba_example, js_example;  /* means of the per-example means */
    ProbeSummary a, b;            /* each model's probe statistics on the same tokens */
} CompareSummary;

/* Summary and per-example rows (out_examples: n_examples, lines may be NULL). */
int compare_summarize(const CompareTokens *t, const long *lines, size_t n_examples,
                      CompareSummary *s, CompareExample *out_examples);

typedef struct CompareConfig {
    const char *model_a, *model_b;
    const char *tokenizer_b;      /* NULL: found from model_b's path */
    const char *data_path;
    const char *out_dir;          /* NULL: no files */
    BundleOptions bundle;         /* model A's tokenizer, template, prompt options */
    SftOptions sft;
    int batch;
} CompareConfig;

/* Data options as probe_config_default; batch 8. */
void compare_config_default(CompareConfig *c);

typedef struct CompareResult {
    CompareSummary summary;
    CompareExample *examples;     /* (n_examples) */
    size_t n_examples;
    SftStats data_stats;
    double seconds;
} CompareResult;

/* Loads both models (refusing mismatched vocabularies or tokenizers), the data with A's
 * tokenizer, compares, and with out_dir writes compare.json and examples.jsonl there. */
int compare_run(const CompareConfig *c, CompareResult *r);
void compare_result_free(CompareResult *r);

/* Writes DIR/compare.json (summary, both models' probe statistics) and DIR/examples.jsonl
 * (line, tokens, kl_ab, kl_ba, js, mean_p_a, mean_p_b). Creates DIR when missing. */
int compare_write_files(const CompareConfig *c, const CompareResult *r);

/* A Markdown table of the summary for people. */
void compare_markdown(const CompareSummary *s, const char *name_a, const char *name_b,
                      StrBuf *out);

#endif
