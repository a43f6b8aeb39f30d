/* Planning and running an experiment's stages: each stage is a subprocess of the priorft binary
 * (posix_spawn) in its own folder; OUT/<task>/<stage>/stage.json, written atomically after the
 * subprocess succeeded, marks it finished so a restart never redoes it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "experiment/experiment.h"
#include "train/bundle.h"
#include "train/checkpoint.h"
#include "util/error.h"
#include "util/fileio.h"
#include "util/log.h"

extern char **environ;

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* mkdir -p */
static int make_dirs(const char *dir)
{
    char *p = xstrdup(dir);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            pf_fail("%s: cannot create: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        rc = pf_fail("%s: cannot create: %s", p, strerror(errno));
    free(p);
    return rc;
}

static void add_stage(const ExperimentConfig *cfg, ExpPlan *plan, StageKind kind, size_t task,
                      size_t objective)
{
    char obj[256], rel[512];
    const char *tname = cfg->tasks[task].name;
    experiment_objective_dirname(cfg->objectives[objective], obj, sizeof obj);
    switch (kind) {
    case STAGE_PROBE: snprintf(rel, sizeof rel, "%s/probe", tname); break;
    case STAGE_EVAL_BASE: snprintf(rel, sizeof rel, "%s/base/eval", tname); break;
    case STAGE_TRAIN: snprintf(rel, sizeof rel, "%s/%s/train", tname, obj); break;
    case STAGE_EVAL_TRAINED: snprintf(rel, sizeof rel, "%s/%s/eval", tname, obj); break;
    }
    plan->stages = xrealloc(plan->stages, (plan->n_stages + 1) * sizeof *plan->stages);
    ExpStage *s = &plan->stages[plan->n_stages++];
    s->kind = kind;
    s->task = task;
    s->objective = objective;
    s->label = xstrdup(rel);
    s->dir = path_join(cfg->out_dir, rel);
}

void experiment_plan(const ExperimentConfig *cfg, ExpPlan *plan)
{
    memset(plan, 0, sizeof *plan);
    for (size_t t = 0; t < cfg->n_tasks; t++) {
        bool eval = cfg->run_eval && cfg->tasks[t].bench;
        if (cfg->run_probe) add_stage(cfg, plan, STAGE_PROBE, t, 0);
        if (eval) add_stage(cfg, plan, STAGE_EVAL_BASE, t, 0);
        for (size_t o = 0; o < cfg->n_objectives; o++) {
            if (cfg->run_train) add_stage(cfg, plan, STAGE_TRAIN, t, o);
            if (cfg->run_train && eval) add_stage(cfg, plan, STAGE_EVAL_TRAINED, t, o);
        }
    }
}

void experiment_plan_free(ExpPlan *plan)
{
    for (size_t i = 0; i < plan->n_stages; i++) {
        free(plan->stages[i].label);
        free(plan->stages[i].dir);
    }
    free(plan->stages);
    memset(plan, 0, sizeof *plan);
}

/* ---- argument lists ---- */

typedef struct Args {
    char **v;
    size_t n;
} Args;

static void args_add(Args *a, const char *s)
{
    a->v = xrealloc(a->v, (a->n + 2) * sizeof *a->v);
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void args_opt(Args *a, const char *opt, const char *value)
{
    if (!value) return;
    args_add(a, opt);
    args_add(a, value);
}

static void args_long(Args *a, const char *opt, long value)
{
    char buf[32];
    if (value <= 0) return;
    snprintf(buf, sizeof buf, "%ld", value);
    args_opt(a, opt, buf);
}

static void args_double(Args *a, const char *opt, double value)
{
    char buf[32];
    if (value < 0) return;
    snprintf(buf, sizeof buf, "%.9g", value);
    args_opt(a, opt, buf);
}

/* How the task's rows become token sequences: the same for probe and train. */
static void args_data(Args *a, const ExperimentConfig *cfg, const ExpTask *t)
{
    args_opt(a, "--tokenizer", cfg->tokenizer);
    args_opt(a, "--chat-template", t->chat_template);
    args_opt(a, "--system", t->system);
    args_opt(a, "--prompt-suffix", t->prompt_suffix);
    args_opt(a, "--prompt-key", t->prompt_key);
    args_opt(a, "--response-key", t->response_key);
    args_opt(a, "--messages-key", t->messages_key);
    args_long(a, "--max-length", t->max_length);
    args_opt(a, "--truncation", t->truncation);
}

static void args_train(Args *a, const ExperimentConfig *cfg, const ExpStage *s, bool resume)
{
    const ExpTrain *tr = &cfg->train;
    args_opt(a, "--objective", cfg->objectives[s->objective]);
    args_long(a, "--epochs", tr->epochs);
    args_long(a, "--max-steps", tr->max_steps);
    args_long(a, "--global-batch", tr->global_batch);
    args_long(a, "--micro-batch", tr->micro_batch);
    args_long(a, "--save-every", tr->save_every);
    args_long(a, "--threads", tr->threads);
    args_double(a, "--lr", tr->lr);
    args_double(a, "--warmup-ratio", tr->warmup_ratio);
    args_opt(a, "--schedule", tr->schedule);
    if (tr->seed > 0) args_long(a, "--seed", tr->seed);
    if (tr->packing) args_add(a, "--packing");
    args_add(a, "--quiet");
    if (resume) args_add(a, "--resume");
}

/* The eval of one model on the task's benchmark, prompts formatted as in training. */
static void args_eval(Args *a, const ExperimentConfig *cfg, const ExpTask *t)
{
    const ExpEval *e = &cfg->eval;
    args_opt(a, "--bench", t->bench);
    args_opt(a, "--task", t->type);
    args_opt(a, "--tokenizer", cfg->tokenizer);
    args_opt(a, "--chat-template", t->chat_template);
    args_opt(a, "--system", t->system);
    args_opt(a, "--prompt-suffix", t->prompt_suffix);
    args_long(a, "--limit", e->limit);
    args_long(a, "--max-new-tokens", e->max_new_tokens);
    args_long(a, "--samples", e->samples);
    args_double(a, "--temperature", e->temperature);
}

int experiment_stage_argv(const ExperimentConfig *cfg, const ExpStage *s, bool resume,
                          char ***argv)
{
    const ExpTask *t = &cfg->tasks[s->task];
    Args a = {0};
    *argv = NULL;
    args_add(&a, "priorft");
    switch (s->kind) {
    case STAGE_PROBE:
        args_add(&a, "probe");
        args_opt(&a, "--model", cfg->model);
        args_opt(&a, "--data", t->train);
        args_opt(&a, "--out", s->dir);
        args_data(&a, cfg, t);
        args_long(&a, "--limit", cfg->probe_limit);
        break;
    case STAGE_TRAIN:
        args_add(&a, "train");
        args_opt(&a, "--model", cfg->model);
        args_opt(&a, "--data", t->train);
        args_opt(&a, "--out", s->dir);
        args_data(&a, cfg, t);
        args_train(&a, cfg, s, resume);
        break;
    case STAGE_EVAL_BASE:
        args_add(&a, "eval");
        args_opt(&a, "--model", cfg->model);
        args_opt(&a, "--out", s->dir);
        args_eval(&a, cfg, t);
        break;
    case STAGE_EVAL_TRAINED: {
        char obj[256], rel[512];
        experiment_objective_dirname(cfg->objectives[s->objective], obj, sizeof obj);
        snprintf(rel, sizeof rel, "%s/%s/train", t->name, obj);
        char *train_dir = path_join(cfg->out_dir, rel);
        char *ckpt = checkpoint_find_latest(train_dir);
        free(train_dir);
        if (!ckpt) {
            experiment_argv_free(a.v);
            char *why = xstrdup(pf_error()); /* pf_fail reuses pf_error's buffer */
            pf_fail("%s: no trained checkpoint to evaluate: %s", s->label, why);
            free(why);
            return -1;
        }
        args_add(&a, "eval");
        args_opt(&a, "--model", ckpt);
        free(ckpt);
        args_opt(&a, "--out", s->dir);
        /* A checkpoint of a GGUF or llama2.c model holds no tokenizer file: use the one the
         * base model was trained with. */
        char *tok = cfg->tokenizer ? NULL : bundle_find_tokenizer(cfg->model);
        pf_error_clear();
        args_opt(&a, "--tokenizer", tok);
        free(tok);
        args_eval(&a, cfg, t);
        break;
    }
    }
    *argv = a.v;
    return 0;
}

void experiment_argv_free(char **argv)
{
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

/* ---- finished stages ---- */

/* The file (or check) that says the stage's own tool produced its result. */
static bool stage_result_exists(const ExpStage *s)
{
    if (s->kind == STAGE_TRAIN) {
        char *c = checkpoint_find_latest(s->dir);
        pf_error_clear();
        free(c);
        return c != NULL;
    }
    char *p = path_join(s->dir, s->kind == STAGE_PROBE ? "probe.json" : "results.json");
    bool ok = file_exists(p);
    free(p);
    return ok;
}

bool experiment_stage_done(const ExpStage *s)
{
    char *p = path_join(s->dir, "stage.json");
    json_t *doc = json_load_file(p, 0, NULL);
    free(p);
    bool ok = doc && json_integer_value(json_object_get(doc, "exit_status")) == 0 &&
              json_is_integer(json_object_get(doc, "exit_status"));
    json_decref(doc);
    return ok && stage_result_exists(s);
}

static void iso_time(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Writes STAGE/stage.json atomically: argv, times and exit status. */
static int stage_mark(const ExpStage *s, char **argv, const char *started, double seconds,
                      double cpu_seconds, int status)
{
    char finished[32];
    iso_time(finished, sizeof finished);
    json_t *args = json_array();
    for (char **p = argv; *p; p++) json_array_append_new(args, json_string(*p));
    json_t *doc = json_pack("{s:s, s:s, s:s, s:f, s:f, s:i, s:o}", "stage", s->label,
                            "started", started, "finished", finished, "seconds", seconds,
                            "cpu_seconds", cpu_seconds, "exit_status", status, "argv", args);
    char *text = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    char *path = path_join(s->dir, "stage.json");
    AtomicFile f;
    int rc = atomic_open(&f, path);
    if (rc == 0 && (rc = atomic_write(&f, text, strlen(text))) == 0) rc = atomic_commit(&f);
    else if (rc == 0) atomic_abort(&f);
    free(path);
    free(text);
    return rc;
}

/* ---- running ---- */

typedef struct Runner {
    const ExperimentConfig *cfg;
    const ExpRunOptions *opt;
    FILE *log;            /* OUT/experiment.log */
} Runner;

static void note(Runner *r, const char *event, const ExpStage *s, const char *detail)
{
    char when[32];
    iso_time(when, sizeof when);
    fprintf(r->log, "%s %-7s %s%s%s\n", when, event, s->label, detail ? "  " : "",
            detail ? detail : "");
    fflush(r->log);
    if (r->opt->progress) {
        char line[1024];
        snprintf(line, sizeof line, "%-7s %s%s%s", event, s->label, detail ? "  " : "",
                 detail ? detail : "");
        r->opt->progress(r->opt->progress_ctx, line);
    }
}

/* Runs exe with argv, stdout and stderr appended to log_path; *status gets the exit status
 * (128 + signal when killed), *cpu_seconds the CPU time (user + system) it used. */
static int spawn_wait(const char *exe, char **argv, const char *log_path, int *status,
                      double *cpu_seconds)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int err = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) return pf_fail("%s: cannot start: %s", exe, strerror(err));
    int ws;
    struct rusage ru;
    while (wait4(pid, &ws, 0, &ru) < 0) {
        if (errno != EINTR) return pf_fail("wait4: %s", strerror(errno));
    }
    *cpu_seconds = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
                   (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
    *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    return 0;
}

/* Runs one stage; 0 when it finished (now or earlier), -1 with a message otherwise. */
static int run_stage(Runner *r, const ExpStage *s)
{
    if (experiment_stage_done(s)) {
        note(r, "skip", s, "(finished earlier)");
        return 0;
    }
    if (make_dirs(s->dir)) return -1;
    bool resume = false;
    if (s->kind == STAGE_TRAIN) {
        char *c = checkpoint_find_latest(s->dir);
        pf_error_clear();
        resume = c != NULL;
        free(c);
    }
    char **argv = NULL;
    if (experiment_stage_argv(r->cfg, s, resume, &argv)) return -1;
    char *log_path = path_join(s->dir, "log.txt");
    char started[32];
    iso_time(started, sizeof started);
    note(r, "start", s, resume ? "(resuming from its checkpoint)" : NULL);
    double t0 = time_now();
    int status = -1;
    double cpu = 0;
    int rc = spawn_wait(r->opt->exe, argv, log_path, &status, &cpu);
    double seconds = time_now() - t0;
    if (rc == 0 && status == 0 && !stage_result_exists(s))
        rc = pf_fail("%s: exited 0 but left no result in %s", s->label, s->dir);
    else if (rc == 0 && status != 0)
        rc = pf_fail("%s: exit status %d (see %s)", s->label, status, log_path);
    if (rc == 0) rc = stage_mark(s, argv, started, seconds, cpu, status);
    char detail[64];
    snprintf(detail, sizeof detail, "%.1f s (CPU %.1f s)", seconds, cpu);
    note(r, rc == 0 ? "done" : "fail", s, rc == 0 ? detail : pf_error());
    free(log_path);
    experiment_argv_free(argv);
    return rc;
}

/* True when stage i needs a stage that failed: a trained eval needs its training. */
static bool blocked(const ExpPlan *plan, const bool *failed, size_t i)
{
    const ExpStage *s = &plan->stages[i];
    if (s->kind != STAGE_EVAL_TRAINED) return false;
    for (size_t j = 0; j < i; j++) {
        const ExpStage *d = &plan->stages[j];
        if (failed[j] && d->kind == STAGE_TRAIN && d->task == s->task &&
            d->objective == s->objective)
            return true;
    }
    return false;
}

int experiment_run(const ExperimentConfig *cfg, const ExpRunOptions *opt, ExpRunSummary *sum)
{
    memset(sum, 0, sizeof *sum);
    if (make_dirs(cfg->out_dir)) return -1;
    char *log_path = path_join(cfg->out_dir, "experiment.log");
    Runner r = {cfg, opt, fopen(log_path, "a")};
    if (!r.log) {
        int rc = pf_fail("%s: cannot open for append: %s", log_path, strerror(errno));
        free(log_path);
        return rc;
    }
    free(log_path);

    ExpPlan plan;
    experiment_plan(cfg, &plan);
    bool *failed = xcalloc(plan.n_stages ? plan.n_stages : 1, sizeof *failed);
    char *first_error = NULL;
    bool stop = false;
    for (size_t i = 0; i < plan.n_stages; i++) {
        const ExpStage *s = &plan.stages[i];
        if (stop || blocked(&plan, failed, i)) {
            note(&r, "blocked", s, stop ? "(an earlier stage failed)" : "(its training failed)");
            failed[i] = true;
            sum->not_run++;
            continue;
        }
        bool was_done = experiment_stage_done(s);
        if (run_stage(&r, s) == 0) {
            if (was_done) sum->skipped++;
            else sum->ran++;
            continue;
        }
        failed[i] = true;
        sum->failed++;
        if (!first_error) first_error = xstrdup(pf_error());
        if (!opt->keep_going) stop = true;
    }
    experiment_plan_free(&plan);
    free(failed);
    fclose(r.log);

    int rc = experiment_report(cfg, NULL);
    if (first_error) {
        rc = pf_fail("%s", first_error);
        free(first_error);
    }
    return rc;
}
