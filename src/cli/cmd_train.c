/* priorft train: fine-tune a model on SFT data with a chosen objective. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_options.h"
#include "objective/objective.h"
#include "train/train.h"
#include "util/error.h"

static void train_usage(FILE *f)
{
    fprintf(f,
"usage: priorft train --model PATH --data FILE --out DIR [options]\n"
"\n"
"Fine-tunes MODEL (Hugging Face folder, .gguf, or llama2.c .bin) on DATA (JSONL with\n"
"prompt/response fields or a messages list) with the loss on response tokens only, and\n"
"writes checkpoints (Hugging Face folders) into DIR. Defaults are the published recipe.\n"
"\n"
"data options:\n"
"%s"
"  --valid-data FILE       validation data (default: --valid-fraction of DATA)\n"
"  --valid-fraction F      hold out this fraction of DATA for validation (default 0)\n"
"  --valid-every N         validate every N steps (default: at the end only)\n"
"\n"
"objective:\n"
"  --objective NAME        nll | p | power:A | dft, optionally @top:Q or @bottom:Q;\n"
"                          aliases original, logp, GeneralFamily-A, OnlyTopP-Q,\n"
"                          OnlyBottomP-Q, OnlyTopLogP-Q, OnlyBottomLogP-Q (default nll)\n"
"  --loss-norm MODE        kept (sum over kept tokens / kept tokens of the global batch),\n"
"                          reference (per micro batch, then averaged), response (divide by\n"
"                          all response tokens) (default kept)\n"
"\n"
"optimisation:\n"
"  --epochs N              passes over the data (default 1)\n"
"  --max-steps N           stop after N optimiser steps (overrides epochs)\n"
"  --global-batch N        rows per optimiser step (default 256)\n"
"  --micro-batch N         rows per forward/backward; divides the global batch (default 4)\n"
"  --packing               pack several examples per row (attention kept within each)\n"
"  --lr X                  peak learning rate (default 5e-5)\n"
"  --warmup-ratio X        linear warmup fraction of the steps (default 0.1)\n"
"  --schedule NAME         cosine | constant | wsd (default cosine)\n"
"  --min-lr-ratio X        floor of the decay as a fraction of lr (default 0)\n"
"  --wsd-decay-ratio X     wsd: fraction of steps spent decaying (default 0.1)\n"
"  --beta1 X --beta2 X     AdamW betas (default 0.9, 0.95)\n"
"  --eps X                 AdamW epsilon (default 1e-8)\n"
"  --weight-decay X        decoupled weight decay (default 0.01; not on norms and biases)\n"
"  --decay-all             also decay norms and biases\n"
"  --clip X                clip the global gradient norm at X; 0 turns it off (default 1)\n"
"  --seed N                data order and validation split (default 42)\n"
"  --no-shuffle            keep the data's order\n"
"\n"
"checkpoints and logging:\n"
"  --save-every N          checkpoint every N steps (always at the end)\n"
"  --keep-last K           keep the K newest checkpoints; 0 keeps all (default 2)\n"
"  --resume                continue from DIR's latest checkpoint\n"
"  --resume-from CKPT      continue from this checkpoint folder\n"
"  --stop-after N          run N steps, save a checkpoint and stop (continue with --resume)\n"
"  --skip-nonfinite        skip steps whose loss or gradient is not finite (counted)\n"
"                          instead of stopping\n"
"  --log-every N           steps between log lines on stderr (default 1)\n"
"  --quiet                 no per-step lines (DIR/metrics.jsonl still has every step)\n"
"  --recompute             keep only each layer's input, recompute the rest in backward\n"
"                          (less activation memory, about a third more compute)\n",
            DATA_OPTIONS_HELP);
}

enum {
    OPT_MODEL = 256, OPT_DATA, OPT_OUT, OPT_VALID_DATA, OPT_VALID_FRACTION, OPT_VALID_EVERY,
    OPT_OBJECTIVE, OPT_LOSS_NORM, OPT_EPOCHS, OPT_MAX_STEPS, OPT_GLOBAL_BATCH, OPT_MICRO_BATCH,
    OPT_PACKING, OPT_LR, OPT_WARMUP, OPT_SCHEDULE, OPT_MIN_LR, OPT_WSD_DECAY, OPT_BETA1,
    OPT_BETA2, OPT_EPS, OPT_WEIGHT_DECAY, OPT_DECAY_ALL, OPT_CLIP, OPT_SEED, OPT_NO_SHUFFLE,
    OPT_SAVE_EVERY, OPT_KEEP_LAST, OPT_RESUME, OPT_RESUME_FROM, OPT_SKIP_NONFINITE,
    OPT_LOG_EVERY, OPT_QUIET, OPT_HELP, OPT_STOP_AFTER, OPT_RECOMPUTE,
};

static const struct option train_options[] = {
    {"model", required_argument, 0, OPT_MODEL},
    {"data", required_argument, 0, OPT_DATA},
    {"out", required_argument, 0, OPT_OUT},
    {"valid-data", required_argument, 0, OPT_VALID_DATA},
    {"valid-fraction", required_argument, 0, OPT_VALID_FRACTION},
    {"valid-every", required_argument, 0, OPT_VALID_EVERY},
    {"objective", required_argument, 0, OPT_OBJECTIVE},
    {"loss-norm", required_argument, 0, OPT_LOSS_NORM},
    {"epochs", required_argument, 0, OPT_EPOCHS},
    {"max-steps", required_argument, 0, OPT_MAX_STEPS},
    {"global-batch", required_argument, 0, OPT_GLOBAL_BATCH},
    {"micro-batch", required_argument, 0, OPT_MICRO_BATCH},
    {"packing", no_argument, 0, OPT_PACKING},
    {"lr", required_argument, 0, OPT_LR},
    {"warmup-ratio", required_argument, 0, OPT_WARMUP},
    {"schedule", required_argument, 0, OPT_SCHEDULE},
    {"min-lr-ratio", required_argument, 0, OPT_MIN_LR},
    {"wsd-decay-ratio", required_argument, 0, OPT_WSD_DECAY},
    {"beta1", required_argument, 0, OPT_BETA1},
    {"beta2", required_argument, 0, OPT_BETA2},
    {"eps", required_argument, 0, OPT_EPS},
    {"weight-decay", required_argument, 0, OPT_WEIGHT_DECAY},
    {"decay-all", no_argument, 0, OPT_DECAY_ALL},
    {"clip", required_argument, 0, OPT_CLIP},
    {"seed", required_argument, 0, OPT_SEED},
    {"no-shuffle", no_argument, 0, OPT_NO_SHUFFLE},
    {"save-every", required_argument, 0, OPT_SAVE_EVERY},
    {"keep-last", required_argument, 0, OPT_KEEP_LAST},
    {"resume", no_argument, 0, OPT_RESUME},
    {"resume-from", required_argument, 0, OPT_RESUME_FROM},
    {"skip-nonfinite", no_argument, 0, OPT_SKIP_NONFINITE},
    {"log-every", required_argument, 0, OPT_LOG_EVERY},
    {"quiet", no_argument, 0, OPT_QUIET},
    {"recompute", no_argument, 0, OPT_RECOMPUTE},
    {"stop-after", required_argument, 0, OPT_STOP_AFTER},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

/* Applies one numeric option; -1 after printing an error. */
static int train_number(TrainConfig *c, int opt, const char *arg)
{
    long v = 0;
    double x = 0;
    const long big = 1L << 40;
    switch (opt) {
    case OPT_VALID_FRACTION:
        if (cli_parse_float("--valid-fraction", arg, 0, 0.9, &x)) return -1;
        c->valid_fraction = x; return 0;
    case OPT_VALID_EVERY:
        if (cli_parse_int("--valid-every", arg, 0, big, &v)) return -1;
        c->valid_every = v; return 0;
    case OPT_EPOCHS:
        if (cli_parse_int("--epochs", arg, 1, 100000, &v)) return -1;
        c->epochs = (int)v; return 0;
    case OPT_MAX_STEPS:
        if (cli_parse_int("--max-steps", arg, 1, big, &v)) return -1;
        c->max_steps = v; return 0;
    case OPT_GLOBAL_BATCH:
        if (cli_parse_int("--global-batch", arg, 1, 1 << 20, &v)) return -1;
        c->global_batch = (int)v; return 0;
    case OPT_MICRO_BATCH:
        if (cli_parse_int("--micro-batch", arg, 1, 1 << 16, &v)) return -1;
        c->micro_batch = (int)v; return 0;
    case OPT_LR:
        if (cli_parse_float("--lr", arg, 0, 10, &x)) return -1;
        c->lr = (float)x; return 0;
    case OPT_WARMUP:
        if (cli_parse_float("--warmup-ratio", arg, 0, 1, &x)) return -1;
        c->warmup_ratio = (float)x; return 0;
    case OPT_MIN_LR:
        if (cli_parse_float("--min-lr-ratio", arg, 0, 1, &x)) return -1;
        c->min_lr_ratio = (float)x; return 0;
    case OPT_WSD_DECAY:
        if (cli_parse_float("--wsd-decay-ratio", arg, 0, 1, &x)) return -1;
        c->wsd_decay_ratio = (float)x; return 0;
    case OPT_BETA1:
        if (cli_parse_float("--beta1", arg, 0, 0.999999, &x)) return -1;
        c->adamw.beta1 = (float)x; return 0;
    case OPT_BETA2:
        if (cli_parse_float("--beta2", arg, 0, 0.999999, &x)) return -1;
        c->adamw.beta2 = (float)x; return 0;
    case OPT_EPS:
        if (cli_parse_float("--eps", arg, 1e-30, 1, &x)) return -1;
        c->adamw.eps = (float)x; return 0;
    case OPT_WEIGHT_DECAY:
        if (cli_parse_float("--weight-decay", arg, 0, 10, &x)) return -1;
        c->adamw.weight_decay = (float)x; return 0;
    case OPT_CLIP:
        if (cli_parse_float("--clip", arg, 0, 1e9, &x)) return -1;
        c->clip = (float)x; return 0;
    case OPT_SEED:
        if (cli_parse_int("--seed", arg, 0, big, &v)) return -1;
        c->seed = (uint64_t)v; return 0;
    case OPT_SAVE_EVERY:
        if (cli_parse_int("--save-every", arg, 0, big, &v)) return -1;
        c->save_every = v; return 0;
    case OPT_KEEP_LAST:
        if (cli_parse_int("--keep-last", arg, 0, 1 << 20, &v)) return -1;
        c->keep_last = (int)v; return 0;
    case OPT_STOP_AFTER:
        if (cli_parse_int("--stop-after", arg, 1, big, &v)) return -1;
        c->stop_after = v; return 0;
    case OPT_LOG_EVERY:
        if (cli_parse_int("--log-every", arg, 1, big, &v)) return -1;
        c->log_every = v; return 0;
    }
    return -1;
}

/* Applies one option; returns 0, 1 for --help, or -1 after printing an error. */
static int train_option(TrainConfig *c, int opt, const char *arg)
{
    int shared = data_option_apply(opt, arg, &c->bundle, &c->sft);
    if (shared != 1) return shared;
    switch (opt) {
    case OPT_MODEL: c->model_path = arg; return 0;
    case OPT_DATA: c->data_path = arg; return 0;
    case OPT_OUT: c->out_dir = arg; return 0;
    case OPT_VALID_DATA: c->valid_path = arg; return 0;
    case OPT_OBJECTIVE: c->objective_name = arg; return 0;
    case OPT_PACKING: c->packing = true; return 0;
    case OPT_DECAY_ALL: c->decay_norms_and_biases = true; return 0;
    case OPT_NO_SHUFFLE: c->shuffle = false; return 0;
    case OPT_RESUME: c->resume = true; return 0;
    case OPT_RESUME_FROM: c->resume_dir = arg; return 0;
    case OPT_SKIP_NONFINITE: c->skip_nonfinite = true; return 0;
    case OPT_QUIET: c->quiet = true; return 0;
    case OPT_RECOMPUTE: c->recompute = true; return 0;
    case OPT_HELP: return 1;
    case OPT_LOSS_NORM:
        if (loss_norm_parse(arg, &c->loss_norm) == 0) return 0;
        break;
    case OPT_SCHEDULE:
        if (schedule_parse(arg, &c->schedule) == 0) return 0;
        break;
    default:
        return train_number(c, opt, arg);
    }
    cli_error("%s", pf_error());
    return -1;
}

int cmd_train(int argc, char **argv)
{
    TrainConfig c;
    train_config_default(&c);
    struct option *table = data_options_table(train_options);
    optind = 1;
    int opt, rc = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "", table, NULL)) != -1)
        rc = opt == '?' ? -1 : train_option(&c, opt, optarg);
    free(table);
    if (rc == 1) {
        train_usage(stdout);
        return 0;
    }
    if (rc != 0) return 2;
    if (optind < argc) return cli_error("train: unexpected argument '%s'", argv[optind]);
    if (!c.model_path || !c.data_path || !c.out_dir) {
        train_usage(stderr);
        return cli_error("train: --model, --data and --out are required");
    }
    Objective check;
    if (objective_parse(c.objective_name, &check) != 0) return cli_error("%s", pf_error());

    TrainResult r;
    if (train_run(&c, &r) != 0) {
        free(r.final_checkpoint);
        return cli_error("%s", pf_error());
    }
    fprintf(stderr, "priorft train: %s after %ld steps; checkpoint %s\n",
            r.interrupted ? "interrupted" : "done", r.steps_done,
            r.final_checkpoint ? r.final_checkpoint : "(none)");
    if (r.skipped_nonfinite)
        fprintf(stderr, "priorft train: %ld steps skipped for non-finite values\n",
                r.skipped_nonfinite);
    free(r.final_checkpoint);
    return r.interrupted ? 130 : 0;
}
