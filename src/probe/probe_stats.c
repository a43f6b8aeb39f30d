/* Statistics of a probe (see probe.h): exact quantiles from a sorted copy of p, fractions,
 * histogram, per-example means, the region of the capability continuum and the advice text.
 *
 * Region boundaries (mean p over response tokens), placed between the published anchors:
 *  - model-strong from 0.6: above the medical anchor (~0.5, where neither NLL nor -p wins
 *    reliably) with room for sampling noise, below the math anchor (~0.8, where -p, -p^10 and
 *    OnlyTopLogP-0.2 beat NLL by large margins).
 *  - model-weak below 0.2: far above the figlet anchor (~0.01, where NLL wins and -p learns
 *    nothing) and equal to the q of OnlyTopLogP-0.2: below it the average token would be masked
 *    by that objective, and -p scales its gradient by p < 0.2, at least 5x less than NLL does.
 * These are rules of thumb from three published points, not fitted boundaries. */
#include "probe/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

const double PROBE_QUANTILE_LEVELS[PROBE_N_QUANTILES] = {
    0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95,
};

const double PROBE_THRESHOLDS[PROBE_N_THRESHOLDS] = {0.01, 0.05, 0.1, 0.2, 0.5, 0.8, 0.9};

void probe_tokens_push(ProbeTokens *t, float log_p, float entropy, int example)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 4096;
        t->log_p = xrealloc(t->log_p, t->cap * sizeof *t->log_p);
        t->entropy = xrealloc(t->entropy, t->cap * sizeof *t->entropy);
        t->example = xrealloc(t->example, t->cap * sizeof *t->example);
    }
    t->log_p[t->n] = log_p;
    t->entropy[t->n] = entropy;
    t->example[t->n] = example;
    t->n++;
}

void probe_tokens_free(ProbeTokens *t)
{
    free(t->log_p);
    free(t->entropy);
    free(t->example);
    memset(t, 0, sizeof *t);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

double probe_quantile_sorted(const float *sorted, size_t n, double level)
{
    if (level <= 0) return sorted[0];
    if (level >= 1) return sorted[n - 1];
    double pos = level * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo + 1 >= n) return sorted[n - 1];
    double frac = pos - (double)lo;
    return (double)sorted[lo] + frac * ((double)sorted[lo + 1] - (double)sorted[lo]);
}

/* Index of the first value >= x in ascending `sorted`. */
static size_t lower_bound(const float *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((double)sorted[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

int probe_summarize(const float *log_p, const float *entropy, size_t n, ProbeSummary *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0) return pf_fail("probe: no response tokens to summarise");
    float *p = xmalloc(n * sizeof *p);
    double sum_p = 0, sum_lp = 0, sum_h = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(log_p[i] <= 0.0f)) {
            free(p);
            return pf_fail("probe: token %zu has log p = %g (NaN or positive)", i,
                           (double)log_p[i]);
        }
        double pi = exp((double)log_p[i]);
        p[i] = (float)pi;
        sum_p += pi;
        sum_lp += log_p[i];
        if (entropy) sum_h += entropy[i];
        int bin = (int)(pi * PROBE_HIST_BINS);
        out->histogram[bin >= PROBE_HIST_BINS ? PROBE_HIST_BINS - 1 : bin]++;
    }
    out->tokens = (long)n;
    out->mean_p = sum_p / (double)n;
    out->mean_log_p = sum_lp / (double)n;
    out->perplexity = exp(-out->mean_log_p);
    out->mean_entropy = entropy ? sum_h / (double)n : NAN;

    qsort(p, n, sizeof *p, cmp_float);
    for (int k = 0; k < PROBE_N_QUANTILES; k++)
        out->quantile[k] = probe_quantile_sorted(p, n, PROBE_QUANTILE_LEVELS[k]);
    out->median = probe_quantile_sorted(p, n, 0.5);
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) {
        /* p was rounded to float; compare in float so p == q counts as kept. */
        size_t below = lower_bound(p, n, (double)(float)PROBE_THRESHOLDS[k]);
        out->frac_at_least[k] = (double)(n - below) / (double)n;
    }
    free(p);
    return 0;
}

void probe_examples(const ProbeTokens *t, const long *lines, size_t n_examples,
                    ProbeExample *out)
{
    for (size_t e = 0; e < n_examples; e++)
        out[e] = (ProbeExample){.line = lines ? lines[e] : 0};
    for (size_t i = 0; i < t->n; i++) {
        int e = t->example[i];
        if (e < 0 || (size_t)e >= n_examples) continue;
        out[e].tokens++;
        out[e].mean_p += exp((double)t->log_p[i]);
        out[e].mean_log_p += t->log_p[i];
    }
    for (size_t e = 0; e < n_examples; e++) {
        if (out[e].tokens == 0) {
            out[e].mean_p = out[e].mean_log_p = NAN;
            continue;
        }
        out[e].mean_p /= (double)out[e].tokens;
        out[e].mean_log_p /= (double)out[e].tokens;
    }
}

ProbeRegion probe_region(double mean_p)
{
    if (mean_p >= PROBE_STRONG_FROM) return PROBE_MODEL_STRONG;
    if (mean_p >= PROBE_WEAK_BELOW) return PROBE_INTERMEDIATE;
    return PROBE_MODEL_WEAK;
}

const char *probe_region_name(ProbeRegion r)
{
    switch (r) {
    case PROBE_MODEL_STRONG: return "model-strong";
    case PROBE_INTERMEDIATE: return "intermediate";
    case PROBE_MODEL_WEAK: return "model-weak";
    }
    return "?";
}

static double frac_at(const ProbeSummary *s, double q)
{
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++)
        if (PROBE_THRESHOLDS[k] == q) return s->frac_at_least[k];
    return NAN;
}

/* The published anchor nearest to mean p. */
static const char *nearest_anchor(double mean_p)
{
    double d_math = fabs(mean_p - 0.8), d_med = fabs(mean_p - 0.5), d_fig = fabs(mean_p - 0.01);
    if (d_math <= d_med && d_math <= d_fig) return "math with math-tuned models (~0.8)";
    if (d_med <= d_fig) return "medical (~0.5)";
    return "figlet decoding (~0.01)";
}

static void advice_objectives(const ProbeSummary *s, ProbeRegion r, StrBuf *out)
{
    double keep02 = 100.0 * frac_at(s, 0.2);
    switch (r) {
    case PROBE_MODEL_STRONG:
        strbuf_printf(out,
            "Advice: the model's prior is strong here; prior-leaning objectives should win.\n"
            "  use `p` (-p), `power:10` (-p^10) or `OnlyTopLogP-0.2` (= nll@top:0.2, keeps "
            "%.1f%% of tokens here),\n  and keep `nll` as the baseline to compare against.\n",
            keep02);
        break;
    case PROBE_INTERMEDIATE:
        strbuf_printf(out,
            "Advice: between the anchors neither side wins reliably; train both and compare\n"
            "  on held-out data: `nll` and `p` (and OnlyTopLogP-q with q from the table "
            "below;\n  OnlyTopLogP-0.2 keeps %.1f%% of tokens here).\n", keep02);
        break;
    case PROBE_MODEL_WEAK:
        strbuf_printf(out,
            "Advice: the model's prior is weak here; use `nll`. -p and power:A scale each "
            "token's\n  gradient by p (p^A), so tokens at small p barely learn, and "
            "OnlyTopLogP-0.2 would\n  keep only %.1f%% of tokens.\n", keep02);
        break;
    }
}

void probe_advice(const ProbeSummary *s, StrBuf *out)
{
    ProbeRegion r = probe_region(s->mean_p);
    strbuf_printf(out,
        "Placement: mean p = %.4f over %ld response tokens -> %s region\n"
        "  (regions: model-strong mean p >= %.1f, intermediate %.1f-%.1f, model-weak < %.1f).\n"
        "  Published anchors: ~0.8 math with math-tuned models (-p, -p^10, OnlyTopLogP-0.2 beat "
        "NLL\n  by large margins), ~0.5 medical (neither wins reliably), ~0.01 figlet decoding "
        "(NLL\n  wins, -p learns nothing). Nearest anchor: %s.\n",
        s->mean_p, s->tokens, probe_region_name(r), PROBE_STRONG_FROM, PROBE_WEAK_BELOW,
        PROBE_STRONG_FROM, PROBE_WEAK_BELOW, nearest_anchor(s->mean_p));
    advice_objectives(s, r, out);

    strbuf_puts(out, "\nThresholds: share of tokens OnlyTopLogP-q (nll@top:q) keeps here\n\n"
                     "| q |");
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) strbuf_printf(out, " %g |", PROBE_THRESHOLDS[k]);
    strbuf_puts(out, "\n| --- |");
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) strbuf_puts(out, " --- |");
    strbuf_puts(out, "\n| kept |");
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++)
        strbuf_printf(out, " %.1f%% |", 100.0 * s->frac_at_least[k]);
    strbuf_puts(out, "\n\nTo keep the top K% of tokens, use q = the p at the (100-K)th "
                     "percentile:\n\n| keep top K% |");
    for (int k = PROBE_N_QUANTILES - 1; k >= 0; k--)
        strbuf_printf(out, " %.0f |", 100.0 * (1.0 - PROBE_QUANTILE_LEVELS[k]));
    strbuf_puts(out, "\n| --- |");
    for (int k = 0; k < PROBE_N_QUANTILES; k++) strbuf_puts(out, " --- |");
    strbuf_puts(out, "\n| q |");
    for (int k = PROBE_N_QUANTILES - 1; k >= 0; k--) strbuf_printf(out, " %.4g |", s->quantile[k]);
    strbuf_puts(out, "\n");
}

void probe_markdown(const ProbeSummary *s, StrBuf *out)
{
    strbuf_printf(out,
        "| statistic | value |\n| --- | --- |\n"
        "| response tokens | %ld |\n| mean p | %.4f |\n| mean log p | %.4f |\n"
        "| perplexity | %.4g |\n| median p | %.4g |\n",
        s->tokens, s->mean_p, s->mean_log_p, s->perplexity, s->median);
    if (!isnan(s->mean_entropy))
        strbuf_printf(out, "| mean entropy (nats) | %.4f |\n", s->mean_entropy);
    for (int k = 0; k < PROBE_N_QUANTILES; k++)
        strbuf_printf(out, "| p at %g%% | %.4g |\n", 100.0 * PROBE_QUANTILE_LEVELS[k],
                      s->quantile[k]);
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++)
        strbuf_printf(out, "| fraction p >= %g | %.4f |\n", PROBE_THRESHOLDS[k],
                      s->frac_at_least[k]);
    strbuf_printf(out, "| region | %s |\n", probe_region_name(probe_region(s->mean_p)));
}
