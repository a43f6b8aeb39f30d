/* A small seeded random number generator (xoshiro256**), identical on every machine, for
 * initialisation, shuffling, dropout-free sampling and tests. */
#ifndef PRIORFT_UTIL_RNG_H
#define PRIORFT_UTIL_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
/* Uniform in [0, 1). */
float rng_uniform(Rng *r);
/* Standard normal (Box-Muller). */
float rng_normal(Rng *r);
/* Uniform integer in [0, n). */
uint64_t rng_below(Rng *r, uint64_t n);

#endif
