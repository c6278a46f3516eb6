/* reduce.cu -- the scale engine's update (scale.cuh), after a pass over the data (pipeline.cu):
 * the limbs carried and all-reduced over the GPUs (NCCL, integers: exact), empty clusters filled,
 * the centroids finalised identically on every GPU; and the iteration that strings them together. */
#include <math.h>
#include <string.h>

#include "scale.cuh"

/* ---------------------------------------------------------------- the update */
/* Carry the limbs and all-reduce sums, weights and counts over the GPUs (integers: exact). */
static fkm_status reduce_sums(fkm_cu_scale *s) {
    int64_t *bufs[FKM_SCALE_MAX_GPUS];
    cudaStream_t streams[FKM_SCALE_MAX_GPUS];
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_status st = fkm_scale_set_dev(s, gi);
        /* with weights the counts become the positive-weight ones (docs/contract.md 5) */
        if (st == FKM_OK && s->g[gi].w) st = fkm_fx_weighted_counts(&s->g[gi].e, s->g[gi].labels, s->g[gi].w, s->g[gi].n);
        if (st == FKM_OK) st = fkm_fx_pack(&s->g[gi].e, s->g[gi].fx);
        if (st != FKM_OK) return st;
        bufs[gi] = s->g[gi].fx;
        streams[gi] = s->g[gi].e.stream;
    }
    if (s->ngpu == 1) return FKM_OK;
    return fkm_nccl_sum_i64(s->ngpu, s->comms, bufs, (size_t)(2 * s->k * s->d + 3 * s->k), streams);
}

/* Row `row` (global) leaves cluster `from` for the empty cluster `to` in every GPU's totals: its
 * compute-type values are made from the host row exactly as a piece's are. */
static fkm_status move_row(fkm_cu_scale *s, int64_t row, int64_t from, int64_t to) {
    const float wi = s->hw ? s->hw[row] : 1.0f;
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = fkm_scale_set_dev(s, gi);
        if (st != FKM_OK) return st;
        char *src = (char *)g->rowbuf, *ct = src + ((s->src_row_bytes + 15) & ~(size_t)15);
        float *xt = (float *)(ct + g->e.dp * g->e.es);
        fkm_cu_engine v = fkm_scale_view(&g->e, 1, ct, xt, g->labels, g->prev, g->best, NULL, 1);
        CU_RET(cudaMemcpyAsync(src, fkm_scale_host_row(s, row), s->src_row_bytes, cudaMemcpyHostToDevice, v.stream));
        if ((st = fkm_cu_prep_x(&v, src, s->src_type, 0, 0)) != FKM_OK) return st;
        if ((st = fkm_fx_move(&v, ct, wi, from, to, g->colscale, s->wscale, g->fx)) != FKM_OK) return st;
        if (row >= g->row0 && row < g->row0 + g->n) { /* the owner: label and distance */
            const int32_t lab = (int32_t)to;
            const float zero = 0.0f;
            CU_RET(cudaMemcpyAsync(g->labels + (row - g->row0), &lab, 4, cudaMemcpyHostToDevice, v.stream));
            CU_RET(cudaMemcpyAsync(g->best + (row - g->row0), &zero, 4, cudaMemcpyHostToDevice, v.stream));
        }
        CU_RET(cudaStreamSynchronize(v.stream)); /* the host values above live on this stack */
    }
    return FKM_OK;
}

/* FKM_EMPTY_FARTHEST, as the other engines: each empty cluster in index order takes the row with
 * the largest distance (lowest global row on ties) among clusters that keep a point (with
 * weights: a positive-weight row whose cluster keeps another one; the counts are those rows'). */
static fkm_status fill_empties(fkm_cu_scale *s) {
    const int64_t kd = s->k * s->d;
    for (int64_t c = 0; c < s->k; c++) {
        if (s->hcounts[c] != 0) continue;
        fkm_status st = FKM_OK;
        for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
            fkm_scale_gpu *g = &s->g[gi];
            if ((st = fkm_scale_set_dev(s, gi)) != FKM_OK) break;
            CU_RET(cudaMemsetAsync(g->scal + 3, 0, 8, g->e.stream));
            st = fkm_fx_donor(&g->e, g->best, g->labels, g->w, g->n, g->fx + 2 * kd + 2 * s->k, g->scal + 3);
            if (st == FKM_OK) st = fkm_scale_fetch_scal(s, gi, 3, 1);
        }
        if (st == FKM_OK) st = fkm_scale_sync_all(s);
        if (st != FKM_OK) return st;
        unsigned long long bv = 0;
        int64_t brow = -1;
        for (int gi = 0; gi < s->ngpu; gi++) {
            const unsigned long long key = s->hscal[8 * gi + 3];
            if (!key) continue;
            const int64_t row = s->g[gi].row0 + (int64_t)(0xffffffffull - (key & 0xffffffffull));
            if (brow < 0 || (key >> 32) > bv) { bv = key >> 32; brow = row; } /* GPUs in row order: ties keep the first */
        }
        if (brow < 0) return FKM_OK; /* no donor left: the remaining empties keep their centroids */
        int owner = 0;
        while (brow >= s->g[owner].row0 + s->g[owner].n) owner++;
        int32_t from = 0;
        if ((st = fkm_scale_set_dev(s, owner)) != FKM_OK) return st;
        CU_RET(cudaMemcpy(&from, s->g[owner].labels + (brow - s->g[owner].row0), 4, cudaMemcpyDeviceToHost));
        if ((st = move_row(s, brow, from, c)) != FKM_OK) return st;
        s->hcounts[from]--;
        s->hcounts[c] = 1;
    }
    return FKM_OK;
}

/* Global counts (from GPU 0's reduced totals) -> host; the number of empty clusters. */
static fkm_status read_counts(fkm_cu_scale *s, int64_t *empty) {
    fkm_status st = fkm_scale_set_dev(s, 0);
    if (st != FKM_OK) return st;
    CU_RET(cudaMemcpy(s->hcounts, s->g[0].fx + 2 * s->k * s->d + 2 * s->k, (size_t)s->k * 8, cudaMemcpyDeviceToHost));
    *empty = 0;
    for (int64_t c = 0; c < s->k; c++) *empty += s->hcounts[c] == 0;
    return FKM_OK;
}

/* New centroids from the totals on every GPU (the same bits on each), their compute-type copy,
 * and the largest squared move (GPU 0's). */
static fkm_status finalize(fkm_cu_scale *s, double *shift) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = fkm_scale_set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaMemsetAsync(g->shift2, 0, 8, g->e.stream));
        if ((st = fkm_fx_finalize(&g->e, g->fx, g->colscale, s->wscale, g->shift2)) != FKM_OK) return st;
        if ((st = fkm_cu_prep_centroids(&g->e)) != FKM_OK) return st;
    }
    double s2 = 0.0;
    fkm_status st = fkm_scale_set_dev(s, 0);
    if (st != FKM_OK) return st;
    CU_RET(cudaMemcpyAsync(s->hscal + 7, s->g[0].shift2, 8, cudaMemcpyDeviceToHost, s->g[0].e.stream));
    if ((st = fkm_scale_sync_all(s)) != FKM_OK) return st;
    memcpy(&s2, s->hscal + 7, sizeof s2);
    *shift = sqrt(s2);
    return FKM_OK;
}

/* ---------------------------------------------------------------- the iteration (the backend's iterate) */
extern "C" fkm_status fkm_scale_iterate(fkm_cu_scale *s, int update, fkm_empty_policy pol, fkm_iter_stats *out) {
    const fkm_scale_pass_kind pk = {2, update, 0};
    memset(out, 0, sizeof *out);
    fkm_status st = fkm_scale_pass(s, &pk);
    if (st == FKM_OK && update) st = reduce_sums(s);
    if (st == FKM_OK && update) st = fkm_scale_prefetch(s);
    if (st == FKM_OK) st = fkm_scale_global_inertia(s, &out->inertia);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) { /* changed labels: the sum over GPUs */
        fkm_cu_stats h;
        if ((st = fkm_scale_set_dev(s, gi)) != FKM_OK) break;
        cudaError_t ce = cudaMemcpy(&h, s->g[gi].e.cur, sizeof h, cudaMemcpyDeviceToHost);
        if (ce != cudaSuccess) return fkm_cu_fail(ce, __FILE__, __LINE__, "reading the statistics");
        out->changed += (int64_t)h.changed;
    }
    if (st != FKM_OK || !update) return st;
    if ((st = read_counts(s, &out->empty)) != FKM_OK) return st;
    if (out->empty && pol == FKM_EMPTY_FARTHEST && (st = fill_empties(s)) != FKM_OK) return st;
    return finalize(s, &out->shift);
}
