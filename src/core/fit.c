/* fit.c -- fkm_fit, fkm_fit_batch and fkm_fit_ragged: checks, conversion, backend choice, results;
 * the Lloyd loop itself (restarts, stop rule, cancellation) is the driver's, lloyd.c. */
#include "../backend.h"
#include "convert.h"
#include "init.h"
#include "lloyd.h"
#include "select.h"
#include "../threads.h"

#include <stdlib.h>
#include <string.h>

/* Mean over features of the per-feature variance: the scale that makes `tol` unitless. Each
 * feature's sums run over the rows in order (the same bits for any thread count, and as before):
 * the threads split the features, not the rows, and each walks its slice of every row, so the
 * data is read once at memory speed. Walking one feature down all rows at a time read every cache
 * line d times: 1 GB of d = 128 took 1.9 s, now 0.08 s on one thread of the development VM
 * (4 GB of d = 1000: 26 s -> 0.33 s), on every fit with the default stop rule. */
static double mean_variance(const float *x, int64_t n, int64_t d, int threads) {
    double *s = (double *)fkm_calloc((size_t)(2 * d), sizeof(double)), total = 0.0;
    if (!s) return -1.0; /* the caller reports it */
    double *s2 = s + d;
    int64_t tasks = fkm_threads_choose(threads, (double)n * (double)d);
    if (tasks > d / 16) tasks = d / 16; /* slices of whole cache lines */
    if (tasks < 1) tasks = 1;
    const int64_t per = ((d + tasks - 1) / tasks + 15) / 16 * 16;
#pragma omp parallel for num_threads((int)tasks) schedule(static, 1) if (tasks > 1)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t j0 = t * per, w = j0 + per < d ? per : d - j0;
        for (int64_t i = 0; i < n && w > 0; i++) {
            const float *r = x + i * d + j0;
            for (int64_t j = 0; j < w; j++) {
                const double v = r[j];
                s[j0 + j] += v;
                s2[j0 + j] += v * v;
            }
        }
    }
    if (tasks > 1) fkm_threads_release((int)tasks);
    for (int64_t j = 0; j < d; j++) {
        const double m = s[j] / (double)n, var = s2[j] / (double)n - m * m;
        total += var > 0 ? var : 0;
    }
    fkm_free(s);
    return total / (double)d;
}

/* Allocate the arrays of a result for k x d centroids, n labels, `iters` stats. */
fkm_status fkm_result_alloc(fkm_result *r, int64_t k, int64_t n, int64_t d, int iters) {
    fkm_status st = FKM_OK;
    memset(r, 0, sizeof *r);
    r->k = k; r->n = n; r->d = d;
    r->centroids = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    r->labels = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    r->stats = (fkm_iter_stats *)fkm_calloc((size_t)(iters > 0 ? iters : 1), sizeof(fkm_iter_stats));
    FKM_CHECK_ALLOC(r->centroids && r->labels && r->stats, "the result arrays");
    return FKM_OK;
cleanup:
    fkm_result_free(r);
    return st;
}

void fkm_result_free(fkm_result *r) {
    if (!r) return;
    fkm_free(r->centroids);
    fkm_free(r->labels);
    fkm_free(r->stats);
    memset(r, 0, sizeof *r);
}

/* One problem: x32 (n x d working copy), raw (caller's data of dtype t), weights w. */
static fkm_status fit_one(const fkm_params *p, const fkm_backend *be, fkm_precision prec,
                          const float *x32, const void *raw, fkm_dtype t, const float *w, int64_t n,
                          int64_t d, uint64_t seed, fkm_result *out) {
    fkm_status st = FKM_OK;
    void *eng = NULL;
    fkm_result cur;
    memset(&cur, 0, sizeof cur);
    /* CPU threads from the size of an iteration and the idle CPUs; when the caller left them to
     * us, the CPU engine looks at the load again between iterations (threads.h) */
    fkm_problem pb = {x32, raw, t, w, n, d, p->k, p->metric, prec, fkm_threads_lloyd(p->threads, n, d, p->k),
                      p->cuda_device, p->gpu_mem_limit, p->init, p->gpu_count, p->threads == 0, p->algorithm,
                      NULL /* dense */, p->max_cluster_size};
    const int iters = p->max_iter;
    const double var = p->stop == FKM_STOP_SHIFT ? mean_variance(x32, n, d, p->threads) : 0.0;
    if (var < 0) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the feature sums");

    FKM_TRY(fkm_result_alloc(out, p->k, n, d, iters));
    FKM_TRY(fkm_result_alloc(&cur, p->k, n, d, iters));
    fkm_log(p, FKM_LOG_DEBUG, "cpu threads: %d (%s)", pb.threads,
            p->threads > 0 ? "as given" : "auto: from the size and the idle CPUs, looked at again between iterations");
    FKM_TRY(be->create(&pb, &eng, &be)); /* be: the engine create chose (CUDA: one GPU or the scale engine) */
    st = fkm_lloyd_fit(p, be, eng, &pb, seed, var, out, &cur);
cleanup:
    if (eng) be->destroy(eng);
    fkm_result_free(&cur);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED) fkm_result_free(out);
    return st;
}

/* A ragged problem with fewer points than clusters (fkm_fit_ragged): every point is its own
 * cluster -- centroid j is point j mod n (the repeats start empty), label i = i, inertia 0, no
 * iteration. No point at all: the initial centroids when given (a warm start keeps its state),
 * else zeros. */
static fkm_status fit_underfull(const fkm_params *p, const fkm_backend *be, fkm_precision prec, const float *x32,
                                int64_t n, int64_t d, fkm_result *out) {
    const int64_t k = p->k;
    fkm_status st = fkm_result_alloc(out, k, n, d, 0);
    if (st != FKM_OK) return st;
    for (int64_t j = 0; j < k; j++) {
        float *c = out->centroids + j * d;
        if (n > 0) memcpy(c, x32 + (j % n) * d, (size_t)d * sizeof(float));
        else if (p->init == FKM_INIT_ARRAY) memcpy(c, p->init_centroids + j * d, (size_t)d * sizeof(float));
        else memset(c, 0, (size_t)d * sizeof(float));
    }
    for (int64_t i = 0; i < n; i++) out->labels[i] = (int32_t)i;
    out->stop_reason = FKM_STOPPED_CONVERGED;
    out->device = be->device; /* what the batch runs on, as for its other problems */
    out->precision = prec;
    return FKM_OK;
}

/* b problems: problem i is rows off(i) .. off(i+1) of x (offsets, or i n .. (i+1) n when NULL:
 * fkm_fit_batch), fitted alone with seed p->seed + i. Problems with fewer rows than k (ragged
 * only) take fit_underfull's rule. */
static fkm_status fit_many(const fkm_params *p, const fkm_matrix *x, const int64_t *offsets, int64_t b,
                           fkm_result *out) {
    fkm_status st = FKM_OK;
    float *owned = NULL;
    const float *x32 = NULL;
    const fkm_backend *be = NULL;
    fkm_precision prec = FKM_PREC_EXACT;
    fkm_params q;
    int64_t done = 0, rows = 0;
#define OFF(i) (offsets ? offsets[i] : (i) * x->n)
    FKM_TRY(fkm_check_matrix(x));
    rows = offsets ? x->n : x->n * b; /* rows of data in all */
    /* ragged: k may exceed a problem's rows (fit_underfull), not the data's */
    FKM_TRY(fkm_params_validate(p, offsets && rows < p->k ? p->k : x->n, x->d));
    FKM_TRY(fkm_choose_fit_backend(p, x, &be));
    FKM_TRY(fkm_resolve_precision(p, be, x->dtype, &prec));
    q = *p; /* init auto: the engine's (fkm_resolve_init) */
    q.init = fkm_resolve_init(p->init, be->device);
    p = &q;
    for (int64_t i = 0; x->weights && i < b; i++) { /* each fitted problem needs some weight */
        if (OFF(i + 1) - OFF(i) < p->k) continue;
        st = fkm_check_weights(x->weights + OFF(i), OFF(i + 1) - OFF(i));
        if (st != FKM_OK && b > 1) {
            char msg[400]; /* copy: the message buffer cannot be both source and target */
            snprintf(msg, sizeof msg, "%s", fkm_last_error());
            fkm_set_error(st, __FILE__, __LINE__, "problem %lld: %s", (long long)i, msg);
        }
        if (st != FKM_OK) goto cleanup;
    }
    if (p->init == FKM_INIT_ARRAY) { /* fail before converting the data; duplicates are legal */
        int64_t a = -1, a2 = -1, dups;
        FKM_TRY(fkm_check_centroids(p->init_centroids, p->k, x->d, p->metric, "init_centroids", NULL));
        if ((dups = fkm_count_duplicate_rows(p->init_centroids, p->k, x->d, &a, &a2)) > 0)
            fkm_log(p, FKM_LOG_WARN, "init_centroids has %lld duplicate row(s) (first: rows %lld and %lld): "
                    "ties go to the lowest index, so row %lld starts empty", (long long)dups, (long long)a,
                    (long long)a2, (long long)a2);
    }
    FKM_TRY(fkm_check_and_convert(x, rows, p->metric, p->threads, &x32, &owned));
    fkm_log(p, FKM_LOG_INFO, "fit: b=%lld %s=%lld d=%lld k=%lld on %s (%s)", (long long)b,
            offsets ? "rows" : "n", (long long)(offsets ? rows : x->n), (long long)x->d, (long long)p->k, be->name,
            fkm_precision_str(prec));
    const size_t esz = fkm_dtype_size(x->dtype);
    for (; done < b; done++) {
        const int64_t r0 = OFF(done), ni = OFF(done + 1) - r0;
        const size_t off = (size_t)r0 * (size_t)x->d;
        if (ni < p->k)
            st = fit_underfull(p, be, prec, x32 + off, ni, x->d, &out[done]);
        else
            st = fit_one(p, be, prec, x32 + off, (const char *)x->data + off * esz, x->dtype,
                         x->weights ? x->weights + r0 : NULL, ni, x->d, p->seed + (uint64_t)done, &out[done]);
        if (st != FKM_OK) break;
    }
#undef OFF
    if (st == FKM_ERR_CANCELLED) done++; /* the cancelled problem keeps its partial result */
cleanup:
    fkm_free(owned);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED)
        for (int64_t i = 0; i < b; i++) fkm_result_free(&out[i]);
    return st;
}

fkm_status fkm_fit_batch(const fkm_params *p, const fkm_matrix *x, int64_t b, fkm_result *out) {
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "result pointer is NULL");
    if (b <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "batch count must be >= 1 (got %lld)", (long long)b);
    /* before touching out[]: no caller can hold that many results */
    if (b > 1 && x && x->n > 0 && x->d > 0 && b > INT64_MAX / 8 / x->n / x->d)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "b x n x d = %lld x %lld x %lld elements is too large to address",
                        (long long)b, (long long)x->n, (long long)x->d);
    for (int64_t i = 0; i < b; i++) memset(&out[i], 0, sizeof out[i]);
    return fit_many(p, x, NULL, b, out);
}

fkm_status fkm_fit_ragged(const fkm_params *p, const fkm_matrix *x, const int64_t *offsets, int64_t b,
                          fkm_result *out) {
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "result pointer is NULL");
    if (b <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "problem count must be >= 1 (got %lld)", (long long)b);
    for (int64_t i = 0; i < b; i++) memset(&out[i], 0, sizeof out[i]);
    if (!x) return fkm_check_matrix(x);
    if (!offsets) return FKM_FAIL(FKM_ERR_INVALID_ARG, "offsets pointer is NULL");
    if (offsets[0] != 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "offsets[0] = %lld, must be 0", (long long)offsets[0]);
    for (int64_t i = 0; i < b; i++)
        if (offsets[i + 1] < offsets[i])
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "offsets decrease at problem %lld (%lld then %lld)", (long long)i,
                            (long long)offsets[i], (long long)offsets[i + 1]);
    if (offsets[b] != x->n)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "offsets[%lld] = %lld must equal the matrix's rows n = %lld",
                        (long long)b, (long long)offsets[b], (long long)x->n);
    return fit_many(p, x, offsets, b, out);
}

fkm_status fkm_fit(const fkm_params *p, const fkm_matrix *x, fkm_result *out) {
    return fkm_fit_batch(p, x, 1, out);
}
