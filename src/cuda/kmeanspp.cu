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
 *   cand:   per point, D^2 to every trial row; cand[t][i] = min(closest_i, D^2); per-block
 *           weighted sums per trial (a fixed tree, float64);
 *   pick:   per problem the trial with the smallest potential (ties: the lower trial). Its cand
 *           row becomes "closest" for the next centre (read before being overwritten).
 * Temporary GPU memory: trials * b * n floats + small arrays, allocated here (not in the Lloyd
 * loop) and freed before returning. */
#include <math.h>
#include <stdlib.h>

#include "cu_device.cuh"
#include "cu_memory.cuh"
#include "draw.cuh"

#define PP_PB 1024   /* points per block at most: the unit of the per-block sums */
#define PP_TMAX 16   /* trials at most: 2 + ln k stays under 16 for k < 2^31 */

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

__device__ __forceinline__ float pp_ld(const pp_args &a, int64_t row, int64_t j) {
    return load_as_float(a.x, fkm_ct_dtype(a.ct), row * a.dp + j);
}

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

/* grid (nblk, problems p0 ..), 256 threads: a warp per point, lanes over features; trial distances in
 * registers (trials <= PP_TMAX), reduced across the warp in a fixed xor tree. */
__global__ void __launch_bounds__(256) k_pp_cand(const pp_args a, int nt, int first, int64_t p0) {
    const int64_t p = p0 + blockIdx.y, blk = blockIdx.x;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __shared__ double part[8][PP_TMAX];
    double wsum = 0.0; /* lane t: this warp's weighted sum for trial t, in point order */
    const int64_t i0 = blk * a.pb, i1 = min(i0 + a.pb, a.n);
    const int64_t *ids = a.ids + p * PP_TMAX;
    const int prevb = first ? 0 : a.best[p];
    for (int64_t i = i0 + warp; i < i1; i += 8) {
        float acc[PP_TMAX];
#pragma unroll
        for (int t = 0; t < PP_TMAX; t++) acc[t] = 0.0f;
        for (int64_t j = lane; j < a.d; j += 32) {
            const float xv = pp_ld(a, p * a.n + i, j);
#pragma unroll
            for (int t = 0; t < PP_TMAX; t++)
                if (t < nt) {
                    const float df = xv - pp_ld(a, p * a.n + ids[t], j);
                    acc[t] = fmaf(df, df, acc[t]);
                }
        }
        const float closest = first ? __int_as_float(0x7f800000)
                                    : a.cand[((int64_t)prevb * a.b + p) * a.n + i];
        const double w = a.w ? (double)a.w[p * a.n + i] : 1.0;
        float mine = 0.0f;
#pragma unroll
        for (int t = 0; t < PP_TMAX; t++)
            if (t < nt) {
                const float s = warp_sum(acc[t]);
                const float c = fminf(s, closest);
                if (lane == t) mine = c;
            }
        __syncwarp(); /* every lane has read cand[prevb][i] before lane t may overwrite it */
        if (lane < nt) {
            a.cand[((int64_t)lane * a.b + p) * a.n + i] = mine;
            wsum += w * (double)mine;
        }
    }
    if (lane < PP_TMAX) part[warp][lane] = wsum;
    __syncthreads();
    if (threadIdx.x < nt) {
        double s = 0.0;
        for (int q = 0; q < 8; q++) s += part[q][threadIdx.x];
        a.bsum[((int64_t)threadIdx.x * a.b + p) * a.nblk + blk] = s;
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

/* grid (b), 32 threads: keep the trial with the smallest potential; record its row. */
__global__ void k_pp_pick(const pp_args a, int64_t ci, int nt) {
    const int64_t p = blockIdx.x;
    const int lane = threadIdx.x;
    int bt = 0;
    double bpot = INFINITY;
    for (int t = 0; t < nt; t++) {
        const double *bs = a.bsum + ((int64_t)t * a.b + p) * a.nblk;
        double s = 0.0;
        for (int64_t j = lane; j < a.nblk; j += 32) s += bs[j];
        s = warp_sum(s);
        if (s < bpot) { bpot = s; bt = t; }
    }
    if (lane == 0) {
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

/* Points per block: 1024, or fewer (down to 64) so that a few thousand rows (k-means||'s
 * candidates) still spread over several hundred blocks. */
static int64_t pp_block(int64_t n) {
    int64_t pb = 64;
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
    /* first centre: drawn by weight; its D^2 fills cand[0] (best = 0) */
    ce = cudaMemsetAsync(bufs[4], 0, (size_t)b * sizeof(int), stream);
    for (int64_t ci = 0; ce == cudaSuccess && ci < k; ci++) {
        const int nt = ci == 0 ? 1 : trials;
        for (int64_t p0 = 0; ci == 0 && p0 < b; p0 += 65535) /* for the first draw (grid.y <= 65535) */
            k_pp_wsum<<<dim3((unsigned)nblk, (unsigned)min(b - p0, (int64_t)65535)), 256, 0, stream>>>(a, p0);
        k_pp_sample<<<(unsigned)b, 32 * nt, 0, stream>>>(a, ci);
        for (int64_t p0 = 0; p0 < b; p0 += 65535)
            k_pp_cand<<<dim3((unsigned)nblk, (unsigned)min(b - p0, (int64_t)65535)), 256, 0, stream>>>(a, nt, ci == 0, p0);
        k_pp_pick<<<(unsigned)b, 32, 0, stream>>>(a, ci, nt);
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
