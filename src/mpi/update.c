/* update.c -- the centroid update of fkm_mpi_fit: per-cluster sums of w_i x_i and of w_i in
 * 64-bit fixed point (mpi_internal.h), reduced over the ranks with integer MPI_SUM.
 *
 * Column j of every cluster shares the scale colscale[j] (from the global max |w_i x_ij|), the
 * weights share wscale. Every term is an integer fixed by the row alone, so the sums, and the
 * centroids (float)((sum / colscale) / (wsum / wscale)), are the same bits for any split of the
 * rows among ranks and threads. The local sums are fkm_cpu_fx_cluster_sums (src/cpu/fixed_sums.c),
 * the same function that fkm_partial_sums runs for a distributed driver (Dask). */
#include "mpi_internal.h"

#include "../cpu/cpu.h"

fkm_status fkm_mpi_update(fkm_mpi_ctx *c, const float *x, const float *w, const int32_t *labels, int64_t k,
                          const double *colscale, double wscale, int64_t *work, float *cen, uint8_t *has_weight) {
    const int64_t d = c->d, kd = k * d;
    const int nt = c->threads;
    const int64_t *shi = work, *slo = work + kd, *whi = work + 2 * kd, *wlo = work + 2 * kd + k;
    /* this rank's terms (src/cpu/fixed_sums.c, also behind fkm_partial_sums), then every rank's */
    fkm_cpu_fx_cluster_sums(x, w, labels, c->n, d, k, colscale, wscale, nt, work);
    fkm_status st = fkm_mpi_allreduce(c, work, 2 * kd + 2 * k, MPI_INT64_T, MPI_SUM);
    if (st != FKM_OK) return st;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t ci = 0; ci < k; ci++) {
        const __int128 wq = fkm_fx_value(whi[ci], wlo[ci]);
        has_weight[ci] = wq > 0;
        if (wq <= 0) continue; /* no weight: the caller's policy keeps the old centroid */
        const double wsum = (double)wq / wscale;
        for (int64_t j = 0; j < d; j++)
            cen[ci * d + j] = (float)(((double)fkm_fx_value(shi[ci * d + j], slo[ci * d + j]) / colscale[j]) / wsum);
    }
    return FKM_OK;
}
