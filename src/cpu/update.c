/* update.c -- centroid update without races or float atomics.
 *
 * Build the inverse map (counting sort of point indices by label: histogram, prefix sum, stable
 * scatter), then each cluster's contiguous segment is summed in float64 in index order. Threads
 * split clusters, never a sum, so the result is bitwise identical for any thread count. */
#include "cpu.h"

#include <string.h>

fkm_status fkm_cpu_update(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                          int64_t k, int threads, float *c, int64_t *counts) {
    fkm_status st = FKM_OK;
    int64_t *start = (int64_t *)fkm_alloc((size_t)k + 1, sizeof(int64_t));
    int64_t *fill = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    int64_t *perm = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    FKM_CHECK_ALLOC(start && fill && perm, "update work space");
    memset(counts, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) counts[labels[i]]++;
    start[0] = 0;
    for (int64_t c0 = 0; c0 < k; c0++) start[c0 + 1] = start[c0] + counts[c0];
    memcpy(fill, start, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) perm[fill[labels[i]]++] = i;

    int fail = 0;
#pragma omp parallel num_threads(threads)
    {
        double *acc = (double *)fkm_alloc((size_t)d, sizeof(double));
        if (!acc) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t ci = 0; ci < k; ci++) {
            if (!acc || start[ci] == start[ci + 1]) continue;
            double wsum = 0.0;
            memset(acc, 0, (size_t)d * sizeof(double));
            for (int64_t s = start[ci]; s < start[ci + 1]; s++) {
                const int64_t i = perm[s];
                const double wi = w ? w[i] : 1.0;
                const float *xi = x + i * d;
                for (int64_t j = 0; j < d; j++) acc[j] += wi * xi[j];
                wsum += wi;
            }
            if (wsum > 0) {
                for (int64_t j = 0; j < d; j++) c[ci * d + j] = (float)(acc[j] / wsum);
            } else {
                counts[ci] = 0; /* only zero-weight points: treated as empty */
            }
        }
        fkm_free(acc);
    }
    if (fail) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory in the centroid update");
cleanup:
    fkm_free(start);
    fkm_free(fill);
    fkm_free(perm);
    return st;
}

enum { SUM_CHUNK = 4096 };

static double chunk_sum(const float *v, const float *w, int64_t n, int64_t b) {
    double s = 0.0;
    for (int64_t i = b * SUM_CHUNK; i < n && i < (b + 1) * SUM_CHUNK; i++) s += (double)v[i] * (w ? w[i] : 1.0f);
    return s;
}

double fkm_cpu_sum(const float *v, const float *w, int64_t n, int threads) {
    const int64_t nch = (n + SUM_CHUNK - 1) / SUM_CHUNK;
    double stack[64];
    double *part = nch <= 64 ? stack : (double *)fkm_alloc((size_t)nch, sizeof(double));
    double total = 0.0;
    if (!part) { /* no memory for the partials: same chunks, same order, one thread */
        for (int64_t b = 0; b < nch; b++) total += chunk_sum(v, w, n, b);
        return total;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < nch; b++) part[b] = chunk_sum(v, w, n, b);
    for (int64_t b = 0; b < nch; b++) total += part[b];
    if (part != stack) fkm_free(part);
    return total;
}
