/* sparse.c -- the CPU engine for CSR input (fkm_fit_csr and friends), behind the one Lloyd driver.
 *
 * The matrix is never made dense. Scores use the expansion |x|^2 - 2 x.c + |c|^2 with
 *   x.c   = sum over the row's entries of (double)x_j * c_j  (each product exact in float64),
 *   |x|^2 = sum over the row's entries of (double)x_j^2,  |c|^2 = sum_j (double)c_j^2,
 * all in float64, in entry / feature order; ties go to the lowest index. A score costs nnz_i
 * multiply-adds: the centroids are kept transposed (d x k) so that an entry's column of scores
 * is one contiguous row. The update sums w x over the entries in float64, point by point in index
 * order (absent entries add exact zeros in the dense engine's sums, so on data whose float64 sums
 * are exact both engines give the same centroids bit for bit). The distances handed out (predict,
 * the inertia) are sum over entries of (x_j - c_j)^2 plus |c|^2 minus the entries' c_j^2, float64.
 * Cosine and inner product, as the dense engine (cpu.h): score = cterm - alpha x.c with cterm 0,
 * alpha 1, distance = 1 - x.c (cosine, rows unit: src/core/sparse.c hands over a unit copy;
 * centroids re-normalised after each update as the dense engine does) or -x.c (ip), float64. */
#include "cpu.h"
#include "../core/convert.h"
#include "../core/init.h"

#include <math.h>
#include <string.h>

typedef struct {
    fkm_problem pb;
    const fkm_csr *x;
    float *c, *c_old, *ct, *best;
    double *xn, *cn, *acc, *sums;
    int32_t *labels, *prev;
    int64_t *counts;
} sp_engine;

static void sp_destroy(void *p) {
    sp_engine *e = (sp_engine *)p;
    if (!e) return;
    fkm_free(e->c); fkm_free(e->c_old); fkm_free(e->ct); fkm_free(e->best);
    fkm_free(e->xn); fkm_free(e->cn); fkm_free(e->acc); fkm_free(e->sums);
    fkm_free(e->labels); fkm_free(e->prev); fkm_free(e->counts);
    fkm_free(e);
}

static fkm_status sp_create(const fkm_problem *pb, void **out, const fkm_backend **ops) {
    (void)ops;
    fkm_status st = FKM_OK;
    const int64_t n = pb->n, d = pb->d, k = pb->k;
    sp_engine *e = (sp_engine *)fkm_calloc(1, sizeof *e);
    FKM_CHECK_ALLOC(e, "CPU sparse engine");
    if (!pb->csr) {
        st = FKM_FAIL(FKM_ERR_INTERNAL, "the sparse engine needs CSR input");
        goto cleanup;
    }
    e->pb = *pb;
    e->x = pb->csr;
    e->c = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    e->c_old = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    e->ct = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    e->best = (float *)fkm_alloc((size_t)n, sizeof(float));
    e->xn = (double *)fkm_alloc((size_t)n, sizeof(double));
    e->cn = (double *)fkm_alloc((size_t)k, sizeof(double));
    e->acc = (double *)fkm_alloc((size_t)(k * pb->threads), sizeof(double)); /* one row of scores per thread */
    e->labels = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    e->prev = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    e->counts = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    FKM_CHECK_ALLOC(e->c && e->c_old && e->ct && e->best && e->xn && e->cn && e->acc && e->labels && e->prev &&
                    e->counts, "CPU sparse engine arrays");
    const int64_t *ip = e->x->indptr;
    const float *v = e->x->data;
#pragma omp parallel for num_threads(pb->threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t t = ip[i]; t < ip[i + 1]; t++) s += (double)v[t] * v[t];
        e->xn[i] = s;
    }
    *out = e;
    return FKM_OK;
cleanup:
    sp_destroy(e);
    return st;
}

/* ct = c transposed (d x k) and cn = |c|^2 in float64, after every change of the centroids. */
static void refresh(sp_engine *e) {
    const int64_t d = e->pb.d, k = e->pb.k;
    for (int64_t c = 0; c < k; c++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const float v = e->c[c * d + j];
            s += (double)v * v;
            e->ct[j * k + c] = v;
        }
        e->cn[c] = s;
    }
}

static fkm_status sp_set_centroids(void *p, const float *c) {
    sp_engine *e = (sp_engine *)p;
    memcpy(e->c, c, (size_t)(e->pb.k * e->pb.d) * sizeof(float));
    for (int64_t i = 0; i < e->pb.n; i++) e->prev[i] = -1;
    refresh(e);
    return FKM_OK;
}

static fkm_status sp_get_centroids(void *p, float *c) {
    sp_engine *e = (sp_engine *)p;
    memcpy(c, e->c, (size_t)(e->pb.k * e->pb.d) * sizeof(float));
    return FKM_OK;
}

/* acc[0..k) = x_i . c for every centroid: float64 sums of the exact products, entry order. */
static void dots(const sp_engine *e, int64_t i, double *acc) {
    const int64_t k = e->pb.k;
    const int64_t *ip = e->x->indptr;
    const int32_t *col = e->x->indices;
    const float *v = e->x->data;
    memset(acc, 0, (size_t)k * sizeof(double));
    for (int64_t t = ip[i]; t < ip[i + 1]; t++) {
        const double xv = v[t];
        const float *row = e->ct + (int64_t)col[t] * k;
        for (int64_t c = 0; c < k; c++) acc[c] += xv * (double)row[c];
    }
}

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
#endif

/* The metric's terms (cpu.h): score = cterm(c) - alpha x.c, distance = xterm(x) + score, clamped
 * at 0 for l2 and cosine. */
static double cterm(const sp_engine *e, int64_t c) { return e->pb.metric == FKM_METRIC_L2 ? e->cn[c] : 0.0; }
static double xterm(const sp_engine *e, int64_t i) {
    return e->pb.metric == FKM_METRIC_L2 ? e->xn[i] : e->pb.metric == FKM_METRIC_COSINE ? 1.0 : 0.0;
}
static double alpha(const sp_engine *e) { return e->pb.metric == FKM_METRIC_L2 ? 2.0 : 1.0; }
static float dist_of(const sp_engine *e, double dist) {
    return (float)(e->pb.metric == FKM_METRIC_IP || dist > 0 ? dist : 0.0);
}

/* labels[i] = argmin_c score (lowest index on ties); best[i] = the distance. */
static void assign_all(sp_engine *e) {
    const int64_t n = e->pb.n, k = e->pb.k;
    const double a = alpha(e);
#pragma omp parallel for num_threads(e->pb.threads) schedule(dynamic, 64)
    for (int64_t i = 0; i < n; i++) {
        double *acc = e->acc + (int64_t)omp_get_thread_num() * k;
        dots(e, i, acc);
        double bs = INFINITY;
        int32_t bl = 0;
        for (int64_t c = 0; c < k; c++) {
            const double s = cterm(e, c) - a * acc[c];
            if (s < bs) { bs = s; bl = (int32_t)c; }
        }
        e->labels[i] = bl;
        e->best[i] = dist_of(e, xterm(e, i) + bs);
    }
}

/* best[i] = |x_i - c_{labels[i]}|^2 without the expansion's cancellation on the row's entries:
 * sum over entries of (x_j - c_j)^2, plus |c|^2 less the entries' c_j^2 (the absent ones), float64. */
static void exact_dist(sp_engine *e) {
    const int64_t n = e->pb.n, d = e->pb.d;
    const int64_t *ip = e->x->indptr;
    const int32_t *col = e->x->indices;
    const float *v = e->x->data;
#pragma omp parallel for num_threads(e->pb.threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const int64_t l = e->labels[i];
        const float *c = e->c + l * d;
        double in = 0.0, cin = 0.0;
        for (int64_t t = ip[i]; t < ip[i + 1]; t++) {
            const double cj = c[col[t]], diff = (double)v[t] - cj;
            in += diff * diff;
            cin += cj * cj;
        }
        const double rest = e->cn[l] - cin;
        e->best[i] = (float)(in + (rest > 0 ? rest : 0.0));
    }
}

/* Cosine: every updated centroid back to unit length, as the dense engine (engine.c) does it: an
 * empty cluster's is kept as it is, and a sum that cancels to zero keeps the previous direction. */
static void unit_centroids(sp_engine *e) {
    const int64_t d = e->pb.d;
    for (int64_t c = 0; c < e->pb.k; c++)
        if (e->counts[c] > 0) fkm_cpu_unit_centroid(e->c + c * d, e->c_old + c * d, d);
}

/* Weighted means over the entries, float64, point by point in index order (see the top). */
static fkm_status update(sp_engine *e) {
    const int64_t n = e->pb.n, d = e->pb.d, k = e->pb.k;
    const int64_t *ip = e->x->indptr;
    const int32_t *col = e->x->indices;
    const float *v = e->x->data, *w = e->pb.w;
    if (!e->sums) {
        e->sums = (double *)fkm_alloc((size_t)(k * d + k), sizeof(double));
        if (!e->sums) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the sparse update's sums");
    }
    double *wsum = e->sums + k * d;
    memset(e->sums, 0, (size_t)(k * d + k) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        const int64_t l = e->labels[i];
        double *s = e->sums + l * d;
        if (w) {
            const double wi = w[i];
            for (int64_t t = ip[i]; t < ip[i + 1]; t++) s[col[t]] += wi * (double)v[t];
        } else {
            for (int64_t t = ip[i]; t < ip[i + 1]; t++) s[col[t]] += (double)v[t];
        }
        wsum[l] += w ? (double)w[i] : 1.0;
    }
    for (int64_t c = 0; c < k; c++) {
        if (e->counts[c] == 0) continue; /* empty (no weighted point): keeps its centroid */
        if (!(wsum[c] > 0)) { e->counts[c] = 0; continue; }
        for (int64_t j = 0; j < d; j++) e->c[c * d + j] = (float)(e->sums[c * d + j] / wsum[c]);
    }
    if (e->pb.metric == FKM_METRIC_COSINE) unit_centroids(e);
    return FKM_OK;
}

static fkm_status sp_iterate(void *p, int upd, fkm_empty_policy pol, fkm_iter_stats *s) {
    sp_engine *e = (sp_engine *)p;
    fkm_status st = FKM_OK;
    const int64_t n = e->pb.n, d = e->pb.d, k = e->pb.k;
    assign_all(e);
    s->inertia = fkm_cpu_sum(e->best, e->pb.w, n, e->pb.threads);
    s->changed = 0;
    for (int64_t i = 0; i < n; i++) s->changed += e->labels[i] != e->prev[i];
    memcpy(e->prev, e->labels, (size_t)n * sizeof(int32_t));
    s->shift = 0.0;
    s->empty = 0;
    s->rescored = 0;
    if (!upd) return FKM_OK;
    memcpy(e->c_old, e->c, (size_t)(k * d) * sizeof(float));
    s->empty = fkm_cpu_count_labels(e->labels, e->pb.w, n, k, e->counts);
    if (pol == FKM_EMPTY_FARTHEST) FKM_TRY(fkm_cpu_fill_empty(e->labels, e->best, e->counts, e->pb.w, n, k));
    FKM_TRY(update(e));
    s->shift = fkm_cpu_max_shift(e->c, e->c_old, k, d);
    refresh(e);
cleanup:
    return st;
}

static fkm_status sp_assign(void *p, int32_t *labels, float *dist, double *inertia) {
    sp_engine *e = (sp_engine *)p;
    assign_all(e);
    if (e->pb.metric == FKM_METRIC_L2) exact_dist(e); /* cosine, ip: no |x|^2 + |c|^2 to cancel */
    if (labels) memcpy(labels, e->labels, (size_t)e->pb.n * sizeof(int32_t));
    if (dist) memcpy(dist, e->best, (size_t)e->pb.n * sizeof(float));
    if (inertia) *inertia = fkm_cpu_sum(e->best, e->pb.w, e->pb.n, e->pb.threads);
    return FKM_OK;
}

/* All n x k distances: the metric's expansion in float64, clamped as above, rounded to float. */
static fkm_status sp_distances(void *p, float *out) {
    sp_engine *e = (sp_engine *)p;
    const int64_t n = e->pb.n, k = e->pb.k;
    const double a = alpha(e);
#pragma omp parallel for num_threads(e->pb.threads) schedule(dynamic, 64)
    for (int64_t i = 0; i < n; i++) {
        double *acc = e->acc + (int64_t)omp_get_thread_num() * k;
        dots(e, i, acc);
        for (int64_t c = 0; c < k; c++) out[i * k + c] = dist_of(e, xterm(e, i) + cterm(e, c) - a * acc[c]);
    }
    return FKM_OK;
}

/* Uniform choice of k distinct rows: the same draws as fkm_init_random (init.c), so the same rows. */
static void init_random(sp_engine *e, uint64_t seed, uint8_t *taken, float *c) {
    const int64_t n = e->pb.n, d = e->pb.d;
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 2);
    for (int64_t ci = 0; ci < e->pb.k; ci++) {
        int64_t i = (int64_t)(fkm_rng_next(&rng) % (uint64_t)n);
        while (taken[i >> 3] & (1u << (i & 7))) i = (i + 1) % n;
        taken[i >> 3] |= (uint8_t)(1u << (i & 7));
        fkm_cpu_csr_row_dense(e->x, i, c + ci * d);
    }
}

/* Squared distances of every row to row t, clamped at 0, into dd (float, as the core's
 * k-means++ keeps them): |x_i|^2 + |x_t|^2 - 2 x_i.x_t in float64 with row t scattered in sc. */
static void dist_to_row(const sp_engine *e, int64_t t, double *sc, float *dd) {
    const fkm_csr *x = e->x;
    for (int64_t u = x->indptr[t]; u < x->indptr[t + 1]; u++) sc[x->indices[u]] = x->data[u];
#pragma omp parallel for num_threads(e->pb.threads) schedule(static)
    for (int64_t i = 0; i < e->pb.n; i++) {
        double dot = 0.0;
        for (int64_t u = x->indptr[i]; u < x->indptr[i + 1]; u++) dot += (double)x->data[u] * sc[x->indices[u]];
        const double dist = e->xn[i] + e->xn[t] - 2.0 * dot;
        dd[i] = (float)(dist > 0 ? dist : 0.0);
    }
    for (int64_t u = x->indptr[t]; u < x->indptr[t + 1]; u++) sc[x->indices[u]] = 0.0;
}

/* Greedy k-means++: the core's algorithm (init.c: the same random draws, 2 + ln k candidates,
 * the candidate of least potential), with the distances above. On data whose float64 sums are
 * exact the distances, hence the picks, are the core's. */
static fkm_status init_kmeanspp(sp_engine *e, uint64_t seed, float *c) {
    fkm_status st = FKM_OK;
    const int64_t n = e->pb.n, d = e->pb.d, k = e->pb.k;
    const float *w = e->pb.w;
    const int trials = 2 + (int)log((double)k);
    float *closest = (float *)fkm_alloc((size_t)n, sizeof(float));
    float *cand = (float *)fkm_alloc((size_t)n * trials, sizeof(float));
    double *cum = (double *)fkm_alloc((size_t)n, sizeof(double));
    double *sc = (double *)fkm_calloc((size_t)d, sizeof(double));
    FKM_CHECK_ALLOC(closest && cand && cum && sc, "sparse k-means++ work space");
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 1);
    for (int64_t i = 0; i < n; i++) cum[i] = (i ? cum[i - 1] : 0.0) + (w ? w[i] : 1.0);
    int64_t first = fkm_init_search_cum(cum, n, fkm_rng_uniform(&rng) * cum[n - 1]);
    fkm_cpu_csr_row_dense(e->x, first, c);
    dist_to_row(e, first, sc, closest);
    int64_t ids[64];
    for (int64_t ci = 1; ci < k; ci++) {
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            s += (double)closest[i] * (w ? w[i] : 1.0f);
            cum[i] = s;
        }
        const double pot = cum[n - 1];
        for (int t = 0; t < trials; t++)
            ids[t] = pot > 0 ? fkm_init_search_cum(cum, n, fkm_rng_uniform(&rng) * pot)
                             : (int64_t)(fkm_rng_next(&rng) % (uint64_t)n);
        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            float *ct = cand + (size_t)t * n;
            dist_to_row(e, ids[t], sc, ct);
            double ps = 0.0;
            for (int64_t i = 0; i < n; i++) {
                if (!(ct[i] < closest[i])) ct[i] = closest[i];
                ps += (double)ct[i] * (w ? w[i] : 1.0f);
            }
            if (ps < best_pot) { best_pot = ps; best = t; }
        }
        memcpy(closest, cand + (size_t)best * n, (size_t)n * sizeof(float));
        fkm_cpu_csr_row_dense(e->x, ids[best], c + ci * d);
    }
cleanup:
    fkm_free(closest); fkm_free(cand); fkm_free(cum); fkm_free(sc);
    return st;
}

/* The whole initialisation (backend.h's init hook): the rows are not dense on the host. */
static fkm_status sp_init(void *p, const fkm_params *prm, uint64_t seed, float *c) {
    sp_engine *e = (sp_engine *)p;
    fkm_status st = FKM_OK;
    switch (prm->init) {
    case FKM_INIT_ARRAY:
        FKM_TRY(fkm_check_centroids(prm->init_centroids, e->pb.k, e->pb.d, e->pb.metric, "init_centroids", c));
        break;
    case FKM_INIT_RANDOM: {
        uint8_t *taken = (uint8_t *)fkm_calloc((size_t)(e->pb.n + 7) / 8, 1);
        FKM_CHECK_ALLOC(taken, "random-init bitmap");
        init_random(e, seed, taken, c);
        fkm_free(taken);
        break;
    }
    case FKM_INIT_KMEANSPP:
        FKM_TRY(init_kmeanspp(e, seed, c));
        break;
    case FKM_INIT_KMEANS_PARALLEL:
        FKM_TRY(fkm_cpu_sparse_kmeans_par(e->x, e->pb.w, e->pb.k, seed, e->pb.threads, c));
        break;
    case FKM_INIT_HIERARCHICAL: /* src/core/init_hier.c on the CSR rows */
        FKM_TRY(fkm_init_hierarchical_csr(e->x, e->pb.w, e->pb.k, seed, e->pb.threads, e->pb.metric, c));
        break;
    default:
        return FKM_FAIL(FKM_ERR_INTERNAL, "sparse engine: init %d has no sparse form", (int)prm->init);
    }
    return sp_set_centroids(e, c);
cleanup:
    return st;
}

const fkm_backend fkm_cpu_sparse_backend = {
    "cpu", FKM_DEVICE_CPU, sp_create, sp_destroy, sp_set_centroids, sp_get_centroids,
    sp_iterate, sp_assign, sp_distances, NULL, NULL, /* kmeanspp, run: none (init does it; the core's loop) */
    NULL, sp_init, NULL,                              /* kmeans_par: in init (sparse_par.c); no peers */
    NULL,                                             /* unconstrained_inertia: never capped */
};
