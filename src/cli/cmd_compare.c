/* priorft compare: forward KL, reverse KL and JS divergence between two models' next-token
 * distributions on the response tokens of a data set, and each model's mean p there. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "probe/compare.h"
#include "util/error.h"
#include "util/plot.h"

static void compare_usage(FILE *f)
{
    fprintf(f,
"usage: priorft compare --model-a PATH --model-b PATH --data FILE [--out DIR] [options]\n"
"\n"
"Runs both models teacher-forced over the response tokens of DATA (tokenized with model A's\n"
"tokenizer and template; the models must share vocabulary and tokenizer) and reports\n"
"KL(A||B), KL(B||A) and JS(A, B) in nats, averaged per token and per example, and each\n"
"model's mean p and quantiles on the same tokens. With --out, writes DIR/compare.json,\n"
"DIR/examples.jsonl and DIR/histogram.png (both models' p histograms overlaid).\n"
"\n"
"  --tokenizer-b PATH      model B's tokenizer (default: found from --model-b)\n"
"  --limit K               only the first K rows of DATA\n"
"  --batch B               examples per forward pass (default 8)\n"
"  --no-plot               do not draw DIR/histogram.png\n"
"data options (model A):\n"
"%s", DATA_OPTIONS_HELP);
}

enum {
    OPT_MODEL_A = 256, OPT_MODEL_B, OPT_TOKENIZER_B, OPT_DATA, OPT_OUT, OPT_LIMIT, OPT_BATCH,
    OPT_NO_PLOT, OPT_HELP,
};

static const struct option compare_options[] = {
    {"model-a", required_argument, 0, OPT_MODEL_A},
    {"model-b", required_argument, 0, OPT_MODEL_B},
    {"tokenizer-b", required_argument, 0, OPT_TOKENIZER_B},
    {"data", required_argument, 0, OPT_DATA},
    {"out", required_argument, 0, OPT_OUT},
    {"limit", required_argument, 0, OPT_LIMIT},
    {"batch", required_argument, 0, OPT_BATCH},
    {"no-plot", no_argument, 0, OPT_NO_PLOT},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

/* Applies one option; 0, 1 for --help, -1 after printing an error. */
static int compare_option(CompareConfig *c, bool *plot, int opt, const char *arg)
{
    long v = 0;
    int shared = data_option_apply(opt, arg, &c->bundle, &c->sft);
    if (shared != 1) return shared;
    switch (opt) {
    case OPT_MODEL_A: c->model_a = arg; return 0;
    case OPT_MODEL_B: c->model_b = arg; return 0;
    case OPT_TOKENIZER_B: c->tokenizer_b = arg; return 0;
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

/* DIR/histogram.png with both models' p histograms; a missing gnuplot is a warning. */
static void draw_histograms(const CompareConfig *c, const CompareSummary *s)
{
    double fa[PROBE_HIST_BINS], fb[PROBE_HIST_BINS];
    for (int k = 0; k < PROBE_HIST_BINS; k++) {
        fa[k] = (double)s->a.histogram[k] / (double)s->a.tokens;
        fb[k] = (double)s->b.histogram[k] / (double)s->b.tokens;
    }
    char png[4200], title[256], la[512], lb[512];
    snprintf(png, sizeof png, "%s/histogram.png", c->out_dir);
    snprintf(title, sizeof title, "p(target) on %ld response tokens: JS %.4g nats",
             s->tokens, s->js);
    snprintf(la, sizeof la, "A: %s (mean p %.3f)", c->model_a, s->a.mean_p);
    snprintf(lb, sizeof lb, "B: %s (mean p %.3f)", c->model_b, s->b.mean_p);
    PlotSeries series[2] = {{la, fa}, {lb, fb}};
    cli_plot_p_histograms("compare", png, title, series, 2);
}

int cmd_compare(int argc, char **argv)
{
    CompareConfig c;
    compare_config_default(&c);
    bool plot = true;
    struct option *table = data_options_table(compare_options);
    optind = 1;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "", table, NULL)) != -1)
        rc = opt == '?' ? -1 : compare_option(&c, &plot, opt, optarg);
    free(table);
    if (rc == 1) {
        compare_usage(stdout);
        return 0;
    }
    if (rc != 0) return 2;
    if (optind < argc) return cli_error("compare: unexpected argument '%s'", argv[optind]);
    if (!c.model_a || !c.model_b || !c.data_path) {
        compare_usage(stderr);
        return cli_error("compare: --model-a, --model-b and --data are required");
    }

    CompareResult r;
    if (compare_run(&c, &r) != 0) return cli_error("%s", pf_error());
    StrBuf text = {0};
    sft_stats_summary(&r.data_stats, &text);
    fprintf(stderr, "priorft compare: %s: %s", c.data_path, text.data ? text.data : "\n");
    strbuf_free(&text);

    printf("## compare on %s (%ld examples, %.1f s)\n\n", c.data_path, r.summary.examples,
           r.seconds);
    compare_markdown(&r.summary, c.model_a, c.model_b, &text);
    printf("%s", text.data);
    strbuf_free(&text);
    fflush(stdout);
    if (c.out_dir) {
        if (plot) draw_histograms(&c, &r.summary);
        fprintf(stderr, "priorft compare: wrote %s/compare.json, examples.jsonl\n", c.out_dir);
    }
    compare_result_free(&r);
    return 0;
}
