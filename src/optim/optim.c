/* AdamW, gradient clipping and learning-rate schedules (see optim.h). */
#include "optim/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

void adamw_init(AdamW *opt, const AdamWConfig *config, size_t n,
                const unsigned char *decay_mask)
{
    memset(opt, 0, sizeof *opt);
    opt->config = *config;
    opt->n = n;
    opt->m = xalloc_floats(n);
    opt->v = xalloc_floats(n);
    if (decay_mask) {
        opt->decay = xmalloc(n);
        memcpy(opt->decay, decay_mask, n);
    }
}

void adamw_free(AdamW *opt)
{
    free(opt->m);
    free(opt->v);
    free(opt->decay);
    memset(opt, 0, sizeof *opt);
}

void adamw_step(AdamW *opt, float *params, const float *grads, float lr)
{
    const AdamWConfig c = opt->config;
    opt->step++;
    const float bias1 = 1.0f - powf(c.beta1, (float)opt->step);
    const float bias2 = 1.0f - powf(c.beta2, (float)opt->step);
    const float step_size = lr / bias1;
    const float inv_sqrt_bias2 = 1.0f / sqrtf(bias2);
    const float decay_factor = 1.0f - lr * c.weight_decay;
    float *m = opt->m, *v = opt->v;
    const unsigned char *decay = opt->decay;

    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < opt->n; i++) {
        float g = grads[i];
        float mi = c.beta1 * m[i] + (1.0f - c.beta1) * g;
        float vi = c.beta2 * v[i] + (1.0f - c.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float p = params[i];
        if (!decay || decay[i]) p *= decay_factor;
        float denom = sqrtf(vi) * inv_sqrt_bias2 + c.eps;
        params[i] = p - step_size * mi / denom;
    }
}

double grad_global_norm(const float *grads, size_t n)
{
    double sum = 0.0;
    #pragma omp parallel for reduction(+ : sum) schedule(static)
    for (size_t i = 0; i < n; i++) sum += (double)grads[i] * (double)grads[i];
    return sqrt(sum);
}

float grad_clip(float *grads, size_t n, double norm, double max_norm)
{
    if (max_norm <= 0.0 || !(norm > max_norm)) return 1.0f;
    /* As torch.nn.utils.clip_grad_norm_: scale = max_norm / (norm + 1e-6). */
    float scale = (float)(max_norm / (norm + 1e-6));
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) grads[i] *= scale;
    return scale;
}

int schedule_parse(const char *name, ScheduleKind *out)
{
    static const char *names[] = {"cosine", "constant", "wsd"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (ScheduleKind)i;
            return 0;
        }
    }
    return pf_fail("unknown schedule '%s' (valid: cosine, constant, wsd)", name);
}

const char *schedule_name(ScheduleKind kind)
{
    switch (kind) {
    case SCHEDULE_COSINE: return "cosine";
    case SCHEDULE_CONSTANT: return "constant";
    case SCHEDULE_WSD: return "wsd";
    }
    return "?";
}

float schedule_lr(const Schedule *s, long step)
{
    if (step < s->warmup_steps)
        return s->peak_lr * (float)(step) / (float)(s->warmup_steps > 0 ? s->warmup_steps : 1);

    double floor_lr = (double)s->peak_lr * s->min_lr_ratio;
    double span = (double)s->peak_lr - floor_lr;
    long decay_steps = s->total_steps - s->warmup_steps;
    switch (s->kind) {
    case SCHEDULE_CONSTANT:
        return s->peak_lr;
    case SCHEDULE_COSINE: {
        double progress = decay_steps > 0 ? (double)(step - s->warmup_steps) / decay_steps : 1.0;
        if (progress > 1.0) progress = 1.0;
        return (float)(floor_lr + span * 0.5 * (1.0 + cos(M_PI * progress)));
    }
    case SCHEDULE_WSD: {
        long decay_len = (long)ceil(s->decay_ratio * (double)s->total_steps - 1e-6);
        long decay_start = s->total_steps - decay_len;
        if (step < decay_start || decay_len <= 0) return s->peak_lr;
        double progress = (double)(step - decay_start) / (double)decay_len;
        if (progress > 1.0) progress = 1.0;
        return (float)(floor_lr + span * (1.0 - progress));
    }
    }
    return s->peak_lr;
}
