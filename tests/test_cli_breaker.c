/* CLI edge cases found by trying priorft as a user would: the model/tokenizer pairs that train
 * accepts must work the same way in `tokenize --data` and `generate`, and bad inputs get a
 * message naming the file at fault, not a crash. Runs the priorft binary (PRIORFT_BIN). */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Runs `priorft ARGS` through the shell with stderr joined to stdout; returns the exit status
 * (or -1) and the output (malloc'ed, NUL-terminated) in *out. */
static int run_cli(const char *args, char **out)
{
    const char *bin = getenv("PRIORFT_BIN");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += got;
        if (n + 1 == cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = '\0';
    int status = pclose(p);
    *out = buf;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define NEED_BIN_AND_MODEL(model)                                                               \
    do {                                                                                         \
        if (!getenv("PRIORFT_BIN")) {                                                            \
            skip(); /* PRIORFT_BIN is not set (run through ctest) */                             \
            return;                                                                              \
        }                                                                                        \
        const char *sp = shared_path("models/stories260K/stories260K.bin");                      \
        if (!sp) {                                                                               \
            skip(); /* ../shared/models/stories260K is absent */                                 \
            return;                                                                              \
        }                                                                                        \
        snprintf(model, sizeof model, "%s", sp);                                                 \
    } while (0)

/* tokenize --data with a llama2.c tokenizer .bin: there is no tokenizer_config.json, so the
 * template is raw (as train does), instead of failing on "tok512.bin/tokenizer_config.json". */
static void test_tokenize_data_llama2c_tokenizer(void **state)
{
    (void)state;
    char model[1024];
    NEED_BIN_AND_MODEL(model);
    char tok[1024];
    snprintf(tok, sizeof tok, "%s", shared_path("models/stories260K/tok512.bin"));
    char *dir = tmpdir_make();
    char data[1200];
    snprintf(data, sizeof data, "%s/d.jsonl", dir);
    const char *rows = "{\"prompt\": \"Once upon a time\", \"response\": \"there was a cat.\"}\n";
    assert_int_equal(write_file(data, rows, strlen(rows)), 0);

    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "tokenize --tokenizer '%s' --data '%s'", tok, data);
    int rc = run_cli(args, &out);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "chat template: raw"));
    assert_non_null(strstr(out, "1 rows, 1 examples kept"));
    /* The response side is what the loss covers: the response text and the EOS piece. */
    assert_non_null(strstr(out, "there was a cat.</s>"));
    free(out);

    /* A broken row is named by file and line, also through tokenize --data. */
    const char *bad = "{\"prompt\": \"a\", \"response\": \"b\"}\n"
                      "{\"prompt\": 5, \"response\": \"b\"}\n";
    assert_int_equal(write_file(data, bad, strlen(bad)), 0);
    rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "line 2: field 'prompt' is a number"));
    free(out);
    tmpdir_remove(dir);
}

/* generate --model stories260K.bin without --tokenizer: the only tokenizer beside it is
 * tok512.bin (not tokenizer.bin); train finds it, so must generate. Greedy decoding from BOS
 * starts with the llama2.c reference story (../shared/README.md). */
static void test_generate_finds_tok_bin(void **state)
{
    (void)state;
    char model[1024];
    NEED_BIN_AND_MODEL(model);
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "generate --model '%s' --temperature 0 --max-new-tokens 12",
             model);
    int rc = run_cli(args, &out);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "Once upon a time, there was a little girl"));
    free(out);

    /* A prompt longer than the model's 512 positions is refused, with nothing leaked. */
    char *dir0 = tmpdir_make();
    char prompt_file[1200];
    snprintf(prompt_file, sizeof prompt_file, "%s/prompt.txt", dir0);
    char prompt[2401];
    for (int i = 0; i < 600; i++) memcpy(prompt + 4 * i, "a b ", 4);
    prompt[2400] = '\0';
    assert_int_equal(write_file(prompt_file, prompt, strlen(prompt)), 0);
    snprintf(args, sizeof args, "generate --model '%s' --prompt \"$(cat '%s')\" "
             "--max-new-tokens 4", model, prompt_file);
    rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "more than the model's 512 positions"));
    assert_null(strstr(out, "LeakSanitizer"));
    free(out);
    tmpdir_remove(dir0);

    /* A folder without tokenizer.json says so and what to pass, not "line -1: not valid JSON". */
    char *dir = tmpdir_make();
    snprintf(args, sizeof args, "generate --model '%s' --max-new-tokens 1", dir);
    rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "no tokenizer.json"));
    assert_non_null(strstr(out, "pass --tokenizer"));
    free(out);
    tmpdir_remove(dir);
}

/* tokenize --tokenizer DIR where DIR has no tokenizer.json: says so, instead of
 * "DIR/tokenizer.json: line -1: not valid JSON: unable to open ...". */
static void test_tokenizer_folder_without_json(void **state)
{
    (void)state;
    if (!getenv("PRIORFT_BIN")) {
        skip(); /* PRIORFT_BIN is not set (run through ctest) */
        return;
    }
    char *dir = tmpdir_make();
    char args[4096], *out = NULL;
    snprintf(args, sizeof args, "tokenize --tokenizer '%s' --text hi", dir);
    int rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "the folder has no tokenizer.json"));
    assert_null(strstr(out, "line -1"));
    free(out);
    tmpdir_remove(dir);
}

/* Replaces the first `from` in file `path` by `to`. */
static void edit_file(const char *path, const char *from, const char *to)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *at = strstr(buf, from);
    assert_non_null(at);
    char out[8400];
    snprintf(out, sizeof out, "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
    assert_int_equal(write_file(path, out, strlen(out)), 0);
}

/* train --resume from damaged checkpoints: a truncated optimizer.safetensors is an error
 * naming it, with nothing leaked (the model loaded before it was freed: LeakSanitizer); a
 * loader position of the wrong type is refused, not read as 0 (which restarted the data). */
static void test_resume_damaged_checkpoint(void **state)
{
    (void)state;
    char model[1024];
    NEED_BIN_AND_MODEL(model);
    char *dir = tmpdir_make();
    char data[1200], run[1200], ckpt[1300], path[1400];
    snprintf(data, sizeof data, "%s/d.jsonl", dir);
    const char *rows = "{\"prompt\": \"Tom saw a dog.\", \"response\": \" The dog ran.\"}\n"
                       "{\"prompt\": \"Lily had a ball.\", \"response\": \" It was red.\"}\n";
    assert_int_equal(write_file(data, rows, strlen(rows)), 0);
    snprintf(run, sizeof run, "%s/run", dir);
    char args[4096], *out = NULL;
    const char *common = "--global-batch 2 --micro-batch 1 --max-length 32 --threads 1 --quiet";
    snprintf(args, sizeof args, "train --model '%s' --data '%s' --out '%s' %s --max-steps 2 "
             "--stop-after 1", model, data, run, common);
    int rc = run_cli(args, &out);
    if (rc != 130) fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 130); /* --stop-after stops as if interrupted, checkpoint saved */
    free(out);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-00000001", run);
    snprintf(args, sizeof args, "train --model '%s' --data '%s' --out '%s' %s --max-steps 2 "
             "--resume", model, data, run, common);

    snprintf(path, sizeof path, "%s/trainer_state.json", ckpt);
    edit_file(path, "\"position\": ", "\"position\": \"x\", \"was\": ");
    rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "'loader.position' missing or not a non-negative integer"));
    free(out);
    edit_file(path, "\"position\": \"x\", \"was\": ", "\"position\": ");

    snprintf(path, sizeof path, "%s/optimizer.safetensors", ckpt);
    assert_int_equal(truncate(path, 1000), 0);
    rc = run_cli(args, &out);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "optimizer.safetensors"));
    assert_null(strstr(out, "LeakSanitizer"));
    free(out);
    tmpdir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_data_llama2c_tokenizer),
        cmocka_unit_test(test_generate_finds_tok_bin),
        cmocka_unit_test(test_tokenizer_folder_without_json),
        cmocka_unit_test(test_resume_damaged_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
