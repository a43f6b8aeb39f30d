/* `priorft eval`: scores prediction files (generations with their gold answers), or with
 * --model and --bench generates the answers first (eval/eval_run), and prints a Markdown table
 * per benchmark; with --out DIR also writes DIR/results.json and DIR/samples.jsonl (and, with
 * --model, DIR/predictions.jsonl, which --predictions can rescore). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "eval/bench_file.h"
#include "eval/eval_run.h"
#include "eval/score_report.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

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
            "Generating the answers:\n"
            "  priorft eval --model PATH --bench FILE [--bench FILE ...] --task NAME [options]\n"
            "  --bench FILE         a benchmark JSONL file (gsm8k, math500, medqa, figlet ...)\n"
            "  --tokenizer PATH     default: found beside the model\n"
            "  --samples N          samples per question (default 1; avg@n, pass@k)\n"
            "  --limit K            first K questions of each file (default all)\n"
            "  --temperature T      0 is greedy (default 0)\n"
            "  --top-p P            nucleus mass (default 1: off)\n"
            "  --top-k K            most likely K tokens only (default 0: off)\n"
            "  --seed S             sampling seed (default 0); each sample has its own stream\n"
            "  --max-new-tokens N   default 1024\n"
            "  --max-context N      prompt + answer tokens (default the model's length)\n"
            "  --batch B            sequences decoded together (default 16)\n"
            "  --stop TEXT          also stop where the answer contains TEXT (repeatable)\n"
            "  --chat-template NAME chatml, smollm2, qwen2.5, qwen3, llama3, llama2, deepseek,\n"
            "                       raw (default: the model's own, else raw)\n"
            "  --system TEXT        system prompt\n"
            "  --prompt-suffix TEXT instruction after each question (default: math asks for\n"
            "                       \\boxed{}, choice for the letter; '' for none)\n"
            "Answers stop at the tokenizer's end of sequence and the template's end of turn.\n"
            "With --out, DIR/predictions.jsonl keeps the generations for --predictions.\n");
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

typedef struct EvalArgs {
    const char *task_name, *out_dir, *model, *tokenizer, *chat_template, *system, *suffix;
    const char **predictions, **benches, **stops;
    int n_predictions, n_benches, n_stops;
    long samples, limit, top_k, seed, max_new, max_context, batch;
    double temperature, top_p;
} EvalArgs;

/* Fills *a from argv; returns 0, 1 after --help, or -1 after printing an error. */
static int parse_args(int argc, char **argv, EvalArgs *a)
{
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            eval_usage(stdout);
            return 1;
        }
        if (i + 1 >= argc) {
            eval_usage(stderr);
            cli_error("eval: unknown or incomplete option '%s'", opt);
            return -1;
        }
        const char *v = argv[++i];
        int rc = 0;
        if (strcmp(opt, "--task") == 0) a->task_name = v;
        else if (strcmp(opt, "--predictions") == 0) a->predictions[a->n_predictions++] = v;
        else if (strcmp(opt, "--out") == 0) a->out_dir = v;
        else if (strcmp(opt, "--model") == 0) a->model = v;
        else if (strcmp(opt, "--bench") == 0) a->benches[a->n_benches++] = v;
        else if (strcmp(opt, "--stop") == 0) a->stops[a->n_stops++] = v;
        else if (strcmp(opt, "--tokenizer") == 0) a->tokenizer = v;
        else if (strcmp(opt, "--chat-template") == 0) a->chat_template = v;
        else if (strcmp(opt, "--system") == 0) a->system = v;
        else if (strcmp(opt, "--prompt-suffix") == 0) a->suffix = v;
        else if (strcmp(opt, "--samples") == 0) rc = cli_parse_int(opt, v, 1, 1 << 16, &a->samples);
        else if (strcmp(opt, "--limit") == 0) rc = cli_parse_int(opt, v, 0, 1L << 40, &a->limit);
        else if (strcmp(opt, "--top-k") == 0) rc = cli_parse_int(opt, v, 0, 1 << 30, &a->top_k);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int(opt, v, 0, 1L << 62, &a->seed);
        else if (strcmp(opt, "--batch") == 0) rc = cli_parse_int(opt, v, 1, 4096, &a->batch);
        else if (strcmp(opt, "--max-new-tokens") == 0)
            rc = cli_parse_int(opt, v, 0, 1 << 24, &a->max_new);
        else if (strcmp(opt, "--max-context") == 0)
            rc = cli_parse_int(opt, v, 0, 1 << 24, &a->max_context);
        else if (strcmp(opt, "--temperature") == 0)
            rc = cli_parse_float(opt, v, 0.0, 100.0, &a->temperature);
        else if (strcmp(opt, "--top-p") == 0) rc = cli_parse_float(opt, v, 0.0, 1.0, &a->top_p);
        else {
            eval_usage(stderr);
            cli_error("eval: unknown or incomplete option '%s'", opt);
            return -1;
        }
        if (rc != 0) return -1;
    }
    return 0;
}

/* Progress of generation on stderr, only when it is a terminal. */
typedef struct EvalProgress {
    bool tty;
    const char *name;
    double t0;
} EvalProgress;

static void progress_bench(void *ctx, const char *name, long n_prompts, int n_samples)
{
    EvalProgress *p = ctx;
    p->name = name;
    p->t0 = time_now();
    if (p->tty) fprintf(stderr, "%s: %ld questions x %d samples\n", name, n_prompts, n_samples);
}

static void progress_sample(void *ctx, long done, long total, long tokens)
{
    EvalProgress *p = ctx;
    if (!p->tty) return;
    double dt = time_now() - p->t0;
    double eta = done > 0 ? dt / (double)done * (double)(total - done) : 0.0;
    fprintf(stderr, "\r  %s %ld/%ld samples  %ld tokens  %.1f tokens/s  ETA %.0f s   ", p->name,
            done, total, tokens, dt > 0 ? (double)tokens / dt : 0.0, eta);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
}

/* Opens the model, generates for every --bench file into pred_path and scores it. */
static int generate_and_score(const EvalArgs *a, BenchTask task, const char *pred_path,
                              ScoredSet *set)
{
    const char *suffix = a->suffix ? a->suffix : eval_default_suffix(task);
    BundleOptions bo = {.tokenizer_path = a->tokenizer, .chat_template = a->chat_template,
                        .system_prompt = a->system,
                        .prompt_suffix = suffix && suffix[0] ? suffix : NULL,
                        .load_weights = true};
    ModelBundle b;
    if (bundle_open(a->model, &bo, &b) != 0) return cli_error("%s", pf_error());

    EvalProgress progress = {.tty = isatty(2) != 0};
    EvalOptions o = {.task = task, .limit = a->limit, .on_bench = progress_bench,
                     .on_bench_ctx = &progress};
    gen_options_default(&o.gen);
    o.gen.batch = (int)a->batch;
    o.gen.n_samples = (int)a->samples;
    o.gen.max_new_tokens = (int)a->max_new;
    o.gen.max_context = (int)a->max_context;
    o.gen.temperature = (float)a->temperature;
    o.gen.top_p = (float)a->top_p;
    o.gen.top_k = (int)a->top_k;
    o.gen.seed = (uint64_t)a->seed;
    o.gen.stop_strings = a->stops;
    o.gen.n_stop_strings = a->n_stops;
    o.gen.progress = progress_sample;
    o.gen.progress_ctx = &progress;

    double t0 = time_now();
    int rc = eval_run(&b, a->benches, a->n_benches, &o, pred_path, set);
    if (rc != 0) rc = cli_error("%s", pf_error());
    else log_info("eval: generated and scored %zu samples in %.1f s", set->n_samples,
                  time_now() - t0);
    bundle_close(&b);
    return rc;
}

/* Prints the table and writes DIR/results.json and DIR/samples.jsonl. */
static int write_outputs(const ScoredSet *set, const char *out_dir)
{
    StrBuf md = {0}, json = {0}, samples = {0};
    int rc = 0;
    score_report_write(set, &md, &json);
    fputs(md.data, stdout);
    if (out_dir) {
        score_samples_write(set, &samples);
        rc = write_text(out_dir, "results.json", &json);
        if (rc == 0) rc = write_text(out_dir, "samples.jsonl", &samples);
    }
    strbuf_free(&md);
    strbuf_free(&json);
    strbuf_free(&samples);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    EvalArgs a = {.samples = 1, .max_new = 1024, .batch = 16, .top_p = 1.0};
    a.predictions = calloc((size_t)argc, sizeof *a.predictions);
    a.benches = calloc((size_t)argc, sizeof *a.benches);
    a.stops = calloc((size_t)argc, sizeof *a.stops);
    int prc = parse_args(argc, argv, &a), rc = prc < 0 ? 1 : 0;
    ScoredSet set = {0};
    char pred_path[4096] = "";
    bool pred_tmp = false;

    if (prc > 0) {
        free(a.predictions);
        free(a.benches);
        free(a.stops);
        return 0;
    }
    if (rc == 0 && (!a.task_name || bench_task_parse(a.task_name, &set.task) != 0))
        rc = cli_error("eval: --task must be math, choice or figlet");
    else if (rc == 0 && a.model && (a.n_benches == 0 || a.n_predictions > 0))
        rc = cli_error("eval: --model needs --bench FILE (and no --predictions)");
    else if (rc == 0 && !a.model && a.n_benches > 0)
        rc = cli_error("eval: --bench needs --model PATH");
    else if (rc == 0 && !a.model && a.n_predictions == 0)
        rc = cli_error("eval: give --predictions FILE, or --model PATH with --bench FILE");
    if (rc == 0 && a.out_dir && mkdir(a.out_dir, 0755) != 0 && errno != EEXIST)
        rc = cli_error("%s: cannot create: %s", a.out_dir, strerror(errno));

    if (rc == 0 && a.model) {
        if (a.out_dir) {
            snprintf(pred_path, sizeof pred_path, "%s/predictions.jsonl", a.out_dir);
        } else {
            const char *tmp = getenv("TMPDIR");
            snprintf(pred_path, sizeof pred_path, "%s/priorft-eval-XXXXXX",
                     tmp && tmp[0] ? tmp : "/tmp");
            int fd = mkstemp(pred_path);
            if (fd < 0) rc = cli_error("%s: cannot create: %s", pred_path, strerror(errno));
            else close(fd), pred_tmp = true;
        }
        if (rc == 0) rc = generate_and_score(&a, set.task, pred_path, &set);
    } else if (rc == 0) {
        for (int i = 0; i < a.n_predictions && rc == 0; i++)
            if (score_predictions_read(a.predictions[i], &set) != 0)
                rc = cli_error("%s", pf_error());
    }
    if (rc == 0 && set.n_samples == 0) rc = cli_error("eval: no rows to score");
    if (rc == 0) rc = write_outputs(&set, a.out_dir);

    if (pred_tmp) unlink(pred_path);
    scored_set_free(&set);
    free(a.predictions);
    free(a.benches);
    free(a.stops);
    return rc;
}
