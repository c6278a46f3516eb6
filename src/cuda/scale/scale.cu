/* scale.cu -- the scale engine (scale.cuh): host data on one or several GPUs, whatever fits kept
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
 * while the host finishes the iteration. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "../cu_memory.cuh"
#include "scale.cuh"
#include "../assign/tuning.cuh"
#include "../../fixed.h"

extern "C" {
#include "../../core/init.h"
}

/* Bytes kept free on each GPU beyond the plan: CUDA's and NCCL's own buffers, fragmentation. */
#define SCALE_MARGIN ((size_t)256 << 20)
#define SCALE_NCCL_MARGIN ((size_t)512 << 20)
#define SCALE_MAX_PIECE ((int64_t)1 << 20)
#define SCALE_MIN_PIECE ((int64_t)4096)

/* Staging slots per GPU: chunks in flight ahead of the compute (2; FKM_CU_SCALE_SLOTS 2..4). */
static int scale_slots(void) {
    const char *v = getenv("FKM_CU_SCALE_SLOTS");
    const int s = v ? atoi(v) : 2;
    return s < 2 ? 2 : s > FKM_SCALE_MAX_SLOTS ? FKM_SCALE_MAX_SLOTS : s;
}

static size_t align256(size_t b) { return (b + 255) & ~(size_t)255; }

/* ---------------------------------------------------------------- planning */
typedef struct {
    int64_t piece, res;   /* rows per piece, resident rows */
    size_t eng, own;      /* engine workspace, our allocation */
} gpu_plan;

static int src_is_raw(const fkm_problem *pb, int ctype) { return fkm_cu_upload_raw(ctype, pb->metric, pb->raw_dtype); }

/* Our allocation for a slice of n rows, res of them resident, pieces of p rows. */
static size_t own_bytes(const fkm_cu_engine *e, int64_t n, int64_t res, int64_t p, size_t src_row, int weights) {
    const int slots = res < n ? scale_slots() : 1;
    size_t b = align256((size_t)res * (size_t)(e->dp * e->es)) + align256((size_t)res * 4);
    b += 3 * align256((size_t)n * 4) + (weights ? align256((size_t)n * 4) : 0);
    b += (size_t)slots * align256((size_t)p * src_row);
    b += align256((size_t)(2 * e->k * e->d + 3 * e->k) * 8) + align256((size_t)e->d * 8) + align256((size_t)e->d * 4);
    b += align256(64) + align256(8) + align256(src_row + (size_t)(e->dp * e->es) + 48);
    return b;
}

/* Plan GPU dev for a slice of n rows within `budget` bytes: the largest piece (up to 2^20 rows)
 * whose fixed part takes at most half the budget, then as many resident rows as fit. */
static fkm_status plan_gpu(const fkm_problem *pb, int dev, int64_t n, size_t budget, size_t cap, size_t margin,
                           gpu_plan *out) {
    fkm_cu_engine e;
    int64_t p = n < SCALE_MAX_PIECE ? n : SCALE_MAX_PIECE;
    if (p < 1) p = 1;
    const char *force = getenv("FKM_CU_SCALE_PIECE"); /* tests: many small pieces */
    if (force && atoll(force) > 0 && atoll(force) < p) p = atoll(force);
    for (;;) {
        fkm_status st = fkm_cu_plan(&e, dev, 1, p, pb->d, pb->k, pb->metric, pb->precision);
        if (st != FKM_OK) return st;
        e.cert = 0; /* the streamed engine runs the SIMT kernel for exact (docs/certified.md) */
        const size_t src_row = (size_t)pb->d * (src_is_raw(pb, e.ctype) ? 2 : 4);
        const size_t eng = fkm_cu_layout(&e, NULL, 1), fixed = eng + own_bytes(&e, n, 0, p, src_row, pb->w != NULL);
        if (fixed <= budget / 2 || p <= SCALE_MIN_PIECE) {
            if (fixed > budget) { /* the cap's message, or the free memory's (with our margin) */
                st = fkm_cu_check_fits(fixed, cap, FKM_CU_STREAM_ADVICE);
                if (st == FKM_OK) st = fkm_cu_check_fits(fixed + margin, 0, FKM_CU_STREAM_ADVICE);
                return st != FKM_OK ? st : FKM_FAIL(FKM_ERR_NO_MEMORY, "GPU %d: too little memory to stream the data", dev);
            }
            const size_t row = (size_t)(e.dp * e.es) + 4;
            int64_t res = (int64_t)((budget - fixed) / row);
            if (res >= n && own_bytes(&e, n, n, p, src_row, pb->w != NULL) + eng <= budget) res = n;
            else if (res >= n) res = n - 1;
            /* with streaming: room for the second staging slot too */
            while (res < n && res > 0 && eng + own_bytes(&e, n, res, p, src_row, pb->w != NULL) > budget)
                res -= res / 16 + 1;
            if (res < 0) res = 0;
            if (res < n && eng + own_bytes(&e, n, res, p, src_row, pb->w != NULL) > budget) {
                p /= 2; /* the second slot does not fit: smaller pieces */
                if (p >= SCALE_MIN_PIECE) continue;
                return FKM_FAIL(FKM_ERR_NO_MEMORY, "GPU %d: too little memory to stream the data", dev);
            }
            out->piece = p;
            out->res = res;
            out->eng = eng;
            out->own = own_bytes(&e, n, res, p, src_row, pb->w != NULL);
            return FKM_OK;
        }
        p /= 2;
    }
}

static size_t margin_of(int ngpu) { return SCALE_MARGIN + (ngpu > 1 ? SCALE_NCCL_MARGIN : 0); }

/* Bytes of dev's memory this engine may use: the cap, or the free memory less a margin. */
static fkm_status budget_of(int dev, size_t cap, int ngpu, size_t *out) {
    size_t avail = 0, total = 0;
    CU_RET(cudaSetDevice(dev));
    CU_RET(cudaMemGetInfo(&avail, &total));
    const size_t margin = margin_of(ngpu);
    size_t b = avail > margin ? avail - margin : 0;
    if (cap && cap < b) b = cap;
    *out = b;
    return FKM_OK;
}

static int64_t slice_row0(int64_t n, int g, int ngpu) { return n * g / ngpu; }

extern "C" fkm_status fkm_scale_wanted(const fkm_problem *pb, int *ngpu, int *use) {
    const int count = fkm_cuda_device_count();
    int g = pb->gpu_count == 0 ? count - pb->cuda_device : pb->gpu_count;
    if (g < 1 || pb->cuda_device + g > count)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "gpu_count %d from cuda_device %d: only %d GPU(s) present", pb->gpu_count,
                        pb->cuda_device, count);
    if (g > FKM_SCALE_MAX_GPUS) g = FKM_SCALE_MAX_GPUS;
    *ngpu = g;
    const char *force = getenv("FKM_CU_SCALE");
    *use = g > 1 || (force && atoi(force) == 1);
    return FKM_OK;
}

/* ---------------------------------------------------------------- create / destroy */
static fkm_status alloc_gpu(fkm_cu_scale *s, fkm_scale_gpu *g, const gpu_plan *pl, int weights) {
    fkm_cu_engine *e = &g->e;
    const size_t bytes = pl->own;
    CU_RET(cudaMalloc(&g->mem, bytes));
    char *p = (char *)g->mem;
#define TAKE(ptr, type, count)                                   \
    do {                                                         \
        g->ptr = (type)p;                                        \
        p += align256((size_t)(count));                          \
    } while (0)
    TAKE(res_x, void *, (size_t)g->res * (size_t)(e->dp * e->es));
    TAKE(res_xterm, float *, (size_t)g->res * 4);
    TAKE(labels, int32_t *, (size_t)g->n * 4);
    TAKE(prev, int32_t *, (size_t)g->n * 4);
    TAKE(best, float *, (size_t)g->n * 4);
    if (weights) TAKE(w, float *, (size_t)g->n * 4);
    const int slots = g->res < g->n ? s->slots : 1;
    for (int i = 0; i < slots; i++) TAKE(stage[i], void *, (size_t)s->piece * s->src_row_bytes);
    TAKE(fx, int64_t *, (size_t)(2 * s->k * s->d + 3 * s->k) * 8);
    TAKE(colscale, double *, (size_t)s->d * 8);
    TAKE(colmax, float *, (size_t)s->d * 4);
    TAKE(scal, unsigned long long *, 64);
    TAKE(shift2, double *, 8);
    TAKE(rowbuf, void *, s->src_row_bytes + (size_t)(e->dp * e->es) + 48);
#undef TAKE
    CU_RET(cudaStreamCreateWithFlags(&g->copy, cudaStreamNonBlocking));
    for (int i = 0; i < FKM_SCALE_MAX_SLOTS; i++) {
        CU_RET(cudaEventCreateWithFlags(&g->copied[i], cudaEventDisableTiming));
        CU_RET(cudaEventCreateWithFlags(&g->freed[i], cudaEventDisableTiming));
    }
    return FKM_OK;
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

static const char *host_row(const fkm_cu_scale *s, int64_t row) {
    return (const char *)s->src + (size_t)row * s->src_row_bytes;
}

/* Page-lock the streamed host rows of GPU g, so their copies are asynchronous DMA. Memory that
 * is already pinned is used as it is; memory that cannot be pinned is copied as pageable. */
static void pin_streamed(fkm_cu_scale *s, int gi) {
    fkm_scale_gpu *g = &s->g[gi];
    if (g->res >= g->n) return;
    void *p = (void *)host_row(s, g->row0 + g->res);
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
    CU_RET(cudaMemcpyAsync(g->stage[0], host_row(s, g->row0 + r0), (size_t)rows * s->src_row_bytes,
                           cudaMemcpyHostToDevice, v.stream));
    fkm_status st = fkm_cu_prep_x(&v, g->stage[0], s->src_type, 0, 0);
    if (st == FKM_OK) st = fkm_fx_colmax(&v, v.w, g->colmax);
    if (st == FKM_OK) CU_RET(cudaStreamSynchronize(v.stream)); /* slot 0 is reused by the next piece */
    return st;
}

/* Upload the resident rows and the weights, and find the columns' fixed-point scales (every
 * row, resident or not, is read once here). */
static fkm_status first_pass(fkm_cu_scale *s) {
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

extern "C" void fkm_scale_destroy(fkm_cu_scale *s) {
    if (!s) return;
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if (cudaSetDevice(s->devs[gi]) != cudaSuccess) continue;
        if (g->copy) (void)cudaStreamSynchronize(g->copy);
        if (g->e.stream) (void)cudaStreamSynchronize(g->e.stream);
        for (int i = 0; i < FKM_SCALE_MAX_SLOTS; i++) {
            if (g->copied[i]) (void)cudaEventDestroy(g->copied[i]);
            if (g->freed[i]) (void)cudaEventDestroy(g->freed[i]);
        }
        if (g->copy) (void)cudaStreamDestroy(g->copy);
        if (g->mem) (void)cudaFree(g->mem);
        fkm_cu_close(&g->e);
        if (s->pinned[gi]) (void)cudaHostUnregister(s->pinned[gi]);
    }
    if (s->ngpu > 1) fkm_nccl_destroy(s->ngpu, s->comms);
    if (s->hscal) (void)cudaFreeHost(s->hscal);
    free(s->hcounts);
    (void)cudaGetLastError();
    free(s);
}

static fkm_status create_gpus(fkm_cu_scale *s, const fkm_problem *pb) {
    gpu_plan pl[FKM_SCALE_MAX_GPUS];
    s->piece = INT64_MAX;
    for (int gi = 0; gi < s->ngpu; gi++) {
        const int64_t r0 = slice_row0(s->n, gi, s->ngpu), n = slice_row0(s->n, gi + 1, s->ngpu) - r0;
        size_t budget = 0;
        fkm_status st = budget_of(s->devs[gi], pb->gpu_mem_limit, s->ngpu, &budget);
        if (st == FKM_OK) st = plan_gpu(pb, s->devs[gi], n, budget, pb->gpu_mem_limit, margin_of(s->ngpu), &pl[gi]);
        if (st != FKM_OK) return st;
        s->g[gi].row0 = r0;
        s->g[gi].n = n;
        if (pl[gi].piece < s->piece) s->piece = pl[gi].piece;
    }
    for (int gi = 0; gi < s->ngpu; gi++) { /* one piece size for all (the smallest plan's) */
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = fkm_cu_plan(&g->e, s->devs[gi], 1, s->piece, pb->d, pb->k, pb->metric, pb->precision);
        g->e.cert = 0; /* as above */
        /* a piece no larger than this GPU's own plan needs no more memory: its resident rows stand */
        g->res = pl[gi].res;
        if (st == FKM_OK) {
            s->src_type = src_is_raw(pb, g->e.ctype) ? pb->raw_dtype : FKM_F32;
            s->src = src_is_raw(pb, g->e.ctype) ? pb->raw : (const void *)pb->x;
            s->src_row_bytes = (size_t)pb->d * (src_is_raw(pb, g->e.ctype) ? 2 : 4);
            s->x_exact = fkm_cu_x_exact(g->e.ctype, pb->raw_dtype);
            gpu_plan q = pl[gi];
            q.piece = s->piece;
            q.own = own_bytes(&g->e, g->n, g->res, s->piece, s->src_row_bytes, pb->w != NULL);
            st = fkm_cu_open(&g->e, NULL, 0, 1, NULL);
            if (st == FKM_OK) st = alloc_gpu(s, g, &q, pb->w != NULL);
        }
        if (st != FKM_OK) return st;
        pin_streamed(s, gi);
    }
    return FKM_OK;
}

extern "C" fkm_status fkm_scale_create(const fkm_problem *pb, int ngpu, fkm_cu_scale **out) {
    fkm_cu_scale *s = (fkm_cu_scale *)calloc(1, sizeof *s);
    if (!s) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the CUDA engine");
    s->ngpu = ngpu;
    s->slots = scale_slots();
    s->n = pb->n;
    s->d = pb->d;
    s->k = pb->k;
    s->hw = pb->w;
    s->pb = *pb;
    s->cosine = pb->metric == FKM_METRIC_COSINE;
    for (int i = 0; i < ngpu; i++) s->devs[i] = pb->cuda_device + i;
    fkm_status st = FKM_OK;
    if (pb->n / ngpu >= INT32_MAX)
        st = FKM_FAIL(FKM_ERR_INVALID_ARG, "%lld rows on %d GPU(s): at most 2^31 - 1 rows a GPU", (long long)pb->n, ngpu);
    if (st == FKM_OK && ngpu > 1) st = fkm_nccl_init(ngpu, s->devs, s->comms);
    const double t0 = fkm_now_ms();
    if (st == FKM_OK) st = create_gpus(s, pb);
    const double t1 = fkm_now_ms();
    if (st == FKM_OK) {
        s->hcounts = (int64_t *)malloc((size_t)s->k * sizeof(int64_t));
        if (!s->hcounts) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    }
    if (st == FKM_OK) {
        cudaError_t ce = cudaMallocHost((void **)&s->hscal, 64 * (size_t)ngpu);
        if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "pinned host scratch");
    }
    if (st == FKM_OK) st = first_pass(s);
    const double t2 = fkm_now_ms();
    const char *prof = getenv("FKM_CU_PROFILE"); /* the plan, for benchmarks (dev/cuda/bench_stream.c) */
    for (int gi = 0; st == FKM_OK && prof && atoi(prof) > 0 && gi < ngpu; gi++)
        fprintf(stderr, "fkm scale: GPU %d rows [%lld, %lld): %lld resident, %lld streamed in chunks of %lld rows "
                "(%s host memory, %zu bytes a row)\n", s->devs[gi], (long long)s->g[gi].row0,
                (long long)(s->g[gi].row0 + s->g[gi].n), (long long)s->g[gi].res, (long long)(s->g[gi].n - s->g[gi].res),
                (long long)s->piece, s->pinned[gi] ? "pinned" : "pageable or already pinned", s->src_row_bytes);
    if (st == FKM_OK && prof && atoi(prof) > 0)
        fprintf(stderr, "fkm scale: %.0f ms to allocate and pin, %.0f ms for the first pass (upload, column scales)\n",
                t1 - t0, t2 - t1);
    if (st != FKM_OK) {
        fkm_scale_destroy(s);
        return st;
    }
    *out = s;
    return FKM_OK;
}

/* ---------------------------------------------------------------- a pass over the data */
static fkm_status set_dev(const fkm_cu_scale *s, int gi) {
    CU_RET(cudaSetDevice(s->devs[gi]));
    return FKM_OK;
}

/* Copy streamed chunk j of slice g into its staging slot, once the slot's last reader is done. */
static fkm_status issue_copy(fkm_cu_scale *s, fkm_scale_gpu *g, int64_t j) {
    const int slot = (int)(j % s->slots);
    int64_t r0 = 0, rows = 0;
    piece_range(s, g, n_res_pieces(s, g) + j, &r0, &rows);
    CU_RET(cudaStreamWaitEvent(g->copy, g->freed[slot], 0));
    CU_RET(cudaMemcpyAsync(g->stage[slot], host_row(s, g->row0 + r0), (size_t)rows * s->src_row_bytes,
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

typedef struct {
    int mode;   /* 2: an iteration's assignment (statistics, sort keys); 1: labels and distances */
    int sums;   /* fixed-point sums of the piece */
    int exact;  /* exact float64 L2 distances (final assignment) */
} pass_kind;

static fkm_status run_piece(fkm_cu_scale *s, fkm_scale_gpu *g, int64_t i, const pass_kind *pk) {
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

static fkm_status begin_pass(fkm_cu_scale *s, fkm_scale_gpu *g, const pass_kind *pk) {
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
static fkm_status pass(fkm_cu_scale *s, const pass_kind *pk) {
    fkm_status st = FKM_OK;
    int64_t most = 0;
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        const int64_t np = n_res_pieces(s, g) + n_chunks(s, g);
        most = np > most ? np : most;
        if ((st = set_dev(s, gi)) == FKM_OK) st = begin_pass(s, g, pk);
    }
    for (int64_t q = 0; q < most && st == FKM_OK; q++)
        for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
            fkm_scale_gpu *g = &s->g[gi];
            if (q >= n_res_pieces(s, g) + n_chunks(s, g)) continue;
            if ((st = set_dev(s, gi)) == FKM_OK) st = run_piece(s, g, piece_at(s, g, q), pk);
        }
    return st;
}

/* The next pass's first chunks, copied while the host finishes this iteration. */
static fkm_status prefetch(fkm_cu_scale *s) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = set_dev(s, gi);
        for (int64_t j = 0; st == FKM_OK && j < n_chunks(s, g) && j < s->slots; j++) st = issue_copy(s, g, j);
        if (st != FKM_OK) return st;
        g->prefetched = (int)(n_chunks(s, g) < s->slots ? n_chunks(s, g) : s->slots);
    }
    return FKM_OK;
}

/* Wait for every GPU's compute stream; the host scratch words of GPU g are s->hscal + 8 g. */
static fkm_status sync_all(fkm_cu_scale *s) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_status st = set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaStreamSynchronize(s->g[gi].e.stream));
    }
    return FKM_OK;
}

static fkm_status fetch_scal(fkm_cu_scale *s, int gi, int first, int count) {
    fkm_scale_gpu *g = &s->g[gi];
    CU_RET(cudaMemcpyAsync(s->hscal + 8 * gi + first, g->scal + first, (size_t)count * 8, cudaMemcpyDeviceToHost,
                           g->e.stream));
    return FKM_OK;
}

/* Inertia: sum of w_i best_i over all rows in fixed point at the scale of the global max term,
 * so the same bits for any split. */
static fkm_status global_inertia(fkm_cu_scale *s, double *out) {
    fkm_status st = FKM_OK;
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if ((st = set_dev(s, gi)) == FKM_OK) st = fkm_fx_absmax(&g->e, g->best, g->w, g->n, g->scal);
        if (st == FKM_OK) st = fetch_scal(s, gi, 0, 1);
    }
    if (st == FKM_OK) st = sync_all(s);
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
        if ((st = set_dev(s, gi)) == FKM_OK) st = fkm_fx_sum(&g->e, g->best, g->w, g->n, scale, g->scal + 1);
        if (st == FKM_OK) st = fetch_scal(s, gi, 1, 2);
    }
    if (st == FKM_OK) st = sync_all(s);
    __int128 total = 0;
    for (int gi = 0; st == FKM_OK && gi < s->ngpu; gi++)
        total += (__int128)(int64_t)s->hscal[8 * gi + 1] * 4294967296 + (__int128)(int64_t)s->hscal[8 * gi + 2];
    *out = (double)total / scale;
    return st;
}

/* ---------------------------------------------------------------- the update */
/* Carry the limbs and all-reduce sums, weights and counts over the GPUs (integers: exact). */
static fkm_status reduce_sums(fkm_cu_scale *s) {
    int64_t *bufs[FKM_SCALE_MAX_GPUS];
    cudaStream_t streams[FKM_SCALE_MAX_GPUS];
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_status st = set_dev(s, gi);
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
        fkm_status st = set_dev(s, gi);
        if (st != FKM_OK) return st;
        char *src = (char *)g->rowbuf, *ct = src + ((s->src_row_bytes + 15) & ~(size_t)15);
        float *xt = (float *)(ct + g->e.dp * g->e.es);
        fkm_cu_engine v = fkm_scale_view(&g->e, 1, ct, xt, g->labels, g->prev, g->best, NULL, 1);
        CU_RET(cudaMemcpyAsync(src, host_row(s, row), s->src_row_bytes, cudaMemcpyHostToDevice, v.stream));
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
 * the largest distance (lowest global row on ties) among clusters that keep a point. */
static fkm_status fill_empties(fkm_cu_scale *s) {
    const int64_t kd = s->k * s->d;
    for (int64_t c = 0; c < s->k; c++) {
        if (s->hcounts[c] != 0) continue;
        fkm_status st = FKM_OK;
        for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
            fkm_scale_gpu *g = &s->g[gi];
            if ((st = set_dev(s, gi)) != FKM_OK) break;
            CU_RET(cudaMemsetAsync(g->scal + 3, 0, 8, g->e.stream));
            st = fkm_fx_donor(&g->e, g->best, g->labels, g->n, g->fx + 2 * kd + 2 * s->k, g->scal + 3);
            if (st == FKM_OK) st = fetch_scal(s, gi, 3, 1);
        }
        if (st == FKM_OK) st = sync_all(s);
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
        if ((st = set_dev(s, owner)) != FKM_OK) return st;
        CU_RET(cudaMemcpy(&from, s->g[owner].labels + (brow - s->g[owner].row0), 4, cudaMemcpyDeviceToHost));
        if ((st = move_row(s, brow, from, c)) != FKM_OK) return st;
        s->hcounts[from]--;
        s->hcounts[c] = 1;
    }
    return FKM_OK;
}

/* Global counts (from GPU 0's reduced totals) -> host; the number of empty clusters. */
static fkm_status read_counts(fkm_cu_scale *s, int64_t *empty) {
    fkm_status st = set_dev(s, 0);
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
        fkm_status st = set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaMemsetAsync(g->shift2, 0, 8, g->e.stream));
        if ((st = fkm_fx_finalize(&g->e, g->fx, g->colscale, s->wscale, g->shift2)) != FKM_OK) return st;
        if ((st = fkm_cu_prep_centroids(&g->e)) != FKM_OK) return st;
    }
    double s2 = 0.0;
    fkm_status st = set_dev(s, 0);
    if (st != FKM_OK) return st;
    CU_RET(cudaMemcpyAsync(s->hscal + 7, s->g[0].shift2, 8, cudaMemcpyDeviceToHost, s->g[0].e.stream));
    if ((st = sync_all(s)) != FKM_OK) return st;
    memcpy(&s2, s->hscal + 7, sizeof s2);
    *shift = sqrt(s2);
    return FKM_OK;
}

/* ---------------------------------------------------------------- the backend's operations */
extern "C" fkm_status fkm_scale_iterate(fkm_cu_scale *s, int update, fkm_empty_policy pol, fkm_iter_stats *out) {
    const pass_kind pk = {2, update, 0};
    memset(out, 0, sizeof *out);
    fkm_status st = pass(s, &pk);
    if (st == FKM_OK && update) st = reduce_sums(s);
    if (st == FKM_OK && update) st = prefetch(s);
    if (st == FKM_OK) st = global_inertia(s, &out->inertia);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) { /* changed labels: the sum over GPUs */
        fkm_cu_stats h;
        if ((st = set_dev(s, gi)) != FKM_OK) break;
        cudaError_t ce = cudaMemcpy(&h, s->g[gi].e.cur, sizeof h, cudaMemcpyDeviceToHost);
        if (ce != cudaSuccess) return fkm_cu_fail(ce, __FILE__, __LINE__, "reading the statistics");
        out->changed += (int64_t)h.changed;
    }
    if (st != FKM_OK || !update) return st;
    if ((st = read_counts(s, &out->empty)) != FKM_OK) return st;
    if (out->empty && pol == FKM_EMPTY_FARTHEST && (st = fill_empties(s)) != FKM_OK) return st;
    return finalize(s, &out->shift);
}

extern "C" fkm_status fkm_scale_assign(fkm_cu_scale *s, int32_t *labels, float *dist, double *inertia) {
    const pass_kind pk = {1, 0, s->pb.metric == FKM_METRIC_L2 && s->x_exact && (dist || inertia)};
    fkm_status st = pass(s, &pk);
    if (st == FKM_OK && inertia) st = global_inertia(s, inertia);
    for (int gi = 0; gi < s->ngpu && st == FKM_OK; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        if ((st = set_dev(s, gi)) != FKM_OK) break;
        if (labels) CU_RET(cudaMemcpy(labels + g->row0, g->labels, (size_t)g->n * 4, cudaMemcpyDeviceToHost));
        if (dist) CU_RET(cudaMemcpy(dist + g->row0, g->best, (size_t)g->n * 4, cudaMemcpyDeviceToHost));
    }
    return st;
}

extern "C" fkm_status fkm_scale_set_centroids(fkm_cu_scale *s, const float *c) {
    for (int gi = 0; gi < s->ngpu; gi++) {
        fkm_scale_gpu *g = &s->g[gi];
        fkm_status st = set_dev(s, gi);
        if (st != FKM_OK) return st;
        CU_RET(cudaMemcpyAsync(g->e.c32, c, (size_t)(s->k * s->d) * sizeof(float), cudaMemcpyHostToDevice, g->e.stream));
        if ((st = fkm_cu_prep_centroids(&g->e)) != FKM_OK) return st;
        CU_RET(cudaMemsetAsync(g->prev, 0xff, (size_t)g->n * 4, g->e.stream)); /* a new run: every label changes */
    }
    return sync_all(s); /* c may be freed by the caller */
}

extern "C" fkm_status fkm_scale_get_centroids(fkm_cu_scale *s, float *c) {
    fkm_status st = set_dev(s, 0);
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

/* For device=auto: can the scale engine run this problem (the first GPU's plan)? */
extern "C" fkm_status fkm_scale_feasible(const fkm_problem *pb) {
    int ngpu = 1, use = 0;
    fkm_status st = fkm_scale_wanted(pb, &ngpu, &use);
    size_t budget = 0;
    gpu_plan pl;
    if (st == FKM_OK) st = budget_of(pb->cuda_device, pb->gpu_mem_limit, ngpu, &budget);
    if (st == FKM_OK) st = plan_gpu(pb, pb->cuda_device, slice_row0(pb->n, 1, ngpu), budget, pb->gpu_mem_limit, margin_of(ngpu), &pl);
    return st;
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
