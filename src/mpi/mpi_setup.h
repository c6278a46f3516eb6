/* mpi_setup.h -- the state of one fkm_mpi_fit call (src/mpi only). */
#ifndef FKM_MPI_SETUP_H
#define FKM_MPI_SETUP_H

#include "mpi_internal.h"
#include "../cpu/cpu.h"

typedef struct {
    fkm_mpi_ctx c;
    const fkm_params *p;
    int64_t k;
    const float *x;        /* n x d float32 rows of this rank (cosine: unit-normalised) */
    float *x_owned;        /* the converted copy behind x, or NULL when x is the caller's data */
    const float *w;        /* n weights or NULL */
    float *init;           /* k x d: rank 0's init_centroids (FKM_INIT_ARRAY) */
    float *cen, *cen_old;  /* k x d, identical on every rank */
    float *cterm;          /* k: |c|^2 for L2, else 0 */
    float *xterm, *best;   /* n */
    int32_t *labels, *prev;
    int64_t *counts;       /* k + 1: global weighted-row counts, then changed labels */
    int64_t *work;         /* 2 k d + 2 k fixed-point limbs of the update */
    int64_t *offers;       /* 3 x size: the farthest-point offers */
    uint8_t *has_weight;   /* k */
    double *colscale;      /* d: fixed-point scale of w x per column */
    double wscale;         /* fixed-point scale of the weights */
    double var;            /* mean per-feature variance (shift stop rule) */
    fkm_cpu_ws *ws;        /* assignment scratch */
} mpi_fit;

/* Check the arguments on every rank (agreed status), build the context, convert and check the
 * local rows, allocate everything the iterations need. f is safe to tear down afterwards in every
 * case. Collective. */
fkm_status fkm_mpi_setup(mpi_fit *f, MPI_Comm comm, const fkm_params *p, const fkm_matrix *x, int64_t row0,
                         fkm_result *out);
void fkm_mpi_teardown(mpi_fit *f);
/* Result arrays: k x d centroids, n labels, max_iter stats. Local. */
fkm_status fkm_mpi_result_alloc(const mpi_fit *f, fkm_result *r);
#endif
