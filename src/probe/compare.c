/* Comparing two models on response tokens (see compare.h). Both run the same batches; the LM
 * head's divergence mode computes KL and JS chunk by chunk, its probe mode each model's
 * log p(target). Models of different widths are compared by zero-padding the narrower one's
 * hidden states and head columns to the wider width, which leaves its logits unchanged. */
#include "probe/compare.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "model/forward.h"
#include "model/load.h"
#include "objective/lm_head.h"
#include "util/error.h"
#include "util/log.h"

void compare_tokens_free(CompareTokens *t)
{
    free(t->kl_ab);
    free(t->kl_ba);
    free(t->js);
    free(t->log_p_a);
    free(t->log_p_b);
    free(t->example);
    memset(t, 0, sizeof *t);
}

static void tokens_push(CompareTokens *t, float kl_ab, float kl_ba, float js, float lpa,
                        float lpb, int example)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 4096;
        t->kl_ab = xrealloc(t->kl_ab, t->cap * sizeof(float));
        t->kl_ba = xrealloc(t->kl_ba, t->cap * sizeof(float));
        t->js = xrealloc(t->js, t->cap * sizeof(float));
        t->log_p_a = xrealloc(t->log_p_a, t->cap * sizeof(float));
        t->log_p_b = xrealloc(t->log_p_b, t->cap * sizeof(float));
        t->example = xrealloc(t->example, t->cap * sizeof(int));
    }
    size_t i = t->n++;
    t->kl_ab[i] = kl_ab;
    t->kl_ba[i] = kl_ba;
    t->js[i] = js;
    t->log_p_a[i] = lpa;
    t->log_p_b[i] = lpb;
    t->example[i] = example;
}

int compare_check_models(const Model *a, const Model *b, const char *name_a, const char *name_b)
{
    if (a->config.vocab_size != b->config.vocab_size)
        return pf_fail("compare: %s has a vocabulary of %d tokens but %s has %d; models can "
                       "only be compared token by token with the same vocabulary",
                       name_a, a->config.vocab_size, name_b, b->config.vocab_size);
    return 0;
}

int compare_check_tokenizers(const Tokenizer *a, const Tokenizer *b, const char *name_a,
                             const char *name_b)
{
    int va = tokenizer_vocab_size(a), vb = tokenizer_vocab_size(b);
    if (va != vb)
        return pf_fail("compare: tokenizer %s has %d tokens but %s has %d; the models do not "
                       "share a tokenizer", name_a, va, name_b, vb);
    StrBuf ta = {0}, tb = {0};
    int differ = -1;
    for (int id = 0; id < va && differ < 0; id++) {
        ta.len = tb.len = 0;
        int ea = tokenizer_decode(a, &id, 1, false, &ta);
        int eb = tokenizer_decode(b, &id, 1, false, &tb);
        if (ea != eb || ta.len != tb.len || (ta.len && memcmp(ta.data, tb.data, ta.len) != 0))
            differ = id;
    }
    strbuf_free(&ta);
    strbuf_free(&tb);
    if (differ >= 0)
        return pf_fail("compare: tokenizers %s and %s differ at token id %d; the models do "
                       "not share a tokenizer", name_a, name_b, differ);
    pf_error_clear();
    return 0;
}

/* (rows, c) -> (rows, c_out) with zero columns appended; c_out >= c. */
static float *pad_columns(const float *src, size_t rows, int c, int c_out, float *dst)
{
    if (c == c_out) return (float *)src;
    for (size_t r = 0; r < rows; r++) {
        memcpy(dst + r * c_out, src + r * c, (size_t)c * sizeof(float));
        memset(dst + r * c_out + c, 0, (size_t)(c_out - c) * sizeof(float));
    }
    return dst;
}

static int longest_example(const SftDataset *d)
{
    int n = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->examples[i].len > n) n = d->examples[i].len;
    return n;
}

/* Buffers of one comparison pass. */
typedef struct ComparePass {
    ModelActs *acts_a, *acts_b;
    Batch batch;
    float *weight_a, *weight_b;   /* (V, CW) heads at the common width (or the models' own) */
    float *pad_a, *pad_b;         /* (B*T, CW) padded hidden states, NULL at equal widths */
    float *kl_ab, *kl_ba, *js, *lp_a, *lp_b; /* (B*T) */
    int width;                    /* CW */
} ComparePass;

static void pass_free(ComparePass *p, const Model *a, const Model *b)
{
    if (p->acts_a) model_acts_free(p->acts_a);
    if (p->acts_b) model_acts_free(p->acts_b);
    if (p->batch.tokens) batch_free(&p->batch);
    if (p->weight_a != a->params.lm_head) free(p->weight_a);
    if (p->weight_b != b->params.lm_head) free(p->weight_b);
    free(p->pad_a);
    free(p->pad_b);
    free(p->kl_ab);
    free(p->kl_ba);
    free(p->js);
    free(p->lp_a);
    free(p->lp_b);
}

static int pass_init(ComparePass *p, const Model *a, const Model *b, int B, int T)
{
    memset(p, 0, sizeof *p);
    const ModelConfig *ca = &a->config, *cb = &b->config;
    int V = ca->vocab_size;
    p->width = ca->dim > cb->dim ? ca->dim : cb->dim;
    if (model_acts_init(&p->acts_a, ca, B, T) != 0) return -1;
    if (model_acts_init(&p->acts_b, cb, B, T) != 0) return -1;
    if (batch_init(&p->batch, B, T) != 0) return -1;
    size_t n = (size_t)B * T;
    p->weight_a = a->params.lm_head;
    p->weight_b = b->params.lm_head;
    if (ca->dim < p->width) {
        p->weight_a = pad_columns(a->params.lm_head, (size_t)V, ca->dim, p->width,
                                  xalloc_floats((size_t)V * p->width));
        p->pad_a = xalloc_floats(n * p->width);
    }
    if (cb->dim < p->width) {
        p->weight_b = pad_columns(b->params.lm_head, (size_t)V, cb->dim, p->width,
                                  xalloc_floats((size_t)V * p->width));
        p->pad_b = xalloc_floats(n * p->width);
    }
    p->kl_ab = xalloc_floats(n);
    p->kl_ba = xalloc_floats(n);
    p->js = xalloc_floats(n);
    p->lp_a = xalloc_floats(n);
    p->lp_b = xalloc_floats(n);
    return 0;
}

/* Forward of both models over the current batch, then the head's divergence and probe. */
static int pass_batch(ComparePass *p, const Model *a, const Model *b, CompareTokens *out)
{
    Batch *bt = &p->batch;
    int B = bt->B, T = bt->T, n = B * T, V = a->config.vocab_size;
    float *ha = NULL, *hb = NULL;
    if (model_forward(a, p->acts_a, bt->tokens, bt->positions, bt->segments, B, T, &ha) != 0)
        return -1;
    if (model_forward(b, p->acts_b, bt->tokens, bt->positions, bt->segments, B, T, &hb) != 0)
        return -1;
    ha = pad_columns(ha, (size_t)n, a->config.dim, p->width, p->pad_a);
    hb = pad_columns(hb, (size_t)n, b->config.dim, p->width, p->pad_b);
    if (lm_head_divergence(ha, p->weight_a, hb, p->weight_b, bt->targets, n, p->width, V, NULL,
                           p->kl_ab, p->kl_ba, p->js) != 0)
        return -1;
    if (lm_head_probe(ha, p->weight_a, bt->targets, n, p->width, V, NULL, p->lp_a, NULL, NULL,
                      NULL, NULL) != 0)
        return -1;
    if (lm_head_probe(hb, p->weight_b, bt->targets, n, p->width, V, NULL, p->lp_b, NULL, NULL,
                      NULL, NULL) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (bt->targets[i] >= 0)
            tokens_push(out, p->kl_ab[i], p->kl_ba[i], p->js[i], p->lp_a[i], p->lp_b[i],
                        bt->example[i]);
    return 0;
}

int compare_collect(const Model *a, const Model *b, const SftDataset *d, int batch,
                    int pad_id, CompareTokens *out)
{
    if (compare_check_models(a, b, "model A", "model B") != 0) return -1;
    if (batch <= 0) return pf_fail("compare: batch must be positive, got %d", batch);
    if (d->n == 0) return pf_fail("compare: no examples");
    int T = longest_example(d);
    int B = (size_t)batch < d->n ? batch : (int)d->n;
    DataLoader loader;
    if (loader_init(&loader, d, B, T, false, false, 0, pad_id) != 0) return -1;
    ComparePass p;
    int rc = pass_init(&p, a, b, B, T);
    long batches = loader_epoch_batches(&loader);
    for (long k = 0; rc == 0 && k < batches; k++) {
        rc = loader_next(&loader, &p.batch);
        if (rc == 0) rc = pass_batch(&p, a, b, out);
    }
    pass_free(&p, a, b);
    loader_free(&loader);
    return rc;
}

int compare_summarize(const CompareTokens *t, const long *lines, size_t n_examples,
                      CompareSummary *s, CompareExample *ex)
{
    memset(s, 0, sizeof *s);
    if (t->n == 0) return pf_fail("compare: no response tokens to compare");
    if (probe_summarize(t->log_p_a, NULL, t->n, &s->a) != 0) return -1;
    if (probe_summarize(t->log_p_b, NULL, t->n, &s->b) != 0) return -1;
    for (size_t e = 0; e < n_examples; e++)
        ex[e] = (CompareExample){.line = lines ? lines[e] : 0};
    for (size_t i = 0; i < t->n; i++) {
        s->kl_ab += t->kl_ab[i];
        s->kl_ba += t->kl_ba[i];
        s->js += t->js[i];
        int e = t->example[i];
        if (e < 0 || (size_t)e >= n_examples) continue;
        ex[e].tokens++;
        ex[e].kl_ab += t->kl_ab[i];
        ex[e].kl_ba += t->kl_ba[i];
        ex[e].js += t->js[i];
        ex[e].mean_p_a += exp((double)t->log_p_a[i]);
        ex[e].mean_p_b += exp((double)t->log_p_b[i]);
    }
    s->tokens = (long)t->n;
    s->kl_ab /= (double)t->n;
    s->kl_ba /= (double)t->n;
    s->js /= (double)t->n;
    for (size_t e = 0; e < n_examples; e++) {
        CompareExample *x = &ex[e];
        if (x->tokens == 0) {
            x->kl_ab = x->kl_ba = x->js = x->mean_p_a = x->mean_p_b = NAN;
            continue;
        }
        double k = (double)x->tokens;
        x->kl_ab /= k;
        x->kl_ba /= k;
        x->js /= k;
        x->mean_p_a /= k;
        x->mean_p_b /= k;
        s->examples++;
        s->kl_ab_example += x->kl_ab;
        s->kl_ba_example += x->kl_ba;
        s->js_example += x->js;
    }
    if (s->examples > 0) {
        s->kl_ab_example /= (double)s->examples;
        s->kl_ba_example /= (double)s->examples;
        s->js_example /= (double)s->examples;
    }
    return 0;
}

void compare_config_default(CompareConfig *c)
{
    memset(c, 0, sizeof *c);
    sft_options_default(&c->sft);
    c->sft.max_length = 1024;
    c->batch = 8;
}

/* Model B and its tokenizer, checked against A's. */
static int open_model_b(const CompareConfig *c, const ModelBundle *a, Model *m)
{
    char *tok_path = c->tokenizer_b ? xstrdup(c->tokenizer_b) : bundle_find_tokenizer(c->model_b);
    if (!tok_path)
        return pf_fail_context("compare: model B's tokenizer is needed to check that both "
                               "models share one (pass --tokenizer-b)");
    Tokenizer *tok = NULL;
    int rc = tokenizer_load(tok_path, &tok);
    if (rc == 0)
        rc = compare_check_tokenizers(a->tokenizer, tok, a->tokenizer_path, tok_path);
    if (tok) tokenizer_free(tok);
    free(tok_path);
    if (rc == 0) rc = model_load(c->model_b, m);
    if (rc == 0 && compare_check_models(&a->model, m, c->model_a, c->model_b) != 0) {
        model_free(m);
        rc = -1;
    }
    return rc;
}

int compare_run(const CompareConfig *c, CompareResult *r)
{
    memset(r, 0, sizeof *r);
    if (!c->model_a || !c->model_b || !c->data_path)
        return pf_fail("compare: two models and data are required");
    double start = time_now();
    ModelBundle a;
    BundleOptions bo = c->bundle;
    bo.load_weights = true;
    if (bundle_open(c->model_a, &bo, &a) != 0) return -1;
    Model b;
    memset(&b, 0, sizeof b);
    if (open_model_b(c, &a, &b) != 0) {
        bundle_close(&a);
        return -1;
    }

    SftDataset data = {0};
    CompareTokens tokens = {0};
    int rc = sft_load_jsonl(c->data_path, &a.chat, &a.encoder, &c->sft, &data, &r->data_stats);
    int pad = a.encoder.eos_id >= 0 ? a.encoder.eos_id : 0;
    if (rc == 0 && compare_collect(&a.model, &b, &data, c->batch, pad, &tokens) != 0)
        rc = pf_fail_context("%s", c->data_path);
    if (rc == 0) {
        long *lines = xmalloc((data.n ? data.n : 1) * sizeof *lines);
        for (size_t i = 0; i < data.n; i++) lines[i] = data.examples[i].line;
        r->n_examples = data.n;
        r->examples = xcalloc(data.n ? data.n : 1, sizeof *r->examples);
        rc = compare_summarize(&tokens, lines, data.n, &r->summary, r->examples);
        free(lines);
    }
    if (rc == 0 && c->out_dir) rc = compare_write_files(c, r);
    r->seconds = time_now() - start;

    compare_tokens_free(&tokens);
    sft_dataset_free(&data);
    model_free(&b);
    bundle_close(&a);
    return rc;
}

void compare_result_free(CompareResult *r)
{
    free(r->examples);
    memset(r, 0, sizeof *r);
}
