/* AdamW over flat parameter buffers, gradient clipping by global norm, and learning-rate
 * schedules (cosine, constant, warmup-stable-decay), each with linear warmup. */
#ifndef PRIORFT_OPTIM_OPTIM_H
#define PRIORFT_OPTIM_OPTIM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct AdamWConfig {
    float beta1, beta2, eps;
    float weight_decay;       /* decoupled, as torch.optim.AdamW */
} AdamWConfig;

typedef struct AdamW {
    AdamWConfig config;
    size_t n;                 /* parameters */
    float *m;                 /* (n) first moment */
    float *v;                 /* (n) second moment */
    unsigned char *decay;     /* (n) 1 where weight decay applies, or NULL for everywhere */
    long step;                /* updates done so far */
} AdamW;

/* Allocates zeroed moments for n parameters. decay_mask may be NULL (decay everywhere); it is
 * copied. */
void adamw_init(AdamW *opt, const AdamWConfig *config, size_t n,
                const unsigned char *decay_mask);
void adamw_free(AdamW *opt);

/* One update of params (n) from grads (n) at learning rate lr, with PyTorch's AdamW
 * semantics: p *= 1 - lr*wd; p -= lr * mhat / (sqrt(vhat) + eps). */
void adamw_step(AdamW *opt, float *params, const float *grads, float lr);

/* Global L2 norm of grads (n), computed in double. NaN or Inf when any gradient is. */
double grad_global_norm(const float *grads, size_t n);

/* Scales grads so that their global norm is at most max_norm (no-op when max_norm <= 0 or the
 * norm is already below). Returns the scale applied. */
float grad_clip(float *grads, size_t n, double norm, double max_norm);

typedef enum { SCHEDULE_COSINE = 0, SCHEDULE_CONSTANT, SCHEDULE_WSD } ScheduleKind;

typedef struct Schedule {
    ScheduleKind kind;
    float peak_lr;
    float min_lr_ratio;       /* floor of the decay, as a fraction of peak_lr (default 0) */
    long total_steps;
    long warmup_steps;
    float decay_ratio;        /* WSD: fraction of total steps spent decaying at the end */
} Schedule;

/* Parses "cosine", "constant" or "wsd"; returns -1 with a message otherwise. */
int schedule_parse(const char *name, ScheduleKind *out);
const char *schedule_name(ScheduleKind kind);

/* Learning rate for update number `step` (0-based), as transformers' schedulers: linear
 * warmup from 0 over warmup_steps, then cosine to min_lr, constant, or WSD (stable, then
 * linear decay to min_lr over the last decay_ratio of the steps). */
float schedule_lr(const Schedule *s, long step);

#endif
