/* cu_common.cuh -- CUDA engine internals shared by the .cu files: error mapping, the engine
 * state, the per-iteration device statistics and the kernel-launch entry points.
 *
 * Layout conventions (all device memory):
 *   x      b*n rows of the compute type (fp32 / fp16 / bf16), row pitch dp elements, columns
 *          [d, dp) zero. dp makes a row a whole number of 16-byte vectors.
 *   cc     b*kp rows of the compute type, pitch dcp elements (a whole number of 128-byte chunks),
 *          zero beyond d; rows [k, kp) are zero with cterm = +inf so they never win.
 *   c32    b*k*d float32 centroids (the engine's master copy, pitch d).
 * Scores: score(c) = cterm[c] - alpha * x.c (argmin, ties -> lowest c); the reported distance is
 * xterm + score (clamped at 0 for L2); see src/cpu/cpu.h for the three metrics. */
#ifndef FKM_CU_COMMON_CUH
#define FKM_CU_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "../backend.h"
#include "switches.cuh"
#include "../internal.h"

/* Compute types of the data and centroid copies on the device. */
enum { FKM_CT_F32 = 0, FKM_CT_F16 = 1, FKM_CT_BF16 = 2 };

/* Rows of the padded centroid copy are a multiple of this (the widest centroid tile). */
#define FKM_CU_KPAD 256
/* Bytes of one centroid-row chunk staged per pipeline step (and the centroid pitch unit). */
#define FKM_CU_CHUNK 128
/* Points per update chunk (one warp sums one chunk of the sorted order). */
#define FKM_CU_UPD_P 256
/* Stages of an iteration timed with FKM_CU_PROFILE=2. */
#define FKM_CU_NSTAGE 7
/* Iterations enqueued between host polls in the device-resident loop. */
#define FKM_CU_MAX_BATCH 16

/* Per-problem statistics of one iteration, accumulated on the device. */
typedef struct {
    double inertia;
    unsigned long long shift2; /* bits of a non-negative double: max over clusters (atomicMax) */
    unsigned long long changed;
    unsigned long long rescored; /* points the certified pass re-scored in fp32 (cert.cu) */
    long long empty;
    int ran;       /* 1 if the problem ran this iteration */
    int converged; /* the stop rule was met at this iteration */
} fkm_cu_stats;

/* Stop rule evaluated on the device after each iteration: k_stop applies src/stop.h's rule. */
typedef struct {
    int rule;       /* fkm_stop_rule, or -1: never stop (the core decides) */
    double tol;
    int max_iter;   /* iterations allowed in this run, per problem */
} fkm_cu_stop;

typedef struct fkm_cu_engine {
    fkm_cu_switches sw;      /* the environment switches, read at plan (switches.cuh) */
    int dev, sm_count, cc_major, smem_optin;
    cudaStream_t stream;
    int own_stream;
    int64_t b, n, d, k;
    int64_t dp, kp, dcp;     /* see the layout above */
    int ctype, es;           /* compute type and its element size */
    fkm_metric metric;
    fkm_precision prec;
    int kern;                /* assignment kernel id (tuning.cuh) */
    int cc_tiled;            /* rows per pre-swizzled tile of cc (wgmma kernels), 0: padded rows */
    int tile_parts;          /* inertia partials per point tile */
    int64_t tiles;           /* assignment tiles per problem */
    int64_t nchunks;         /* update chunks over the b*n sorted points */
    int keybits;

    const void *x;           /* compute-type data (aliases the caller's when no copy is needed) */
    const float *w;          /* b*n weights or NULL */
    /* workspace pieces */
    void *xcopy;
    float *xterm, *best, *c32, *cnew, *cterm, *part;
    double *partw, *tile_inertia, *prev_inertia, *var;
    void *cc;
    int32_t *labels, *prev, *counts, *seg_start, *perm, *iota, *done, *iters;
    uint32_t *keys, *keys_sorted;
    int32_t *cs_counts, *cs_start; /* counting scatter: [key][tile] counts and starts */
    int csort;               /* 1: counting scatter instead of the radix sort (tuning table) */
    int32_t *upd;
    int64_t *rowsidx;        /* b*k rows chosen as initial centroids (device API) */
    fkm_cu_stats *cur, *slots;
    void *cub_tmp;
    size_t cub_bytes;
    int *err;                /* prep validation record (2 ints) */

    fkm_cu_stats *hslots;    /* pinned host copy of the slots */
    cudaEvent_t ev[FKM_CU_MAX_BATCH + 1];
    int nev;
    int prof;                /* sw.profile: 1 times the assignment kernel of each iteration */
    cudaEvent_t pev[2 * FKM_CU_MAX_BATCH];
    int npev;
    double ms_assign;        /* accumulated by fkm_cu_run when prof */
    /* FKM_CU_PROFILE=2: stage boundaries of each iteration of a batch, and the summed stage times
     * (setup, assign, policy, sort, sums, centroids, stop) */
    cudaEvent_t sev[FKM_CU_MAX_BATCH][FKM_CU_NSTAGE + 1];
    int nsev;
    double ms_stage[FKM_CU_NSTAGE];
    int capturing;           /* a CUDA graph capture of the iterations is in progress */
    int fused;               /* sw.fused: one fused centroid kernel (experimental) */
    int upd_u;               /* rows in flight per warp in the sums kernel (tuning table) */
    int64_t upd_p;           /* sorted points per chunk of the sums kernel (tuning table) */
    int x_exact;             /* x holds the caller's float32 working values exactly (backend.cu) */
    void *ws_owned;          /* workspace allocated by the engine (NULL: caller's) */
    void *w_owned;           /* uploaded weights (backend) */
    void *ws;
    size_t ws_bytes;
    double host_var;         /* scale of the shift rule given by the core */
    /* Certified exact mode (cert.cu, docs/certified.md): precision exact on fp16 tensor cores with
     * a proven bound, uncertified points re-scored by the SIMT kernel (kern stays SIMT: its tiles,
     * its output stage). */
    int cert;                /* 1: on */
    int kern16;              /* the fp16 persistent kernel id (resident or streamed) */
    int64_t dp16, dcp16;     /* fp16 row pitch of x16 and of the centroid image, in elements */
    float cert_scale;        /* FKM_CU_CERT_SCALE (tests: 0.5 halves the bound) */
    int cert_rsv, rsv_raised; /* exact step: centroids staged in shared memory when small (FKM_CU_CERT_RSV=0: never); smem raised */
    int cert_list;           /* re-score kernel: 1 split over centroids, persistent (FKM_CU_CERT_LIST=0: a block per tile) */
    void *x16;               /* b*n rows of the scaled fp16 data */
    float2 *xq;              /* b*n: (P_x, Q_x) of the bound */
    void *cc16;              /* fp16 centroid image (tiled like cc of the wgmma kernels) */
    float *cn;               /* b*kp: n_c, 0 for padding rows */
    float *calpha;           /* b: alpha / sigma^2 */
    float *csigma;           /* b: sigma (a power of two) */
    uint32_t *cmax;          /* 2b: bits of r and 2u*tau (non-negative floats, atomicMax) */
    int32_t *ulist, *ucount; /* uncertified rows of each problem (b*n) and their count (b) */
    unsigned long long *ukey; /* b*n, by list position: (ordered score, label) minimum of the split
                               * re-score kernel (cert_list) */
    int32_t *coff, *cskip;   /* b: the tensor-core pass is off for the rest of the fit (more than
                              * half re-scored); skip it (done or off) */
    int64_t rescored;        /* their sum over the iterations run (fkm_cu_run) */
    int tiny;                /* many small problems: the whole loop of a problem in one block
                              * (iteration/tiny.cu, fkm_cu_run_tiny) */
    int64_t tiny_p;          /* its sorted points per sums chunk: a fit of one problem's upd_p */
} fkm_cu_engine;

#ifdef __cplusplus
extern "C" {
#endif
/* Record a CUDA failure for fkm_last_error(): out-of-memory -> FKM_ERR_NO_MEMORY, anything
 * else -> FKM_ERR_CUDA with CUDA's text. Clears the (non-sticky) error state. */
fkm_status fkm_cu_fail(cudaError_t e, const char *file, int line, const char *what);
#ifdef __cplusplus
}
#endif

#define CU_RET(call)                                                                   \
    do {                                                                               \
        cudaError_t e_ = (call);                                                       \
        if (e_ != cudaSuccess) return fkm_cu_fail(e_, __FILE__, __LINE__, #call);      \
    } while (0)

/* After a launch: configuration errors now, and with FKM_CUDA_DEBUG every fault at its kernel. */
#ifdef FKM_CUDA_DEBUG
#define CU_LAUNCHED(what)                                                              \
    do {                                                                               \
        cudaError_t e_ = fkm_cu_fault_launch(cudaGetLastError());                      \
        if (e_ == cudaSuccess) e_ = cudaDeviceSynchronize();                           \
        if (e_ != cudaSuccess) return fkm_cu_fail(e_, __FILE__, __LINE__, what);       \
    } while (0)
#else
#define CU_LAUNCHED(what)                                                              \
    do {                                                                               \
        cudaError_t e_ = fkm_cu_fault_launch(cudaGetLastError());                      \
        if (e_ != cudaSuccess) return fkm_cu_fail(e_, __FILE__, __LINE__, what);       \
    } while (0)
#endif

static inline int64_t fkm_cu_roundup(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

/* Let kernel fn use smem bytes of dynamic shared memory: raised once per (device, instance) and
 * remembered in *raised (NULL: raise every time); the default 48 KB needs no call. */
static inline cudaError_t fkm_cu_smem_optin(const void *fn, size_t smem, int *raised) {
    if (smem <= 48 * 1024 || (raised && (size_t)*raised >= smem)) return cudaSuccess;
    const cudaError_t ce = cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (ce == cudaSuccess && raised) *raised = (int)smem;
    return ce;
}

/* Record a timing event on the engine's stream; inside a graph capture as an event node. */
static inline cudaError_t fkm_cu_record(fkm_cu_engine *e, cudaEvent_t ev) {
    return e->capturing ? cudaEventRecordWithFlags(ev, e->stream, cudaEventRecordExternal) : cudaEventRecord(ev, e->stream);
}

/* ---- engine.cu (fkm_cu_run, the loop: iteration/loop.cu) */
/* Sizes and kernel choice for b problems of n x d, k clusters (no allocation). */
fkm_status fkm_cu_plan(fkm_cu_engine *e, int dev, int64_t b, int64_t n, int64_t d, int64_t k, fkm_metric metric,
                       fkm_precision prec);
/* Workspace bytes (base NULL) or carve it; need_copy: the compute copy of the data lives there. */
size_t fkm_cu_layout(fkm_cu_engine *e, char *base, int need_copy);
/* Workspace (the caller's or allocated), stream (the caller's or a new one), pinned stats, events. */
fkm_status fkm_cu_open(fkm_cu_engine *e, void *ws, size_t ws_bytes, int need_copy, cudaStream_t stream);
void fkm_cu_close(fkm_cu_engine *e);
fkm_status fkm_cu_run(fkm_cu_engine *e, int max_iter, fkm_empty_policy pol, int rule, double tol,
                      fkm_iter_stats *st, int *ran, int *conv, double *ms);
/* iteration/tiny.cu: whether this plan runs the tiny-problem loop (shapes it handles and the
 * tuning rule), and the loop itself (the device API's fit: no per-iteration statistics). */
int fkm_cu_tiny_pick(const fkm_cu_engine *e);
fkm_status fkm_cu_run_tiny(fkm_cu_engine *e, int max_iter, fkm_empty_policy pol, int rule, double tol, int *ran,
                           double *ms);

/* ---- kernels' host entry points (each enqueues on e->stream and checks the launch) */
/* prep.cu */
fkm_status fkm_cu_prep_x(fkm_cu_engine *e, const void *src, fkm_dtype t, int normalise, int validate);
fkm_status fkm_cu_prep_centroids(fkm_cu_engine *e);        /* c32 -> cc, cterm */
fkm_status fkm_cu_normalise_centroids(fkm_cu_engine *e);   /* c32 rows to unit length */
fkm_status fkm_cu_compute_var(fkm_cu_engine *e);           /* e->var[b] for the shift rule */
fkm_status fkm_cu_gather_rows(fkm_cu_engine *e, const int64_t *rows_dev); /* c32[i] = x[rows[i]] (cosine: unit) */
/* Rows to seed from: b problems of n rows of compute type ct (pitch dp, d features), weights
 * b*n or NULL. */
typedef struct {
    const void *x;
    int ct;
    int64_t b, n, dp, d;
    const float *w;
} fkm_cu_rows;
/* Greedy k-means++ over `in` for every problem (seed + problem): k row indices per problem into
 * rows (device, b*k); allocates and frees its temporaries, synchronises the stream (kmeanspp.cu). */
fkm_status fkm_cu_pp_rows(const fkm_cu_rows *in, int64_t k, uint64_t seed, int64_t *rows, cudaStream_t stream);
/* Greedy k-means++ on the engine's data: rows into rowsidx, gathered into c32 (then prepare the
 * centroids as after any other initialisation). */
fkm_status fkm_cu_kmeanspp(fkm_cu_engine *e, uint64_t seed);
/* k-means|| on the engine's data (kmeans_par.cu): rows into rowsidx, gathered into c32. */
fkm_status fkm_cu_kmeans_par(fkm_cu_engine *e, uint64_t seed);
/* Exact L2 distances of the current labels into best[] and the tile inertia partials (exact.cu);
 * valid only when x_exact. */
fkm_status fkm_cu_exact_l2(fkm_cu_engine *e);
/* cert.cu: the certified exact mode */
struct fkm_cu_assign_args_s;
void fkm_cu_cert_plan(fkm_cu_engine *e);                   /* e->cert, kern16, pitches (plan) */
fkm_status fkm_cu_cert_prep_x(fkm_cu_engine *e, const float *x32); /* x16 and the row bounds */
fkm_status fkm_cu_cert_prep_c(fkm_cu_engine *e);           /* cc16, n_c, r, tau (after prep_centroids) */
fkm_status fkm_cu_assign_cert(fkm_cu_engine *e, const struct fkm_cu_assign_args_s *a);
/* assign.cu: mode 0 labels + distances; 1 also the tile inertia partials; 2 a Lloyd iteration's
 * assignment (also previous labels, changed, sort keys, counts; finished problems skipped) */
fkm_status fkm_cu_assign(fkm_cu_engine *e, int mode);
const char *fkm_cu_kernel_name(int kern);
/* prep.cu: the k distances of rows [row0, row0 + rows) into out_dev, rows x k (transform) */
fkm_status fkm_cu_distances(fkm_cu_engine *e, float *out_dev, int64_t row0, int64_t rows);
/* update.cu */
fkm_status fkm_cu_iteration(fkm_cu_engine *e, int update, fkm_empty_policy pol, const fkm_cu_stop *stop,
                            int slot);
fkm_status fkm_cu_inertia(fkm_cu_engine *e);               /* cur[b].inertia of the last assign */
fkm_status fkm_cu_reset_loop(fkm_cu_engine *e, int reset_prev); /* done = 0, iters = 0 (prev = -1) */
size_t fkm_cu_sort_bytes(int64_t items, int keybits);
/* The counting scatter (csort.cu): usable for these sizes? Its [key][tile] entries, scan bytes,
 * and the sort itself (keys -> keys_sorted, perm; the same result as the radix sort). */
int fkm_cu_csort_fits(int64_t bk, int64_t total);
int64_t fkm_cu_csort_entries(int64_t bk, int64_t total);
size_t fkm_cu_csort_scan_bytes(int64_t entries);
fkm_status fkm_cu_csort(fkm_cu_engine *e);
size_t fkm_cu_var_scratch(int64_t b, int64_t n, int64_t d);

/* ---- failure injection (test hook, src/fault.h; tests/test_cuda_faults.c). The engine's calls of
 * the functions below go through these wrappers, so a test can fail the nth of them without a
 * line in the engine: allocations fail with cudaErrorMemoryAllocation, the other calls (and the
 * launch checks of CU_LAUNCHED) with cudaErrorLaunchFailure, a GPU fault in the middle of a fit.
 * The failed call is not made. Disarmed, each costs one relaxed atomic load. A parenthesised name,
 * (cudaMalloc)(...), is the CUDA function itself. */
#include "../fault.h"
static inline cudaError_t fkm_cu_fault_alloc(void **p, cudaError_t (*real)(void **, size_t), size_t bytes) {
    if (fkm_fault_hit(FKM_FAULT_CUDA_ALLOC)) {
        *p = NULL;
        return cudaErrorMemoryAllocation;
    }
    return real(p, bytes);
}
static inline cudaError_t fkm_cu_fault_launch(cudaError_t e) {
    return e == cudaSuccess && fkm_fault_hit(FKM_FAULT_CUDA_CALL) ? cudaErrorLaunchFailure : e;
}
#define cudaMalloc(p, bytes) fkm_cu_fault_alloc((void **)(p), (cudaMalloc), (bytes))
#define cudaMallocHost(p, bytes) fkm_cu_fault_alloc((void **)(p), (cudaMallocHost), (bytes))
#define cudaHostRegister(...) \
    (fkm_fault_hit(FKM_FAULT_CUDA_ALLOC) ? cudaErrorMemoryAllocation : (cudaHostRegister)(__VA_ARGS__))
#define FKM_CU_FAULT_CALL(call) (fkm_fault_hit(FKM_FAULT_CUDA_CALL) ? cudaErrorLaunchFailure : (call))
#define cudaMemcpy(...) FKM_CU_FAULT_CALL((cudaMemcpy)(__VA_ARGS__))
#define cudaMemcpyAsync(...) FKM_CU_FAULT_CALL((cudaMemcpyAsync)(__VA_ARGS__))
#define cudaMemsetAsync(...) FKM_CU_FAULT_CALL((cudaMemsetAsync)(__VA_ARGS__))
#define cudaStreamSynchronize(...) FKM_CU_FAULT_CALL((cudaStreamSynchronize)(__VA_ARGS__))
#define cudaDeviceSynchronize() FKM_CU_FAULT_CALL((cudaDeviceSynchronize)())
#endif
