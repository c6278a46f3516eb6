/* assign_wg2_launch.cu -- host side of the persistent wgmma kernel (assign_wg2.cuh), kept with it
 * in the kernel lab. This is what src/cuda/assign/assign.cu, assign/tuning.cu and engine.cu did for it while it
 * was opt-in there (FKM_CU_KERNEL=25..33, until the move to dev/cuda/lab/); not built into the
 * library. Compile check (sm_90a, from the repository root):
 *   nvcc -std=c++17 -arch=sm_90a -Isrc -Iinclude -c dev/cuda/lab/assign_wg2_launch.cu -o /tmp/wg2.o
 *
 * What the engine must provide for it (beyond the default wgmma kernel's layout):
 *   - a centroid pitch of a power of two 128-byte k-blocks, 1, 2 or 4 (lab_wg2_nkb; wider rows do
 *     not fit), and the centroid copy pre-swizzled in tiles of 64 rows (fkm_cc_row with tiled = 64);
 *   - one inertia partial per consumer warp and point tile (lab_wg2_parts), not one per tile;
 *   - the points' TMA descriptor (lab_wg2_make_xmap), rebuilt whenever x moves;
 *   - the launch: one block per SM at most (persistent), a.nct counted in tiles of 64. */
#include "assign_wg2.cuh"

#include <cudaTypedefs.h>
#include <stdint.h>

/* Configurations: consumer warpgroups of 64 points, stages of 64 centroids x 128 bytes. */
typedef struct {
    int nwg, stages;
} lab_wg2_cfg;
static const lab_wg2_cfg lab_wg2_cfgs[3] = {
    {3, 8},  /* 0: 192 points, 8 stages (13 warps: 128 registers each, no spills) */
    {2, 8},  /* 1: 128 points (rows up to 512 bytes) */
    {3, 12}, /* 2: 192 points, 12 stages */
};

/* 128-byte k-blocks for a row of dcp_bytes: a power of two (the kernel unrolls 1, 2 or 4). */
int lab_wg2_nkb(int64_t dcp_bytes) {
    int n = 1;
    while ((int64_t)n * 128 < dcp_bytes) n *= 2;
    return n;
}

/* [1024 slack][2 point buffers 64*nwg rows x nkb x 128 B][stages x 8 KB][mbarriers] */
size_t lab_wg2_smem(int cfg, int nkb) {
    const lab_wg2_cfg *w = &lab_wg2_cfgs[cfg];
    if (nkb > 4) return SIZE_MAX;
    return 1024 + 2 * (size_t)64 * w->nwg * nkb * 128 + (size_t)w->stages * 64 * 128 + 8 * (size_t)(2 * w->stages + 4);
}

int lab_wg2_bm(int cfg) { return 64 * lab_wg2_cfgs[cfg].nwg; }
int lab_wg2_parts(int cfg) { return 4 * lab_wg2_cfgs[cfg].nwg; }

/* The point tile's TMA descriptor: rows of dp elements (es bytes each, ctype FKM_CT_*), boxes of
 * one 128-byte k-block x bm rows, 128-byte swizzle; out-of-range rows and columns read as zeros.
 * The encoder is fetched through the runtime, so no link against libcuda is needed. */
cudaError_t lab_wg2_make_xmap(CUtensorMap *m, const void *x, int64_t dp, int64_t rows, int es, int ctype, int bm) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
    if (!encode) {
        cudaDriverEntryPointQueryResult q;
        void *fn = NULL;
        cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q);
        if (e != cudaSuccess) return e;
        if (q != cudaDriverEntryPointSuccess || !fn) return cudaErrorNotSupported;
        encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
    }
    const cuuint64_t dims[2] = {(cuuint64_t)dp, (cuuint64_t)rows};
    const cuuint64_t strides[1] = {(cuuint64_t)(dp * es)};
    const cuuint32_t box[2] = {(cuuint32_t)(128 / es), (cuuint32_t)bm}, estr[2] = {1, 1};
    const CUtensorMapDataType t = ctype == FKM_CT_F16    ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                  : ctype == FKM_CT_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                                         : CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
    CUresult r = encode(m, t, 2, (void *)x, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                        CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

template <int NWG, int S, int OP>
static void *wg2_fn(int nkb) {
    return nkb == 1   ? (void *)fkm_assign_wg2<NWG, S, OP, 1>
           : nkb == 2 ? (void *)fkm_assign_wg2<NWG, S, OP, 2>
                      : (void *)fkm_assign_wg2<NWG, S, OP, 4>;
}
template <int NWG, int S>
static void *wg2_fn(int op, int nkb) {
    return op == 0 ? wg2_fn<NWG, S, 0>(nkb) : op == 1 ? wg2_fn<NWG, S, 1>(nkb) : wg2_fn<NWG, S, 2>(nkb);
}

/* Launch on stream s: a as filled by fkm_cu_assign (a.nkc = k-blocks per row, 1, 2 or 4), cfg 0-2,
 * op 0 fp16, 1 bf16, 2 tf32; total_tiles = b * tiles of lab_wg2_bm(cfg) points. */
cudaError_t lab_wg2_launch(fkm_cu_assign_args a, const CUtensorMap &m, int cfg, int op, int sm_count,
                           cudaStream_t s) {
    const int nkb = a.nkc;
    if (nkb != 1 && nkb != 2 && nkb != 4) return cudaErrorInvalidValue;
    a.nct = (int)((a.k + W2_BN - 1) / W2_BN);
    void *fn = cfg == 0 ? wg2_fn<3, 8>(op, nkb) : cfg == 1 ? wg2_fn<2, 8>(op, nkb) : wg2_fn<3, 12>(op, nkb);
    const size_t smem = lab_wg2_smem(cfg, nkb);
    cudaError_t e = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    const unsigned grid = (unsigned)(a.total_tiles < sm_count ? a.total_tiles : sm_count); /* one block per SM */
    void *args[2] = {(void *)&a, (void *)&m};
    e = cudaLaunchKernel(fn, dim3(grid), dim3(lab_wg2_cfgs[cfg].nwg * 128 + 32), args, smem, s);
    return e != cudaSuccess ? e : cudaGetLastError();
}
