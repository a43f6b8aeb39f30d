/* Reading and checking an experiment config (JSON, see docs/experiment.md). Unknown keys are
 * refused so a misspelt setting never silently falls back to a default. */
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment/experiment.h"
#include "objective/objective.h"
#include "util/error.h"

typedef struct Ctx {
    const char *path;     /* config file, for messages */
    char *base;           /* its folder, for relative paths */
} Ctx;

/* Fails unless every key of obj is in the NULL-terminated list `allowed`. */
static int check_keys(const Ctx *c, json_t *obj, const char *where, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, key) == 0;
        if (!ok)
            return pf_fail("%s: %s%s%s: unknown key", c->path, where, *where ? "." : "", key);
    }
    return 0;
}

/* A string field: *out NULL when absent (and not required). */
static int get_string(const Ctx *c, json_t *obj, const char *where, const char *key,
                      bool required, char **out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return pf_fail("%s: %s%s%s: missing (a string is required)", c->path, where,
                           *where ? "." : "", key);
        return 0;
    }
    if (!json_is_string(v))
        return pf_fail("%s: %s%s%s: must be a string", c->path, where, *where ? "." : "", key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

/* A whole number field in [min, max]; *out untouched when absent. */
static int get_long(const Ctx *c, json_t *obj, const char *where, const char *key, long min,
                    long max, long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return pf_fail("%s: %s.%s: must be a whole number from %ld to %ld", c->path, where, key,
                       min, max);
    *out = (long)json_integer_value(v);
    return 0;
}

static int get_double(const Ctx *c, json_t *obj, const char *where, const char *key, double min,
                      double max, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return 0;
    if (!json_is_number(v) || !(json_number_value(v) >= min && json_number_value(v) <= max))
        return pf_fail("%s: %s.%s: must be a number from %g to %g", c->path, where, key, min,
                       max);
    *out = json_number_value(v);
    return 0;
}

/* A path resolved against the config's folder unless absolute. */
static char *resolve(const Ctx *c, char *p)
{
    if (!p || p[0] == '/' || strcmp(c->base, ".") == 0) return p;
    size_t n = strlen(c->base) + strlen(p) + 2;
    char *r = xmalloc(n);
    snprintf(r, n, "%s/%s", c->base, p);
    free(p);
    return r;
}

static bool is_plain_name(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
    for (; *s; s++) {
        char ch = *s;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        if (!ok) return false;
    }
    return true;
}

static int parse_task(const Ctx *c, json_t *t, size_t i, ExpTask *task)
{
    static const char *const keys[] = {
        "name", "type", "train", "bench", "prompt_key", "response_key", "messages_key",
        "chat_template", "system", "prompt_suffix", "truncation", "max_length", NULL};
    char where[64];
    snprintf(where, sizeof where, "tasks[%zu]", i);
    if (!json_is_object(t)) return pf_fail("%s: %s: must be an object", c->path, where);
    if (check_keys(c, t, where, keys)) return -1;
    if (get_string(c, t, where, "name", true, &task->name) ||
        get_string(c, t, where, "type", true, &task->type) ||
        get_string(c, t, where, "train", true, &task->train) ||
        get_string(c, t, where, "bench", false, &task->bench) ||
        get_string(c, t, where, "prompt_key", false, &task->prompt_key) ||
        get_string(c, t, where, "response_key", false, &task->response_key) ||
        get_string(c, t, where, "messages_key", false, &task->messages_key) ||
        get_string(c, t, where, "chat_template", false, &task->chat_template) ||
        get_string(c, t, where, "system", false, &task->system) ||
        get_string(c, t, where, "prompt_suffix", false, &task->prompt_suffix) ||
        get_string(c, t, where, "truncation", false, &task->truncation) ||
        get_long(c, t, where, "max_length", 2, 1 << 20, &task->max_length))
        return -1;
    if (!is_plain_name(task->name))
        return pf_fail("%s: %s.name: '%s' must be letters, digits, '.', '_' or '-'", c->path,
                       where, task->name);
    if (strcmp(task->type, "math") && strcmp(task->type, "choice") && strcmp(task->type, "figlet"))
        return pf_fail("%s: %s.type: '%s' is not math, choice or figlet", c->path, where,
                       task->type);
    if (task->truncation && strcmp(task->truncation, "error") &&
        strcmp(task->truncation, "left") && strcmp(task->truncation, "right"))
        return pf_fail("%s: %s.truncation: '%s' is not error, left or right", c->path, where,
                       task->truncation);
    task->train = resolve(c, task->train);
    task->bench = resolve(c, task->bench);
    return 0;
}

static int parse_tasks(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    json_t *tasks = json_object_get(root, "tasks");
    if (!json_is_array(tasks) || json_array_size(tasks) == 0)
        return pf_fail("%s: tasks: must be a non-empty list of task objects", c->path);
    cfg->tasks = xcalloc(json_array_size(tasks), sizeof *cfg->tasks);
    for (size_t i = 0; i < json_array_size(tasks); i++) {
        cfg->n_tasks = i + 1;
        if (parse_task(c, json_array_get(tasks, i), i, &cfg->tasks[i])) return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->tasks[j].name, cfg->tasks[i].name) == 0)
                return pf_fail("%s: tasks[%zu].name: '%s' is also the name of tasks[%zu]",
                               c->path, i, cfg->tasks[i].name, j);
    }
    return 0;
}

static int parse_objectives(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    json_t *objs = json_object_get(root, "objectives");
    if (!json_is_array(objs) || json_array_size(objs) == 0)
        return pf_fail("%s: objectives: must be a non-empty list of objective names", c->path);
    cfg->objectives = xcalloc(json_array_size(objs), sizeof *cfg->objectives);
    for (size_t i = 0; i < json_array_size(objs); i++) {
        json_t *v = json_array_get(objs, i);
        if (!json_is_string(v))
            return pf_fail("%s: objectives[%zu]: must be a string", c->path, i);
        cfg->objectives[i] = xstrdup(json_string_value(v));
        cfg->n_objectives = i + 1;
        Objective o;
        if (objective_parse(cfg->objectives[i], &o) != 0) {
            char *why = xstrdup(pf_error()); /* pf_fail reuses pf_error's buffer */
            pf_fail("%s: objectives[%zu]: '%s' is not an objective (%s)", c->path, i,
                    cfg->objectives[i], why);
            free(why);
            return -1;
        }
        char di[256], dj[256];
        experiment_objective_dirname(cfg->objectives[i], di, sizeof di);
        for (size_t j = 0; j < i; j++) {
            experiment_objective_dirname(cfg->objectives[j], dj, sizeof dj);
            if (strcmp(di, dj) == 0)
                return pf_fail("%s: objectives[%zu]: '%s' would share the folder '%s' with "
                               "objectives[%zu]",
                               c->path, i, cfg->objectives[i], di, j);
        }
    }
    return 0;
}

static int parse_train(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    static const char *const keys[] = {"epochs", "max_steps", "global_batch", "micro_batch",
                                       "save_every", "seed", "threads", "lr", "warmup_ratio",
                                       "schedule", "packing", NULL};
    ExpTrain *t = &cfg->train;
    t->lr = t->warmup_ratio = -1;
    json_t *o = json_object_get(root, "train");
    if (!o) return 0;
    if (!json_is_object(o)) return pf_fail("%s: train: must be an object", c->path);
    if (check_keys(c, o, "train", keys)) return -1;
    const long big = 1L << 40;
    if (get_long(c, o, "train", "epochs", 1, 100000, &t->epochs) ||
        get_long(c, o, "train", "max_steps", 1, big, &t->max_steps) ||
        get_long(c, o, "train", "global_batch", 1, 1 << 20, &t->global_batch) ||
        get_long(c, o, "train", "micro_batch", 1, 1 << 16, &t->micro_batch) ||
        get_long(c, o, "train", "save_every", 0, big, &t->save_every) ||
        get_long(c, o, "train", "seed", 0, big, &t->seed) ||
        get_long(c, o, "train", "threads", 1, 1024, &t->threads) ||
        get_double(c, o, "train", "lr", 0, 10, &t->lr) ||
        get_double(c, o, "train", "warmup_ratio", 0, 1, &t->warmup_ratio) ||
        get_string(c, o, "train", "schedule", false, &t->schedule))
        return -1;
    if (t->global_batch && t->micro_batch && t->global_batch % t->micro_batch != 0)
        return pf_fail("%s: train.global_batch: %ld is not a multiple of train.micro_batch %ld",
                       c->path, t->global_batch, t->micro_batch);
    if (t->schedule && strcmp(t->schedule, "cosine") && strcmp(t->schedule, "constant") &&
        strcmp(t->schedule, "wsd"))
        return pf_fail("%s: train.schedule: '%s' is not cosine, constant or wsd", c->path,
                       t->schedule);
    json_t *p = json_object_get(o, "packing");
    if (p && !json_is_boolean(p))
        return pf_fail("%s: train.packing: must be true or false", c->path);
    t->packing = p && json_is_true(p);
    return 0;
}

static int parse_eval_probe(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    static const char *const eval_keys[] = {"limit", "max_new_tokens", "samples", "temperature",
                                            NULL};
    static const char *const probe_keys[] = {"limit", NULL};
    cfg->eval.temperature = -1;
    json_t *e = json_object_get(root, "eval");
    if (e) {
        if (!json_is_object(e)) return pf_fail("%s: eval: must be an object", c->path);
        if (check_keys(c, e, "eval", eval_keys) ||
            get_long(c, e, "eval", "limit", 0, 1L << 40, &cfg->eval.limit) ||
            get_long(c, e, "eval", "max_new_tokens", 1, 1 << 20, &cfg->eval.max_new_tokens) ||
            get_long(c, e, "eval", "samples", 1, 1 << 16, &cfg->eval.samples) ||
            get_double(c, e, "eval", "temperature", 0, 100, &cfg->eval.temperature))
            return -1;
    }
    json_t *p = json_object_get(root, "probe");
    if (p) {
        if (!json_is_object(p)) return pf_fail("%s: probe: must be an object", c->path);
        if (check_keys(c, p, "probe", probe_keys) ||
            get_long(c, p, "probe", "limit", 0, 1L << 40, &cfg->probe_limit))
            return -1;
    }
    return 0;
}

static int parse_stages(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    json_t *s = json_object_get(root, "stages");
    cfg->run_probe = cfg->run_train = cfg->run_eval = true;
    if (!s) return 0;
    if (!json_is_array(s) || json_array_size(s) == 0)
        return pf_fail("%s: stages: must be a non-empty list of \"probe\", \"train\", \"eval\"",
                       c->path);
    cfg->run_probe = cfg->run_train = cfg->run_eval = false;
    for (size_t i = 0; i < json_array_size(s); i++) {
        const char *v = json_string_value(json_array_get(s, i));
        if (v && strcmp(v, "probe") == 0) cfg->run_probe = true;
        else if (v && strcmp(v, "train") == 0) cfg->run_train = true;
        else if (v && strcmp(v, "eval") == 0) cfg->run_eval = true;
        else
            return pf_fail("%s: stages[%zu]: must be \"probe\", \"train\" or \"eval\"",
                           c->path, i);
    }
    return 0;
}

static int parse_root(const Ctx *c, json_t *root, ExperimentConfig *cfg)
{
    static const char *const keys[] = {"name", "model", "tokenizer", "out", "tasks",
                                       "objectives", "train", "eval", "probe", "stages", NULL};
    if (!json_is_object(root)) return pf_fail("%s: the config must be a JSON object", c->path);
    if (check_keys(c, root, "", keys)) return -1;
    if (get_string(c, root, "", "name", false, &cfg->name) ||
        get_string(c, root, "", "model", true, &cfg->model) ||
        get_string(c, root, "", "tokenizer", false, &cfg->tokenizer) ||
        get_string(c, root, "", "out", false, &cfg->out_dir))
        return -1;
    if (!cfg->name) cfg->name = xstrdup("experiment");
    if (!cfg->out_dir) {
        size_t n = strlen(cfg->name) + 5;
        cfg->out_dir = xmalloc(n);
        snprintf(cfg->out_dir, n, "%s-out", cfg->name);
    }
    cfg->model = resolve(c, cfg->model);
    cfg->tokenizer = resolve(c, cfg->tokenizer);
    cfg->out_dir = resolve(c, cfg->out_dir);
    return parse_tasks(c, root, cfg) || parse_objectives(c, root, cfg) ||
                   parse_train(c, root, cfg) || parse_eval_probe(c, root, cfg) ||
                   parse_stages(c, root, cfg)
               ? -1
               : 0;
}

int experiment_config_load(const char *path, ExperimentConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->path = xstrdup(path);
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root && err.line < 1) return pf_fail("%s: %s", path, err.text);
    if (!root) return pf_fail("%s:%d:%d: %s", path, err.line, err.column, err.text);
    char *copy = xstrdup(path);
    Ctx c = {path, xstrdup(dirname(copy))};
    free(copy);
    int rc = parse_root(&c, root, cfg);
    free(c.base);
    json_decref(root);
    return rc;
}

static void task_free(ExpTask *t)
{
    free(t->name);
    free(t->type);
    free(t->train);
    free(t->bench);
    free(t->prompt_key);
    free(t->response_key);
    free(t->messages_key);
    free(t->chat_template);
    free(t->system);
    free(t->prompt_suffix);
    free(t->truncation);
}

void experiment_config_free(ExperimentConfig *cfg)
{
    for (size_t i = 0; i < cfg->n_tasks; i++) task_free(&cfg->tasks[i]);
    for (size_t i = 0; i < cfg->n_objectives; i++) free(cfg->objectives[i]);
    free(cfg->tasks);
    free(cfg->objectives);
    free(cfg->path);
    free(cfg->name);
    free(cfg->model);
    free(cfg->tokenizer);
    free(cfg->out_dir);
    free(cfg->train.schedule);
    memset(cfg, 0, sizeof *cfg);
}

void experiment_objective_dirname(const char *objective, char *buf, size_t n)
{
    size_t i = 0;
    for (; objective[i] && i + 1 < n; i++) {
        char ch = objective[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        buf[i] = ok ? ch : '_';
    }
    if (n) buf[i] = '\0';
    if (n > 1 && buf[0] == '.') buf[0] = '_'; /* never "." or ".." */
}
