/* kmeanspp.cu -- greedy k-means++ on the GPU, for every problem of a batch at once.
 *
 * The same algorithm as the core's host version (src/core/init.c): the first centre drawn with
 * probability proportional to the weight; then, per centre, `trials` = 2 + ln k candidates drawn
 * with probability proportional to w * D^2 (D: distance to the nearest centre chosen so far), and
 * the candidate that leaves the smallest potential kept. The uniforms come from the same host
 * generator (seed + problem, stream 1), but sums and distances are taken in a different (fixed,
 * parallel) order, so the chosen rows may differ from the host's in rare near-ties: the result is
 * deterministic for a seed on a given GPU, not bitwise equal to the CPU engine's (docs/cuda.md).
 *
 * Per centre, three launches and no host round trip:
 *   sample: one warp per (problem, trial) walks the per-block sums, then the block, in fixed order;
 *   cand:   a thread per point, D^2 to every trial row (staged in shared memory) in feature
 *           order; cand[t][i] = min(closest_i, D^2); per-block weighted sums per trial (a
 *           fixed tree, float64);
 *   pick:   per problem the trial with the smallest potential (ties: the lower trial). Its cand
 *           row becomes "closest" for the next centre (read before being overwritten).
 * Temporary GPU memory: trials * b * n floats + small arrays, allocated here (not in the Lloyd
 * loop) and freed before returning. */
#include <math.h>
#include <stdlib.h>

#include "../cu_device.cuh"
#include "../cu_memory.cuh"
#include "draw.cuh"

#define PP_PB 1024   /* points per block at most: the unit of the per-block sums */
#define PP_TMAX 16   /* trials at most: 2 + ln k stays under 16 for k < 2^31 */
#define PP_CH 256    /* features of the trial rows staged in shared memory at a time */

struct pp_args {
    const void *x;
    int ct;
    int64_t b, n, dp, d, k, nblk, pb; /* pb: points per block */
    const float *w;       /* b * n or NULL */
    float *cand;          /* [trials][b][n] */
    double *bsum;         /* [trials][b][nblk] */
    const double *u;      /* [b][1 + (k - 1) * trials] uniforms */
    int64_t *ids;         /* [b][trials] drawn rows */
    int *best;            /* [b] trial kept at the previous centre (-1: none yet) */
    int64_t *rows;        /* [b][k] chosen rows (the engine's rowsidx) */
    int trials;
};

/* The sampling weight of point i of problem p before centre ci: w (first centre) or w * closest. */
__device__ __forceinline__ double pp_val(const pp_args &a, int64_t p, int64_t i, int first) {
    const double w = a.w ? (double)a.w[p * a.n + i] : 1.0;
    if (first) return w;
    return w * (double)a.cand[((int64_t)a.best[p] * a.b + p) * a.n + i];
}

/* grid (b), block 32 * trials: warp t draws trial t of problem blockIdx.x for centre ci. */
__global__ void k_pp_sample(const pp_args a, int64_t ci) {
    const int64_t p = blockIdx.x;
    const int t = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int nt = ci == 0 ? 1 : a.trials;
    if (t >= nt) return;
    const int first = ci == 0;
    const double *bs = a.bsum + ((int64_t)(first ? 0 : a.best[p]) * a.b + p) * a.nblk;
    double pot = 0.0;
    for (int64_t j = lane; j < a.nblk; j += 32) pot += bs[j]; /* fixed order: lane-strided, then a tree */
    pot = warp_sum(pot);
    const double u = a.u[p * (1 + (a.k - 1) * a.trials) + (ci == 0 ? 0 : 1 + (ci - 1) * a.trials + t)];
    int64_t pick;
    if (!(pot > 0.0)) /* every point sits on a chosen centre: any point is as good as another */
        pick = (int64_t)(u * (double)a.n);
    else
        pick = fkm_warp_draw(bs, a.nblk, a.pb, a.n, u * pot, [&](int64_t i) { return pp_val(a, p, i, first); });
    if (lane == 0) a.ids[p * PP_TMAX + t] = min(max(pick, (int64_t)0), a.n - 1);
}

/* The trial rows' features [c0, c0 + PP_CH) as float into trow[feature][trial] (the whole block). */
template <int T>
__device__ __forceinline__ void pp_stage(const pp_args &a, int64_t p, int nt, int64_t c0, float (*trow)[PP_TMAX]) {
    const int64_t ch = min((int64_t)PP_CH, a.d - c0);
    for (int64_t q = threadIdx.x; q < nt * ch; q += blockDim.x) {
        const int t = (int)(q / ch);
        const int64_t jj = q - t * ch;
        trow[jj][t] = load_as_float(a.x, T, (p * a.n + a.ids[p * PP_TMAX + t]) * a.dp + c0 + jj);
    }
}

/* The two 16-bit values of w (fp16 or bf16, the lower one first) as floats. */
template <int T>
__device__ __forceinline__ void pp_unpack2(uint32_t w, float &lo, float &hi) {
    if (T == FKM_F16) {
        lo = __half2float(__ushort_as_half((unsigned short)(w & 0xffffu)));
        hi = __half2float(__ushort_as_half((unsigned short)(w >> 16)));
    } else { /* bf16: the upper half of a float32 */
        lo = __uint_as_float(w << 16);
        hi = __uint_as_float(w & 0xffff0000u);
    }
}

/* acc[t] += (x_j - trial_t,j)^2 over the features [c0, c0 + PP_CH) of row `row`, in feature
 * order; the row is read 16 bytes at a time (rows are padded to whole 16-byte vectors). */
template <int T>
__device__ __forceinline__ void pp_accumulate(const pp_args &a, int64_t row, int nt, int64_t c0,
                                              const float (*trow)[PP_TMAX], float (&acc)[PP_TMAX]) {
    constexpr int V = T == FKM_F32 ? 4 : 8; /* values per 16-byte vector */
    const int64_t ch = min((int64_t)PP_CH, a.d - c0);
    const uint4 *src = reinterpret_cast<const uint4 *>((const char *)a.x + (row * a.dp + c0) * (T == FKM_F32 ? 4 : 2));
    for (int64_t v0 = 0; v0 < ch; v0 += V) {
        const uint4 raw = src[v0 / V];
        float xv[V];
        if (T == FKM_F32) {
            xv[0] = __uint_as_float(raw.x); xv[1] = __uint_as_float(raw.y);
            xv[2] = __uint_as_float(raw.z); xv[3] = __uint_as_float(raw.w);
        } else {
            pp_unpack2<T>(raw.x, xv[0], xv[1]); pp_unpack2<T>(raw.y, xv[2], xv[3]);
            pp_unpack2<T>(raw.z, xv[4], xv[5]); pp_unpack2<T>(raw.w, xv[6], xv[7]);
        }
#pragma unroll
        for (int u = 0; u < V; u++) {
            if (v0 + u < ch) { /* else past d: the row's zero padding */
#pragma unroll
                for (int q = 0; q < PP_TMAX / 4; q++) {
                    if (4 * q < nt) {
                        const float4 tv = *reinterpret_cast<const float4 *>(&trow[v0 + u][4 * q]);
                        const float tq[4] = {tv.x, tv.y, tv.z, tv.w};
#pragma unroll
                        for (int r = 0; r < 4; r++) {
                            const float df = xv[u] - tq[r];
                            acc[4 * q + r] = fmaf(df, df, acc[4 * q + r]);
                        }
                    }
                }
            }
        }
    }
}

/* grid (nblk, problems p0 ..), 256 threads: a thread per point (the block's pb points in slots of
 * 256), the trial rows staged in shared memory PP_CH features at a time, distances summed in
 * feature order; cand[t][i] = min(closest_i, D^2); per-block weighted sums per trial in a fixed
 * tree. Trials t >= nt compute on stale rows and are never stored. */
template <int T>
__global__ void __launch_bounds__(256, 2) k_pp_cand(const pp_args a, int nt, int first, int64_t p0) {
    __shared__ __align__(16) float trow[PP_CH][PP_TMAX];
    __shared__ double red[256];
    const int64_t p = p0 + blockIdx.y, blk = blockIdx.x;
    const int64_t i0 = blk * a.pb, i1 = min(i0 + a.pb, a.n);
    const int prevb = first ? 0 : a.best[p];
    double wsum[PP_TMAX]; /* this thread's weighted sums per trial, in point order */
#pragma unroll
    for (int t = 0; t < PP_TMAX; t++) wsum[t] = 0.0;
    for (int64_t s0 = i0; s0 < i1; s0 += 256) {
        const int64_t i = s0 + threadIdx.x;
        const bool have = i < i1;
        float acc[PP_TMAX];
#pragma unroll
        for (int t = 0; t < PP_TMAX; t++) acc[t] = 0.0f;
        for (int64_t c0 = 0; c0 < a.d; c0 += PP_CH) {
            __syncthreads(); /* the previous chunk is read */
            pp_stage<T>(a, p, nt, c0, trow);
            __syncthreads();
            if (have) pp_accumulate<T>(a, p * a.n + i, nt, c0, trow, acc);
        }
        if (!have) continue;
        float *cand = a.cand + p * a.n + i; /* trial t at cand[t * b * n] */
        const float closest = first ? __int_as_float(0x7f800000) : cand[(int64_t)prevb * a.b * a.n];
        const double w = a.w ? (double)a.w[p * a.n + i] : 1.0;
#pragma unroll
        for (int t = 0; t < PP_TMAX; t++)
            if (t < nt) {
                const float c = fminf(acc[t], closest);
                cand[(int64_t)t * a.b * a.n] = c; /* prevb's value was read above */
                wsum[t] += w * (double)c;
            }
    }
#pragma unroll
    for (int t = 0; t < PP_TMAX; t++)
        if (t < nt) {
            const double s = fkm_block_sum256(wsum[t], red);
            if (threadIdx.x == 0) a.bsum[((int64_t)t * a.b + p) * a.nblk + blk] = s;
        }
}

/* grid (nblk, problems p0 ..), 256 threads: per-block sums of the weights (the first centre's draw), slot 0. */
__global__ void k_pp_wsum(const pp_args a, int64_t p0) {
    const int64_t p = p0 + blockIdx.y, blk = blockIdx.x;
    const int64_t i0 = blk * a.pb, i1 = min(i0 + a.pb, a.n);
    __shared__ double red[256];
    double s = 0.0;
    for (int64_t i = i0 + threadIdx.x; i < i1; i += 256) s += a.w ? (double)a.w[p * a.n + i] : 1.0;
    s = fkm_block_sum256(s, red);
    if (threadIdx.x == 0) a.bsum[p * a.nblk + blk] = s;
}

/* grid (b), 32 * nt threads: warp t sums trial t's potential (lane-strided, then a fixed tree),
 * then the trial with the smallest is kept (ties: the lower trial) and its row recorded. */
__global__ void k_pp_pick(const pp_args a, int64_t ci, int nt) {
    const int64_t p = blockIdx.x;
    const int t = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __shared__ double pot[PP_TMAX];
    const double *bs = a.bsum + ((int64_t)t * a.b + p) * a.nblk;
    double s = 0.0;
    for (int64_t j = lane; j < a.nblk; j += 32) s += bs[j];
    s = warp_sum(s);
    if (lane == 0) pot[t] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        int bt = 0;
        double bpot = INFINITY;
        for (int q = 0; q < nt; q++)
            if (pot[q] < bpot) { bpot = pot[q]; bt = q; }
        a.best[p] = bt;
        a.rows[p * a.k + ci] = a.ids[p * PP_TMAX + bt];
    }
}

static fkm_status pp_fail(fkm_status st, void *const *bufs, int nb) {
    for (int i = 0; i < nb; i++) (void)cudaFree(bufs[i]);
    return st;
}

static int pp_trials(int64_t k) {
    const int t = 2 + (int)log((double)k);
    return t > PP_TMAX ? PP_TMAX : t;
}

/* Points per block: 1024, or fewer (down to 256, a thread each) so that k-means||'s tens of
 * thousands of candidates still spread over a hundred blocks or more. */
static int64_t pp_block(int64_t n) {
    int64_t pb = 256;
    while (pb < PP_PB && pb * 1024 < n) pb *= 2;
    return pb;
}

/* The temporary GPU memory fkm_cu_pp_rows allocates (the estimates in memory.cu use it). */
size_t fkm_cu_pp_bytes(int64_t b, int64_t n, int64_t k) {
    const int64_t trials = pp_trials(k), nblk = (n + pp_block(n) - 1) / pp_block(n), nu = 1 + (k - 1) * trials;
    return (size_t)(trials * b * n) * sizeof(float) + (size_t)(trials * b * nblk) * sizeof(double) +
           (size_t)(b * nu) * sizeof(double) + (size_t)(b * PP_TMAX) * sizeof(int64_t) + (size_t)b * sizeof(int);
}

fkm_status fkm_cu_pp_rows(const fkm_cu_rows *in, int64_t k, uint64_t seed, int64_t *rows, cudaStream_t stream) {
    const int64_t b = in->b, n = in->n, pb = pp_block(n), nblk = (n + pb - 1) / pb;
    const int trials = pp_trials(k);
    const int64_t nu = 1 + (k - 1) * trials;
    double *hu = (double *)malloc((size_t)(b * nu) * sizeof(double));
    if (!hu) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for k-means++ random numbers");
    for (int64_t p = 0; p < b; p++) { /* the host generator, as src/core/init.c draws it */
        fkm_rng rng;
        fkm_rng_init(&rng, seed + (uint64_t)p, 1);
        for (int64_t i = 0; i < nu; i++) hu[p * nu + i] = fkm_rng_uniform(&rng);
    }
    void *bufs[5] = {NULL, NULL, NULL, NULL, NULL};
    cudaError_t ce = cudaMalloc(&bufs[0], (size_t)(trials * b * n) * sizeof(float));
    if (ce == cudaSuccess) ce = cudaMalloc(&bufs[1], (size_t)(trials * b * nblk) * sizeof(double));
    if (ce == cudaSuccess) ce = cudaMalloc(&bufs[2], (size_t)(b * nu) * sizeof(double));
    if (ce == cudaSuccess) ce = cudaMalloc(&bufs[3], (size_t)(b * PP_TMAX) * sizeof(int64_t));
    if (ce == cudaSuccess) ce = cudaMalloc(&bufs[4], (size_t)b * sizeof(int));
    if (ce == cudaSuccess) ce = cudaMemcpyAsync(bufs[2], hu, (size_t)(b * nu) * sizeof(double), cudaMemcpyHostToDevice, stream);
    if (ce == cudaSuccess) ce = cudaStreamSynchronize(stream); /* hu is freed next */
    free(hu);
    if (ce != cudaSuccess) return pp_fail(fkm_cu_fail(ce, __FILE__, __LINE__, "k-means++ work space"), bufs, 5);
    pp_args a = {in->x, in->ct, b, n, in->dp, in->d, k, nblk, pb, in->w, (float *)bufs[0], (double *)bufs[1],
                 (const double *)bufs[2], (int64_t *)bufs[3], (int *)bufs[4], rows, trials};
    fkm_status st = FKM_OK;
    const int dt = fkm_ct_dtype(in->ct);
    void (*cand_fn)(const pp_args, int, int, int64_t) = dt == FKM_F32 ? k_pp_cand<FKM_F32>
                                                        : dt == FKM_F16 ? k_pp_cand<FKM_F16> : k_pp_cand<FKM_BF16>;
    /* first centre: drawn by weight; its D^2 fills cand[0] (best = 0) */
    ce = cudaMemsetAsync(bufs[4], 0, (size_t)b * sizeof(int), stream);
    for (int64_t ci = 0; ce == cudaSuccess && ci < k; ci++) {
        const int nt = ci == 0 ? 1 : trials;
        for (int64_t p0 = 0; ci == 0 && p0 < b; p0 += 65535) /* for the first draw (grid.y <= 65535) */
            k_pp_wsum<<<dim3((unsigned)nblk, (unsigned)min(b - p0, (int64_t)65535)), 256, 0, stream>>>(a, p0);
        k_pp_sample<<<(unsigned)b, 32 * nt, 0, stream>>>(a, ci);
        for (int64_t p0 = 0; p0 < b; p0 += 65535)
            cand_fn<<<dim3((unsigned)nblk, (unsigned)min(b - p0, (int64_t)65535)), 256, 0, stream>>>(a, nt, ci == 0, p0);
        k_pp_pick<<<(unsigned)b, 32 * nt, 0, stream>>>(a, ci, nt);
        ce = cudaGetLastError();
    }
    if (ce == cudaSuccess) ce = cudaStreamSynchronize(stream);
    if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "k-means++ kernels");
    pp_fail(FKM_OK, bufs, 5);
    return st;
}

fkm_status fkm_cu_kmeanspp(fkm_cu_engine *e, uint64_t seed) {
    const fkm_cu_rows in = {e->x, e->ctype, e->b, e->n, e->dp, e->d, e->w};
    fkm_status st = fkm_cu_pp_rows(&in, e->k, seed, e->rowsidx, e->stream);
    return st != FKM_OK ? st : fkm_cu_gather_rows(e, e->rowsidx);
}
