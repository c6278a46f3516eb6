/* kmeans_par.cu -- k-means|| (Bahmani et al., "Scalable K-Means++", VLDB 2012) on the GPU, for the
 * engine's data and every problem of a batch at once (problem p uses seed + p).
 *
 * The host version's algorithm (src/core/init_par.c, docs/algorithm.md) step for step:
 *  1. first candidate: one row drawn with probability proportional to w_i (uniform from the host
 *     generator, stream 3);
 *  2. PAR_ROUNDS rounds: phi = sum w_i D_i (per-block sums, then one warp, fixed order); row i is
 *     taken when draw(seed, round, i) < l w_i D_i / phi (the host's counter-based hash, so the
 *     sample does not depend on the launch shape); taken rows join in index order up to the cap
 *     (per-block counts, a per-problem scan, an ordered write); duplicates by value are dropped
 *     (par_cands.cu) and the new candidates update D (par_cands.cu: the engine's assignment
 *     kernel, then the exact float32 distance);
 *  3. fewer than k distinct candidates: rows with D > 0 in index order (weighted first) until k;
 *  4. candidate weights: rows sorted by nearest candidate (stable radix sort), then each segment
 *     summed by one warp in a fixed order (float64);
 *  5. more than k weighted candidates: greedy k-means++ (kmeanspp.cu) over them, weighted; else
 *     all weighted ones, then the zero-weight ones, then repeats from the first.
 * Deterministic for a seed on a given GPU; not bitwise the host's choice, because distances are
 * found with the fit's precision and sums run in another order. Host syncs: a few per round (the
 * pass sizes), none per row. Temporary GPU memory: fkm_cu_par_bytes, allocated here and freed. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include <cub/device/device_radix_sort.cuh>

#include "../cu_device.cuh"
#include "../cu_memory.cuh"
#include "draw.cuh"
#include "par.cuh"

/* Uniform [0, 1) for row i in round r: the host's draw (init_par.c). */
__device__ __forceinline__ double par_draw(uint64_t seed, int r, int64_t i) {
    uint64_t h = par_mix(seed * 0x9E3779B97F4A7C15ull + 0x243F6A8885A308D3ull * (uint64_t)(r + 1));
    h = par_mix(h ^ ((uint64_t)i * 0xD1B54A32D192ED03ull + 0x13198A2E03707344ull));
    return (double)(h >> 11) * 0x1.0p-53;
}

__device__ __forceinline__ double par_wt(const par_args &a, int64_t g) { return a.w ? (double)a.w[g] : 1.0; }

__global__ void k_par_init(const par_args a) {
    for (int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; g < a.b * a.n; g += (int64_t)gridDim.x * blockDim.x) {
        a.dist[g] = __int_as_float(0x7f800000);
        a.near[g] = 0;
    }
}

/* grid b * nblk, 256 threads: per-block sums of w (first) or w D, a fixed tree. */
__global__ void k_par_bsum(const par_args a, int first) {
    const int64_t p = blockIdx.x / a.nblk, blk = blockIdx.x - p * a.nblk;
    const int64_t i0 = blk * PAR_PB, i1 = min(i0 + PAR_PB, a.n);
    __shared__ double red[256];
    double s = 0.0;
    for (int64_t i = i0 + threadIdx.x; i < i1; i += 256) {
        const int64_t g = p * a.n + i;
        s += first ? par_wt(a, g) : par_wt(a, g) * (double)a.dist[g];
    }
    s = fkm_block_sum256(s, red);
    if (threadIdx.x == 0) a.bsum[p * a.nblk + blk] = s;
}

/* One warp per problem: phi = the sum of the block sums; first: draw the first candidate by weight
 * instead (it sits at distance 0 from itself). */
__global__ void k_par_phi(const par_args a, int first) {
    const int64_t p = blockIdx.x;
    const int lane = threadIdx.x;
    const double *bs = a.bsum + p * a.nblk;
    double tot = 0.0;
    for (int64_t j = lane; j < a.nblk; j += 32) tot += bs[j];
    tot = warp_sum(tot);
    if (!first) {
        if (lane == 0) a.phi[p] = tot;
        return;
    }
    int64_t row = (int64_t)(a.u[p] * (double)a.n); /* no weight at all: uniform */
    if (tot > 0.0) row = fkm_warp_draw(bs, a.nblk, PAR_PB, a.n, a.u[p] * tot, [&](int64_t i) { return par_wt(a, p * a.n + i); });
    row = min(max(row, (int64_t)0), a.n - 1);
    if (lane == 0) {
        a.crow[p * a.cap] = (int32_t)row;
        a.from[p] = 0;
        a.m[p] = 1;
        a.dist[p * a.n + row] = 0.0f;
        a.near[p * a.n + row] = 0;
    }
}

/* Does this marking pass take row i of problem p? */
__device__ __forceinline__ bool par_takes(const par_args &a, int mode, int r, int64_t p, int64_t i) {
    const int64_t g = p * a.n + i;
    const float dd = a.dist[g];
    if (mode == PAR_SAMPLE) {
        const double wd = par_wt(a, g) * (double)dd;
        return wd > 0 && par_draw(a.seed + (uint64_t)p, r, i) < a.l * wd / a.phi[p];
    }
    const bool weighted = !a.w || a.w[g] > 0;
    return dd > 0 && weighted == (mode == PAR_FILL_W);
}

/* grid b * nblk, 256 threads. count: bcnt = the rows this block takes. write: the block's rows
 * in index order at offset bcnt (the scanned counts), as candidates m + pos while pos < add. */
__global__ void k_par_mark(const par_args a, int mode, int r, int write) {
    const int64_t p = blockIdx.x / a.nblk, blk = blockIdx.x - p * a.nblk;
    const int64_t i0 = blk * PAR_PB, i1 = min(i0 + PAR_PB, a.n);
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __shared__ int wtot[8];
    const int64_t base = write ? a.bcnt[p * a.nblk + blk] : 0;
    int64_t count = 0;
    for (int64_t q0 = i0; q0 < i1; q0 += 256) {
        const int64_t i = q0 + threadIdx.x;
        const bool f = i < i1 && par_takes(a, mode, r, p, i);
        const unsigned bal = __ballot_sync(0xffffffffu, f);
        if (lane == 0) wtot[warp] = __popc(bal);
        __syncthreads();
        int before = 0, all = 0;
        for (int q = 0; q < 8; q++) {
            before += q < warp ? wtot[q] : 0;
            all += wtot[q];
        }
        const int64_t pos = base + count + before + __popc(bal & ((1u << lane) - 1));
        if (write && f && pos < a.add[p]) {
            const int64_t c = a.m[p] + pos, g = p * a.n + i;
            a.crow[p * a.cap + c] = (int32_t)i;
            a.dist[g] = 0.0f;
            a.near[g] = (int32_t)c;
        }
        count += all;
        __syncthreads(); /* wtot is rewritten next */
    }
    if (!write && threadIdx.x == 0) a.bcnt[p * a.nblk + blk] = (int32_t)count;
}

/* One warp per problem: block counts -> exclusive offsets; add = min(total, room). Room: up to the
 * cap (a round), up to k candidates (the fill). */
__global__ void k_par_offsets(const par_args a, int mode) {
    const int64_t p = blockIdx.x;
    const int lane = threadIdx.x;
    int32_t *bc = a.bcnt + p * a.nblk;
    int64_t base = 0;
    for (int64_t c0 = 0; c0 < a.nblk; c0 += 32) {
        const int64_t v = c0 + lane < a.nblk ? bc[c0 + lane] : 0;
        int64_t s = v;
        for (int off = 1; off < 32; off <<= 1) {
            const int64_t o = __shfl_up_sync(0xffffffffu, s, off);
            if (lane >= off) s += o;
        }
        if (c0 + lane < a.nblk) bc[c0 + lane] = (int32_t)min(base + s - v, (int64_t)INT32_MAX);
        base += __shfl_sync(0xffffffffu, s, 31);
    }
    const int64_t room = mode == PAR_SAMPLE ? a.cap - a.m[p] : max(a.k - (int64_t)a.m[p], (int64_t)0);
    if (lane == 0) a.add[p] = (int32_t)min(base, room);
}

__global__ void k_par_commit(const par_args a) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p < a.b) a.m[p] += a.add[p];
}

/* Weights, stage 1: the sort key of each row (problem, nearest candidate). */
__global__ void k_par_keys(const par_args a, uint32_t *keys) {
    const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g < a.b * a.n) keys[g] = (uint32_t)((g / a.n) * a.cap + a.near[g]);
}

/* Stage 2: each key's segment [seg0, seg1) of the sorted rows. */
__global__ void k_par_segs(const uint32_t *ks, int64_t total, int32_t *seg0, int32_t *seg1) {
    const int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= total) return;
    if (s == 0 || ks[s - 1] != ks[s]) seg0[ks[s]] = (int32_t)s;
    if (s == total - 1 || ks[s + 1] != ks[s]) seg1[ks[s]] = (int32_t)(s + 1);
}

/* Stage 3: one warp per candidate sums the weights of its rows (lane-strided, a fixed tree). */
__global__ void k_par_cw(const par_args a, const int32_t *perm, const int32_t *seg0, const int32_t *seg1) {
    const int64_t slot = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (slot >= a.b * a.cap || slot - (slot / a.cap) * a.cap >= a.m[slot / a.cap]) return;
    double s = 0.0;
    if (!a.w) s = lane == 0 ? (double)(seg1[slot] - seg0[slot]) : 0.0;
    else
        for (int64_t t = seg0[slot] + lane; t < seg1[slot]; t += 32) s += (double)a.w[perm[t]];
    s = warp_sum(s);
    if (lane == 0) a.cw[slot] = s;
}

/* One warp per problem: ord = candidates with weight, then the others, each in candidate order. */
__global__ void k_par_order(const par_args a) {
    const int64_t p = blockIdx.x, base = p * a.cap, m = a.m[p];
    const int lane = threadIdx.x;
    int32_t cnt = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t j0 = 0; j0 < m; j0 += 32) {
            const int64_t j = j0 + lane;
            const bool in = j < m && (a.cw[base + j] > 0) == (pass == 0);
            const unsigned bal = __ballot_sync(0xffffffffu, in);
            if (in) a.ord[base + cnt + __popc(bal & ((1u << lane) - 1))] = (int32_t)j;
            cnt += __popc(bal);
        }
        if (pass == 0 && lane == 0) a.mp[p] = cnt;
    }
}

/* The weighted candidates of problems with more than k of them as rows of xc (pitch dp, weights
 * wc); other slots are zero rows of weight 0, never drawn. One warp per slot. */
__global__ void k_par_xc(const par_args a, int64_t mx, void *xc, float *wc) {
    const int64_t slot = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (slot >= a.b * mx) return;
    const int64_t p = slot / mx, q = slot - p * mx;
    const bool real = a.mp[p] > a.k && q < a.mp[p];
    const int es = a.ct == FKM_CT_F32 ? 4 : 2;
    const int64_t row = real ? a.crow[p * a.cap + a.ord[p * a.cap + q]] : 0;
    const char *src = (const char *)a.x + (p * a.n + row) * a.dp * es;
    char *dst = (char *)xc + slot * a.dp * es;
    for (int64_t j = lane; j < a.dp * es / 4; j += 32) ((uint32_t *)dst)[j] = real ? ((const uint32_t *)src)[j] : 0u;
    if (lane == 0) wc[slot] = real ? (float)fmin(a.cw[p * a.cap + a.ord[p * a.cap + q]], (double)FLT_MAX) : 0.0f;
}

/* The chosen rows: k-means++'s picks among the weighted candidates, or the candidates in order. */
__global__ void k_par_final(const par_args a, const int64_t *pick, int64_t *rows) {
    const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= a.b * a.k) return;
    const int64_t p = t / a.k, c = t - p * a.k, base = p * a.cap;
    const int64_t q = a.mp[p] > a.k ? pick[t] : c % a.m[p];
    rows[t] = a.crow[base + a.ord[base + q]];
}

static unsigned blocks(int64_t items, int per) { return (unsigned)((items + per - 1) / per); }

/* Record the pending candidates' start (from = m), on both sides. */
static fkm_status par_mark_from(par_state *s, cudaStream_t st) {
    CU_RET(cudaMemcpyAsync(s->a.from, s->a.m, (size_t)s->a.b * sizeof(int32_t), cudaMemcpyDeviceToDevice, st));
    memcpy(s->hfrom, s->hm, (size_t)s->a.b * sizeof(int32_t));
    return FKM_OK;
}

/* One marking pass (count, offsets, write, commit). */
static fkm_status par_pass(par_state *s, cudaStream_t st, int mode, int r) {
    const par_args &a = s->a;
    const unsigned g = (unsigned)(a.b * a.nblk);
    k_par_mark<<<g, 256, 0, st>>>(a, mode, r, 0);
    k_par_offsets<<<(unsigned)a.b, 32, 0, st>>>(a, mode);
    k_par_mark<<<g, 256, 0, st>>>(a, mode, r, 1);
    k_par_commit<<<blocks(a.b, 256), 256, 0, st>>>(a);
    CU_LAUNCHED("k-means|| marking pass");
    return FKM_OK;
}

/* m to the host; *added: whether any problem gained candidates since from. */
static fkm_status par_sync_m(par_state *s, cudaStream_t st, int *added) {
    CU_RET(cudaMemcpyAsync(s->hm, s->a.m, (size_t)s->a.b * sizeof(int32_t), cudaMemcpyDeviceToHost, st));
    CU_RET(cudaStreamSynchronize(st));
    *added = 0;
    for (int64_t p = 0; p < s->a.b; p++) *added |= s->hm[p] > s->hfrom[p];
    return FKM_OK;
}

/* New candidates since from: drop duplicates, then update the distances. */
static fkm_status par_absorb(par_state *s, fkm_cu_engine *e) {
    fkm_status st = par_dedup(s, e);
    return st != FKM_OK ? st : par_update(s, e);
}

/* Steps 1-3. */
static fkm_status par_sample(par_state *s, fkm_cu_engine *e) {
    par_args &a = s->a;
    const cudaStream_t st = e->stream;
    const unsigned g = (unsigned)(a.b * a.nblk);
    k_par_init<<<blocks(a.b * a.n, 256) < 65536 ? blocks(a.b * a.n, 256) : 65536, 256, 0, st>>>(a);
    k_par_bsum<<<g, 256, 0, st>>>(a, 1);
    k_par_phi<<<(unsigned)a.b, 32, 0, st>>>(a, 1);
    CU_LAUNCHED("k-means|| first candidate");
    for (int64_t p = 0; p < a.b; p++) s->hfrom[p] = 0;
    int added = 0;
    fkm_status r = par_sync_m(s, st, &added);
    if (r == FKM_OK) r = par_update(s, e);
    for (int round = 0; r == FKM_OK && round < PAR_ROUNDS; round++) {
        k_par_bsum<<<g, 256, 0, st>>>(a, 0);
        k_par_phi<<<(unsigned)a.b, 32, 0, st>>>(a, 0);
        CU_LAUNCHED("k-means|| potential");
        if ((r = par_mark_from(s, st)) == FKM_OK && (r = par_pass(s, st, PAR_SAMPLE, round)) == FKM_OK)
            r = par_sync_m(s, st, &added);
        if (r == FKM_OK && added) r = par_absorb(s, e);
    }
    for (;;) { /* step 3; each pass takes rows at D > 0 and leaves them at 0, so it ends */
        int shortp = 0;
        for (int64_t p = 0; p < a.b; p++) shortp |= s->hm[p] < a.k;
        if (r != FKM_OK || !shortp) break;
        if ((r = par_mark_from(s, st)) == FKM_OK && (r = par_pass(s, st, PAR_FILL_W, 0)) == FKM_OK &&
            (r = par_pass(s, st, PAR_FILL_Z, 0)) == FKM_OK)
            r = par_sync_m(s, st, &added);
        if (r != FKM_OK || !added) break;
        r = par_absorb(s, e);
    }
    return r;
}

/* Step 4: candidate weights; then ord and mp (copied to the host). */
static fkm_status par_weigh(par_state *s, fkm_cu_engine *e) {
    par_args &a = s->a;
    const int64_t bn = a.b * a.n;
    const cudaStream_t st = e->stream;
    k_par_keys<<<blocks(bn, 256), 256, 0, st>>>(a, e->keys);
    size_t bytes = s->cub_bytes;
    CU_RET(cub::DeviceRadixSort::SortPairs(s->cub, bytes, e->keys, e->keys_sorted, e->iota, e->perm, (int)bn, 0,
                                           par_key_bits(a), st));
    CU_RET(cudaMemsetAsync(s->seg0, 0, (size_t)(a.b * a.cap) * sizeof(int32_t), st));
    CU_RET(cudaMemsetAsync(s->seg1, 0, (size_t)(a.b * a.cap) * sizeof(int32_t), st));
    k_par_segs<<<blocks(bn, 256), 256, 0, st>>>(e->keys_sorted, bn, s->seg0, s->seg1);
    k_par_cw<<<blocks(a.b * a.cap, 8), 256, 0, st>>>(a, e->perm, s->seg0, s->seg1);
    k_par_order<<<(unsigned)a.b, 32, 0, st>>>(a);
    CU_LAUNCHED("k-means|| candidate weights");
    CU_RET(cudaMemcpyAsync(s->hmp, a.mp, (size_t)a.b * sizeof(int32_t), cudaMemcpyDeviceToHost, st));
    CU_RET(cudaStreamSynchronize(st));
    return FKM_OK;
}

/* Step 5 into e->rowsidx. */
static fkm_status par_choose(par_state *s, fkm_cu_engine *e, uint64_t seed) {
    par_args &a = s->a;
    int64_t mx = 0;
    for (int64_t p = 0; p < a.b; p++)
        if (s->hmp[p] > a.k && s->hmp[p] > mx) mx = s->hmp[p];
    void *buf = NULL;
    int64_t *pick = NULL;
    fkm_status st = FKM_OK;
    if (mx > 0) {
        const size_t xb = fkm_cu_roundup((int64_t)a.b * mx * a.dp * e->es, 256), wb = fkm_cu_roundup(a.b * mx * 4, 256);
        CU_RET(cudaMalloc(&buf, xb + wb + (size_t)(a.b * a.k) * sizeof(int64_t)));
        float *wc = (float *)((char *)buf + xb);
        pick = (int64_t *)((char *)buf + xb + wb);
        k_par_xc<<<blocks(a.b * mx, 8), 256, 0, e->stream>>>(a, mx, buf, wc);
        const fkm_cu_rows in = {buf, a.ct, a.b, mx, a.dp, a.d, wc};
        st = fkm_cu_pp_rows(&in, a.k, seed, pick, e->stream);
    }
    if (st == FKM_OK) {
        k_par_final<<<blocks(a.b * a.k, 256), 256, 0, e->stream>>>(a, pick, e->rowsidx);
        const cudaError_t ce = cudaGetLastError();
        if (ce == cudaSuccess) st = fkm_cu_gather_rows(e, e->rowsidx);
        else st = fkm_cu_fail(ce, __FILE__, __LINE__, "k-means|| final rows");
    }
    if (buf) {
        const cudaError_t ce = cudaStreamSynchronize(e->stream); /* buf is in use until then */
        (void)cudaFree(buf);
        if (st == FKM_OK && ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "k-means|| choice");
    }
    return st;
}

static void par_plan(par_state *s, const fkm_cu_engine *e, uint64_t seed) {
    memset(s, 0, sizeof *s);
    par_args &a = s->a;
    a.x = e->x; a.ct = e->ctype; a.b = e->b; a.n = e->n; a.dp = e->dp; a.d = e->d; a.k = e->k; a.w = e->w;
    a.cap = 1 + 2 * PAR_ROUNDS * PAR_OVERSAMPLE * e->k;
    if (a.cap > e->n) a.cap = e->n;
    a.nblk = (e->n + PAR_PB - 1) / PAR_PB;
    a.seed = seed;
    a.l = (double)PAR_OVERSAMPLE * (double)e->k;
}

size_t fkm_cu_par_bytes(const fkm_cu_engine *e) {
    par_state s;
    par_plan(&s, e, 0);
    const size_t main = par_layout(&s, e, NULL);
    const int64_t mx = s.a.cap; /* the choice's copy of the weighted candidates, at most */
    const size_t choose = (size_t)fkm_cu_roundup(e->b * mx * e->dp * e->es, 256) + (size_t)fkm_cu_roundup(e->b * mx * 4, 256) +
                          (size_t)(e->b * e->k) * sizeof(int64_t) + fkm_cu_pp_bytes(e->b, mx, e->k);
    return main + choose;
}

fkm_status fkm_cu_kmeans_par(fkm_cu_engine *e, uint64_t seed) {
    par_state s;
    par_plan(&s, e, seed);
    const size_t bytes = par_layout(&s, e, NULL);
    double *hu = (double *)malloc((size_t)e->b * sizeof(double));
    if (!hu) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for k-means||");
    for (int64_t p = 0; p < e->b; p++) { /* the host generator's first-candidate draw (init_par.c) */
        fkm_rng rng;
        fkm_rng_init(&rng, seed + (uint64_t)p, 3);
        hu[p] = fkm_rng_uniform(&rng);
    }
    fkm_status st = FKM_OK;
    cudaError_t ce = cudaMalloc(&s.base, bytes);
    if (ce == cudaSuccess) ce = cudaMallocHost((void **)&s.hm, 3 * (size_t)e->b * sizeof(int32_t));
    if (ce == cudaSuccess) {
        s.hfrom = s.hm + e->b;
        s.hmp = s.hm + 2 * e->b;
        par_layout(&s, e, (char *)s.base);
        ce = cudaMemcpyAsync((void *)s.a.u, hu, (size_t)e->b * sizeof(double), cudaMemcpyHostToDevice, e->stream);
        if (ce == cudaSuccess) ce = cudaStreamSynchronize(e->stream); /* hu is freed next */
    }
    free(hu);
    if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "k-means|| work space");
    if (st == FKM_OK) st = par_sample(&s, e);
    if (st == FKM_OK) st = par_weigh(&s, e);
    if (st == FKM_OK) st = par_choose(&s, e, seed);
    if (st == FKM_OK && (ce = cudaStreamSynchronize(e->stream)) != cudaSuccess)
        st = fkm_cu_fail(ce, __FILE__, __LINE__, "k-means||");
    (void)cudaStreamSynchronize(e->stream); /* nothing may still use the work space */
    if (s.base) (void)cudaFree(s.base);
    if (s.hm) (void)cudaFreeHost(s.hm);
    return st;
}
