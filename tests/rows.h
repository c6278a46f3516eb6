/* rows.h -- checks on initial centroids shared by the k-means|| tests (CPU and GPU): rows of the
 * data, duplicates by value, and data of well-separated blobs. */
#ifndef FKM_TEST_ROWS_H
#define FKM_TEST_ROWS_H
#include "gen.h"

#include <stdint.h>
#include <string.h>

/* Index of the first row of x equal to v, or -1. */
static inline int64_t find_row(const float *x, int64_t n, int64_t d, const float *v) {
    for (int64_t i = 0; i < n; i++)
        if (!memcmp(x + i * d, v, (size_t)d * sizeof(float))) return i;
    return -1;
}

/* Rows equal by value (-0 == +0) to an earlier row. */
static inline int64_t count_duplicates(const float *c, int64_t k, int64_t d) {
    int64_t dups = 0;
    for (int64_t a = 1; a < k; a++)
        for (int64_t b = 0; b < a; b++) {
            int64_t j = 0;
            while (j < d && c[a * d + j] == c[b * d + j]) j++;
            if (j == d) { dups++; break; }
        }
    return dups;
}

/* n points around `blobs` centres far apart (coordinates multiples of 100, spread 1); blob[i]. */
static inline void separated_blobs(uint64_t seed, int64_t n, int64_t d, int64_t blobs, float *x, int32_t *blob) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        const int64_t b = i % blobs; /* every blob the same size */
        blob[i] = (int32_t)b;
        for (int64_t j = 0; j < d; j++) {
            const double centre = 100.0 * (double)((b * 7 + j * 13) % 37) + (j == 0 ? 4000.0 * (double)b : 0.0);
            x[i * d + j] = (float)(centre + gen_normal(&s));
        }
    }
}

#endif
