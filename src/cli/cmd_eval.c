/* `priorft eval`: scores prediction files (generations with their gold answers) and prints a
 * Markdown table per benchmark; with --out DIR also writes DIR/results.json and
 * DIR/samples.jsonl. Generation from a model (--model, --bench) is not built yet. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "eval/bench_file.h"
#include "eval/score_report.h"
#include "util/buf.h"
#include "util/error.h"

static void eval_usage(FILE *f)
{
    fprintf(f,
            "usage: priorft eval --task math|choice|figlet --predictions FILE [--predictions "
            "FILE ...] [--out DIR]\n\n"
            "Scores JSONL rows holding a generation (generation, output or response: text or a\n"
            "list of samples) and its gold answer (gold or answer); choice rows may carry\n"
            "options. Rows sharing an id (or prompt) are samples of one prompt (avg@n,\n"
            "pass@k). Each file is one benchmark unless rows name their own (benchmark).\n\n"
            "  --task NAME          math (answer equivalence), choice (option letter),\n"
            "                       figlet (exact / case-insensitive / Jaro-Winkler)\n"
            "  --predictions FILE   a predictions JSONL file (repeatable)\n"
            "  --out DIR            also write DIR/results.json and DIR/samples.jsonl\n\n"
            "Not built yet: --model PATH --bench FILE (generating the predictions).\n");
}

static int write_text(const char *dir, const char *name, const StrBuf *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return cli_error("%s: cannot write: %s", path, strerror(errno));
    size_t n = text->len ? fwrite(text->data, 1, text->len, f) : 0;
    if (fclose(f) != 0 || n != text->len) return cli_error("%s: write failed", path);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *task_name = NULL, *out_dir = NULL;
    const char **predictions = calloc((size_t)argc, sizeof *predictions);
    int n_predictions = 0, rc = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            eval_usage(stdout);
            free(predictions);
            return 0;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "--bench") == 0) {
            /* TODO: generation plugs in here: load the model, read each --bench file with
             * bench_file_read(), generate per row, then score the samples exactly as the
             * --predictions path does below. */
            free(predictions);
            return cli_error("%s: generation is not built yet; score existing generations "
                             "with --predictions FILE",
                             a);
        } else if (strcmp(a, "--task") == 0 && has_value) {
            task_name = argv[++i];
        } else if (strcmp(a, "--predictions") == 0 && has_value) {
            predictions[n_predictions++] = argv[++i];
        } else if (strcmp(a, "--out") == 0 && has_value) {
            out_dir = argv[++i];
        } else {
            eval_usage(stderr);
            free(predictions);
            return cli_error("eval: unknown or incomplete option '%s'", a);
        }
    }

    ScoredSet set = {0};
    if (!task_name || bench_task_parse(task_name, &set.task) != 0) {
        free(predictions);
        return cli_error("eval: --task must be math, choice or figlet");
    }
    if (n_predictions == 0) {
        free(predictions);
        return cli_error("eval: give at least one --predictions FILE");
    }
    for (int i = 0; i < n_predictions && rc == 0; i++) {
        if (score_predictions_read(predictions[i], &set) != 0) rc = cli_error("%s", pf_error());
    }
    free(predictions);
    if (rc == 0 && set.n_samples == 0) rc = cli_error("eval: the prediction files hold no rows");
    if (rc != 0) {
        scored_set_free(&set);
        return rc;
    }

    StrBuf md = {0}, json = {0}, samples = {0};
    score_report_write(&set, &md, &json);
    fputs(md.data, stdout);
    if (out_dir) {
        if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
            rc = cli_error("%s: cannot create: %s", out_dir, strerror(errno));
        score_samples_write(&set, &samples);
        if (rc == 0) rc = write_text(out_dir, "results.json", &json);
        if (rc == 0) rc = write_text(out_dir, "samples.jsonl", &samples);
    }
    strbuf_free(&md);
    strbuf_free(&json);
    strbuf_free(&samples);
    scored_set_free(&set);
    return rc;
}
