/* Files a probe writes (see probe.h): probe.json with everything, examples.jsonl with one line
 * per example so outliers can be found, histogram.csv for plots. */
#include "probe/probe.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

int probe_mkdirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return pf_fail("%s: path too long", dir);
    for (char *s = path + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return pf_fail("%s: cannot create folder: %s", path, strerror(errno));
        *s = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return pf_fail("%s: cannot create folder: %s", path, strerror(errno));
    return 0;
}

/* A JSON number, or null for NaN/inf (which JSON cannot hold). */
static json_t *number(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *probe_summary_json(const ProbeSummary *s)
{
    json_t *q = json_object(), *f = json_object(), *h = json_array();
    char key[32];
    for (int k = 0; k < PROBE_N_QUANTILES; k++) {
        snprintf(key, sizeof key, "%g", PROBE_QUANTILE_LEVELS[k]);
        json_object_set_new(q, key, number(s->quantile[k]));
    }
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++) {
        snprintf(key, sizeof key, "%g", PROBE_THRESHOLDS[k]);
        json_object_set_new(f, key, number(s->frac_at_least[k]));
    }
    for (int k = 0; k < PROBE_HIST_BINS; k++)
        json_array_append_new(h, json_integer(s->histogram[k]));
    json_t *o = json_object();
    json_object_set_new(o, "tokens", json_integer(s->tokens));
    json_object_set_new(o, "mean_p", number(s->mean_p));
    json_object_set_new(o, "mean_log_p", number(s->mean_log_p));
    json_object_set_new(o, "perplexity", number(s->perplexity));
    json_object_set_new(o, "mean_entropy", number(s->mean_entropy));
    json_object_set_new(o, "median_p", number(s->median));
    json_object_set_new(o, "p_quantiles", q);
    json_object_set_new(o, "fraction_p_at_least", f);
    json_object_set_new(o, "histogram_bins", json_integer(PROBE_HIST_BINS));
    json_object_set_new(o, "histogram", h);
    json_object_set_new(o, "region", json_string(probe_region_name(probe_region(s->mean_p))));
    return o;
}

static int write_json(const char *path, json_t *doc)
{
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    return rc == 0 ? 0 : pf_fail("%s: cannot write", path);
}

static int write_examples(const char *path, const ProbeExample *ex, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) return pf_fail("%s: cannot write: %s", path, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "{\"example\": %zu, \"line\": %ld, \"tokens\": %ld", i, ex[i].line,
                ex[i].tokens);
        if (ex[i].tokens > 0)
            fprintf(f, ", \"mean_p\": %.7g, \"mean_log_p\": %.7g}\n", ex[i].mean_p,
                    ex[i].mean_log_p);
        else
            fputs(", \"mean_p\": null, \"mean_log_p\": null}\n", f);
    }
    return fclose(f) == 0 ? 0 : pf_fail("%s: cannot write: %s", path, strerror(errno));
}

static int write_histogram(const char *path, const ProbeSummary *s)
{
    FILE *f = fopen(path, "w");
    if (!f) return pf_fail("%s: cannot write: %s", path, strerror(errno));
    fputs("bin_lo,bin_hi,count,fraction\n", f);
    for (int k = 0; k < PROBE_HIST_BINS; k++)
        fprintf(f, "%.4f,%.4f,%ld,%.7g\n", (double)k / PROBE_HIST_BINS,
                (double)(k + 1) / PROBE_HIST_BINS, s->histogram[k],
                s->tokens ? (double)s->histogram[k] / (double)s->tokens : 0.0);
    return fclose(f) == 0 ? 0 : pf_fail("%s: cannot write: %s", path, strerror(errno));
}

int probe_write_files(const char *dir, const char *model_path, const char *data_path,
                      const ProbeSummary *s, const ProbeExample *ex, size_t n_examples)
{
    if (probe_mkdirs(dir) != 0) return -1;
    char path[4200];
    json_t *doc = probe_summary_json(s);
    json_object_set_new(doc, "model", json_string(model_path ? model_path : ""));
    json_object_set_new(doc, "data", json_string(data_path ? data_path : ""));
    json_object_set_new(doc, "examples", json_integer((json_int_t)n_examples));
    StrBuf advice = {0};
    probe_advice(s, &advice);
    json_object_set_new(doc, "advice", json_string(advice.data ? advice.data : ""));
    strbuf_free(&advice);
    snprintf(path, sizeof path, "%s/probe.json", dir);
    int rc = write_json(path, doc);
    json_decref(doc);
    if (rc != 0) return -1;

    snprintf(path, sizeof path, "%s/examples.jsonl", dir);
    if (write_examples(path, ex, n_examples) != 0) return -1;
    snprintf(path, sizeof path, "%s/histogram.csv", dir);
    return write_histogram(path, s);
}
