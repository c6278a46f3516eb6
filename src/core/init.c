/* init.c -- initial centroids on the host: greedy k-means++ and uniform random choice.
 *
 * Deterministic for a seed, independent of the thread count: per-point work is parallel, every
 * sum over points is done sequentially in index order. */
#include "init.h"

#include <math.h>
#include <string.h>

float fkm_sqdist_f32(const float *a, const float *b, int64_t d) {
    float s = 0.0f;
    for (int64_t j = 0; j < d; j++) {
        float t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

/* Index i with cum[i-1] <= r < cum[i] (cum is an inclusive prefix sum), clamped to [0, n). */
int64_t fkm_init_search_cum(const double *cum, int64_t n, double r) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > r) hi = mid; else lo = mid + 1;
    }
    return lo;
}

static void prefix(const float *v, const float *w, int64_t n, double *cum) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)v[i] * (w ? w[i] : 1.0f);
        cum[i] = s;
    }
}

/* Greedy k-means++ over rows reached through r (init.h): the dense rows below, or the CSR rows of
 * the sparse k-means|| (src/cpu/sparse_par.c), whose distances have fkm_sqdist_f32's bits -- so
 * both pick the same rows. */
fkm_status fkm_init_kmeanspp_rows(const fkm_init_rows *r, const float *w, int64_t n, int64_t d, int64_t k,
                                  uint64_t seed, int threads, float *c) {
    fkm_status st = FKM_OK;
    const int trials = 2 + (int)log((double)k);
    float *closest = (float *)fkm_alloc((size_t)n, sizeof(float));
    float *cand = (float *)fkm_alloc((size_t)n * trials, sizeof(float));
    double *cum = (double *)fkm_alloc((size_t)n, sizeof(double));
    FKM_CHECK_ALLOC(closest && cand && cum, "k-means++ work space");
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 1);

    /* First centre: drawn with probability proportional to the weight. */
    for (int64_t i = 0; i < n; i++) cum[i] = (i ? cum[i - 1] : 0.0) + (w ? w[i] : 1.0);
    int64_t first = fkm_init_search_cum(cum, n, fkm_rng_uniform(&rng) * cum[n - 1]);
    r->copy(r->ctx, first, c);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) closest[i] = r->sqdist(r->ctx, i, first);

    int64_t ids[64];
    for (int64_t ci = 1; ci < k; ci++) {
        prefix(closest, w, n, cum);
        double pot = cum[n - 1];
        for (int t = 0; t < trials; t++) {
            /* All points coincide with chosen centres: any point is as good as another. */
            ids[t] = pot > 0 ? fkm_init_search_cum(cum, n, fkm_rng_uniform(&rng) * pot)
                             : (int64_t)(fkm_rng_next(&rng) % (uint64_t)n);
        }
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < n; i++)
            for (int t = 0; t < trials; t++) {
                float dd = r->sqdist(r->ctx, i, ids[t]);
                cand[(size_t)t * n + i] = dd < closest[i] ? dd : closest[i];
            }
        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            double s = 0.0;
            const float *ct = cand + (size_t)t * n;
            for (int64_t i = 0; i < n; i++) s += (double)ct[i] * (w ? w[i] : 1.0f);
            if (s < best_pot) { best_pot = s; best = t; }
        }
        memcpy(closest, cand + (size_t)best * n, (size_t)n * sizeof(float));
        r->copy(r->ctx, ids[best], c + ci * d);
    }
cleanup:
    fkm_free(closest);
    fkm_free(cand);
    fkm_free(cum);
    return st;
}

static float dense_sqdist(void *ctx, int64_t i, int64_t j) {
    const fkm_dense_rows *r = (const fkm_dense_rows *)ctx;
    return fkm_sqdist_f32(r->x + i * r->d, r->x + j * r->d, r->d);
}

static void dense_copy(void *ctx, int64_t i, float *out) {
    const fkm_dense_rows *r = (const fkm_dense_rows *)ctx;
    memcpy(out, r->x + i * r->d, (size_t)r->d * sizeof(float));
}

fkm_init_rows fkm_init_dense_rows(void *ctx) {
    const fkm_init_rows r = {ctx, dense_sqdist, dense_copy};
    return r;
}

fkm_status fkm_init_kmeanspp(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                             uint64_t seed, int threads, float *c) {
    fkm_dense_rows dr = {x, d};
    const fkm_init_rows r = fkm_init_dense_rows(&dr);
    return fkm_init_kmeanspp_rows(&r, w, n, d, k, seed, threads, c);
}

fkm_status fkm_init_random(const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed, float *c) {
    fkm_status st = FKM_OK;
    uint8_t *taken = (uint8_t *)fkm_calloc((size_t)(n + 7) / 8, 1);
    FKM_CHECK_ALLOC(taken, "random-init bitmap");
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 2);
    /* Rejection sampling; when k is close to n, walk forward to the next free index instead. */
    for (int64_t ci = 0; ci < k; ci++) {
        int64_t i = (int64_t)(fkm_rng_next(&rng) % (uint64_t)n);
        while (taken[i >> 3] & (1u << (i & 7))) i = (i + 1) % n;
        taken[i >> 3] |= (uint8_t)(1u << (i & 7));
        memcpy(c + ci * d, x + i * d, (size_t)d * sizeof(float));
    }
cleanup:
    fkm_free(taken);
    return st;
}
