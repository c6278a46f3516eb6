/* assign_wgmma.cuh -- fused distance + argmin on Hopper (sm_90a): warpgroup MMA (wgmma) with a
 * bulk-copy producer warp and mbarrier-synchronised stages.
 *
 * Block = NWG consumer warpgroups (64 points each, BM = 64 * NWG) + 1 producer warp.
 *   - The point tile is loaded once (cp.async, all threads) into shared memory in the 128-byte
 *     swizzled K-major layout that wgmma descriptors address: [k-block][BM rows][128 bytes],
 *     16-byte chunk c of row r stored at chunk c ^ (r & 7).
 *   - The centroid copy in global memory is already stored tile by tile in that exact image
 *     (prep.cu writes it so): one 16 KB block per (centroid tile of 128, 128-byte k-block). The
 *     producer's lane 0 moves each block with one cp.async.bulk that completes on the stage's
 *     "full" mbarrier; consumers release a stage on its "empty" mbarrier once their wgmma that
 *     read it has finished.
 *   - Each consumer warpgroup accumulates 64 x 128 scores in fp32 registers over D with
 *     m64n128k16 (fp16/bf16) or m64n128k8 (tf32) and folds each finished tile into a running
 *     argmin (ties to the lowest index). Warpgroups run independently (no block barrier in the
 *     loop), so one's argmin overlaps the others' matrix work.
 * Included by assign.cu only. The body compiles to a trap for other targets; the chooser only
 * picks it on compute capability 9.0. */
#ifndef FKM_CU_ASSIGN_WGMMA_CUH
#define FKM_CU_ASSIGN_WGMMA_CUH

#include "assign_epi.cuh"
#include "assign_wgmma_smem.h"
#include "cert.cuh"

#define WG_BN 128           /* centroids per tile */
#define WG_KB 128           /* bytes per k-block row */
#define WG_TILE (WG_BN * WG_KB) /* bytes per staged centroid block */

#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ == 900) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FKM_WGMMA_OK 1
#endif

__device__ __forceinline__ uint32_t wg_smem(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

__device__ __forceinline__ uint64_t wg_desc(uint32_t saddr) {
    /* start address, leading byte offset 16 (unused for swizzled K-major), stride byte offset
     * 1024 (8 rows x 128 bytes), 128-byte swizzle */
    return (uint64_t)((saddr & 0x3FFFF) >> 4) | ((uint64_t)1 << 16) | ((uint64_t)(1024 >> 4) << 32) |
           ((uint64_t)1 << 62);
}

#ifdef FKM_WGMMA_OK
__device__ __forceinline__ void mbar_init(uint64_t *b, int count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(wg_smem(b)), "r"(count));
}
__device__ __forceinline__ void mbar_arrive(uint64_t *b) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(wg_smem(b)) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t *b, uint32_t bytes) {
    asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(wg_smem(b)),
                 "r"(bytes)
                 : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t *b, uint32_t parity) {
    asm volatile(
        "{\n.reg .pred p;\nWAIT_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
        "@!p bra WAIT_%=;\n}\n" ::"r"(wg_smem(b)),
        "r"(parity)
        : "memory");
}
__device__ __forceinline__ void bulk_g2s(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     wg_smem(dst)),
                 "l"(src), "r"(bytes), "r"(wg_smem(bar))
                 : "memory");
}
__device__ __forceinline__ void wg_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wg_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wg_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory"); }
__device__ __forceinline__ void reg_fence(float &r) { asm volatile("" : "+f"(r)::"memory"); }

#define WG_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define WG_OUTS WG_D8(0), WG_D8(8), WG_D8(16), WG_D8(24), WG_D8(32), WG_D8(40), WG_D8(48), WG_D8(56)
#define WG_REGS                                                                                              \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, " \
    "%23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, "   \
    "%44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}"

/* d (+)= A * B^T for 64 x 128 over one 32-byte k step; scale_d = 0 overwrites d. */
template <int OP>
__device__ __forceinline__ void wgmma_step(float (&d)[64], uint64_t da, uint64_t db, int scale_d) {
    if (OP == 0)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16 " WG_REGS ", %64, %65, p, 1, 1, 0, 0;\n}\n"
                     : WG_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
    else if (OP == 1)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 " WG_REGS ", %64, %65, p, 1, 1, 0, 0;\n}\n"
                     : WG_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n128k8.f32.tf32.tf32 " WG_REGS ", %64, %65, p, 1, 1;\n}\n"
                     : WG_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
}
#endif

#ifdef FKM_WGMMA_OK
/* Fold a finished 64 x 128 score tile (centroid tile j) into the running argmin. Thread layout of
 * the m64n128 accumulator: d[4q + 2h + {0,1}] is row (lane / 4) + 8h of the warp's 16, columns
 * 8q + 2 (lane % 4) + {0,1}. Columns rise with q, so strict < keeps the lowest index on ties. */
__device__ __forceinline__ void wg_fold(const float (&d)[64], const float *ctg, int j, float alpha, int lane,
                                        float (&bv)[2], int (&bi)[2]) {
#pragma unroll
    for (int q = 0; q < 16; q++) {
        const int col = j * WG_BN + q * 8 + 2 * (lane & 3);
        const float2 ct = *reinterpret_cast<const float2 *>(ctg + col);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            const float s0 = fmaf(-alpha, d[4 * q + 2 * h], ct.x);
            const float s1 = fmaf(-alpha, d[4 * q + 2 * h + 1], ct.y);
            if (s0 < bv[h]) { bv[h] = s0; bi[h] = col; }
            if (s1 < bv[h]) { bv[h] = s1; bi[h] = col + 1; }
        }
    }
}

/* The certified fold (cert.cuh): per score s^ = fma(-alpha, acc, t_c) (alpha: alpha / sigma^2) and
 * its lower bound lo = fma(-R, n_c, s^) into the running pair of each row. */
__device__ __forceinline__ void wg_fold_cert(const float (&d)[64], const float *ctg, const float *cng, int j,
                                             float alpha, int lane, const float (&R)[2], float (&l1)[2], int (&i1)[2],
                                             float (&l2)[2]) {
#pragma unroll
    for (int q = 0; q < 16; q++) {
        const int col = j * WG_BN + q * 8 + 2 * (lane & 3);
        const float2 ct = *reinterpret_cast<const float2 *>(ctg + col);
        const float2 cn = *reinterpret_cast<const float2 *>(cng + col);
#pragma unroll
        for (int h = 0; h < 2; h++) {
            cert_take(fmaf(-R[h], cn.x, fmaf(-alpha, d[4 * q + 2 * h], ct.x)), col, l1[h], i1[h], l2[h]);
            cert_take(fmaf(-R[h], cn.y, fmaf(-alpha, d[4 * q + 2 * h + 1], ct.y)), col + 1, l1[h], i1[h], l2[h]);
        }
    }
}
#endif

#ifdef FKM_WGMMA_OK
/* Block set-up shared by the wgmma kernels. The producer warp sets up the stage barriers and
 * starts the first centroid copies before the point tile is loaded, so the two latencies overlap
 * instead of adding up (blocks that scan few centroid tiles -- small k -- are dominated by such
 * fixed costs); every thread then copies 16-byte pieces of the point tile into their swizzled
 * places. Ends with a block barrier: consumers touch the stage barriers only after it. */
template <int NWG, int STAGES, int OP>
__device__ __forceinline__ void wg_setup(const fkm_cu_assign_args &a, const fkm_tile_pos &tp, char *xs, char *cs,
                                         uint64_t *full, uint64_t *empty, const char *cg, int T, int warp) {
    constexpr int BM = 64 * NWG, NT = NWG * 128 + 32, PW = NWG * 4;
    const int tid = threadIdx.x, lane = tid & 31, nkb = a.nkc;
    if (warp == PW && lane == 0) {
        for (int s = 0; s < STAGES; s++) {
            mbar_init(&full[s], 1);
            mbar_init(&empty[s], NWG * 4);
        }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
        for (int t = 0; t < T && t < STAGES; t++) {
            mbar_expect_tx(&full[t], WG_TILE);
            bulk_g2s(cs + (size_t)t * WG_TILE, cg + (size_t)t * WG_TILE, WG_TILE, &full[t]);
        }
    }
    for (int v = tid; v < BM * nkb * 8; v += NT) {
        const int kb = v / (BM * 8), rem = v - kb * BM * 8, r = rem >> 3, c = rem & 7;
        const int cb = kb * WG_KB + c * 16;
        const bool ok = r < tp.rows && cb < a.x_bytes;
        char *dst = xs + ((size_t)kb * BM + r) * WG_KB + ((c ^ (r & 7)) << 4);
        const void *src = ok ? (const void *)(tp.xg + (int64_t)r * a.x_pitch + cb) : (const void *)a.x;
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(wg_smem(dst)), "l"(src), "r"(ok ? 16 : 0));
    }
    asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;\n" ::: "memory");
    if (OP == 2) /* tf32: each thread rounds the pieces it copied (its own copies are complete and
                  * visible to it after the wait: no block barrier), 16 bytes at a time */
        for (int v = tid; v < BM * nkb * 8; v += NT) {
            const int kb = v / (BM * 8), rem = v - kb * BM * 8, r = rem >> 3, c = rem & 7;
            uint4 *p = reinterpret_cast<uint4 *>(xs + ((size_t)kb * BM + r) * WG_KB + ((c ^ (r & 7)) << 4));
            uint4 q = *p;
            asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(q.x) : "f"(__uint_as_float(q.x)));
            asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(q.y) : "f"(__uint_as_float(q.y)));
            asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(q.z) : "f"(__uint_as_float(q.z)));
            asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(q.w) : "f"(__uint_as_float(q.w)));
            *p = q;
        }
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); /* generic writes -> wgmma reads */
    __syncthreads();
}

/* The producer warp's loop: block t (the first STAGES went out in wg_setup) into stage t % STAGES
 * once the consumers have released that stage's previous use. */
template <int STAGES>
__device__ __forceinline__ void wg_produce(const fkm_cu_assign_args &a, char *cs, uint64_t *full, uint64_t *empty,
                                           const char *cg, int T) {
    if ((threadIdx.x & 31) == 0)
        for (int t = STAGES; t < T; t++) {
            const int s = t % STAGES;
            mbar_wait(&empty[s], ((t / STAGES) + 1) & 1);
            mbar_expect_tx(&full[s], WG_TILE);
            bulk_g2s(cs + (size_t)s * WG_TILE, cg + (size_t)t * WG_TILE, WG_TILE, &full[s]);
        }
    __syncwarp();
}

/* Row results: lanes of a quad share a row; warp w of warpgroup g holds rows 64g + 16w + {0..15}.
 * Called by every thread once all stages are consumed (the stage buffers become scratch). */
template <int NWG>
__device__ __forceinline__ void wg_finish(const fkm_cu_assign_args &a, const fkm_tile_pos &tp, char *cs, int warp,
                                          float (&bv)[2], int (&bi)[2], const fkm_row_in &in) {
    constexpr int BM = 64 * NWG, PW = NWG * 4;
    const int tid = threadIdx.x, lane = tid & 31;
#pragma unroll
    for (int h = 0; h < 2; h++) fkm_lane_argmin<1, 2>(bv[h], bi[h]);
    __syncthreads();
    float *rv = reinterpret_cast<float *>(cs);
    int *ri = reinterpret_cast<int *>(cs + BM * sizeof(float));
    if (warp < PW && (lane & 3) == 0) {
        const int r = (warp >> 2) * 64 + (warp & 3) * 16 + (lane >> 2);
        rv[r] = bv[0]; ri[r] = bi[0];
        rv[r + 8] = bv[1]; ri[r + 8] = bi[1];
    }
    __syncthreads();
    const float v = tid < BM ? rv[tid] : 0.0f;
    const int lab = tid < BM ? ri[tid] : 0;
    __syncthreads();
    fkm_write_rows<BM>(a, tp.prob, tp.row0, tp.rows, v, lab, reinterpret_cast<double *>(cs), in);
}
#endif

/* The kernels' shared-memory carve-up: [point tile][STAGES x 16 KB][full, empty mbarriers]. */
#define WG_CARVE(NWG, STAGES)                                                                   \
    extern __shared__ char smem_raw[];                                                           \
    char *smem = (char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);                      \
    char *xs = smem;                                                                             \
    char *cs = xs + (size_t)(64 * (NWG)) * a.nkc * WG_KB;                                        \
    uint64_t *full = (uint64_t *)(cs + (size_t)(STAGES) * WG_TILE), *empty = full + (STAGES)

#ifdef FKM_WGMMA_OK
/* One whole centroid tile (NKB k-blocks, all stages waited for first) as one wgmma group into d. */
template <int OP, int NKB, int STAGES, int BM>
__device__ __forceinline__ void wg_issue_tile(float (&d)[64], int j, uint32_t xa, const char *cs, uint64_t *full) {
    const int t0 = j * NKB;
#pragma unroll
    for (int kb = 0; kb < NKB; kb++) mbar_wait(&full[(t0 + kb) % STAGES], ((t0 + kb) / STAGES) & 1);
    wg_fence();
#pragma unroll
    for (int kb = 0; kb < NKB; kb++) {
        const uint32_t ca = wg_smem(cs + (size_t)((t0 + kb) % STAGES) * WG_TILE), xk = xa + kb * (BM * WG_KB);
#pragma unroll
        for (int ks = 0; ks < WG_KB / 32; ks++)
            wgmma_step<OP>(d, wg_desc(xk + ks * 32), wg_desc(ca + ks * 32), kb > 0 || ks > 0);
    }
    wg_commit();
}
/* Release tile j's NKB stages (one arrive per warp) once its group has completed. */
template <int NKB, int STAGES>
__device__ __forceinline__ void wg_release_tile(int j, uint64_t *empty, int lane) {
    if (lane == 0)
#pragma unroll
        for (int kb = 0; kb < NKB; kb++) mbar_arrive(&empty[(j * NKB + kb) % STAGES]);
}
__device__ __forceinline__ void wg_regs_ready(float (&d)[64]) {
#pragma unroll
    for (int i = 0; i < 64; i++) reg_fence(d[i]);
}
#endif

#ifdef FKM_WGMMA_OK
/* Main loop, any number of k-blocks per row (NKB = 0; D = 512 fp16 has 8): one wgmma group per
 * 128-byte k-block, waited for before the next is issued; a tile is folded once its last k-block
 * is in. ptxas injects waits on the accumulators at this loop's edge (C7517: a group is carried
 * over the back edge and retired by a wait_group 1), which the tile-grouped loop below avoids. */
template <int NWG, int STAGES, int OP>
__device__ __forceinline__ void wg_loop_kblocks(const fkm_cu_assign_args &a, const float *ctg, uint32_t xa,
                                                const char *cs, uint64_t *full, uint64_t *empty, int lane,
                                                float (&bv)[2], int (&bi)[2]) {
    constexpr int BM = 64 * NWG;
    const int nkb = a.nkc, T = a.nct * nkb;
    float d[64];
#pragma unroll
    for (int i = 0; i < 64; i++) d[i] = 0.0f;
    for (int t = 0; t < T; t++) {
        const int s = t % STAGES, j = t / nkb, kb = t - j * nkb;
        mbar_wait(&full[s], (t / STAGES) & 1);
        const uint32_t ca = wg_smem(cs + (size_t)s * WG_TILE), xk = xa + kb * (BM * WG_KB);
        wg_fence();
#pragma unroll
        for (int ks = 0; ks < WG_KB / 32; ks++)
            wgmma_step<OP>(d, wg_desc(xk + ks * 32), wg_desc(ca + ks * 32), kb > 0 || ks > 0);
        wg_commit();
        /* Release each stage exactly once, after the group that read it has completed. */
        if (kb == nkb - 1) {
            wg_wait<0>();
            wg_regs_ready(d);
            if (lane == 0) {
                if (kb > 0) mbar_arrive(&empty[(t - 1) % STAGES]);
                mbar_arrive(&empty[s]);
            }
            wg_fold(d, ctg, j, a.alpha, lane, bv, bi);
        } else {
            wg_wait<1>(); /* the previous k-block's group is done (same tile: not yet released) */
            if (kb > 0 && lane == 0) mbar_arrive(&empty[(t - 1) % STAGES]);
        }
    }
}
/* Main loop, tile-grouped, for NKB = 1, 2 or 4 k-blocks per row: each centroid tile's stages are
 * all waited for before its first wgmma and the tile is ONE group into 64 x 128 accumulators,
 * then wait and fold; no accumulator is live across a partial wait (fp16 D = 128: 455 against 413
 * TFLOP/s for the loop above, H100). Tried and dropped (dev/cuda/NOTES.md v8): two 64 x 128
 * accumulators (tile j+1 issued before tile j's argmin; one block per SM: 320 TFLOP/s); half
 * tiles of 64 centroids with the folds interleaved (449); a two-CTA cluster sharing centroid
 * tiles by multicast (255); two argmin chains per row (453); a persistent grid whose warpgroups
 * reload their own rows (420); per-warp output with no block barrier and tf32 rounded on the way
 * in (417). */
template <int NWG, int STAGES, int OP, int NKB>
__device__ __forceinline__ void wg_loop_tiles(const fkm_cu_assign_args &a, const float *ctg, uint32_t xa,
                                              const char *cs, uint64_t *full, uint64_t *empty, int lane,
                                              float (&bv)[2], int (&bi)[2]) {
    static_assert(STAGES >= NKB, "a tile's stages must fit the ring");
    float d[64];
    for (int j = 0; j < a.nct; j++) {
        wg_issue_tile<OP, NKB, STAGES, 64 * NWG>(d, j, xa, cs, full);
        wg_wait<0>();
        wg_regs_ready(d);
        wg_release_tile<NKB, STAGES>(j, empty, lane);
        wg_fold(d, ctg, j, a.alpha, lane, bv, bi);
    }
}
#endif

/* The wgmma assignment kernel: NWG consumer warpgroups + the producer warp; NKB = 0 any row width
 * (one group per k-block), else NKB k-blocks per row (one group per centroid tile). The
 * warpgroups consume the same stages and drift into lockstep, so their folds tend to coincide;
 * making them take turns (ping-pong, FlashAttention-3 style) measured no faster on the H100
 * (NOTES.md v4). Two warpgroups: ask for two blocks per SM (96 registers, no spills) so one
 * block's point-tile load and output stage overlap the other's matrix work (fp16 D = 128:
 * 372 -> 413 TFLOP/s). */
template <int NWG, int STAGES, int OP, int NKB>
__global__ void __launch_bounds__(NWG * 128 + 32, NWG == 2 ? 2 : 1) fkm_assign_wgmma(const fkm_cu_assign_args a) {
#ifdef FKM_WGMMA_OK
    constexpr int BM = 64 * NWG, PW = NWG * 4; /* PW: the producer warp's index */
    WG_CARVE(NWG, STAGES);
    const fkm_tile_pos tp = fkm_tile_of<BM>(a);
    if (a.done && a.done[tp.prob]) return;
    const int lane = threadIdx.x & 31, T = a.nct * a.nkc;
    const int warp = __shfl_sync(0xffffffffu, threadIdx.x >> 5, 0); /* warp-uniform for the compiler */
    const char *cg = a.c + (size_t)tp.prob * (size_t)(a.kp / WG_BN) * a.nkc * WG_TILE;
    wg_setup<NWG, STAGES, OP>(a, tp, xs, cs, full, empty, cg, T, warp);
    const fkm_row_in in = fkm_row_inputs<BM>(a, tp.prob, tp.row0, tp.rows); /* used after the loop */

    float bv[2] = {__int_as_float(0x7f800000), __int_as_float(0x7f800000)};
    int bi[2] = {0, 0};
    if (warp == PW) {
        wg_produce<STAGES>(a, cs, full, empty, cg, T);
    } else {
        const uint32_t xa = wg_smem(xs) + (warp >> 2) * 64 * WG_KB;
        const float *ctg = a.cterm + tp.prob * a.kp;
        if constexpr (NKB == 0) wg_loop_kblocks<NWG, STAGES, OP>(a, ctg, xa, cs, full, empty, lane, bv, bi);
        else wg_loop_tiles<NWG, STAGES, OP, NKB>(a, ctg, xa, cs, full, empty, lane, bv, bi);
    }
    wg_finish<NWG>(a, tp, cs, warp, bv, bi, in);
#else
    __trap();
#endif
}
#endif
