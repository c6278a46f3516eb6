/* assign_ps.cuh -- persistent assignment with streamed centroids for one problem of any k on
 * Hopper (sm_90a): the centroid-resident kernel's layout (assign_res.cuh) when the centroids do
 * not fit in shared memory.
 *
 * Why: the tile-per-block kernel (assign_wgmma.cuh) pays, block after block, its set-up, the
 * wait for its point tile and a block-wide output stage; at k = 1024 that is a block per 8
 * centroid tiles, and ncu put a third of its warp samples there (NOTES.md v8, item 6).
 *
 *   - One block per SM walks a range of rounds; a round is RES_NWG point tiles of RES_BM rows,
 *     one per consumer warpgroup, each into that warpgroup's own ring of nbuf TMA buffers.
 *   - The centroid tiles (128 centroids, prep.cu's swizzled image) stream through a ring of ns
 *     stages that all consumer warpgroups read: every round reads tiles 0 .. T-1 in order, and a
 *     stage is released once all RES_NWG * 4 consumer warps are done with it.
 *   - The producer (one lane) issues the points of round i + nbuf - 1 right after centroid tile
 *     min(ns, T) - 1 of round i: by then the ring's wait has seen round i - 1 finish, which is
 *     when those point buffers come free, so the wait costs nothing.
 *   - Per centroid tile: one wgmma group, wait, fold; per tile of points the resident kernel's
 *     per-warp output stage; cluster counts per block in shared memory for k <= PS_SCOUNT, else
 *     one global atomic per row (spread over many counters there).
 * Rows past n (the last round's tiles) read as zeros through the TMA and are not written.
 * Included by assign_res.cu. */
#ifndef FKM_CU_ASSIGN_PS_CUH
#define FKM_CU_ASSIGN_PS_CUH

#include "assign_res.cuh"

#ifdef FKM_WGMMA_OK
/* Barriers after the resident kernel's xfull, xempty: cfull[PS_MAXNS], cempty[PS_MAXNS]. */
#define PS_CFULL(bars, s) ((bars) + 2 * RES_NWG * RES_MAXBUF + (s))
#define PS_CEMPTY(bars, s) ((bars) + 2 * RES_NWG * RES_MAXBUF + PS_MAXNS + (s))

/* The points of round r (the block's i-th): tile r * RES_NWG + w into warpgroup w's buffer
 * i % nbuf, once that buffer's previous tile is released. */
template <int OP, int NKB>
__device__ __forceinline__ void ps_points(const CUtensorMap *xmap, char *xs, uint64_t *bars, int nbuf, int64_t r,
                                          int i) {
    constexpr uint32_t xbytes = RES_BM * NKB * WG_KB;
    const int b = i % nbuf;
#pragma unroll 1
    for (int wg = 0; wg < RES_NWG; wg++) {
        if (i >= nbuf) mbar_wait(RES_XEMPTY(bars, wg, b), ((i / nbuf) + 1) & 1);
        mbar_expect_tx(RES_XFULL(bars, wg, b), xbytes);
        char *dst = res_buf(xs, wg, b, nbuf, xbytes);
        const int row = (int)((r * RES_NWG + wg) * RES_BM);
#pragma unroll
        for (int kb = 0; kb < NKB; kb++)
            res_tma_2d(dst + (size_t)kb * RES_BM * WG_KB, xmap, kb * (WG_KB / (OP == 2 ? 4 : 2)), row,
                       RES_XFULL(bars, wg, b));
    }
}

/* The producer: for each round, centroid tiles 0 .. T-1 into the stage ring, with the points of
 * round i + nbuf - 1 slotted in after tile min(ns, T) - 1 (see the top of the file). */
template <int OP, int NKB>
__device__ __forceinline__ void ps_produce(const fkm_cu_assign_args &a, const CUtensorMap *xmap, char *cs, char *xs,
                                           uint64_t *bars, int nbuf, int ns, int64_t r0, int64_t r1, int T) {
    constexpr uint32_t cbytes = NKB * WG_TILE;
    const int nr = (int)(r1 - r0), jp = (ns < T ? ns : T) - 1;
    for (int i = 0; i < nbuf - 1 && i < nr; i++) ps_points<OP, NKB>(xmap, xs, bars, nbuf, r0 + i, i);
    int s = 0;
    uint32_t ph = 0;
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < T; j++) {
            if (i > 0 || j >= ns) mbar_wait(PS_CEMPTY(bars, s), ph ^ 1);
            mbar_expect_tx(PS_CFULL(bars, s), cbytes);
            bulk_g2s(cs + (size_t)s * cbytes, a.c + (size_t)j * cbytes, cbytes, PS_CFULL(bars, s));
            if (++s == ns) { s = 0; ph ^= 1; }
            if (j == jp && i + nbuf - 1 < nr) ps_points<OP, NKB>(xmap, xs, bars, nbuf, r0 + i + nbuf - 1, i + nbuf - 1);
        }
}

/* A consumer warp's loop over its warpgroup's tiles (one per round). cnt: the block's counts in
 * shared memory, or a.counts itself for k > PS_SCOUNT. */
template <int OP, int NKB>
__device__ __forceinline__ void ps_consume(const fkm_cu_assign_args &a, const char *cs, char *xs, uint64_t *bars,
                                           int nbuf, int ns, int64_t r0, int64_t r1, int T, int warp, int *cnt,
                                           double *spart) {
    constexpr size_t xbytes = (size_t)RES_BM * NKB * WG_KB, cbytes = (size_t)NKB * WG_TILE;
    const int lane = threadIdx.x & 31, wg = warp >> 2, rr = (warp & 3) * 16 + (lane >> 2);
    unsigned nch = 0;
    float d[64];
    int s = 0;
    uint32_t ph = 0;
    int i = 0;
    for (int64_t r = r0; r < r1; r++, i++) {
        const int64_t u = r * RES_NWG + wg;
        const int b = i % nbuf;
        const char *xb = res_buf(xs, wg, b, nbuf, xbytes);
        mbar_wait(RES_XFULL(bars, wg, b), (i / nbuf) & 1);
        res_ready_rows<OP, NKB>(xb, wg); /* ends with a warpgroup barrier: the last tile's partials are in */
        if (i > 0) res_tile_inertia(a, u - RES_NWG, spart + (wg * 2 + ((i - 1) & 1)) * 4);
        const uint32_t xa = wg_smem(xb);
        fkm_row_in in[2];
        float bv[2] = {__int_as_float(0x7f800000), __int_as_float(0x7f800000)};
        int bi[2] = {0, 0};
#pragma unroll 1
        for (int j = 0; j < T; j++) {
            mbar_wait(PS_CFULL(bars, s), ph);
            const uint32_t ca = wg_smem(cs + (size_t)s * cbytes);
            wg_fence();
#pragma unroll
            for (int kb = 0; kb < NKB; kb++)
#pragma unroll
                for (int ks = 0; ks < WG_KB / 32; ks++)
                    wgmma_step<OP>(d, wg_desc(xa + kb * (RES_BM * WG_KB) + ks * 32), wg_desc(ca + kb * WG_TILE + ks * 32),
                                   kb > 0 || ks > 0);
            wg_commit();
            if (j == 0) res_row_inputs(a, u, rr, in); /* their latency hides behind the wgmma */
            wg_wait<0>();
            wg_regs_ready(d);
            if (lane == 0) {
                mbar_arrive(PS_CEMPTY(bars, s));
                if (j == T - 1) mbar_arrive(RES_XEMPTY(bars, wg, b));
            }
            if (++s == ns) { s = 0; ph ^= 1; }
            wg_fold(d, a.cterm, j, a.alpha, lane, bv, bi);
        }
        res_write_rows(a, u, rr, bv, bi, in, nch, cnt, spart + (wg * 2 + (i & 1)) * 4);
    }
    res_finish(a, r0 * RES_NWG + wg, i, nch, wg, cnt != a.counts ? cnt : NULL, spart);
}
#endif

/* NKB 128-byte k-blocks per row (1 or 2); one problem (b = 1), a.total_tiles tiles of RES_BM
 * points, T = a.nct centroid tiles of 128; nbuf point buffers per warpgroup, ns centroid stages. */
template <int OP, int NKB>
__global__ void __launch_bounds__(RES_NWG * 128 + 32, 1)
    fkm_assign_ps(const fkm_cu_assign_args a, const __grid_constant__ CUtensorMap xmap, int nbuf, int ns) {
#ifdef FKM_WGMMA_OK
    extern __shared__ char smem_raw[];
    char *cs = (char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    char *xs = cs + (size_t)ns * NKB * WG_TILE;
    uint64_t *bars = (uint64_t *)(xs + (size_t)RES_NWG * nbuf * RES_BM * NKB * WG_KB);
    int *scount = (int *)(bars + 2 * RES_NWG * RES_MAXBUF + 2 * PS_MAXNS);
    double *spart = (double *)(scount + PS_SCOUNT); /* [warpgroup][tile parity][warp] */
    if (a.done && a.done[0]) return;
    const bool local = a.k <= PS_SCOUNT;
    if (local)
        for (int c = threadIdx.x; c < a.k; c += blockDim.x) scount[c] = 0;
    const int warp = __shfl_sync(0xffffffffu, threadIdx.x >> 5, 0), lane = threadIdx.x & 31;
    if (threadIdx.x == 0) {
        for (int s = 0; s < RES_NWG * RES_MAXBUF; s++) {
            mbar_init(RES_XFULL(bars, 0, s), 1);  /* the producer's expect_tx */
            mbar_init(RES_XEMPTY(bars, 0, s), 4); /* one arrive per warp of the owner */
        }
        for (int s = 0; s < PS_MAXNS; s++) {
            mbar_init(PS_CFULL(bars, s), 1);
            mbar_init(PS_CEMPTY(bars, s), RES_NWG * 4); /* every consumer warp reads every stage */
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads(); /* the only block barrier: the warps run on their own from here */
    const int64_t rounds = (a.total_tiles + RES_NWG - 1) / RES_NWG;
    const int64_t r0 = rounds * blockIdx.x / gridDim.x, r1 = rounds * (blockIdx.x + 1) / gridDim.x;
    if (warp == RES_NWG * 4) {
        if (lane == 0) ps_produce<OP, NKB>(a, &xmap, cs, xs, bars, nbuf, ns, r0, r1, a.nct);
        __syncwarp();
    } else {
        ps_consume<OP, NKB>(a, cs, xs, bars, nbuf, ns, r0, r1, a.nct, warp, local ? scount : a.counts, spart);
    }
#else
    __trap();
#endif
}

/* Launch for engine e (one problem, kernel id of the streamed family), a filled as fkm_cu_assign
 * does (assign_res.cu). */
fkm_status fkm_cu_assign_ps(const fkm_cu_engine *e, fkm_cu_assign_args a);
#endif
