/* engine.cu -- the CUDA engine's state: planning (sizes, kernel choice), one workspace carved
 * into every buffer, the device-resident Lloyd loop, and errors. Used by the backend (backend.cu)
 * and the device-pointer API (api.cu). No allocation or synchronisation happens inside the loop
 * except the poll of the per-iteration statistics every few iterations. */
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
    e->dev = dev;
    CU_RET(cudaSetDevice(dev));
    cudaDeviceProp prop;
    CU_RET(cudaGetDeviceProperties(&prop, dev));
    if (prop.major < 8)
        return FKM_FAIL(FKM_ERR_NO_CUDA, "GPU %d (%s) has compute capability %d.%d; the CUDA engine needs 8.0 or newer",
                        dev, prop.name, prop.major, prop.minor);
    e->sm_count = prop.multiProcessorCount;
    e->cc_major = prop.major;
    e->smem_optin = (int)prop.sharedMemPerBlockOptin;
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
    e->kern = fkm_cu_choose_kernel(e->cc_major, e->smem_optin, (int)prec, e->dcp * e->es, b, n, k);
    e->cc_tiled = fkm_cu_kern_ctile(e->kern);
    e->tile_parts = fkm_cu_kern_parts(e->kern);
    e->tiles = fkm_cu_kern_tiles(e->kern, n);
    e->upd_p = fkm_cu_upd_chunk(b * n);
    e->nchunks = (b * n + e->upd_p - 1) / e->upd_p;
    e->csort = fkm_cu_use_csort(b * k, b * n) && fkm_cu_csort_fits(b * k, b * n);
    e->keybits = 1;
    while (e->keybits < 32 && ((int64_t)1 << e->keybits) < b * k) e->keybits++;
    fkm_cu_cert_plan(e);
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
    size_t part = (size_t)e->nchunks * 2 * (size_t)e->dp * sizeof(float), vs = fkm_cu_var_scratch(e->b, e->n, e->d);
    PIECE(part, float, (part > vs ? part : vs) / sizeof(float));
    PIECE(partw, double, e->nchunks * 2);
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
    const char *fused = getenv("FKM_CU_FUSED");
    e->fused = fused && atoi(fused) == 1 && !e->cert; /* the fused kernel skips the certified copy */
    e->upd_u = fkm_cu_upd_rows(e->cc_major, e->es, e->b * e->n);
    const char *prof = getenv("FKM_CU_PROFILE");
    e->prof = prof ? atoi(prof) : 0;
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

/* Enqueue nb iterations (slots 0..nb-1) with their events, then the statistics' copy to the
 * pinned host slots. */
static fkm_status enqueue_batch(fkm_cu_engine *e, int nb, fkm_empty_policy pol, const fkm_cu_stop *stop) {
    CU_RET(fkm_cu_record(e, e->ev[0]));
    for (int q = 0; q < nb; q++) {
        fkm_status s = fkm_cu_iteration(e, 1, pol, stop, q);
        if (s != FKM_OK) return s;
        CU_RET(fkm_cu_record(e, e->ev[q + 1]));
    }
    CU_RET(cudaMemcpyAsync(e->hslots, e->slots, sizeof(fkm_cu_stats) * (size_t)(nb * e->b), cudaMemcpyDeviceToHost,
                           e->stream));
    return FKM_OK;
}

/* Run up to max_iter iterations on the device, polling every few. st (b == 1) receives the
 * statistics, ran[p] the iterations of problem p, *conv whether problem 0 converged, *ms the
 * device time of the iterations. rule -1: never stop early (the core decides). */
fkm_status fkm_cu_run(fkm_cu_engine *e, int max_iter, fkm_empty_policy pol, int rule, double tol,
                      fkm_iter_stats *st, int *ran, int *conv, double *ms) {
    fkm_status s = FKM_OK;
    fkm_cu_stop stop = {rule, tol, max_iter};
    int it = 0, batch = rule == FKM_STOP_FIXED ? FKM_CU_MAX_BATCH : 2;
    if (ran) memset(ran, 0, sizeof(int) * (size_t)e->b);
    if (conv) *conv = 0;
    if (ms) *ms = 0;
    if ((s = fkm_cu_reset_loop(e, 0)) != FKM_OK) return s;
    /* A batch of iterations is captured once as a CUDA graph per batch size and replayed: the
     * launch gaps of a dozen small kernels per iteration shrink (H100, B=8 N=16384 K=100:
     * 0.125 -> 0.117 ms per iteration). Not on the legacy default stream (it cannot be captured),
     * nor on a stream the caller is capturing itself (ours would nest); FKM_CU_GRAPH=0 turns it
     * off. */
    const char *gv = getenv("FKM_CU_GRAPH");
#ifdef FKM_CUDA_DEBUG
    const int use_graph = 0; /* debug builds synchronise after every launch */
    (void)gv;
#else
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    if (e->stream != NULL && cudaStreamIsCapturing(e->stream, &cap) != cudaSuccess) {
        (void)cudaGetLastError();
        cap = cudaStreamCaptureStatusActive; /* unknown: do not capture */
    }
    const int use_graph = e->stream != NULL && cap == cudaStreamCaptureStatusNone && !(gv && *gv && atoi(gv) == 0);
#endif
    cudaGraphExec_t graphs[FKM_CU_MAX_BATCH + 1] = {0};
    while (it < max_iter) {
        const int nb = max_iter - it < batch ? max_iter - it : batch;
        if (use_graph && !graphs[nb]) {
            cudaGraph_t g = NULL;
            cudaError_t cb = cudaStreamBeginCapture(e->stream, cudaStreamCaptureModeThreadLocal);
            if (cb != cudaSuccess) { s = fkm_cu_fail(cb, __FILE__, __LINE__, "cudaStreamBeginCapture"); break; }
            e->capturing = 1;
            s = enqueue_batch(e, nb, pol, &stop);
            e->capturing = 0;
            cudaError_t ce = cudaStreamEndCapture(e->stream, &g);
            if (s == FKM_OK && ce == cudaSuccess) ce = cudaGraphInstantiate(&graphs[nb], g, 0);
            if (g) (void)cudaGraphDestroy(g);
            if (s == FKM_OK && ce != cudaSuccess) s = fkm_cu_fail(ce, __FILE__, __LINE__, "capturing the iterations");
            if (s != FKM_OK) break;
        }
        if (use_graph) {
            cudaError_t ce = cudaGraphLaunch(graphs[nb], e->stream);
            if (ce != cudaSuccess) { s = fkm_cu_fail(ce, __FILE__, __LINE__, "cudaGraphLaunch"); break; }
        } else if ((s = enqueue_batch(e, nb, pol, &stop)) != FKM_OK) {
            break;
        }
        cudaError_t ce = cudaStreamSynchronize(e->stream);
        if (ce != cudaSuccess) { s = fkm_cu_fail(ce, __FILE__, __LINE__, "the iterations"); break; }
        int any = 0;
        for (int q = 0; q < nb; q++) {
            const fkm_cu_stats *h = e->hslots + (int64_t)q * e->b;
            float qms = 0.0f, ams = 0.0f;
            (void)cudaEventElapsedTime(&qms, e->ev[q], e->ev[q + 1]);
            if (e->prof) {
                (void)cudaEventElapsedTime(&ams, e->pev[2 * q], e->pev[2 * q + 1]);
                e->ms_assign += ams;
            }
            for (int g = 0; e->prof >= 2 && g < FKM_CU_NSTAGE; g++) {
                float sms = 0.0f;
                (void)cudaEventElapsedTime(&sms, e->sev[q][g], e->sev[q][g + 1]);
                e->ms_stage[g] += sms;
            }
            (void)cudaGetLastError(); /* a failed timing query must not be reported by a later launch */
            if (ms) *ms += qms;
            for (int64_t p = 0; p < e->b; p++) {
                if (!h[p].ran) continue;
                e->rescored += (int64_t)h[p].rescored;
                any = 1;
                if (ran) ran[p]++;
                if (p == 0 && st) {
                    fkm_iter_stats *o = &st[it + q];
                    o->inertia = h[0].inertia;
                    double s2;
                    memcpy(&s2, &h[0].shift2, sizeof s2);
                    o->shift = sqrt(s2);
                    o->empty = h[0].empty;
                    o->changed = (int64_t)h[0].changed;
                    o->rescored = (int64_t)h[0].rescored;
                    o->ms = qms;
                }
                if (p == 0 && conv && h[0].converged) *conv = 1;
            }
            if (!any) break;
        }
        it += nb;
        if (!any) break;
        /* Check whether anything is left running: the last slot of the batch says. */
        int left = 0;
        const fkm_cu_stats *last = e->hslots + (int64_t)(nb - 1) * e->b;
        for (int64_t p = 0; p < e->b && !left; p++) left = last[p].ran && !last[p].converged;
        if (!left) break;
        batch = batch * 2 > FKM_CU_MAX_BATCH ? FKM_CU_MAX_BATCH : batch * 2;
    }
    for (int i = 0; i <= FKM_CU_MAX_BATCH; i++)
        if (graphs[i]) (void)cudaGraphExecDestroy(graphs[i]);
    return s;
}
