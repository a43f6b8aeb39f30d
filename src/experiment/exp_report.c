/* The experiment's results: one row per (task, objective) gathered from the stages' own files
 * (probe.json, eval results.json, training metrics.jsonl and stage.json), written as Markdown
 * and CSV, and gnuplot plots of training curves, accuracy and probe histograms. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "experiment/experiment.h"
#include "util/error.h"
#include "util/fileio.h"

extern char **environ;

typedef struct Row {
    double probe_mean_p, base_acc, trained_acc; /* NAN when missing */
    long steps;                                 /* -1 when missing */
    double first_nll, final_nll, final_mean_p, train_seconds;
} Row;

static char *stage_path(const ExperimentConfig *cfg, const char *task, const char *sub,
                        const char *file)
{
    size_t n = strlen(cfg->out_dir) + strlen(task) + strlen(sub) + strlen(file) + 4;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s/%s/%s", cfg->out_dir, task, sub, file);
    return p;
}

/* probe.json's mean p: at the top level or in its "summary" object. */
static double read_probe_mean_p(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    double v = NAN;
    json_t *x = json_object_get(doc, "mean_p");
    if (!x) x = json_object_get(json_object_get(doc, "summary"), "mean_p");
    if (json_is_number(x)) v = json_number_value(x);
    json_decref(doc);
    return v;
}

/* Accuracy of an eval's results.json: the mean over its benchmarks, weighted by prompts. */
static double read_accuracy(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    json_t *list = json_object_get(doc, "benchmarks");
    double sum = 0, n = 0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *b = json_array_get(list, i);
        json_t *acc = json_object_get(b, "accuracy");
        json_t *cnt = json_object_get(b, "n");
        double w = json_is_integer(cnt) ? (double)json_integer_value(cnt) : 1.0;
        if (!json_is_number(acc) || w <= 0) continue;
        sum += w * json_number_value(acc);
        n += w;
    }
    json_decref(doc);
    return n > 0 ? sum / n : NAN;
}

static double number_or_nan(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Training steps (lines without "split") of metrics.jsonl: first and last NLL, last mean p;
 * with `curve` also writes "step nll mean_p objective" lines for gnuplot. */
static void read_metrics(const char *path, Row *row, FILE *curve)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!json_is_object(o) || json_object_get(o, "split")) {
            json_decref(o);
            continue;
        }
        json_t *step = json_object_get(o, "step");
        /* NLL over every response token (the "nll" field covers only the kept ones, which a
         * thresholded objective changes), so rows of different objectives compare. */
        double nll = number_or_nan(o, "nll_response");
        if (isnan(nll)) nll = number_or_nan(o, "nll");
        if (json_is_integer(step)) {
            if (row->steps < 0) row->first_nll = nll;
            row->steps = (long)json_integer_value(step);
            row->final_nll = nll;
            row->final_mean_p = number_or_nan(o, "mean_p");
            if (curve)
                fprintf(curve, "%ld %.7g %.7g %.7g\n", row->steps, nll, row->final_mean_p,
                        number_or_nan(o, "objective"));
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
}

static double read_stage_seconds(const char *path)
{
    json_t *doc = json_load_file(path, 0, NULL);
    double v = number_or_nan(doc, "seconds");
    json_decref(doc);
    return v;
}

static void fmt(char *buf, size_t n, double v, const char *format, const char *missing)
{
    if (isnan(v)) snprintf(buf, n, "%s", missing);
    else snprintf(buf, n, format, v);
}

static int write_whole(const char *path, const StrBuf *text)
{
    AtomicFile f;
    if (atomic_open(&f, path)) return -1;
    if (text->len && atomic_write(&f, text->data, text->len)) {
        atomic_abort(&f);
        return -1;
    }
    return atomic_commit(&f);
}

/* ---- plots ---- */

/* Copies a probe histogram.csv (columns bin_lo, bin_hi, ..., fraction) as "center fraction
 * width" lines; false when there is none. */
static bool copy_histogram(const char *csv, const char *dat)
{
    FILE *in = fopen(csv, "r");
    if (!in) return false;
    FILE *out = fopen(dat, "w");
    if (!out) {
        fclose(in);
        return false;
    }
    char line[512];
    int col_frac = 3, n = 0;
    if (fgets(line, sizeof line, in)) { /* header: find "fraction" */
        char *save = NULL;
        int i = 0;
        for (char *tok = strtok_r(line, ",\r\n", &save); tok;
             tok = strtok_r(NULL, ",\r\n", &save), i++)
            if (strcmp(tok, "fraction") == 0) col_frac = i;
    }
    while (fgets(line, sizeof line, in)) {
        double v[8] = {0};
        int i = 0;
        char *save = NULL;
        for (char *tok = strtok_r(line, ",\r\n", &save); tok && i < 8;
             tok = strtok_r(NULL, ",\r\n", &save))
            v[i++] = strtod(tok, NULL);
        if (i <= col_frac) continue;
        fprintf(out, "%.6g %.6g %.6g\n", (v[0] + v[1]) / 2, v[col_frac], v[1] - v[0]);
        n++;
    }
    fclose(in);
    fclose(out);
    return n > 0;
}

/* Runs gnuplot on plots.gp inside dir, its output into gnuplot.log. */
static void run_gnuplot(const char *dir)
{
    char log_path[4096];
    snprintf(log_path, sizeof log_path, "%s/gnuplot.log", dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addchdir_np(&fa, dir);
    posix_spawn_file_actions_addopen(&fa, 1, "gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {"gnuplot", "plots.gp", NULL};
    pid_t pid;
    int err = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        FILE *f = fopen(log_path, "w");
        if (f) {
            fprintf(f, "gnuplot could not be started (%s): install gnuplot-nox\n", strerror(err));
            fclose(f);
        }
        return;
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
}

/* Writes plots/: curve_<task>_<objective>.dat, accuracy.dat, hist_<task>.dat, plots.gp. */
static int write_plots(const ExperimentConfig *cfg, const Row *rows)
{
    size_t n = strlen(cfg->out_dir) + 8;
    char *dir = xmalloc(n);
    snprintf(dir, n, "%s/plots", cfg->out_dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        int rc = pf_fail("%s: cannot create: %s", dir, strerror(errno));
        free(dir);
        return rc;
    }
    StrBuf gp = {0}, acc = {0};
    strbuf_puts(&gp, "# Written by priorft experiment; run with: gnuplot plots.gp\n"
                     "set terminal pngcairo size 1000,640 noenhanced\n"
                     "set datafile missing '?'\nset key outside right\nset grid\n");
    strbuf_puts(&acc, "task base");
    for (size_t o = 0; o < cfg->n_objectives; o++) strbuf_printf(&acc, " %s", cfg->objectives[o]);
    strbuf_puts(&acc, "\n");
    bool any_acc = false;
    char path[4096], obj[256];
    for (size_t t = 0; t < cfg->n_tasks; t++) {
        const char *task = cfg->tasks[t].name;
        const Row *r0 = &rows[t * cfg->n_objectives];
        strbuf_printf(&gp, "\nset output 'curves_%s.png'\nset multiplot layout 1,2 title "
                           "'%s: training curves'\nset xlabel 'step'\nset ylabel 'train NLL'\n"
                           "plot ", task, task);
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            experiment_objective_dirname(cfg->objectives[o], obj, sizeof obj);
            snprintf(path, sizeof path, "%s/curve_%s_%s.dat", dir, task, obj);
            FILE *f = fopen(path, "w");
            char *metrics = stage_path(cfg, task, obj, "train/metrics.jsonl");
            Row scratch = {.steps = -1};
            if (f) {
                fprintf(f, "# step nll mean_p objective\n");
                read_metrics(metrics, &scratch, f);
                fclose(f);
            }
            free(metrics);
            strbuf_printf(&gp, "%s'curve_%s_%s.dat' using 1:2 with linespoints title '%s'",
                          o ? ", " : "", task, obj, cfg->objectives[o]);
        }
        strbuf_puts(&gp, "\nset ylabel 'mean p of response tokens'\nplot ");
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            experiment_objective_dirname(cfg->objectives[o], obj, sizeof obj);
            strbuf_printf(&gp, "%s'curve_%s_%s.dat' using 1:3 with linespoints title '%s'",
                          o ? ", " : "", task, obj, cfg->objectives[o]);
        }
        strbuf_puts(&gp, "\nunset multiplot\n");

        char v[32];
        fmt(v, sizeof v, r0->base_acc, "%.4f", "?");
        strbuf_printf(&acc, "%s %s", task, v);
        any_acc |= !isnan(r0->base_acc);
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            fmt(v, sizeof v, rows[t * cfg->n_objectives + o].trained_acc, "%.4f", "?");
            any_acc |= !isnan(rows[t * cfg->n_objectives + o].trained_acc);
            strbuf_printf(&acc, " %s", v);
        }
        strbuf_puts(&acc, "\n");

        char *csv = stage_path(cfg, task, "probe", "histogram.csv");
        snprintf(path, sizeof path, "%s/hist_%s.dat", dir, task);
        if (copy_histogram(csv, path)) {
            char mp[32];
            fmt(mp, sizeof mp, r0->probe_mean_p, "%.3f", "?");
            strbuf_printf(&gp, "\nset output 'probe_%s.png'\nset title '%s: base model p of "
                               "training-response tokens (mean p %s)'\nset xlabel 'p'\n"
                               "set ylabel 'fraction of tokens'\nset xrange [0:1]\n"
                               "set style fill solid 0.6\nplot 'hist_%s.dat' using 1:2:3 "
                               "with boxes notitle\nunset xrange\nunset title\n",
                          task, task, mp, task);
        }
        free(csv);
    }
    if (any_acc) {
        strbuf_puts(&gp, "\nset output 'accuracy.png'\nset title 'accuracy before (base) and "
                         "after training, per objective'\nset xlabel 'task'\n"
                         "set ylabel 'accuracy'\nset yrange [0:1]\nset style data histogram\n"
                         "set style histogram cluster gap 1\nset style fill solid 0.7\n");
        strbuf_printf(&gp, "plot for [i=2:%zu] 'accuracy.dat' using i:xtic(1) title columnhead\n",
                      cfg->n_objectives + 2);
    }
    snprintf(path, sizeof path, "%s/accuracy.dat", dir);
    int rc = write_whole(path, &acc);
    snprintf(path, sizeof path, "%s/plots.gp", dir);
    if (rc == 0) rc = write_whole(path, &gp);
    if (rc == 0) run_gnuplot(dir);
    strbuf_free(&gp);
    strbuf_free(&acc);
    free(dir);
    return rc;
}

/* ---- the table ---- */

static void fill_rows(const ExperimentConfig *cfg, Row *rows)
{
    char obj[256];
    for (size_t t = 0; t < cfg->n_tasks; t++) {
        const char *task = cfg->tasks[t].name;
        char *p = stage_path(cfg, task, "probe", "probe.json");
        double mean_p = read_probe_mean_p(p);
        free(p);
        p = stage_path(cfg, task, "base", "eval/results.json");
        double base = read_accuracy(p);
        free(p);
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            Row *r = &rows[t * cfg->n_objectives + o];
            *r = (Row){mean_p, base, NAN, -1, NAN, NAN, NAN, NAN};
            experiment_objective_dirname(cfg->objectives[o], obj, sizeof obj);
            p = stage_path(cfg, task, obj, "eval/results.json");
            r->trained_acc = read_accuracy(p);
            free(p);
            p = stage_path(cfg, task, obj, "train/metrics.jsonl");
            read_metrics(p, r, NULL);
            free(p);
            p = stage_path(cfg, task, obj, "train/stage.json");
            r->train_seconds = read_stage_seconds(p);
            free(p);
        }
    }
}

int experiment_report(const ExperimentConfig *cfg, StrBuf *md_out)
{
    size_t n_rows = cfg->n_tasks * cfg->n_objectives;
    Row *rows = xcalloc(n_rows ? n_rows : 1, sizeof *rows);
    fill_rows(cfg, rows);

    StrBuf md = {0}, csv = {0};
    strbuf_printf(&md, "# %s\n\nmodel: `%s`\n\n", cfg->name, cfg->model);
    strbuf_puts(&md, "| task | type | objective | probe mean p | base acc | trained acc | "
                     "change | steps | first NLL | final NLL | final mean p | train s |\n"
                     "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
                     "---: | ---: |\n");
    strbuf_puts(&csv, "task,type,objective,probe_mean_p,base_accuracy,trained_accuracy,"
                      "accuracy_change,steps,first_train_nll,final_train_nll,final_mean_p,"
                      "train_seconds\n");
    for (size_t t = 0; t < cfg->n_tasks; t++) {
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            const Row *r = &rows[t * cfg->n_objectives + o];
            double vals[8] = {r->probe_mean_p, r->base_acc, r->trained_acc,
                              r->trained_acc - r->base_acc, r->steps < 0 ? NAN : (double)r->steps,
                              r->first_nll, r->final_nll, r->final_mean_p};
            static const char *const forms[8] = {"%.4f", "%.3f", "%.3f", "%+.3f",
                                                 "%.0f", "%.4f", "%.4f", "%.4f"};
            strbuf_printf(&md, "| %s | %s | %s |", cfg->tasks[t].name, cfg->tasks[t].type,
                          cfg->objectives[o]);
            strbuf_printf(&csv, "%s,%s,%s", cfg->tasks[t].name, cfg->tasks[t].type,
                          cfg->objectives[o]);
            char v[32];
            for (int k = 0; k < 8; k++) {
                fmt(v, sizeof v, vals[k], forms[k], "-");
                strbuf_printf(&md, " %s |", v);
                fmt(v, sizeof v, vals[k], forms[k][1] == '+' ? "%.4f" : forms[k], "");
                strbuf_printf(&csv, ",%s", v);
            }
            fmt(v, sizeof v, r->train_seconds, "%.0f", "-");
            strbuf_printf(&md, " %s |\n", v);
            fmt(v, sizeof v, r->train_seconds, "%.1f", "");
            strbuf_printf(&csv, ",%s\n", v);
        }
    }
    strbuf_puts(&md, "\nProbe mean p: the base model's mean probability of the training "
                     "responses' tokens (high: model-strong task, low: model-weak). Accuracy: "
                     "`priorft eval` on the task's benchmark. NLL: per response token (all of "
                     "them, also for thresholded objectives), first and last training step. "
                     "Plots: plots/*.png.\n");

    char path[4096];
    snprintf(path, sizeof path, "%s/results.md", cfg->out_dir);
    int rc = write_whole(path, &md);
    snprintf(path, sizeof path, "%s/results.csv", cfg->out_dir);
    if (rc == 0) rc = write_whole(path, &csv);
    if (rc == 0) rc = write_plots(cfg, rows);
    if (rc == 0 && md_out) strbuf_append(md_out, md.data, md.len);
    strbuf_free(&md);
    strbuf_free(&csv);
    free(rows);
    return rc;
}
