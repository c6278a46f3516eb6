#define _GNU_SOURCE /* qsort_r */
/* engine.c -- the CPU backend: state, iteration, empty-cluster policy. */
#include "cpu.h"
#include "capped.h"
#include "transform.h"
#include "../threads.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fkm_problem pb;
    float *c, *c_old, *cterm, *xterm, *best;
    int32_t *labels, *prev;
    int64_t *counts;
    fkm_cpu_ws *ws; /* assignment and update scratch, kept across iterations */
    fkm_cpu_bounds *bounds; /* FKM_ALGO_ELKAN / HAMERLY: the iterations' bounded assignment; NULL: Lloyd */
    fkm_threads_watch watch; /* fkm_threads_recheck's memory of the load it saw */
    /* max_cluster_size (a fit's cap below n): the capped assignment's scratch; the labels of the
     * last update (kept, valid when have_kept); the nearest-centroid distances of the last
     * assign and their inertia (unc_inertia) */
    fkm_cpu_capped *capped;
    int32_t *kept, *unc;
    float *unc_best;
    int have_kept;
    double unc_inertia;
} cpu_engine;

static void cpu_destroy(void *p) {
    cpu_engine *e = (cpu_engine *)p;
    if (!e) return;
    if (e->pb.threads > 1) fkm_threads_release(e->pb.threads);
    fkm_free(e->c); fkm_free(e->c_old); fkm_free(e->cterm); fkm_free(e->xterm); fkm_free(e->best);
    fkm_free(e->labels); fkm_free(e->prev); fkm_free(e->counts);
    fkm_cpu_ws_destroy(e->ws);
    fkm_cpu_bounds_destroy(e->bounds);
    fkm_cpu_capped_destroy(e->capped);
    fkm_free(e->kept); fkm_free(e->unc); fkm_free(e->unc_best);
    fkm_free(e);
}

static fkm_status cpu_create(const fkm_problem *pb, void **out, const fkm_backend **ops) {
    (void)ops; /* this table runs every CPU engine */
    fkm_status st = FKM_OK;
    const int64_t n = pb->n, d = pb->d, k = pb->k;
    cpu_engine *e = (cpu_engine *)fkm_calloc(1, sizeof *e);
    FKM_CHECK_ALLOC(e, "CPU engine");
    e->pb = *pb;
    e->c = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    e->c_old = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    e->cterm = (float *)fkm_alloc((size_t)k, sizeof(float));
    e->xterm = (float *)fkm_alloc((size_t)n, sizeof(float));
    e->best = (float *)fkm_alloc((size_t)n, sizeof(float));
    e->labels = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    e->prev = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    e->counts = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    e->ws = fkm_cpu_ws_create();
    if (pb->threads_auto) fkm_threads_watch_init(&e->watch, fkm_threads_lloyd_size(n, d, k));
    FKM_CHECK_ALLOC(e->c && e->c_old && e->cterm && e->xterm && e->best && e->labels && e->prev && e->counts && e->ws,
                    "CPU engine arrays");
    fkm_cpu_xterm(pb->x, n, d, pb->metric, pb->threads, e->xterm);
    if (pb->max_cluster_size > 0 && pb->max_cluster_size < n) { /* a cap of n or more never binds */
        e->capped = fkm_cpu_capped_create(n, k, pb->max_cluster_size);
        e->kept = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
        e->unc = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
        e->unc_best = (float *)fkm_alloc((size_t)n, sizeof(float));
        FKM_CHECK_ALLOC(e->capped && e->kept && e->unc && e->unc_best, "the capped assignment's arrays");
    } else if (pb->algorithm != FKM_ALGO_LLOYD && pb->metric == FKM_METRIC_L2) {
        /* (not with a cap: the bounds follow the nearest-centroid labels, capped ones are others) */
        e->bounds = fkm_cpu_bounds_create(pb->algorithm, pb->x, n, d, k, pb->threads);
        FKM_CHECK_ALLOC(e->bounds, "the bounds of algorithm elkan/hamerly");
    }
    *out = e;
    return FKM_OK;
cleanup:
    cpu_destroy(e);
    return st;
}

static void refresh_cterm(cpu_engine *e) { fkm_cpu_cterm(e->c, e->pb.k, e->pb.d, e->pb.metric, e->cterm); }

static fkm_status cpu_set_centroids(void *p, const float *c) {
    cpu_engine *e = (cpu_engine *)p;
    memcpy(e->c, c, (size_t)(e->pb.k * e->pb.d) * sizeof(float));
    for (int64_t i = 0; i < e->pb.n; i++) e->prev[i] = -1; /* new centroids: every label counts as changed */
    if (e->bounds) fkm_cpu_bounds_reset(e->bounds);
    e->have_kept = 0; /* the capped step has no labels of these centroids yet */
    refresh_cterm(e);
    return FKM_OK;
}

static fkm_status cpu_get_centroids(void *p, float *c) {
    cpu_engine *e = (cpu_engine *)p;
    memcpy(c, e->c, (size_t)(e->pb.k * e->pb.d) * sizeof(float));
    return FKM_OK;
}

static void run_assign_bounded(cpu_engine *e);

static void run_assign(cpu_engine *e) {
    fkm_cpu_assign_args a = {e->pb.x, e->xterm, e->c, e->cterm, e->pb.n, e->pb.d, e->pb.k,
                             e->pb.metric == FKM_METRIC_L2 ? 2.0f : 1.0f,
                             /* L2 and cosine distances are >= 0 in exact arithmetic: clamp the
                              * rounding (1 - x.c of equal unit vectors can be -6e-8) */
                             e->pb.metric != FKM_METRIC_IP, e->pb.threads};
    fkm_cpu_assign_ws(&a, e->labels, e->best, e->ws);
}

static fkm_status run_assign_capped(cpu_engine *e, int32_t *unc, float *unc_best) {
    fkm_cpu_assign_args a = {e->pb.x, e->xterm, e->c, e->cterm, e->pb.n, e->pb.d, e->pb.k,
                             e->pb.metric == FKM_METRIC_L2 ? 2.0f : 1.0f, e->pb.metric != FKM_METRIC_IP,
                             e->pb.threads};
    return fkm_cpu_capped_assign(e->capped, &a, e->pb.w, e->have_kept ? e->kept : NULL, e->labels, e->best, unc,
                                 unc_best);
}

static void run_assign_bounded(cpu_engine *e) {
    fkm_cpu_assign_args a = {e->pb.x, e->xterm, e->c, e->cterm, e->pb.n, e->pb.d, e->pb.k, 2.0f, 1, e->pb.threads};
    fkm_cpu_assign_bounded(e->bounds, &a, e->labels, e->best);
}

/* A point may leave its cluster for an empty one when it has weight and its cluster keeps
 * another point (counts are of weighted points). Counts only decrease while empties are filled,
 * so a point that is not a donor never becomes one again. */
static int is_donor(const int32_t *labels, const int64_t *counts, const float *w, int64_t i) {
    return counts[labels[i]] > 1 && !(w && !(w[i] > 0));
}

static void move_point(int32_t *labels, float *best, int64_t *counts, int64_t i, int64_t c) {
    counts[labels[i]]--;
    labels[i] = (int32_t)c;
    counts[c] = 1;
    best[i] = 0.0f;
}

static int cmp_far(const void *a, const void *b, void *ctx) {
    const float *best = (const float *)ctx;
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (best[i] != best[j]) return best[i] > best[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

/* FKM_EMPTY_FARTHEST: each empty cluster, in index order, takes the donor farthest from its
 * centroid (lowest index on ties). With no donor left the cluster keeps its previous centroid.
 * Few empties: one scan per empty cluster; many: one sort of all points. Same picks either way.
 * Shared by the dense and the sparse engine (cpu.h). */
fkm_status fkm_cpu_fill_empty(int32_t *labels, float *best, int64_t *counts, const float *w, int64_t n,
                              int64_t k) {
    int64_t nempty = 0;
    for (int64_t c = 0; c < k; c++) nempty += counts[c] == 0;
    if (nempty == 0) return FKM_OK;
    if (nempty <= 32) {
        for (int64_t c = 0; c < k; c++) {
            if (counts[c] != 0) continue;
            int64_t far = -1;
            for (int64_t i = 0; i < n; i++)
                if (is_donor(labels, counts, w, i) && (far < 0 || best[i] > best[far])) far = i;
            if (far < 0) break;
            move_point(labels, best, counts, far, c);
        }
        return FKM_OK;
    }
    int64_t *order = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    if (!order) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the empty-cluster policy");
    for (int64_t i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof(int64_t), cmp_far, best);
    int64_t pos = 0;
    for (int64_t c = 0; c < k && pos < n; c++) {
        if (counts[c] != 0) continue;
        while (pos < n && !is_donor(labels, counts, w, order[pos])) pos++;
        if (pos == n) break;
        move_point(labels, best, counts, order[pos++], c);
    }
    fkm_free(order);
    return FKM_OK;
}

static fkm_status cpu_iterate(void *p, int update, fkm_empty_policy pol, fkm_iter_stats *s) {
    cpu_engine *e = (cpu_engine *)p;
    fkm_status st = FKM_OK;
    const int64_t n = e->pb.n, d = e->pb.d, k = e->pb.k;
    /* Load may have come or gone since the last iteration: a worker that has to share its core
     * with another process would hold up every barrier of this one (threads.h). */
    if (e->pb.threads_auto) e->pb.threads = fkm_threads_recheck(e->pb.threads, &e->watch);
    if (e->capped) FKM_TRY(run_assign_capped(e, NULL, NULL));
    else if (e->bounds) run_assign_bounded(e); /* same labels and distances, fewer scores */
    else run_assign(e);
    s->inertia = fkm_cpu_sum(e->best, e->pb.w, n, e->pb.threads);
    s->changed = 0;
    for (int64_t i = 0; i < n; i++) s->changed += e->labels[i] != e->prev[i];
    memcpy(e->prev, e->labels, (size_t)n * sizeof(int32_t));
    s->shift = 0.0;
    s->empty = 0;
    s->rescored = 0; /* exact fp32 scoring throughout: nothing to re-score */
    if (!update) return FKM_OK;
    memcpy(e->c_old, e->c, (size_t)(k * d) * sizeof(float));
    /* Counts first (cheap) so the empty policy can move points before the sums. */
    /* A cluster holding only zero-weight points has no mean: it counts as empty (algorithm.md). */
    s->empty = fkm_cpu_count_labels(e->labels, e->pb.w, n, k, e->counts);
    if (pol == FKM_EMPTY_FARTHEST) FKM_TRY(fkm_cpu_fill_empty(e->labels, e->best, e->counts, e->pb.w, n, k));
    FKM_TRY(fkm_cpu_update_ws(e->pb.x, e->pb.w, e->labels, n, d, k, e->pb.threads, e->c, e->counts, e->ws));
    if (e->pb.metric == FKM_METRIC_COSINE)
        for (int64_t c = 0; c < k; c++) {
            /* an empty cluster kept its centroid (no donor, or KEEP), already unit: dividing by
             * its float32 norm again could move it by an ulp (contract §5: bit for bit) */
            if (e->counts[c] > 0) fkm_cpu_unit_centroid(e->c + c * d, e->c_old + c * d, d);
        }
    s->shift = fkm_cpu_max_shift(e->c, e->c_old, k, d);
    refresh_cterm(e);
    if (e->capped) { /* within the cap (the empty policy only moves a point into an empty cluster) */
        memcpy(e->kept, e->labels, (size_t)n * sizeof(int32_t));
        e->have_kept = 1;
    }
cleanup:
    return st;
}

static fkm_status cpu_assign(void *p, int32_t *labels, float *dist, double *inertia) {
    cpu_engine *e = (cpu_engine *)p;
    if (e->capped) {
        fkm_status st = run_assign_capped(e, e->unc, e->unc_best);
        if (st != FKM_OK) return st;
        if (e->pb.metric == FKM_METRIC_L2)
            fkm_cpu_exact_l2(e->pb.x, e->c, e->unc, e->pb.n, e->pb.d, e->pb.threads, e->unc_best);
        e->unc_inertia = fkm_cpu_sum(e->unc_best, e->pb.w, e->pb.n, e->pb.threads);
    } else {
        run_assign(e);
    }
    if (e->pb.metric == FKM_METRIC_L2) /* distances without the expansion's cancellation (terms.c) */
        fkm_cpu_exact_l2(e->pb.x, e->c, e->labels, e->pb.n, e->pb.d, e->pb.threads, e->best);
    if (labels) memcpy(labels, e->labels, (size_t)e->pb.n * sizeof(int32_t));
    if (dist) memcpy(dist, e->best, (size_t)e->pb.n * sizeof(float));
    if (inertia) *inertia = fkm_cpu_sum(e->best, e->pb.w, e->pb.n, e->pb.threads);
    if (!e->capped) e->unc_inertia = fkm_cpu_sum(e->best, e->pb.w, e->pb.n, e->pb.threads);
    return FKM_OK;
}

static fkm_status cpu_unconstrained_inertia(void *p, double *inertia) {
    *inertia = ((cpu_engine *)p)->unc_inertia;
    return FKM_OK;
}

/* All n x k distances with the assignment's arithmetic (transform.c): the expansion, as the
 * contract states for transform (no exact recomputation), clamped at 0 for L2 and cosine. */
static fkm_status cpu_distances(void *p, float *out) {
    cpu_engine *e = (cpu_engine *)p;
    fkm_cpu_assign_args a = {e->pb.x, e->xterm, e->c, e->cterm, e->pb.n, e->pb.d, e->pb.k,
                             e->pb.metric == FKM_METRIC_L2 ? 2.0f : 1.0f, e->pb.metric != FKM_METRIC_IP,
                             e->pb.threads};
    fkm_cpu_distances(&a, out);
    return FKM_OK;
}

const fkm_backend fkm_cpu_backend = {
    "cpu", FKM_DEVICE_CPU, cpu_create, cpu_destroy, cpu_set_centroids, cpu_get_centroids,
    cpu_iterate, cpu_assign, cpu_distances, NULL, NULL, /* kmeanspp, run: the core's loop */
    NULL,                                                /* kmeans_par: the core's */
    NULL, NULL,                                          /* init: the core's; agree_cancel: no peers */
    cpu_unconstrained_inertia,
};
