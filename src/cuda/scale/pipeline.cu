/* pipeline.cu -- the scale engine (scale.cuh): host data on one or several GPUs, whatever fits kept
 * resident, the rest streamed every pass; exact integer sums all-reduced with NCCL.
 *
 * A pass over the data, per GPU (all GPUs are driven from this thread, piece by piece, so that a
 * blocking copy on one does not hold the others back):
 *   copy stream     chunk j of the streamed rows -> staging slot j % 2 (after the slot is freed)
 *   compute stream  for each piece, streamed chunks interleaved with the resident pieces so the
 *                   copy engine never waits for the resident work: prepare (streamed: convert
 *                   into the engine's piece buffer, then free the slot), assign, sort the labels,
 *                   fixed-point sums (fx.cu)
 * then the limbs are carried, all-reduced (NCCL, integers), the empty clusters handled and the
 * centroids finalised identically on every GPU. The first chunks of the next pass are copied
 * while the host finishes the iteration.
 *
 * Here: the pieces of a slice, the first pass (upload, column scales), the copy pipeline of a pass,
 * the global inertia, the operations that are a pass or a copy, and the backend table. The plan and
 * create/destroy are in plan.cu; the update after a pass (all-reduce, empty clusters, new centroids)
 * in reduce.cu. */
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "scale.cuh"
#include "../assign/tuning.cuh"
#include "../../fixed.h"

extern "C" {
#include "../../core/init.h"
}

/* Pieces of slice g: the resident rows [0, res) in pieces, then the streamed rows [res, n) in
 * chunks, each of at most s->piece rows (none straddles res). Piece i < n_res_pieces is resident;
 * chunk j is piece n_res_pieces + j. */
static int64_t n_res_pieces(const fkm_cu_scale *s, const fkm_scale_gpu *g) { return (g->res + s->piece - 1) / s->piece; }
static int64_t n_chunks(const fkm_cu_scale *s, const fkm_scale_gpu *g) { return (g->n - g->res + s->piece - 1) / s->piece; }
static void piece_range(const fkm_cu_scale *s, const fkm_scale_gpu *g, int64_t i, int64_t *r0, int64_t *rows) {
    const int64_t nr = n_res_pieces(s, g);
    const int64_t a = i < nr ? i * s->piece : g->res + (i - nr) * s->piece, end = i < nr ? g->res : g->n;
    *r0 = a;
    *rows = end - a < s->piece ? end - a : s->piece;
}

const char *fkm_scale_host_row(const fkm_cu_scale *s, int64_t row) {
    return (const char *)s->src + (size_t)row * s->src_row_bytes;
}

/* Page-lock the streamed host rows of GPU g, so their copies are asynchronous DMA. Memory that
 * is already pinned is used as it is; memory that cannot be pinned is copied as pageable. */
void fkm_scale_pin_streamed(fkm_cu_scale *s, int gi) {
    fkm_scale_gpu *g = &s->g[gi];
    if (g->res >= g->n) return;
    void *p = (void *)fkm_scale_host_row(s, g->row0 + g->res);
    const size_t bytes = (size_t)(g->n - g->res) * s->src_row_bytes;
    cudaError_t ce = cudaHostRegister(p, bytes, cudaHostRegisterPortable | cudaHostRegisterReadOnly);
    if (ce != cudaSuccess) ce = cudaHostRegister(p, bytes, cudaHostRegisterPortable);
    if (ce == cudaSuccess) s->pinned[gi] = p;
    (void)cudaGetLastError();
}

/* Rows [r0, r0 + rows) of the slice, as a view: resident rows in place, streamed ones in the
 * engine's piece buffer (where prepare_piece puts them). */
static fkm_cu_engine view_of(fkm_scale_gpu *g, int64_t r0, int64_t rows) {
    fkm_cu_engine *e = &g->e;
    const int resident = r0 < g->res;
    void *x = resident ? (char *)g->res_x + (size_t)r0 * (size_t)(e->dp * e->es) : e->xcopy;
    float *xt = resident ? g->res_xterm + r0 : e->xterm;
    return fkm_scale_view(e, rows, x, xt, g->labels + r0, g->prev + r0, g->best + r0, g->w ? g->w + r0 : NULL,
                          fkm_cu_kern_tiles(e->kern, rows));
}

/* Host rows -> the GPU's compute layout for rows [r0, r0 + rows) of slice g, through staging
 * slot 0 on the compute stream (used once, at create), with the column maxima. */
static fkm_status upload_piece(fkm_cu_scale *s, fkm_scale_gpu *g, int64_t r0, int64_t rows) {
    fkm_cu_engine v = view_of(g, r0, rows);
    CU_RET(cudaMemcpyAsync(g->stage[0], fkm_scale_host_row(s, g->row0 + r0), (size_t)rows * s->src_row_bytes,
                           cudaMemcpyHostToDevice, v.stream));
    fkm_status st = fkm_cu_prep_x(&v, g->stage[0], s->src_type, 0, 0);
    if (st == FKM_OK) st = fkm_fx_colmax(&v, v.w, g->colmax);
    if (st == FKM_OK) CU_RET(cudaStreamSynchronize(v.stream)); /* slot 0 is reused by the next piece */
    return st;
}

/* Upload the resident rows and the weights, and find the columns' fixed-point scales (every
 * row, resident or not, is read once here). */
fkm_status fkm_scale_first_pass(fkm_cu_scale *s) {
    float *mx = (float *)calloc((size_t)s->d, sizeof(float));
    if (!mx) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    fkm_status st = FKM_OK;
    double wmax = s->hw ? 0.0 : 1.0;
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        cudaStream_t cs = g->e.stream;
        if (cudaSetDevice(s->devs[gi]) != cudaSuccess) { st = fkm_cu_fail(cudaGetLastError(), __FILE__, __LINE__, "cudaSetDevice"); break; }
        cudaError_t ce = cudaMemsetAsync(g->colmax, 0, (size_t)s->d * 4, cs);
        if (ce == cudaSuccess) ce = cudaMemsetAsync(g->prev, 0xff, (size_t)g->n * 4, cs);
        if (ce == cudaSuccess && g->w) ce = cudaMemcpyAsync(g->w, s->hw + g->row0, (size_t)g->n * 4, cudaMemcpyHostToDevice, cs);
        if (ce != cudaSuccess) { st = fkm_cu_fail(ce, __FILE__, __LINE__, "uploading the weights"); break; }
        const int64_t np = n_res_pieces(s, g) + n_chunks(s, g);
        for (int64_t i = 0; i < np && st == FKM_OK; i++) {
            int64_t r0 = 0, rows = 0;
            piece_range(s, g, i, &r0, &rows);
            st = upload_piece(s, g, r0, rows);
        }
        float *h = (float *)malloc((size_t)s->d * sizeof(float));
        if (st == FKM_OK && !h) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
        if (st == FKM_OK) {
            ce = cudaMemcpy(h, g->colmax, (size_t)s->d * 4, cudaMemcpyDeviceToHost);
            if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "reading the column maxima");
            for (int64_t j = 0; st == FKM_OK && j < s->d; j++) mx[j] = h[j] > mx[j] ? h[j] : mx[j];
        }
        free(h);
    }
    for (int64_t i = 0; s->hw && i < s->n; i++) wmax = s->hw[i] > wmax ? s->hw[i] : wmax;
    s->wscale = fkm_fx_scale(wmax);
    double *cs = (double *)malloc((size_t)s->d * sizeof(double));
    if (st == FKM_OK && !cs) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    for (int64_t j = 0; st == FKM_OK && j < s->d; j++) cs[j] = fkm_fx_scale(mx[j]);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        cudaError_t ce = cudaSetDevice(s->devs[gi]);
        if (ce == cudaSuccess) ce = cudaMemcpy(s->g[gi].colscale, cs, (size_t)s->d * 8, cudaMemcpyHostToDevice);
        if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "uploading the column scales");
    }
    free(cs);
    free(mx);
    return st;
}

/* ---------------------------------------------------------------- a pass over the data */
fkm_status fkm_scale_set_dev(const fkm_cu_scale *s, int gi) {
    CU_RET(cudaSetDevice(s->devs[gi]));
    return FKM_OK;
}

/* Copy streamed chunk j of slice g into its staging slot, once the slot's last reader is done. */
static fkm_status issue_copy(fkm_cu_scale *s, fkm_scale_gpu *g, int64_t j) {
    const int slot = (int)(j % s->slots);
    int64_t r0 = 0, rows = 0;
    piece_range(s, g, n_res_pieces(s, g) + j, &r0, &rows);
    CU_RET(cudaStreamWaitEvent(g->copy, g->freed[slot], 0));
    CU_RET(cudaMemcpyAsync(g->stage[slot], fkm_scale_host_row(s, g->row0 + r0), (size_t)rows * s->src_row_bytes,
                           cudaMemcpyHostToDevice, g->copy));
    CU_RET(cudaEventRecord(g->copied[slot], g->copy));
    return FKM_OK;
}

/* Piece i of slice g at position q of its order: streamed chunks interleaved evenly with the
 * resident pieces (chunk j, then the resident pieces up to (j + 1) * R / S), so the compute
 * stream does resident work while the next chunk is on the wire. */
static int64_t piece_at(const fkm_cu_scale *s, const fkm_scale_gpu *g, int64_t q) {
    const int64_t R = n_res_pieces(s, g), S = n_chunks(s, g);
    if (S == 0) return q;
    /* position of chunk j: j + floor(j * R / S) */
    int64_t lo = 0, hi = S - 1;
    while (lo < hi) { /* the last chunk j whose position is <= q */
        const int64_t mid = (lo + hi + 1) / 2;
        if (mid + mid * R / S <= q) lo = mid; else hi = mid - 1;
    }
    const int64_t pos = lo + lo * R / S;
    if (pos == q) return R + lo;
    return q - lo - 1; /* resident pieces before position q: q - (chunks up to lo) */
}

static fkm_status run_piece(fkm_cu_scale *s, fkm_scale_gpu *g, int64_t i, const fkm_scale_pass_kind *pk) {
    int64_t r0 = 0, rows = 0;
    piece_range(s, g, i, &r0, &rows);
    fkm_cu_engine v = view_of(g, r0, rows);
    fkm_status st = FKM_OK;
    const int64_t R = n_res_pieces(s, g), S = n_chunks(s, g);
    if (i >= R) { /* streamed: convert the staged rows into the piece buffer, free the slot */
        const int64_t j = i - R;
        const int slot = (int)(j % s->slots);
        CU_RET(cudaStreamWaitEvent(v.stream, g->copied[slot], 0));
        if ((st = fkm_cu_prep_x(&v, g->stage[slot], s->src_type, 0, 0)) != FKM_OK) return st;
        CU_RET(cudaEventRecord(g->freed[slot], v.stream));
        if (j + s->slots < S && (st = issue_copy(s, g, j + s->slots)) != FKM_OK) return st;
    }
    if ((st = fkm_cu_assign(&v, pk->mode)) != FKM_OK) return st;
    if (pk->exact && (st = fkm_cu_exact_l2(&v)) != FKM_OK) return st;
    if (!pk->sums) return FKM_OK;
    size_t bytes = v.cub_bytes;
    CU_RET(cub::DeviceRadixSort::SortPairs(v.cub_tmp, bytes, v.keys, v.keys_sorted, v.iota, v.perm, (int)rows, 0,
                                           v.keybits, v.stream));
    return fkm_fx_piece_sums(&v, rows, g->colscale, s->wscale, g->fx);
}

static fkm_status begin_pass(fkm_cu_scale *s, fkm_scale_gpu *g, const fkm_scale_pass_kind *pk) {
    fkm_cu_engine *e = &g->e;
    CU_RET(cudaMemsetAsync(g->scal, 0, 64, e->stream));
    if (pk->mode == 2) {
        CU_RET(cudaMemsetAsync(e->counts, 0, (size_t)s->k * sizeof(int32_t), e->stream));
        CU_RET(cudaMemsetAsync(e->cur, 0, sizeof(fkm_cu_stats), e->stream));
    }
    if (pk->sums) CU_RET(cudaMemsetAsync(g->fx, 0, (size_t)(2 * s->k * s->d + 3 * s->k) * 8, e->stream));
    const int64_t S = n_chunks(s, g);
    for (int64_t j = g->prefetched; j < S && j < s->slots; j++) {
        fkm_status st = issue_copy(s, g, j);
        if (st != FKM_OK) return st;
    }
    g->prefetched = 0;
    return FKM_OK;
}

/* Every piece of every GPU, position by position across the GPUs. */
fkm_status fkm_scale_pass(fkm_cu_scale *s, const fkm_scale_pass_kind *pk) {
    fkm_status st = FKM_OK;
    int64_t most = 0;
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        const int64_t np = n_res_pieces(s, g) + n_chunks(s, g);
        most = np > most ? np : most;
        if ((st = fkm_scale_set_dev(s, gi)) == FKM_OK) st = begin_pass(s, g, pk);
    }
    for (int64_t q = 0; q < most && st == FKM_OK; q++)
        for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
            fkm_scale_gpu *g = &s->g[gi];
            if (q >= n_res_pieces(s, g) + n_chunks(s, g)) continue;
            if ((st = fkm_scale_set_dev(s, gi)) == FKM_OK) st = run_piece(s, g, piece_at(s, g, q), pk);
        }
    return st;
}

/* The next pass's first chunks, copied while the host finishes this iteration. */
fkm_status fkm_scale_prefetch(fkm_cu_scale *s) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = fkm_scale_set_dev(s, gi);
        for (int64_t j = 0; st == FKM_OK && j < n_chunks(s, g) && j < s->slots; j++) st = issue_copy(s, g, j);
        if (st != FKM_OK) return st;
        g->prefetched = (int)(n_chunks(s, g) < s->slots ? n_chunks(s, g) : s->slots);
    }
    return FKM_OK;
}

/* Wait for every GPU's compute stream; the host scratch words of GPU g are s->hscal + 8 g. */
fkm_status fkm_scale_sync_all(fkm_cu_scale *s) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_status st = fkm_scale_set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaStreamSynchronize(s->g[gi].e.stream));
    }
    return FKM_OK;
}

fkm_status fkm_scale_fetch_scal(fkm_cu_scale *s, int gi, int first, int count) {
    fkm_scale_gpu *g = &s->g[gi];
    CU_RET(cudaMemcpyAsync(s->hscal + 8 * gi + first, g->scal + first, (size_t)count * 8, cudaMemcpyDeviceToHost,
                           g->e.stream));
    return FKM_OK;
}

/* Inertia: sum of w_i best_i over all rows in fixed point at the scale of the global max term,
 * so the same bits for any split. */
fkm_status fkm_scale_global_inertia(fkm_cu_scale *s, double *out) {
    fkm_status st = FKM_OK;
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if ((st = fkm_scale_set_dev(s, gi)) == FKM_OK) st = fkm_fx_absmax(&g->e, g->best, g->w, g->n, g->scal);
        if (st == FKM_OK) st = fkm_scale_fetch_scal(s, gi, 0, 1);
    }
    if (st == FKM_OK) st = fkm_scale_sync_all(s);
    float mx = 0.0f;
    for (int gi = 0; st == FKM_OK && gi < s->ngpu; gi++) {
        float m;
        const unsigned u = (unsigned)s->hscal[8 * gi];
        memcpy(&m, &u, sizeof m);
        mx = m > mx ? m : mx;
    }
    const double scale = fkm_fx_scale(mx);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if ((st = fkm_scale_set_dev(s, gi)) == FKM_OK) st = fkm_fx_sum(&g->e, g->best, g->w, g->n, scale, g->scal + 1);
        if (st == FKM_OK) st = fkm_scale_fetch_scal(s, gi, 1, 2);
    }
    if (st == FKM_OK) st = fkm_scale_sync_all(s);
    __int128 total = 0;
    for (int gi = 0; st == FKM_OK && gi < s->ngpu; gi++)
        total += (__int128)(int64_t)s->hscal[8 * gi + 1] * 4294967296 + (__int128)(int64_t)s->hscal[8 * gi + 2];
    *out = (double)total / scale;
    return st;
}

/* ---------------------------------------------------------------- the backend's operations */
extern "C" fkm_status fkm_scale_assign(fkm_cu_scale *s, int32_t *labels, float *dist, double *inertia) {
    const fkm_scale_pass_kind pk = {1, 0, s->pb.metric == FKM_METRIC_L2 && s->x_exact && (dist || inertia)};
    fkm_status st = fkm_scale_pass(s, &pk);
    if (st == FKM_OK && inertia) st = fkm_scale_global_inertia(s, inertia);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if ((st = fkm_scale_set_dev(s, gi)) != FKM_OK) break;
        if (labels) CU_RET(cudaMemcpy(labels + g->row0, g->labels, (size_t)g->n * 4, cudaMemcpyDeviceToHost));
        if (dist) CU_RET(cudaMemcpy(dist + g->row0, g->best, (size_t)g->n * 4, cudaMemcpyDeviceToHost));
    }
    return st;
}

extern "C" fkm_status fkm_scale_set_centroids(fkm_cu_scale *s, const float *c) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = fkm_scale_set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaMemcpyAsync(g->e.c32, c, (size_t)(s->k * s->d) * sizeof(float), cudaMemcpyHostToDevice, g->e.stream));
        if ((st = fkm_cu_prep_centroids(&g->e)) != FKM_OK) return st;
        CU_RET(cudaMemsetAsync(g->prev, 0xff, (size_t)g->n * 4, g->e.stream)); /* a new run: every label changes */
    }
    return fkm_scale_sync_all(s); /* c may be freed by the caller */
}

extern "C" fkm_status fkm_scale_get_centroids(fkm_cu_scale *s, float *c) {
    fkm_status st = fkm_scale_set_dev(s, 0);
    if (st != FKM_OK) return st;
    CU_RET(cudaMemcpy(c, s->g[0].e.c32, (size_t)(s->k * s->d) * sizeof(float), cudaMemcpyDeviceToHost));
    return FKM_OK;
}

/* Greedy k-means++ on the host's float32 rows (the GPU's needs all rows resident). */
extern "C" fkm_status fkm_scale_kmeanspp(fkm_cu_scale *s, uint64_t seed, float *c) {
    fkm_status st = fkm_init_kmeanspp(s->pb.x, s->pb.w, s->n, s->d, s->k, seed, s->pb.threads, c);
    return st != FKM_OK ? st : fkm_scale_set_centroids(s, c);
}

/* k-means|| on the host's float32 rows, as for k-means++. */
extern "C" fkm_status fkm_scale_kmeans_par(fkm_cu_scale *s, uint64_t seed, float *c) {
    fkm_status st = fkm_init_kmeans_parallel(s->pb.x, s->pb.w, s->n, s->d, s->k, seed, s->pb.threads, c);
    return st != FKM_OK ? st : fkm_scale_set_centroids(s, c);
}

/* ---------------------------------------------------------------- the backend table */
/* The scale engine behind the core's interface (src/backend.h). The CUDA backend's create hands a
 * problem here when it outgrows one GPU or asks for several (backend.cu); the core's driver runs
 * the Lloyd loop, one fkm_scale_iterate per iteration (each ends in host reads anyway). */
static void sb_destroy(void *p) { fkm_scale_destroy((fkm_cu_scale *)p); }
static fkm_status sb_set_centroids(void *p, const float *c) { return fkm_scale_set_centroids((fkm_cu_scale *)p, c); }
static fkm_status sb_get_centroids(void *p, float *c) { return fkm_scale_get_centroids((fkm_cu_scale *)p, c); }
static fkm_status sb_iterate(void *p, int update, fkm_empty_policy pol, fkm_iter_stats *st) {
    return fkm_scale_iterate((fkm_cu_scale *)p, update, pol, st);
}
static fkm_status sb_assign(void *p, int32_t *labels, float *dist, double *inertia) {
    return fkm_scale_assign((fkm_cu_scale *)p, labels, dist, inertia);
}
static fkm_status sb_distances(void *p, float *out) {
    (void)p;
    (void)out;
    return FKM_FAIL(FKM_ERR_NO_MEMORY, "transform: the data does not fit the GPU (or asks for several GPUs), and "
                    "all n x k distances are computed on one GPU only; use device=cpu");
}
static fkm_status sb_kmeanspp(void *p, uint64_t seed, float *c) { return fkm_scale_kmeanspp((fkm_cu_scale *)p, seed, c); }
static fkm_status sb_kmeans_par(void *p, uint64_t seed, float *c) {
    return fkm_scale_kmeans_par((fkm_cu_scale *)p, seed, c);
}

extern "C" const fkm_backend fkm_scale_backend = {
    "cuda", FKM_DEVICE_CUDA, NULL /* made by the CUDA backend's create */, sb_destroy, sb_set_centroids,
    sb_get_centroids, sb_iterate, sb_assign, sb_distances, sb_kmeanspp, NULL /* run: the core's loop */,
    sb_kmeans_par, NULL, NULL /* init: the core's; agree_cancel: one process */,
};
