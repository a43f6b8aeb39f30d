/* Batching and packing of SFT examples, and the epoch loader (see batch.h). */
#include "data/batch.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/rng.h"

int batch_init(Batch *b, int B, int T)
{
    memset(b, 0, sizeof *b);
    if (B <= 0 || T <= 1 || (long long)B * T > (1LL << 31) - 1)
        return pf_fail("batch of %d rows x %d tokens: need B >= 1, T >= 2, B*T < 2^31", B, T);
    size_t n = (size_t)B * (size_t)T;
    b->B = B;
    b->T = T;
    b->tokens = xmalloc(n * sizeof *b->tokens);
    b->targets = xmalloc(n * sizeof *b->targets);
    b->positions = xmalloc(n * sizeof *b->positions);
    b->segments = xmalloc(n * sizeof *b->segments);
    b->example = xmalloc(n * sizeof *b->example);
    return 0;
}

void batch_free(Batch *b)
{
    free(b->tokens);
    free(b->targets);
    free(b->positions);
    free(b->segments);
    free(b->example);
    memset(b, 0, sizeof *b);
}

/* Writes example e (dataset index idx) at row r from column off, as segment `seg`. */
static void place(Batch *b, int r, int off, const SftExample *e, int idx, int seg)
{
    size_t base = (size_t)r * (size_t)b->T + (size_t)off;
    for (int i = 0; i < e->len; i++) {
        size_t t = base + (size_t)i;
        b->tokens[t] = e->tokens[i];
        b->positions[t] = i;
        b->segments[t] = seg;
        b->example[t] = idx;
        bool learn = i + 1 < e->len && e->loss_mask[i + 1];
        b->targets[t] = learn ? e->tokens[i + 1] : -1;
        b->kept_tokens += learn;
    }
}

/* Pads row r from column off: its own segment id, positions from 0, no targets. */
static void pad_row(Batch *b, int r, int off, int seg, int pad_id)
{
    size_t base = (size_t)r * (size_t)b->T;
    for (int t = off; t < b->T; t++) {
        b->tokens[base + t] = pad_id;
        b->targets[base + t] = -1;
        b->positions[base + t] = t - off;
        b->segments[base + t] = seg;
        b->example[base + t] = -1;
    }
}

size_t batch_fill(Batch *b, const SftDataset *d, const size_t *order, size_t n, bool pack,
                  int pad_id)
{
    int *fill = xcalloc((size_t)b->B, sizeof *fill); /* tokens used per row */
    int *nseg = xcalloc((size_t)b->B, sizeof *nseg); /* examples per row */
    b->n_examples = 0;
    b->kept_tokens = 0;
    size_t placed = 0;
    for (; placed < n; placed++) {
        const SftExample *e = &d->examples[order[placed]];
        int row = -1;
        for (int r = 0; r < b->B && row < 0; r++) {
            if (pack ? fill[r] + e->len <= b->T : (nseg[r] == 0 && e->len <= b->T)) row = r;
        }
        if (row < 0) break;
        place(b, row, fill[row], e, (int)order[placed], nseg[row]);
        fill[row] += e->len;
        nseg[row]++;
        b->n_examples++;
    }
    for (int r = 0; r < b->B; r++) pad_row(b, r, fill[r], nseg[r], pad_id);
    free(fill);
    free(nseg);
    return placed;
}

/* The order of epoch `epoch`: identity, or a shuffle seeded by (seed, epoch) alone. */
static void epoch_order(const DataLoader *l, int64_t epoch, size_t *order)
{
    size_t n = l->data->n;
    for (size_t i = 0; i < n; i++) order[i] = i;
    if (!l->shuffle) return;
    Rng rng;
    rng_seed(&rng, l->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(epoch + 1)));
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(&rng, i);
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

int loader_init(DataLoader *l, const SftDataset *d, int B, int T, bool pack, bool shuffle,
                uint64_t seed, int pad_id)
{
    memset(l, 0, sizeof *l);
    if (d->n == 0) return pf_fail("data loader: no examples");
    if (B <= 0 || T <= 1) return pf_fail("data loader: batch %d x %d is invalid", B, T);
    for (size_t i = 0; i < d->n; i++) {
        if (d->examples[i].len > T)
            return pf_fail("data loader: example %zu (line %ld) has %d tokens, more than the "
                           "sequence length %d", i, d->examples[i].line, d->examples[i].len, T);
    }
    l->data = d;
    l->B = B;
    l->T = T;
    l->pad_id = pad_id;
    l->pack = pack;
    l->shuffle = shuffle;
    l->seed = seed;
    l->order = xmalloc(d->n * sizeof *l->order);
    epoch_order(l, 0, l->order);
    return 0;
}

int loader_next(DataLoader *l, Batch *b)
{
    if (b->B != l->B || b->T != l->T)
        return pf_fail("data loader: batch is %d x %d, loader makes %d x %d", b->B, b->T, l->B,
                       l->T);
    if ((size_t)l->state.position >= l->data->n) {
        l->state.epoch++;
        l->state.position = 0;
        epoch_order(l, l->state.epoch, l->order);
    }
    size_t pos = (size_t)l->state.position;
    size_t placed = batch_fill(b, l->data, l->order + pos, l->data->n - pos, l->pack, l->pad_id);
    if (placed == 0) return pf_fail("data loader: example %zu does not fit", l->order[pos]);
    b->epoch = l->state.epoch;
    l->state.position += (int64_t)placed;
    return 0;
}

long loader_epoch_batches(const DataLoader *l)
{
    size_t *order = xmalloc(l->data->n * sizeof *order);
    int *fill = xmalloc((size_t)l->B * sizeof *fill);
    epoch_order(l, 0, order);
    long batches = 0;
    size_t i = 0;
    while (i < l->data->n) {
        memset(fill, 0, (size_t)l->B * sizeof *fill);
        for (; i < l->data->n; i++) {
            int len = l->data->examples[order[i]].len, row = -1;
            for (int r = 0; r < l->B && row < 0; r++)
                if (l->pack ? fill[r] + len <= l->T : fill[r] == 0) row = r;
            if (row < 0) break;
            fill[row] += len;
        }
        batches++;
    }
    free(order);
    free(fill);
    return batches;
}

LoaderState loader_get_state(const DataLoader *l) { return l->state; }

int loader_set_state(DataLoader *l, LoaderState s)
{
    if (s.epoch < 0 || s.position < 0 || (size_t)s.position > l->data->n)
        return pf_fail("data loader state (epoch %lld, position %lld) does not fit a data set "
                       "of %zu examples", (long long)s.epoch, (long long)s.position,
                       l->data->n);
    l->state = s;
    epoch_order(l, s.epoch, l->order);
    return 0;
}

void loader_free(DataLoader *l)
{
    free(l->order);
    memset(l, 0, sizeof *l);
}
