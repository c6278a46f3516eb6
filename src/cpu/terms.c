/* terms.c -- the per-point and per-centroid pieces of the CPU arithmetic that the CPU engine
 * (engine.c) and the ranks of fkm_mpi_fit (src/mpi) both use, so that both score and report
 * distances with the same bits. */
#include "cpu.h"

#include <math.h>
#include <string.h>

void fkm_cpu_xterm(const float *x, int64_t n, int64_t d, fkm_metric metric, int threads, float *xterm) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) { /* |x|^2 in float, in feature order */
        float s = 0.0f;
        const float *xi = x + i * d;
        for (int64_t j = 0; j < d; j++) s += xi[j] * xi[j];
        xterm[i] = metric == FKM_METRIC_L2 ? s : metric == FKM_METRIC_COSINE ? 1.0f : 0.0f;
    }
}

void fkm_cpu_cterm(const float *c, int64_t k, int64_t d, fkm_metric metric, float *cterm) {
    for (int64_t ci = 0; ci < k; ci++) {
        float s = 0.0f;
        if (metric == FKM_METRIC_L2)
            for (int64_t j = 0; j < d; j++) s += c[ci * d + j] * c[ci * d + j];
        cterm[ci] = s;
    }
}

/* The expansion |x|^2 - 2x.c + |c|^2 picks labels exactly but loses relative accuracy in the
 * distance itself when x is close to c far from the origin (cancellation). The distances and the
 * inertia handed to the caller are recomputed as sum_j (x_j - c_j)^2 in float64: O(n d). */
void fkm_cpu_exact_l2(const float *x, const float *c, const int32_t *labels, int64_t n, int64_t d, int threads,
                      float *best) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + i * d, *ci = c + (int64_t)labels[i] * d;
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double t = (double)xi[j] - ci[j];
            s += t * t;
        }
        best[i] = (float)s;
    }
}

double fkm_cpu_max_shift(const float *c, const float *c_old, int64_t k, int64_t d) {
    double sh = 0.0;
    for (int64_t ci = 0; ci < k; ci++) {
        double m = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double t = (double)c[ci * d + j] - c_old[ci * d + j];
            m += t * t;
        }
        if (m > sh) sh = m;
    }
    return sqrt(sh);
}

int64_t fkm_cpu_count_labels(const int32_t *labels, const float *w, int64_t n, int64_t k, int64_t *counts) {
    int64_t empty = 0;
    memset(counts, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) counts[labels[i]] += !w || w[i] > 0;
    for (int64_t c = 0; c < k; c++) empty += counts[c] == 0;
    return empty;
}
