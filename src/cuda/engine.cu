/* engine.cu -- the CUDA engine's state: planning (sizes, kernel choice), one workspace carved
 * into every buffer, and errors. Used by the backend (backend.cu), the device-pointer API (api.cu)
 * and the scale engine (scale/); the device-resident Lloyd loop over this state is
 * iteration/loop.cu, one iteration iteration/update.cu. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cu_common.cuh"
#include "assign/tuning.cuh"

extern "C" fkm_status fkm_cu_fail(cudaError_t e, const char *file, int line, const char *what) {
    (void)cudaGetLastError(); /* clear the error if it is not sticky, so later calls can run */
    if (e == cudaErrorMemoryAllocation)
        return fkm_set_error(FKM_ERR_NO_MEMORY, file, line, "out of GPU memory (%s)", what);
    return fkm_set_error(FKM_ERR_CUDA, file, line, "CUDA error in %s: %s (%s)", what, cudaGetErrorString(e),
                         cudaGetErrorName(e));
}

extern "C" int fkm_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

static int ctype_of(fkm_precision p) {
    return p == FKM_PREC_FP16 ? FKM_CT_F16 : p == FKM_PREC_BF16 ? FKM_CT_BF16 : FKM_CT_F32;
}

fkm_status fkm_cu_plan(fkm_cu_engine *e, int dev, int64_t b, int64_t n, int64_t d, int64_t k, fkm_metric metric,
                       fkm_precision prec) {
    memset(e, 0, sizeof *e);
    fkm_cu_switches_read(&e->sw);
    e->dev = dev;
    CU_RET(cudaSetDevice(dev));
    /* Four attributes, not cudaGetDeviceProperties: that fills the whole struct (some of its
     * fields are slow queries) and the plan runs on every call of the device API. */
    int major = 0, minor = 0;
    CU_RET(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    CU_RET(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev));
    if (major < 8) {
        cudaDeviceProp prop;
        CU_RET(cudaGetDeviceProperties(&prop, dev));
        return FKM_FAIL(FKM_ERR_NO_CUDA, "GPU %d (%s) has compute capability %d.%d; the CUDA engine needs 8.0 or newer",
                        dev, prop.name, major, minor);
    }
    CU_RET(cudaDeviceGetAttribute(&e->sm_count, cudaDevAttrMultiProcessorCount, dev));
    CU_RET(cudaDeviceGetAttribute(&e->smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    e->cc_major = major;
    if (b * n >= INT32_MAX || b * k >= INT32_MAX)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "the CUDA engine handles fewer than 2^31 points and centroids in all "
                        "(got %lld x %lld points, %lld x %lld centroids)", (long long)b, (long long)n, (long long)b,
                        (long long)k);
    e->b = b; e->n = n; e->d = d; e->k = k;
    e->metric = metric;
    e->prec = prec;
    e->ctype = ctype_of(prec);
    e->es = e->ctype == FKM_CT_F32 ? 4 : 2;
    e->dp = fkm_cu_roundup(d, 16 / e->es);
    e->dcp = fkm_cu_roundup(e->dp * e->es, FKM_CU_CHUNK) / e->es;
    e->kp = fkm_cu_roundup(k, FKM_CU_KPAD);
    e->kern = fkm_cu_choose_kernel(&e->sw, e->cc_major, e->smem_optin, (int)prec, e->dcp * e->es, b, n, k);
    e->cc_tiled = fkm_cu_kern_ctile(e->kern);
    e->tile_parts = fkm_cu_kern_parts(e->kern);
    e->tiles = fkm_cu_kern_tiles(e->kern, n);
    e->upd_p = fkm_cu_upd_chunk(&e->sw, b * n);
    e->nchunks = (b * n + e->upd_p - 1) / e->upd_p;
    e->csort = fkm_cu_use_csort(&e->sw, b * k, b * n) && fkm_cu_csort_fits(b * k, b * n);
    e->keybits = 1;
    while (e->keybits < 32 && ((int64_t)1 << e->keybits) < b * k) e->keybits++;
    fkm_cu_cert_plan(e);
    e->tiny = fkm_cu_tiny_pick(e);
    e->tiny_p = fkm_cu_upd_chunk(&e->sw, n);
    return FKM_OK;
}

/* Carve the workspace (base NULL: only measure). Every piece is 256-byte aligned. */
size_t fkm_cu_layout(fkm_cu_engine *e, char *base, int need_copy) {
    size_t off = 0;
    const int64_t bn = e->b * e->n, bk = e->b * e->k;
#define PIECE(ptr, type, count)                                         \
    do {                                                                \
        if (base) e->ptr = (type *)(base + off);                        \
        off += ((size_t)(count) * sizeof(type) + 255) & ~(size_t)255;   \
    } while (0)
    PIECE(xcopy, char, need_copy ? bn * e->dp * e->es : 0);
    PIECE(xterm, float, bn);
    PIECE(best, float, bn);
    PIECE(labels, int32_t, bn);
    PIECE(prev, int32_t, bn);
    PIECE(keys, uint32_t, bn);
    PIECE(keys_sorted, uint32_t, bn);
    PIECE(iota, int32_t, bn);
    PIECE(perm, int32_t, bn);
    PIECE(c32, float, bk * e->d);
    PIECE(cnew, float, bk * e->d);
    PIECE(cc, char, e->b * e->kp * e->dcp * e->es);
    PIECE(cterm, float, e->b * e->kp);
    PIECE(counts, int32_t, bk);
    PIECE(seg_start, int32_t, bk);
    PIECE(upd, int32_t, bk);
    /* the tiny loop cuts its chunks per problem (iteration/tiny.cu): up to b more of them */
    const int64_t nch = e->tiny ? e->b * ((e->n + e->tiny_p - 1) / e->tiny_p) : e->nchunks;
    const int64_t chunks = nch > e->nchunks ? nch : e->nchunks;
    size_t part = (size_t)chunks * 2 * (size_t)e->dp * sizeof(float), vs = fkm_cu_var_scratch(e->b, e->n, e->d);
    PIECE(part, float, (part > vs ? part : vs) / sizeof(float));
    PIECE(partw, double, chunks * 2);
    PIECE(tile_inertia, double, e->b * e->tiles * e->tile_parts);
    PIECE(prev_inertia, double, e->b);
    PIECE(var, double, e->b);
    PIECE(done, int32_t, e->b);
    PIECE(iters, int32_t, e->b);
    PIECE(cur, fkm_cu_stats, e->b);
    PIECE(slots, fkm_cu_stats, FKM_CU_MAX_BATCH * e->b);
    PIECE(rowsidx, int64_t, bk);
    PIECE(err, int, 4);
    const int64_t cse = e->csort ? fkm_cu_csort_entries(bk, bn) : 0;
    PIECE(cs_counts, int32_t, cse);
    PIECE(cs_start, int32_t, cse);
    if (!base) {
        e->cub_bytes = fkm_cu_sort_bytes(bn, e->keybits);
        if (e->csort && fkm_cu_csort_scan_bytes(cse) > e->cub_bytes) e->cub_bytes = fkm_cu_csort_scan_bytes(cse);
    }
    PIECE(cub_tmp, char, e->cub_bytes);
    if (e->cert) { /* cert.cu */
        PIECE(x16, char, bn * e->dp16 * 2);
        PIECE(xq, float2, bn);
        PIECE(cc16, char, e->b * e->kp * e->dcp16 * 2);
        PIECE(cn, float, e->b * e->kp);
        PIECE(calpha, float, e->b);
        PIECE(csigma, float, e->b);
        PIECE(cmax, uint32_t, 2 * e->b);
        PIECE(ulist, int32_t, bn);
        if (e->cert_list) PIECE(ukey, unsigned long long, bn);
        PIECE(ucount, int32_t, e->b);
        PIECE(coff, int32_t, e->b);
        PIECE(cskip, int32_t, e->b);
    }
#undef PIECE
    return off;
}

__global__ void k_iota(int32_t *v, int64_t n) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) v[i] = (int32_t)i;
}

fkm_status fkm_cu_open(fkm_cu_engine *e, void *ws, size_t ws_bytes, int need_copy, cudaStream_t stream) {
    const size_t need = fkm_cu_layout(e, NULL, need_copy);
    for (; e->nev < FKM_CU_MAX_BATCH + 1; e->nev++) CU_RET(cudaEventCreate(&e->ev[e->nev]));
    if (stream) {
        e->stream = stream;
    } else { /* our own stream, ordered after the work already on the legacy default stream */
        CU_RET(cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking));
        e->own_stream = 1;
        CU_RET(cudaEventRecord(e->ev[0], 0));
        CU_RET(cudaStreamWaitEvent(e->stream, e->ev[0], 0));
    }
    if (ws) {
        if (ws_bytes < need)
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "workspace of %zu bytes is too small: %zu bytes needed", ws_bytes, need);
        e->ws = ws;
    } else {
        CU_RET(cudaMalloc(&e->ws_owned, need));
        e->ws = e->ws_owned;
    }
    e->ws_bytes = need;
    fkm_cu_layout(e, (char *)e->ws, need_copy);
    CU_RET(cudaMallocHost((void **)&e->hslots, sizeof(fkm_cu_stats) * FKM_CU_MAX_BATCH * (size_t)e->b));
    e->fused = e->sw.fused && !e->cert; /* the fused kernel skips the certified copy */
    e->upd_u = fkm_cu_upd_rows(&e->sw, e->cc_major, e->es, e->b * e->n);
    e->prof = e->sw.profile;
    if (e->prof)
        for (; e->npev < 2 * FKM_CU_MAX_BATCH; e->npev++) CU_RET(cudaEventCreate(&e->pev[e->npev]));
    if (e->prof >= 2)
        for (; e->nsev < FKM_CU_MAX_BATCH * (FKM_CU_NSTAGE + 1); e->nsev++)
            CU_RET(cudaEventCreate(&e->sev[e->nsev / (FKM_CU_NSTAGE + 1)][e->nsev % (FKM_CU_NSTAGE + 1)]));
    const int64_t bn = e->b * e->n;
    k_iota<<<(unsigned)((bn + 255) / 256), 256, 0, e->stream>>>(e->iota, bn);
    CU_LAUNCHED("index kernel");
    CU_RET(cudaMemsetAsync(e->upd, 0, (size_t)(e->b * e->k) * sizeof(int32_t), e->stream));
    CU_RET(cudaMemsetAsync(e->var, 0, (size_t)e->b * sizeof(double), e->stream));
    return fkm_cu_reset_loop(e, 1);
}

void fkm_cu_close(fkm_cu_engine *e) {
    if (e->stream) (void)cudaStreamSynchronize(e->stream);
    for (int i = 0; i < e->nev; i++) (void)cudaEventDestroy(e->ev[i]);
    for (int i = 0; i < e->npev; i++) (void)cudaEventDestroy(e->pev[i]);
    for (int i = 0; i < e->nsev; i++) (void)cudaEventDestroy(e->sev[i / (FKM_CU_NSTAGE + 1)][i % (FKM_CU_NSTAGE + 1)]);
    if (e->hslots) (void)cudaFreeHost(e->hslots);
    if (e->ws_owned) (void)cudaFree(e->ws_owned);
    if (e->w_owned) (void)cudaFree(e->w_owned);
    if (e->own_stream) (void)cudaStreamDestroy(e->stream);
    (void)cudaGetLastError();
    memset(e, 0, sizeof *e);
}
