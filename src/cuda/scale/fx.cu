/* fx.cu -- the scale engine's exact sums (scale.cuh): 64-bit fixed point, as src/mpi does.
 *
 * A value v of column j (the compute-type value times its weight) becomes the integer
 * q = trunc(v * s_j), s_j = 2^(52 - e_j) for the column's global max |v| < 2^e_j, so |q| < 2^52
 * and q depends on v alone. Sums of q are carried in two int64 limbs (hi += q >> 32,
 * lo += q & (2^32 - 1)) and added with integer atomics: integer addition is associative, so the
 * totals are the same bits whatever the order, the chunking, or the GPU that added them. The
 * total hi * 2^32 + lo is turned into a double with one rounding and divided by s_j. */
#include "../cu_device.cuh"
#include "scale.cuh"

#define FX_MASK 0xffffffffll

__device__ __forceinline__ long long fx_q(float w, float v, double s) { return (long long)(((double)w * (double)v) * s); }

__device__ __forceinline__ void fx_add(int64_t *hi, int64_t *lo, long long hv, long long lv) {
    atomicAdd(reinterpret_cast<unsigned long long *>(hi), (unsigned long long)hv);
    atomicAdd(reinterpret_cast<unsigned long long *>(lo), (unsigned long long)lv);
}

/* The exact total of two limbs as a double, rounded once (|hi + lo / 2^32| < 2^51 here). */
__device__ __forceinline__ double fx_value(int64_t hi, int64_t lo) {
    const int64_t h = hi + (lo >> 32), l = lo & FX_MASK;
    return fma((double)h, 4294967296.0, (double)l);
}

/* colmax[j] = max over rows of |w_i x_ij| as float bits (non-negative floats order as integers). */
__global__ void k_colmax(const void *x, int ct, int64_t n, int64_t dp, int64_t d, const float *w, unsigned *colmax) {
    const int64_t j = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= d) return;
    const int t = fkm_ct_dtype(ct);
    const int64_t r0 = (int64_t)blockIdx.x * 64, r1 = min(r0 + 64, n);
    float m = 0.0f;
    for (int64_t i = r0; i < r1; i++) m = fmaxf(m, (float)fabs((double)load_as_float(x, t, i * dp + j) * (w ? w[i] : 1.0f)));
    atomicMax(colmax + j, __float_as_uint(m));
}

fkm_status fkm_fx_colmax(fkm_cu_engine *v, const float *w, float *colmax) {
    const dim3 grid((unsigned)((v->n + 63) / 64), (unsigned)((v->d + 255) / 256));
    k_colmax<<<grid, 256, 0, v->stream>>>(v->x, v->ctype, v->n, v->dp, v->d, w, (unsigned *)colmax);
    CU_LAUNCHED("column maximum kernel");
    return FKM_OK;
}

struct fx_args {
    const char *x;
    int64_t dp, d, k, items;
    const float *w;
    const uint32_t *keys; /* sorted labels of the piece */
    const int32_t *perm;  /* piece rows in sorted order */
    const double *cs;
    double ws;
    int64_t *fx;
};

/* One warp per 256 sorted rows of the piece, blockIdx.y: 128 columns (4 a lane). A run of equal
 * labels is summed in registers and added to the totals once. */
template <int CT>
__global__ void __launch_bounds__(256) k_fx_sums(const fx_args a) {
    const int lane = threadIdx.x & 31;
    const int64_t p0 = ((int64_t)blockIdx.x * 8 + (threadIdx.x >> 5)) * 256;
    if (p0 >= a.items) return;
    const int64_t p1 = min(p0 + 256, a.items), j0 = (int64_t)blockIdx.y * 128 + lane * 4, kd = a.k * a.d;
    const int t = fkm_ct_dtype(CT);
    double cs[4];
#pragma unroll
    for (int q = 0; q < 4; q++) cs[q] = j0 + q < a.d ? a.cs[j0 + q] : 0.0;
    long long hi[4] = {0, 0, 0, 0}, lo[4] = {0, 0, 0, 0}, whi = 0, wlo = 0;
    uint32_t cur = a.keys[p0];
    for (int64_t p = p0; p <= p1; p++) {
        const uint32_t key = p < p1 ? a.keys[p] : 0xffffffffu;
        if (key != cur) { /* flush the run */
            int64_t *h = a.fx + (int64_t)cur * a.d, *l = a.fx + kd + (int64_t)cur * a.d;
#pragma unroll
            for (int q = 0; q < 4; q++)
                if (j0 + q < a.d) fx_add(h + j0 + q, l + j0 + q, hi[q], lo[q]);
            if (lane == 0 && blockIdx.y == 0) fx_add(a.fx + 2 * kd + cur, a.fx + 2 * kd + a.k + cur, whi, wlo);
#pragma unroll
            for (int q = 0; q < 4; q++) hi[q] = lo[q] = 0;
            whi = wlo = 0;
            cur = key;
        }
        if (p == p1) break;
        const int64_t i = a.perm[p];
        const float wt = a.w ? a.w[i] : 1.0f;
        const long long qw = (long long)((double)wt * a.ws);
        whi += qw >> 32;
        wlo += qw & FX_MASK;
#pragma unroll
        for (int q = 0; q < 4; q++) {
            if (j0 + q >= a.d) break;
            const long long v = fx_q(wt, load_as_float(a.x, t, i * a.dp + j0 + q), cs[q]);
            hi[q] += v >> 32;
            lo[q] += v & FX_MASK;
        }
    }
}

fkm_status fkm_fx_piece_sums(fkm_cu_engine *v, int64_t items, const double *colscale, double wscale, int64_t *fx) {
    if (items == 0) return FKM_OK;
    fx_args a = {(const char *)v->x, v->dp, v->d, v->k, items, v->w, v->keys_sorted, v->perm, colscale, wscale, fx};
    const dim3 grid((unsigned)((items + 2047) / 2048), (unsigned)((v->d + 127) / 128));
    if (v->ctype == FKM_CT_F32) k_fx_sums<FKM_CT_F32><<<grid, 256, 0, v->stream>>>(a);
    else if (v->ctype == FKM_CT_F16) k_fx_sums<FKM_CT_F16><<<grid, 256, 0, v->stream>>>(a);
    else k_fx_sums<FKM_CT_BF16><<<grid, 256, 0, v->stream>>>(a);
    CU_LAUNCHED("fixed-point sums kernel");
    return FKM_OK;
}

/* Carry lo into hi (so a sum over GPUs cannot overflow lo) and widen the counts to int64. */
__global__ void k_fx_pack(int64_t *fx, int64_t kd, int64_t k, const int32_t *counts) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < kd + k) {
        int64_t *hi = i < kd ? fx + i : fx + 2 * kd + (i - kd), *lo = i < kd ? fx + kd + i : fx + 2 * kd + k + (i - kd);
        *hi += *lo >> 32;
        *lo &= FX_MASK;
    }
    if (i < k) fx[2 * kd + 2 * k + i] = counts[i];
}

fkm_status fkm_fx_pack(fkm_cu_engine *e, int64_t *fx) {
    const int64_t kd = e->k * e->d;
    k_fx_pack<<<(unsigned)((kd + e->k + 255) / 256), 256, 0, e->stream>>>(fx, kd, e->k, e->counts);
    CU_LAUNCHED("fixed-point carry kernel");
    return FKM_OK;
}

__device__ __forceinline__ unsigned long long warp_max_u64(unsigned long long v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const unsigned long long u = __shfl_xor_sync(0xffffffffu, v, o);
        v = u > v ? u : v;
    }
    return v;
}

/* out[0] = max(out[0], float bits of max |v_i w_i|). */
__global__ void k_absmax(const float *v, const float *w, int64_t n, unsigned long long *out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const float m = i < n ? (float)fabs((double)v[i] * (w ? w[i] : 1.0f)) : 0.0f;
    const unsigned long long u = warp_max_u64(__float_as_uint(m));
    if ((threadIdx.x & 31) == 0) atomicMax(out, u);
}

fkm_status fkm_fx_absmax(fkm_cu_engine *e, const float *v, const float *w, int64_t n, unsigned long long *out) {
    if (n == 0) return FKM_OK;
    k_absmax<<<(unsigned)((n + 255) / 256), 256, 0, e->stream>>>(v, w, n, out);
    CU_LAUNCHED("maximum kernel");
    return FKM_OK;
}

/* out[0..1] += the fixed-point limbs of sum_i v_i w_i at `scale`. */
__global__ void k_fxsum(const float *v, const float *w, int64_t n, double scale, unsigned long long *out) {
    long long hi = 0, lo = 0;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const long long q = fx_q(w ? w[i] : 1.0f, v[i], scale);
        hi += q >> 32;
        lo += q & FX_MASK;
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        hi += __shfl_xor_sync(0xffffffffu, hi, o);
        lo += __shfl_xor_sync(0xffffffffu, lo, o);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(out, (unsigned long long)hi);
        atomicAdd(out + 1, (unsigned long long)lo);
    }
}

fkm_status fkm_fx_sum(fkm_cu_engine *e, const float *v, const float *w, int64_t n, double scale, unsigned long long *out) {
    if (n == 0) return FKM_OK;
    const int64_t blocks = (n + 255) / 256;
    k_fxsum<<<(unsigned)(blocks < 4096 ? blocks : 4096), 256, 0, e->stream>>>(v, w, n, scale, out);
    CU_LAUNCHED("fixed-point total kernel");
    return FKM_OK;
}

/* With weights, the counts the empty-cluster policy reads are those of the positive-weight rows
 * (a cluster of zero-weight rows only has no mean: it is empty, docs/contract.md 5): wc (zeroed
 * by the caller) gets them, integer atomics (order-free). */
__global__ void k_wcount(const int32_t *labels, const float *w, int64_t n, int32_t *wc) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n && w[i] > 0) atomicAdd(&wc[labels[i]], 1);
}

fkm_status fkm_fx_weighted_counts(fkm_cu_engine *e, const int32_t *labels, const float *w, int64_t n) {
    CU_RET(cudaMemsetAsync(e->counts, 0, (size_t)e->k * sizeof(int32_t), e->stream));
    if (n == 0) return FKM_OK;
    k_wcount<<<(unsigned)((n + 255) / 256), 256, 0, e->stream>>>(labels, w, n, e->counts);
    CU_LAUNCHED("weighted count kernel");
    return FKM_OK;
}

/* The farthest row whose cluster keeps a point after giving it away: out = max over rows of
 * (order-preserving bits of best) << 32 | (2^32 - 1 - row): largest distance, lowest row. With
 * weights (w not NULL) a donor has positive weight, and counts are the weighted ones. */
__global__ void k_donor(const float *best, const int32_t *labels, const float *w, int64_t n, const int64_t *counts,
                        unsigned long long *out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    unsigned long long key = 0;
    if (i < n && counts[labels[i]] > 1 && (!w || w[i] > 0)) {
        unsigned u = __float_as_uint(best[i]);
        u = (u & 0x80000000u) ? ~u : u | 0x80000000u;
        key = ((unsigned long long)u << 32) | (0xffffffffull - (unsigned long long)i);
    }
    key = warp_max_u64(key);
    if ((threadIdx.x & 31) == 0 && key) atomicMax(out, key);
}

fkm_status fkm_fx_donor(fkm_cu_engine *e, const float *best, const int32_t *labels, const float *w, int64_t n,
                        const int64_t *counts, unsigned long long *out) {
    if (n == 0) return FKM_OK;
    k_donor<<<(unsigned)((n + 255) / 256), 256, 0, e->stream>>>(best, labels, w, n, counts, out);
    CU_LAUNCHED("farthest-point kernel");
    return FKM_OK;
}

/* A row (compute layout, weight wi) leaves cluster `from` for the empty cluster `to`. */
__global__ void k_fx_move(const void *row, int ct, float wi, int64_t from, int64_t to, int64_t d, int64_t k,
                          const double *cs, double ws, int64_t *fx) {
    const int64_t kd = k * d;
    const int t = fkm_ct_dtype(ct);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        const long long q = fx_q(wi, load_as_float(row, t, j), cs[j]);
        fx[from * d + j] -= q >> 32;
        fx[kd + from * d + j] -= q & FX_MASK;
        fx[to * d + j] += q >> 32;
        fx[kd + to * d + j] += q & FX_MASK;
    }
    if (threadIdx.x == 0) {
        const long long q = (long long)((double)wi * ws);
        fx[2 * kd + from] -= q >> 32;
        fx[2 * kd + k + from] -= q & FX_MASK;
        fx[2 * kd + to] += q >> 32;
        fx[2 * kd + k + to] += q & FX_MASK;
        fx[2 * kd + 2 * k + from] -= 1;
        fx[2 * kd + 2 * k + to] += 1;
    }
}

fkm_status fkm_fx_move(fkm_cu_engine *e, const void *row_ct, float wi, int64_t from, int64_t to, const double *colscale,
                       double wscale, int64_t *fx) {
    k_fx_move<<<1, 256, 0, e->stream>>>(row_ct, e->ctype, wi, from, to, e->d, e->k, colscale, wscale, fx);
    CU_LAUNCHED("empty-cluster move kernel");
    return FKM_OK;
}

/* One warp per cluster: centroid = (sum / s_j) / (weight sum) where the weight is positive (else
 * the old centroid stays); cosine: re-normalised (a zero sum keeps the old direction); the
 * squared move joins *shift2's maximum. */
__global__ void k_fx_finalize(const int64_t *fx, int64_t k, int64_t d, const double *cs, double ws, int cosine,
                              float *c32, unsigned long long *shift2) {
    const int64_t c = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (c >= k) return;
    const int64_t kd = k * d;
    const double wsum = fx_value(fx[2 * kd + c], fx[2 * kd + k + c]) / ws;
    if (!(wsum > 0.0)) return;
    float *dst = c32 + c * d;
    double inv = 1.0;
    if (cosine) {
        double n2 = 0.0;
        for (int64_t j = lane; j < d; j += 32) {
            const float v = (float)((fx_value(fx[c * d + j], fx[kd + c * d + j]) / cs[j]) / wsum);
            n2 += (double)v * v;
        }
        n2 = warp_sum(n2);
        if (n2 == 0.0) return;
        inv = 1.0 / sqrt(n2);
    }
    double m = 0.0;
    for (int64_t j = lane; j < d; j += 32) {
        float v = (float)((fx_value(fx[c * d + j], fx[kd + c * d + j]) / cs[j]) / wsum);
        if (cosine) v = (float)(v * inv);
        const double t = (double)v - dst[j];
        m += t * t;
        dst[j] = v;
    }
    m = warp_sum(m);
    if (lane == 0) atomicMax(shift2, (unsigned long long)__double_as_longlong(m));
}

fkm_status fkm_fx_finalize(fkm_cu_engine *e, const int64_t *fx, const double *colscale, double wscale, double *shift2) {
    k_fx_finalize<<<(unsigned)((e->k + 7) / 8), 256, 0, e->stream>>>(fx, e->k, e->d, colscale, wscale,
                                                                     e->metric == FKM_METRIC_COSINE, e->c32,
                                                                     (unsigned long long *)shift2);
    CU_LAUNCHED("fixed-point centroid kernel");
    return FKM_OK;
}
