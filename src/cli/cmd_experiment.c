/* `priorft experiment CONFIG`: runs a sweep of objectives x tasks (probe, train, eval) as
 * resumable stages and prints the results table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "experiment/experiment.h"
#include "util/error.h"

static void experiment_usage(FILE *f)
{
    fprintf(f,
            "usage: priorft experiment CONFIG.json [--out DIR] [--keep-going] [--plan]\n"
            "                                      [--report]\n\n"
            "For every task of CONFIG: probe the base model on the training data and evaluate\n"
            "it on the benchmark; for every objective: train, then evaluate the trained model.\n"
            "Each stage runs as its own priorft process in DIR/<task>/... with its log in\n"
            "log.txt; DIR/experiment.log records every start, finish and skip. Finished stages\n"
            "are never redone: run the same command again to continue an interrupted\n"
            "experiment (a half-finished training run resumes from its checkpoint). Writes\n"
            "DIR/results.md, DIR/results.csv and DIR/plots/*.png (gnuplot). The config format\n"
            "is in docs/experiment.md.\n\n"
            "  --out DIR      output folder (default: the config's \"out\")\n"
            "  --keep-going   after a failed stage, run the stages that do not need it\n"
            "  --plan         print the stages, their state and commands; run nothing\n"
            "  --report       only rewrite the table and plots from what has finished\n");
}

static void print_progress(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "experiment: %s\n", line);
}

static int print_plan(const ExperimentConfig *cfg)
{
    ExpPlan plan;
    experiment_plan(cfg, &plan);
    for (size_t i = 0; i < plan.n_stages; i++) {
        const ExpStage *s = &plan.stages[i];
        char **argv = NULL;
        printf("%-9s %s\n", experiment_stage_done(s) ? "finished" : "to run", s->label);
        if (experiment_stage_argv(cfg, s, false, &argv) == 0) {
            printf("         ");
            for (char **p = argv; *p; p++) /* quoted when a shell would need it */
                printf(strcspn(*p, " \t'\"$\\") == strlen(*p) && **p ? " %s" : " '%s'", *p);
            printf("\n");
        } else {
            printf("          (%s)\n", pf_error());
        }
        experiment_argv_free(argv);
    }
    experiment_plan_free(&plan);
    return 0;
}

/* Appends OUT/results.md to md (nothing when it is missing). */
static void read_results(const ExperimentConfig *cfg, StrBuf *md)
{
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/results.md", cfg->out_dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(md, buf, n);
    fclose(f);
}

int cmd_experiment(int argc, char **argv)
{
    const char *config = NULL, *out = NULL;
    bool keep_going = false, plan_only = false, report_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            experiment_usage(stdout);
            return 0;
        } else if (strcmp(a, "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(a, "--keep-going") == 0) {
            keep_going = true;
        } else if (strcmp(a, "--plan") == 0) {
            plan_only = true;
        } else if (strcmp(a, "--report") == 0) {
            report_only = true;
        } else if (a[0] != '-' && !config) {
            config = a;
        } else {
            experiment_usage(stderr);
            cli_error("experiment: unknown or incomplete argument '%s'", a);
            return 2;
        }
    }
    if (!config) {
        experiment_usage(stderr);
        cli_error("experiment: a CONFIG file is required");
        return 2;
    }

    ExperimentConfig cfg;
    if (experiment_config_load(config, &cfg) != 0) {
        experiment_config_free(&cfg);
        return cli_error("%s", pf_error());
    }
    if (out) {
        free(cfg.out_dir);
        cfg.out_dir = strdup(out);
    }
    if (plan_only) {
        int rc = print_plan(&cfg);
        experiment_config_free(&cfg);
        return rc;
    }

    int rc = 0;
    StrBuf md = {0};
    if (report_only) {
        rc = experiment_report(&cfg, &md);
    } else {
        ExpRunOptions opt = {"/proc/self/exe", keep_going, print_progress, NULL};
        ExpRunSummary sum;
        rc = experiment_run(&cfg, &opt, &sum);
        fprintf(stderr, "experiment: %zu stages run, %zu finished earlier, %zu failed, %zu not "
                        "run\n", sum.ran, sum.skipped, sum.failed, sum.not_run);
        if (rc != 0) cli_error("%s", pf_error());
        read_results(&cfg, &md); /* experiment_run wrote it */
    }
    if (report_only && rc != 0) cli_error("%s", pf_error());
    if (md.data) fputs(md.data, stdout);
    fprintf(stderr, "experiment: results in %s/results.md, results.csv, plots/\n", cfg.out_dir);
    strbuf_free(&md);
    experiment_config_free(&cfg);
    return rc == 0 ? 0 : 1;
}
