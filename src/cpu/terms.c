/* terms.c -- the per-point and per-centroid pieces of the CPU arithmetic that the CPU engine
 * (engine.c) and the ranks of fkm_mpi_fit (src/mpi) both use, so that both score and report
 * distances with the same bits. */
#include "cpu.h"

#include <math.h>
#include <string.h>

static float xterm_row(const float *xi, int64_t d, fkm_metric metric) { /* |x|^2 in float, in feature order */
    float s = 0.0f;
    for (int64_t j = 0; j < d; j++) s += xi[j] * xi[j];
    return metric == FKM_METRIC_L2 ? s : metric == FKM_METRIC_COSINE ? 1.0f : 0.0f;
}

void fkm_cpu_xterm(const float *x, int64_t n, int64_t d, fkm_metric metric, int threads, float *xterm) {
    if (threads <= 1) { /* no OpenMP region for one thread (cpu.h) */
        for (int64_t i = 0; i < n; i++) xterm[i] = xterm_row(x + i * d, d, metric);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) xterm[i] = xterm_row(x + i * d, d, metric);
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
static float exact_row(const float *xi, const float *ci, int64_t d) {
    double s = 0.0;
    for (int64_t j = 0; j < d; j++) {
        const double t = (double)xi[j] - ci[j];
        s += t * t;
    }
    return (float)s;
}

void fkm_cpu_exact_l2(const float *x, const float *c, const int32_t *labels, int64_t n, int64_t d, int threads,
                      float *best) {
    if (threads <= 1) { /* no OpenMP region for one thread (cpu.h) */
        for (int64_t i = 0; i < n; i++) best[i] = exact_row(x + i * d, c + (int64_t)labels[i] * d, d);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) best[i] = exact_row(x + i * d, c + (int64_t)labels[i] * d, d);
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

void fkm_cpu_unit_centroid(float *c, const float *c_old, int64_t d) {
    double s2 = 0.0;
    for (int64_t j = 0; j < d; j++) s2 += (double)c[j] * c[j];
    if (s2 == 0.0) { /* antipodal points cancel: keep the previous direction */
        memcpy(c, c_old, (size_t)d * sizeof(float));
        return;
    }
    const double inv = 1.0 / sqrt(s2);
    for (int64_t j = 0; j < d; j++) c[j] = (float)(c[j] * inv);
}

void fkm_cpu_group_by_label(const int32_t *labels, int64_t n, int64_t k, int64_t *start, int64_t *perm) {
    memset(start, 0, (size_t)(k + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int64_t c = 0; c < k; c++) start[c + 1] += start[c];
    for (int64_t i = 0; i < n; i++) perm[start[labels[i]]++] = i; /* start[c] now cluster c's end */
    for (int64_t c = k; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
}
