/* fit.c -- fkm_mpi_fit: Lloyd's algorithm over rows spread across MPI ranks (docs/mpi.md).
 *
 * Every rank runs the CPU engine's assignment kernel on its own rows; everything that mixes
 * rows -- the centroid sums, the inertia, the counts, the stop rule's variance, the k-means++
 * potentials, the farthest-point choice -- is reduced exactly (integers, fixed point, or an
 * argmax with ties to the lowest global row), so every rank holds the same centroids and the
 * result does not depend on the number of ranks. This file: setup and the iteration loop;
 * setup.c checks the arguments and builds the context. */
#include "mpi_setup.h"

#include <math.h>
#include <string.h>

static void refresh_cterm(mpi_fit *f) {
    const int64_t d = f->c.d;
    for (int64_t ci = 0; ci < f->k; ci++) {
        float s = 0.0f;
        if (f->p->metric == FKM_METRIC_L2)
            for (int64_t j = 0; j < d; j++) s += f->cen[ci * d + j] * f->cen[ci * d + j];
        f->cterm[ci] = s;
    }
}

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
static fkm_status iterate(mpi_fit *f, fkm_iter_stats *s) {
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
    for (int64_t ci = 0; ci < k; ci++) s->empty += f->counts[ci] == 0;
    memcpy(f->cen_old, f->cen, (size_t)(k * d) * sizeof(float));
    if (f->p->empty == FKM_EMPTY_FARTHEST && s->empty > 0) FKM_TRY(fill_empty(f));
    FKM_TRY(fkm_mpi_update(&f->c, f->x, f->w, f->labels, k, f->colscale, f->wscale, f->work, f->cen, f->has_weight));
    for (int64_t ci = 0; ci < k; ci++) {
        float *cc = f->cen + ci * d;
        if (!f->has_weight[ci]) continue; /* kept as it was */
        if (f->p->metric != FKM_METRIC_COSINE) continue;
        double s2 = 0.0;
        for (int64_t j = 0; j < d; j++) s2 += (double)cc[j] * cc[j];
        if (s2 == 0.0) { /* antipodal points cancel: keep the previous direction */
            memcpy(cc, f->cen_old + ci * d, (size_t)d * sizeof(float));
            continue;
        }
        const double inv = 1.0 / sqrt(s2);
        for (int64_t j = 0; j < d; j++) cc[j] = (float)(cc[j] * inv);
    }
    double sh = 0.0;
    for (int64_t ci = 0; ci < k; ci++) {
        double m = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double t = (double)f->cen[ci * d + j] - f->cen_old[ci * d + j];
            m += t * t;
        }
        if (m > sh) sh = m;
    }
    s->shift = sqrt(sh);
    refresh_cterm(f);
cleanup:
    return st;
}

static int should_stop(const fkm_params *p, int it, const fkm_iter_stats *s, double prev, double var) {
    switch (p->stop) {
    case FKM_STOP_SHIFT: return s->shift * s->shift <= p->tol * var;
    case FKM_STOP_INERTIA:
        if (it == 0) return 0;
        if (prev == 0) return 1;
        return prev - s->inertia <= p->tol * fabs(prev);
    case FKM_STOP_LABELS: return it > 0 && s->changed == 0;
    case FKM_STOP_FIXED: return 0;
    }
    return 0;
}

static fkm_status set_initial(mpi_fit *f, uint64_t seed) {
    fkm_status st = FKM_OK;
    switch (f->p->init) {
    case FKM_INIT_ARRAY: memcpy(f->cen, f->init, (size_t)(f->k * f->c.d) * sizeof(float)); break;
    case FKM_INIT_RANDOM: st = fkm_mpi_init_random(&f->c, f->x, seed, f->k, f->cen); break;
    case FKM_INIT_KMEANSPP: st = fkm_mpi_init_kmeanspp(&f->c, f->x, f->w, seed, f->k, f->cen); break;
    case FKM_INIT_KMEANS_PARALLEL: /* every rank sees the same params: the same answer everywhere */
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "init k-means|| is not implemented for fkm_mpi_fit; use k-means++ "
                        "or random (both independent of the rank count)");
    }
    for (int64_t i = 0; i < f->c.n; i++) f->prev[i] = -1; /* every label counts as changed */
    refresh_cterm(f);
    return st;
}

/* Exact L2 distances of the final assignment (float64 sum of (x - c)^2, as the CPU engine). */
static void exact_l2(mpi_fit *f) {
    const int64_t d = f->c.d;
#pragma omp parallel for num_threads(f->c.threads) schedule(static)
    for (int64_t i = 0; i < f->c.n; i++) {
        const float *xi = f->x + i * d, *cc = f->cen + (int64_t)f->labels[i] * d;
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double t = (double)xi[j] - cc[j];
            s += t * t;
        }
        f->best[i] = (float)s;
    }
}

/* One restart into cur (arrays allocated). FKM_ERR_CANCELLED when any rank's callback asked. */
static fkm_status run_restart(mpi_fit *f, uint64_t seed, fkm_result *cur) {
    fkm_status st = FKM_OK;
    const fkm_params *p = f->p;
    FKM_TRY(set_initial(f, seed));
    cur->stop_reason = FKM_STOPPED_MAX_ITER;
    cur->iterations = 0;
    const int iters = p->freeze_init ? 0 : p->max_iter;
    double prev = 0.0;
    for (int it = 0; it < iters; it++) {
        fkm_iter_stats *s = &cur->stats[it];
        const double t0 = fkm_now_ms();
        FKM_TRY(iterate(f, s));
        s->ms = fkm_now_ms() - t0;
        cur->iterations = it + 1;
        fkm_log(p, FKM_LOG_DEBUG, "iter %d: inertia %.9g shift %.3g empty %lld changed %lld rescored %lld (%.2f ms)",
                it, s->inertia, s->shift, (long long)s->empty, (long long)s->changed, (long long)s->rescored, s->ms);
        int cancel = p->progress_fn && p->progress_fn(it, iters, s, p->progress_user);
        FKM_TRY(fkm_mpi_allreduce(&f->c, &cancel, 1, MPI_INT, MPI_MAX)); /* every rank stops together */
        if (cancel) {
            cur->stop_reason = FKM_STOPPED_CANCELLED;
            break;
        }
        if (should_stop(p, it, s, prev, f->var)) {
            cur->stop_reason = FKM_STOPPED_CONVERGED;
            break;
        }
        prev = s->inertia;
    }
    /* Labels and inertia always describe the returned centroids. */
    memcpy(cur->centroids, f->cen, (size_t)(f->k * f->c.d) * sizeof(float));
    run_assign(f);
    if (p->metric == FKM_METRIC_L2) exact_l2(f);
    if (f->c.n > 0) memcpy(cur->labels, f->labels, (size_t)f->c.n * sizeof(int32_t));
    FKM_TRY(fkm_mpi_exact_sum(&f->c, f->best, f->w, f->c.n, &cur->inertia));
    if (cur->stop_reason == FKM_STOPPED_CANCELLED) st = FKM_FAIL(FKM_ERR_CANCELLED, "cancelled by a progress callback");
cleanup:
    return st;
}

fkm_status fkm_mpi_fit(MPI_Comm comm, const fkm_params *p, const fkm_matrix *local_x, int64_t global_row0,
                       fkm_result *out) {
    fkm_status st = FKM_OK;
    mpi_fit f;
    fkm_result cur;
    memset(&cur, 0, sizeof cur);
    if (out) memset(out, 0, sizeof *out);
    FKM_TRY(fkm_mpi_setup(&f, comm, p, local_x, global_row0, out));
    st = fkm_mpi_result_alloc(&f, out);
    if (st == FKM_OK) st = fkm_mpi_result_alloc(&f, &cur);
    FKM_TRY(fkm_mpi_agree(&f.c, st));
    out->inertia = INFINITY;
    for (int r = 0; r < p->n_init; r++) {
        st = run_restart(&f, p->seed + (uint64_t)r * 0x9E3779B9ull, &cur);
        if (st != FKM_OK && st != FKM_ERR_CANCELLED) goto cleanup;
        fkm_log(p, FKM_LOG_INFO, "restart %d: inertia %.9g after %d iterations (%s)", r, cur.inertia, cur.iterations,
                fkm_stop_reason_str(cur.stop_reason));
        if (cur.inertia < out->inertia || r == 0) { /* identical on every rank: the same restart is kept */
            fkm_result tmp = *out;
            *out = cur;
            cur = tmp;
            out->best_init = r;
        }
        if (st == FKM_ERR_CANCELLED) {
            out->stop_reason = FKM_STOPPED_CANCELLED;
            break;
        }
    }
    out->device = FKM_DEVICE_CPU;
    out->precision = FKM_PREC_EXACT;
cleanup:
    fkm_result_free(&cur);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED && out) fkm_result_free(out);
    fkm_mpi_teardown(&f);
    return st;
}
