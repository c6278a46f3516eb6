/* scale.cuh -- the CUDA engine for host data that outgrows one GPU, or runs on several.
 *
 * Each GPU g takes a contiguous slice of the rows. Of its slice, the first `res` rows are kept on
 * the GPU in compute layout (uploaded once); the rest are streamed from (pinned) host memory in
 * chunks of `piece` rows every pass, double-buffered on a copy stream so the copies overlap the
 * assignment of the chunk before. Every piece (resident or streamed) runs through one engine of
 * `piece` rows (engine.cu) viewed over the piece: assignment (labels, distances, counts), the sort
 * of its labels, and per-cluster sums in 64-bit fixed point (fx.cu). The sums, weights and counts
 * of all GPUs are all-reduced as integers with NCCL, so centroids, labels and inertia are bitwise
 * the same for any number of GPUs, any memory cap and any chunk size (docs/scale.md). */
#ifndef FKM_CU_SCALE_CUH
#define FKM_CU_SCALE_CUH

#include "../cu_common.cuh"

#define FKM_SCALE_MAX_GPUS 64
#define FKM_SCALE_MAX_SLOTS 4 /* staging buffers per GPU: 2 (default) .. 4, FKM_CU_SCALE_SLOTS */

typedef struct {
    fkm_cu_engine e;          /* engine of `piece` rows: kernels, centroids, piece buffers, stats */
    cudaStream_t copy;        /* host -> device copies */
    int64_t row0, n;          /* the slice: global first row and rows */
    int64_t res;              /* rows resident on this GPU (the slice's first) */
    void *res_x;              /* res rows, compute layout */
    float *res_xterm;         /* res norms */
    int32_t *labels, *prev;   /* n: current labels, labels of the previous assignment */
    float *best, *w;          /* n: distances; weights (NULL: none) */
    void *stage[FKM_SCALE_MAX_SLOTS];
    cudaEvent_t copied[FKM_SCALE_MAX_SLOTS], freed[FKM_SCALE_MAX_SLOTS];
    int prefetched;           /* streamed chunks already copied for the next pass (0..slots) */
    int64_t *fx;              /* 2kd + 2k + k int64: sum limbs hi, lo, weight limbs hi, lo, counts
                               * (with weights: of the positive-weight rows, the empty-cluster rule's) */
    double *colscale;         /* d fixed-point scales of the columns */
    float *colmax;            /* d, then scratch */
    unsigned long long *scal; /* 4 scratch words (max, inertia limbs, argmax) */
    double *shift2;           /* max squared centroid move (device) */
    void *rowbuf;             /* one row in the source type, one in compute layout, its norm */
    void *mem;                /* the single allocation behind the pointers above */
} fkm_scale_gpu;

typedef struct fkm_cu_scale {
    int ngpu;
    int devs[FKM_SCALE_MAX_GPUS];
    fkm_scale_gpu g[FKM_SCALE_MAX_GPUS];
    void *comms[FKM_SCALE_MAX_GPUS]; /* NCCL communicators (ngpu > 1) */
    fkm_problem pb;           /* the core's problem (host pointers valid until destroy) */
    int64_t n, d, k, piece;
    int slots;                /* staging slots per GPU */
    const void *src;          /* host rows streamed (the source type below) */
    fkm_dtype src_type;
    size_t src_row_bytes;
    void *pinned[FKM_SCALE_MAX_GPUS]; /* host ranges registered by us (unregistered at destroy) */
    const float *hw;          /* host weights or NULL */
    double wscale;
    int cosine, x_exact;
    unsigned long long *hscal; /* pinned host scratch */
    int64_t *hcounts;         /* host k (global counts, the empty-cluster policy) */
} fkm_cu_scale;

#ifdef __cplusplus
extern "C" {
#endif
/* The scale engine's backend table (pipeline.cu; its engine made by fkm_scale_create, plan.cu, which
 * the CUDA backend's create calls for the problems it hands over: backend.cu), and its operations
 * (plan.cu: create, destroy, feasible, wanted; pipeline.cu: assign, centroids, init; reduce.cu: iterate). */
extern const fkm_backend fkm_scale_backend;
fkm_status fkm_scale_create(const fkm_problem *pb, int ngpu, fkm_cu_scale **out);
void fkm_scale_destroy(fkm_cu_scale *s);
fkm_status fkm_scale_set_centroids(fkm_cu_scale *s, const float *c);
fkm_status fkm_scale_get_centroids(fkm_cu_scale *s, float *c);
fkm_status fkm_scale_iterate(fkm_cu_scale *s, int update, fkm_empty_policy pol, fkm_iter_stats *st);
fkm_status fkm_scale_assign(fkm_cu_scale *s, int32_t *labels, float *dist, double *inertia);
fkm_status fkm_scale_kmeanspp(fkm_cu_scale *s, uint64_t seed, float *c);
fkm_status fkm_scale_kmeans_par(fkm_cu_scale *s, uint64_t seed, float *c);
/* For device=auto: whether the scale engine can hold the problem (FKM_ERR_NO_MEMORY if not). */
fkm_status fkm_scale_feasible(const fkm_problem *pb);
/* GPUs the problem asks for (*ngpu), and *use = 1 when that is several (or FKM_CU_SCALE=1). */
fkm_status fkm_scale_wanted(const fkm_problem *pb, int *ngpu, int *use);

/* Internal to the scale engine: pipeline.cu's passes, used by plan.cu and reduce.cu. */
typedef struct {
    int mode;   /* 2: an iteration's assignment (statistics, sort keys); 1: labels and distances */
    int sums;   /* fixed-point sums of the piece */
    int exact;  /* exact float64 L2 distances (final assignment) */
} fkm_scale_pass_kind;
const char *fkm_scale_host_row(const fkm_cu_scale *s, int64_t row);
void fkm_scale_pin_streamed(fkm_cu_scale *s, int gi);
fkm_status fkm_scale_first_pass(fkm_cu_scale *s);
fkm_status fkm_scale_set_dev(const fkm_cu_scale *s, int gi);
fkm_status fkm_scale_pass(fkm_cu_scale *s, const fkm_scale_pass_kind *pk);
fkm_status fkm_scale_prefetch(fkm_cu_scale *s);
fkm_status fkm_scale_sync_all(fkm_cu_scale *s);
fkm_status fkm_scale_fetch_scal(fkm_cu_scale *s, int gi, int first, int count);
fkm_status fkm_scale_global_inertia(fkm_cu_scale *s, double *out);

/* fx.cu: fixed-point kernels (enqueued on e->stream) */
fkm_status fkm_fx_colmax(fkm_cu_engine *v, const float *w, float *colmax);
fkm_status fkm_fx_piece_sums(fkm_cu_engine *v, int64_t items, const double *colscale, double wscale, int64_t *fx);
fkm_status fkm_fx_pack(fkm_cu_engine *e, int64_t *fx);
fkm_status fkm_fx_absmax(fkm_cu_engine *e, const float *v, const float *w, int64_t n, unsigned long long *out);
fkm_status fkm_fx_sum(fkm_cu_engine *e, const float *v, const float *w, int64_t n, double scale, unsigned long long *out);
fkm_status fkm_fx_donor(fkm_cu_engine *e, const float *best, const int32_t *labels, const float *w, int64_t n,
                        const int64_t *counts, unsigned long long *out);
/* e->counts := the positive-weight rows per cluster of labels/w (n rows): what the empty-cluster
 * policy counts when there are weights */
fkm_status fkm_fx_weighted_counts(fkm_cu_engine *e, const int32_t *labels, const float *w, int64_t n);
fkm_status fkm_fx_move(fkm_cu_engine *e, const void *row_ct, float wi, int64_t from, int64_t to, const double *colscale,
                       double wscale, int64_t *fx);
fkm_status fkm_fx_finalize(fkm_cu_engine *e, const int64_t *fx, const double *colscale, double wscale, double *shift2);

/* nccl.cu */
#define FKM_NCCL_INT64 4
#define FKM_NCCL_SUM 0
fkm_status fkm_nccl_init(int ndev, const int *devs, void **comms);
void fkm_nccl_destroy(int ndev, void **comms);
fkm_status fkm_nccl_sum_i64(int ndev, void **comms, int64_t *const *bufs, size_t count, const cudaStream_t *streams);
#ifdef __cplusplus
}
#endif

/* The engine e viewed over rows [off, off + rows) of a piece, in `tiles` point tiles: x, norms,
 * labels, distances and weights point at that piece; sort buffers, counts and statistics stay
 * the engine's. */
static inline fkm_cu_engine fkm_scale_view(const fkm_cu_engine *e, int64_t rows, void *x, float *xterm, int32_t *labels,
                                           int32_t *prev, float *best, const float *w, int64_t tiles) {
    fkm_cu_engine v = *e;
    v.n = rows;
    v.tiles = tiles;
    v.x = x;
    v.xcopy = x;
    v.xterm = xterm;
    v.labels = labels;
    v.prev = prev;
    v.best = best;
    v.w = w;
    return v;
}
#endif
