/* loop.cu -- the CUDA engine's device-resident Lloyd loop (fkm_cu_run): batches of iterations
 * (iteration/update.cu), captured once per batch size as a CUDA graph, with the per-iteration
 * statistics and the stop rule's verdict (update.cu's k_stop) polled after each batch. No allocation
 * or synchronisation happens inside the loop except the poll of the per-iteration statistics every
 * few iterations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../cu_common.cuh"

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
#ifdef FKM_CUDA_DEBUG
    const int use_graph = 0; /* debug builds synchronise after every launch */
#else
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    if (e->stream != NULL && cudaStreamIsCapturing(e->stream, &cap) != cudaSuccess) {
        (void)cudaGetLastError();
        cap = cudaStreamCaptureStatusActive; /* unknown: do not capture */
    }
    const int use_graph = e->stream != NULL && cap == cudaStreamCaptureStatusNone && e->sw.graph;
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
