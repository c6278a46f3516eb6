/* plan.cu -- the scale engine (scale.cuh): how the rows are split over the GPUs and, on each, into
 * resident rows and streamed chunks of `piece` rows within the memory budget; creating and
 * destroying the engine. The passes over the data are in pipeline.cu, the update in reduce.cu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../cu_memory.cuh"
#include "scale.cuh"

/* Bytes kept free on each GPU beyond the plan: CUDA's and NCCL's own buffers, fragmentation. */
#define SCALE_MARGIN ((size_t)256 << 20)
#define SCALE_NCCL_MARGIN ((size_t)512 << 20)
#define SCALE_MAX_PIECE ((int64_t)1 << 20)
#define SCALE_MIN_PIECE ((int64_t)4096)

/* Staging slots per GPU: chunks in flight ahead of the compute (2; FKM_CU_SCALE_SLOTS 2..4). */
static int scale_slots(void) {
    fkm_cu_switches sw;
    fkm_cu_switches_read(&sw);
    return sw.scale_slots;
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
    fkm_cu_switches sw;
    fkm_cu_switches_read(&sw);
    if (sw.scale_piece > 0 && sw.scale_piece < p) p = sw.scale_piece; /* FKM_CU_SCALE_PIECE, tests: many small pieces */
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
    fkm_cu_switches sw;
    fkm_cu_switches_read(&sw);
    *use = g > 1 || sw.scale; /* FKM_CU_SCALE=1: also one GPU */
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
        fkm_scale_pin_streamed(s, gi);
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
    if (st == FKM_OK) st = fkm_scale_first_pass(s);
    const double t2 = fkm_now_ms();
    const int prof = s->g[0].e.sw.profile; /* FKM_CU_PROFILE: the plan, for benchmarks (dev/cuda/bench_stream.c) */
    for (int gi = 0; st == FKM_OK && prof > 0 && gi < ngpu; gi++)
        fprintf(stderr, "fkm scale: GPU %d rows [%lld, %lld): %lld resident, %lld streamed in chunks of %lld rows "
                "(%s host memory, %zu bytes a row)\n", s->devs[gi], (long long)s->g[gi].row0,
                (long long)(s->g[gi].row0 + s->g[gi].n), (long long)s->g[gi].res, (long long)(s->g[gi].n - s->g[gi].res),
                (long long)s->piece, s->pinned[gi] ? "pinned" : "pageable or already pinned", s->src_row_bytes);
    if (st == FKM_OK && prof > 0)
        fprintf(stderr, "fkm scale: %.0f ms to allocate and pin, %.0f ms for the first pass (upload, column scales)\n",
                t1 - t0, t2 - t1);
    if (st != FKM_OK) {
        fkm_scale_destroy(s);
        return st;
    }
    *out = s;
    return FKM_OK;
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
