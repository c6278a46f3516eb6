/* rows.h -- shared by the k-means|| tests (CPU and GPU): the initialisation alone, checks on
 * initial centroids (rows of the data, duplicates by value), and data sets that stress it. */
#ifndef FKM_TEST_ROWS_H
#define FKM_TEST_ROWS_H
#include "gen.h"

#include <flashkmeans.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* k-means|| initial centroids only (max_iter = 0 keeps them) into c (k x d); *pot (may be NULL):
 * their potential. threads 0: the default. */
static inline fkm_status par_centroids(fkm_device dev, fkm_precision prec, int threads, fkm_metric metric,
                                       const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                                       float *c, double *pot) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.max_iter = 0;
    p.init = FKM_INIT_KMEANS_PARALLEL;
    p.seed = seed;
    p.device = dev;
    p.precision = prec;
    p.metric = metric;
    if (threads) p.threads = threads;
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    if (st == FKM_OK) {
        memcpy(c, r.centroids, (size_t)(k * d) * sizeof(float));
        if (pot) *pot = r.inertia;
    }
    fkm_result_free(&r);
    return st;
}

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


/* 8 distinct rows of d = 2 in groups of 100 copies: 0 and (10^-3L, 0) for L = 0 .. 6, so the
 * squared distances between levels shrink a millionfold per level. A k-means|| round finds the
 * largest level left and, in all likelihood, none below it: five rounds leave two levels unseen
 * (and many copies as candidates), so with k = 8 only the fill step, counting distinct rows, can
 * reach eight distinct centroids. x: 800 x 2. */
static inline void hidden_levels(float *x) {
    for (int64_t i = 0; i < 800; i++) {
        const int64_t g = i % 8; /* group 0: the origin; group L + 1: level L */
        x[2 * i] = g == 0 ? 0.0f : (float)pow(10.0, -3.0 * (double)(g - 1));
        x[2 * i + 1] = 0.0f;
    }
}

/* Two blobs far apart (d = 2), n = 2000: rows of blob A (even rows, around the origin) weigh 1,
 * rows of blob B (odd rows, around (100, 0)) weigh 1e-3. With k = 1 the centroid is drawn by
 * weight among the candidates, so it lies in A but with probability ~1/1000 -- if the candidate
 * weights are the weights of their nearest rows, as documented (counts would give B half). */
static inline void two_masses(uint64_t seed, float *x, float *w) {
    uint64_t s = seed;
    for (int64_t i = 0; i < 2000; i++) {
        x[2 * i] = (float)((i & 1 ? 100.0 : 0.0) + gen_normal(&s));
        x[2 * i + 1] = (float)gen_normal(&s);
        w[i] = i & 1 ? 1e-3f : 1.0f;
    }
}
#endif
