/* comm.c -- MPI plumbing for fkm_mpi_fit: error codes, status agreement, chunked allreduce and
 * the exact (fixed-point) global sums. */
#include "mpi_internal.h"

#include <limits.h>
#include <math.h>
#include <string.h>

fkm_status fkm_mpi_rc(int rc, const char *call) {
    if (rc == MPI_SUCCESS) return FKM_OK;
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = '\0';
    return FKM_FAIL(FKM_ERR_INTERNAL, "%s failed: %s", call, len ? msg : "unknown MPI error");
}

fkm_status fkm_mpi_agree(fkm_mpi_ctx *c, fkm_status local) {
    /* the lowest failing rank wins: its flag size - rank is the largest */
    int flag = local != FKM_OK ? c->size - c->rank : 0;
    fkm_status st = fkm_mpi_rc(MPI_Allreduce(MPI_IN_PLACE, &flag, 1, MPI_INT, MPI_MAX, c->comm), "MPI_Allreduce");
    if (st != FKM_OK) return st;
    if (flag == 0) return FKM_OK;
    const int root = c->size - flag;
    struct {
        int status;
        char msg[448];
    } m;
    memset(&m, 0, sizeof m);
    if (c->rank == root) {
        m.status = (int)local;
        snprintf(m.msg, sizeof m.msg, "%s", fkm_last_error());
    }
    st = fkm_mpi_rc(MPI_Bcast(&m, (int)sizeof m, MPI_BYTE, root, c->comm), "MPI_Bcast");
    if (st != FKM_OK) return st;
    m.msg[sizeof m.msg - 1] = '\0';
    if (c->size == 1) return fkm_set_error((fkm_status)m.status, __FILE__, __LINE__, "%s", m.msg);
    return fkm_set_error((fkm_status)m.status, __FILE__, __LINE__, "rank %d: %s", root, m.msg);
}

fkm_status fkm_mpi_allreduce(fkm_mpi_ctx *c, void *buf, int64_t count, MPI_Datatype t, MPI_Op op) {
    int tsize = 0;
    fkm_status st = fkm_mpi_rc(MPI_Type_size(t, &tsize), "MPI_Type_size");
    for (int64_t off = 0; st == FKM_OK && off < count; off += INT_MAX / 2) {
        const int64_t m = count - off < INT_MAX / 2 ? count - off : INT_MAX / 2;
        st = fkm_mpi_rc(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * tsize, (int)m, t, op, c->comm),
                        "MPI_Allreduce");
    }
    return st;
}

/* Rows per block between carries: lo takes < 2^32 per addition, so 2^30 additions are safe. */
enum { FX_CARRY_ROWS = 1 << 30 };

fkm_status fkm_mpi_exact_sum(fkm_mpi_ctx *c, const float *v, const float *w, int64_t n, double *out) {
    double mx = 0.0;
#pragma omp parallel for num_threads(c->threads) schedule(static) reduction(max : mx)
    for (int64_t i = 0; i < n; i++) {
        const double a = fabs((double)v[i] * (w ? (double)w[i] : 1.0));
        if (a > mx) mx = a;
    }
    fkm_status st = fkm_mpi_allreduce(c, &mx, 1, MPI_DOUBLE, MPI_MAX);
    if (st != FKM_OK) return st;
    const double s = fkm_fx_scale(mx);
    int64_t limb[2] = {0, 0};
    for (int64_t b = 0; b < n; b += FX_CARRY_ROWS) {
        const int64_t e = n - b < FX_CARRY_ROWS ? n : b + FX_CARRY_ROWS;
        int64_t hi = 0, lo = 0;
        /* integer sums: the OpenMP reduction order cannot change them */
#pragma omp parallel for num_threads(c->threads) schedule(static) reduction(+ : hi, lo)
        for (int64_t i = b; i < e; i++) {
            const int64_t q = (int64_t)((double)v[i] * (w ? (double)w[i] : 1.0) * s);
            fkm_fx_add(&hi, &lo, q);
        }
        fkm_fx_norm(&hi, &lo);
        limb[0] += hi;
        limb[1] += lo;
        fkm_fx_norm(&limb[0], &limb[1]);
    }
    st = fkm_mpi_allreduce(c, limb, 2, MPI_INT64_T, MPI_SUM);
    if (st != FKM_OK) return st;
    *out = (double)fkm_fx_value(limb[0], limb[1]) / s;
    return FKM_OK;
}

fkm_status fkm_mpi_exact_colsums(fkm_mpi_ctx *c, const float *x, int64_t n, int64_t d, double *out1,
                                 double *out2) {
    fkm_status st = FKM_OK;
    double *mx = (double *)fkm_calloc((size_t)d, sizeof(double));
    int64_t *limb = (int64_t *)fkm_calloc((size_t)(4 * d), sizeof(int64_t)); /* hi1 lo1 hi2 lo2 per column */
    if (!mx || !limb) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the column sums");
    st = fkm_mpi_agree(c, st);
    if (st != FKM_OK) goto cleanup;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            const double a = fabs((double)x[i * d + j]);
            if (a > mx[j]) mx[j] = a;
        }
    FKM_TRY(fkm_mpi_allreduce(c, mx, d, MPI_DOUBLE, MPI_MAX));
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int64_t j = 0; j < d; j++) {
        const double s1 = fkm_fx_scale(mx[j]), s2 = fkm_fx_scale(mx[j] * mx[j]);
        int64_t *l = limb + 4 * j;
        for (int64_t i = 0; i < n; i++) {
            const double v = x[i * d + j];
            fkm_fx_add(&l[0], &l[1], (int64_t)(v * s1));
            fkm_fx_add(&l[2], &l[3], (int64_t)(v * v * s2));
            if ((i + 1) % FX_CARRY_ROWS == 0) {
                fkm_fx_norm(&l[0], &l[1]);
                fkm_fx_norm(&l[2], &l[3]);
            }
        }
        fkm_fx_norm(&l[0], &l[1]);
        fkm_fx_norm(&l[2], &l[3]);
    }
    FKM_TRY(fkm_mpi_allreduce(c, limb, 4 * d, MPI_INT64_T, MPI_SUM));
    for (int64_t j = 0; j < d; j++) {
        const double s1 = fkm_fx_scale(mx[j]), s2 = fkm_fx_scale(mx[j] * mx[j]);
        out1[j] = (double)fkm_fx_value(limb[4 * j], limb[4 * j + 1]) / s1;
        out2[j] = (double)fkm_fx_value(limb[4 * j + 2], limb[4 * j + 3]) / s2;
    }
cleanup:
    fkm_free(mx);
    fkm_free(limb);
    return st;
}
