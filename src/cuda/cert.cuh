/* cert.cuh -- the device side of the certified exact mode that the persistent fp16 kernels share
 * (assign_res.cuh, assign_ps.cuh with CERT = true); docs/certified.md has the derivation.
 *
 * Per point the kernels keep, instead of the argmin of the scores, the two smallest lower bounds
 * lo_c = s^_c - R_x n_c of the SIMT kernel's fp32 score s(c): l1 at index i1 (ties to the lowest
 * index) and l2. The output stage writes i1 when the bound proves it is the SIMT kernel's label,
 * else -1 - i1 (the point is re-scored by the SIMT kernel, cert.cu). */
#ifndef FKM_CU_CERT_CUH
#define FKM_CU_CERT_CUH

#include "assign_epi.cuh"

/* R_x = (P_x + Q_x r + 2u tau) (1 + 2^-20) for global row g of problem p (the factor covers the
 * three fp32 roundings of the formula); 0 past the end. */
__device__ __forceinline__ float cert_row_bound(const fkm_cu_assign_args &a, int64_t p, int64_t g) {
    const float2 pq = a.xq[g];
    const float r = __uint_as_float(a.cmax[2 * p]), t = __uint_as_float(a.cmax[2 * p + 1]);
    return fmaf(pq.y, r, pq.x + t) * (1.0f + 0x1p-20f) * a.cscale;
}

/* One score into the running pair: the smallest lo (l1, i1) and the second smallest (l2). A NaN
 * lo (only from an overflowed operand, whose row bound is then infinite and never certifies)
 * is ignored by both comparisons. */
__device__ __forceinline__ void cert_take(float lo, int col, float &l1, int &i1, float &l2) {
    if (lo < l1) {
        l2 = l1;
        l1 = lo;
        i1 = col;
    } else {
        l2 = fminf(l2, lo);
    }
}

/* Merge the pairs of the lanes that differ in bits 0 and 1 (a quad holds one row's columns). */
__device__ __forceinline__ void cert_quad_merge(float &l1, int &i1, float &l2) {
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
        const float o1 = __shfl_xor_sync(0xffffffffu, l1, off), o2 = __shfl_xor_sync(0xffffffffu, l2, off);
        const int oi = __shfl_xor_sync(0xffffffffu, i1, off);
        if (fkm_better(o1, oi, l1, i1)) {
            l2 = fminf(l1, o2);
            l1 = o1;
            i1 = oi;
        } else {
            l2 = fminf(l2, o1);
        }
    }
}

#endif
