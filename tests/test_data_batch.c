/* Batching and packing: hand-checked targets/positions/segments; packing gives every example
 * the same tokens, targets and positions as padding, never a target across examples, and the
 * same count of response tokens; the loader covers each example once per epoch in a seeded
 * order and resumes exactly from a saved state; and with the engine, a tiny random model gives
 * each packed example the same per-token NLL as the same example alone in a padded row. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/batch.h"
#include "model/forward.h"
#include "testutil.h"
#include "util/error.h"
#include "util/rng.h"

/* n examples with lengths in [2, maxlen], tokens in [1, V), a prompt of random length then a
 * response under the mask; example i's tokens start with i % V so they are told apart. */
static void random_dataset(SftDataset *d, int n, int maxlen, int V, uint64_t seed)
{
    Rng rng;
    rng_seed(&rng, seed);
    int tok[512];
    uint8_t mask[512];
    for (int i = 0; i < n; i++) {
        int len = 2 + (int)rng_below(&rng, (uint64_t)(maxlen - 1));
        int prompt = 1 + (int)rng_below(&rng, (uint64_t)(len - 1)); /* at least one response */
        for (int k = 0; k < len; k++) {
            tok[k] = 1 + (int)rng_below(&rng, (uint64_t)(V - 1));
            mask[k] = k >= prompt;
        }
        sft_dataset_push(d, tok, mask, len, i + 1);
    }
}

static void test_hand_checked(void **state)
{
    (void)state;
    SftDataset d = {0};
    int a[] = {10, 11, 12, 13};
    uint8_t am[] = {0, 0, 1, 1};
    int b[] = {20, 21, 22};
    uint8_t bm[] = {0, 1, 1};
    sft_dataset_push(&d, a, am, 4, 1);
    sft_dataset_push(&d, b, bm, 3, 2);
    Batch batch;
    assert_int_equal(batch_init(&batch, 2, 8), 0);
    size_t order[] = {0, 1};

    /* Packing: both in row 0, row 1 all padding. */
    assert_int_equal(batch_fill(&batch, &d, order, 2, true, 0), 2);
    int tokens[] = {10, 11, 12, 13, 20, 21, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    int targets[] = {-1, 12, 13, -1, 21, 22, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    int positions[] = {0, 1, 2, 3, 0, 1, 2, 0, 0, 1, 2, 3, 4, 5, 6, 7};
    int segments[] = {0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int t = 0; t < 16; t++) {
        assert_int_equal(batch.tokens[t], tokens[t]);
        assert_int_equal(batch.targets[t], targets[t]);
        assert_int_equal(batch.positions[t], positions[t]);
        assert_int_equal(batch.segments[t], segments[t]);
    }
    assert_int_equal(batch.kept_tokens, 4);
    assert_int_equal(batch.n_examples, 2);

    /* Padding: one per row. */
    assert_int_equal(batch_fill(&batch, &d, order, 2, false, 5), 2);
    int ptargets[] = {-1, 12, 13, -1, -1, -1, -1, -1, 21, 22, -1, -1, -1, -1, -1, -1};
    int psegments[] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1};
    for (int t = 0; t < 16; t++) {
        assert_int_equal(batch.targets[t], ptargets[t]);
        assert_int_equal(batch.segments[t], psegments[t]);
    }
    assert_int_equal(batch.tokens[7], 5);
    assert_int_equal(batch.positions[11], 0);

    /* Padding with more examples than rows stops at B; packing stops at the first misfit. */
    size_t three[] = {0, 1, 0};
    assert_int_equal(batch_fill(&batch, &d, three, 3, false, 0), 2);
    Batch small;
    assert_int_equal(batch_init(&small, 1, 6), 0);
    assert_int_equal(batch_fill(&small, &d, three, 3, true, 0), 1);
    batch_free(&small);
    batch_free(&batch);
    sft_dataset_free(&d);
}

/* Per example: tokens/targets/positions gathered from a batch, in order of position. */
static void check_example_rows(const Batch *b, const SftDataset *d, int *seen)
{
    for (int r = 0; r < b->B; r++) {
        for (int t = 0; t < b->T; t++) {
            size_t i = (size_t)r * b->T + t;
            int ex = b->example[i];
            if (ex < 0) {
                assert_int_equal(b->targets[i], -1);
                continue;
            }
            const SftExample *e = &d->examples[ex];
            int p = b->positions[i];
            assert_true(p >= 0 && p < e->len);
            if (p == 0) seen[ex]++;
            assert_int_equal(b->tokens[i], e->tokens[p]);
            int want = (p + 1 < e->len && e->loss_mask[p + 1]) ? e->tokens[p + 1] : -1;
            assert_int_equal(b->targets[i], want);
            if (b->targets[i] >= 0) {
                /* the target is the next token of the same example, same segment */
                assert_true(t + 1 < b->T);
                assert_int_equal(b->example[i + 1], ex);
                assert_int_equal(b->segments[i + 1], b->segments[i]);
                assert_int_equal(b->tokens[i + 1], b->targets[i]);
            }
            if (t > 0 && b->example[i - 1] != ex) assert_int_equal(p, 0);
            if (t > 0 && b->segments[i - 1] == b->segments[i])
                assert_int_equal(b->example[i - 1], ex);
        }
    }
}

static void test_packing_matches_padding(void **state)
{
    (void)state;
    SftDataset d = {0};
    random_dataset(&d, 200, 40, 50, 1);
    long kept_total = 0;
    for (size_t i = 0; i < d.n; i++) kept_total += sft_example_kept(&d.examples[i]);

    for (int pack = 0; pack < 2; pack++) {
        DataLoader l;
        assert_int_equal(loader_init(&l, &d, 4, 64, pack, true, 9, 0), 0);
        Batch b;
        assert_int_equal(batch_init(&b, 4, 64), 0);
        int *seen = calloc(d.n, sizeof *seen);
        long kept = 0, batches = 0, tokens_used = 0;
        do {
            assert_int_equal(loader_next(&l, &b), 0);
            check_example_rows(&b, &d, seen);
            kept += b.kept_tokens;
            for (int i = 0; i < b.B * b.T; i++) tokens_used += b.example[i] >= 0;
            batches++;
        } while (l.state.position < (int64_t)d.n);
        for (size_t i = 0; i < d.n; i++) assert_int_equal(seen[i], 1);
        assert_int_equal(kept, kept_total);
        assert_int_equal(batches, loader_epoch_batches(&l));
        fprintf(stderr, "%s: %ld batches of 4 x 64 for 200 examples, %.1f%% of slots used\n",
                pack ? "packing" : "padding", batches,
                100.0 * (double)tokens_used / ((double)batches * 4 * 64));
        free(seen);
        batch_free(&b);
        loader_free(&l);
    }
    sft_dataset_free(&d);
}

/* The examples' first tokens of a batch, as a compact fingerprint of its content. */
static uint64_t batch_hash(const Batch *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < b->B * b->T; i++) {
        h = (h ^ (uint64_t)(b->example[i] + 1)) * 1099511628211ULL;
        h = (h ^ (uint64_t)(b->targets[i] + 1)) * 1099511628211ULL;
    }
    return h ^ (uint64_t)b->epoch;
}

static void test_loader_epochs_and_resume(void **state)
{
    (void)state;
    SftDataset d = {0};
    random_dataset(&d, 37, 20, 30, 2);
    DataLoader a, b2;
    assert_int_equal(loader_init(&a, &d, 3, 32, true, true, 5, 0), 0);
    assert_int_equal(loader_init(&b2, &d, 3, 32, true, true, 5, 0), 0);
    Batch x, y;
    assert_int_equal(batch_init(&x, 3, 32), 0);
    assert_int_equal(batch_init(&y, 3, 32), 0);

    long per_epoch = loader_epoch_batches(&a);
    uint64_t hashes[64];
    int first_example[3] = {0};
    int n = 0;
    int64_t epoch_seen = -1;
    while (n < 64) {
        assert_int_equal(loader_next(&a, &x), 0);
        assert_int_equal(loader_next(&b2, &y), 0);
        hashes[n] = batch_hash(&x);
        assert_int_equal(hashes[n], batch_hash(&y)); /* same seed, same stream */
        if (x.epoch != epoch_seen && x.epoch < 3) first_example[x.epoch] = x.example[0];
        epoch_seen = x.epoch;
        n++;
    }
    assert_true(epoch_seen >= 2);
    /* epochs are shuffled differently (first examples differ in at least one pair) */
    assert_true(first_example[0] != first_example[1] || first_example[1] != first_example[2]);

    /* Resume: a fresh loader set to the state after batch k reproduces batches k+1.. */
    for (int k = 0; k < 64; k += 7) {
        DataLoader c;
        assert_int_equal(loader_init(&c, &d, 3, 32, true, true, 5, 0), 0);
        for (int i = 0; i < k; i++) assert_int_equal(loader_next(&c, &x), 0);
        LoaderState s = loader_get_state(&c);
        loader_free(&c);
        DataLoader r;
        assert_int_equal(loader_init(&r, &d, 3, 32, true, true, 5, 0), 0);
        assert_int_equal(loader_set_state(&r, s), 0);
        for (int i = k; i < 64 && i < k + 2 * per_epoch; i++) {
            assert_int_equal(loader_next(&r, &x), 0);
            assert_int_equal(batch_hash(&x), hashes[i]);
        }
        loader_free(&r);
    }

    /* A different seed gives a different stream; bad states and shapes are refused. */
    DataLoader other;
    assert_int_equal(loader_init(&other, &d, 3, 32, true, true, 6, 0), 0);
    assert_int_equal(loader_next(&other, &x), 0);
    assert_true(batch_hash(&x) != hashes[0]);
    assert_int_equal(loader_set_state(&other, (LoaderState){0, 38}), -1);
    assert_int_equal(loader_set_state(&other, (LoaderState){-1, 0}), -1);
    Batch wrong;
    assert_int_equal(batch_init(&wrong, 2, 32), 0);
    assert_int_equal(loader_next(&other, &wrong), -1);
    batch_free(&wrong);
    loader_free(&other);

    DataLoader tiny;
    assert_int_equal(loader_init(&tiny, &d, 1, 8, true, false, 0, 0), -1);
    assert_non_null(strstr(pf_error(), "more than the sequence length 8"));
    SftDataset empty = {0};
    assert_int_equal(loader_init(&tiny, &empty, 1, 8, true, false, 0, 0), -1);

    batch_free(&x);
    batch_free(&y);
    loader_free(&a);
    loader_free(&b2);
    sft_dataset_free(&d);
}

/* Per-token NLL of every target in a batch with a plain softmax over hidden @ lm_head^T. */
static void batch_nll(const Model *m, ModelActs *acts, const Batch *b, bool segments,
                      double *nll)
{
    float *hidden = NULL;
    assert_int_equal(model_forward(m, acts, b->tokens, b->positions,
                                   segments ? b->segments : NULL, b->B, b->T, &hidden), 0);
    int C = m->config.dim, V = m->config.vocab_size;
    double *logits = malloc((size_t)V * sizeof *logits);
    for (int i = 0; i < b->B * b->T; i++) {
        nll[i] = NAN;
        if (b->targets[i] < 0) continue;
        double mx = -INFINITY;
        for (int v = 0; v < V; v++) {
            double z = 0;
            for (int c = 0; c < C; c++)
                z += (double)hidden[(size_t)i * C + c] * m->params.lm_head[(size_t)v * C + c];
            logits[v] = z;
            if (z > mx) mx = z;
        }
        double s = 0;
        for (int v = 0; v < V; v++) s += exp(logits[v] - mx);
        nll[i] = -(logits[b->targets[i]] - mx - log(s));
    }
    free(logits);
}

static void test_packed_losses_equal_unpacked(void **state)
{
    (void)state;
    ModelConfig c;
    config_defaults(&c);
    c.dim = 16;
    c.hidden_dim = 24;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 4;
    c.vocab_size = 40;
    c.max_seq_len = 64;
    Model m;
    assert_int_equal(model_init(&m, &c), 0);
    model_init_random(&m, 3);
    /* Weights 5x the 0.02 default so that attention actually mixes tokens. */
    for (size_t i = 0; i < m.n_params; i++) m.params_memory[i] *= 5.0f;

    SftDataset d = {0};
    random_dataset(&d, 9, 14, 40, 4);
    int B = 9, T = 16;
    ModelActs *acts = NULL;
    assert_int_equal(model_acts_init(&acts, &c, B, T), 0);
    Batch pad, packed;
    assert_int_equal(batch_init(&pad, B, T), 0);
    assert_int_equal(batch_init(&packed, 3, T * 2), 0);
    size_t order[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(batch_fill(&pad, &d, order, 9, false, 0), 9);
    size_t np = batch_fill(&packed, &d, order, 9, true, 0);
    assert_true(np >= 4);
    assert_true(packed.n_examples > 3); /* some row holds more than one example */

    double *nll_pad = malloc((size_t)B * T * sizeof(double));
    double *nll_packed = malloc((size_t)3 * 2 * T * sizeof(double));
    batch_nll(&m, acts, &pad, true, nll_pad);
    model_acts_free(acts);
    assert_int_equal(model_acts_init(&acts, &c, 3, 2 * T), 0);
    batch_nll(&m, acts, &packed, true, nll_packed);

    int compared = 0;
    double worst = 0, sum = 0;
    for (int i = 0; i < 3 * 2 * T; i++) {
        if (packed.targets[i] < 0) continue;
        int ex = packed.example[i], p = packed.positions[i];
        int j = -1;
        for (int k = 0; k < B * T && j < 0; k++)
            if (pad.example[k] == ex && pad.positions[k] == p) j = k;
        assert_true(j >= 0);
        assert_int_equal(pad.targets[j], packed.targets[i]);
        double diff = fabs(nll_pad[j] - nll_packed[i]);
        if (diff > worst) worst = diff;
        sum += nll_packed[i];
        compared++;
    }
    fprintf(stderr, "packed vs padded NLL: %d tokens, mean %.4f, max |diff| %.2e\n", compared,
            sum / compared, worst);
    assert_true(compared > 10);
    assert_true(worst < 1e-4);
    /* The check has teeth: without segments, later packed examples see earlier ones. */
    double *nll_mixed = malloc((size_t)3 * 2 * T * sizeof(double));
    batch_nll(&m, acts, &packed, false, nll_mixed);
    double moved = 0;
    for (int i = 0; i < 3 * 2 * T; i++)
        if (packed.targets[i] >= 0) moved = fmax(moved, fabs(nll_mixed[i] - nll_packed[i]));
    assert_true(moved > 1e-3);
    free(nll_mixed);

    free(nll_pad);
    free(nll_packed);
    batch_free(&pad);
    batch_free(&packed);
    model_acts_free(acts);
    model_free(&m);
    sft_dataset_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_checked),
        cmocka_unit_test(test_packing_matches_padding),
        cmocka_unit_test(test_loader_epochs_and_resume),
        cmocka_unit_test(test_packed_losses_equal_unpacked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
