/* tiny.cu -- many small problems (issue 21: weight codebooks, routing): the whole Lloyd loop of
 * one problem in one block, every iteration in one launch.
 *
 * The general loop (update.cu) runs a dozen kernels per iteration over all b problems at once; for
 * B = 1024 problems of 4096 x 8 with K = 16 that costs 0.9 ms per iteration on an H100, where the
 * data (64 MB) could be read in 0.02 ms. Here block p owns problem p for the whole fit: assign,
 * statistics, empty clusters, the inverse map, the sums and the stop rule happen between block
 * barriers, with the centroids in shared memory.
 *
 * Same arithmetic as the general loop on one problem, step by step, so precision `exact` gives
 * the same bits (labels, centroids, inertia, iterations; tests/test_cuda_tiny.c compares them):
 *   assign    the SIMT kernel's score: x.c as an fp32 FMA chain in feature order (its zero
 *             padding adds nothing), score = fma(-alpha, x.c, cterm), strict < in index order
 *   inertia   per-row (double)dist * w, a xor tree per 32 rows, 64-row tiles, then k_policy's
 *             1024-thread tree over the tiles (reproduced with 256 threads)
 *   empty     k_policy's FKM_EMPTY_FARTHEST rule (largest distance, lowest index)
 *   sums      the sorted order (label, then index), cut into chunks of P positions from the
 *             problem's start, P that of a fit of the problem alone: fp32 FMAs in order inside a
 *             chunk, chunk partials in float64 in chunk order (k_chunks + k_finalize), shift and
 *             master copy as k_post
 * so problem p of a batch gets what a fit of problem p alone gets from the general loop (whose
 * own batches cut chunks across the whole batch: the same only where n is a multiple of P).
 * For fp16/bf16 compute the centroids are rounded as the tensor cores see them and the products
 * are exact in fp32, but the sum order is the FMA chain's, not the tensor core's: labels within
 * that precision's contract, not the same bits as the tensor-core loop. */
#include <stdlib.h>
#include <string.h>

#include "../cu_device.cuh"
#include "../../stop.h"

#define TINY_T 256          /* threads per block */
#define TINY_W (TINY_T / 32)
#define TINY_BM 64          /* rows per inertia tile: the SIMT kernel's */
#define TINY_VT 1024        /* threads of k_policy, whose sum tree is reproduced */
#define TINY_MAX_D 32
#define TINY_MAX_K 256
#define TINY_MAX_N 65536

struct tiny_args {
    const char *x;          /* compute-type rows, pitch dp elements */
    int64_t n, d, dp, k, kp, dcp, P;
    const float *w, *xterm;
    void *cc;
    float *cterm, *c32, *cnew, *best, *part;
    double *partw;
    int32_t *labels, *prev, *perm;
    const double *var;
    double *prev_inertia;
    int32_t *iters, *done;
    fkm_cu_stats *cur;
    fkm_cu_stop stop;
    float alpha;
    int clamp, l2, cosine, farthest, tiled;
};

/* Shared memory of one block, carved from the dynamic buffer. */
struct tiny_smem {
    float *cs, *ct;          /* k x DM centroids as the assignment sees them; their cterm */
    int *cnt, *pre, *wcnt, *upd;
    int *pp;                 /* k + 1: pieces (cluster x chunk) before cluster c, for the sums */
    double *wsum;            /* one xor-tree sum per 32 rows */
    double *sh;              /* 32 */
    float *shv;              /* TINY_W */
    int *shi;                /* TINY_W */
    unsigned long long *shift2;
    int *misc;               /* 0: changed, 1: empty, 2: done, 3: stop the farthest moves */
};

__host__ __device__ static inline size_t tiny_smem_bytes(int64_t n, int64_t k, int dm) {
    const size_t rows32 = (size_t)((n + TINY_T - 1) / TINY_T) * TINY_W;
    return rows32 * 8 + 32 * 8 + 16 + (size_t)k * dm * 4 + (size_t)k * 4 + (size_t)k * 4 * (3 + TINY_W) +
           (size_t)(k + 1) * 4 + TINY_W * 8 + 16 + 64;
}

__device__ static tiny_smem tiny_carve(char *base, int64_t n, int64_t k, int dm) {
    tiny_smem s;
    const size_t rows32 = (size_t)((n + TINY_T - 1) / TINY_T) * TINY_W;
    s.wsum = (double *)base; base += rows32 * 8;
    s.sh = (double *)base; base += 32 * 8;
    s.shift2 = (unsigned long long *)base; base += 16; /* cs stays 16-byte aligned */
    s.cs = (float *)base; base += (size_t)k * dm * 4;
    s.ct = (float *)base; base += (size_t)k * 4;
    s.cnt = (int *)base; base += (size_t)k * 4;
    s.pre = (int *)base; base += (size_t)k * 4;
    s.upd = (int *)base; base += (size_t)k * 4;
    s.wcnt = (int *)base; base += (size_t)k * 4 * TINY_W;
    s.pp = (int *)base; base += (size_t)(k + 1) * 4;
    s.shv = (float *)base; base += TINY_W * 4;
    s.shi = (int *)base; base += TINY_W * 4;
    s.misc = (int *)base;
    return s;
}

/* Assignment of every row: labels, distances, previous labels, counts, changed, the per-32-row
 * inertia sums; then the problem's inertia in k_policy's order. Returns the inertia (all threads). */
template <int CT, int DM>
__device__ double tiny_assign(const tiny_args &a, const tiny_smem &s, int64_t p) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int64_t es = CT == FKM_CT_F32 ? 4 : 2;
    for (int64_t base = 0; base < a.n; base += TINY_T) {
        const int64_t i = base + tid;
        const bool valid = i < a.n;
        double contrib = 0.0;
        int changed = 0;
        if (valid) {
            const int64_t g = p * a.n + i;
            const char *row = a.x + g * a.dp * es;
            float xr[DM];
#pragma unroll
            for (int j = 0; j < DM; j++) xr[j] = j < a.d ? load_as_float(row, fkm_ct_dtype(CT), j) : 0.0f;
            float bv = __int_as_float(0x7f800000);
            int bi = 0;
            for (int c = 0; c < (int)a.k; c++) {
                const float4 *cr = reinterpret_cast<const float4 *>(s.cs + c * DM); /* a broadcast read */
                float acc = 0.0f;
#pragma unroll
                for (int j = 0; j < DM; j += 4) {
                    const float4 cv = cr[j / 4];
                    acc = fmaf(xr[j], cv.x, acc);
                    acc = fmaf(xr[j + 1], cv.y, acc);
                    acc = fmaf(xr[j + 2], cv.z, acc);
                    acc = fmaf(xr[j + 3], cv.w, acc);
                }
                const float v = fmaf(-a.alpha, acc, s.ct[c]);
                if (v < bv) { bv = v; bi = c; }
            }
            float dist = a.xterm[g] + bv;
            if (a.clamp && dist < 0.0f) dist = 0.0f;
            a.labels[g] = bi;
            a.best[g] = dist;
            changed = a.prev[g] != bi;
            a.prev[g] = bi;
            atomicAdd(&s.cnt[bi], 1);
            if (a.w && a.w[g] > 0) atomicAdd(&s.pre[bi], 1); /* weighted points: see tiny_empties */
            contrib = (double)dist * (double)(a.w ? a.w[g] : 1.0f);
        }
        contrib = warp_sum(contrib);
        const int nch = __popc(__ballot_sync(0xffffffffu, changed));
        if (lane == 0) {
            s.wsum[(base >> 5) + warp] = contrib;
            if (nch) atomicAdd(&s.misc[0], nch);
        }
    }
    __syncthreads();
    /* k_policy: virtual thread v of 1024 sums tiles v, v + 1024, ... (a tile: 0.0 + its two
     * 32-row sums), a xor tree per virtual warp, then one over the 32 warp sums. */
    const int64_t tiles = (a.n + TINY_BM - 1) / TINY_BM;
    for (int vw = warp; vw < TINY_VT / 32; vw += TINY_W) {
        double v = 0.0;
        for (int64_t t = vw * 32 + lane; t < tiles; t += TINY_VT) {
            double tile = 0.0;
            tile += s.wsum[2 * t];
            tile += s.wsum[2 * t + 1];
            v += tile;
        }
        v = warp_sum(v);
        if (lane == 0) s.sh[vw] = v;
    }
    __syncthreads();
    double tot = warp_sum(s.sh[lane]);
    return tot;
}

/* The counts that say which clusters have a mean: with weights, those of the positive-weight
 * points (a cluster of zero-weight points only is empty, as k_policy and the CPU count it), kept
 * in s.pre until tiny_sort makes it the segment starts; else those of all points. */
__device__ static inline int *tiny_empties(const tiny_args &a, const tiny_smem &s) { return a.w ? s.pre : s.cnt; }

/* FKM_EMPTY_FARTHEST, as k_policy: each empty cluster in index order takes the farthest point
 * (lowest index on ties) with weight, of a cluster that keeps another weighted point. */
__device__ void tiny_farthest(const tiny_args &a, const tiny_smem &s, int64_t p) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    int *ec = tiny_empties(a, s);
    for (int c = 0; c < (int)a.k; c++) {
        __syncthreads();
        if (ec[c] != 0 || s.misc[3]) continue;
        float bv = 0.0f;
        int bi = -1;
        for (int64_t i = tid; i < a.n; i += TINY_T) {
            const int64_t g = p * a.n + i;
            if (ec[a.labels[g]] <= 1 || (a.w && !(a.w[g] > 0))) continue;
            const float v = a.best[g];
            if (bi < 0 || v > bv) { bv = v; bi = (int)i; }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi >= 0 && (bi < 0 || ov > bv || (ov == bv && oi < bi))) { bv = ov; bi = oi; }
        }
        if (lane == 0) { s.shv[warp] = bv; s.shi[warp] = bi; }
        __syncthreads();
        if (tid == 0) {
            for (int q = 1; q < TINY_W; q++)
                if (s.shi[q] >= 0 && (s.shi[0] < 0 || s.shv[q] > s.shv[0] || (s.shv[q] == s.shv[0] && s.shi[q] < s.shi[0]))) {
                    s.shv[0] = s.shv[q];
                    s.shi[0] = s.shi[q];
                }
            if (s.shi[0] < 0) {
                s.misc[3] = 1; /* no donor left: the remaining empties keep their centroids */
            } else {
                const int64_t g = p * a.n + s.shi[0];
                s.cnt[a.labels[g]]--;
                if (a.w) s.pre[a.labels[g]]--, s.pre[c] = 1;
                a.labels[g] = c;
                s.cnt[c]++; /* zero-weight points may be there already */
                a.best[g] = 0.0f;
            }
        }
    }
    __syncthreads();
}

/* The inverse map: perm[p*n + pos] = the rows in (label, index) order, pre[c] = where cluster
 * c's segment starts. Warp w takes a contiguous range of rows; a stable counting scatter. */
__device__ void tiny_sort(const tiny_args &a, const tiny_smem &s, int64_t p) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int k = (int)a.k;
    if (tid == 0) {
        int run = 0, pieces = 0;
        for (int c = 0; c < k; c++) {
            s.pre[c] = run;
            s.pp[c] = pieces;
            if (s.cnt[c]) pieces += (int)((run + s.cnt[c] - 1) / a.P - run / a.P + 1);
            run += s.cnt[c];
        }
        s.pp[k] = pieces;
    }
    for (int q = tid; q < k * TINY_W; q += TINY_T) s.wcnt[q] = 0;
    __syncthreads();
    const int64_t per = ((a.n + 31) / 32 + TINY_W - 1) / TINY_W * 32;
    const int64_t r0 = warp * per, r1 = min(a.n, r0 + per);
    const int32_t *lab = a.labels + p * a.n;
    for (int64_t i0 = r0; i0 < r1; i0 += 32) {
        const int64_t i = i0 + lane;
        const bool v = i < r1;
        const unsigned vm = __ballot_sync(0xffffffffu, v);
        if (v) {
            const int l = lab[i];
            const unsigned peers = __match_any_sync(vm, l);
            if (lane == __ffs(peers) - 1) s.wcnt[warp * k + l] += __popc(peers);
        }
        __syncwarp();
    }
    __syncthreads();
    for (int c = tid; c < k; c += TINY_T) {
        int run = s.pre[c];
        for (int w = 0; w < TINY_W; w++) {
            const int t = s.wcnt[w * k + c];
            s.wcnt[w * k + c] = run;
            run += t;
        }
    }
    __syncthreads();
    int32_t *perm = a.perm + p * a.n;
    for (int64_t i0 = r0; i0 < r1; i0 += 32) {
        const int64_t i = i0 + lane;
        const bool v = i < r1;
        const unsigned vm = __ballot_sync(0xffffffffu, v);
        if (v) {
            const int l = lab[i];
            const unsigned peers = __match_any_sync(vm, l);
            const unsigned below = peers & ((1u << lane) - 1u);
            perm[s.wcnt[warp * k + l] + __popc(below)] = (int32_t)i;
            __syncwarp(vm);
            if (lane == __ffs(peers) - 1) s.wcnt[warp * k + l] += __popc(peers);
        }
        __syncwarp();
    }
    __syncthreads();
}

/* The sums of k_chunks, G lanes per piece (a run of one cluster inside one chunk of P sorted
 * positions; G >= d, a power of two): 256 / G pieces at once per block, no lane idle for small d.
 * Each lane walks its piece's positions in order, loading four rows ahead of its FMA chain. (A
 * warp per chunk, lane = feature, was 0.395 against 0.286 ms per iteration at the codebooks row
 * on an H100: bench/results/gpu-2026-12-07-tiny.md.) */
template <int CT, int G>
__device__ void tiny_sums_g(const tiny_args &a, const tiny_smem &s, int64_t p) {
    const int tid = threadIdx.x, gl = tid % G;
    const int64_t es = CT == FKM_CT_F32 ? 4 : 2;
    const int64_t g0 = p * a.n, cpp = (a.n + a.P - 1) / a.P;
    const int32_t *perm = a.perm + g0;
    const int k = (int)a.k, total = s.pp[k];
    for (int pi = tid / G; pi < total; pi += TINY_T / G) {
        int c = 0, hi_c = k; /* the last cluster with pp[c] <= pi: it has a piece there */
        while (hi_c - c > 1) {
            const int mid = (c + hi_c) >> 1;
            if (s.pp[mid] <= pi) c = mid;
            else hi_c = mid;
        }
        const int seg0 = s.pre[c], seg1 = seg0 + s.cnt[c];
        const int64_t lc = seg0 / a.P + (pi - s.pp[c]);
        const int lo = (int)(lc * a.P), hi = (int)min((lc + 1) * a.P, a.n);
        const int rs = max(seg0, lo), re = min(seg1, hi);
        float acc = 0.0f;
        double ws = 0.0;
        for (int q0 = rs; q0 < re; q0 += 4) {
            float xv[4], wv[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                const bool ok = q0 + u < re;
                const int64_t g = g0 + (ok ? perm[q0 + u] : 0);
                wv[u] = ok ? (a.w ? a.w[g] : 1.0f) : 0.0f;
                xv[u] = ok && gl < a.d ? load_as_float(a.x + g * a.dp * es, fkm_ct_dtype(CT), gl) : 0.0f;
            }
#pragma unroll
            for (int u = 0; u < 4; u++)
                if (q0 + u < re) {
                    ws += wv[u];
                    acc = fmaf(wv[u], xv[u], acc);
                }
        }
        if (rs == seg0 && re == seg1) {
            if (ws <= 0.0) continue;
            if (gl < a.d) a.cnew[(p * a.k + c) * a.d + gl] = (float)((double)acc / ws);
            if (gl == 0) s.upd[c] = 1;
        } else {
            const int64_t slot = (p * cpp + lc) * 2 + (rs == lo ? 0 : 1);
            if (gl < a.d) a.part[slot * a.dp + gl] = acc;
            if (gl == 0) a.partw[slot] = ws;
        }
    }
    __syncthreads();
}

/* k_finalize + k_post + the centroid copy: one warp per cluster. Returns nothing; the squared
 * shift joins s.shift2. */
template <int CT>
__device__ void tiny_centroids(const tiny_args &a, const tiny_smem &s, int64_t p) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    for (int c = warp; c < (int)a.k; c += TINY_W) {
        const int64_t key = p * a.k + c, cnt = s.cnt[c];
        if (cnt == 0) continue;
        float *src = a.cnew + key * a.d;
        const int64_t sg = s.pre[c], c0 = sg / a.P, c1 = (sg + cnt - 1) / a.P, pc = p * ((a.n + a.P - 1) / a.P);
        int u = s.upd[c];
        if (c0 != c1) {
            const int64_t first = (pc + c0) * 2 + (sg != c0 * a.P);
            double ws = 0.0;
            for (int64_t q = c0; q <= c1; q++) ws += a.partw[q == c0 ? first : (pc + q) * 2];
            if (ws > 0.0) {
                for (int64_t j = lane; j < a.d; j += 32) {
                    double acc = a.part[first * a.dp + j];
                    for (int64_t q = c0 + 1; q <= c1; q++) acc += a.part[(pc + q) * 2 * a.dp + j];
                    src[j] = (float)(acc / ws);
                }
                u = 1;
            }
        }
        __syncwarp();
        if (lane == 0) s.upd[c] = 0;
        if (!u) continue;
        float *dst = a.c32 + key * a.d;
        const double m = fkm_post_row(src, dst, a.d, a.cosine);
        if (m < 0.0) continue; /* cosine: a zero sum keeps the previous direction */
        if (lane == 0) atomicMax(s.shift2, (unsigned long long)__double_as_longlong(m));
        __syncwarp();
        fkm_cc_row(dst, p, c, a.d, a.kp, a.cc, a.dcp, CT, 0, a.l2, a.tiled, a.cterm);
    }
    __syncthreads();
}

template <int CT, int DM>
__global__ void __launch_bounds__(TINY_T) k_tiny(const tiny_args a) {
    extern __shared__ __align__(16) char tiny_buf[];
    const tiny_smem s = tiny_carve(tiny_buf, a.n, a.k, DM);
    const int64_t p = blockIdx.x;
    const int tid = threadIdx.x;
    if (a.done[p]) return;
    for (;;) {
        /* the centroids as the assignment sees them (rounded as fkm_cc_row rounds them) */
        for (int64_t q = tid; q < a.k * DM; q += TINY_T) {
            const int64_t c = q / DM, j = q - c * DM;
            s.cs[q] = j < a.d ? round_ct(a.c32[(p * a.k + c) * a.d + j], CT, 0) : 0.0f;
        }
        for (int64_t c = tid; c < a.k; c += TINY_T) {
            s.ct[c] = a.cterm[p * a.kp + c];
            s.cnt[c] = 0;
            s.pre[c] = 0;
            s.upd[c] = 0;
        }
        if (tid == 0) {
            s.misc[0] = 0;
            s.misc[3] = 0;
            *s.shift2 = 0;
        }
        __syncthreads();
        const double inertia = tiny_assign<CT, DM>(a, s, p);
        if (tid == 0) {
            int e = 0;
            const int *ec = tiny_empties(a, s);
            for (int c = 0; c < (int)a.k; c++) e += ec[c] == 0;
            s.misc[1] = e;
        }
        __syncthreads();
        if (a.farthest && s.misc[1] > 0) tiny_farthest(a, s, p);
        tiny_sort(a, s, p);
        tiny_sums_g<CT, DM>(a, s, p);
        tiny_centroids<CT>(a, s, p);
        if (tid == 0) { /* k_stop */
            fkm_cu_stats st = {};
            st.inertia = inertia;
            st.shift2 = *s.shift2;
            st.changed = (unsigned long long)s.misc[0];
            st.empty = s.misc[1];
            const int it = a.iters[p];
            const double shift = sqrt(__longlong_as_double((long long)st.shift2));
            const int conv = fkm_stop_rule_met(a.stop.rule, a.stop.tol, it, shift, inertia, (long long)st.changed,
                                               a.prev_inertia[p], a.stop.rule == FKM_STOP_SHIFT ? a.var[p] : 0.0);
            st.ran = 1;
            st.converged = conv;
            a.cur[p] = st;
            a.prev_inertia[p] = inertia;
            a.iters[p] = it + 1;
            const int fin = conv || it + 1 >= a.stop.max_iter;
            if (fin) a.done[p] = 1;
            s.misc[2] = fin;
        }
        __syncthreads();
        if (s.misc[2]) break;
    }
}

typedef void (*tiny_fn)(const tiny_args);
template <int CT>
static tiny_fn tiny_pick_d(int dm) {
    return dm <= 4 ? k_tiny<CT, 4> : dm <= 8 ? k_tiny<CT, 8> : dm <= 16 ? k_tiny<CT, 16> : k_tiny<CT, 32>;
}
static int tiny_dm(int64_t d) { return d <= 4 ? 4 : d <= 8 ? 8 : d <= 16 ? 16 : 32; }

/* Whether the plan takes this path: shapes it handles, and where it beats the general loop.
 * FKM_CU_TINY=0 never, =1 whenever the shape allows (tests). The default asks for at least one
 * problem per SM and at most 2^20 multiply-adds per problem and iteration: one block does a
 * problem's whole assignment, and beyond that the tensor-core loop over all problems wins. Measured
 * on an H100 (bench/results/gpu-2026-12-07-tiny.md), ms per iteration, tiny / general loop:
 * 1024 x (4096, 16, 8) fp16 0.286 / 0.860, fp32 0.750 / 1.894, 10000 x (256, 16, 4) fp16
 * 0.535 / 1.768; but 1024 x (4096, 256, 8) fp16 (2^23) 1.614 / 1.431 and 256 x (65536, 16, 8) bf16
 * (2^23) 3.413 / 2.539. */
int fkm_cu_tiny_pick(const fkm_cu_engine *e) {
    if (e->prec == FKM_PREC_TF32 || e->d > TINY_MAX_D || e->k > TINY_MAX_K || e->n > TINY_MAX_N) return 0;
    if (tiny_smem_bytes(e->n, e->k, tiny_dm(e->d)) > 48 * 1024) return 0;
    if (e->sw.tiny >= 0) return e->sw.tiny; /* FKM_CU_TINY */
    return e->b >= e->sm_count && e->n * e->k * e->d <= ((int64_t)1 << 20);
}

fkm_status fkm_cu_run_tiny(fkm_cu_engine *e, int max_iter, fkm_empty_policy pol, int rule, double tol, int *ran,
                           double *ms) {
    if (ran) memset(ran, 0, sizeof(int) * (size_t)e->b);
    if (ms) *ms = 0;
    fkm_status st = fkm_cu_reset_loop(e, 0);
    if (st != FKM_OK || max_iter <= 0) return st;
    tiny_args a;
    memset(&a, 0, sizeof a);
    a.x = (const char *)e->x;
    a.n = e->n; a.d = e->d; a.dp = e->dp; a.k = e->k; a.kp = e->kp; a.dcp = e->dcp; a.P = e->tiny_p;
    a.w = e->w; a.xterm = e->xterm; a.cc = e->cc; a.cterm = e->cterm; a.c32 = e->c32; a.cnew = e->cnew;
    a.best = e->best; a.part = e->part; a.partw = e->partw; a.labels = e->labels; a.prev = e->prev; a.perm = e->perm;
    a.var = e->var; a.prev_inertia = e->prev_inertia; a.iters = e->iters; a.done = e->done; a.cur = e->cur;
    a.stop.rule = rule; a.stop.tol = tol; a.stop.max_iter = max_iter;
    a.alpha = e->metric == FKM_METRIC_L2 ? 2.0f : 1.0f;
    a.clamp = e->metric == FKM_METRIC_L2; /* as fkm_cu_assign */
    a.l2 = e->metric == FKM_METRIC_L2;
    a.cosine = e->metric == FKM_METRIC_COSINE;
    a.farthest = pol == FKM_EMPTY_FARTHEST;
    a.tiled = e->cc_tiled;
    const int dm = tiny_dm(e->d);
    const size_t smem = tiny_smem_bytes(e->n, e->k, dm);
    const tiny_fn f = e->ctype == FKM_CT_F32 ? tiny_pick_d<FKM_CT_F32>(dm)
                      : e->ctype == FKM_CT_F16 ? tiny_pick_d<FKM_CT_F16>(dm)
                                               : tiny_pick_d<FKM_CT_BF16>(dm);
    CU_RET(fkm_cu_record(e, e->ev[0]));
    f<<<(unsigned)e->b, TINY_T, smem, e->stream>>>(a);
    CU_LAUNCHED("tiny-problem Lloyd kernel");
    CU_RET(fkm_cu_record(e, e->ev[1]));
    int32_t *it = (int32_t *)malloc(sizeof(int32_t) * (size_t)e->b);
    if (!it) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    cudaError_t ce = cudaMemcpyAsync(it, e->iters, sizeof(int32_t) * (size_t)e->b, cudaMemcpyDeviceToHost, e->stream);
    if (ce == cudaSuccess) ce = cudaStreamSynchronize(e->stream);
    if (ce != cudaSuccess) {
        free(it);
        return fkm_cu_fail(ce, __FILE__, __LINE__, "the tiny-problem iterations");
    }
    for (int64_t p = 0; ran && p < e->b; p++) ran[p] = it[p];
    free(it);
    float t = 0.0f;
    if (ms && cudaEventElapsedTime(&t, e->ev[0], e->ev[1]) == cudaSuccess) *ms = t;
    (void)cudaGetLastError();
    e->rescored = 0;
    /* the compute copies of the final centroids for the output assignment (the certified
     * kernels' image as well) */
    return fkm_cu_prep_centroids(e);
}
