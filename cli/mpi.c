/* mpi.c -- `mpirun -np R flashkmeans fit ...` (docs/mpi.md). Built with MPI (FKM_HAVE_MPI) and
 * started by mpirun, `fit` runs on R ranks: rank r reads part r of the input rows
 * (fkm_io_read_part), all ranks run fkm_mpi_fit, the labels are gathered to rank 0 in global row
 * order, and rank 0 alone writes the outputs (staged, then committed: never a partial file).
 * After every step that can fail, the ranks agree on the exit code (the largest) so all exit
 * together; error lines of ranks other than 0 are held back and only the lowest failing rank's
 * is printed, once, when rank 0 itself did not fail. Everything here is a no-op in a build
 * without MPI or outside mpirun: the CLI then behaves exactly as a plain process. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Launched by an MPI launcher? (Open MPI, PMIx and Hydra/MPICH set these.) */
int cli_mpi_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifndef FKM_HAVE_MPI
int cli_mpi_start(void) { return 0; }
void cli_mpi_stop(void) {}
int cli_mpi_rank(void) { return 0; }
int cli_mpi_size(void) { return 1; }
int cli_mpi_on(void) { return 0; }
int cli_mpi_hold_error(const char *msg) { (void)msg; return 0; }
int cli_mpi_agree(int rc) { return rc; }
int cli_mpi_load(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, fkm_io_array *out) {
    return cli_load(path, dim, has_dtype, dtype, out);
}
fkm_status cli_mpi_fit(const fkm_params *p, const fkm_matrix *x, int64_t row0, fkm_result *r) {
    (void)row0;
    return fkm_fit(p, x, r);
}
int cli_mpi_gather_labels(const fkm_result *r, int64_t row0, int64_t total, int32_t **all) {
    (void)r; (void)row0; (void)total;
    *all = NULL;
    return 0;
}
#else
#include "flashkmeans_mpi.h"

static int on, rank, size = 1;
static char held[1024]; /* this rank's first error line, printed only if it is the one to speak */

int cli_mpi_start(void) {
    if (!cli_mpi_launched()) return 0;
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) return cli_error(CLI_FAIL, "MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    on = 1;
    return 0;
}

void cli_mpi_stop(void) {
    if (!on) return;
    fflush(stdout);
    fflush(stderr);
    MPI_Finalize();
    on = 0;
}

int cli_mpi_rank(void) { return rank; }
int cli_mpi_size(void) { return size; }
int cli_mpi_on(void) { return on; }

int cli_mpi_hold_error(const char *msg) {
    if (!on || rank == 0) return 0;
    if (!held[0]) snprintf(held, sizeof held, "%s", msg);
    return 1;
}

int cli_mpi_agree(int rc) {
    if (!on) return rc;
    /* largest exit code; lowest failing rank; did rank 0 (which prints its own errors) fail */
    int v[3] = {rc, rc ? size - rank : 0, rc && rank == 0};
    MPI_Allreduce(MPI_IN_PLACE, v, 3, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (v[0] && !v[2] && rank == size - v[1] && held[0])
        fprintf(stderr, "flashkmeans: error: rank %d: %s\n", rank, held);
    held[0] = '\0';
    return v[0];
}

int cli_mpi_load(const char *path, int64_t dim, int has_dtype, fkm_dtype dtype, fkm_io_array *out) {
    return on ? cli_load_part(path, dim, has_dtype, dtype, rank, size, out) : cli_load(path, dim, has_dtype, dtype, out);
}

fkm_status cli_mpi_fit(const fkm_params *p, const fkm_matrix *x, int64_t row0, fkm_result *r) {
    if (!on) return fkm_fit(p, x, r);
    return fkm_mpi_fit(MPI_COMM_WORLD, p, x, row0, r);
}

enum { CHUNK = 1 << 28 }; /* labels per message: MPI counts are int */

/* Rank 0 receives every rank's labels at their global rows into *out (total long); the others
 * send theirs. Collective; returns an agreed exit code. */
int cli_mpi_gather_labels(const fkm_result *r, int64_t row0, int64_t total, int32_t **out) {
    *out = NULL;
    if (!on) return 0;
    int rc = 0;
    int64_t mine[2] = {row0, r->n}, *all = rank == 0 ? (int64_t *)malloc((size_t)size * 2 * sizeof(int64_t)) : NULL;
    int32_t *lab = rank == 0 ? (int32_t *)malloc((size_t)(total ? total : 1) * sizeof(int32_t)) : NULL;
    if (rank == 0 && (!all || !lab)) rc = cli_error(CLI_FAIL, "out of memory gathering %lld labels", (long long)total);
    if ((rc = cli_mpi_agree(rc))) goto done;
    MPI_Gather(mine, 2, MPI_INT64_T, all, 2, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        memcpy(lab + row0, r->labels, (size_t)r->n * sizeof(int32_t));
        for (int q = 1; q < size; q++)
            for (int64_t off = 0; off < all[2 * q + 1]; off += CHUNK) {
                const int64_t m = all[2 * q + 1] - off < CHUNK ? all[2 * q + 1] - off : CHUNK;
                MPI_Recv(lab + all[2 * q] + off, (int)m, MPI_INT32_T, q, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        *out = lab;
        lab = NULL;
    } else {
        for (int64_t off = 0; off < r->n; off += CHUNK) {
            const int64_t m = r->n - off < CHUNK ? r->n - off : CHUNK;
            MPI_Send(r->labels + off, (int)m, MPI_INT32_T, 0, 11, MPI_COMM_WORLD);
        }
    }
done:
    free(all);
    free(lab);
    return rc;
}
#endif
