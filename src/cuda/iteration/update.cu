/* update.cu -- one Lloyd iteration on the device, with no float atomics and no host round trip.
 *
 *   begin     zero the per-iteration counters of the problems still running
 *   assign    labels, distances, sort keys (problem * k + label), counts, changed, tile inertia
 *   policy    one block per problem: inertia (tile partials in a fixed tree), empty clusters,
 *             FKM_EMPTY_FARTHEST moves (same choice as src/cpu/engine.c)
 *   sort      CUB radix sort of the keys with the point indices: each cluster's points become one
 *             contiguous, index-ordered segment (the inverse map)
 *   chunks    one warp per fixed chunk of upd_p (64 or 256) sorted points sums each run of equal keys
 *             in order; a run wholly inside the chunk becomes its centroid at once, a run crossing
 *             a chunk edge leaves a partial sum in the chunk's slot 0 (first run) or 1 (last run)
 *   finalize  one warp per cluster spanning several chunks adds its partials in chunk order
 *   post      one warp per cluster: cosine re-normalisation, shift, the float32 master copy
 *   centroids compute-type copy and norms for the next assignment
 *   stop      the stop rule per problem; finished problems skip every later kernel
 * Every sum has a fixed order and integers are the only atomics, so re-runs give the same bits. */
#include <cub/device/device_radix_sort.cuh>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "../cu_device.cuh"
#include "../../stop.h"

#define UPD_SLICE 128 /* features per lane group pass: 32 lanes x 4 */

template <typename T>
__device__ __forceinline__ T wsum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void k_begin(int64_t b, const int32_t *done, fkm_cu_stats *cur) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= b || done[p]) return;
    cur[p].changed = 0;
    cur[p].rescored = 0;
    cur[p].shift2 = 0;
}

/* Block-wide reduction helpers for 1024 threads (fixed trees). */
__device__ double block_sum_d(double v, double *sh) {
    v = wsum(v);
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    double t = threadIdx.x < (blockDim.x >> 5) ? sh[threadIdx.x] : 0.0;
    if (w == 0) t = wsum(t);
    if (threadIdx.x == 0) sh[0] = t;
    __syncthreads();
    t = sh[0];
    __syncthreads();
    return t;
}

/* Farthest eligible point: largest best, lowest index on ties. */
__device__ void block_argmax(float &v, int64_t &i, float *shv, int64_t *shi) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (oi >= 0 && (i < 0 || ov > v || (ov == v && oi < i))) { v = ov; i = oi; }
    }
    __syncthreads();
    if (lane == 0) { shv[w] = v; shi[w] = i; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int q = 1; q < (int)(blockDim.x >> 5); q++)
            if (shi[q] >= 0 && (shi[0] < 0 || shv[q] > shv[0] || (shv[q] == shv[0] && shi[q] < shi[0]))) {
                shv[0] = shv[q];
                shi[0] = shi[q];
            }
    }
    __syncthreads();
    v = shv[0];
    i = shi[0];
    __syncthreads();
}

struct policy_args {
    int64_t n, k, tiles, parts;
    const double *tile_inertia;
    int32_t *counts, *labels;
    uint32_t *keys;
    float *best;
    const int32_t *done;
    fkm_cu_stats *cur;
    int update, farthest;
    const float *w; /* weights (b*n) or NULL */
    int32_t *wcnt;  /* with weights: b*k scratch for the positive-weight counts (seg_start, which
                       the sums rewrite for every cluster they read it for) */
};

/* With weights, a cluster holding only zero-weight points has no mean: it is empty, as on the
 * CPU (docs/contract.md 5). The counts stay those of all points (the inverse map needs them);
 * wc gets the positive-weight points per cluster, counted with integer atomics (exact). */
__device__ void policy_weighted_counts(const policy_args &a, int64_t prob, int32_t *wc) {
    for (int64_t c = threadIdx.x; c < a.k; c += blockDim.x) wc[c] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x) {
        const int64_t g = prob * a.n + i;
        if (a.w[g] > 0) atomicAdd(&wc[a.labels[g]], 1);
    }
    __syncthreads();
}

__global__ void __launch_bounds__(1024) k_policy(const policy_args a) {
    __shared__ double shd[32];
    __shared__ float shv[32];
    __shared__ int64_t shi[32];
    __shared__ int list[1024];
    __shared__ int nlist;
    const int64_t prob = blockIdx.x;
    if (a.done && a.done[prob]) return;
    const int tid = threadIdx.x;
    double s = 0.0;
    const int64_t parts = a.tiles * a.parts; /* the problem's partials, contiguous, summed in a fixed tree */
    for (int64_t t = tid; t < parts; t += blockDim.x) s += a.tile_inertia[prob * parts + t];
    s = block_sum_d(s, shd);
    int32_t *cnt = a.counts + prob * a.k, *wc = a.w && a.update ? a.wcnt + prob * a.k : NULL;
    if (wc) policy_weighted_counts(a, prob, wc);
    const int32_t *ec = wc ? wc : cnt; /* the points with a mean: weighted ones */
    double e = 0.0;
    if (a.update) /* counts are only maintained by a full assignment */
        for (int64_t c = tid; c < a.k; c += blockDim.x) e += ec[c] == 0;
    const int64_t empty = (int64_t)block_sum_d(e, shd);
    if (tid == 0) {
        a.cur[prob].inertia = s;
        a.cur[prob].empty = a.update ? empty : 0;
    }
    if (!a.update || !a.farthest || empty == 0) return;
    for (int64_t base = 0; base < a.k; base += blockDim.x) {
        /* The empty clusters of this window, in index order. */
        if (tid == 0) {
            nlist = 0;
            for (int64_t c = base; c < a.k && c < base + (int64_t)blockDim.x; c++)
                if (ec[c] == 0) list[nlist++] = (int)(c - base);
        }
        __syncthreads();
        const int m = nlist;
        for (int q = 0; q < m; q++) {
            const int64_t c = base + list[q];
            float bv = 0.0f;
            int64_t bi = -1;
            for (int64_t i = tid; i < a.n; i += blockDim.x) {
                const int64_t g = prob * a.n + i;
                /* a donor has weight and its cluster keeps another weighted point */
                if (ec[a.labels[g]] <= 1 || (wc && !(a.w[g] > 0))) continue;
                const float v = a.best[g];
                if (bi < 0 || v > bv) { bv = v; bi = i; }
            }
            block_argmax(bv, bi, shv, shi);
            if (bi < 0) return; /* no donor left: the remaining empties keep their centroids */
            if (tid == 0) {
                const int64_t g = prob * a.n + bi;
                cnt[a.labels[g]]--;
                if (wc) wc[a.labels[g]]--, wc[c] = 1;
                a.labels[g] = (int32_t)c;
                a.keys[g] = (uint32_t)(prob * a.k + c);
                cnt[c]++; /* zero-weight points may be there already */
                a.best[g] = 0.0f;
            }
            __syncthreads();
        }
        __syncthreads();
    }
}

struct chunk_args {
    const char *x;
    int64_t dp, d, k, total, nchunks, p; /* p: points per chunk (the kernel's P) */
    const float *w;
    const uint32_t *keys; /* sorted */
    const int32_t *perm;
    float *cnew, *part;
    double *partw;
    int32_t *seg_start, *upd;
};

/* Four features of a row as stored (fp32: 16 bytes, fp16/bf16: 8 bytes), and as floats. The
 * sums keep rows in the stored form while their loads are in flight: half the registers for
 * 16-bit data, so more warps fit. */
template <int CT>
struct raw4 {
    typedef typename std::conditional<CT == FKM_CT_F32, float4, uint2>::type type;
};
template <int CT>
__device__ __forceinline__ typename raw4<CT>::type load_raw4(const char *x, int64_t elem) {
    return *reinterpret_cast<const typename raw4<CT>::type *>(x + elem * (CT == FKM_CT_F32 ? 4 : 2));
}
template <int CT>
__device__ __forceinline__ float4 to_float4(const typename raw4<CT>::type &u) {
    if constexpr (CT == FKM_CT_F32) {
        return u;
    } else {
        float2 lo, hi;
        if (CT == FKM_CT_F16) {
            lo = __half22float2(*reinterpret_cast<const __half2 *>(&u.x));
            hi = __half22float2(*reinterpret_cast<const __half2 *>(&u.y));
        } else {
            lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.x));
            hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&u.y));
        }
        return make_float4(lo.x, lo.y, hi.x, hi.y);
    }
}

template <int R>
__device__ __forceinline__ void flush_run(const chunk_args &a, int64_t chunk, int64_t cs, int64_t ce, uint32_t key,
                                          int64_t rs, int64_t re, uint32_t kbefore, uint32_t kafter,
                                          const float (&acc)[R][4], double ws, int64_t e0) {
    const int lane = threadIdx.x & 31;
    const bool started = rs > cs || key != kbefore;
    const bool ended = re < ce || key != kafter;
    if (started && lane == 0 && blockIdx.y == 0) a.seg_start[key] = (int32_t)rs;
    if (started && ended) {
        if (ws <= 0.0) return;
        float *dst = a.cnew + (int64_t)key * a.d;
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int q = 0; q < 4; q++) {
                const int64_t j = e0 + r * UPD_SLICE + q;
                if (j < a.d) dst[j] = (float)((double)acc[r][q] / ws);
            }
        if (lane == 0 && blockIdx.y == 0) a.upd[key] = 1;
        return;
    }
    const int64_t slot = chunk * 2 + (rs == cs ? 0 : 1);
    float *dst = a.part + slot * a.dp;
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int64_t j = e0 + r * UPD_SLICE;
        if (j < a.dp) *reinterpret_cast<float4 *>(dst + j) = make_float4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]);
    }
    if (lane == 0 && blockIdx.y == 0) a.partw[slot] = ws;
}

/* One row into the running sum of the current run (weight wt; fp32 FMAs in row order). */
template <int CT, int R>
__device__ __forceinline__ void add_row(float (&acc)[R][4], double &ws, float wt, const typename raw4<CT>::type (&v)[R]) {
    ws += wt;
#pragma unroll
    for (int r = 0; r < R; r++) {
        const float4 f = to_float4<CT>(v[r]);
        acc[r][0] = fmaf(wt, f.x, acc[r][0]);
        acc[r][1] = fmaf(wt, f.y, acc[r][1]);
        acc[r][2] = fmaf(wt, f.z, acc[r][2]);
        acc[r][3] = fmaf(wt, f.w, acc[r][3]);
    }
}

/* One warp per chunk of sorted points; blockIdx.y selects R * 128 features; U rows in flight.
 * The chunk is walked 32 positions at a time: each lane loads the key, point index and weight
 * of one position, then the warp gathers the 32 rows U at a time (indices by shuffle).
 * Measured on the H100 (N=1M K=1024 D=128 fp16): U=4 0.19 ms, U=16 with the run break handled
 * inside the unrolled loop 0.45 ms. The common case (all U rows in the current run) takes a
 * branch-free path; the run-break path is kept out of the unrolled body. Session 5: the 32-
 * position groups are a loop (not unrolled, keys not all preloaded) and rows stay in their stored
 * form until added: 122 -> 80 registers for 8 rows in flight (64 for 4), 3 (4) blocks per SM instead of 2. */
template <int CT, int R, int U, int P>
__global__ void __launch_bounds__(256, R == 1 ? (U >= 8 ? 3 : 4) : 1) k_chunks(const chunk_args a) {
    typedef typename raw4<CT>::type raw;
    const int lane = threadIdx.x & 31;
    /* positions fit in 32 bits (the engine takes fewer than 2^31 points), which saves registers */
    const int chunk = blockIdx.x * 8 + (threadIdx.x >> 5);
    if (chunk >= a.nchunks) return;
    const int cs = chunk * P, ce = (int)min((int64_t)cs + P, a.total);
    const int e0 = blockIdx.y * R * UPD_SLICE + lane * 4; /* first feature of this lane */
    const int64_t row_bytes = a.dp * (CT == FKM_CT_F32 ? 4 : 2);
    const uint32_t kbefore = cs > 0 ? a.keys[cs - 1] : 0xffffffffu;
    const uint32_t kafter = ce < a.total ? a.keys[ce] : 0xffffffffu;
    uint32_t cur = a.keys[cs];
    int rs = cs;
    float acc[R][4];
    double ws = 0.0;
#pragma unroll
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
#pragma unroll 1
    for (int g0 = cs; g0 < ce; g0 += 32) {
        const int p = g0 + lane;
        const uint32_t kq = p < ce ? a.keys[p] : 0xffffffffu;
        const int32_t iq = p < ce ? a.perm[p] : 0;
        const float wq = p < ce ? (a.w ? a.w[iq] : 1.0f) : 0.0f;
        for (int l0 = 0; l0 < 32; l0 += U) {
            const int p0 = g0 + l0;
            if (p0 >= ce) break;
            raw v[U][R];
#pragma unroll
            for (int u = 0; u < U; u++) { /* issue all loads of U rows before using any */
                const int32_t i = __shfl_sync(0xffffffffu, iq, l0 + u);
                const bool ok = p0 + u < ce;
                const char *row = a.x + (int64_t)i * row_bytes;
#pragma unroll
                for (int r = 0; r < R; r++) {
                    const int j = e0 + r * UPD_SLICE;
                    v[u][r] = ok && j < a.dp ? load_raw4<CT>(row, j) : raw{};
                }
            }
            if (p0 + U <= ce && __shfl_sync(0xffffffffu, kq, l0 + U - 1) == cur) {
                /* sorted keys: the whole group continues the run */
#pragma unroll
                for (int u = 0; u < U; u++) add_row<CT, R>(acc, ws, __shfl_sync(0xffffffffu, wq, l0 + u), v[u]);
                continue;
            }
#pragma unroll
            for (int u = 0; u < U; u++) {
                const uint32_t key = __shfl_sync(0xffffffffu, kq, l0 + u);
                const float wt = __shfl_sync(0xffffffffu, wq, l0 + u);
                if (p0 + u >= ce) break;
                if (key != cur) {
                    flush_run<R>(a, chunk, cs, ce, cur, rs, p0 + u, kbefore, kafter, acc, ws, e0);
                    cur = key;
                    rs = p0 + u;
                    ws = 0.0;
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = 0.0f;
                }
                add_row<CT, R>(acc, ws, wt, v[u]);
            }
        }
    }
    flush_run<R>(a, chunk, cs, ce, cur, rs, ce, kbefore, kafter, acc, ws, e0);
}

/* One warp per cluster whose segment crosses chunk edges: partials in chunk order. */
__global__ void k_finalize(const chunk_args a, int64_t b, const int32_t *counts, const int32_t *done, int slice_w) {
    const int64_t key = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (key >= b * a.k || done[key / a.k]) return;
    const int64_t cnt = counts[key];
    if (cnt == 0) return;
    const int64_t s = a.seg_start[key], c0 = s / a.p, c1 = (s + cnt - 1) / a.p;
    if (c0 == c1) return;
    const int64_t j0 = (int64_t)blockIdx.y * slice_w, j1 = min(j0 + slice_w, a.d);
    const int64_t first = c0 * 2 + (s != c0 * a.p); /* chunk c0's slot; later chunks: c * 2 */
    double ws = 0.0;
    for (int64_t c = c0; c <= c1; c++) ws += a.partw[c == c0 ? first : c * 2];
    if (ws <= 0.0) return;
    for (int64_t j = j0 + lane; j < j1; j += 32) {
        /* partials added in chunk order; their loads issued eight ahead (one load-add chain per
         * lane was latency-bound: 30 us at N = 8M K = 1024, about 33 chunks per cluster) */
        double acc = a.part[first * a.dp + j];
        int64_t c = c0 + 1;
        for (; c + 7 <= c1; c += 8) {
            float v[8];
#pragma unroll
            for (int q = 0; q < 8; q++) v[q] = a.part[(c + q) * 2 * a.dp + j];
#pragma unroll
            for (int q = 0; q < 8; q++) acc += v[q];
        }
        for (; c <= c1; c++) acc += a.part[c * 2 * a.dp + j];
        a.cnew[key * a.d + j] = (float)(acc / ws);
    }
    if (lane == 0 && blockIdx.y == 0) a.upd[key] = 1;
}

/* One warp per cluster: the new centroid replaces the old (cosine: re-normalised; a zero sum
 * keeps the old direction); the squared shift joins the problem's maximum. */
__global__ void k_post(int64_t b, int64_t k, int64_t d, const float *cnew, float *c32, int32_t *upd,
                       const int32_t *done, int cosine, fkm_cu_stats *cur) {
    const int64_t key = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (key >= b * k) return;
    const int u = upd[key];
    __syncwarp();
    if (lane == 0) upd[key] = 0;
    if (!u || done[key / k]) return;
    const double m = fkm_post_row(cnew + key * d, c32 + key * d, d, cosine);
    if (m < 0.0) return; /* cosine: a zero sum keeps the previous direction */
    if (lane == 0) atomicMax(&cur[key / k].shift2, (unsigned long long)__double_as_longlong(m));
}

/* FKM_CU_FUSED=1 (experimental, not yet run on a GPU): the three steps above and the centroid
 * copy in one launch. One warp per cluster: the new centroid (a segment inside one chunk was finished by k_chunks;
 * one crossing chunk edges adds its partials in chunk order here), cosine re-normalisation (a
 * zero sum keeps the old direction), the squared shift into the problem's maximum, the float32
 * master copy and the compute-type row for the next assignment. */
struct cent_args {
    int64_t b, k, d, dp, kp, dcp, p;
    const float *part;
    const double *partw;
    const int32_t *seg_start, *counts, *done;
    int32_t *upd;
    float *cnew, *c32, *cterm;
    void *cc;
    int cosine, ct, tf32, l2, tiled;
    fkm_cu_stats *cur;
};

__global__ void k_centroids(const cent_args a) {
    const int64_t key = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (key >= a.b * a.k) return;
    int u = a.upd[key];
    __syncwarp();
    if (lane == 0) a.upd[key] = 0;
    const int64_t prob = key / a.k;
    if (a.done[prob]) return;
    float *src = a.cnew + key * a.d;
    const int64_t cnt = a.counts[key];
    if (!u && cnt > 0) {
        const int64_t s = a.seg_start[key], c0 = s / a.p, c1 = (s + cnt - 1) / a.p;
        if (c0 != c1) {
            double ws = 0.0;
            for (int64_t c = c0; c <= c1; c++) ws += a.partw[c * 2 + (c == c0 && s != c0 * a.p)];
            if (ws > 0.0) {
                for (int64_t j = lane; j < a.d; j += 32) {
                    double acc = 0.0;
                    for (int64_t c = c0; c <= c1; c++) acc += a.part[(c * 2 + (c == c0 && s != c0 * a.p)) * a.dp + j];
                    src[j] = (float)(acc / ws);
                }
                u = 1;
            }
        }
    }
    if (!u) return;
    float *dst = a.c32 + key * a.d;
    const double m = fkm_post_row(src, dst, a.d, a.cosine);
    if (m < 0.0) return; /* cosine: a zero sum keeps the previous direction */
    if (lane == 0) atomicMax(&a.cur[prob].shift2, (unsigned long long)__double_as_longlong(m));
    __syncwarp();
    fkm_cc_row(dst, prob, key - prob * a.k, a.d, a.kp, a.cc, a.dcp, a.ct, a.tf32, a.l2, a.tiled, a.cterm);
}

__global__ void k_stop(int64_t b, fkm_cu_stop stop, const double *var, int32_t *done, int32_t *iters,
                       double *prev_inertia, const fkm_cu_stats *cur, fkm_cu_stats *slot) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= b) return;
    if (done[p]) { /* every field written: the host copies whole slots */
        const fkm_cu_stats none = {};
        slot[p] = none;
        return;
    }
    fkm_cu_stats s = cur[p];
    const int it = iters[p];
    const double shift = sqrt(__longlong_as_double((long long)s.shift2)), prev = prev_inertia[p];
    /* the host's rule itself (src/stop.h): the device loop stops where the core's would */
    const int conv = fkm_stop_rule_met(stop.rule, stop.tol, it, shift, s.inertia, (long long)s.changed, prev,
                                       stop.rule == FKM_STOP_SHIFT ? var[p] : 0.0);
    s.ran = 1;
    s.converged = conv;
    slot[p] = s;
    prev_inertia[p] = s.inertia;
    iters[p] = it + 1;
    if (conv || it + 1 >= stop.max_iter) done[p] = 1;
}

size_t fkm_cu_sort_bytes(int64_t items, int keybits) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL, (const int32_t *)NULL,
                                    (int32_t *)NULL, (int)items, 0, keybits);
    return bytes;
}

typedef void (*chunk_fn)(const chunk_args);
template <int CT, int U, int P>
static chunk_fn pick_chunks_u(int r) {
    return r == 1 ? k_chunks<CT, 1, U, P> : r == 2 ? k_chunks<CT, 2, (U > 2 ? U / 2 : 2), P>
           : r == 4 ? k_chunks<CT, 4, (U > 4 ? U / 4 : 2), P> : k_chunks<CT, 8, 2, P>;
}
/* rows in flight (for R = 1; fewer per pass for wider slices) and points per chunk: the tuning
 * table's choice (fkm_cu_upd_rows, fkm_cu_upd_chunk) */
template <int CT>
static chunk_fn pick_chunks(int r, int u, int64_t p) {
    if (p <= 64) return u <= 4 ? pick_chunks_u<CT, 4, 64>(r) : pick_chunks_u<CT, 8, 64>(r);
    return u <= 4 ? pick_chunks_u<CT, 4, FKM_CU_UPD_P>(r) : pick_chunks_u<CT, 8, FKM_CU_UPD_P>(r);
}

#define MARK(g)                                                                        \
    do {                                                                               \
        if (e->prof >= 2 && slot >= 0) CU_RET(fkm_cu_record(e, e->sev[slot][g])); \
    } while (0)

static fkm_status run_update(fkm_cu_engine *e, int slot) {
    const int64_t items = e->b * e->n;
    size_t bytes = e->cub_bytes;
    if (e->csort) {
        fkm_status st = fkm_cu_csort(e);
        if (st != FKM_OK) return st;
    } else {
        CU_RET(cub::DeviceRadixSort::SortPairs(e->cub_tmp, bytes, e->keys, e->keys_sorted, e->iota, e->perm, (int)items,
                                               0, e->keybits, e->stream));
    }
    MARK(4);
    chunk_args a = {(const char *)e->x, e->dp, e->d, e->k, items, e->nchunks, e->upd_p, e->w, e->keys_sorted, e->perm,
                    e->cnew, e->part, e->partw, e->seg_start, e->upd};
    /* Lanes take 4 features each; R groups of 128 per pass, more features -> more slices. */
    const int r = e->dp <= 128 ? 1 : e->dp <= 256 ? 2 : e->dp <= 512 ? 4 : 8;
    const int64_t slices = (e->dp + r * UPD_SLICE - 1) / (r * UPD_SLICE);
    const chunk_fn f = e->ctype == FKM_CT_F32 ? pick_chunks<FKM_CT_F32>(r, e->upd_u, e->upd_p)
                       : e->ctype == FKM_CT_F16 ? pick_chunks<FKM_CT_F16>(r, e->upd_u, e->upd_p)
                                                : pick_chunks<FKM_CT_BF16>(r, e->upd_u, e->upd_p);
    f<<<dim3((unsigned)((e->nchunks + 7) / 8), (unsigned)slices), 256, 0, e->stream>>>(a);
    CU_LAUNCHED("update chunk kernel");
    MARK(5);
    if (!e->fused) { /* the path validated on a GPU: finalize, post, compute-type copy */
        const unsigned kblocks = (unsigned)((e->b * e->k + 7) / 8);
        k_finalize<<<dim3(kblocks, (unsigned)slices), 256, 0, e->stream>>>(a, e->b, e->counts, e->done,
                                                                           (int)(r * UPD_SLICE));
        CU_LAUNCHED("update finalize kernel");
        k_post<<<kblocks, 256, 0, e->stream>>>(e->b, e->k, e->d, e->cnew, e->c32, e->upd, e->done,
                                                e->metric == FKM_METRIC_COSINE, e->cur);
        CU_LAUNCHED("update post kernel");
        return fkm_cu_prep_centroids(e);
    }
    cent_args c = {e->b, e->k, e->d, e->dp, e->kp, e->dcp, e->upd_p, e->part, e->partw, e->seg_start, e->counts, e->done,
                   e->upd, e->cnew, e->c32, e->cterm, e->cc, e->metric == FKM_METRIC_COSINE, e->ctype,
                   e->prec == FKM_PREC_TF32, e->metric == FKM_METRIC_L2, e->cc_tiled, e->cur};
    k_centroids<<<(unsigned)((e->b * e->k + 7) / 8), 256, 0, e->stream>>>(c);
    CU_LAUNCHED("centroid kernel");
    return FKM_OK;
}

fkm_status fkm_cu_iteration(fkm_cu_engine *e, int update, fkm_empty_policy pol, const fkm_cu_stop *stop, int slot) {
    const unsigned pb = (unsigned)((e->b + 255) / 256);
    MARK(0);
    k_begin<<<pb, 256, 0, e->stream>>>(e->b, e->done, e->cur);
    CU_LAUNCHED("iteration setup kernel");
    CU_RET(cudaMemsetAsync(e->counts, 0, (size_t)(e->b * e->k) * sizeof(int32_t), e->stream));
    MARK(1);
    if (e->prof) CU_RET(fkm_cu_record(e, e->pev[2 * slot]));
    fkm_status st = fkm_cu_assign(e, 2);
    if (st != FKM_OK) return st;
    if (e->prof) CU_RET(fkm_cu_record(e, e->pev[2 * slot + 1]));
    MARK(2);
    policy_args pa = {e->n, e->k, e->tiles, e->tile_parts, e->tile_inertia, e->counts, e->labels, e->keys, e->best, e->done, e->cur,
                      update, pol == FKM_EMPTY_FARTHEST, e->w, e->seg_start};
    k_policy<<<(unsigned)e->b, 1024, 0, e->stream>>>(pa);
    CU_LAUNCHED("empty-cluster kernel");
    MARK(3);
    if (update && (st = run_update(e, slot)) != FKM_OK) return st;
    if (!update) { MARK(4); MARK(5); }
    MARK(6);
    k_stop<<<pb, 256, 0, e->stream>>>(e->b, *stop, e->var, e->done, e->iters, e->prev_inertia, e->cur,
                                      e->slots + (int64_t)slot * e->b);
    CU_LAUNCHED("stop-rule kernel");
    MARK(7);
    return FKM_OK;
}

/* Inertia of the last assignment (no update): tile partials in a fixed order. */
fkm_status fkm_cu_inertia(fkm_cu_engine *e) {
    CU_RET(cudaMemsetAsync(e->cur, 0, (size_t)e->b * sizeof(fkm_cu_stats), e->stream)); /* read back whole */
    policy_args pa = {e->n, e->k, e->tiles, e->tile_parts, e->tile_inertia, e->counts, e->labels, e->keys, e->best, NULL, e->cur,
                      0, 0};
    k_policy<<<(unsigned)e->b, 1024, 0, e->stream>>>(pa);
    CU_LAUNCHED("inertia kernel");
    return FKM_OK;
}

__global__ void k_reset(int64_t b, int32_t *done, int32_t *iters, double *prev_inertia) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= b) return;
    done[p] = 0;
    iters[p] = 0;
    prev_inertia[p] = 0.0;
}

fkm_status fkm_cu_reset_loop(fkm_cu_engine *e, int reset_prev) {
    k_reset<<<(unsigned)((e->b + 255) / 256), 256, 0, e->stream>>>(e->b, e->done, e->iters, e->prev_inertia);
    CU_LAUNCHED("loop reset kernel");
    if (reset_prev) CU_RET(cudaMemsetAsync(e->prev, 0xff, (size_t)(e->b * e->n) * sizeof(int32_t), e->stream));
    return FKM_OK;
}
