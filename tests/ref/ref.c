/* ref.c -- the naive float64 oracle. Clarity over speed, on purpose. */
#include "ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double norm(const double *v, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += v[j] * v[j];
    return sqrt(s);
}

double ref_dist(const double *x, const double *c, int64_t d, int metric) {
    double s = 0;
    if (metric == 0) {
        for (int64_t j = 0; j < d; j++) s += (x[j] - c[j]) * (x[j] - c[j]);
        return s;
    }
    for (int64_t j = 0; j < d; j++) s += x[j] * c[j];
    if (metric == 1) return 1.0 - s / (norm(x, d) * norm(c, d));
    return -s;
}

void ref_assign(const double *x, int64_t n, int64_t d, const double *c, int64_t k, int metric,
                int32_t *labels, double *best, double *second) {
    for (int64_t i = 0; i < n; i++) {
        double b = INFINITY, s2 = INFINITY;
        int32_t bl = 0;
        for (int64_t ci = 0; ci < k; ci++) {
            double v = ref_dist(x + i * d, c + ci * d, d, metric);
            if (v < b) { s2 = b; b = v; bl = (int32_t)ci; }
            else if (v < s2) s2 = v;
        }
        if (labels) labels[i] = bl;
        if (best) best[i] = b;
        if (second) second[i] = s2;
    }
}

double ref_lloyd(const double *x, const double *w, int64_t n, int64_t d, double *c, int64_t k,
                 int metric, int iters, int32_t *labels) {
    double *sum = calloc((size_t)(k * d), sizeof(double)), *cnt = calloc((size_t)k, sizeof(double));
    double *best = malloc((size_t)n * sizeof(double)), inertia = 0;
    for (int it = 0; it < iters; it++) {
        ref_assign(x, n, d, c, k, metric, labels, best, NULL);
        inertia = 0;
        memset(sum, 0, (size_t)(k * d) * sizeof(double));
        memset(cnt, 0, (size_t)k * sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            double wi = w ? w[i] : 1.0, nx = metric == 1 ? norm(x + i * d, d) : 1.0;
            inertia += wi * best[i];
            cnt[labels[i]] += wi;
            for (int64_t j = 0; j < d; j++) sum[labels[i] * d + j] += wi * x[i * d + j] / nx;
        }
        for (int64_t ci = 0; ci < k; ci++) {
            if (cnt[ci] == 0) continue;
            for (int64_t j = 0; j < d; j++) c[ci * d + j] = sum[ci * d + j] / cnt[ci];
            if (metric == 1) {
                double nc = norm(c + ci * d, d);
                if (nc > 0) for (int64_t j = 0; j < d; j++) c[ci * d + j] /= nc;
            }
        }
    }
    free(sum); free(cnt); free(best);
    return inertia;
}
