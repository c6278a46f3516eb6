/* test_edge_common.h -- helpers shared by the edge-case and API tests (test_edge_*.c,
 * test_api_*.c, test_bad_input*.c): parameters, oracle comparison, bitwise result equality. */
#ifndef FKM_TEST_EDGE_COMMON_H
#define FKM_TEST_EDGE_COMMON_H
#include "check.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

/* Near-tie margin of the exact precision, relative to |x|^2 + |c|^2 (docs/contract.md). */
#define EDGE_MARGIN 1e-5

static inline fkm_params edge_params(int64_t k) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.device = FKM_DEVICE_CPU;
    return p;
}

static inline double edge_norm2(const double *v, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += v[j] * v[j];
    return s;
}

static inline double *edge_to64(const float *x, int64_t m) {
    double *y = (double *)malloc((size_t)(m > 0 ? m : 1) * sizeof(double));
    for (int64_t i = 0; i < m; i++) y[i] = x[i];
    return y;
}

/* Labels that disagree with the float64 oracle by more than the near-tie margin. */
static inline int64_t edge_hard_disagreements(const double *x, int64_t n, int64_t d, const double *c,
                                              int64_t k, int metric, const int32_t *got) {
    int32_t *lab = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    double *best = (double *)malloc((size_t)n * sizeof(double));
    ref_assign(x, n, d, c, k, metric, lab, best, NULL);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (got[i] < 0 || got[i] >= k) { bad++; continue; }
        if (lab[i] == got[i]) continue;
        double mine = ref_dist(x + i * d, c + (int64_t)got[i] * d, d, metric);
        double scale = metric == 0 ? edge_norm2(x + i * d, d) + edge_norm2(c + (int64_t)got[i] * d, d) : 2.0;
        if (fabs(mine - best[i]) > EDGE_MARGIN * scale) bad++;
    }
    free(lab);
    free(best);
    return bad;
}

/* Oracle inertia of x under c (weights w64 or NULL), each term clamped at 0 except for IP. */
static inline double edge_ref_inertia(const double *x, const double *w64, int64_t n, int64_t d,
                                      const double *c, int64_t k, int metric) {
    double *best = (double *)malloc((size_t)n * sizeof(double)), s = 0;
    ref_assign(x, n, d, c, k, metric, NULL, best, NULL);
    for (int64_t i = 0; i < n; i++) s += (w64 ? w64[i] : 1.0) * (metric == 2 ? best[i] : fmax(best[i], 0));
    free(best);
    return s;
}

/* Fit from init c0 for `iters` fixed iterations (EMPTY_KEEP, as the oracle does) and compare
 * centroids, labels and inertia with ref_lloyd. Returns the number of failed checks. */
static inline int edge_vs_oracle(const char *what, const float *x32, const float *w, int64_t n, int64_t d,
                                 const float *c0, int64_t k, int metric, int iters) {
    const int before = check_fail;
    fkm_params p = edge_params(k);
    p.max_iter = iters;
    p.stop = FKM_STOP_FIXED;
    p.init = FKM_INIT_ARRAY;
    p.init_centroids = c0;
    p.metric = (fkm_metric)metric;
    p.empty = FKM_EMPTY_KEEP;
    fkm_matrix m = {x32, FKM_F32, n, d, w};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "%s: fit failed: %s", what, fkm_last_error());
    if (st != FKM_OK) return check_fail - before;
    double *x64 = edge_to64(x32, n * d), *c64 = edge_to64(c0, k * d), *w64 = w ? edge_to64(w, n) : NULL;
    if (metric == 1)
        for (int64_t i = 0; i < k; i++) {
            double s = sqrt(edge_norm2(c64 + i * d, d));
            for (int64_t j = 0; j < d; j++) c64[i * d + j] /= s;
        }
    int32_t *lab = (int32_t *)malloc((size_t)n * sizeof(int32_t));
    ref_lloyd(x64, w64, n, d, c64, k, metric, iters, lab);
    double maxerr = 0, scale = 0;
    for (int64_t i = 0; i < k * d; i++) {
        CHECK(isfinite(r.centroids[i]), "%s: centroid element %lld is not finite", what, (long long)i);
        maxerr = fmax(maxerr, fabs(c64[i] - r.centroids[i]));
        scale = fmax(scale, fabs(c64[i]));
    }
    CHECK(maxerr <= 1e-4 * (scale + 1), "%s: centroids differ from the oracle by %g", what, maxerr);
    int64_t bad = edge_hard_disagreements(x64, n, d, c64, k, metric, r.labels);
    CHECK(bad == 0, "%s: %lld labels differ from the oracle outside near-ties", what, (long long)bad);
    double ri = edge_ref_inertia(x64, w64, n, d, c64, k, metric);
    /* fp32 |x|^2 - 2x.c + |c|^2 loses ~d*eps*(|x|^2+|c|^2) per point, absolute (docs/contract.md) */
    double absb = 0;
    for (int64_t i = 0; i < n; i++)
        absb += (w64 ? w64[i] : 1.0) * (metric == 0 ? 2 * edge_norm2(x64 + i * d, d) : 2.0) * 1e-7 * (double)d;
    CHECK(fabs(r.inertia - ri) <= 1e-6 * fabs(ri) + absb, "%s: inertia %.12g vs oracle %.12g (abs bound %g)", what,
          r.inertia, ri, absb);
    CHECK(metric == 2 || r.inertia >= 0, "%s: negative inertia %g", what, r.inertia);
    CHECK(r.iterations == iters, "%s: ran %d iterations, expected %d", what, r.iterations, iters);
    free(x64); free(c64); free(w64); free(lab);
    fkm_result_free(&r);
    return check_fail - before;
}

/* Bitwise equality of two results (stats compared without the timing). */
static inline int edge_same_result(const fkm_result *a, const fkm_result *b) {
    if (a->k != b->k || a->n != b->n || a->d != b->d || a->iterations != b->iterations) return 0;
    if (a->stop_reason != b->stop_reason || a->best_init != b->best_init) return 0;
    if (memcmp(&a->inertia, &b->inertia, sizeof(double)) != 0) return 0;
    if (memcmp(a->centroids, b->centroids, (size_t)(a->k * a->d) * sizeof(float)) != 0) return 0;
    if (memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t)) != 0) return 0;
    for (int i = 0; i < a->iterations; i++) {
        const fkm_iter_stats *s = &a->stats[i], *t = &b->stats[i];
        if (memcmp(&s->inertia, &t->inertia, sizeof(double)) || memcmp(&s->shift, &t->shift, sizeof(double)) ||
            s->empty != t->empty || s->changed != t->changed)
            return 0;
    }
    return 1;
}

/* No NaN/Inf in centroids, labels in range, inertia finite (>= 0 unless IP). */
static inline int edge_sane(const fkm_result *r, int metric) {
    for (int64_t i = 0; i < r->k * r->d; i++)
        if (!isfinite(r->centroids[i])) return 0;
    for (int64_t i = 0; i < r->n; i++)
        if (r->labels[i] < 0 || r->labels[i] >= r->k) return 0;
    if (!isfinite(r->inertia) || (metric != 2 && r->inertia < 0)) return 0;
    for (int i = 0; i < r->iterations; i++)
        if (!isfinite(r->stats[i].inertia) || !isfinite(r->stats[i].shift) || r->stats[i].shift < 0) return 0;
    return 1;
}

/* Labels that fkm_predict gives for the result's centroids equal the result's labels. */
static inline int edge_labels_match_predict(const fkm_params *p, const fkm_matrix *m, const fkm_result *r) {
    int32_t *lab = (int32_t *)malloc((size_t)m->n * sizeof(int32_t));
    fkm_status st = fkm_predict(p, m, r->centroids, r->k, lab, NULL);
    int ok = st == FKM_OK && memcmp(lab, r->labels, (size_t)m->n * sizeof(int32_t)) == 0;
    free(lab);
    return ok;
}
#endif
