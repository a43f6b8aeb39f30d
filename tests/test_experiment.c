/* priorft experiment: the config parser refuses bad configs naming the field; the plan and the
 * stage commands; and on the real stories260K model (skipped without ../shared) a sweep of two
 * objectives x one task that is interrupted (a half-finished training run, a lost result) and
 * restarted: finished stages are skipped untouched, the training resumes, the table is whole. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "experiment/experiment.h"
#include "util/error.h"
#include "testutil.h"

/* Writes `text` as dir/name; returns the path (static, overwritten by the next call). */
static const char *put(const char *dir, const char *name, const char *text)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(write_file(path, text, strlen(text)), 0);
    return path;
}

#define TASK "{\"name\": \"t\", \"type\": \"math\", \"train\": \"train.jsonl\"}"

/* Each bad config must fail with a message holding every listed fragment. */
static void test_config_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *expect1, *expect2;
    } cases[] = {
        {"{\"tasks\": [" TASK "], \"objectives\": [\"nll\"]}", "model", "missing"},
        {"{\"model\": \"m\", \"objectives\": [\"nll\"]}", "tasks", "non-empty"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": []}", "objectives",
         "non-empty"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\", \"banana\"]}",
         "objectives[1]", "banana"},
        {"{\"model\": \"m\", \"tasks\": [{\"name\": \"t\", \"type\": \"poetry\", \"train\": "
         "\"x\"}], \"objectives\": [\"nll\"]}",
         "tasks[0].type", "poetry"},
        {"{\"model\": \"m\", \"tasks\": [" TASK ", {\"name\": \"u\", \"type\": \"math\"}], "
         "\"objectives\": [\"nll\"]}",
         "tasks[1].train", "missing"},
        {"{\"model\": \"m\", \"tasks\": [" TASK ", " TASK "], \"objectives\": [\"nll\"]}",
         "tasks[1].name", "also the name"},
        {"{\"model\": \"m\", \"tasks\": [{\"name\": \"../x\", \"type\": \"math\", \"train\": "
         "\"x\"}], \"objectives\": [\"nll\"]}",
         "tasks[0].name", "../x"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"trian\": {}}",
         "trian", "unknown key"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"train\": "
         "{\"global_batch\": 6, \"micro_batch\": 4}}",
         "train.global_batch", "multiple"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"train\": "
         "{\"lr\": \"big\"}}",
         "train.lr", "number"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"eval\": "
         "{\"limit\": -3}}",
         "eval.limit", "whole number"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"eval\": "
         "{\"max_new_tokens\": 1.5}}",
         "eval.max_new_tokens", "whole number"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"p\", \"p\"]}",
         "objectives[1]", "share the folder"},
        {"{\"model\": \"m\", \"tasks\": [" TASK "], \"objectives\": [\"nll\"], \"stages\": "
         "[\"train\", \"bake\"]}",
         "stages[1]", "probe"},
        {"{\"model\": \"m\", \"tasks\": [{\"name\": \"t\", \"type\": \"math\", \"train\": "
         "\"x\", \"max_length\": 1}], \"objectives\": [\"nll\"]}",
         "tasks[0].max_length", "from 2"},
        {"{\"model\": \"m\",\n \"tasks\": [" TASK "],\n \"objectives\": [\"nll\"],,}", ":3:",
         "exp.json"},
        {"[1, 2]", "exp.json", "JSON object"},
        {"", "exp.json", ":"},
    };
    char *dir = tmpdir_make();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = put(dir, "exp.json", cases[i].json);
        ExperimentConfig cfg;
        pf_error_clear();
        int rc = experiment_config_load(path, &cfg);
        const char *msg = pf_error();
        if (rc == 0 || !strstr(msg, cases[i].expect1) || !strstr(msg, cases[i].expect2))
            fail_msg("case %zu: rc %d, message '%s' lacks '%s' or '%s'", i, rc, msg,
                     cases[i].expect1, cases[i].expect2);
        assert_non_null(strstr(msg, "exp.json"));
        experiment_config_free(&cfg);
    }
    ExperimentConfig cfg;
    char missing[4200];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    assert_int_equal(experiment_config_load(missing, &cfg), -1);
    assert_non_null(strstr(pf_error(), "none.json"));
    experiment_config_free(&cfg);
    tmpdir_remove(dir);
}

/* A good config: relative paths against the config's folder, defaults, the plan's order and
 * folders, and the commands each stage runs. */
static void test_config_plan_and_commands(void **state)
{
    (void)state;
    char *dir = tmpdir_make();
    const char *path = put(dir, "exp.json",
                           "{\"name\": \"demo\", \"model\": \"/models/m.gguf\",\n"
                           " \"tasks\": [{\"name\": \"arith\", \"type\": \"math\", \"train\": "
                           "\"data/a.jsonl\", \"bench\": \"data/a-test.jsonl\", "
                           "\"chat_template\": \"chatml\", \"max_length\": 96},\n"
                           "   {\"name\": \"fig\", \"type\": \"figlet\", \"train\": \"f.jsonl\"}],"
                           "\n \"objectives\": [\"nll\", \"power:10@top:0.2\"],\n"
                           " \"train\": {\"max_steps\": 3, \"global_batch\": 4, "
                           "\"micro_batch\": 2, \"lr\": 0.001},\n"
                           " \"eval\": {\"limit\": 5, \"max_new_tokens\": 8}}\n");
    ExperimentConfig cfg;
    if (experiment_config_load(path, &cfg) != 0) fail_msg("%s", pf_error());
    char expect[4200];
    snprintf(expect, sizeof expect, "%s/data/a.jsonl", dir);
    assert_string_equal(cfg.tasks[0].train, expect);
    snprintf(expect, sizeof expect, "%s/demo-out", dir);
    assert_string_equal(cfg.out_dir, expect);
    assert_string_equal(cfg.model, "/models/m.gguf");
    assert_null(cfg.tasks[1].bench);
    assert_true(cfg.run_probe && cfg.run_train && cfg.run_eval);

    char name[64];
    experiment_objective_dirname("power:10@top:0.2", name, sizeof name);
    assert_string_equal(name, "power_10_top_0.2");
    experiment_objective_dirname("..", name, sizeof name);
    assert_string_equal(name, "_.");

    /* arith: probe, base eval, (train, eval) x 2; fig has no bench: probe, train x 2. */
    ExpPlan plan;
    experiment_plan(&cfg, &plan);
    static const char *const labels[] = {
        "arith/probe", "arith/base/eval", "arith/nll/train", "arith/nll/eval",
        "arith/power_10_top_0.2/train", "arith/power_10_top_0.2/eval", "fig/probe",
        "fig/nll/train", "fig/power_10_top_0.2/train"};
    assert_int_equal(plan.n_stages, 9);
    for (size_t i = 0; i < plan.n_stages; i++) {
        assert_string_equal(plan.stages[i].label, labels[i]);
        assert_false(experiment_stage_done(&plan.stages[i]));
    }

    char **argv = NULL;
    assert_int_equal(experiment_stage_argv(&cfg, &plan.stages[4], true, &argv), 0);
    StrBuf line = {0};
    for (char **p = argv; *p; p++) strbuf_printf(&line, "%s%s", p == argv ? "" : " ", *p);
    snprintf(expect, sizeof expect,
             "priorft train --model /models/m.gguf --data %s/data/a.jsonl --out "
             "%s/demo-out/arith/power_10_top_0.2/train --chat-template chatml --max-length 96 "
             "--objective power:10@top:0.2 --max-steps 3 --global-batch 4 --micro-batch 2 "
             "--lr 0.001 --quiet --resume",
             dir, dir);
    assert_string_equal(line.data, expect);
    strbuf_free(&line);
    experiment_argv_free(argv);

    /* The trained eval needs the training's checkpoint, which does not exist yet. */
    assert_int_equal(experiment_stage_argv(&cfg, &plan.stages[3], false, &argv), -1);
    assert_non_null(strstr(pf_error(), "arith/nll/eval"));
    assert_null(argv);

    experiment_plan_free(&plan);
    experiment_config_free(&cfg);
    tmpdir_remove(dir);
}

/* True when `priorft SUBCOMMAND --help` succeeds and its help holds `needle`. */
static bool bin_supports(const char *bin, const char *subcommand, const char *needle,
                         const char *absent)
{
    char cmd[4500];
    snprintf(cmd, sizeof cmd, "'%s' %s --help 2>/dev/null", bin, subcommand);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    StrBuf out = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) strbuf_append(&out, buf, n);
    bool ok = pclose(p) == 0 && out.data && strstr(out.data, needle) &&
              !(absent && strstr(out.data, absent));
    strbuf_free(&out);
    return ok;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    StrBuf b = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(&b, buf, n);
    fclose(f);
    if (!b.data) strbuf_puts(&b, "");
    return b.data;
}

static int count_lines_with(const char *text, const char *a, const char *b)
{
    int n = 0;
    for (const char *l = text; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char *line = strndup(l, len);
        if (strstr(line, a) && strstr(line, b)) n++;
        free(line);
        l = end ? end + 1 : l + len;
    }
    return n;
}

/* The last training step's "nll_response" in a metrics.jsonl, read here by plain text search. */
static double last_nll(const char *metrics_path, int *steps)
{
    char *text = slurp(metrics_path);
    assert_non_null(text);
    double nll = -1;
    *steps = 0;
    for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
        if (strstr(l, "\"split\"")) continue;
        char *at = strstr(l, "\"nll_response\": ");
        assert_non_null(at);
        nll = strtod(at + 16, NULL);
        (*steps)++;
    }
    free(text);
    return nll;
}

static void test_interrupted_sweep_resumes(void **state)
{
    (void)state;
    const char *model_rel = shared_path("models/stories260K/stories260K.bin");
    if (!model_rel) skip();
    char model[4096];
    assert_non_null(realpath(model_rel, model));
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) skip();
    bool probe = bin_supports(bin, "probe", "--data", NULL);
    bool eval = bin_supports(bin, "eval", "--bench", "Not built yet");

    char *dir = tmpdir_make();
    StrBuf data = {0}, bench = {0};
    for (int i = 0; i < 8; i++) {
        strbuf_printf(&data, "{\"prompt\": \"Lily had %d red balls and got one more.\", "
                             "\"response\": \" Now she had %d balls.\"}\n", i + 1, i + 2);
        strbuf_printf(&bench, "{\"question\": \"Tom had %d cats.\", \"answer\": \"%d\"}\n", i,
                      i + 1);
    }
    put(dir, "train.jsonl", data.data);
    put(dir, "bench.jsonl", bench.data);
    strbuf_free(&data);
    strbuf_free(&bench);
    StrBuf json = {0};
    strbuf_printf(&json,
                  "{\"name\": \"tiny\", \"model\": \"%s\",\n"
                  " \"tasks\": [{\"name\": \"count\", \"type\": \"math\", \"train\": "
                  "\"train.jsonl\", \"bench\": \"bench.jsonl\", \"chat_template\": \"raw\", "
                  "\"max_length\": 64}],\n"
                  " \"objectives\": [\"nll\", \"p\"],\n"
                  " \"train\": {\"max_steps\": 3, \"global_batch\": 2, \"micro_batch\": 1, "
                  "\"lr\": 0.001, \"threads\": 1},\n"
                  " \"eval\": {\"limit\": 2, \"max_new_tokens\": 4},\n"
                  " \"stages\": [\"train\"%s%s]}\n",
                  model, probe ? ", \"probe\"" : "", eval ? ", \"eval\"" : "");
    const char *path = put(dir, "exp.json", json.data);
    strbuf_free(&json);
    ExperimentConfig cfg;
    if (experiment_config_load(path, &cfg) != 0) fail_msg("%s", pf_error());
    ExpPlan plan;
    experiment_plan(&cfg, &plan);
    size_t expect_stages = 2 + (probe ? 1 : 0) + (eval ? 3 : 0);
    assert_int_equal(plan.n_stages, expect_stages);
    const ExpStage *train_p = NULL;
    for (size_t i = 0; i < plan.n_stages; i++)
        if (strcmp(plan.stages[i].label, "count/p/train") == 0) train_p = &plan.stages[i];
    assert_non_null(train_p);

    /* Interruption 1: the "p" training ran one step of three and stopped (as a killed or
     * time-sliced run leaves it): a checkpoint, no stage.json. */
    char **argv = NULL;
    assert_int_equal(experiment_stage_argv(&cfg, train_p, false, &argv), 0);
    size_t argc = 0;
    while (argv[argc]) argc++;
    argv = realloc(argv, (argc + 3) * sizeof *argv);
    argv[argc] = strdup("--stop-after");
    argv[argc + 1] = strdup("1");
    argv[argc + 2] = NULL;
    char mkdir_cmd[4300];
    snprintf(mkdir_cmd, sizeof mkdir_cmd, "mkdir -p '%s'", train_p->dir);
    assert_int_equal(system(mkdir_cmd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        execv(bin, argv);
        _exit(127);
    }
    int ws;
    waitpid(pid, &ws, 0);
    assert_true(WIFEXITED(ws));
    assert_int_equal(WEXITSTATUS(ws), 130); /* stopped early, checkpoint saved */
    experiment_argv_free(argv);
    assert_false(experiment_stage_done(train_p));
    char metrics[4200];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", train_p->dir);
    int steps = 0;
    last_nll(metrics, &steps);
    assert_int_equal(steps, 1);

    ExpRunOptions opt = {bin, false, NULL, NULL};
    ExpRunSummary sum;
    if (experiment_run(&cfg, &opt, &sum) != 0) fail_msg("%s", pf_error());
    assert_int_equal(sum.ran, expect_stages);
    assert_int_equal(sum.failed + sum.skipped + sum.not_run, 0);
    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s/experiment.log", cfg.out_dir);
    char *log1 = slurp(log_path);
    assert_int_equal(count_lines_with(log1, "start", "count/p/train  (resuming"), 1);
    free(log1);
    last_nll(metrics, &steps);
    assert_int_equal(steps, 3); /* steps 1..3: the resumed run continued, not restarted */

    /* Every finished stage's record, to compare after the restart. */
    char **records = calloc(plan.n_stages, sizeof *records);
    for (size_t i = 0; i < plan.n_stages; i++) {
        char p[4200];
        snprintf(p, sizeof p, "%s/stage.json", plan.stages[i].dir);
        records[i] = slurp(p);
        assert_non_null(records[i]);
        assert_true(experiment_stage_done(&plan.stages[i]));
    }

    /* Interruption 2: the "p" run's record is lost (as if killed after training ended but
     * before it was recorded). The restart redoes only that stage (resuming at its end). */
    char p_record[4200];
    snprintf(p_record, sizeof p_record, "%s/stage.json", train_p->dir);
    assert_int_equal(unlink(p_record), 0);
    if (experiment_run(&cfg, &opt, &sum) != 0) fail_msg("%s", pf_error());
    assert_int_equal(sum.ran, 1);
    assert_int_equal(sum.skipped, expect_stages - 1);
    char *log2 = slurp(log_path);
    assert_int_equal(count_lines_with(log2, "skip", "(finished earlier)"), expect_stages - 1);
    assert_int_equal(count_lines_with(log2, "skip", "count/p/train"), 0);
    assert_int_equal(count_lines_with(log2, "start", "count/nll/train"), 1);
    free(log2);
    for (size_t i = 0; i < plan.n_stages; i++) {
        if (&plan.stages[i] == train_p) {
            free(records[i]);
            continue;
        }
        char p[4200];
        snprintf(p, sizeof p, "%s/stage.json", plan.stages[i].dir);
        char *now = slurp(p);
        assert_string_equal(now, records[i]); /* untouched: not redone */
        free(now);
        free(records[i]);
    }
    free(records);
    last_nll(metrics, &steps);
    assert_int_equal(steps, 3);

    /* The table: one row per objective, with the steps and final NLL of each run's metrics. */
    char csv_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/results.csv", cfg.out_dir);
    char *csv = slurp(csv_path);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "task,type,objective,probe_mean_p,base_accuracy,"));
    static const char *const objectives[] = {"nll", "p"};
    for (int o = 0; o < 2; o++) {
        char prefix[64], run_metrics[4300];
        snprintf(prefix, sizeof prefix, "\ncount,math,%s,", objectives[o]);
        char *row = strstr(csv, prefix);
        assert_non_null(row);
        snprintf(run_metrics, sizeof run_metrics, "%s/count/%s/train/metrics.jsonl",
                 cfg.out_dir, objectives[o]);
        double nll = last_nll(run_metrics, &steps);
        /* fields after the prefix: probe, base, trained, change, steps, first, final, ... */
        char *f = row + strlen(prefix);
        for (int k = 0; k < 4; k++) f = strchr(f, ',') + 1;
        assert_int_equal(strtol(f, &f, 10), 3);
        f = strchr(f + 1, ',') + 1; /* skip first NLL */
        double table_nll = strtod(f, NULL);
        assert_true(nll > 0);
        if (table_nll < nll * 0.9999 || table_nll > nll * 1.0001)
            fail_msg("%s: table final NLL %g, metrics %g", objectives[o], table_nll, nll);
        if (probe) assert_true(row[strlen(prefix)] != ','); /* probe mean p present */
    }
    free(csv);

    char md_path[4200], gp_path[4200];
    snprintf(md_path, sizeof md_path, "%s/results.md", cfg.out_dir);
    snprintf(gp_path, sizeof gp_path, "%s/plots/plots.gp", cfg.out_dir);
    char *md = slurp(md_path), *gp = slurp(gp_path);
    assert_non_null(md);
    assert_non_null(gp);
    assert_non_null(strstr(md, "| count | math | p |"));
    assert_non_null(strstr(gp, "curve_count_p.dat"));
    free(md);
    free(gp);

    experiment_plan_free(&plan);
    experiment_config_free(&cfg);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_config_plan_and_commands),
        cmocka_unit_test(test_interrupted_sweep_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
