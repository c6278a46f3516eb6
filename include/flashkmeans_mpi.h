/*
 * flashkmeans_mpi.h -- k-means over data spread across the ranks of an MPI communicator.
 *
 * Only usable when the library was built with MPI (CMake FKM_MPI=AUTO|ON finds it; the build
 * then defines FKM_HAVE_MPI for its users). Includes <mpi.h>: compile with mpicc or with the
 * MPI include path (the CMake package and target carry it). The caller initialises MPI
 * (MPI_Init or MPI_Init_thread with any thread level: the library calls MPI only from the thread
 * that called fkm_mpi_fit) and finalises it after the last call.
 *
 * Every pointer is a HOST pointer; the conventions are those of flashkmeans.h:
 *   [in] read during the call, caller-owned; [out,lib] allocated by the library, freed by the
 *   caller with fkm_result_free.
 *
 * Same answer at any scale: for the same global data, parameters and seed, the centroids, the
 * labels of every global row, the inertia and every per-iteration statistic except `ms` are
 * bitwise identical whatever the number of ranks and however the rows are split among them
 * (docs/mpi.md explains why: per-cluster sums, inertia and every sum that steers a decision are
 * accumulated in 64-bit fixed point and reduced with integer MPI_SUM, which is associative).
 * They are NOT bitwise equal to fkm_fit's: fkm_fit sums in float64 blocks, fkm_mpi_fit in fixed
 * point, so the centroids may differ in the last bits (and a near-tie label may follow).
 *
 * The engine is the CPU engine on every rank (params.device must be AUTO or CPU; params.threads
 * CPU threads per rank). The same-answer guarantee holds for any thread count too.
 */
#ifndef FLASHKMEANS_MPI_H
#define FLASHKMEANS_MPI_H

#include <mpi.h>

#include "flashkmeans.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fit k-means to the rows held by all ranks of `comm` together. Collective: every rank of comm
 * calls it with the same params (k, seed, init, stop rule, ... ; init_centroids: rank 0's copy is
 * used) and its own slice of rows.
 *
 *   comm        [in] the communicator (duplicated internally: the fit's messages never mix with
 *               the caller's). Any size >= 1.
 *   p           [in] parameters, as for fkm_fit. progress_fn / log_fn run on every rank that sets
 *               them; a cancel request on any rank stops every rank after the same iteration.
 *   local_x     [in] this rank's rows: local_x->n rows (0 is allowed: a rank may hold nothing) of
 *               local_x->d features (same d on every rank), optional local_x->weights (n
 *               non-negative floats; all ranks must pass weights or none do). The global total of
 *               weights must be positive.
 *   global_row0 [in] global index of this rank's first row. The slices of all ranks must tile
 *               [0, N) exactly (N = sum of n), in any rank order; the global index decides every
 *               tie (random and k-means++ draws, farthest-point choice), which is what makes the
 *               result independent of the split.
 *   out         [out,lib] on success: out->centroids (k x d, identical on every rank),
 *               out->labels (local_x->n labels of this rank's rows, in its row order; may be NULL
 *               when n = 0), out->n = local_x->n, out->inertia (global), out->stats (global
 *               statistics; `ms` is this rank's wall clock). Free with fkm_result_free.
 *               On failure *out is zeroed (FKM_ERR_CANCELLED: it holds the state reached).
 *
 * Returns the same status on every rank: when one rank fails (bad data in its slice, no
 * memory, ...) every rank returns that status and fkm_last_error() on every rank reads
 * "rank R: <message>" (R the lowest failing rank). An MPI call that fails returns
 * FKM_ERR_INTERNAL with MPI's error string. */
FKM_API fkm_status fkm_mpi_fit(MPI_Comm comm, const fkm_params *p, const fkm_matrix *local_x,
                               int64_t global_row0, fkm_result *out);

#ifdef __cplusplus
}
#endif
#endif /* FLASHKMEANS_MPI_H */
