/* probe_run and `priorft probe` end to end on the real stories260K model (skipped without
 * ../shared): the files agree with each other and with the summary, missing or malformed data
 * is refused naming the file and line, and the histogram plot is drawn (or skipped with a
 * warning naming gnuplot-nox when gnuplot is not on PATH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe/probe.h"
#include "util/error.h"
#include "util/plot.h"
#include "testutil.h"

static const char ROWS[] =
    "{\"prompt\": \"Once upon a time, there was a little girl named Lily.\", \"response\": "
    "\" She loved to play outside in the park.\"}\n"
    "{\"prompt\": \"Tom had a small dog.\", \"response\": \" The dog was very happy.\"}\n"
    "{\"prompt\": \"One day, Sue went to the park.\", \"response\": \" She saw a big tree.\"}\n";

static char *model_or_skip(void)
{
    const char *p = shared_path("models/stories260K/stories260K.bin");
    if (!p) {
        print_message("skipping: ../shared/models/stories260K is absent\n");
        skip();
    }
    return strdup(p);
}

static void test_run_writes_consistent_files(void **state)
{
    (void)state;
    char *model = model_or_skip();
    char *dir = tmpdir_make();
    char data[4096], out[4096], path[4200];
    snprintf(data, sizeof data, "%s/rows.jsonl", dir);
    snprintf(out, sizeof out, "%s/out/nested", dir);
    assert_int_equal(write_file(data, ROWS, strlen(ROWS)), 0);

    ProbeConfig c;
    probe_config_default(&c);
    c.model_path = model;
    c.data_path = data;
    c.out_dir = out;
    c.batch = 2;
    ProbeResult r;
    assert_int_equal(probe_run(&c, &r), 0);
    assert_int_equal(r.n_examples, 3);
    assert_true(r.summary.mean_p > 0.2 && r.summary.mean_p < 1.0);

    long tokens = 0;
    for (size_t i = 0; i < r.n_examples; i++) tokens += r.examples[i].tokens;
    assert_int_equal(tokens, r.summary.tokens);
    assert_int_equal(tokens, r.data_stats.response_tokens);
    long hist = 0;
    for (int k = 0; k < PROBE_HIST_BINS; k++) hist += r.summary.histogram[k];
    assert_int_equal(hist, tokens);

    snprintf(path, sizeof path, "%s/probe.json", out);
    json_error_t err;
    json_t *doc = json_load_file(path, 0, &err);
    assert_non_null(doc);
    assert_int_equal(json_integer_value(json_object_get(doc, "tokens")), tokens);
    assert_true(fabs(json_real_value(json_object_get(doc, "mean_p")) - r.summary.mean_p) < 1e-7);
    json_decref(doc);

    snprintf(path, sizeof path, "%s/examples.jsonl", out);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *row = json_loads(line, 0, &err);
        assert_non_null(row);
        assert_int_equal(json_integer_value(json_object_get(row, "line")), n + 1);
        assert_int_equal(json_integer_value(json_object_get(row, "tokens")),
                         r.examples[n].tokens);
        json_decref(row);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 3);

    snprintf(path, sizeof path, "%s/histogram.csv", out);
    assert_int_equal(access(path, R_OK), 0);
    probe_result_free(&r);
    tmpdir_remove(dir);
    free(model);
}

static void test_run_refuses_bad_data(void **state)
{
    (void)state;
    char *model = model_or_skip();
    char *dir = tmpdir_make();
    char data[4096];
    snprintf(data, sizeof data, "%s/missing.jsonl", dir);
    ProbeConfig c;
    probe_config_default(&c);
    c.model_path = model;
    c.data_path = data;
    ProbeResult r;
    assert_int_equal(probe_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "missing.jsonl"));

    snprintf(data, sizeof data, "%s/bad.jsonl", dir);
    const char bad[] = "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\", \"resp";
    assert_int_equal(write_file(data, bad, strlen(bad)), 0);
    assert_int_equal(probe_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "bad.jsonl: line 2"));

    c.model_path = "/nonexistent/model.bin";
    assert_int_equal(probe_run(&c, &r), -1);
    assert_non_null(strstr(pf_error(), "/nonexistent/model.bin"));
    tmpdir_remove(dir);
    free(model);
}

static void test_plot_draws_png(void **state)
{
    (void)state;
    char *gnuplot = plot_find_gnuplot();
    if (!gnuplot) {
        print_message("skipping: gnuplot is not on PATH (Debian package gnuplot-nox)\n");
        skip();
    }
    free(gnuplot);
    char *dir = tmpdir_make();
    char png[4200];
    snprintf(png, sizeof png, "%s/it's.png", dir); /* a quote in the path must survive */
    double a[4] = {0.1, 0.2, 0.3, 0.4}, b[4] = {0.4, 0.3, 0.2, 0.1};
    PlotSeries s[2] = {{"model 'A'", a}, {"B", b}};
    assert_int_equal(plot_histograms(png, "test", "p", "fraction", s, 2, 4, 0, 1), 0);
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char magic[8] = {0};
    assert_int_equal(fread(magic, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(magic, "\x89PNG\r\n\x1a\n", 8);

    /* without gnuplot on PATH: nothing drawn, a distinct return code, no error */
    const char *old = getenv("PATH");
    char *saved = old ? strdup(old) : NULL;
    setenv("PATH", "/nonexistent", 1);
    snprintf(png, sizeof png, "%s/none.png", dir);
    assert_int_equal(plot_histograms(png, "t", "p", "f", s, 1, 4, 0, 1), PLOT_NO_GNUPLOT);
    assert_int_equal(access(png, F_OK), -1);
    if (saved) setenv("PATH", saved, 1);
    free(saved);
    tmpdir_remove(dir);
}

static void test_cli_requires_data(void **state)
{
    (void)state;
    const char *bin = getenv("PRIORFT_BIN");
    if (!bin) {
        print_message("skipping: PRIORFT_BIN is not set (run under ctest)\n");
        skip();
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "%s probe --model x >/dev/null 2>&1", bin);
    int status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    snprintf(cmd, sizeof cmd, "%s compare --model-a x --data y >/dev/null 2>&1", bin);
    status = system(cmd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_writes_consistent_files),
        cmocka_unit_test(test_run_refuses_bad_data),
        cmocka_unit_test(test_plot_draws_png),
        cmocka_unit_test(test_cli_requires_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
