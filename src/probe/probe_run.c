/* The probe's teacher-forced pass (see probe.h): the SFT examples training would use, batched
 * one per row, forward to the final hidden state, and the LM head in probe mode, which gives
 * log p(target) and entropy of every response token without materialising all logits. */
#include "probe/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "model/forward.h"
#include "objective/lm_head.h"
#include "util/error.h"
#include "util/log.h"

static int longest_example(const SftDataset *d)
{
    int n = 0;
    for (size_t i = 0; i < d->n; i++)
        if (d->examples[i].len > n) n = d->examples[i].len;
    return n;
}

int probe_collect(const Model *m, const SftDataset *d, int batch, int pad_id, ProbeTokens *out)
{
    if (batch <= 0) return pf_fail("probe: batch must be positive, got %d", batch);
    if (d->n == 0) return pf_fail("probe: no examples");
    int T = longest_example(d);
    const ModelConfig *mc = &m->config;
    if (T > mc->max_seq_len)
        log_warn("probe: examples of %d tokens exceed the model's max_position_embeddings %d",
                 T, mc->max_seq_len);
    int B = (size_t)batch < d->n ? batch : (int)d->n;
    /* TODO: rows are padded to the longest example, so data with a few long rows (GSM8K: 713
     * tokens against a median near 300) spends much of the forward on padding; packing
     * (segments keep examples apart) or length-sorted batches would cut that. */

    DataLoader loader;
    if (loader_init(&loader, d, B, T, false, false, 0, pad_id) != 0) return -1;
    ModelActs *acts = NULL;
    Batch b;
    memset(&b, 0, sizeof b);
    float *log_p = NULL, *entropy = NULL;
    int rc = model_acts_init(&acts, mc, B, T);
    if (rc == 0) rc = batch_init(&b, B, T);
    if (rc == 0) {
        log_p = xalloc_floats((size_t)B * T);
        entropy = xalloc_floats((size_t)B * T);
    }

    long batches = loader_epoch_batches(&loader);
    for (long k = 0; rc == 0 && k < batches; k++) {
        float *hidden = NULL;
        rc = loader_next(&loader, &b);
        if (rc == 0)
            rc = model_forward(m, acts, b.tokens, b.positions, b.segments, B, T, &hidden);
        if (rc == 0)
            rc = lm_head_probe(hidden, m->params.lm_head, b.targets, B * T, mc->dim,
                               mc->vocab_size, NULL, log_p, entropy, NULL, NULL, NULL);
        for (int i = 0; rc == 0 && i < B * T; i++)
            if (b.targets[i] >= 0) probe_tokens_push(out, log_p[i], entropy[i], b.example[i]);
    }

    free(log_p);
    free(entropy);
    if (b.tokens) batch_free(&b);
    if (acts) model_acts_free(acts);
    loader_free(&loader);
    return rc;
}

void probe_config_default(ProbeConfig *c)
{
    memset(c, 0, sizeof *c);
    sft_options_default(&c->sft);
    c->sft.max_length = 1024;
    c->batch = 8;
}

int probe_run(const ProbeConfig *c, ProbeResult *r)
{
    memset(r, 0, sizeof *r);
    if (!c->model_path || !c->data_path) return pf_fail("probe: a model and data are required");
    double start = time_now();
    ModelBundle bundle;
    BundleOptions bo = c->bundle;
    bo.load_weights = true;
    if (bundle_open(c->model_path, &bo, &bundle) != 0) return -1;

    SftDataset data = {0};
    ProbeTokens tokens = {0};
    int rc = sft_load_jsonl(c->data_path, &bundle.chat, &bundle.encoder, &c->sft, &data,
                            &r->data_stats);
    int pad = bundle.encoder.eos_id >= 0 ? bundle.encoder.eos_id : 0;
    if (rc == 0) {
        rc = probe_collect(&bundle.model, &data, c->batch, pad, &tokens);
        if (rc == 0) rc = probe_summarize(tokens.log_p, tokens.entropy, tokens.n, &r->summary);
        if (rc != 0) pf_fail_context("%s", c->data_path);
    }

    if (rc == 0) {
        long *lines = xmalloc((data.n ? data.n : 1) * sizeof *lines);
        for (size_t i = 0; i < data.n; i++) lines[i] = data.examples[i].line;
        r->n_examples = data.n;
        r->examples = xcalloc(data.n ? data.n : 1, sizeof *r->examples);
        probe_examples(&tokens, lines, data.n, r->examples);
        free(lines);
    }
    if (rc == 0 && c->out_dir)
        rc = probe_write_files(c->out_dir, c->model_path, c->data_path, &r->summary,
                               r->examples, r->n_examples);
    r->seconds = time_now() - start;

    probe_tokens_free(&tokens);
    sft_dataset_free(&data);
    bundle_close(&bundle);
    return rc;
}

void probe_result_free(ProbeResult *r)
{
    free(r->examples);
    memset(r, 0, sizeof *r);
}
