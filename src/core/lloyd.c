/* lloyd.c -- the Lloyd driver (lloyd.h): initial centroids, the iterate/stop loop, restarts,
 * cancellation. Every engine runs through here; an engine only supplies the steps (backend.h). */
#include "lloyd.h"
#include "convert.h"
#include "init.h"
#include "../stop.h"
#include "../threads.h"

#include <math.h>

static fkm_status initial_centroids(const fkm_params *p, const fkm_backend *be, void *eng,
                                    const fkm_problem *pb, uint64_t seed, float *c) {
    const int64_t k = pb->k, d = pb->d;
    if (be->init) return be->init(eng, p, seed, c); /* the engine holds rows the host does not (MPI) */
    switch (p->init) {
    case FKM_INIT_ARRAY: {
        fkm_status st = fkm_check_centroids(p->init_centroids, k, d, pb->metric, "init_centroids", c);
        return st != FKM_OK ? st : be->set_centroids(eng, c);
    }
    case FKM_INIT_RANDOM: {
        fkm_status st = fkm_init_random(pb->x, pb->n, d, k, seed, c);
        return st != FKM_OK ? st : be->set_centroids(eng, c);
    }
    case FKM_INIT_KMEANSPP:
        if (be->kmeanspp) return be->kmeanspp(eng, seed, c);
        {
            /* its parallel loops are n d (2 + ln k) multiply-adds, smaller than an iteration's */
            const double work = (double)pb->n * d * (2 + (int)log((double)k));
            const int threads = pb->threads_auto ? fkm_threads_cap(pb->threads, work) : pb->threads;
            fkm_status st = fkm_init_kmeanspp(pb->x, pb->w, pb->n, d, k, seed, threads, c);
            return st != FKM_OK ? st : be->set_centroids(eng, c);
        }
    case FKM_INIT_KMEANS_PARALLEL: { /* on the engine when it has it, else on the host's float32 rows */
        if (be->kmeans_par) return be->kmeans_par(eng, seed, c);
        fkm_status st = fkm_init_kmeans_parallel(pb->x, pb->w, pb->n, d, k, seed, pb->threads, c);
        return st != FKM_OK ? st : be->set_centroids(eng, c);
    }
    case FKM_INIT_HIERARCHICAL: { /* on the host's rows for every engine: many small fits */
        const double t0 = fkm_now_ms();
        fkm_status st = fkm_init_hierarchical(pb->x, pb->w, pb->n, d, k, seed, pb->threads, pb->metric, c);
        fkm_log(p, FKM_LOG_INFO, "hierarchical initialisation: %lld centroids in %.0f ms", (long long)k,
                fkm_now_ms() - t0);
        return st != FKM_OK ? st : be->set_centroids(eng, c);
    }
    case FKM_INIT_AUTO: break; /* every entry point resolves it first (fkm_resolve_init) */
    }
    return FKM_FAIL(FKM_ERR_INTERNAL, "unhandled init method");
}

/* The host loop: one be->iterate per iteration, the progress callback, the stop rule. Sets
 * cur->iterations and cur->stop_reason (CANCELLED when a callback, here or at a peer, asked). */
static fkm_status host_loop(const fkm_params *p, const fkm_backend *be, void *eng, int iters, double var,
                            fkm_result *cur) {
    fkm_status st = FKM_OK;
    double prev = 0.0;
    for (int it = 0; it < iters; it++) {
        fkm_iter_stats *s = &cur->stats[it];
        double t0 = fkm_now_ms();
        FKM_TRY(be->iterate(eng, 1, p->empty, s));
        s->ms = fkm_now_ms() - t0;
        cur->iterations = it + 1;
        fkm_log(p, FKM_LOG_DEBUG, "iter %d: inertia %.9g shift %.3g empty %lld changed %lld rescored %lld (%.2f ms)",
                it, s->inertia, s->shift, (long long)s->empty, (long long)s->changed, (long long)s->rescored, s->ms);
        int cancel = p->progress_fn && p->progress_fn(it, iters, s, p->progress_user);
        /* every peer takes part every iteration, whether or not it has a callback */
        if (be->agree_cancel) FKM_TRY(be->agree_cancel(eng, &cancel));
        if (cancel) {
            cur->stop_reason = FKM_STOPPED_CANCELLED;
            break;
        }
        if (fkm_stop_rule_met(p->stop, p->tol, it, s->shift, s->inertia, s->changed, prev, var)) {
            cur->stop_reason = FKM_STOPPED_CONVERGED;
            break;
        }
        prev = s->inertia;
    }
cleanup:
    return st;
}

/* Run one restart from its initial centroids into `cur` (arrays allocated). Returns
 * FKM_ERR_CANCELLED when the progress callback asked to stop. */
static fkm_status run_restart(const fkm_params *p, const fkm_backend *be, void *eng,
                              const fkm_problem *pb, uint64_t seed, double var, fkm_result *cur) {
    fkm_status st = FKM_OK;
    cur->iterations = 0;
    FKM_TRY(initial_centroids(p, be, eng, pb, seed, cur->centroids));
    cur->stop_reason = FKM_STOPPED_MAX_ITER;
    const int iters = p->freeze_init ? 0 : p->max_iter;
    if (be->run && !p->progress_fn && iters > 0) { /* engine-side loop: no host round trip per iteration */
        int ran = 0, conv = 0;
        FKM_TRY(be->run(eng, iters, p->empty, p->stop, p->tol, var, cur->stats, &ran, &conv));
        cur->iterations = ran;
        if (conv) cur->stop_reason = FKM_STOPPED_CONVERGED;
    } else {
        FKM_TRY(host_loop(p, be, eng, iters, var, cur));
    }
    /* Labels and inertia always describe the returned centroids. */
    FKM_TRY(be->get_centroids(eng, cur->centroids));
    FKM_TRY(be->assign(eng, cur->labels, NULL, &cur->inertia));
    cur->inertia_unconstrained = cur->inertia;
    if (p->max_cluster_size > 0 && be->unconstrained_inertia) /* capped labels: the nearest ones' too */
        FKM_TRY(be->unconstrained_inertia(eng, &cur->inertia_unconstrained));
    if (cur->stop_reason == FKM_STOPPED_CANCELLED) /* with peers it may have been another's callback */
        st = FKM_FAIL(FKM_ERR_CANCELLED, be->agree_cancel ? "cancelled by a progress callback"
                                                          : "cancelled by the progress callback");
cleanup:
    return st;
}

fkm_status fkm_lloyd_fit(const fkm_params *p, const fkm_backend *be, void *eng, const fkm_problem *pb,
                         uint64_t seed, double var, fkm_result *out, fkm_result *cur) {
    fkm_status st = FKM_OK;
    out->inertia = INFINITY;
    for (int r = 0; r < p->n_init; r++) {
        st = run_restart(p, be, eng, pb, seed + (uint64_t)r * 0x9E3779B9ull, var, cur);
        if (st != FKM_OK && st != FKM_ERR_CANCELLED) return st;
        fkm_log(p, FKM_LOG_INFO, "restart %d: inertia %.9g after %d iterations (%s)", r, cur->inertia,
                cur->iterations, fkm_stop_reason_str(cur->stop_reason));
        if (cur->inertia < out->inertia || r == 0) { /* swap arrays: cur becomes the best so far */
            fkm_result tmp = *out;
            *out = *cur;
            *cur = tmp;
            out->best_init = r;
        }
        if (st == FKM_ERR_CANCELLED) {
            out->stop_reason = FKM_STOPPED_CANCELLED; /* even when an earlier restart is kept */
            break;
        }
    }
    out->device = be->device;
    out->precision = pb->precision;
    return st;
}
