/* Entry point of the priorft binary: dispatches to the subcommands listed here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "cli/cli.h"

int cmd_train(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_bench_head(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_bench_generate(int argc, char **argv);

static const Command commands[] = {
    {"train", "fine-tune a model on SFT data with a chosen objective", cmd_train},
    {"eval", "generate answers for benchmarks and score them (math, choice, figlet)", cmd_eval},
    {"probe", "place a model on the capability continuum for a data set; advice", cmd_probe},
    {"compare", "KL and JS divergence between two models on response tokens", cmd_compare},
    {"generate", "sample text from a model (KV-cache inference)", cmd_generate},
    {"tokenize", "text to token ids and back; tokenizer throughput (--bench)", cmd_tokenize},
    {"data", "prepare data sets: figlet-decoding puzzles (data figlet)", cmd_data},
    {"experiment", "sweep objectives x tasks: probe, train, eval; table and plots",
     cmd_experiment},
    {"bench", "GEMM peak and training tokens/s of a random model of a chosen shape", cmd_bench},
    {"bench-head", "time and memory of the fused LM head + objective", cmd_bench_head},
    {"bench-generate", "batched KV-cache generation tokens/s of a random model",
     cmd_bench_generate},
};

static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

int cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("priorft: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_parse_int(const char *option, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        cli_error("%s: '%s' is not a whole number from %ld to %ld", option, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *option, const char *text, double min, double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v >= min && v <= max)) {
        cli_error("%s: '%s' is not a number from %g to %g", option, text, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: priorft <command> [options]   (priorft <command> --help for details)\n\n"
               "priorft fine-tunes Llama-family language models with a choice of how much the\n"
               "training trusts the model's own prior.\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    omp_env_defaults(argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (int i = 0; i < n_commands; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    }
    cli_error("unknown command '%s'", argv[1]);
    usage(stderr);
    return 2;
}
