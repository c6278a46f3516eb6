#define _GNU_SOURCE /* qsort_r */
/* setup.c -- argument checks and state of fkm_mpi_fit. Every check that can fail on one rank
 * only (its slice holds a NaN, its allocation fails) ends in fkm_mpi_agree, so all ranks leave
 * together with the same status; checks of gathered or identical data give the same answer
 * everywhere without it. */
#include "mpi_setup.h"
#include "../core/convert.h"
#include "../core/init.h"
#include "../core/select.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fkm_status local_args(const fkm_params *p, const fkm_matrix *x, fkm_result *out) {
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "result pointer is NULL");
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    if (!x) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data matrix is NULL");
    if (x->n < 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "n must be >= 0 (got %lld rows)", (long long)x->n);
    if (x->n > INT32_MAX)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "%lld rows on one rank: fkm_mpi_fit takes at most 2^31 - 1 per rank",
                        (long long)x->n);
    if (x->d <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "d must be >= 1 (got dimension %lld)", (long long)x->d);
    if (x->n > 0 && !x->data) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data pointer is NULL");
    if (fkm_dtype_size(x->dtype) == 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown dtype %d", (int)x->dtype);
    if (x->n > INT64_MAX / 8 / x->d)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "n x d = %lld x %lld elements is too large to address", (long long)x->n,
                        (long long)x->d);
    return FKM_OK;
}

/* The parameters that steer the computation must be the same on every rank. */
static fkm_status same_params(fkm_mpi_ctx *c, const fkm_params *p) {
    int64_t lo[10], hi[10];
    memcpy(&lo[0], &p->tol, sizeof(double));
    lo[1] = p->k; lo[2] = p->max_iter; lo[3] = p->stop; lo[4] = p->init; lo[5] = p->freeze_init;
    lo[6] = p->n_init; lo[7] = (int64_t)p->seed; lo[8] = p->metric; lo[9] = p->empty;
    memcpy(hi, lo, sizeof lo);
    fkm_status st = fkm_mpi_allreduce(c, lo, 10, MPI_INT64_T, MPI_MIN);
    if (st == FKM_OK) st = fkm_mpi_allreduce(c, hi, 10, MPI_INT64_T, MPI_MAX);
    if (st != FKM_OK) return st;
    static const char *const names[10] = {"tol", "k", "max_iter", "stop", "init", "freeze_init", "n_init", "seed",
                                          "metric", "empty"};
    for (int i = 0; i < 10; i++)
        if (lo[i] != hi[i])
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "params.%s differs between ranks: every rank must pass the same parameters",
                            names[i]);
    return FKM_OK;
}

static int cmp_slice(const void *a, const void *b, void *ctx) {
    const fkm_mpi_ctx *c = (const fkm_mpi_ctx *)ctx;
    const int r = *(const int *)a, s = *(const int *)b;
    if (c->rank_row0[r] != c->rank_row0[s]) return c->rank_row0[r] < c->rank_row0[s] ? -1 : 1;
    if (c->rank_n[r] != c->rank_n[s]) return c->rank_n[r] < c->rank_n[s] ? -1 : 1;
    return r < s ? -1 : r > s;
}

/* Gather every rank's slice; check that d and the weights agree and that the slices tile [0, N). */
static fkm_status gather_slices(fkm_mpi_ctx *c, const fkm_matrix *x, int64_t row0) {
    fkm_status st = FKM_OK;
    int64_t mine[4] = {row0, x->n, x->d, x->weights != NULL}, *all = NULL;
    c->rank_row0 = (int64_t *)fkm_alloc((size_t)c->size, sizeof(int64_t));
    c->rank_n = (int64_t *)fkm_alloc((size_t)c->size, sizeof(int64_t));
    c->by_row = (int *)fkm_alloc((size_t)c->size, sizeof(int));
    all = (int64_t *)fkm_alloc((size_t)c->size * 4, sizeof(int64_t));
    if (!c->rank_row0 || !c->rank_n || !c->by_row || !all) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    FKM_TRY(fkm_mpi_agree(c, st));
    FKM_TRY(fkm_mpi_rc(MPI_Allgather(mine, 4, MPI_INT64_T, all, 4, MPI_INT64_T, c->comm), "MPI_Allgather"));
    for (int r = 0; r < c->size; r++) {
        c->rank_row0[r] = all[4 * r];
        c->rank_n[r] = all[4 * r + 1];
        c->by_row[r] = r;
        if (all[4 * r + 2] != all[2])
            FKM_TRY(FKM_FAIL(FKM_ERR_INVALID_ARG, "rank %d has rows of dimension %lld, rank 0 of %lld", r,
                             (long long)all[4 * r + 2], (long long)all[2]));
        if (all[4 * r + 3] != all[3])
            FKM_TRY(FKM_FAIL(FKM_ERR_INVALID_ARG, "rank %d %s weights but rank 0 %s: all or none must", r,
                             all[4 * r + 3] ? "passes" : "passes no", all[3] ? "does" : "does not"));
    }
    qsort_r(c->by_row, (size_t)c->size, sizeof(int), cmp_slice, c);
    int64_t next = 0;
    for (int q = 0; q < c->size; q++) {
        const int r = c->by_row[q];
        if (c->rank_row0[r] != next)
            FKM_TRY(FKM_FAIL(FKM_ERR_INVALID_ARG,
                             "the ranks' rows do not tile [0, N): rank %d starts at global row %lld, expected %lld",
                             r, (long long)c->rank_row0[r], (long long)next));
        next += c->rank_n[r];
    }
    c->N = next;
cleanup:
    fkm_free(all);
    return st;
}

static fkm_status alloc_state(mpi_fit *f) {
    fkm_status st = FKM_OK;
    const int64_t n = f->c.n, d = f->c.d, k = f->k;
    f->init = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    f->cen = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    f->cen_old = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    f->cterm = (float *)fkm_alloc((size_t)k, sizeof(float));
    f->xterm = (float *)fkm_alloc((size_t)n, sizeof(float));
    f->best = (float *)fkm_alloc((size_t)n, sizeof(float));
    f->labels = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    f->prev = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    f->counts = (int64_t *)fkm_alloc((size_t)k + 1, sizeof(int64_t));
    f->work = (int64_t *)fkm_alloc((size_t)(2 * k * d + 2 * k), sizeof(int64_t));
    f->offers = (int64_t *)fkm_alloc((size_t)f->c.size * 3, sizeof(int64_t));
    f->has_weight = (uint8_t *)fkm_alloc((size_t)k, 1);
    f->colscale = (double *)fkm_alloc((size_t)d, sizeof(double));
    f->ws = fkm_cpu_ws_create();
    FKM_CHECK_ALLOC(f->init && f->cen && f->cen_old && f->cterm && f->xterm && f->best && f->labels && f->prev &&
                        f->counts && f->work && f->offers && f->has_weight && f->colscale && f->ws,
                    "the MPI fit's arrays");
cleanup:
    return st;
}

/* Convert and check this rank's rows (NaN/Inf, magnitude, zero rows for cosine) and weights;
 * messages name global rows. */
static fkm_status local_data(mpi_fit *f, const fkm_matrix *x) {
    fkm_status st = FKM_OK;
    const int64_t n = f->c.n;
    if (n > 0) st = fkm_check_and_convert(x, n, f->p->metric, f->p->threads, &f->x, &f->x_owned);
    if (st != FKM_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", fkm_last_error());
        return fkm_set_error(st, __FILE__, __LINE__, "%s (row index within the rank's slice, which starts at global row %lld)",
                             msg, (long long)f->c.row0);
    }
    for (int64_t i = 0; f->w && i < n; i++) {
        if (!isfinite(f->w[i]))
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] is not finite", (long long)(f->c.row0 + i));
        if (f->w[i] < 0)
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] = %g is negative", (long long)(f->c.row0 + i),
                            (double)f->w[i]);
    }
    fkm_cpu_xterm(f->x, n, f->c.d, f->p->metric, f->c.threads, f->xterm); /* as the CPU engine */
    return FKM_OK;
}

/* Fixed-point scales (global maxima) and, for the shift rule, the mean per-feature variance. */
static fkm_status global_scales(mpi_fit *f) {
    fkm_status st = FKM_OK;
    const int64_t n = f->c.n, d = f->c.d;
    double *mx = f->colscale, wmax = f->w ? 0.0 : 1.0;
    for (int64_t j = 0; j < d; j++) mx[j] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double wi = f->w ? (double)f->w[i] : 1.0;
        if (wi > wmax) wmax = wi;
        for (int64_t j = 0; j < d; j++) {
            const double a = fabs(wi * (double)f->x[i * d + j]);
            if (a > mx[j]) mx[j] = a;
        }
    }
    FKM_TRY(fkm_mpi_allreduce(&f->c, mx, d, MPI_DOUBLE, MPI_MAX));
    FKM_TRY(fkm_mpi_allreduce(&f->c, &wmax, 1, MPI_DOUBLE, MPI_MAX));
    if (!(wmax > 0)) FKM_TRY(FKM_FAIL(FKM_ERR_BAD_INPUT, "all %lld weights are zero", (long long)f->c.N));
    for (int64_t j = 0; j < d; j++) mx[j] = fkm_fx_scale(mx[j]);
    f->wscale = fkm_fx_scale(wmax);
    f->var = 0.0;
    if (f->p->stop == FKM_STOP_SHIFT) {
        double *s = (double *)fkm_alloc((size_t)(2 * d), sizeof(double));
        FKM_TRY(fkm_mpi_agree(&f->c, s ? FKM_OK : FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory")));
        st = fkm_mpi_exact_colsums(&f->c, f->x, n, d, s, s + d);
        for (int64_t j = 0; st == FKM_OK && j < d; j++) { /* as the core's mean_variance, from exact sums */
            const double m = s[j] / (double)f->c.N, v = s[d + j] / (double)f->c.N - m * m;
            f->var += v > 0 ? v : 0;
        }
        f->var /= (double)d;
        fkm_free(s);
    }
cleanup:
    return st;
}

fkm_status fkm_mpi_setup(mpi_fit *f, MPI_Comm comm, const fkm_params *p, const fkm_matrix *x, int64_t row0,
                         fkm_result *out) {
    fkm_status st = FKM_OK;
    memset(f, 0, sizeof *f);
    f->c.comm = MPI_COMM_NULL;
    if (comm == MPI_COMM_NULL) return FKM_FAIL(FKM_ERR_INVALID_ARG, "communicator is MPI_COMM_NULL");
    FKM_TRY(fkm_mpi_rc(MPI_Comm_dup(comm, &f->c.comm), "MPI_Comm_dup"));
    FKM_TRY(fkm_mpi_rc(MPI_Comm_set_errhandler(f->c.comm, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler"));
    MPI_Comm_rank(f->c.comm, &f->c.rank);
    MPI_Comm_size(f->c.comm, &f->c.size);
    FKM_TRY(fkm_mpi_agree(&f->c, local_args(p, x, out)));
    f->p = p;
    f->k = p->k;
    f->c.n = x->n;
    f->c.row0 = row0;
    f->c.d = x->d;
    f->w = x->weights;
    f->c.threads = fkm_resolve_threads(p->threads);
    FKM_TRY(gather_slices(&f->c, x, row0));
    FKM_TRY(same_params(&f->c, p));
    /* agreed, so that a rank with a cap and one without stop together: the capped step needs every
     * row in one process (fkm_fit) */
    FKM_TRY(fkm_mpi_agree(&f->c, p->max_cluster_size == 0 ? FKM_OK
                                 : FKM_FAIL(FKM_ERR_INVALID_ARG, "fkm_mpi_fit: max_cluster_size is not supported "
                                            "(got %lld; use 0): the capped assignment runs in one process (fkm_fit)",
                                            (long long)p->max_cluster_size)));
    FKM_TRY(fkm_params_validate(p, f->c.N, f->c.d));
    if (p->device == FKM_DEVICE_CUDA)
        FKM_TRY(FKM_FAIL(FKM_ERR_INVALID_ARG, "fkm_mpi_fit runs the CPU engine on every rank: use device auto or cpu"));
    fkm_precision prec;
    FKM_TRY(fkm_resolve_precision(p, &fkm_cpu_backend, x->dtype, &prec));
    if ((int64_t)p->k * f->c.d > INT_MAX / 2)
        FKM_TRY(FKM_FAIL(FKM_ERR_INVALID_ARG, "k x d = %lld x %lld is too large for fkm_mpi_fit", (long long)p->k,
                         (long long)f->c.d));
    FKM_TRY(fkm_mpi_agree(&f->c, alloc_state(f)));
    if (p->init == FKM_INIT_ARRAY) { /* rank 0's copy, checked there, is everyone's */
        FKM_TRY(fkm_mpi_agree(&f->c, f->c.rank == 0 ? fkm_check_centroids(p->init_centroids, f->k, f->c.d, p->metric,
                                                                            "init_centroids", f->init)
                                                     : FKM_OK));
        FKM_TRY(fkm_mpi_rc(MPI_Bcast(f->init, (int)(f->k * f->c.d), MPI_FLOAT, 0, f->c.comm), "MPI_Bcast"));
    }
    FKM_TRY(fkm_mpi_agree(&f->c, local_data(f, x)));
    FKM_TRY(global_scales(f));
    fkm_log(p, FKM_LOG_INFO, "mpi fit: rank %d of %d, rows %lld..%lld of %lld, d=%lld k=%lld, %d threads", f->c.rank,
            f->c.size, (long long)row0, (long long)(row0 + f->c.n), (long long)f->c.N, (long long)f->c.d,
            (long long)f->k, f->c.threads);
cleanup:
    return st;
}

void fkm_mpi_teardown(mpi_fit *f) {
    fkm_free(f->x_owned); fkm_free(f->init); fkm_free(f->cen); fkm_free(f->cen_old); fkm_free(f->cterm);
    fkm_free(f->xterm); fkm_free(f->best); fkm_free(f->labels); fkm_free(f->prev); fkm_free(f->counts);
    fkm_free(f->work); fkm_free(f->offers); fkm_free(f->has_weight); fkm_free(f->colscale);
    fkm_free(f->c.rank_row0); fkm_free(f->c.rank_n); fkm_free(f->c.by_row);
    if (f->ws) fkm_cpu_ws_destroy(f->ws);
    if (f->c.comm != MPI_COMM_NULL) MPI_Comm_free(&f->c.comm);
    memset(f, 0, sizeof *f);
}

fkm_status fkm_mpi_result_alloc(const mpi_fit *f, fkm_result *r) {
    return fkm_result_alloc(r, f->k, f->c.n, f->c.d, f->p->max_iter);
}
