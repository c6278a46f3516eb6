/* mpi_internal.h -- pieces of fkm_mpi_fit (src/mpi only): the communicator context, status
 * agreement, and the 64-bit fixed-point sums that make every reduction independent of how the
 * rows are split among ranks and threads (docs/mpi.md, "Determinism").
 *
 * Fixed point: a set of values v (e.g. column j of w_i * x_ij over all global rows) gets one
 * global power-of-two scale s = 2^(52 - e), e the binary exponent of the global max |v| (one
 * MPI_Allreduce MAX). Each value becomes q = trunc(v * s), an integer with |q| < 2^52, a
 * deterministic function of v alone. Integer addition is associative, so sum q is the same
 * whatever the split; it is carried as two int64 limbs (hi += q >> 32, lo += q & (2^32 - 1):
 * vectorisable, no overflow for 2^31 additions to lo and 2^43 to hi) and reduced across ranks
 * with MPI_SUM on MPI_INT64_T after a carry (fkm_fx_norm). The total hi * 2^32 + lo is an
 * __int128 turned into a double (correctly rounded) and divided by s. Quantisation error: below
 * 2^-52 of the global max per value. */
#ifndef FKM_MPI_INTERNAL_H
#define FKM_MPI_INTERNAL_H

#include "flashkmeans_mpi.h"
#include "../internal.h"
#include "../fixed.h"

typedef struct {
    MPI_Comm comm;        /* our duplicate of the caller's communicator */
    int rank, size;
    int64_t n, row0, d;   /* this rank's slice */
    int64_t N;            /* global rows */
    int threads;          /* CPU threads on this rank */
    int64_t *rank_row0;   /* [size] every rank's first global row */
    int64_t *rank_n;      /* [size] every rank's row count */
    int *by_row;          /* [size] ranks sorted by first row (the global row order) */
} fkm_mpi_ctx;

/* Turn an MPI return code into a status (FKM_ERR_INTERNAL naming the call). Local. */
fkm_status fkm_mpi_rc(int rc, const char *call);

/* Collective: every rank passes its local status; all return the status of the lowest failing
 * rank (its message, prefixed "rank R: ", becomes everyone's fkm_last_error), or FKM_OK. */
fkm_status fkm_mpi_agree(fkm_mpi_ctx *c, fkm_status local);

/* In-place MPI_Allreduce of count elements (split in chunks that fit MPI's int counts). */
fkm_status fkm_mpi_allreduce(fkm_mpi_ctx *c, void *buf, int64_t count, MPI_Datatype t, MPI_Op op);

/* ---- fixed point */
/* fkm_fx_scale: src/fixed.h */

static inline void fkm_fx_add(int64_t *hi, int64_t *lo, int64_t q) {
    *hi += q >> 32; /* arithmetic shift (GCC, Clang): q = (q >> 32) * 2^32 + (q & 0xffffffff) */
    *lo += q & 0xffffffff;
}
/* Move lo's carries into hi (lo ends in [0, 2^32)). */
static inline void fkm_fx_norm(int64_t *hi, int64_t *lo) {
    *hi += *lo >> 32;
    *lo &= 0xffffffff;
}
static inline __int128 fkm_fx_value(int64_t hi, int64_t lo) { return (__int128)hi * 4294967296 + lo; }

/* Global exact sum of w_i * v_i (w NULL: 1) over every rank's n values: one MAX and one SUM
 * allreduce. *out is the same on every rank for any split. Collective; agreed status. */
fkm_status fkm_mpi_exact_sum(fkm_mpi_ctx *c, const float *v, const float *w, int64_t n, double *out);

/* Global per-column sums of x (n x d, this rank's rows) and of x^2, exact as above: out1, out2
 * [d] each. Collective. */
fkm_status fkm_mpi_exact_colsums(fkm_mpi_ctx *c, const float *x, int64_t n, int64_t d, double *out1,
                                 double *out2);

/* ---- initialisation (init.c): k x d centroids into c, the same on every rank */
fkm_status fkm_mpi_init_random(fkm_mpi_ctx *c, const float *x, uint64_t seed, int64_t k, float *cen);
fkm_status fkm_mpi_init_kmeanspp(fkm_mpi_ctx *c, const float *x, const float *w, uint64_t seed, int64_t k,
                                 float *cen);
/* Rows of the given global indices (k of them, any order) into out (k x d), on every rank:
 * each row's owner contributes its bits, MPI_BOR puts them together. */
fkm_status fkm_mpi_fetch_rows(fkm_mpi_ctx *c, const float *x, const int64_t *gidx, int64_t k, float *out);

/* ---- update (update.c) */
/* Per-cluster fixed-point sums of w_i x_i over this rank's rows and their weights, reduced over
 * all ranks, then centroid = sum / weight for clusters with weight > 0; others are left as they
 * are in cen and reported in has_weight[c] = 0. colscale[d]: the per-column scales of w x,
 * wscale: the weights' scale. work: 2 k d + 2 k int64. Collective. */
fkm_status fkm_mpi_update(fkm_mpi_ctx *c, const float *x, const float *w, const int32_t *labels, int64_t k,
                          const double *colscale, double wscale, int64_t *work, float *cen, uint8_t *has_weight);
#endif
