/* assign_ps.cuh -- persistent assignment with streamed centroids for any k and any number of
 * problems on Hopper (sm_90a): the centroid-resident kernel's layout (assign_res.cuh) when the
 * centroids do not fit in shared memory.
 *
 * Why: the tile-per-block kernel (assign_wgmma.cuh) pays, block after block, its set-up, the
 * wait for its point tile and a block-wide output stage; at k = 1024 that is a block per 8
 * centroid tiles, and ncu put a third of its warp samples there (NOTES.md v8, item 6).
 *
 *   - One block per SM walks a range of rounds; a round is RES_NWG point tiles of RES_BM rows of
 *     one problem, one per consumer warpgroup, each into that warpgroup's own ring of nbuf TMA
 *     buffers (a 3-D tensor map: rows past a problem's n read as zeros).
 *   - The centroid tiles (128 centroids, prep.cu's swizzled image) stream through a ring of ns
 *     stages that all consumer warpgroups read: every round reads tiles 0 .. T-1 in order, and a
 *     stage is released once all RES_NWG * 4 consumer warps are done with it.
 *   - The producer (one lane) issues the points of round i + nbuf - 1 right after centroid tile
 *     min(ns, T) - 1 of round i: by then the ring's wait has seen round i - 1 finish, which is
 *     when those point buffers come free, so the wait costs nothing.
 *   - Per centroid tile: one wgmma group, wait, fold; per tile of points the resident kernel's
 *     per-warp output stage; cluster counts per block in shared memory for k <= PS_SCOUNT, else
 *     one global atomic per row (spread over many counters there).
 * Rows past n (a problem's last round) are computed on zeros and not written.
 * Included by assign_res.cu. */
#ifndef FKM_CU_ASSIGN_PS_CUH
#define FKM_CU_ASSIGN_PS_CUH

#include "assign_res.cuh"

#ifdef FKM_WGMMA_OK
/* Barriers after the resident kernel's xfull, xempty: cfull[PS_MAXNS], cempty[PS_MAXNS]. */
#define PS_CFULL(bars, s) ((bars) + 2 * RES_NWG * RES_MAXBUF + (s))
#define PS_CEMPTY(bars, s) ((bars) + 2 * RES_NWG * RES_MAXBUF + PS_MAXNS + (s))

/* Rounds are numbered over all problems: round r is round r % rpp (rpp = rounds per problem) of
 * problem r / rpp, and holds that problem's tiles RES_NWG * (r % rpp) + w, w = 0 .. RES_NWG - 1. */
struct ps_round {
    int p, t0; /* problem, its first tile (32 bits: the engine takes fewer than 2^31 points) */
};
__device__ __forceinline__ ps_round ps_round_of(int r, int rpp) {
    const int p = r / rpp;
    return {p, (r - p * rpp) * RES_NWG};
}
/* The first round from r on (before r1) whose problem has not converged: rounds of converged
 * problems are skipped (the producer decides; the consumers learn each round from ps_points).
 * seen caches the last problem looked up (2p + its flag; -1 none). */
__device__ __forceinline__ int ps_next(const fkm_cu_assign_args &a, int r, int r1, int rpp, int &seen) {
    if (!a.done) return r;
    for (; r < r1; r++) {
        const int p = r / rpp;
        if (seen >> 1 != p || seen < 0) seen = 2 * p + (a.done[p] ? 1 : 0);
        if (!(seen & 1)) break;
    }
    return r;
}

/* The points of round q (the block's i-th active one) into buffer i % nbuf of each warpgroup,
 * once that buffer's previous tile is released, with the round itself in that buffer's slot of
 * info (read by the consumers after the buffer's full barrier; q.p < 0: no more rounds, and no
 * copy). Telling the consumers which round comes keeps the skipping of converged problems out of
 * their registers: with it there, they spilled inside the main loop (K = 65536: 571 -> 443
 * TFLOP/s, H100). */
template <int OP, int NKB>
__device__ __forceinline__ void ps_points(const CUtensorMap *xmap, char *xs, uint64_t *bars, ps_round *info,
                                          int nbuf, ps_round q, int i) {
    constexpr uint32_t xbytes = RES_BM * NKB * WG_KB;
    const int b = i % nbuf;
#pragma unroll 1
    for (int wg = 0; wg < RES_NWG; wg++) {
        if (i >= nbuf) mbar_wait(RES_XEMPTY(bars, wg, b), ((i / nbuf) + 1) & 1);
        info[wg * RES_MAXBUF + b] = q; /* published by the arrive below (release) */
        if (q.p < 0) {
            mbar_arrive(RES_XFULL(bars, wg, b));
            continue;
        }
        mbar_expect_tx(RES_XFULL(bars, wg, b), xbytes);
        res_load_tile<OP, NKB>(res_buf(xs, wg, b, nbuf, xbytes), xmap, (q.t0 + wg) * RES_BM, q.p,
                               RES_XFULL(bars, wg, b));
    }
}

/* The producer: for each active round, its problem's centroid tiles 0 .. T-1 into the stage ring,
 * with the points of the active round nbuf - 1 ahead slotted in after tile min(ns, T) - 1 (see
 * the top of the file). */
template <int OP, int NKB>
__device__ __forceinline__ void ps_produce(const fkm_cu_assign_args &a, const CUtensorMap *xmap, char *cs, char *xs,
                                           uint64_t *bars, ps_round *info, int nbuf, int ns, int r0, int r1, int rpp,
                                           int T) {
    constexpr uint32_t cbytes = NKB * WG_TILE;
    const int jp = (ns < T ? ns : T) - 1;
    int seen = -1, seen2 = -1;
    int pr = ps_next(a, r0, r1, rpp, seen2); /* the next round whose points go out, the pi-th active one */
    int pi = 0;
    for (; pi < nbuf - 1 && pr < r1; pi++, pr = ps_next(a, pr + 1, r1, rpp, seen2))
        ps_points<OP, NKB>(xmap, xs, bars, info, nbuf, ps_round_of(pr, rpp), pi);
    int s = 0;
    uint32_t ph = 0;
    bool first = true;
    for (int r = ps_next(a, r0, r1, rpp, seen); r < r1; r = ps_next(a, r + 1, r1, rpp, seen)) {
        const char *cg = a.c + (size_t)(r / rpp) * (size_t)(a.kp / WG_BN) * cbytes;
        for (int j = 0; j < T; j++) {
            if (!first) mbar_wait(PS_CEMPTY(bars, s), ph ^ 1);
            mbar_expect_tx(PS_CFULL(bars, s), cbytes);
            bulk_g2s(cs + (size_t)s * cbytes, cg + (size_t)j * cbytes, cbytes, PS_CFULL(bars, s));
            if (++s == ns) { s = 0; ph ^= 1; first = false; }
            if (j == jp && pr < r1) {
                ps_points<OP, NKB>(xmap, xs, bars, info, nbuf, ps_round_of(pr, rpp), pi);
                pi++;
                pr = ps_next(a, pr + 1, r1, rpp, seen2);
            }
        }
    }
    ps_points<OP, NKB>(xmap, xs, bars, info, nbuf, ps_round{-1, 0}, pi); /* the end */
}

/* A consumer warp's loop over its warpgroup's tiles (one per active round). scount: the block's
 * counts in shared memory for k <= PS_SCOUNT (flushed when the block moves to another problem),
 * else NULL (one global atomic per row). */
template <int OP, int NKB, bool CERT>
__device__ __forceinline__ void ps_consume(const fkm_cu_assign_args &a, const char *cs, char *xs, uint64_t *bars,
                                           const ps_round *info, int nbuf, int ns, int T, int warp, int *scount,
                                           double *spart) {
    constexpr size_t xbytes = (size_t)RES_BM * NKB * WG_KB, cbytes = (size_t)NKB * WG_TILE;
    const int lane = threadIdx.x & 31, wg = warp >> 2, rr = (warp & 3) * 16 + (lane >> 2);
    unsigned nch = 0;
    float d[64];
    int s = 0;
    uint32_t ph = 0;
    int i = 0;
    int pp = -1, uprev = -1; /* the previous round's problem, and this warpgroup's tile there */
    for (;; i++) {
        const int b = i % nbuf;
        mbar_wait(RES_XFULL(bars, wg, b), (i / nbuf) & 1);
        const ps_round q = info[wg * RES_MAXBUF + b];
        if (q.p < 0) break;
        const int t = q.t0 + wg, u = t < a.tiles ? q.p * (int)a.tiles + t : -1;
        if (pp >= 0 && q.p != pp) res_flush(a, pp, nch, scount, true);
        pp = q.p;
        const char *xb = res_buf(xs, wg, b, nbuf, xbytes);
        res_ready_rows<OP, NKB>(xb, wg); /* ends with a warpgroup barrier: the last tile's partials are in */
        if (i > 0) res_tile_inertia(a, uprev, spart + (wg * 2 + ((i - 1) & 1)) * 4);
        uprev = u;
        const uint32_t xa = wg_smem(xb);
        fkm_row_in in[2];
        float bv[2] = {__int_as_float(0x7f800000), __int_as_float(0x7f800000)}, R[2], l2[2] = {bv[0], bv[1]};
        int bi[2] = {0, 0};
        const float alpha = CERT ? a.calpha[q.p] : a.alpha;
#pragma unroll 1
        for (int j = 0; j < T; j++) {
            mbar_wait(PS_CFULL(bars, s), ph);
            res_issue_tile<OP, NKB>(d, xa, wg_smem(cs + (size_t)s * cbytes));
            if (j == 0) { /* their latency hides behind the wgmma */
                if constexpr (CERT) res_row_bounds(a, q.p, t, rr, R);
                else res_row_inputs(a, q.p, t, rr, in);
            }
            wg_wait<0>();
            wg_regs_ready(d);
            if (lane == 0) {
                mbar_arrive(PS_CEMPTY(bars, s));
                if (j == T - 1) mbar_arrive(RES_XEMPTY(bars, wg, b));
            }
            if (++s == ns) { s = 0; ph ^= 1; }
            if constexpr (CERT) wg_fold_cert(d, a.cterm + q.p * a.kp, a.cn + q.p * a.kp, j, alpha, lane, R, bv, bi, l2);
            else wg_fold(d, a.cterm + q.p * a.kp, j, alpha, lane, bv, bi);
        }
        if constexpr (CERT) {
            res_write_cert(a, q.p, t, rr, bv, bi, l2);
            continue;
        }
        int *cnt = scount ? scount : a.counts ? a.counts + (int64_t)q.p * a.k : NULL;
        res_write_rows(a, q.p, t, rr, bv, bi, in, nch, cnt, spart + (wg * 2 + (i & 1)) * 4);
    }
    if (pp >= 0) res_finish(a, uprev, i, nch, wg, pp, scount, spart);
}
#endif

/* NKB 128-byte k-blocks per row (1 or 2); a.total_tiles = b x a.tiles tiles of RES_BM points,
 * T = a.nct centroid tiles of 128 per problem; nbuf point buffers per warpgroup, ns centroid
 * stages. */
template <int OP, int NKB, bool CERT = false>
__global__ void __launch_bounds__(RES_NWG * 128 + 32, 1)
    fkm_assign_ps(const fkm_cu_assign_args a, const __grid_constant__ CUtensorMap xmap, int nbuf, int ns) {
#ifdef FKM_WGMMA_OK
    extern __shared__ char smem_raw[];
    char *cs = (char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    char *xs = cs + (size_t)ns * NKB * WG_TILE;
    uint64_t *bars = (uint64_t *)(xs + (size_t)RES_NWG * nbuf * RES_BM * NKB * WG_KB);
    int *scount = (int *)(bars + 2 * RES_NWG * RES_MAXBUF + 2 * PS_MAXNS);
    double *spart = (double *)(scount + PS_SCOUNT); /* [warpgroup][tile parity][warp] */
    ps_round *info = (ps_round *)(spart + RES_NWG * 2 * 4); /* [warpgroup][buffer] */
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
    const int rpp = (int)((a.tiles + RES_NWG - 1) / RES_NWG), rounds = rpp * (int)(a.total_tiles / a.tiles);
    const int r0 = (int)((int64_t)rounds * blockIdx.x / gridDim.x), r1 = (int)((int64_t)rounds * (blockIdx.x + 1) / gridDim.x);
    if (warp == RES_NWG * 4) {
        if (lane == 0) ps_produce<OP, NKB>(a, &xmap, cs, xs, bars, info, nbuf, ns, r0, r1, rpp, a.nct);
        __syncwarp();
    } else {
        ps_consume<OP, NKB, CERT>(a, cs, xs, bars, info, nbuf, ns, a.nct, warp, local ? scount : NULL, spart);
    }
#else
    __trap();
#endif
}

/* Launch for engine e (kernel id of the streamed family), a filled as fkm_cu_assign
 * does (assign_res.cu). */
fkm_status fkm_cu_assign_ps(const fkm_cu_engine *e, fkm_cu_assign_args a, int cert);
#endif
