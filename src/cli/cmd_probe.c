/* priorft probe: where a model sits on the capability continuum for a data set (mean p of the
 * training-response tokens and its distribution), and which objectives to use there. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "probe/probe.h"
#include "util/error.h"
#include "util/plot.h"

static void probe_usage(FILE *f)
{
    fprintf(f,
"usage: priorft probe --model PATH --data FILE [--out DIR] [options]\n"
"\n"
"Teacher-forces MODEL over the response tokens of DATA (exactly the examples and loss mask\n"
"`priorft train` would use) and reports the probability p the model gives each target token:\n"
"count, mean p, mean log p, perplexity, quantiles of p, fractions with p >= q, a histogram,\n"
"the region of the capability continuum and the objectives to use there. With --out, writes\n"
"DIR/probe.json, DIR/examples.jsonl (per example), DIR/histogram.csv and DIR/histogram.png.\n"
"\n"
"  --limit K               probe only the first K rows of DATA\n"
"  --batch B               examples per forward pass (default 8)\n"
"  --no-plot               do not draw DIR/histogram.png\n"
"data options:\n"
"%s", DATA_OPTIONS_HELP);
}

enum {
    OPT_MODEL = 256, OPT_DATA, OPT_OUT, OPT_LIMIT, OPT_BATCH, OPT_NO_PLOT, OPT_HELP,
};

static const struct option probe_options[] = {
    {"model", required_argument, 0, OPT_MODEL},
    {"data", required_argument, 0, OPT_DATA},
    {"out", required_argument, 0, OPT_OUT},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"batch", required_argument, 0, OPT_BATCH},
    {"no-plot", no_argument, 0, OPT_NO_PLOT},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

/* Applies one option; 0, 1 for --help, -1 after printing an error. */
static int probe_option(ProbeConfig *c, bool *plot, int opt, const char *arg)
{
    long v = 0;
    int shared = data_option_apply(opt, arg, &c->bundle, &c->sft);
    if (shared != 1) return shared;
    switch (opt) {
    case OPT_MODEL: c->model_path = arg; return 0;
    case OPT_DATA: c->data_path = arg; return 0;
    case OPT_OUT: c->out_dir = arg; return 0;
    case OPT_NO_PLOT: *plot = false; return 0;
    case OPT_HELP: return 1;
    case OPT_LIMIT:
        if (cli_parse_int("--limit", arg, 1, 1L << 40, &v)) return -1;
        c->sft.max_rows = v;
        return 0;
    case OPT_BATCH:
        if (cli_parse_int("--batch", arg, 1, 4096, &v)) return -1;
        c->batch = (int)v;
        return 0;
    }
    return -1;
}

/* Draws DIR/histogram.png; a missing gnuplot is a warning, not an error. */
static void draw_histogram(const char *dir, const ProbeSummary *s, const char *label)
{
    double frac[PROBE_HIST_BINS];
    for (int k = 0; k < PROBE_HIST_BINS; k++)
        frac[k] = (double)s->histogram[k] / (double)s->tokens;
    char png[4200], title[256];
    snprintf(png, sizeof png, "%s/histogram.png", dir);
    snprintf(title, sizeof title, "p(target) on response tokens: mean p %.3f, %ld tokens",
             s->mean_p, s->tokens);
    PlotSeries series = {label, frac};
    cli_plot_p_histograms("probe", png, title, &series, 1);
}

int cmd_probe(int argc, char **argv)
{
    ProbeConfig c;
    probe_config_default(&c);
    bool plot = true;
    struct option *table = data_options_table(probe_options);
    optind = 1;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "", table, NULL)) != -1)
        rc = opt == '?' ? -1 : probe_option(&c, &plot, opt, optarg);
    free(table);
    if (rc == 1) {
        probe_usage(stdout);
        return 0;
    }
    if (rc != 0) return 2;
    if (optind < argc) return cli_error("probe: unexpected argument '%s'", argv[optind]);
    if (!c.model_path || !c.data_path) {
        probe_usage(stderr);
        return cli_error("probe: --model and --data are required");
    }

    ProbeResult r;
    if (probe_run(&c, &r) != 0) return cli_error("%s", pf_error());
    StrBuf text = {0};
    sft_stats_summary(&r.data_stats, &text);
    fprintf(stderr, "priorft probe: %s: %s", c.data_path, text.data ? text.data : "\n");
    strbuf_free(&text);

    printf("## probe: %s on %s (%zu examples, %.1f s)\n\n", c.model_path, c.data_path,
           r.n_examples, r.seconds);
    probe_markdown(&r.summary, &text);
    printf("%s\n", text.data);
    strbuf_free(&text);
    probe_advice(&r.summary, &text);
    printf("%s", text.data);
    strbuf_free(&text);
    fflush(stdout);

    if (c.out_dir) {
        if (plot) draw_histogram(c.out_dir, &r.summary, c.model_path);
        fprintf(stderr, "priorft probe: wrote %s/probe.json, examples.jsonl, histogram.csv\n",
                c.out_dir);
    }
    probe_result_free(&r);
    return 0;
}
