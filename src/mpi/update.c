/* update.c -- the centroid update of fkm_mpi_fit: per-cluster sums of w_i x_i and of w_i in
 * 64-bit fixed point (mpi_internal.h), reduced over the ranks with integer MPI_SUM.
 *
 * Column j of every cluster shares the scale colscale[j] (from the global max |w_i x_ij|), the
 * weights share wscale. Every term is an integer fixed by the row alone, so the sums, and the
 * centroids (float)((sum / colscale) / (wsum / wscale)), are the same bits for any split of the
 * rows among ranks and threads. */
#include "mpi_internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FKM_MPI_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define FKM_MPI_CLONES
#endif

enum { FX_CARRY_ROWS = 1 << 30 };

/* hi/lo[0..d) += the fixed-point terms of w * row. */
FKM_MPI_CLONES static void add_row(int64_t *restrict hi, int64_t *restrict lo, const float *restrict row, double w,
                                   const double *restrict cs, int64_t d) {
    for (int64_t j = 0; j < d; j++) {
        const int64_t q = (int64_t)(w * (double)row[j] * cs[j]);
        hi[j] += q >> 32;
        lo[j] += q & 0xffffffff;
    }
}

static void norm_range(int64_t *hi, int64_t *lo, int64_t count) {
    for (int64_t j = 0; j < count; j++) fkm_fx_norm(&hi[j], &lo[j]);
}

fkm_status fkm_mpi_update(fkm_mpi_ctx *c, const float *x, const float *w, const int32_t *labels, int64_t k,
                          const double *colscale, double wscale, int64_t *work, float *cen, uint8_t *has_weight) {
    const int64_t n = c->n, d = c->d, kd = k * d;
    int64_t *shi = work, *slo = work + kd, *whi = work + 2 * kd, *wlo = work + 2 * kd + k;
    memset(work, 0, (size_t)(2 * kd + 2 * k) * sizeof(int64_t));
    const int nt = c->threads;
    /* Thread t owns clusters [k t / nt, k (t+1) / nt) and walks every row in order: no two
     * threads touch one accumulator, and integer sums make the order irrelevant anyway. */
#pragma omp parallel num_threads(nt)
    {
#ifdef _OPENMP
        const int t = omp_get_thread_num(), tn = omp_get_num_threads();
#else
        const int t = 0, tn = 1;
#endif
        const int64_t lo_c = k * t / tn, hi_c = k * (t + 1) / tn;
        for (int64_t i = 0; i < n; i++) {
            const int64_t ci = labels[i];
            if (ci >= lo_c && ci < hi_c) {
                const double wi = w ? (double)w[i] : 1.0;
                add_row(shi + ci * d, slo + ci * d, x + i * d, wi, colscale, d);
                fkm_fx_add(&whi[ci], &wlo[ci], (int64_t)(wi * wscale));
            }
            if ((i + 1) % FX_CARRY_ROWS == 0) {
                norm_range(shi + lo_c * d, slo + lo_c * d, (hi_c - lo_c) * d);
                norm_range(whi + lo_c, wlo + lo_c, hi_c - lo_c);
            }
        }
        norm_range(shi + lo_c * d, slo + lo_c * d, (hi_c - lo_c) * d);
        norm_range(whi + lo_c, wlo + lo_c, hi_c - lo_c);
    }
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
