/* The training loop behind `priorft train`: SFT data -> micro batches -> forward -> fused LM
 * head + objective -> backward -> gradient accumulation -> clipping -> AdamW, with the
 * published recipe as defaults, per-step metrics (stderr and OUT/metrics.jsonl), validation,
 * atomic checkpoints with optimiser and data-loader state, exact resume, Ctrl-C handling and
 * a stop (or, by choice, a skip) on non-finite losses or gradients. */
#ifndef PRIORFT_TRAIN_TRAIN_H
#define PRIORFT_TRAIN_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "data/sft.h"
#include "objective/objective.h"
#include "optim/optim.h"
#include "train/bundle.h"

typedef struct TrainConfig {
    const char *model_path;
    const char *data_path;
    const char *out_dir;
    const char *objective_name;   /* parsed by objective_parse */
    BundleOptions bundle;         /* tokenizer, chat template, system prompt, prompt suffix */
    SftOptions sft;               /* fields, max length, truncation, bad-row policy */

    int epochs;
    long max_steps;               /* > 0: stop after this many optimiser steps */
    int global_batch;             /* rows (sequences; packed rows with packing) per step */
    int micro_batch;              /* rows per forward/backward; divides global_batch */
    bool packing;
    LossNorm loss_norm;

    float lr;
    float warmup_ratio;
    ScheduleKind schedule;
    float min_lr_ratio;
    float wsd_decay_ratio;
    AdamWConfig adamw;
    bool decay_norms_and_biases;  /* false (default): no weight decay on 1-D tensors */
    float clip;                   /* max global gradient norm; <= 0: off */

    uint64_t seed;
    bool shuffle;

    const char *valid_path;       /* NULL: use valid_fraction of the training data */
    double valid_fraction;        /* held out when valid_path is NULL; 0: no validation */
    long valid_every;             /* steps; 0: only at the end */
    long save_every;              /* steps; 0: only at the end */
    int keep_last;                /* checkpoints kept; 0: all */
    bool resume;                  /* continue from out_dir's latest checkpoint */
    const char *resume_dir;       /* or from this checkpoint folder */
    bool skip_nonfinite;          /* skip steps with a non-finite loss/gradient (counted) */
    long stop_after;              /* > 0: run at most this many steps in this call, then save
                                   * and stop as if interrupted (time-sliced runs) */
    long log_every;               /* steps between stderr lines (metrics.jsonl has every step) */
    bool quiet;                   /* no per-step stderr lines */
    bool recompute;               /* activation recomputation: keep layer inputs only, rerun
                                   * each layer's forward in backward (less memory, ~1/3 more
                                   * compute; see model_acts_init_opt) */
} TrainConfig;

/* The published recipe (DESIGN.md): 1 epoch, AdamW (0.9, 0.95), weight decay 0.01, lr 5e-5,
 * cosine with 10% warmup, clip 1.0, global batch 256, micro batch 4, max length 1024, NLL,
 * loss over kept tokens of the global batch. Paths are left NULL. */
void train_config_default(TrainConfig *c);

typedef struct TrainResult {
    long steps_done;              /* optimiser steps completed (including resumed ones) */
    long skipped_nonfinite;
    bool interrupted;             /* stopped by SIGINT/SIGTERM after saving */
    double last_loss, last_nll, last_mean_p;
    double first_loss, first_nll, first_mean_p;  /* of the first step run in this call */
    char *final_checkpoint;       /* malloc'ed path, or NULL */
} TrainResult;

/* Runs training. 0 on success (also when interrupted cleanly), -1 with a message. */
int train_run(const TrainConfig *c, TrainResult *result);

#endif
