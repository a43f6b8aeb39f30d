/* The capability probe behind `priorft probe`: a teacher-forced pass over exactly the response
 * tokens training would use (same SFT examples, same loss mask), keeping log p(target) of every
 * token, and the statistics that place the model on the capability continuum: mean p, mean
 * log p, perplexity, exact quantiles of p, fractions above thresholds, a histogram, per-example
 * means, the region of the continuum and the objectives to use there. */
#ifndef PRIORFT_PROBE_PROBE_H
#define PRIORFT_PROBE_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "data/sft.h"
#include "model/model.h"
#include "train/bundle.h"
#include "util/buf.h"

/* Quantile levels reported (5%, 10%, 20%, ..., 90%, 95%; the median is level 0.5). */
#define PROBE_N_QUANTILES 11
extern const double PROBE_QUANTILE_LEVELS[PROBE_N_QUANTILES];

/* Thresholds q at which the fraction of tokens with p >= q is reported (0.2, 0.5, 0.9 among
 * them): the share of tokens that OnlyTopLogP-q (nll@top:q) would keep. */
#define PROBE_N_THRESHOLDS 7
extern const double PROBE_THRESHOLDS[PROBE_N_THRESHOLDS];

/* Equal-width bins of p over [0, 1]; the last bin includes 1. */
#define PROBE_HIST_BINS 20

/* Every response token of a probe, in data-set order. */
typedef struct ProbeTokens {
    float *log_p;    /* (n) log p(target), <= 0 */
    float *entropy;  /* (n) entropy of the next-token distribution, nats */
    int *example;    /* (n) index of the token's example in the data set */
    size_t n, cap;
} ProbeTokens;

void probe_tokens_push(ProbeTokens *t, float log_p, float entropy, int example);
void probe_tokens_free(ProbeTokens *t);

typedef struct ProbeSummary {
    long tokens;
    double mean_p;
    double mean_log_p;
    double perplexity;                  /* exp(-mean_log_p) */
    double mean_entropy;                /* NAN when no entropies were given */
    double quantile[PROBE_N_QUANTILES]; /* p at PROBE_QUANTILE_LEVELS (linear interpolation
                                         * between order statistics, numpy's default) */
    double median;                      /* the same as the 0.5 quantile */
    double frac_at_least[PROBE_N_THRESHOLDS]; /* fraction of tokens with p >= threshold */
    long histogram[PROBE_HIST_BINS];    /* token counts per bin of p */
} ProbeSummary;

/* Summarises n log-probabilities (entropy may be NULL). Sorts a copy of p, so quantiles are
 * exact. Fails on n == 0 or a value that is NaN or > 0. */
int probe_summarize(const float *log_p, const float *entropy, size_t n, ProbeSummary *out);

/* The linear-interpolation quantile at level in [0, 1] of n ascending values (n > 0). */
double probe_quantile_sorted(const float *sorted, size_t n, double level);

/* Per-example means over its response tokens. */
typedef struct ProbeExample {
    long line;          /* source line (0 when built in memory) */
    long tokens;
    double mean_p;
    double mean_log_p;
} ProbeExample;

/* Fills out[0..n_examples) from the tokens (examples with no token get tokens 0, means NAN).
 * lines (n_examples) may be NULL. */
void probe_examples(const ProbeTokens *t, const long *lines, size_t n_examples,
                    ProbeExample *out);

/* ---- the continuum ---- */

typedef enum {
    PROBE_MODEL_WEAK = 0,    /* mean p < PROBE_WEAK_BELOW */
    PROBE_INTERMEDIATE,      /* in between */
    PROBE_MODEL_STRONG,      /* mean p >= PROBE_STRONG_FROM */
} ProbeRegion;

/* Region boundaries on mean p (see probe_stats.c for why these values). */
#define PROBE_STRONG_FROM 0.6
#define PROBE_WEAK_BELOW 0.2

ProbeRegion probe_region(double mean_p);
/* "model-strong", "intermediate", "model-weak". */
const char *probe_region_name(ProbeRegion r);

/* Plain-words placement and advice: region, the published anchors, objectives to use or
 * compare (priorft names), and which q in OnlyTopLogP-q keeps what share of tokens here. */
void probe_advice(const ProbeSummary *s, StrBuf *out);

/* A Markdown table of the summary (tokens, mean p, mean log p, perplexity, quantiles,
 * fractions). */
void probe_markdown(const ProbeSummary *s, StrBuf *out);

/* ---- running it ---- */

/* Teacher-forced pass of `m` over the examples of `d` in order, B rows per forward (padding,
 * one example per row): appends every response token's log p(target), entropy and example
 * index to *out. Errors name what failed. */
int probe_collect(const Model *m, const SftDataset *d, int batch, int pad_id, ProbeTokens *out);

typedef struct ProbeConfig {
    const char *model_path;
    const char *data_path;
    const char *out_dir;     /* NULL: write no files */
    BundleOptions bundle;
    SftOptions sft;          /* sft.max_rows is --limit */
    int batch;               /* rows per forward */
} ProbeConfig;

/* Defaults as `priorft train` reads data (max length 1024, truncation error), batch 8. */
void probe_config_default(ProbeConfig *c);

typedef struct ProbeResult {
    ProbeSummary summary;
    ProbeExample *examples;  /* (n_examples) */
    size_t n_examples;
    SftStats data_stats;
    double seconds;
} ProbeResult;

/* Opens the model, reads the data as training would, probes, summarises and (with out_dir)
 * writes probe.json, examples.jsonl and histogram.csv there. */
int probe_run(const ProbeConfig *c, ProbeResult *r);
void probe_result_free(ProbeResult *r);

/* ---- files ---- */

/* Writes DIR/probe.json (summary, region, advice, model and data paths), DIR/examples.jsonl
 * (line, tokens, mean_p, mean_log_p) and DIR/histogram.csv (bin_lo, bin_hi, count, fraction).
 * Creates DIR when missing. */
int probe_write_files(const char *dir, const char *model_path, const char *data_path,
                      const ProbeSummary *s, const ProbeExample *ex, size_t n_examples);

/* The summary as a JSON object (new reference): the fields of ProbeSummary and the region. */
json_t *probe_summary_json(const ProbeSummary *s);

/* Creates a folder (and its parents) when missing. */
int probe_mkdirs(const char *dir);

#endif
