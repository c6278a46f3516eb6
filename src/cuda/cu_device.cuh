/* cu_device.cuh -- device helpers shared by the engine's kernels: dtype loads and rounding,
 * warp sums, and the writer of one row of the compute-type centroid copy. */
#ifndef FKM_CU_DEVICE_CUH
#define FKM_CU_DEVICE_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cu_common.cuh"

/* The fkm_dtype of a compute type (FKM_CT_*), for load_as_float. */
__host__ __device__ __forceinline__ int fkm_ct_dtype(int ct) {
    return ct == FKM_CT_F32 ? FKM_F32 : ct == FKM_CT_F16 ? FKM_F16 : FKM_BF16;
}

__device__ __forceinline__ float load_as_float(const void *p, int t, int64_t i) {
    switch (t) {
    case FKM_F32: return ((const float *)p)[i];
    case FKM_F64: return (float)((const double *)p)[i];
    case FKM_F16: return __half2float(((const __half *)p)[i]);
    case FKM_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    default: return (float)((const uint8_t *)p)[i];
    }
}

/* Round v to the compute type and back (what the tensor cores will see). */
__device__ __forceinline__ float round_ct(float v, int ct, int tf32) {
    if (ct == FKM_CT_F16) return __half2float(__float2half_rn(v));
    if (ct == FKM_CT_BF16) return __bfloat162float(__float2bfloat16_rn(v));
    if (tf32) {
        uint32_t r;
        asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(v));
        return __uint_as_float(r);
    }
    return v;
}

__device__ __forceinline__ void store_ct(void *p, int ct, int64_t i, float v) {
    if (ct == FKM_CT_F16) ((__half *)p)[i] = __float2half_rn(v);
    else if (ct == FKM_CT_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else ((float *)p)[i] = v;
}

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* One warp: the new centroid src (d floats) replaces dst, for cosine re-normalised in float64.
 * Returns the squared move |new - old|^2 (float64 per feature, lane-strided, then a xor tree: the
 * same bits in every caller), or -1 when cosine finds a zero sum (antipodal points cancel: dst
 * keeps the previous direction). Used by update.cu's k_post / k_centroids and the tiny loop. */
__device__ __forceinline__ double fkm_post_row(const float *src, float *dst, int64_t d, int cosine) {
    const int lane = threadIdx.x & 31;
    double inv = 1.0;
    if (cosine) {
        double n2 = 0.0;
        for (int64_t j = lane; j < d; j += 32) n2 += (double)src[j] * src[j];
        n2 = warp_sum(n2);
        if (n2 == 0.0) return -1.0;
        inv = 1.0 / sqrt(n2);
    }
    double m = 0.0;
    for (int64_t j = lane; j < d; j += 32) {
        const float v = cosine ? (float)(src[j] * inv) : src[j];
        const double t = (double)v - dst[j];
        m += t * t;
        dst[j] = v;
    }
    return warp_sum(m);
}

/* One warp writes padded centroid row r of problem prob into the compute copy cc (rounded to the
 * compute type; src: d values of type st (fkm_dtype); NULL: a padding row of zeros with cterm =
 * +inf) and its cterm. With `tiled`
 * (rows per tile: 128, the wgmma kernels' centroid tile) the copy is stored as their shared-memory
 * image: per tile and per 128-byte k-block, a block of rows with 16-byte chunk c of row r at
 * c ^ (r & 7). */
__device__ __forceinline__ void fkm_cc_row_t(const void *src, int st, int64_t prob, int64_t r, int64_t d, int64_t kp,
                                             void *cc, int64_t dcp, int ct, int tf32, int l2, int tiled, float *cterm) {
    const int lane = threadIdx.x & 31;
    const int64_t row = prob * kp + r;
    const int es = ct == FKM_CT_F32 ? 4 : 2;
    const int64_t nkb = dcp * es / 128, tr = tiled ? tiled : 128;
    char *tb = (char *)cc + ((prob * (kp / tr) + r / tr) * nkb) * (tr * 128) + (r % tr) * 128;
    float s = 0.0f;
    for (int64_t j = lane; j < dcp; j += 32) {
        const float v = src && j < d ? round_ct(load_as_float(src, st, j), ct, tf32) : 0.0f;
        if (tiled) {
            const int64_t jb = j * es, kb = jb >> 7, c = (jb >> 4) & 7;
            store_ct(tb + kb * (tr * 128) + ((c ^ (r & 7)) << 4) + (jb & 15), ct, 0, v);
        } else {
            store_ct(cc, ct, row * dcp + j, v);
        }
        s = fmaf(v, v, s);
    }
    s = warp_sum(s);
    if (lane == 0) cterm[row] = !src ? __int_as_float(0x7f800000) : l2 ? s : 0.0f;
}

/* The same from a float32 row (the engine's centroids). */
__device__ __forceinline__ void fkm_cc_row(const float *src, int64_t prob, int64_t r, int64_t d, int64_t kp, void *cc,
                                           int64_t dcp, int ct, int tf32, int l2, int tiled, float *cterm) {
    fkm_cc_row_t(src, FKM_F32, prob, r, d, kp, cc, dcp, ct, tf32, l2, tiled, cterm);
}
#endif
