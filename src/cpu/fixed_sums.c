/* fixed_sums.c -- per-cluster sums of w_i x_i and of w_i in 64-bit fixed point over a block of
 * rows (cpu.h): the local half of the exact update that fkm_mpi_fit (src/mpi/update.c) reduces
 * over ranks and fkm_partial_sums (src/core/partial.c) hands to a distributed driver (Dask).
 *
 * Column j of every cluster shares the scale colscale[j] (a power of two from the global max
 * |w_i x_ij|, src/fixed.h), the weights share wscale. Each term q = trunc(w x s) is an integer
 * fixed by its row alone, carried in two int64 limbs (hi += q >> 32, lo += q & (2^32 - 1)), so
 * the sums are the same for any split of the rows among blocks, ranks and threads. */
#include "cpu.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FKM_FX_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define FKM_FX_CLONES
#endif

/* Rows between carries: lo takes < 2^32 per addition, so 2^30 additions are safe. */
enum { FX_CARRY_ROWS = 1 << 30 };

/* hi/lo[0..d) += the fixed-point terms of w * row. */
FKM_FX_CLONES static void fx_add_row(int64_t *restrict hi, int64_t *restrict lo, const float *restrict row, double w,
                                  const double *restrict cs, int64_t d) {
    for (int64_t j = 0; j < d; j++) {
        const int64_t q = (int64_t)(w * (double)row[j] * cs[j]);
        hi[j] += q >> 32; /* arithmetic shift (GCC, Clang): q = (q >> 32) 2^32 + (q & 0xffffffff) */
        lo[j] += q & 0xffffffff;
    }
}

/* Move lo's carries into hi (lo ends in [0, 2^32)). */
static void norm_range(int64_t *hi, int64_t *lo, int64_t count) {
    for (int64_t j = 0; j < count; j++) {
        hi[j] += lo[j] >> 32;
        lo[j] &= 0xffffffff;
    }
}

void fkm_cpu_fx_cluster_sums(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d, int64_t k,
                             const double *colscale, double wscale, int threads, int64_t *work) {
    const int64_t kd = k * d;
    int64_t *shi = work, *slo = work + kd, *whi = work + 2 * kd, *wlo = work + 2 * kd + k;
    memset(work, 0, (size_t)(2 * kd + 2 * k) * sizeof(int64_t));
    /* Thread t owns clusters [k t / nt, k (t+1) / nt) and walks every row in order: no two
     * threads touch one accumulator, and integer sums make the order irrelevant anyway. */
#pragma omp parallel num_threads(threads)
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
                const int64_t q = (int64_t)(wi * wscale);
                fx_add_row(shi + ci * d, slo + ci * d, x + i * d, wi, colscale, d);
                whi[ci] += q >> 32;
                wlo[ci] += q & 0xffffffff;
            }
            if ((i + 1) % FX_CARRY_ROWS == 0) {
                norm_range(shi + lo_c * d, slo + lo_c * d, (hi_c - lo_c) * d);
                norm_range(whi + lo_c, wlo + lo_c, hi_c - lo_c);
            }
        }
        norm_range(shi + lo_c * d, slo + lo_c * d, (hi_c - lo_c) * d);
        norm_range(whi + lo_c, wlo + lo_c, hi_c - lo_c);
    }
}
