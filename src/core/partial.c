/* partial.c -- fkm_partial_sums: one Lloyd iteration's local half on a block of rows, for a
 * driver that spreads the rows over processes or machines and combines the blocks itself (the
 * Dask front end, python/flashkmeans/dask.py). The CPU engine's assignment (the same kernels and
 * terms as fkm_fit's CPU engine and every rank of fkm_mpi_fit), then the per-cluster sums in
 * 64-bit fixed point with the caller's global scales (src/cpu/fixed_sums.c, the function that
 * fkm_mpi_fit reduces over its ranks). Integer sums: adding the blocks' sums in any order and
 * grouping gives the same integers, so a driver that finishes them as docs/mpi.md does gets
 * fkm_mpi_fit's centroids bit for bit, for any split of the rows. */
#include "../cpu/cpu.h"
#include "../threads.h"
#include "convert.h"
#include "select.h"

#include <math.h>
#include <string.h>

/* 2^52: every fixed-point term must stay below it (src/fixed.h). */
#define FX_LIMIT 4503599627370496.0

/* The caller's scales must be finite positive numbers under which every term of this block
 * stays below 2^52 (they come from maxima over all rows, so they always do). */
static fkm_status check_scales(const float *x, const float *w, int64_t n, int64_t d, const double *cs, double ws) {
    if (!(ws > 0) || !isfinite(ws))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "weight_scale = %g must be a finite number > 0", ws);
    for (int64_t j = 0; j < d; j++)
        if (!(cs[j] > 0) || !isfinite(cs[j]))
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "col_scale[%lld] = %g must be a finite number > 0", (long long)j, cs[j]);
    for (int64_t i = 0; i < n; i++) {
        const double wi = w ? (double)w[i] : 1.0;
        if (wi * ws >= FX_LIMIT)
            return FKM_FAIL(FKM_ERR_INVALID_ARG,
                            "weight_scale = %g is too large for weights[%lld] = %g: w * scale must stay below 2^52 "
                            "(take the scale from the largest weight of all blocks, docs/api.md)",
                            ws, (long long)i, wi);
        for (int64_t j = 0; j < d; j++)
            if (fabs(wi * (double)x[i * d + j]) * cs[j] >= FX_LIMIT)
                return FKM_FAIL(FKM_ERR_INVALID_ARG,
                                "col_scale[%lld] = %g is too large for row %lld, where |w x| = %g: w x * scale must "
                                "stay below 2^52 (take the scale from the column's largest |w x| over all blocks, "
                                "docs/api.md)",
                                (long long)j, cs[j], (long long)i, fabs(wi * (double)x[i * d + j]));
    }
    return FKM_OK;
}

fkm_status fkm_partial_sums(const fkm_params *p, const fkm_matrix *x, const float *centroids, int64_t k,
                            const double *col_scale, double weight_scale, int32_t *labels, float *dist,
                            int64_t *sums) {
    fkm_status st = FKM_OK;
    const float *x32 = NULL;
    float *owned = NULL, *c = NULL, *xterm = NULL, *cterm = NULL, *best = NULL;
    fkm_cpu_ws *ws = NULL;
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    FKM_TRY(fkm_check_matrix(x)); /* the same checks and words as fkm_fit */
    if (!centroids) return FKM_FAIL(FKM_ERR_INVALID_ARG, "centroids pointer is NULL");
    if (!col_scale) return FKM_FAIL(FKM_ERR_INVALID_ARG, "col_scale pointer is NULL");
    if (!labels) return FKM_FAIL(FKM_ERR_INVALID_ARG, "labels pointer is NULL");
    if (!sums) return FKM_FAIL(FKM_ERR_INVALID_ARG, "sums pointer is NULL");
    if (k <= 0 || k > INT32_MAX) return FKM_FAIL(FKM_ERR_INVALID_ARG, "k must be in [1, 2^31) (got %lld)", (long long)k);
    const int64_t n = x->n, d = x->d;
    if (k > (INT64_MAX / 16 - 1) / (d + 1))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "k x d = %lld x %lld is too large", (long long)k, (long long)d);
    if (p->max_cluster_size != 0) /* the capped step needs every row at once, not a block */
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "fkm_partial_sums: max_cluster_size is not supported (got %lld; "
                        "use 0): the capped assignment needs all rows at once", (long long)p->max_cluster_size);
    fkm_params q = *p;
    q.k = 1; /* k > n is fine for one block of a larger problem; validate the rest */
    q.init = FKM_INIT_KMEANSPP; /* init settings do not apply */
    q.freeze_init = 0;
    FKM_TRY(fkm_params_validate(&q, n, d));
    if (p->device == FKM_DEVICE_CUDA)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "fkm_partial_sums runs the CPU engine: use device auto or cpu");
    fkm_precision prec;
    FKM_TRY(fkm_resolve_precision(p, &fkm_cpu_backend, x->dtype, &prec));
    for (int64_t i = 0; x->weights && i < n; i++) { /* a block may hold only zero weights */
        if (!isfinite(x->weights[i])) return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] is not finite", (long long)i);
        if (x->weights[i] < 0)
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] = %g is negative", (long long)i, (double)x->weights[i]);
    }
    c = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    FKM_CHECK_ALLOC(c, "centroid copy");
    FKM_TRY(fkm_check_centroids(centroids, k, d, p->metric, "centroids", c));
    FKM_TRY(fkm_check_and_convert(x, n, p->metric, p->threads, &x32, &owned));
    FKM_TRY(check_scales(x32, x->weights, n, d, col_scale, weight_scale));
    xterm = (float *)fkm_alloc((size_t)n, sizeof(float));
    cterm = (float *)fkm_alloc((size_t)k, sizeof(float));
    if (!dist) best = (float *)fkm_alloc((size_t)n, sizeof(float));
    ws = fkm_cpu_ws_create();
    FKM_CHECK_ALLOC(xterm && cterm && (dist || best) && ws, "the partial sums' arrays");
    const int threads = fkm_threads_choose(p->threads, (double)n * d * k); /* n k d multiply-adds */
    /* the CPU engine's arithmetic (terms.c, assign.c), as fkm_fit's CPU engine and fkm_mpi_fit's ranks */
    fkm_cpu_xterm(x32, n, d, p->metric, threads, xterm);
    fkm_cpu_cterm(c, k, d, p->metric, cterm);
    const fkm_cpu_assign_args a = {x32, xterm, c, cterm, n, d, k, p->metric == FKM_METRIC_L2 ? 2.0f : 1.0f,
                                   p->metric != FKM_METRIC_IP, threads};
    fkm_cpu_assign_ws(&a, labels, dist ? dist : best, ws);
    fkm_cpu_fx_cluster_sums(x32, x->weights, labels, n, d, k, col_scale, weight_scale, threads, sums);
    fkm_threads_release(threads);
    fkm_log(p, FKM_LOG_DEBUG, "partial sums: n=%lld d=%lld k=%lld, %d threads", (long long)n, (long long)d,
            (long long)k, threads);
cleanup:
    if (ws) fkm_cpu_ws_destroy(ws);
    fkm_free(owned);
    fkm_free(c);
    fkm_free(xterm);
    fkm_free(cterm);
    fkm_free(best);
    return st;
}
