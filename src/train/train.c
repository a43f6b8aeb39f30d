/* The training loop (see train.h). One optimiser step: take up to `accum` micro batches from
 * the loader, run forward -> fused head + objective -> backward on each, accumulating
 * gradients, normalise them for the chosen loss normalisation, clip, and apply AdamW. */
#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/batch.h"
#include "model/forward.h"
#include "objective/lm_head.h"
#include "train/checkpoint.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/log.h"

void train_config_default(TrainConfig *c)
{
    memset(c, 0, sizeof *c);
    c->objective_name = "nll";
    sft_options_default(&c->sft);
    c->sft.max_length = 1024;
    c->epochs = 1;
    c->global_batch = 256;
    c->micro_batch = 4;
    c->loss_norm = LOSS_NORM_KEPT;
    c->lr = 5e-5f;
    c->warmup_ratio = 0.1f;
    c->schedule = SCHEDULE_COSINE;
    c->wsd_decay_ratio = 0.1f;
    c->adamw = (AdamWConfig){.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.01f};
    c->clip = 1.0f;
    c->seed = 42;
    c->shuffle = true;
    c->keep_last = 2;
    c->log_every = 1;
}

/* ---- Ctrl-C / SIGTERM: finish the current step, save, exit cleanly. ---- */

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig)
{
    stop_requested = 1;
    signal(sig, SIG_DFL); /* a second signal ends the process at once */
}

/* Everything a run holds, freed by trainer_free. */
typedef struct Trainer {
    const TrainConfig *cfg;
    Objective objective;
    ModelBundle bundle;
    SftDataset train_set, valid_set;
    DataLoader loader;
    ModelActs *acts;
    float *grads_memory;          /* (n_params) */
    ModelParams grads;
    float *d_hidden;              /* (B*T, C) */
    Batch *micro;                 /* (accum) batches of one step */
    AdamW opt;
    Schedule schedule;
    int accum, T;
    long total_steps, step;
    long total_batches, batches_done;
    long skipped_nonfinite;
    long steps_without_kept;      /* steps whose objective kept no token */
    FILE *metrics;
    char *last_checkpoint;
    double run_start;
    long step_at_start;
} Trainer;

/* Sums over the micro batches of one step (or over a validation pass). */
typedef struct StepStats {
    double loss_sum, nll_kept_sum, nll_response_sum, p_sum;
    double reference_loss;        /* sum over micro batches of loss_k / kept_k */
    long kept, response, tokens;
    int n_micro;
} StepStats;

static void stats_add(StepStats *s, const LmHeadStats *h)
{
    s->loss_sum += h->loss_sum;
    s->nll_kept_sum += h->nll_kept_sum;
    s->nll_response_sum += h->nll_response_sum;
    s->p_sum += h->p_response_sum;
    s->kept += h->kept_tokens;
    s->response += h->response_tokens;
    if (h->kept_tokens > 0) s->reference_loss += h->loss_sum / (double)h->kept_tokens;
    s->n_micro++;
}

/* The objective's value as the loss normalisation defines it. */
static double stats_objective(const StepStats *s, LossNorm norm)
{
    switch (norm) {
    case LOSS_NORM_KEPT: return s->kept ? s->loss_sum / (double)s->kept : 0.0;
    case LOSS_NORM_RESPONSE: return s->response ? s->loss_sum / (double)s->response : 0.0;
    case LOSS_NORM_REFERENCE: return s->n_micro ? s->reference_loss / s->n_micro : 0.0;
    }
    return 0.0;
}

static double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

static long batch_real_tokens(const Batch *b)
{
    long n = 0;
    for (long i = 0; i < (long)b->B * b->T; i++) n += b->example[i] >= 0;
    return n;
}

/* ---- setup ---- */

static int load_data(Trainer *t)
{
    const TrainConfig *c = t->cfg;
    SftStats stats;
    if (sft_load_jsonl(c->data_path, &t->bundle.chat, &t->bundle.encoder, &c->sft,
                       &t->train_set, &stats) != 0)
        return -1;

    StrBuf summary = {0};
    sft_stats_summary(&stats, &summary);
    long skipped = 0;
    for (int i = 0; i < SFT_SKIP_COUNT; i++) skipped += stats.skipped[i];
    if (skipped > 0 || stats.truncated > 0)
        fprintf(stderr, "priorft train: %s: %s", c->data_path, summary.data ? summary.data : "");
    strbuf_free(&summary);

    if (c->valid_path) {
        SftStats vstats;
        if (sft_load_jsonl(c->valid_path, &t->bundle.chat, &t->bundle.encoder, &c->sft,
                           &t->valid_set, &vstats) != 0)
            return -1;
    } else if (c->valid_fraction > 0) {
        if (sft_dataset_split(&t->train_set, c->valid_fraction, 0, c->seed ^ 0x5eed,
                              &t->valid_set) != 0)
            return pf_fail_context("%s: validation split", c->data_path);
    }
    return 0;
}

/* Longest example of a data set (tokens). */
static int longest(const SftDataset *d)
{
    int n = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->examples[i].len > n) n = d->examples[i].len;
    return n;
}

static unsigned char *decay_mask(const Model *m, bool decay_1d)
{
    unsigned char *mask = xmalloc(m->n_params);
    memset(mask, 1, m->n_params);
    if (decay_1d) return mask;
    TensorRef *list = NULL;
    int n = model_tensor_list(&m->config, &list);
    for (int i = 0; i < n; i++)
        if (list[i].ndim == 1) memset(mask + list[i].offset, 0, list[i].count);
    free(list);
    return mask;
}

static int check_config(const TrainConfig *c)
{
    if (!c->model_path || !c->data_path || !c->out_dir)
        return pf_fail("train: --model, --data and --out are required");
    if (c->micro_batch <= 0 || c->global_batch <= 0 || c->global_batch % c->micro_batch != 0)
        return pf_fail("train: global batch %d must be a positive multiple of micro batch %d",
                       c->global_batch, c->micro_batch);
    if (c->epochs <= 0 && c->max_steps <= 0)
        return pf_fail("train: need epochs > 0 or max steps > 0");
    if (!(c->lr >= 0) || !(c->warmup_ratio >= 0 && c->warmup_ratio <= 1))
        return pf_fail("train: lr must be >= 0 and warmup ratio in [0, 1]");
    return 0;
}

static int trainer_setup(Trainer *t, const TrainConfig *c)
{
    t->cfg = c;
    if (check_config(c) != 0) return -1;
    if (objective_parse(c->objective_name, &t->objective) != 0) return -1;

    BundleOptions bo = c->bundle;
    bo.load_weights = true;
    if (bundle_open(c->model_path, &bo, &t->bundle) != 0) return -1;
    if (load_data(t) != 0) return -1;

    const ModelConfig *mc = &t->bundle.model.config;
    int T = longest(&t->train_set);
    if (longest(&t->valid_set) > T) T = longest(&t->valid_set);
    if (c->packing && c->sft.max_length > 0) T = c->sft.max_length;
    if (T > mc->max_seq_len)
        log_warn("examples of %d tokens exceed the model's max_position_embeddings %d", T,
                 mc->max_seq_len);
    t->T = T;
    t->accum = c->global_batch / c->micro_batch;
    int pad = t->bundle.encoder.eos_id >= 0 ? t->bundle.encoder.eos_id : 0;
    if (loader_init(&t->loader, &t->train_set, c->micro_batch, T, c->packing, c->shuffle,
                    c->seed, pad) != 0)
        return pf_fail_context("%s", c->data_path);

    t->total_batches = loader_epoch_batches(&t->loader) * (c->epochs > 0 ? c->epochs : 1);
    t->total_steps = (t->total_batches + t->accum - 1) / t->accum;
    if (c->max_steps > 0) {
        t->total_steps = c->max_steps;
        t->total_batches = c->max_steps * t->accum;
    }

    if (model_acts_init_opt(&t->acts, mc, c->micro_batch, T, c->recompute) != 0) return -1;
    const Model *m = &t->bundle.model;
    t->grads_memory = xalloc_floats(m->n_params);
    model_params_bind(mc, t->grads_memory, &t->grads);
    t->d_hidden = xalloc_floats((size_t)c->micro_batch * T * mc->dim);
    t->micro = xcalloc((size_t)t->accum, sizeof *t->micro);
    for (int k = 0; k < t->accum; k++)
        if (batch_init(&t->micro[k], c->micro_batch, T) != 0) return -1;

    unsigned char *mask = decay_mask(m, c->decay_norms_and_biases);
    adamw_init(&t->opt, &c->adamw, m->n_params, mask);
    free(mask);

    t->schedule = (Schedule){
        .kind = c->schedule, .peak_lr = c->lr, .min_lr_ratio = c->min_lr_ratio,
        .total_steps = t->total_steps,
        .warmup_steps = (long)ceil(c->warmup_ratio * (double)t->total_steps - 1e-9),
        .decay_ratio = c->wsd_decay_ratio,
    };
    return 0;
}

static void trainer_free(Trainer *t)
{
    if (t->micro)
        for (int k = 0; k < t->accum; k++) batch_free(&t->micro[k]);
    free(t->micro);
    free(t->d_hidden);
    free(t->grads_memory);
    if (t->acts) model_acts_free(t->acts);
    adamw_free(&t->opt);
    loader_free(&t->loader);
    sft_dataset_free(&t->train_set);
    sft_dataset_free(&t->valid_set);
    bundle_close(&t->bundle);
    if (t->metrics) fclose(t->metrics);
    free(t->last_checkpoint);
}

/* ---- state in checkpoints ---- */

/* The settings a resumed run must share with the run it continues: they decide the data
 * order, the schedule and the loss. */
static json_t *trainer_settings(const Trainer *t)
{
    const TrainConfig *c = t->cfg;
    char objective[128];
    objective_name(&t->objective, objective, sizeof objective);
    return json_pack("{s:s, s:s, s:I, s:I, s:b, s:b, s:I, s:I}", "objective", objective,
                     "loss_norm", loss_norm_name(c->loss_norm), "global_batch",
                     (json_int_t)c->global_batch, "seed", (json_int_t)c->seed, "packing",
                     c->packing, "shuffle", c->shuffle, "total_steps",
                     (json_int_t)t->total_steps, "max_length", (json_int_t)c->sft.max_length);
}

/* Names the first setting that differs between a checkpoint and this run. */
static int check_settings(const Trainer *t, json_t *saved, const char *dir)
{
    json_t *now = trainer_settings(t);
    const char *key;
    json_t *value;
    int rc = 0;
    json_object_foreach(now, key, value) {
        json_t *old = json_object_get(saved, key);
        if (old && json_equal(old, value)) continue;
        char *a = old ? json_dumps(old, JSON_ENCODE_ANY) : NULL;
        char *b = json_dumps(value, JSON_ENCODE_ANY);
        rc = pf_fail("%s: cannot resume: %s was %s there and is %s now (resume needs the same "
                     "settings; use a new --out to change them)", dir, key,
                     a ? a : "missing", b ? b : "?");
        free(a);
        free(b);
        break;
    }
    json_decref(now);
    return rc;
}

static json_t *trainer_state(const Trainer *t)
{
    LoaderState ls = loader_get_state(&t->loader);
    return json_pack("{s:I, s:I, s:{s:I, s:I}, s:I, s:s, s:I, s:f, s:o}", "step",
                     (json_int_t)t->step, "batches_done", (json_int_t)t->batches_done,
                     "loader", "epoch", (json_int_t)ls.epoch, "position",
                     (json_int_t)ls.position, "skipped_nonfinite",
                     (json_int_t)t->skipped_nonfinite, "data", t->cfg->data_path,
                     "train_examples", (json_int_t)t->train_set.n, "lr", (double)t->cfg->lr,
                     "settings", trainer_settings(t));
}

static int save_checkpoint(Trainer *t)
{
    json_t *state = trainer_state(t);
    char *path = NULL;
    int rc = checkpoint_save(t->cfg->out_dir, t->step, &t->bundle.model, &t->opt,
                             t->bundle.tokenizer_path, state, t->cfg->keep_last, &path);
    json_decref(state);
    if (rc == 0) {
        free(t->last_checkpoint);
        t->last_checkpoint = path;
        log_info("saved %s", path);
    }
    return rc;
}

static int restore(Trainer *t, const char *dir)
{
    json_t *state = NULL;
    Model m;
    if (checkpoint_load(dir, &m, &t->opt, &state) != 0) return -1;
    int rc = 0;
    const ModelConfig *a = &m.config, *b = &t->bundle.model.config;
    if (m.n_params != t->bundle.model.n_params || a->dim != b->dim ||
        a->n_layers != b->n_layers || a->n_heads != b->n_heads ||
        a->n_kv_heads != b->n_kv_heads || a->hidden_dim != b->hidden_dim ||
        a->vocab_size != b->vocab_size || a->tied_embeddings != b->tied_embeddings)
        rc = pf_fail("%s: checkpoint's model shape differs from %s", dir, t->cfg->model_path);
    json_int_t examples = json_integer_value(json_object_get(state, "train_examples"));
    if (rc == 0 && examples != (json_int_t)t->train_set.n)
        rc = pf_fail("%s: checkpoint was trained on %lld examples, this data has %zu "
                     "(resume needs the same data and options)", dir, (long long)examples,
                     t->train_set.n);
    if (rc == 0) rc = check_settings(t, json_object_get(state, "settings"), dir);
    json_t *loader = json_object_get(state, "loader");
    LoaderState ls = {
        .epoch = json_integer_value(json_object_get(loader, "epoch")),
        .position = json_integer_value(json_object_get(loader, "position")),
    };
    if (rc == 0) rc = loader_set_state(&t->loader, ls);
    if (rc == 0) {
        memcpy(t->bundle.model.params_memory, m.params_memory, m.n_params * sizeof(float));
        t->step = (long)json_integer_value(json_object_get(state, "step"));
        t->batches_done = (long)json_integer_value(json_object_get(state, "batches_done"));
        t->skipped_nonfinite =
            (long)json_integer_value(json_object_get(state, "skipped_nonfinite"));
        t->last_checkpoint = xstrdup(dir);
    }
    model_free(&m);
    json_decref(state);
    return rc;
}

/* Keeps the metrics of steps up to `step` (a resumed run rewrites what follows). */
static int open_metrics(Trainer *t, long step)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->cfg->out_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *old = fopen(path, "r");
    if (old) {
        FILE *out = fopen(tmp, "w");
        if (!out) {
            fclose(old);
            return pf_fail("%s: cannot write: %s", tmp, strerror(errno));
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, old) > 0) {
            json_t *row = json_loads(line, 0, NULL);
            long s = row ? (long)json_integer_value(json_object_get(row, "step")) : -1;
            if (row && s <= step) fputs(line, out);
            json_decref(row);
        }
        free(line);
        fclose(old);
        if (fclose(out) != 0 || rename(tmp, path) != 0)
            return pf_fail("%s: cannot rewrite: %s", path, strerror(errno));
    }
    t->metrics = fopen(path, "a");
    if (!t->metrics) return pf_fail("%s: cannot open for append: %s", path, strerror(errno));
    return 0;
}

/* ---- one step ---- */

static int run_micro(Trainer *t, Batch *b, float grad_scale, bool divide_by_kept,
                     bool backward, StepStats *s)
{
    const Model *m = &t->bundle.model;
    const ModelConfig *mc = &m->config;
    float *hidden = NULL;
    if (model_forward(m, t->acts, b->tokens, b->positions, b->segments, b->B, b->T, &hidden) != 0)
        return -1;

    LmHeadOptions opts = {.divide_by_kept = divide_by_kept};
    LmHeadStats hs;
    int n = b->B * b->T;
    if (lm_head_forward_backward(hidden, m->params.lm_head, b->targets, n, mc->dim,
                                 mc->vocab_size, &t->objective, grad_scale, &opts,
                                 backward ? t->d_hidden : NULL,
                                 backward ? t->grads.lm_head : NULL, &hs) != 0)
        return -1;
    stats_add(s, &hs);
    s->tokens += batch_real_tokens(b);
    if (!backward) return 0;
    return model_backward(m, t->acts, t->d_hidden, &t->grads);
}

static void scale_grads(Trainer *t, float scale)
{
    float *g = t->grads_memory;
    size_t n = t->bundle.model.n_params;
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) g[i] *= scale;
}

/* Forward, head and backward over this step's micro batches; gradients normalised. */
static int accumulate_step(Trainer *t, int n_micro, StepStats *s)
{
    const LossNorm norm = t->cfg->loss_norm;
    long response_global = 0;
    for (int k = 0; k < n_micro; k++) response_global += t->micro[k].kept_tokens;

    memset(t->grads_memory, 0, t->bundle.model.n_params * sizeof(float));
    for (int k = 0; k < n_micro; k++) {
        float scale = 1.0f;
        bool per_micro = false;
        if (norm == LOSS_NORM_RESPONSE)
            scale = (float)loss_norm_scale(norm, 0, response_global, 0, n_micro);
        else if (norm == LOSS_NORM_REFERENCE) {
            scale = 1.0f / (float)n_micro;
            per_micro = true;
        }
        if (run_micro(t, &t->micro[k], scale, per_micro, true, s) != 0) return -1;
    }
    /* Kept counts of thresholded objectives are known only now: gradients were summed with
     * scale 1 and are divided here (exact, everything is linear in the scale). */
    if (norm == LOSS_NORM_KEPT && s->kept > 0) scale_grads(t, (float)(1.0 / (double)s->kept));
    return 0;
}

static int validate(Trainer *t, StepStats *s)
{
    memset(s, 0, sizeof *s);
    if (t->valid_set.n == 0) return 0;
    DataLoader vl;
    int pad = t->bundle.encoder.eos_id >= 0 ? t->bundle.encoder.eos_id : 0;
    if (loader_init(&vl, &t->valid_set, t->cfg->micro_batch, t->T, t->cfg->packing, false, 0,
                    pad) != 0)
        return -1;
    long batches = loader_epoch_batches(&vl);
    Batch b;
    int rc = batch_init(&b, t->cfg->micro_batch, t->T);
    for (long i = 0; rc == 0 && i < batches; i++) {
        rc = loader_next(&vl, &b);
        if (rc == 0) rc = run_micro(t, &b, 0.0f, false, false, s);
    }
    batch_free(&b);
    loader_free(&vl);
    return rc;
}

static void format_eta(double seconds, char *buf, size_t n)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    else snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
}

/* A one-line bar on a terminal, redrawn in place between the logged steps. */
static void draw_progress(long step, long total, const char *eta)
{
    char bar[31];
    int filled = total > 0 ? (int)(30 * step / total) : 0;
    for (int i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K[%s] step %ld/%ld  eta %s", bar, step, total, eta);
}

static void log_step(Trainer *t, const StepStats *s, double objective, float lr, double norm,
                     double seconds, bool skipped)
{
    double nll = safe_div(s->nll_kept_sum, (double)s->kept);
    double mean_p = safe_div(s->p_sum, (double)s->response);
    double kept_frac = safe_div((double)s->kept, (double)s->response);
    double tps = safe_div((double)s->tokens, seconds);

    fprintf(t->metrics,
            "{\"step\": %ld, \"epoch\": %.4f, \"objective\": %.7g, \"nll\": %.7g, "
            "\"nll_response\": %.7g, \"mean_p\": %.7g, \"kept_fraction\": %.6g, "
            "\"kept_tokens\": %ld, \"response_tokens\": %ld, \"lr\": %.6g, \"grad_norm\": %.6g, "
            "\"tokens_per_s\": %.1f, \"step_s\": %.3f, \"skipped\": %s}\n",
            t->step, (double)t->batches_done / (double)loader_epoch_batches(&t->loader),
            objective, nll, safe_div(s->nll_response_sum, (double)s->response), mean_p,
            kept_frac, s->kept, s->response, lr, norm, tps, seconds, skipped ? "true" : "false");
    fflush(t->metrics);

    if (t->cfg->quiet) return;
    double elapsed = time_now() - t->run_start;
    long done = t->step - t->step_at_start;
    char eta[32];
    format_eta(done > 0 ? elapsed / done * (double)(t->total_steps - t->step) : 0, eta,
               sizeof eta);
    bool tty = isatty(STDERR_FILENO);
    if (t->step % t->cfg->log_every != 0 && t->step != t->total_steps) {
        if (tty) draw_progress(t->step, t->total_steps, eta);
        return;
    }
    fprintf(stderr,
            "%sstep %ld/%ld  objective %.4f  nll %.4f  mean_p %.4f  kept %.3f  lr %.3e  "
            "grad_norm %.3f  %.0f tok/s  eta %s%s\n",
            tty ? "\r\033[K" : "", t->step, t->total_steps, objective, nll, mean_p, kept_frac,
            lr, norm, tps, eta, skipped ? "  (skipped: non-finite)" : "");
}

static void log_validation(Trainer *t, const StepStats *s)
{
    double objective = stats_objective(s, t->cfg->loss_norm);
    double nll = safe_div(s->nll_response_sum, (double)s->response);
    double mean_p = safe_div(s->p_sum, (double)s->response);
    fprintf(t->metrics,
            "{\"step\": %ld, \"split\": \"valid\", \"objective\": %.7g, \"nll\": %.7g, "
            "\"mean_p\": %.7g, \"response_tokens\": %ld}\n",
            t->step, objective, nll, mean_p, s->response);
    fflush(t->metrics);
    if (!t->cfg->quiet)
        fprintf(stderr, "%svalid @ step %ld  objective %.4f  nll %.4f  mean_p %.4f  (%ld tokens)\n",
                isatty(STDERR_FILENO) ? "\r\033[K" : "", t->step, objective, nll, mean_p,
                s->response);
}

/* Runs one optimiser step; *stop set when the run must end (non-finite without skipping). */
static int train_step(Trainer *t, TrainResult *r)
{
    double start = time_now();
    int n_micro = 0;
    for (; n_micro < t->accum && t->batches_done < t->total_batches; n_micro++) {
        if (loader_next(&t->loader, &t->micro[n_micro]) != 0) return -1;
        t->batches_done++;
    }
    StepStats s = {0};
    if (accumulate_step(t, n_micro, &s) != 0) return -1;

    double objective = stats_objective(&s, t->cfg->loss_norm);
    double norm = grad_global_norm(t->grads_memory, t->bundle.model.n_params);
    if (s.kept == 0 && s.response > 0 && t->steps_without_kept++ == 0)
        fprintf(stderr, "priorft train: warning: step %ld: objective %s kept none of %ld "
                "response tokens: no gradient (weight decay still applies); check the "
                "threshold\n", t->step + 1, t->cfg->objective_name, s.response);
    float lr = schedule_lr(&t->schedule, t->step);
    bool finite = isfinite(objective) && isfinite(norm);
    if (!finite && !t->cfg->skip_nonfinite) {
        return pf_fail("step %ld: non-finite %s (objective %g, gradient norm %g); stopping. "
                       "The last good checkpoint is %s. %s, or pass --skip-nonfinite to skip "
                       "such steps", t->step + 1, isfinite(objective) ? "gradient" : "loss",
                       objective, norm, t->last_checkpoint ? t->last_checkpoint : "(none yet)",
                       t->step == t->step_at_start
                           ? "The model gives non-finite values before any update: check its "
                             "weights"
                           : "Lower --lr");
    }
    if (finite) {
        grad_clip(t->grads_memory, t->bundle.model.n_params, norm, t->cfg->clip);
        adamw_step(&t->opt, t->bundle.model.params_memory, t->grads_memory, lr);
    } else {
        t->skipped_nonfinite++;
        r->skipped_nonfinite = t->skipped_nonfinite;
    }
    t->step++;

    double nll = safe_div(s.nll_kept_sum, (double)s.kept);
    double mean_p = safe_div(s.p_sum, (double)s.response);
    if (t->step == t->step_at_start + 1) {
        r->first_loss = objective;
        r->first_nll = nll;
        r->first_mean_p = mean_p;
    }
    r->last_loss = objective;
    r->last_nll = nll;
    r->last_mean_p = mean_p;
    log_step(t, &s, objective, lr, norm, time_now() - start, !finite);
    return 0;
}

static int run_loop(Trainer *t, TrainResult *r)
{
    const TrainConfig *c = t->cfg;
    while (t->step < t->total_steps && !stop_requested) {
        if (c->stop_after > 0 && t->step - t->step_at_start >= c->stop_after) {
            r->interrupted = true;
            return save_checkpoint(t);
        }
        if (train_step(t, r) != 0) return -1;
        if (c->valid_every > 0 && t->step % c->valid_every == 0 && t->step < t->total_steps) {
            StepStats vs;
            if (validate(t, &vs) != 0) return -1;
            if (vs.response > 0) log_validation(t, &vs);
        }
        if (c->save_every > 0 && t->step % c->save_every == 0 && t->step < t->total_steps &&
            save_checkpoint(t) != 0)
            return -1;
    }
    if (stop_requested) {
        r->interrupted = true;
        fprintf(stderr, "priorft train: interrupted at step %ld; saving a checkpoint\n",
                t->step);
    } else if (t->valid_set.n > 0) {
        StepStats vs;
        if (validate(t, &vs) != 0) return -1;
        if (vs.response > 0) log_validation(t, &vs);
    }
    return save_checkpoint(t);
}

int train_run(const TrainConfig *c, TrainResult *result)
{
    memset(result, 0, sizeof *result);
    Trainer t;
    memset(&t, 0, sizeof t);
    /* The output folder first: a typo there should not cost the data's tokenization. */
    int rc = c->out_dir && mkdir(c->out_dir, 0755) != 0 && errno != EEXIST
                 ? pf_fail("%s: cannot create output folder: %s", c->out_dir, strerror(errno))
                 : 0;
    if (rc == 0) rc = trainer_setup(&t, c);
    if (rc == 0) checkpoint_clean_partial(c->out_dir);
    if (rc == 0 && (c->resume || c->resume_dir)) {
        char *dir = c->resume_dir ? xstrdup(c->resume_dir) : checkpoint_find_latest(c->out_dir);
        rc = dir ? restore(&t, dir) : -1;
        if (rc == 0 && !c->quiet)
            fprintf(stderr, "priorft train: resuming from %s at step %ld\n", dir, t.step);
        free(dir);
    }
    if (rc == 0) rc = open_metrics(&t, t.step);

    if (rc == 0) {
        if (!c->quiet)
            fprintf(stderr, "priorft train: %zu examples, %zu validation, %ld steps of %d x %d "
                    "rows x %d tokens, objective %s\n", t.train_set.n, t.valid_set.n,
                    t.total_steps, t.accum, c->micro_batch, t.T, c->objective_name);
        stop_requested = 0;
        void (*old_int)(int) = signal(SIGINT, on_signal);
        void (*old_term)(int) = signal(SIGTERM, on_signal);
        t.run_start = time_now();
        t.step_at_start = t.step;
        rc = run_loop(&t, result);
        signal(SIGINT, old_int);
        signal(SIGTERM, old_term);
    }
    result->steps_done = t.step;
    result->skipped_nonfinite = t.skipped_nonfinite;
    if (rc == 0 && t.last_checkpoint) result->final_checkpoint = xstrdup(t.last_checkpoint);
    trainer_free(&t);
    return rc;
}
