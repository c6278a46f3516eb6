/* assign_mma.cuh -- fused distance + argmin on tensor cores (mma.sync, sm_80+).
 *
 * A block owns BM points and walks every centroid: for each tile of BN centroids it
 * accumulates X_tile . C_tile^T over D in fp32 on the tensor cores (m16n8k16 for fp16/bf16,
 * m16n8k8 for tf32), then turns the accumulators into scores cterm - alpha * dot and folds them
 * into a running argmin held in registers. Only labels and the best distance leave the chip.
 *
 * Data movement: centroid rows come in 128-byte chunks through a STAGES-deep cp.async ring; the
 * point tile is either loaded once and kept (XRES: the whole padded row stays in shared memory)
 * or streamed chunk by chunk beside the centroids (large D). Fragments are read with ldmatrix
 * from rows padded by 16 bytes, which keeps the eight 16-byte rows of each 8x8 matrix in
 * distinct banks. Included by assign.cu only (templates). */
#ifndef FKM_CU_ASSIGN_MMA_CUH
#define FKM_CU_ASSIGN_MMA_CUH

#include "assign_epi.cuh"

__device__ __forceinline__ uint32_t fkm_smem_addr(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* 16-byte async copy global -> shared; src_bytes = 0 writes zeros (out-of-range rows/columns). */
__device__ __forceinline__ void fkm_cp16(void *dst, const void *src, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(fkm_smem_addr(dst)), "l"(src),
                 "r"(src_bytes));
}
__device__ __forceinline__ void fkm_cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void fkm_cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

__device__ __forceinline__ void fkm_ldsm4(uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3,
                                          const void *p) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(fkm_smem_addr(p)));
}

__device__ __forceinline__ uint32_t fkm_to_tf32(uint32_t f) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(__uint_as_float(f)));
    return r;
}

/* d += a * b for one m16 x n8 tile over one 32-byte k step (16 halves or 8 floats). */
template <int OP>
__device__ __forceinline__ void fkm_mma(float *d, const uint32_t *a, const uint32_t *b) {
    if (OP == 0) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else if (OP == 1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    } else {
        asm volatile(
            "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
            "{%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
    }
}

template <int BM, int BN, int WM, int WN, int STAGES, bool XRES, int OP>
__global__ void __launch_bounds__(WM *WN * 32) fkm_assign_mma(const fkm_cu_assign_args a) {
    constexpr int NT = WM * WN * 32;
    constexpr int BKB = FKM_CU_CHUNK;      /* bytes per chunk of a row */
    constexpr int SP = BKB + 16;           /* staged row pitch */
    constexpr int WTM = BM / WM, WTN = BN / WN;
    constexpr int MT = WTM / 16, NTL = WTN / 8;
    constexpr int SROWS = XRES ? BN : BM + BN;
    constexpr int STAGE_BYTES = SROWS * SP;
    static_assert(NTL % 2 == 0, "centroid fragments are loaded two n8 tiles at a time");
    static_assert(BM <= NT, "one thread per tile row in the output stage");
    extern __shared__ __align__(128) char smem[];

    const fkm_tile_pos tp = fkm_tile_of<BM>(a);
    const int64_t prob = tp.prob, row0 = tp.row0;
    const int rows = tp.rows;
    const char *xg = tp.xg;
    if (a.done && a.done[prob]) return;
    const char *cg = a.c + prob * a.kp * a.c_pitch;
    const float *ctg = a.cterm + prob * a.kp;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp / WN, wn = warp % WN;
    const int XP = XRES ? a.nkc * BKB + 16 : SP;
    char *xs = smem;
    char *cs = smem + (XRES ? BM * XP : 0);

    /* Point tile, all chunks (XRES): one commit group ahead of the centroid stages. */
    if (XRES) {
        const int vpr = a.nkc * (BKB / 16);
        for (int v = tid; v < BM * vpr; v += NT) {
            const int r = v / vpr, cb = (v - r * vpr) * 16;
            const bool ok = r < rows && cb < a.x_bytes;
            fkm_cp16(xs + r * XP + cb, ok ? xg + (int64_t)r * a.x_pitch + cb : a.x, ok ? 16 : 0);
        }
        fkm_cp_commit();
    }
    const int T = a.nct * a.nkc;
    auto load_stage = [&](int t) {
        char *st = cs + (t % STAGES) * STAGE_BYTES;
        const int j = t / a.nkc, kc = t - j * a.nkc;
        const char *src = cg + (int64_t)j * BN * a.c_pitch + kc * BKB;
        for (int v = tid; v < BN * (BKB / 16); v += NT) {
            const int r = v >> 3, cb = (v & 7) * 16;
            fkm_cp16(st + r * SP + cb, src + (int64_t)r * a.c_pitch + cb, 16);
        }
        if (!XRES) {
            char *xd = st + BN * SP;
            for (int v = tid; v < BM * (BKB / 16); v += NT) {
                const int r = v >> 3, cb = kc * BKB + (v & 7) * 16;
                const bool ok = r < rows && cb < a.x_bytes;
                fkm_cp16(xd + r * SP + (v & 7) * 16, ok ? xg + (int64_t)r * a.x_pitch + cb : a.x, ok ? 16 : 0);
            }
        }
    };
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < T) load_stage(s);
        fkm_cp_commit();
    }

    float acc[MT][NTL][4];
    float bv[MT][2];
    int bi[MT][2];
#pragma unroll
    for (int i = 0; i < MT; i++) {
#pragma unroll
        for (int j = 0; j < NTL; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.0f;
        bv[i][0] = bv[i][1] = __int_as_float(0x7f800000);
        bi[i][0] = bi[i][1] = 0;
    }

    for (int t = 0; t < T; t++) {
        fkm_cp_wait<STAGES - 2>();
        __syncthreads();
        if (XRES && OP == 2 && t == 0) { /* tf32: round the resident point tile once (to nearest) */
            for (int v = tid; v < BM * (XP / 4); v += NT) {
                uint32_t *p = (uint32_t *)(xs + (v / (XP / 4)) * XP) + v % (XP / 4);
                *p = fkm_to_tf32(*p);
            }
            __syncthreads();
        }
        if (t + STAGES - 1 < T) load_stage(t + STAGES - 1);
        fkm_cp_commit();

        const char *st = cs + (t % STAGES) * STAGE_BYTES;
        const int j = t / a.nkc, kc = t - j * a.nkc;
        const char *xb = XRES ? xs + kc * BKB : st + BN * SP;
#pragma unroll
        for (int ks = 0; ks < BKB / 32; ks++) {
            uint32_t af[MT][4], bf[NTL][2];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) {
                const char *p = xb + (wm * WTM + mt * 16 + (lane & 15)) * XP + ks * 32 + (lane >> 4) * 16;
                fkm_ldsm4(af[mt][0], af[mt][1], af[mt][2], af[mt][3], p);
                if (OP == 2 && !XRES)
#pragma unroll
                    for (int q = 0; q < 4; q++) af[mt][q] = fkm_to_tf32(af[mt][q]);
            }
#pragma unroll
            for (int np = 0; np < NTL / 2; np++) {
                const char *p = st + (wn * WTN + np * 16 + (lane & 7) + ((lane >> 4) << 3)) * SP + ks * 32 +
                                ((lane >> 3) & 1) * 16;
                fkm_ldsm4(bf[2 * np][0], bf[2 * np][1], bf[2 * np + 1][0], bf[2 * np + 1][1], p);
            }
#pragma unroll
            for (int mt = 0; mt < MT; mt++)
#pragma unroll
                for (int nt = 0; nt < NTL; nt++) fkm_mma<OP>(acc[mt][nt], af[mt], bf[nt]);
        }

        if (kc == a.nkc - 1) { /* tile of centroids complete: fold into the running argmin */
#pragma unroll
            for (int nt = 0; nt < NTL; nt++) {
                const int col = j * BN + wn * WTN + nt * 8 + 2 * (lane & 3);
                const float2 ct = *reinterpret_cast<const float2 *>(ctg + col);
#pragma unroll
                for (int mt = 0; mt < MT; mt++) {
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const float s0 = fmaf(-a.alpha, acc[mt][nt][2 * h], ct.x);
                        const float s1 = fmaf(-a.alpha, acc[mt][nt][2 * h + 1], ct.y);
                        if (s0 < bv[mt][h]) { bv[mt][h] = s0; bi[mt][h] = col; }
                        if (s1 < bv[mt][h]) { bv[mt][h] = s1; bi[mt][h] = col + 1; }
                        acc[mt][nt][2 * h] = acc[mt][nt][2 * h + 1] = 0.0f;
                    }
                }
            }
        }
    }
    fkm_cp_wait<0>();
    __syncthreads(); /* the pipeline buffers are reused below */

    /* Each row's candidates live in the 4 lanes of a quad and in the WN warps of a warp row. */
    float *rv = reinterpret_cast<float *>(smem);
    int *ri = reinterpret_cast<int *>(smem + WN * BM * sizeof(float));
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            float v = bv[mt][h];
            int i = bi[mt][h];
            fkm_lane_argmin<1, 2>(v, i);
            if ((lane & 3) == 0) {
                const int r = wm * WTM + mt * 16 + (lane >> 2) + 8 * h;
                rv[wn * BM + r] = v;
                ri[wn * BM + r] = i;
            }
        }
    __syncthreads();
    float v = 0.0f;
    int lab = 0;
    if (tid < BM) {
        v = rv[tid];
        lab = ri[tid];
        for (int q = 1; q < WN; q++)
            if (fkm_better(rv[q * BM + tid], ri[q * BM + tid], v, lab)) { v = rv[q * BM + tid]; lab = ri[q * BM + tid]; }
    }
    __syncthreads();
    fkm_write_rows<BM>(a, prob, row0, rows, v, lab, reinterpret_cast<double *>(smem));
}
#endif
