/* transform.h -- all n x k distances on the CPU (fkm_transform's engine op). */
#ifndef FKM_CPU_TRANSFORM_H
#define FKM_CPU_TRANSFORM_H
#include "cpu.h"

/* out[i * k + c] = xterm[i] + fma(-alpha, x_i . c_c, cterm[c]), clamped at 0 when a->clamp: the
 * fp32 operations of fkm_cpu_assign in the same order (transform_kern.h), so row i's minimum is
 * the distance fkm_cpu_assign reports for point i (before the exact L2 recomputation) and sits
 * at column labels[i]. Register-blocked SIMD kernels of the family fkm_cpu_assign_kernel()
 * names (avx512, avx2, portable; "naive" = the unpacked loop); every one gives the same bits,
 * for any thread count. Falls back to the unpacked loop (same bits) when out of memory. */
void fkm_cpu_distances(const fkm_cpu_assign_args *a, float *out);
/* Row i alone (out: k floats), single-threaded, with the same bits as row i of fkm_cpu_distances. */
void fkm_cpu_distance_row(const fkm_cpu_assign_args *a, int64_t i, float *out);
#endif
