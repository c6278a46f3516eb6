/* fit.c -- fkm_mpi_fit: Lloyd's algorithm over rows spread across MPI ranks (docs/mpi.md).
 *
 * Every rank runs the CPU engine's assignment kernel on its own rows; everything that mixes
 * rows -- the centroid sums, the inertia, the counts, the stop rule's variance, the k-means++
 * potentials, the farthest-point choice -- is reduced exactly (integers, fixed point, or an
 * argmax with ties to the lowest global row), so every rank holds the same centroids and the
 * result does not depend on the number of ranks. This file: the rank's engine behind the core's
 * interface (src/backend.h; every hook collective) and the call, which runs the core's Lloyd
 * driver (src/core/lloyd.c) over it; setup.c checks the arguments and builds the context. */
#include "mpi_setup.h"
#include "../core/lloyd.h"
#include "../core/select.h"

#include <math.h>
#include <string.h>

static void refresh_cterm(mpi_fit *f) { fkm_cpu_cterm(f->cen, f->k, f->c.d, f->p->metric, f->cterm); }

static void run_assign(mpi_fit *f) {
    if (f->c.n == 0) return;
    fkm_cpu_assign_args a = {f->x, f->xterm, f->cen, f->cterm, f->c.n, f->c.d, f->k,
                             f->p->metric == FKM_METRIC_L2 ? 2.0f : 1.0f, f->p->metric != FKM_METRIC_IP,
                             f->c.threads};
    fkm_cpu_assign_ws(&a, f->labels, f->best, f->ws);
}

/* A row may leave its cluster for an empty one when it has weight and its cluster keeps another
 * row (global counts of weighted rows), exactly as the CPU engine decides. */
static int is_donor(const mpi_fit *f, int64_t i) {
    return f->counts[f->labels[i]] > 1 && !(f->w && !(f->w[i] > 0));
}

/* FKM_EMPTY_FARTHEST: each empty cluster, in index order, takes the donor with the largest
 * current distance over ALL ranks, ties to the lowest global row: each rank offers its best
 * (lowest local index on ties = lowest global), one allgather picks. Collective. */
static fkm_status fill_empty(mpi_fit *f) {
    fkm_mpi_ctx *c = &f->c;
    for (int64_t ci = 0; ci < f->k; ci++) {
        if (f->counts[ci] != 0) continue;
        int64_t far = -1;
        for (int64_t i = 0; i < c->n; i++)
            if (is_donor(f, i) && (far < 0 || f->best[i] > f->best[far])) far = i;
        int64_t mine[3] = {-1, 0, 0}; /* global row, distance bits, label */
        if (far >= 0) {
            uint32_t bits;
            memcpy(&bits, &f->best[far], sizeof bits);
            mine[0] = c->row0 + far;
            mine[1] = bits;
            mine[2] = f->labels[far];
        }
        fkm_status st = fkm_mpi_rc(MPI_Allgather(mine, 3, MPI_INT64_T, f->offers, 3, MPI_INT64_T, c->comm),
                                   "MPI_Allgather");
        if (st != FKM_OK) return st;
        int win = -1;
        float wd = 0.0f;
        for (int r = 0; r < c->size; r++) {
            const int64_t *o = f->offers + 3 * r;
            if (o[0] < 0) continue;
            uint32_t bits = (uint32_t)o[1];
            float dist;
            memcpy(&dist, &bits, sizeof dist);
            if (win < 0 || dist > wd || (dist == wd && o[0] < f->offers[3 * win])) {
                win = r;
                wd = dist;
            }
        }
        if (win < 0) break; /* no donor left anywhere: the rest keep their centroids */
        const int64_t *o = f->offers + 3 * win;
        f->counts[o[2]]--;
        f->counts[ci] = 1;
        if (win == c->rank) {
            f->labels[o[0] - c->row0] = (int32_t)ci;
            f->best[o[0] - c->row0] = 0.0f;
        }
    }
    return FKM_OK;
}

/* One Lloyd iteration over all ranks; fills s except ms. Collective. */
static fkm_status mpi_iterate(void *eng, int update, fkm_empty_policy pol, fkm_iter_stats *s) {
    mpi_fit *f = (mpi_fit *)eng;
    fkm_status st = FKM_OK;
    const int64_t n = f->c.n, d = f->c.d, k = f->k;
    run_assign(f);
    FKM_TRY(fkm_mpi_exact_sum(&f->c, f->best, f->w, n, &s->inertia));
    /* counts of weighted rows per cluster, and changed labels: one integer allreduce */
    memset(f->counts, 0, (size_t)(k + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        f->counts[f->labels[i]] += !f->w || f->w[i] > 0;
        f->counts[k] += f->labels[i] != f->prev[i];
    }
    FKM_TRY(fkm_mpi_allreduce(&f->c, f->counts, k + 1, MPI_INT64_T, MPI_SUM));
    s->changed = f->counts[k];
    s->rescored = 0; /* CPU ranks score in exact fp32 */
    memcpy(f->prev, f->labels, (size_t)n * sizeof(int32_t));
    s->empty = 0;
    s->shift = 0.0;
    if (!update) return FKM_OK; /* as the CPU engine: assignment statistics only */
    for (int64_t ci = 0; ci < k; ci++) s->empty += f->counts[ci] == 0;
    memcpy(f->cen_old, f->cen, (size_t)(k * d) * sizeof(float));
    if (pol == FKM_EMPTY_FARTHEST && s->empty > 0) FKM_TRY(fill_empty(f));
    FKM_TRY(fkm_mpi_update(&f->c, f->x, f->w, f->labels, k, f->colscale, f->wscale, f->work, f->cen, f->has_weight));
    for (int64_t ci = 0; f->p->metric == FKM_METRIC_COSINE && ci < k; ci++)
        if (f->has_weight[ci]) /* else kept as it was */
            fkm_cpu_unit_centroid(f->cen + ci * d, f->cen_old + ci * d, d);
    s->shift = fkm_cpu_max_shift(f->cen, f->cen_old, k, d);
    refresh_cterm(f);
cleanup:
    return st;
}

/* A fresh start from centroids now in f->cen: every label counts as changed. */
static void fresh_start(mpi_fit *f) {
    for (int64_t i = 0; i < f->c.n; i++) f->prev[i] = -1;
    refresh_cterm(f);
}

static fkm_status mpi_set_centroids(void *eng, const float *c) {
    mpi_fit *f = (mpi_fit *)eng;
    memcpy(f->cen, c, (size_t)(f->k * f->c.d) * sizeof(float));
    fresh_start(f);
    return FKM_OK;
}

static fkm_status mpi_get_centroids(void *eng, float *c) {
    const mpi_fit *f = (const mpi_fit *)eng;
    memcpy(c, f->cen, (size_t)(f->k * f->c.d) * sizeof(float));
    return FKM_OK;
}

/* Every method on the rows of all ranks (init.c), the same centroids everywhere. Collective. */
static fkm_status mpi_init(void *eng, const fkm_params *p, uint64_t seed, float *c) {
    mpi_fit *f = (mpi_fit *)eng;
    fkm_status st = FKM_OK;
    switch (p->init) {
    case FKM_INIT_ARRAY: memcpy(f->cen, f->init, (size_t)(f->k * f->c.d) * sizeof(float)); break;
    case FKM_INIT_RANDOM: st = fkm_mpi_init_random(&f->c, f->x, seed, f->k, f->cen); break;
    case FKM_INIT_KMEANSPP: st = fkm_mpi_init_kmeanspp(&f->c, f->x, f->w, seed, f->k, f->cen); break;
    case FKM_INIT_KMEANS_PARALLEL: /* every rank sees the same params: the same answer everywhere */
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "init k-means|| is not implemented for fkm_mpi_fit; use k-means++ "
                        "or random (both independent of the rank count)");
    case FKM_INIT_HIERARCHICAL:
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "init hierarchical is not implemented for fkm_mpi_fit; use k-means++ "
                        "or random (both independent of the rank count)");
    case FKM_INIT_AUTO: return FKM_FAIL(FKM_ERR_INTERNAL, "init auto reached the MPI ranks unresolved");
    }
    fresh_start(f);
    if (st == FKM_OK) memcpy(c, f->cen, (size_t)(f->k * f->c.d) * sizeof(float));
    return st;
}

/* Labels of this rank's rows; distances (L2: recomputed exactly, as the CPU engine); the global
 * inertia (collective: every rank must ask for it). */
static fkm_status mpi_assign(void *eng, int32_t *labels, float *dist, double *inertia) {
    mpi_fit *f = (mpi_fit *)eng;
    run_assign(f);
    if (f->p->metric == FKM_METRIC_L2) fkm_cpu_exact_l2(f->x, f->cen, f->labels, f->c.n, f->c.d, f->c.threads, f->best);
    if (labels && f->c.n > 0) memcpy(labels, f->labels, (size_t)f->c.n * sizeof(int32_t));
    if (dist && f->c.n > 0) memcpy(dist, f->best, (size_t)f->c.n * sizeof(float));
    return inertia ? fkm_mpi_exact_sum(&f->c, f->best, f->w, f->c.n, inertia) : FKM_OK;
}

/* A cancel request on any rank stops every rank after the same iteration. Collective. */
static fkm_status mpi_agree_cancel(void *eng, int *cancel) {
    return fkm_mpi_allreduce(&((mpi_fit *)eng)->c, cancel, 1, MPI_INT, MPI_MAX);
}

/* The rank's engine: made by fkm_mpi_setup (collective, from the communicator), not by create. */
static const fkm_backend mpi_backend = {
    "mpi", FKM_DEVICE_CPU, NULL, NULL, mpi_set_centroids, mpi_get_centroids, mpi_iterate, mpi_assign,
    NULL, NULL, NULL, NULL, /* distances, kmeanspp, run, kmeans_par: not used, init covers every method */
    mpi_init, mpi_agree_cancel,
    NULL, /* unconstrained_inertia: max_cluster_size is refused (setup.c) */
};

fkm_status fkm_mpi_fit(MPI_Comm comm, const fkm_params *p, const fkm_matrix *local_x, int64_t global_row0,
                       fkm_result *out) {
    fkm_status st = FKM_OK;
    mpi_fit f;
    fkm_result cur;
    memset(&cur, 0, sizeof cur);
    if (out) memset(out, 0, sizeof *out);
    fkm_params q; /* init auto: k-means++, the ranks' (fkm_resolve_init) */
    if (p) {
        q = *p;
        q.init = fkm_resolve_init(p->init, FKM_DEVICE_CPU);
        p = &q;
    }
    FKM_TRY(fkm_mpi_setup(&f, comm, p, local_x, global_row0, out));
    st = fkm_mpi_result_alloc(&f, out);
    if (st == FKM_OK) st = fkm_mpi_result_alloc(&f, &cur);
    FKM_TRY(fkm_mpi_agree(&f.c, st));
    /* this rank's rows as the driver sees them (it reads the sizes; mpi_init does the rest) */
    const fkm_problem pb = {f.x, f.x, FKM_F32, f.w, f.c.n, f.c.d, f.k, p->metric, FKM_PREC_EXACT, f.c.threads,
                            p->cuda_device, 0, p->init, 1, 0, FKM_ALGO_LLOYD /* ranks run Lloyd (flashkmeans.h) */,
                            NULL /* dense */, 0 /* no cap: refused by fkm_mpi_setup */};
    /* same restarts on every rank: identical inertias keep the same restart everywhere */
    st = fkm_lloyd_fit(p, &mpi_backend, &f, &pb, p->seed, f.var, out, &cur);
cleanup:
    fkm_result_free(&cur);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED && out) fkm_result_free(out);
    fkm_mpi_teardown(&f);
    return st;
}
