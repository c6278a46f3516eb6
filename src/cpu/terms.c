/* terms.c -- the per-point and per-centroid pieces of the CPU arithmetic that the CPU engine
 * (engine.c) and the ranks of fkm_mpi_fit (src/mpi) both use, so that both score and report
 * distances with the same bits. */
#include "cpu.h"

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
