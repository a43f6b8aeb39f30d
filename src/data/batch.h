/* Batches of SFT examples for the engine: B rows of T tokens with next-token targets (-1 where
 * there is no loss), RoPE positions restarting at 0 for each example, and segment ids so that a
 * token attends only to its own example; exactly what model_forward(m, acts, tokens, positions,
 * segments, B, T, &hidden) consumes. Two modes: padding (one example per row) and packing
 * (greedy first-fit of several examples into rows of T). A data loader walks epochs in a seeded
 * order with a resumable (epoch, position) state for checkpoints. */
#ifndef PRIORFT_DATA_BATCH_H
#define PRIORFT_DATA_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/sft.h"

typedef struct Batch {
    int B, T;
    int *tokens;      /* (B, T) input ids; pad_id on padding */
    int *targets;     /* (B, T) the next token of the same example where it is under the loss
                       * mask, else -1 (prompt, padding, an example's last position) */
    int *positions;   /* (B, T) 0, 1, ... from each example's start (padding: from its own) */
    int *segments;    /* (B, T) 0, 1, ... per example within a row; padding the next id */
    int *example;     /* (B, T) index into the dataset of each token's example, -1 on padding */
    int n_examples;   /* examples placed */
    long kept_tokens; /* targets != -1 */
    int64_t epoch;    /* the epoch the examples came from (set by the loader) */
} Batch;

/* Allocates a B x T batch (all padding). */
int batch_init(Batch *b, int B, int T);
void batch_free(Batch *b);

/* Fills *b from the examples d->examples[order[0..n)] taken in order: one per row without
 * packing, first-fit into rows with packing. Stops at the first example that does not fit and
 * returns how many were placed (0 when even the first is longer than T). */
size_t batch_fill(Batch *b, const SftDataset *d, const size_t *order, size_t n, bool pack,
                  int pad_id);

typedef struct LoaderState {
    int64_t epoch;    /* 0-based */
    int64_t position; /* examples of this epoch's order already served */
} LoaderState;

typedef struct DataLoader {
    const SftDataset *data;
    int B, T, pad_id;
    bool pack, shuffle;
    uint64_t seed;
    LoaderState state;
    size_t *order; /* (n) this epoch's order of example indices */
} DataLoader;

/* Prepares a loader over `d` (which must outlive it). Errors when d is empty or an example is
 * longer than T (naming its source line). */
int loader_init(DataLoader *l, const SftDataset *d, int B, int T, bool pack, bool shuffle,
                uint64_t seed, int pad_id);

/* Fills *b (initialised with the loader's B and T) with the next batch. A batch never spans two
 * epochs: the last one of an epoch may be partly padding; the next call starts the next epoch.
 * The order of epoch e depends only on (seed, e), so a restored state continues exactly. */
int loader_next(DataLoader *l, Batch *b);

/* Batches one epoch takes (from epoch 0's order), for schedules. */
long loader_epoch_batches(const DataLoader *l);

LoaderState loader_get_state(const DataLoader *l);
/* Continues from a saved state; errors when it does not fit this data set. */
int loader_set_state(DataLoader *l, LoaderState s);

void loader_free(DataLoader *l);

#endif
