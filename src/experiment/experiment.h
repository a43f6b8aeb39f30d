/* `priorft experiment`: a sweep of objectives x tasks read from a JSON config (docs/experiment.md).
 * For every task it probes the base model and evaluates it once, and for every objective it
 * trains and evaluates the trained model. Each stage runs as a subprocess of the priorft binary
 * in its own folder under the experiment's out dir and leaves OUT/.../stage.json when it has
 * finished, so a restarted experiment skips finished stages and resumes a half-finished
 * training run from its checkpoint. At the end it writes results.md, results.csv and gnuplot
 * plots. */
#ifndef PRIORFT_EXPERIMENT_EXPERIMENT_H
#define PRIORFT_EXPERIMENT_EXPERIMENT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef struct ExpTask {
    char *name;           /* [A-Za-z0-9._-]+, unique: the task's folder name */
    char *type;           /* math | choice | figlet: how eval scores */
    char *train;          /* training JSONL (resolved against the config's folder) */
    char *bench;          /* benchmark JSONL for eval; NULL: no eval of this task */
    char *prompt_key, *response_key, *messages_key; /* NULL: train's defaults */
    char *chat_template, *system, *prompt_suffix, *truncation; /* NULL: defaults */
    long max_length;      /* 0: train's default */
} ExpTask;

typedef struct ExpTrain {
    long epochs;          /* 0: train's default (1) */
    long max_steps;       /* 0: by epochs */
    long global_batch, micro_batch, save_every, seed, threads; /* 0: defaults */
    double lr, warmup_ratio; /* < 0: defaults */
    char *schedule;       /* NULL: default */
    bool packing;
} ExpTrain;

typedef struct ExpEval {
    long limit;           /* rows of the benchmark; 0: all */
    long max_new_tokens;  /* 0: eval's default */
    long samples;         /* 0: eval's default (1) */
    double temperature;   /* < 0: eval's default */
} ExpEval;

typedef struct ExperimentConfig {
    char *path;           /* the config file */
    char *name;
    char *model, *tokenizer; /* tokenizer may be NULL */
    char *out_dir;        /* resolved against the config's folder; default "<name>-out" */
    ExpTask *tasks;
    size_t n_tasks;
    char **objectives;    /* objective names as priorft train takes them */
    size_t n_objectives;
    ExpTrain train;
    ExpEval eval;
    long probe_limit;     /* rows probed; 0: all */
    bool run_probe, run_train, run_eval; /* the "stages" list; all by default */
} ExperimentConfig;

/* Reads and checks a config file. Relative paths are taken against the config's folder. A bad
 * config gives -1 with a message naming the file and the field ("exp.json: tasks[1].type: ...").
 * Free with experiment_config_free (also after a failure). */
int experiment_config_load(const char *path, ExperimentConfig *cfg);
void experiment_config_free(ExperimentConfig *cfg);

typedef enum { STAGE_PROBE, STAGE_EVAL_BASE, STAGE_TRAIN, STAGE_EVAL_TRAINED } StageKind;

typedef struct ExpStage {
    StageKind kind;
    size_t task;          /* index into cfg->tasks */
    size_t objective;     /* index into cfg->objectives (train and trained eval only) */
    char *label;          /* "figlet/nll/train" */
    char *dir;            /* its own folder under the out dir */
} ExpStage;

typedef struct ExpPlan {
    ExpStage *stages;
    size_t n_stages;
} ExpPlan;

/* The stages in the order they run: per task, probe and base eval, then per objective train
 * and eval of the trained model. Stages turned off by "stages" are left out. */
void experiment_plan(const ExperimentConfig *cfg, ExpPlan *plan);
void experiment_plan_free(ExpPlan *plan);

/* A stage's folder name for an objective: the name with characters other than
 * [A-Za-z0-9._-] replaced by '_' ("power:10@top:0.2" -> "power_10_top_0.2"). */
void experiment_objective_dirname(const char *objective, char *buf, size_t n);

/* The argument list (argv[0] "priorft", NULL-terminated, malloc'ed strings) that runs `stage`;
 * `resume` adds --resume to a training stage. A trained-model eval needs the training stage's
 * final checkpoint: -1 with a message when there is none. Free with experiment_argv_free. */
int experiment_stage_argv(const ExperimentConfig *cfg, const ExpStage *stage, bool resume,
                          char ***argv);
void experiment_argv_free(char **argv);

/* True when the stage finished earlier: STAGE/stage.json records exit status 0 and the stage's
 * result (probe: probe.json, eval: results.json, train: a complete checkpoint) exists. */
bool experiment_stage_done(const ExpStage *stage);

typedef struct ExpRunOptions {
    const char *exe;      /* the priorft binary to run stages with (e.g. /proc/self/exe) */
    bool keep_going;      /* after a failed stage, run the stages that do not depend on it */
    /* Called with one line of progress (no newline) for the caller to show; may be NULL. */
    void (*progress)(void *ctx, const char *line);
    void *progress_ctx;
} ExpRunOptions;

typedef struct ExpRunSummary {
    size_t ran, skipped, failed, not_run; /* stages */
} ExpRunSummary;

/* Runs every unfinished stage of the plan, each as `exe ARGS` with stdout and stderr appended
 * to STAGE/log.txt, and appends one line per event to OUT/experiment.log (ISO time, "start",
 * "done", "skip", "fail" or "blocked", the stage's label). Then writes the results and plots
 * (experiment_report). 0 when every stage finished, -1 with a message naming the first failed
 * stage and its log otherwise (the report is still written). */
int experiment_run(const ExperimentConfig *cfg, const ExpRunOptions *opt, ExpRunSummary *sum);

/* Collects the numbers of every (task, objective) into OUT/results.md and OUT/results.csv and
 * writes OUT/plots/ (data files, plots.gp and, when gnuplot runs, PNGs). Missing numbers are
 * left empty in the CSV and shown as "-" in Markdown. The Markdown table is also appended to
 * `md` when not NULL. 0, or -1 with a message when a file cannot be written (a failed gnuplot
 * is not an error: OUT/plots/gnuplot.log says why). */
int experiment_report(const ExperimentConfig *cfg, StrBuf *md);

#endif
