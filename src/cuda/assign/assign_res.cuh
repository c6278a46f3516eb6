/* assign_res.cuh -- centroid-resident persistent assignment for one problem with k <= 256 on
 * Hopper (sm_90a).
 *
 * For k <= 256 all centroids fit in shared memory next to rings of point tiles, so a block can
 * stay on its SM for a whole range of point tiles (persistent grid, one block per SM) and only
 * points stream in. The tile-per-block kernel (assign_wgmma.cuh) re-reads the centroids and pays
 * its set-up, point-tile wait and output stage block after block, which at k = 256 D = 64 tf32
 * left it at 108 TFLOP/s.
 *
 *   - Producer warp (lane 0): the centroid image (already swizzled by prep.cu, tiles of 128 x 128
 *     bytes) by one bulk copy, then the point tiles of 64 rows by TMA (128-byte swizzle, rows past
 *     the end read as zeros), each into the ring of the warpgroup that owns it.
 *   - RES_NWG consumer warpgroups, each on its own tiles (the block's tiles dealt round robin)
 *     with its own ring of nbuf buffers, so the warpgroups drift apart: one's fold and output run
 *     while another's wgmma keeps the tensor cores busy. (Two warpgroups sharing 128-row tiles
 *     with two accumulators ran in lockstep -- all folding while the tensor cores idled -- and
 *     spilled: 82 against 108 TFLOP/s at k = 256 D = 64 tf32, H100.)
 *   - Per centroid tile of 128: one wgmma group (64 x 128 accumulators), wait, fold; then a
 *     per-warp output stage with no block barrier.
 * One problem per launch (b = 1): the centroids are loaded once. One inertia partial per 64-row
 * tile. Included by assign_res.cu. */
#ifndef FKM_CU_ASSIGN_RES_CUH
#define FKM_CU_ASSIGN_RES_CUH

#include <cuda.h>

#include "assign_wgmma.cuh"

#ifdef FKM_WGMMA_OK
/* One box of the points' tensor map (feature c0, row c1 of problem c2; assign_res.cu) into dst. */
__device__ __forceinline__ void res_tma(void *dst, const CUtensorMap *map, int c0, int c1, int c2, uint64_t *bar) {
    asm volatile(
        "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], "
        "[%5];\n" ::"r"(wg_smem(dst)),
        "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(c2), "r"(wg_smem(bar))
        : "memory");
}

/* Point tile (its first row, of problem p) into dst, NKB boxes of one k-block each, completing
 * on bar (whose expect_tx the caller has posted). */
template <int OP, int NKB>
__device__ __forceinline__ void res_load_tile(char *dst, const CUtensorMap *xmap, int row, int p, uint64_t *bar) {
#pragma unroll
    for (int kb = 0; kb < NKB; kb++)
        res_tma(dst + (size_t)kb * RES_BM * WG_KB, xmap, kb * (WG_KB / (OP == 2 ? 4 : 2)), row, p, bar);
}

/* One centroid tile as one wgmma group: points at xa ([k-block][RES_BM rows][128 B]), the tile's
 * NKB k-blocks of 16 KB one after the other at ca. */
template <int OP, int NKB>
__device__ __forceinline__ void res_issue_tile(float (&d)[64], uint32_t xa, uint32_t ca) {
    wg_fence();
#pragma unroll
    for (int kb = 0; kb < NKB; kb++)
#pragma unroll
        for (int ks = 0; ks < WG_KB / 32; ks++)
            wgmma_step<OP>(d, wg_desc(xa + kb * (RES_BM * WG_KB) + ks * 32), wg_desc(ca + kb * WG_TILE + ks * 32),
                           kb > 0 || ks > 0);
    wg_commit();
}

/* Barriers: xfull[RES_NWG][RES_MAXBUF], xempty[RES_NWG][RES_MAXBUF], cfull. */
#define RES_XFULL(bars, wg, b) ((bars) + (wg) * RES_MAXBUF + (b))
#define RES_XEMPTY(bars, wg, b) ((bars) + RES_NWG * RES_MAXBUF + (wg) * RES_MAXBUF + (b))
#define RES_CFULL(bars) ((bars) + 2 * RES_NWG * RES_MAXBUF)

/* Tile u of the block's range [begin, end) belongs to warpgroup (u - begin) % RES_NWG, as its
 * i = (u - begin) / RES_NWG-th tile, in buffer i % nbuf of that warpgroup's ring. */
__device__ __forceinline__ char *res_buf(char *xs, int wg, int b, int nbuf, size_t xbytes) {
    return xs + (size_t)(wg * nbuf + b) * xbytes;
}

/* The producer: the centroids once, then the block's point tiles in order, each once its
 * buffer's previous use has been released. */
template <int OP, int NKB, int NCT>
__device__ __forceinline__ void res_produce(const fkm_cu_assign_args &a, const CUtensorMap *xmap, char *cs, char *xs,
                                            uint64_t *bars, int nbuf, int64_t begin, int64_t end) {
    constexpr uint32_t xbytes = RES_BM * NKB * WG_KB;
    mbar_expect_tx(RES_CFULL(bars), NCT * NKB * WG_TILE);
    bulk_g2s(cs, a.c, NCT * NKB * WG_TILE, RES_CFULL(bars));
    for (int64_t u = begin; u < end; u++) {
        const int wg = (int)((u - begin) % RES_NWG), i = (int)((u - begin) / RES_NWG), b = i % nbuf;
        if (i >= nbuf) mbar_wait(RES_XEMPTY(bars, wg, b), ((i / nbuf) + 1) & 1);
        mbar_expect_tx(RES_XFULL(bars, wg, b), xbytes);
        res_load_tile<OP, NKB>(res_buf(xs, wg, b, nbuf, xbytes), xmap, (int)(u * RES_BM), 0, RES_XFULL(bars, wg, b));
    }
}

/* tf32: round the tile to nearest (TMA copies the fp32 bits as they are), then a warpgroup
 * barrier; fp16/bf16 only need the warpgroup converged before its wgmma. */
template <int OP, int NKB>
__device__ __forceinline__ void res_ready_rows(const char *xb, int wg) {
    if (OP == 2) {
        const uint32_t base = wg_smem(xb) + (threadIdx.x & 127) * 16;
#pragma unroll
        for (int v = 0; v < RES_BM * NKB * WG_KB / (16 * 128); v++) {
            const uint32_t p = base + v * 128 * 16;
            uint32_t q[4];
            asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
                         : "=r"(q[0]), "=r"(q[1]), "=r"(q[2]), "=r"(q[3])
                         : "r"(p));
#pragma unroll
            for (int e = 0; e < 4; e++) asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(q[e]) : "f"(__uint_as_float(q[e])));
            asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(p), "r"(q[0]), "r"(q[1]), "r"(q[2]), "r"(q[3])
                         : "memory");
        }
        asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* generic writes -> wgmma reads */
    }
    asm volatile("bar.sync %0, 128;\n" ::"r"(1 + wg) : "memory");
}

/* Per-warp output of tile t of problem p: rows 16 (warp % 4) + lane / 4 (+ 8) of the tile; the
 * quad's lanes hold parts of the same two rows and lane 0 of the quad writes. Same fields and
 * rules as fkm_write_rows, except that the changed-label count is kept in nch and the cluster
 * counts go to cnt (the block's counts in shared memory, added to the global ones later: the
 * global counts of small k sit in a few cache lines, and one atomic per row there cost as much as
 * the whole matrix work -- 400 against 207 us per pass at N = 1M k = 256 D = 64 tf32, H100; or,
 * for large k, problem p's global counts), and the inertia is one partial per warp (wpart), added
 * up per tile in warp order by res_tile_inertia. */
__device__ __forceinline__ void res_write_rows(const fkm_cu_assign_args &a, int64_t p, int64_t t, int r0,
                                               float (&bv)[2], int (&bi)[2], const fkm_row_in (&in)[2], unsigned &nch,
                                               int *cnt, double *wpart) {
    const int lane = threadIdx.x & 31;
    const int64_t row0 = t * RES_BM;
    double contrib = 0.0;
#pragma unroll
    for (int h = 0; h < 2; h++) {
        float v = bv[h];
        int lab = bi[h];
        fkm_lane_argmin<1, 2>(v, lab);
        const int64_t gi = row0 + r0 + 8 * h;
        const bool valid = (lane & 3) == 0 && gi < a.n;
        int changed = 0;
        if (valid) contrib += fkm_store_row(a, p, p * a.n + gi, v, lab, in[h], changed);
        if (!a.tile_inertia) continue;
        nch += __popc(__ballot_sync(0xffffffffu, changed));
        if (a.counts && valid) atomicAdd(&cnt[lab], 1);
    }
    if (!a.tile_inertia) return;
    /* only the quads' first lanes hold rows: a tree over those 8 (the levels over lanes of one
     * quad would only add zeros; the output stage was a fifth of the kernel's warp samples) */
#pragma unroll
    for (int o = 16; o >= 4; o >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, o);
    if (lane == 0) wpart[(threadIdx.x >> 5) & 3] = contrib;
}

/* Tile u's inertia (u: index over all problems' tiles; < 0: a tile past the end, nothing to
 * write): its four warps' partials (wpart) in warp order, once they are all in (after a
 * warpgroup barrier). One partial per 64-row tile keeps k_policy's fixed-order sum short: one per
 * warp made it 36 us at N = 4M. */
__device__ __forceinline__ void res_tile_inertia(const fkm_cu_assign_args &a, int64_t u, const double *wpart) {
    if (a.tile_inertia && (threadIdx.x & 127) == 0 && u >= 0)
        a.tile_inertia[u] = ((wpart[0] + wpart[1]) + wpart[2]) + wpart[3];
}

/* The row inputs of rows r0 and r0 + 8 of tile t of problem p (lane 0 of each quad). */
__device__ __forceinline__ void res_row_inputs(const fkm_cu_assign_args &a, int64_t p, int64_t t, int r0,
                                               fkm_row_in (&in)[2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int64_t gi = t * RES_BM + r0 + 8 * h;
        in[h] = {0.0f, 1.0f, -1};
        if ((threadIdx.x & 3) == 0 && gi < a.n) in[h] = fkm_row_input(a, p * a.n + gi);
    }
}

/* Certified mode: the row bounds R of rows r0 and r0 + 8 of tile t of problem p, and the output
 * stage (the quad's pairs merged; lane 0 of the quad writes i1 to labels and l2 to best). */
__device__ __forceinline__ void res_row_bounds(const fkm_cu_assign_args &a, int64_t p, int64_t t, int r0, float (&R)[2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
        const int64_t gi = t * RES_BM + r0 + 8 * h;
        R[h] = gi < a.n ? cert_row_bound(a, p, p * a.n + gi) : 0.0f;
    }
}
/* After the quad merge lane 0 of the quad writes i1 to labels and l2 to best (k_cert_resolve
 * goes on from there). */
__device__ __forceinline__ void res_write_cert(const fkm_cu_assign_args &a, int64_t p, int64_t t, int r0,
                                               float (&l1)[2], int (&i1)[2], float (&l2)[2]) {
#pragma unroll
    for (int h = 0; h < 2; h++) {
        cert_quad_merge(l1[h], i1[h], l2[h]);
        const int64_t gi = t * RES_BM + r0 + 8 * h;
        if ((threadIdx.x & 3) == 0 && gi < a.n) {
            a.labels[p * a.n + gi] = i1[h];
            a.best[p * a.n + gi] = l2[h];
        }
    }
}

/* Problem p's statistics gathered by the block so far: the warp's changed-label count nch, and
 * -- scount not NULL -- the block's cluster counts, added to the global ones once all consumer
 * warps are done with p (a barrier of all of them; again so with zero, when the block goes on to
 * another problem). Every consumer warp calls it. */
__device__ __forceinline__ void res_flush(const fkm_cu_assign_args &a, int64_t p, unsigned &nch, int *scount, bool zero) {
    if (!a.tile_inertia) return; /* labels and distances only */
    if ((threadIdx.x & 31) == 0 && nch && a.stats) atomicAdd(&a.stats[p].changed, (unsigned long long)nch);
    nch = 0;
    if (!scount || !a.counts) return;
    asm volatile("bar.sync %0, %1;\n" ::"r"(1 + RES_NWG), "r"(RES_NWG * 128) : "memory"); /* all consumers' rows are in */
    for (int c = threadIdx.x; c < a.k; c += RES_NWG * 128) {
        if (scount[c]) atomicAdd(&a.counts[p * a.k + c], scount[c]);
        if (zero) scount[c] = 0;
    }
    if (zero) asm volatile("bar.sync %0, %1;\n" ::"r"(1 + RES_NWG), "r"(RES_NWG * 128) : "memory");
}

/* After a consumer warp's last tile (i tiles; the last one ulast, see res_tile_inertia): that
 * tile's inertia, then res_flush for problem p. */
__device__ __forceinline__ void res_finish(const fkm_cu_assign_args &a, int64_t ulast, int i, unsigned &nch, int wg,
                                           int64_t p, int *scount, const double *spart) {
    if (i > 0 && a.tile_inertia) {
        asm volatile("bar.sync %0, 128;\n" ::"r"(1 + wg) : "memory");
        res_tile_inertia(a, ulast, spart + (wg * 2 + ((i - 1) & 1)) * 4);
    }
    res_flush(a, p, nch, scount, false);
}

/* A consumer warp's loop over its warpgroup's tiles. */
template <int OP, int NKB, int NCT, bool CERT>
__device__ __forceinline__ void res_consume(const fkm_cu_assign_args &a, const char *cs, char *xs, uint64_t *bars,
                                            int nbuf, int64_t begin, int64_t end, int warp, int *scount,
                                            double *spart) {
    constexpr size_t xbytes = (size_t)RES_BM * NKB * WG_KB;
    const int lane = threadIdx.x & 31, wg = warp >> 2, r0 = (warp & 3) * 16 + (lane >> 2);
    const uint32_t ca = wg_smem(cs);
    unsigned nch = 0;
    float d[64];
    mbar_wait(RES_CFULL(bars), 0);
    int i = 0;
    for (int64_t u = begin + wg; u < end; u += RES_NWG, i++) {
        const int b = i % nbuf;
        const char *xb = res_buf(xs, wg, b, nbuf, xbytes);
        mbar_wait(RES_XFULL(bars, wg, b), (i / nbuf) & 1);
        res_ready_rows<OP, NKB>(xb, wg); /* ends with a warpgroup barrier: the last tile's partials are in */
        if (i > 0) res_tile_inertia(a, u - RES_NWG, spart + (wg * 2 + ((i - 1) & 1)) * 4);
        const uint32_t xa = wg_smem(xb);
        fkm_row_in in[2];
        float bv[2] = {__int_as_float(0x7f800000), __int_as_float(0x7f800000)}, R[2], l2[2] = {bv[0], bv[1]};
        int bi[2] = {0, 0};
        const float alpha = CERT ? a.calpha[0] : a.alpha;
#pragma unroll 1 /* unrolled, the two tiles' code spilled at 96 registers */
        for (int j = 0; j < NCT; j++) {
            res_issue_tile<OP, NKB>(d, xa, ca + j * NKB * WG_TILE);
            if (j == 0) { /* their latency hides behind the wgmma */
                if constexpr (CERT) res_row_bounds(a, 0, u, r0, R);
                else res_row_inputs(a, 0, u, r0, in);
            }
            wg_wait<0>();
            wg_regs_ready(d);
            if (j == NCT - 1 && lane == 0) mbar_arrive(RES_XEMPTY(bars, wg, b));
            if constexpr (CERT) wg_fold_cert(d, a.cterm, a.cn, j, alpha, lane, R, bv, bi, l2);
            else wg_fold(d, a.cterm, j, alpha, lane, bv, bi);
        }
        if constexpr (CERT) res_write_cert(a, 0, u, r0, bv, bi, l2);
        else res_write_rows(a, 0, u, r0, bv, bi, in, nch, scount, spart + (wg * 2 + (i & 1)) * 4);
    }
    res_finish(a, begin + wg + (int64_t)(i - 1) * RES_NWG, i, nch, wg, 0, scount, spart);
}
#endif

/* NKB 128-byte k-blocks per row (1, 2 or 4), NCT = ceil(k / 128) centroid tiles (1 or 2);
 * one problem (a.total_tiles = a.tiles tiles of RES_BM points). */
template <int OP, int NKB, int NCT, bool CERT = false>
__global__ void __launch_bounds__(RES_NWG * 128 + 32, 1)
    fkm_assign_res(const fkm_cu_assign_args a, const __grid_constant__ CUtensorMap xmap, int nbuf) {
#ifdef FKM_WGMMA_OK
    extern __shared__ char smem_raw[];
    char *cs = (char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    char *xs = cs + (size_t)NCT * NKB * WG_TILE;
    uint64_t *bars = (uint64_t *)(xs + (size_t)RES_NWG * nbuf * RES_BM * NKB * WG_KB);
    int *scount = (int *)(bars + 2 * RES_NWG * RES_MAXBUF + 1);
    double *spart = (double *)(scount + FKM_CU_RES_MAXK); /* [warpgroup][tile parity][warp] */
    if (a.done && a.done[0]) return;
    for (int c = threadIdx.x; c < FKM_CU_RES_MAXK; c += blockDim.x) scount[c] = 0;
    const int warp = __shfl_sync(0xffffffffu, threadIdx.x >> 5, 0), lane = threadIdx.x & 31;
    if (threadIdx.x == 0) {
        for (int s = 0; s < RES_NWG * RES_MAXBUF; s++) {
            mbar_init(&bars[s], 1);                          /* xfull: the producer's expect_tx */
            mbar_init(&bars[RES_NWG * RES_MAXBUF + s], 4); /* xempty: one arrive per warp of the owner */
        }
        mbar_init(RES_CFULL(bars), 1);
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads(); /* the only block barrier: the warps run on their own from here */
    const int64_t total = a.total_tiles;
    const int64_t begin = total * blockIdx.x / gridDim.x, end = total * (blockIdx.x + 1) / gridDim.x;
    if (warp == RES_NWG * 4) {
        if (lane == 0) res_produce<OP, NKB, NCT>(a, &xmap, cs, xs, bars, nbuf, begin, end);
        __syncwarp();
    } else {
        res_consume<OP, NKB, NCT, CERT>(a, cs, xs, bars, nbuf, begin, end, warp, scount, spart);
    }
#else
    __trap();
#endif
}

/* Launch for engine e (one problem, kernel id of the resident family), a filled as fkm_cu_assign
 * does (assign_res.cu); cert: the certified fp16 pass (cert.cu). */
fkm_status fkm_cu_assign_res(const fkm_cu_engine *e, fkm_cu_assign_args a, int cert);
#endif
