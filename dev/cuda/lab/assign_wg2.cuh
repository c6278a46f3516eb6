/* assign_wg2.cuh -- second Hopper assignment kernel (sm_90a): persistent blocks, point tiles by
 * TMA into two alternating buffers, centroid tiles of 64 by bulk copy, two accumulator sets per
 * warpgroup so that the argmin of tile j runs while the tensor cores compute tile j + 1, and a
 * barrier-free per-warp output stage.
 *
 * Roles: NWG consumer warpgroups (64 points each, BM = 64 * NWG) and one producer warp whose
 * lane 0 issues every copy. The producer loads the next point tile into the other buffer while
 * the current one is in use, and keeps STAGES centroid blocks (64 rows x 128-byte k-block, 8 KB,
 * stored pre-swizzled in global memory by prep.cu) in flight; stages and point buffers are
 * handed over with full/empty mbarriers. Consumers commit one wgmma group per centroid tile
 * (m64n64k16 fp16/bf16, m64n64k8 tf32 over every k-block), then wait for the previous group and
 * fold the previous tile into the running argmin (ties -> lowest index). Row results stay in
 * the warp that owns the row: labels, distances, keys, counts, changed and a per-warp inertia
 * partial (combined later in a fixed order) are written without any block barrier.
 * Kernel lab only (dev/cuda/lab/README.md): not built into the library; launched by
 * assign_wg2_launch.cu here. The body traps unless compiled for sm_90a. */
#ifndef FKM_CU_ASSIGN_WG2_CUH
#define FKM_CU_ASSIGN_WG2_CUH

#include <cudaTypedefs.h>

#include "../../../src/cuda/assign/assign_wgmma.cuh" /* mbarrier, bulk copy and wgmma helpers it shares */

#define W2_BN 64
#define W2_TILE (W2_BN * WG_KB) /* 8 KB per staged centroid block */

#ifdef FKM_WGMMA_OK
#define W2_D8(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define W2_OUTS W2_D8(0), W2_D8(8), W2_D8(16), W2_D8(24)
#define W2_REGS                                                                                            \
    "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
    "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31}"

template <int OP>
__device__ __forceinline__ void wg2_step(float (&d)[32], uint64_t da, uint64_t db, int scale_d) {
    if (OP == 0)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 " W2_REGS ", %32, %33, p, 1, 1, 0, 0;\n}\n"
                     : W2_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
    else if (OP == 1)
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 " W2_REGS ", %32, %33, p, 1, 1, 0, 0;\n}\n"
                     : W2_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
    else
        asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                     "wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32 " W2_REGS ", %32, %33, p, 1, 1;\n}\n"
                     : W2_OUTS
                     : "l"(da), "l"(db), "r"(scale_d));
}

__device__ __forceinline__ void tma_2d(void *dst, const CUtensorMap *map, int c0, int c1, uint64_t *bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
            wg_smem(dst)),
        "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(wg_smem(bar))
        : "memory");
}

/* Next tile of this block (persistent round robin), skipping finished problems; -1 at the end. */
__device__ __forceinline__ int64_t w2_next(const fkm_cu_assign_args &a, int64_t g, int64_t total) {
    for (g += gridDim.x; g < total; g += gridDim.x)
        if (!a.done || !a.done[g / a.tiles]) return g;
    return -1;
}

/* Fold one finished 64 x 64 accumulator tile into the running argmin of the thread's two rows. */
__device__ __forceinline__ void w2_fold(const float (&d)[32], const float *ctg, int j, int lane, float alpha,
                                        float (&bv)[2], int (&bi)[2]) {
#pragma unroll
    for (int q = 0; q < 8; q++) {
        const int col = j * W2_BN + q * 8 + 2 * (lane & 3);
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
#endif

template <int NWG, int STAGES, int OP, int NKB>
__global__ void __launch_bounds__(NWG * 128 + 32, 1) fkm_assign_wg2(const fkm_cu_assign_args a,
                                                                     const __grid_constant__ CUtensorMap xmap) {
#ifdef FKM_WGMMA_OK
    constexpr int BM = 64 * NWG, PW = NWG * 4, NCW = NWG * 4; /* producer warp, consumer warps */
    extern __shared__ char smem_raw[];
    char *smem = (char *)(((uintptr_t)smem_raw + 1023) & ~(uintptr_t)1023);
    constexpr int nkb = NKB; /* 128-byte k-blocks per row (a.nkc == NKB): unrolled, so each group is
                                straight-line wgmma code */
    const size_t xbytes = (size_t)BM * nkb * WG_KB;
    char *xs = smem;                          /* [2][nkb][BM][128] */
    char *cs = xs + 2 * xbytes;               /* [STAGES][64][128] */
    uint64_t *full = (uint64_t *)(cs + (size_t)STAGES * W2_TILE), *empty = full + STAGES;
    uint64_t *xfull = empty + STAGES, *xempty = xfull + 2;
    const int tid = threadIdx.x, lane = tid & 31;
    const int warp = __shfl_sync(0xffffffffu, tid >> 5, 0);
    const int64_t total = a.total_tiles;
    if (tid == 0) {
        for (int s = 0; s < STAGES; s++) { mbar_init(&full[s], 1); mbar_init(&empty[s], NCW); }
        for (int s = 0; s < 2; s++) { mbar_init(&xfull[s], 1); mbar_init(&xempty[s], NCW); }
        asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    }
    __syncthreads();
    const int T = a.nct * nkb;
    const int64_t first = w2_next(a, (int64_t)blockIdx.x - gridDim.x, total);

    if (warp == PW) {
        if (lane == 0 && first >= 0) {
            auto load_x = [&](int64_t g, int buf) {
                const int64_t prob = g / a.tiles, row = prob * a.n + (g - prob * a.tiles) * BM;
                mbar_expect_tx(&xfull[buf], (uint32_t)xbytes);
                for (int kb = 0; kb < nkb; kb++)
                    tma_2d(xs + buf * xbytes + (size_t)kb * BM * WG_KB, &xmap, kb * (WG_KB / (OP == 2 ? 4 : 2)),
                           (int)row, &xfull[buf]);
            };
            load_x(first, 0);
            uint32_t sc = 0;
            int i = 0;
            for (int64_t g = first; g >= 0; g = w2_next(a, g, total), i++) {
                const int64_t prob = g / a.tiles;
                const char *cg = a.c + (size_t)prob * (size_t)(a.kp / W2_BN) * nkb * W2_TILE;
                const int prime = T < STAGES ? T - 1 : STAGES - 1;
                for (int t = 0; t < T; t++, sc++) {
                    const int s = sc % STAGES;
                    if (sc >= STAGES) mbar_wait(&empty[s], ((sc / STAGES) + 1) & 1);
                    mbar_expect_tx(&full[s], W2_TILE);
                    bulk_g2s(cs + (size_t)s * W2_TILE, cg + (size_t)t * W2_TILE, W2_TILE, &full[s]);
                    if (t == prime) { /* the ring is primed: fetch the next point tile */
                        const int64_t gn = w2_next(a, g, total);
                        if (gn >= 0) {
                            const int nb = (i + 1) & 1;
                            if (i + 1 >= 2) mbar_wait(&xempty[nb], (((i + 1) >> 1) + 1) & 1);
                            load_x(gn, nb);
                        }
                    }
                }
            }
        }
        __syncwarp();
        return; /* no block barrier follows */
    }

    const int wg = warp >> 2, wq = warp & 3;
    const int g8 = lane >> 2;
    uint32_t sc = 0;
    int i = 0;
    /* tile indices broadcast from lane 0: warp-uniform for ptxas, so wgmma is not serialised */
    for (int64_t g = __shfl_sync(0xffffffffu, first, 0); g >= 0;
         g = __shfl_sync(0xffffffffu, w2_next(a, g, total), 0), i++) {
        const int64_t prob = g / a.tiles, row0 = (g - prob * a.tiles) * BM;
        const int buf = i & 1;
        const float *ctg = a.cterm + prob * a.kp;
        mbar_wait(&xfull[buf], (i >> 1) & 1);
        char *xb = xs + buf * xbytes;
        if (OP == 2) { /* tf32: round the point tile to nearest once (consumers only) */
            for (int v = tid; v < (int)(xbytes / 4); v += NCW * 32) {
                uint32_t *p = (uint32_t *)xb + v, r;
                asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(__uint_as_float(*p)));
                *p = r;
            }
            asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
            asm volatile("bar.sync 1, %0;\n" ::"r"(NCW * 32) : "memory");
        } else { /* a warpgroup barrier: a convergence point ptxas can see before the wgmmas */
            asm volatile("bar.sync %0, 128;\n" ::"r"(2 + wg) : "memory");
        }
        const uint32_t xa = wg_smem(xb) + wg * 64 * WG_KB;
        float bv[2] = {__int_as_float(0x7f800000), __int_as_float(0x7f800000)};
        int bi[2] = {0, 0};
        float d0[32], d1[32];
#pragma unroll
        for (int q = 0; q < 32; q++) d0[q] = d1[q] = 0.0f;
        /* Issue tile j's group into d; the stages it used are released after it completes. */
        auto issue = [&](float (&d)[32]) {
            /* all of the tile's stages first: no wait may sit between wgmmas of one group */
#pragma unroll
            for (int kb = 0; kb < nkb; kb++) mbar_wait(&full[(sc + kb) % STAGES], ((sc + kb) / STAGES) & 1);
            wg_fence();
#pragma unroll
            for (int kb = 0; kb < nkb; kb++) {
                const int s = (sc + kb) % STAGES;
                const uint32_t ca = wg_smem(cs + (size_t)s * W2_TILE), xk = xa + kb * (BM * WG_KB);
#pragma unroll
                for (int ks = 0; ks < WG_KB / 32; ks++)
                    wg2_step<OP>(d, wg_desc(xk + ks * 32), wg_desc(ca + ks * 32), kb > 0 || ks > 0);
            }
            wg_commit();
            sc += nkb;
        };
        auto release = [&](uint32_t s0) {
            if (lane == 0)
#pragma unroll
                for (int kb = 0; kb < nkb; kb++) mbar_arrive(&empty[(s0 + kb) % STAGES]);
            __syncwarp(); /* reconverged before the next wgmma (else ptxas serialises them) */
        };
        for (int j = 0; j < a.nct; j += 2) {
            const uint32_t s0 = sc;
            issue(d0);
            if (j > 0) { /* tile j - 1 (in d1) is done once only the newest group is pending */
                wg_wait<1>();
#pragma unroll
                for (int q = 0; q < 32; q++) reg_fence(d1[q]);
                release(s0 - nkb);
                w2_fold(d1, ctg, j - 1, lane, a.alpha, bv, bi);
            }
            if (j + 1 < a.nct) {
                const uint32_t s1 = sc;
                issue(d1);
                wg_wait<1>();
#pragma unroll
                for (int q = 0; q < 32; q++) reg_fence(d0[q]);
                release(s0);
                w2_fold(d0, ctg, j, lane, a.alpha, bv, bi);
                if (j + 2 >= a.nct) { /* last tile: drain */
                    wg_wait<0>();
#pragma unroll
                    for (int q = 0; q < 32; q++) reg_fence(d1[q]);
                    release(s1);
                    w2_fold(d1, ctg, j + 1, lane, a.alpha, bv, bi);
                }
            } else { /* j is the last tile */
                wg_wait<0>();
#pragma unroll
                for (int q = 0; q < 32; q++) reg_fence(d0[q]);
                release(s0);
                w2_fold(d0, ctg, j, lane, a.alpha, bv, bi);
            }
        }
        if (lane == 0) mbar_arrive(&xempty[buf]);
        __syncwarp();

        /* Rows 64 wg + 16 wq + g8 (+8): the quad's lanes hold parts of the same rows. */
        const int rows = (int)min((int64_t)BM, a.n - row0);
        double contrib = 0.0;
        int changed = 0;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float v = bv[h];
            int lab = bi[h];
            fkm_lane_argmin<1, 2>(v, lab);
            const int r = wg * 64 + wq * 16 + g8 + 8 * h;
            const bool valid = (lane & 3) == 0 && r < rows;
            const int64_t gi = prob * a.n + row0 + r;
            if (valid) {
                float dist = a.xterm[gi] + v;
                if (a.clamp && dist < 0.0f) dist = 0.0f;
                a.labels[gi] = lab;
                if (a.best) a.best[gi] = dist;
                if (a.prev) {
                    changed += a.prev[gi] != lab;
                    a.prev[gi] = lab;
                }
                if (a.keys) a.keys[gi] = (uint32_t)(prob * a.k + lab);
                contrib += (double)dist * (a.w ? (double)a.w[gi] : 1.0);
            }
            if (a.counts) {
                const unsigned vmask = __ballot_sync(0xffffffffu, valid);
                if (valid) {
                    const unsigned peers = __match_any_sync(vmask, lab);
                    if (lane == __ffs(peers) - 1) atomicAdd(&a.counts[prob * a.k + lab], __popc(peers));
                }
            }
        }
        if (a.tile_inertia) {
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, o);
            const int nch = __popc(__ballot_sync(0xffffffffu, changed != 0)) +
                            __popc(__ballot_sync(0xffffffffu, changed == 2));
            if (lane == 0) {
                a.tile_inertia[g * NCW + warp] = contrib;
                if (nch && a.stats) atomicAdd(&a.stats[prob].changed, (unsigned long long)nch);
            }
        }
        __syncwarp();
    }
#else
    __trap();
#endif
}
#endif
