/* The trainer on the real stories260K model (skipped without ../shared): gradient accumulation
 * over k micro batches equals one batch of k times the size; a run stopped and resumed
 * reproduces the uninterrupted run's metrics exactly; a run killed at random moments (during
 * checkpoint writes too) always resumes from a complete checkpoint; bad settings are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model/load.h"
#include "train/checkpoint.h"
#include "train/train.h"
#include "util/error.h"
#include "testutil.h"

static const char *STORIES[] = {
    "Lily had a red ball.", "She liked to play with it in the park every day.",
    "Tom saw a big dog.", "The dog was happy and ran to Tom.",
    "Ben wanted a cake.", "His mom made a cake and Ben said thank you.",
    "The sun was hot.", "They sat under a tree and ate ice cream.",
    "A little bird sang.", "The bird flew up to the blue sky.",
    "Sue lost her hat.", "Her friend found the hat under the bed.",
    "The cat was sleepy.", "It curled up on the soft rug and slept.",
    "Max built a tower.", "The tower fell down and Max laughed.",
};

/* Writes a small prompt/response JSONL of n rows into dir; returns its path (static). */
static const char *write_data(const char *dir, int n)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/data.jsonl", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        int k = (i * 2) % 16;
        fprintf(f, "{\"prompt\": \"%s\", \"response\": \" %s\"}\n", STORIES[k], STORIES[k + 1]);
    }
    fclose(f);
    return path;
}

static const char *stories_model(void)
{
    return shared_path("models/stories260K/stories260K.bin");
}

static void base_config(TrainConfig *c, const char *model, const char *data, const char *out)
{
    train_config_default(c);
    c->model_path = model;
    c->data_path = data;
    c->out_dir = out;
    c->bundle.chat_template = "raw";
    c->sft.max_length = 64;
    c->lr = 1e-3f;
    c->warmup_ratio = 0.0f;
    c->quiet = true;
    c->keep_last = 0;
}

/* Reads field `key` of every metrics.jsonl row without a "split" into out; returns count. */
static int read_metric(const char *out_dir, const char *key, double *out, int cap)
{
    char path[4096], line[4096], pattern[64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", out_dir);
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int n = 0;
    while (fgets(line, sizeof line, f) && n < cap) {
        if (strstr(line, "\"split\"")) continue;
        char *at = strstr(line, pattern);
        assert_non_null(at);
        out[n++] = strtod(at + strlen(pattern), NULL);
    }
    fclose(f);
    return n;
}

static void test_accumulation_equals_large_batch(void **state)
{
    (void)state;
    const char *model = stories_model();
    if (!model) skip();
    char *dir = tmpdir_make();
    const char *data = write_data(dir, 16);
    const char *objectives[] = {"nll", "OnlyTopLogP-0.2", "p"};

    for (int o = 0; o < 3; o++) {
        double norm_big[4], norm_acc[4], loss_big[4], loss_acc[4];
        char out_big[4200], out_acc[4200];
        snprintf(out_big, sizeof out_big, "%s/big%d", dir, o);
        snprintf(out_acc, sizeof out_acc, "%s/acc%d", dir, o);

        TrainConfig c;
        base_config(&c, model, data, out_big);
        c.objective_name = objectives[o];
        c.global_batch = 8;
        c.micro_batch = 8;
        c.clip = 0;
        c.shuffle = false;
        TrainResult r;
        assert_int_equal(train_run(&c, &r), 0);
        free(r.final_checkpoint);

        c.out_dir = out_acc;
        c.micro_batch = 2; /* 4 micro batches of 2 rows */
        assert_int_equal(train_run(&c, &r), 0);
        free(r.final_checkpoint);

        assert_int_equal(read_metric(out_big, "grad_norm", norm_big, 4), 2);
        assert_int_equal(read_metric(out_acc, "grad_norm", norm_acc, 4), 2);
        read_metric(out_big, "objective", loss_big, 4);
        read_metric(out_acc, "objective", loss_acc, 4);
        for (int s = 0; s < 2; s++) {
            /* Same sums in a different order (fp32 GEMMs of other shapes): 1e-4 relative. */
            assert_true(fabs(norm_big[s] - norm_acc[s]) <= 1e-4 * norm_big[s]);
            assert_true(fabs(loss_big[s] - loss_acc[s]) <= 1e-5 * fabs(loss_big[s]) + 1e-7);
        }
    }
    tmpdir_remove(dir);
}

static void test_resume_reproduces_run(void **state)
{
    (void)state;
    const char *model = stories_model();
    if (!model) skip();
    char *dir = tmpdir_make();
    const char *data = write_data(dir, 24);
    char full[4200], split[4200];
    snprintf(full, sizeof full, "%s/full", dir);
    snprintf(split, sizeof split, "%s/split", dir);

    TrainConfig c;
    base_config(&c, model, data, full);
    c.objective_name = "OnlyTopP-0.1";
    c.global_batch = 4;
    c.micro_batch = 2;
    c.epochs = 2; /* 12 steps, crossing an epoch boundary */
    c.warmup_ratio = 0.2f;
    TrainResult r;
    assert_int_equal(train_run(&c, &r), 0);
    assert_int_equal(r.steps_done, 12);
    free(r.final_checkpoint);

    c.out_dir = split;
    c.stop_after = 5;
    assert_int_equal(train_run(&c, &r), 0);
    assert_true(r.interrupted);
    assert_int_equal(r.steps_done, 5);
    free(r.final_checkpoint);
    c.stop_after = 4;
    c.resume = true;
    assert_int_equal(train_run(&c, &r), 0);
    assert_int_equal(r.steps_done, 9);
    free(r.final_checkpoint);
    c.stop_after = 0;
    assert_int_equal(train_run(&c, &r), 0);
    assert_int_equal(r.steps_done, 12);
    free(r.final_checkpoint);

    /* Resuming with other settings is refused, naming the setting. */
    c.global_batch = 8;
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "global_batch"));
    c.global_batch = 4;
    c.objective_name = "nll";
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "objective"));

    /* The checkpoint carries the llama2.c tokenizer, so it is found without --tokenizer. */
    char *latest = checkpoint_find_latest(split);
    char *tok = bundle_find_tokenizer(latest);
    assert_non_null(tok);
    assert_non_null(strstr(tok, "tokenizer.bin"));
    assert_non_null(strstr(tok, latest));
    free(tok);
    free(latest);

    const char *keys[] = {"objective", "nll", "mean_p", "grad_norm", "lr"};
    for (int k = 0; k < 5; k++) {
        double a[16], b[16];
        assert_int_equal(read_metric(full, keys[k], a, 16), 12);
        assert_int_equal(read_metric(split, keys[k], b, 16), 12);
        for (int s = 0; s < 12; s++) assert_true(a[s] == b[s]); /* exactly, as printed */
    }
    tmpdir_remove(dir);
}

static void test_killed_run_resumes_from_complete_checkpoint(void **state)
{
    (void)state;
    const char *model = stories_model();
    if (!model) skip();
    char *dir = tmpdir_make();
    const char *data = write_data(dir, 16);
    char out[4200];
    snprintf(out, sizeof out, "%s/out", dir);

    TrainConfig c;
    base_config(&c, model, data, out);
    c.global_batch = 2;
    c.micro_batch = 2;
    c.epochs = 40;
    c.save_every = 1;
    c.keep_last = 2;

    /* Kill `priorft train` at several moments (with a checkpoint every step, often during a
     * write); every time the newest complete checkpoint must load. */
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) skip();
    int loaded = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            freopen("/dev/null", "w", stderr);
            execl(bin, "priorft", "train", "--model", model, "--data", data, "--out", out,
                  "--chat-template", "raw", "--max-length", "64", "--global-batch", "2",
                  "--micro-batch", "2", "--epochs", "40", "--save-every", "1", "--keep-last",
                  "2", "--quiet", attempt > 0 ? "--resume" : "--quiet", (char *)NULL);
            _exit(127);
        }
        /* Wait (up to 60 s) until this run has written a checkpoint of its own, then kill it a
         * few milliseconds later, which often lands inside the next checkpoint's write. */
        char *before = checkpoint_find_latest(out);
        for (int i = 0; i < 6000; i++) {
            char *now = checkpoint_find_latest(out);
            bool fresh = now && (!before || strcmp(now, before) != 0);
            free(now);
            if (fresh) break;
            struct timespec poll = {0, 10000000L};
            nanosleep(&poll, NULL);
        }
        free(before);
        struct timespec ts = {0, 3000000L * attempt};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);

        char *latest = checkpoint_find_latest(out);
        assert_non_null(latest);
        Model m;
        AdamW opt;
        json_t *st = NULL;
        assert_int_equal(model_load(latest, &m), 0);
        adamw_init(&opt, &c.adamw, m.n_params, NULL);
        model_free(&m);
        int rc = checkpoint_load(latest, &m, &opt, &st);
        if (rc != 0) fprintf(stderr, "%s\n", pf_error());
        assert_int_equal(rc, 0);
        loaded++;
        json_decref(st);
        model_free(&m);
        adamw_free(&opt);
        free(latest);
    }
    assert_int_equal(loaded, 5);

    /* And training goes on from there. */
    c.resume = true;
    c.stop_after = 2;
    TrainResult r;
    assert_int_equal(train_run(&c, &r), 0);
    assert_true(r.steps_done > 2);
    free(r.final_checkpoint);
    tmpdir_remove(dir);
}

static void test_nonfinite_stops_or_skips(void **state)
{
    (void)state;
    const char *model = stories_model();
    if (!model) skip();
    char *dir = tmpdir_make();
    const char *data = write_data(dir, 8);
    char out[4200];
    snprintf(out, sizeof out, "%s/out", dir);

    /* An absurd learning rate overflows the weights after the first update, so the second
     * step's loss is not finite: the run stops, naming the last good checkpoint. */
    TrainConfig c;
    base_config(&c, model, data, out);
    c.global_batch = 2;
    c.micro_batch = 2;
    c.lr = 1e30f;
    c.clip = 0;
    c.save_every = 1;
    TrainResult r;
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "non-finite"));
    assert_non_null(strstr(pf_error(), "checkpoint-00000001"));
    char *latest = checkpoint_find_latest(out);
    assert_non_null(latest);
    assert_non_null(strstr(latest, "checkpoint-00000001"));
    free(latest);

    /* With skipping, the run finishes and counts the skipped steps. */
    snprintf(out, sizeof out, "%s/skip", dir);
    c.out_dir = out;
    c.skip_nonfinite = true;
    assert_int_equal(train_run(&c, &r), 0);
    assert_int_equal(r.steps_done, 4);
    assert_int_equal(r.skipped_nonfinite, 3);
    free(r.final_checkpoint);
    tmpdir_remove(dir);
}

static void test_bad_settings_refused(void **state)
{
    (void)state;
    const char *model = stories_model();
    if (!model) skip();
    char *dir = tmpdir_make();
    const char *data = write_data(dir, 4);
    TrainConfig c;
    TrainResult r;

    base_config(&c, model, data, dir);
    c.objective_name = "OnlyTopLogP-1.5";
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "OnlyTopLogP-1.5"));

    base_config(&c, model, data, dir);
    c.global_batch = 6;
    c.micro_batch = 4;
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "multiple"));

    base_config(&c, model, "/nonexistent/data.jsonl", dir);
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "/nonexistent/data.jsonl"));

    char empty[4200];
    snprintf(empty, sizeof empty, "%s/empty.jsonl", dir);
    write_file(empty, "", 0);
    base_config(&c, model, empty, dir);
    assert_int_equal(train_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "empty.jsonl"));
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accumulation_equals_large_batch),
        cmocka_unit_test(test_resume_reproduces_run),
        cmocka_unit_test(test_killed_run_resumes_from_complete_checkpoint),
        cmocka_unit_test(test_nonfinite_stops_or_skips),
        cmocka_unit_test(test_bad_settings_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
