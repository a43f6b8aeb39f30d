/* `priorft bench-head`: runs the fused LM head + objective (forward and both gradients) on random
 * inputs of a chosen shape and prints its time, tokens/s, GEMM rate and the peak memory it adds
 * over its inputs' own memory, against the 1/8-of-full-logits budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "objective/lm_head.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rng.h"

/* A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kb = strtol(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

/* Resets the peak-RSS mark (VmHWM) to the current RSS; returns 0 when the kernel allows it. */
static int reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: priorft bench-head [--tokens N] [--vocab V] [--dim C] [--objective NAME]\n"
               "                          [--chunk T] [--repeat R] [--seed S]\n"
               "Times the fused LM head + objective with gradients on random inputs (defaults:\n"
               "3072 tokens, V 151936, C 896 = Qwen2.5-0.5B, nll, chunk from a 128 MiB budget)\n"
               "and reports the peak memory it adds over its inputs.\n");
}

int cmd_bench_head(int argc, char **argv)
{
    long n = 3072, v = 151936, c = 896, chunk = 0, repeat = 1, seed = 1;
    const char *objective_text = "nll";
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) return cli_error("%s: missing value (see --help)", opt);
        const char *val = argv[++i];
        int rc = 0;
        if (strcmp(opt, "--tokens") == 0) rc = cli_parse_int(opt, val, 1, 1 << 20, &n);
        else if (strcmp(opt, "--vocab") == 0) rc = cli_parse_int(opt, val, 1, 1 << 22, &v);
        else if (strcmp(opt, "--dim") == 0) rc = cli_parse_int(opt, val, 1, 1 << 16, &c);
        else if (strcmp(opt, "--chunk") == 0) rc = cli_parse_int(opt, val, 0, 1 << 20, &chunk);
        else if (strcmp(opt, "--repeat") == 0) rc = cli_parse_int(opt, val, 1, 1000, &repeat);
        else if (strcmp(opt, "--seed") == 0) rc = cli_parse_int(opt, val, 0, 1L << 30, &seed);
        else if (strcmp(opt, "--objective") == 0) objective_text = val;
        else return cli_error("unknown option '%s' (see --help)", opt);
        if (rc != 0) return 1;
    }
    Objective obj;
    if (objective_parse(objective_text, &obj) != 0) return cli_error("%s", pf_error());

    /* The inputs, touched so that they are resident before the baseline is taken. */
    size_t nh = (size_t)n * c, nw = (size_t)v * c;
    float *hidden = xalloc_floats(nh), *weight = xalloc_floats(nw);
    float *d_hidden = xalloc_floats(nh), *d_weight = xalloc_floats(nw);
    int *targets = xmalloc((size_t)n * sizeof(int));
    Rng r;
    rng_seed(&r, (uint64_t)seed);
    for (size_t i = 0; i < nw; i++) weight[i] = 0.04f * (rng_uniform(&r) - 0.5f);
    for (size_t i = 0; i < nh; i++) hidden[i] = 2.0f * (rng_uniform(&r) - 0.5f);
    for (long i = 0; i < n; i++) targets[i] = (int)rng_below(&r, (uint64_t)v);
    memset(d_hidden, 0, nh * sizeof(float));
    memset(d_weight, 0, nw * sizeof(float));

    bool peak_reset = reset_peak_rss() == 0;
    long base_kb = peak_reset ? status_kb("VmRSS") : status_kb("VmHWM");
    LmHeadOptions opts = {.chunk_tokens = (int)chunk};
    LmHeadStats st;
    double t0 = time_now();
    for (long k = 0; k < repeat; k++) {
        if (lm_head_forward_backward(hidden, weight, targets, (int)n, (int)c, (int)v, &obj,
                                     (float)(1.0 / n), &opts, d_hidden, d_weight, &st) != 0)
            return cli_error("%s", pf_error());
    }
    double secs = (time_now() - t0) / (double)repeat;
    long peak_kb = status_kb("VmHWM");

    double growth_mb = (peak_kb - base_kb) / 1024.0 * 1.048576;
    double logits_mb = (double)n * v * 4 / 1e6;
    double flops = 6.0 * n * v * c;
    char name[96];
    objective_name(&obj, name, sizeof name);
    printf("bench-head: N=%ld V=%ld C=%ld objective=%s\n", n, v, c, name);
    printf("  time %.3f s/step, %.1f tokens/s, %.1f GFLOP/s (6 N V C)\n", secs, n / secs,
           flops / secs / 1e9);
    printf("  split of the last step: logits GEMM %.2f s, softmax+objective %.2f s, "
           "gradient GEMMs %.2f s\n", st.seconds_logits, st.seconds_softmax, st.seconds_backward);
    printf("  peak memory growth %.1f MB%s; full fp32 logits %.1f MB, budget 1/8 = %.1f MB: %s\n",
           growth_mb, peak_reset ? "" : " (peak mark not resettable: upper bound)", logits_mb,
           logits_mb / 8, growth_mb <= logits_mb / 8 ? "within" : "OVER");
    printf("  mean loss %.6f over %ld kept of %ld response tokens, mean p %.6f\n",
           st.kept_tokens ? st.loss_sum / st.kept_tokens : 0.0, st.kept_tokens,
           st.response_tokens, st.response_tokens ? st.p_response_sum / st.response_tokens : 0.0);
    free(hidden);
    free(weight);
    free(d_hidden);
    free(d_weight);
    free(targets);
    return 0;
}
