/* assign_res.cu -- host side of the persistent assignment kernels, centroid-resident
 * (assign_res.cuh) and streamed (assign_ps.cuh): the points' TMA descriptor and the launches. */
#include <cudaTypedefs.h>

#include "assign_ps.cuh"
#include "tuning.cuh"

typedef void (*res_fn)(const fkm_cu_assign_args, const __grid_constant__ CUtensorMap, int);

/* [op][k-blocks per row: 1, 2, 4][centroid tiles: 1, 2] */
#define RES_NCT(OP, NKB) {fkm_assign_res<OP, NKB, 1>, fkm_assign_res<OP, NKB, 2>}
#define RES_OP(OP) {RES_NCT(OP, 1), RES_NCT(OP, 2), RES_NCT(OP, 4)}
static const res_fn res_kernels[3][3][2] = {RES_OP(0), RES_OP(1), RES_OP(2)};
/* the certified fp16 pass (cert.cuh): [k-block class][centroid tiles] */
#define RES_CERT(NKB) {fkm_assign_res<0, NKB, 1, true>, fkm_assign_res<0, NKB, 2, true>}
static const res_fn res_cert_kernels[3][2] = {RES_CERT(1), RES_CERT(2), RES_CERT(4)};

/* per device, op, k-block class and centroid tiles: bytes the dynamic shared-memory limit was raised to */
static int res_raised[16][4][3][2]; /* op 3: the certified pass */

/* The points' descriptor: b problems of rows of x_pitch bytes, boxes of one 128-byte k-block x
 * RES_BM rows of one problem, 128-byte swizzle (the layout the wgmma descriptors address); rows
 * past a problem's end and columns past the pitch read as zeros. The encoder comes through the
 * runtime, so no link against libcuda. Encoding is host-only work (no device call), done per
 * launch because views (scale/) move x. */
static fkm_status res_xmap(CUtensorMap *m, const fkm_cu_assign_args &a, int64_t b, int64_t rows, int es) {
    static PFN_cuTensorMapEncodeTiled_v12000 encode = NULL;
    if (!encode) {
        cudaDriverEntryPointQueryResult q;
        void *fn = NULL;
        CU_RET(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q));
        if (q != cudaDriverEntryPointSuccess || !fn)
            return FKM_FAIL(FKM_ERR_CUDA, "the CUDA driver has no cuTensorMapEncodeTiled (needed on sm_90)");
        encode = (PFN_cuTensorMapEncodeTiled_v12000)fn;
    }
    const cuuint64_t dims[3] = {(cuuint64_t)(a.x_pitch / es), (cuuint64_t)rows, (cuuint64_t)b};
    const cuuint64_t strides[2] = {(cuuint64_t)a.x_pitch, (cuuint64_t)(a.x_pitch * rows)};
    const cuuint32_t box[3] = {(cuuint32_t)(128 / es), RES_BM, 1}, estr[3] = {1, 1, 1}; /* one k-block x one tile */
    /* bf16 rows travel as FLOAT16 words: the copy does not look at the values */
    const CUtensorMapDataType t = es == 4 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT32 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    const CUresult r = encode(m, t, 3, (void *)a.x, dims, strides, box, estr, CU_TENSOR_MAP_INTERLEAVE_NONE,
                              CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                              CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (r != CUDA_SUCCESS)
        return FKM_FAIL(FKM_ERR_CUDA, "cuTensorMapEncodeTiled failed (%d) for %lld x %lld rows of %lld bytes", (int)r,
                        (long long)b, (long long)rows, (long long)a.x_pitch);
    return FKM_OK;
}

fkm_status fkm_cu_assign_res(const fkm_cu_engine *e, fkm_cu_assign_args a, int cert) {
    const int op = cert ? 0 : fkm_cu_kern_op(e->kern), nkb = a.nkc, nct = fkm_res_tiles(e->k), kc = fkm_kblock_class(nkb);
    if (kc > 2 || e->k > FKM_CU_RES_MAXK || e->b != 1)
        return FKM_FAIL(FKM_ERR_INTERNAL, "resident kernel for %d k-blocks, b = %lld, k = %lld", nkb, (long long)e->b,
                        (long long)e->k);
    CUtensorMap m;
    fkm_status st = res_xmap(&m, a, 1, e->n, cert ? 2 : e->es);
    if (st != FKM_OK) return st;
    const res_fn kf = cert ? res_cert_kernels[kc][nct - 1] : res_kernels[op][kc][nct - 1];
    const int nbuf = fkm_cu_res_buffers(a.c_pitch, e->k, e->smem_optin);
    const size_t smem = fkm_res_smem(nkb, nct, nbuf);
    CU_RET(fkm_cu_smem_optin((const void *)kf, smem,
                             e->dev < 16 ? &res_raised[e->dev][cert ? 3 : op][kc][nct - 1] : NULL));
    const int64_t grid = a.total_tiles < e->sm_count ? a.total_tiles : e->sm_count; /* one block per SM */
    kf<<<(unsigned)grid, RES_NWG * 128 + 32, smem, e->stream>>>(a, m, nbuf);
    CU_LAUNCHED("centroid-resident assignment kernel");
    return FKM_OK;
}

typedef void (*ps_fn)(const fkm_cu_assign_args, const __grid_constant__ CUtensorMap, int, int);
/* [op][k-blocks per row: 1, 2] */
static const ps_fn ps_kernels[3][2] = {{fkm_assign_ps<0, 1>, fkm_assign_ps<0, 2>},
                                       {fkm_assign_ps<1, 1>, fkm_assign_ps<1, 2>},
                                       {fkm_assign_ps<2, 1>, fkm_assign_ps<2, 2>}};
static const ps_fn ps_cert_kernels[2] = {fkm_assign_ps<0, 1, true>, fkm_assign_ps<0, 2, true>};
static int ps_raised[16][4][2]; /* op 3: the certified pass */

fkm_status fkm_cu_assign_ps(const fkm_cu_engine *e, fkm_cu_assign_args a, int cert) {
    const int op = cert ? 0 : fkm_cu_kern_op(e->kern), nkb = a.nkc, kc = fkm_kblock_class(nkb);
    if (kc > 1) return FKM_FAIL(FKM_ERR_INTERNAL, "streamed kernel for %d k-blocks", nkb);
    CUtensorMap m;
    fkm_status st = res_xmap(&m, a, e->b, e->n, cert ? 2 : e->es);
    if (st != FKM_OK) return st;
    int nbuf = 0, ns = 0;
    fkm_cu_ps_config(&e->sw, a.c_pitch, e->smem_optin, &nbuf, &ns);
    const ps_fn kf = cert ? ps_cert_kernels[kc] : ps_kernels[op][kc];
    const size_t smem = fkm_ps_smem(nkb, ns, nbuf);
    CU_RET(fkm_cu_smem_optin((const void *)kf, smem, e->dev < 16 ? &ps_raised[e->dev][cert ? 3 : op][kc] : NULL));
    a.nct = (int)((e->k + WG_BN - 1) / WG_BN);
    const int64_t rounds = e->b * ((a.tiles + RES_NWG - 1) / RES_NWG);
    const int64_t grid = rounds < e->sm_count ? rounds : e->sm_count; /* one block per SM */
    kf<<<(unsigned)grid, RES_NWG * 128 + 32, smem, e->stream>>>(a, m, nbuf, ns);
    CU_LAUNCHED("streamed persistent assignment kernel");
    return FKM_OK;
}
