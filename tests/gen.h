/* gen.h -- deterministic test data: Gaussian blobs, in float64 (for the oracle) and float32. */
#ifndef FKM_GEN_H
#define FKM_GEN_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static inline uint64_t gen_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static inline double gen_unif(uint64_t *s) { return ((gen_next(s) >> 11) + 0.5) * 0x1.0p-53; }
static inline double gen_normal(uint64_t *s) {
    return sqrt(-2.0 * log(gen_unif(s))) * cos(6.283185307179586 * gen_unif(s));
}

/* n points in d dims around `blobs` centres (spread `spread`); fills x64 (n x d) and x32 (may be NULL). */
static inline void gen_blobs(uint64_t seed, int64_t n, int64_t d, int64_t blobs, double spread,
                             double *x64, float *x32) {
    uint64_t s = seed;
    double *ctr = malloc((size_t)(blobs * d) * sizeof(double));
    for (int64_t i = 0; i < blobs * d; i++) ctr[i] = gen_normal(&s) * 4.0;
    for (int64_t i = 0; i < n; i++) {
        int64_t b = (int64_t)(gen_next(&s) % (uint64_t)blobs);
        for (int64_t j = 0; j < d; j++) {
            /* round to float32 first so the oracle sees exactly the library's input */
            float v = (float)(ctr[b * d + j] + spread * gen_normal(&s));
            x64[i * d + j] = v;
            if (x32) x32[i * d + j] = v;
        }
    }
    free(ctr);
}
#endif
