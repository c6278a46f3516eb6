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

/* The SIMT kernel's fp32 score of global row g of problem p against centroid c: its fma chain
 * over the features in order from 0 (x32_pitch of them: the padding adds zeros), then
 * fma(-alpha, acc, t_c) -- the same bits as the SIMT kernel (k_cert_resolve's chain, one row). */
__device__ __forceinline__ float cert_exact(const fkm_cu_assign_args &a, int64_t p, int64_t g, int c) {
    const float4 *xr = reinterpret_cast<const float4 *>(a.x32 + g * a.x32_pitch);
    const float4 *cr = reinterpret_cast<const float4 *>(a.c32 + (p * a.kp + c) * a.c32_pitch);
    const int n4 = (int)(a.x32_pitch >> 2);
    float acc = 0.0f;
#pragma unroll 4
    for (int f = 0; f < n4; f++) {
        const float4 xv = __ldg(xr + f), cv = __ldg(cr + f);
        acc = fmaf(xv.x, cv.x, acc);
        acc = fmaf(xv.y, cv.y, acc);
        acc = fmaf(xv.z, cv.z, acc);
        acc = fmaf(xv.w, cv.w, acc);
    }
    return fmaf(-a.alpha, acc, a.cterm[p * a.kp + c]);
}

/* The certificate: every other centroid's SIMT score is at least l2 - 2u|l2| (docs/certified.md),
 * so s(i1) below that proves i1; nothing is proven where the bound is not finite (fp16 overflow
 * of a centroid -- r -- or of the point -- P_x). */
__device__ __forceinline__ bool cert_proves(const fkm_cu_assign_args &a, int64_t p, int64_t g, float s, float l2) {
    const double rhs = isinf(l2) ? (double)l2 : (double)l2 - 0x1p-23 * fabs((double)l2);
    return isfinite(__uint_as_float(a.cmax[2 * p])) && isfinite(a.xq[g].x) && (double)s < rhs;
}

/* Append the lanes' rows i (of problem p) with `need` set to their problem's list (all lanes of
 * the warp call): one atomic per problem in the warp (k_cert_resolve). Returns the row's list position (-1: not
 * listed); with the split re-score kernel (a.ukey) its key starts at the largest value. */
__device__ __forceinline__ int cert_append(const fkm_cu_assign_args &a, int64_t p, bool need, int64_t i) {
    const unsigned m = __ballot_sync(0xffffffffu, need);
    if (!need) return -1;
    const unsigned peers = __match_any_sync(m, (unsigned long long)p);
    const int lane = threadIdx.x & 31, lead = __ffs(peers) - 1;
    int base = 0;
    if (lane == lead) base = atomicAdd(&a.ucnt[p], __popc(peers));
    base = __shfl_sync(peers, base, lead);
    const int pos = base + __popc(peers & ((1u << lane) - 1u));
    a.uput[p * a.n + pos] = (int32_t)i;
    if (a.ukey) a.ukey[p * a.n + pos] = ~0ull;
    return pos;
}

/* (score, label) as one 64-bit key whose unsigned order is fkm_better's: the score's bits made
 * monotone (-0 taken as +0: the two compare equal, and the lower label must win), the label
 * below. Scores are never NaN here (a NaN never becomes a running minimum). */
__device__ __forceinline__ unsigned long long cert_key(float v, int lab) {
    const uint32_t u = v == 0.0f ? 0u : __float_as_uint(v);
    const uint32_t o = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((unsigned long long)o << 32) | (uint32_t)lab;
}
/* The label of a key, and its score (of a zero score only the value: its sign is the caller's). */
__device__ __forceinline__ float cert_key_score(unsigned long long key, int &lab) {
    const uint32_t o = (uint32_t)(key >> 32);
    lab = (int)(uint32_t)key;
    return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}


#endif
