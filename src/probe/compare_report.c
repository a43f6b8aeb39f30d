/* Files and the table `priorft compare` writes (see compare.h). */
#include "probe/compare.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

static json_t *number(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *summary_json(const CompareConfig *c, const CompareResult *r)
{
    const CompareSummary *s = &r->summary;
    json_t *doc = json_object();
    json_object_set_new(doc, "model_a", json_string(c->model_a));
    json_object_set_new(doc, "model_b", json_string(c->model_b));
    json_object_set_new(doc, "data", json_string(c->data_path));
    json_object_set_new(doc, "tokens", json_integer(s->tokens));
    json_object_set_new(doc, "examples", json_integer(s->examples));
    json_object_set_new(doc, "units", json_string("nats"));
    json_t *tok = json_object(), *ex = json_object();
    json_object_set_new(tok, "kl_a_b", number(s->kl_ab));
    json_object_set_new(tok, "kl_b_a", number(s->kl_ba));
    json_object_set_new(tok, "js", number(s->js));
    json_object_set_new(ex, "kl_a_b", number(s->kl_ab_example));
    json_object_set_new(ex, "kl_b_a", number(s->kl_ba_example));
    json_object_set_new(ex, "js", number(s->js_example));
    json_object_set_new(doc, "mean_per_token", tok);
    json_object_set_new(doc, "mean_per_example", ex);
    json_object_set_new(doc, "probe_a", probe_summary_json(&s->a));
    json_object_set_new(doc, "probe_b", probe_summary_json(&s->b));
    return doc;
}

static int write_examples(const char *path, const CompareExample *ex, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f) return pf_fail("%s: cannot write: %s", path, strerror(errno));
    for (size_t i = 0; i < n; i++) {
        const CompareExample *x = &ex[i];
        fprintf(f, "{\"example\": %zu, \"line\": %ld, \"tokens\": %ld", i, x->line, x->tokens);
        if (x->tokens > 0)
            fprintf(f, ", \"kl_a_b\": %.7g, \"kl_b_a\": %.7g, \"js\": %.7g, \"mean_p_a\": %.7g, "
                       "\"mean_p_b\": %.7g}\n", x->kl_ab, x->kl_ba, x->js, x->mean_p_a,
                    x->mean_p_b);
        else
            fputs(", \"kl_a_b\": null, \"kl_b_a\": null, \"js\": null, \"mean_p_a\": null, "
                  "\"mean_p_b\": null}\n", f);
    }
    return fclose(f) == 0 ? 0 : pf_fail("%s: cannot write: %s", path, strerror(errno));
}

int compare_write_files(const CompareConfig *c, const CompareResult *r)
{
    if (probe_mkdirs(c->out_dir) != 0) return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/compare.json", c->out_dir);
    json_t *doc = summary_json(c, r);
    int rc = json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    json_decref(doc);
    if (rc != 0) return pf_fail("%s: cannot write", path);
    snprintf(path, sizeof path, "%s/examples.jsonl", c->out_dir);
    return write_examples(path, r->examples, r->n_examples);
}

void compare_markdown(const CompareSummary *s, const char *name_a, const char *name_b,
                      StrBuf *out)
{
    strbuf_printf(out,
        "A = %s\nB = %s\n\n"
        "| statistic (nats) | mean per token | mean per example |\n| --- | --- | --- |\n"
        "| KL(A\\|\\|B) forward | %.6g | %.6g |\n| KL(B\\|\\|A) reverse | %.6g | %.6g |\n"
        "| JS(A, B) | %.6g | %.6g |\n\n",
        name_a, name_b, s->kl_ab, s->kl_ab_example, s->kl_ba, s->kl_ba_example, s->js,
        s->js_example);
    strbuf_printf(out,
        "| statistic | A | B |\n| --- | --- | --- |\n"
        "| response tokens | %ld | %ld |\n| mean p | %.4f | %.4f |\n"
        "| mean log p | %.4f | %.4f |\n| perplexity | %.4g | %.4g |\n| median p | %.4g | %.4g |\n"
        "| region | %s | %s |\n",
        s->a.tokens, s->b.tokens, s->a.mean_p, s->b.mean_p, s->a.mean_log_p, s->b.mean_log_p,
        s->a.perplexity, s->b.perplexity, s->a.median, s->b.median,
        probe_region_name(probe_region(s->a.mean_p)),
        probe_region_name(probe_region(s->b.mean_p)));
    for (int k = 0; k < PROBE_N_THRESHOLDS; k++)
        strbuf_printf(out, "| fraction p >= %g | %.4f | %.4f |\n", PROBE_THRESHOLDS[k],
                      s->a.frac_at_least[k], s->b.frac_at_least[k]);
}
