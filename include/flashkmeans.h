/*
 * flashkmeans.h -- the public C API of flashkmeans: exact k-means (Lloyd) on CPUs and GPUs.
 *
 * Every pointer in this header is a HOST pointer. Device-pointer entry points live in
 * flashkmeans_cuda.h.  Conventions used in the parameter docs:
 *   [in]       read by the call, owned by the caller, never kept after the call returns
 *   [out]      written by the call into caller-owned memory of the stated size
 *   [out,lib]  allocated by the library; the caller frees it with the named function
 *
 * Numeric contract (see docs/algorithm.md and docs/contract.md):
 *   - Exact Lloyd: every point is compared with every centroid; d(x,c) = |x|^2 - 2 x.c + |c|^2
 *     with fp32 norms and fp32 accumulation in FKM_PREC_EXACT (labels equal to a float64
 *     reference except near-ties, margin ~1e-6 * (|x|^2 + |c|^2)).
 *   - Ties go to the lowest centroid index, on every backend.
 *   - Centroid update sums in a fixed order: same input + same seed => bitwise-identical
 *     centroids and labels, for any thread count.
 *   - Inertia is summed in float64, each point's distance clamped at >= 0.
 *   - NaN/Inf in the input is an error (FKM_ERR_BAD_INPUT, message names row and column).
 *
 * Errors: every fallible call returns fkm_status; fkm_last_error() returns a per-thread message
 * describing the last failure on the calling thread. The library never prints, exits or aborts.
 */
#ifndef FLASHKMEANS_H
#define FLASHKMEANS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FKM_API __declspec(dllexport)
#else
#define FKM_API __attribute__((visibility("default")))
#endif

#define FKM_VERSION_MAJOR 0
#define FKM_VERSION_MINOR 1
#define FKM_VERSION_PATCH 0

/* ---------------------------------------------------------------- status codes */
typedef enum {
    FKM_OK = 0,
    FKM_ERR_INVALID_ARG = 1,   /* a parameter is out of range or inconsistent (k <= 0, k > n, ...) */
    FKM_ERR_BAD_INPUT = 2,     /* the data itself is unusable: NaN/Inf, bad weights, zero rows for cosine */
    FKM_ERR_NO_MEMORY = 3,     /* host or device allocation failed */
    FKM_ERR_IO = 4,            /* a file could not be opened, read or written */
    FKM_ERR_FORMAT = 5,        /* a file is malformed, truncated or of an unsupported type */
    FKM_ERR_NO_CUDA = 6,       /* CUDA requested but this build or this machine has no GPU */
    FKM_ERR_CUDA = 7,          /* a CUDA call failed; the message holds the CUDA error text */
    FKM_ERR_CANCELLED = 8,     /* the progress callback asked to stop */
    FKM_ERR_INTERNAL = 9       /* a bug: please report it with the message */
} fkm_status;

/* Static text for a status code ("invalid argument", ...). Never NULL. */
FKM_API const char *fkm_status_str(fkm_status s);
/* Detail of the last failure on this thread (e.g. "data[12][3] is NaN"). Never NULL; "" if none.
 * The pointer stays valid until the next failing call on the same thread. */
FKM_API const char *fkm_last_error(void);
FKM_API const char *fkm_version(void);

/* ---------------------------------------------------------------- enums */
typedef enum { FKM_F32 = 0, FKM_F64 = 1, FKM_F16 = 2, FKM_BF16 = 3, FKM_U8 = 4 } fkm_dtype;
/* Size in bytes of one element of dtype t (0 for an unknown value). */
FKM_API size_t fkm_dtype_size(fkm_dtype t);

typedef enum {
    FKM_METRIC_L2 = 0,     /* squared Euclidean distance, argmin */
    FKM_METRIC_COSINE = 1, /* spherical k-means: points and centroids unit-normalised, argmax x.c */
    FKM_METRIC_IP = 2      /* inner product: argmax x.c; centroids are plain means */
} fkm_metric;

typedef enum {
    FKM_INIT_KMEANSPP = 0, /* greedy k-means++ (2 + log k candidates per step), seeded */
    FKM_INIT_RANDOM = 1,   /* k distinct points chosen uniformly, seeded */
    FKM_INIT_ARRAY = 2,    /* params.init_centroids (k x d float32) */
    FKM_INIT_KMEANS_PARALLEL = 3, /* k-means|| (Bahmani et al. 2012), for large k: 5 rounds oversample
                                    about 2k candidate rows each (row i kept with probability
                                    min(1, 2k w_i D_i^2 / sum w D^2), a hash of seed, round and i),
                                    then greedy k-means++ over the candidates weighted by the weight
                                    of their nearest rows. Memory O(n + k d); seeded, the same
                                    centroids for any thread count; on the GPU for a CUDA fit of
                                    resident data and for fkm_cuda_fit, else on the host
                                    (docs/algorithm.md, docs/cuda.md) */
    FKM_INIT_HIERARCHICAL = 4, /* for very large k (2^16 and more): a sample of min(n, 64k) rows,
                                 ceil(sqrt(k)) coarse clusters (k-means|| + 20 Lloyd iterations on
                                 256 rows each), then each coarse cluster split into its share of
                                 k (k-means++ + 10 iterations, clusters in parallel). On the host's
                                 rows, for every engine of fkm_fit (not fkm_cuda_fit, MPI or sparse
                                 input, which refuse it); k < 256: k-means||. Seeded, the same centroids for any
                                 thread count (docs/algorithm.md) */
    FKM_INIT_AUTO = 5 /* the default: k-means|| where the fit runs on a GPU (fkm_cuda_fit, and
                         fkm_fit when it runs on a GPU), greedy k-means++ elsewhere (the CPU,
                         sparse input, MPI ranks). On a GPU k-means|| costs a fraction of the
                         iterations where k-means++ cost most of the call (docs/algorithm.md) */
} fkm_init;

typedef enum {
    FKM_STOP_SHIFT = 0,   /* max_k |c_k(new) - c_k(old)|^2 <= tol * mean per-feature variance of X */
    FKM_STOP_INERTIA = 1, /* (inertia_prev - inertia) / |inertia_prev| <= tol (or inertia_prev == 0) */
    FKM_STOP_LABELS = 2,  /* no label changed in an iteration */
    FKM_STOP_FIXED = 3    /* run exactly max_iter iterations */
} fkm_stop_rule;

typedef enum {
    FKM_STOPPED_CONVERGED = 0, /* the stop rule was met */
    FKM_STOPPED_MAX_ITER = 1,  /* max_iter iterations ran (always so for FKM_STOP_FIXED) */
    FKM_STOPPED_CANCELLED = 2  /* the progress callback returned non-zero */
} fkm_stop_reason;

typedef enum {
    FKM_EMPTY_FARTHEST = 0, /* default: an empty cluster takes the point farthest from its own
                               centroid (largest current distance, lowest index on ties), which
                               leaves its old cluster; deterministic, never NaN */
    FKM_EMPTY_KEEP = 1      /* an empty cluster keeps its previous centroid */
} fkm_empty_policy;

typedef enum { FKM_DEVICE_AUTO = 0, FKM_DEVICE_CPU = 1, FKM_DEVICE_CUDA = 2 } fkm_device;

typedef enum {
    FKM_PREC_AUTO = 0,  /* EXACT on the CPU; on a GPU: input dtype's tensor-core mode
                           (f16 -> FP16, bf16 -> BF16, f32/f64/u8 -> EXACT) */
    FKM_PREC_EXACT = 1, /* fp32 products and sums */
    FKM_PREC_TF32 = 2,  /* GPU only: tf32 tensor cores, fp32 accumulate (margin ~1e-3) */
    FKM_PREC_FP16 = 3,  /* GPU only: fp16 tensor cores, fp32 accumulate (margin ~1e-2) */
    FKM_PREC_BF16 = 4   /* GPU only: bf16 tensor cores, fp32 accumulate (margin ~1e-2) */
} fkm_precision;

typedef enum {
    FKM_ALGO_LLOYD = 0,   /* default: every point scored against every centroid each iteration */
    FKM_ALGO_ELKAN = 1,   /* CPU, L2: Elkan's bounds (one lower bound per point and centroid,
                             n x k floats; Hamerly's when they cannot be allocated) skip the scores
                             that provably cannot win. Same labels, centroids, statistics and
                             iterations as FKM_ALGO_LLOYD, bit for bit (docs/algorithm.md) */
    FKM_ALGO_HAMERLY = 2  /* CPU, L2: Hamerly's bounds (one lower bound per point): the same
                             results as FKM_ALGO_LLOYD, bit for bit; less memory than Elkan's */
} fkm_algorithm;

typedef enum { FKM_LOG_ERROR = 0, FKM_LOG_WARN = 1, FKM_LOG_INFO = 2, FKM_LOG_DEBUG = 3 } fkm_log_level;

/* Log sink: called from the calling thread only. `msg` is valid during the call. */
typedef void (*fkm_log_fn)(fkm_log_level level, const char *msg, void *user);

/* Per-iteration statistics. */
typedef struct {
    double inertia;   /* sum of (weighted) distances of points to the centroids used to assign them */
    double shift;     /* max_k Euclidean distance moved by centroid k in this iteration */
    int64_t empty;    /* clusters that received no point in this iteration (before the policy) */
    int64_t changed;  /* points whose label changed (all points in the first iteration) */
    double ms;        /* wall-clock milliseconds spent in the iteration */
    int64_t rescored; /* points re-scored in exact fp32 because the certified tensor-core pass could
                         not prove their label (GPU, precision exact; 0 elsewhere) */
} fkm_iter_stats;

/* Progress: called after each iteration (of each restart / batch problem) on the calling thread.
 * Return non-zero to cancel: the fit stops after the current iteration, keeps what it has and
 * returns FKM_ERR_CANCELLED with stop_reason FKM_STOPPED_CANCELLED. */
typedef int (*fkm_progress_fn)(int iter, int max_iter, const fkm_iter_stats *stats, void *user);

/* ---------------------------------------------------------------- parameters */
typedef struct {
    int64_t k;                    /* clusters; 1 <= k <= n. Default 8 */
    int max_iter;                 /* >= 0; 0 means only initialise + assign. Default 300 */
    double tol;                   /* >= 0, finite. Default 1e-4 */
    fkm_stop_rule stop;           /* default FKM_STOP_SHIFT */
    fkm_init init;                /* default FKM_INIT_AUTO */
    const float *init_centroids;  /* [in] k x d float32, host; used when init == FKM_INIT_ARRAY */
    int freeze_init;              /* non-zero: never update centroids (pure assignment). Default 0 */
    int n_init;                   /* restarts (>= 1), best final inertia kept. Default 1 */
    uint64_t seed;                /* default 0 */
    fkm_metric metric;            /* default FKM_METRIC_L2 */
    fkm_empty_policy empty;       /* default FKM_EMPTY_FARTHEST */
    fkm_device device;            /* default FKM_DEVICE_AUTO (a GPU if present, else the CPU) */
    int cuda_device;              /* GPU ordinal when a GPU runs. Default 0 */
    fkm_precision precision;      /* default FKM_PREC_AUTO */
    int threads;                  /* CPU threads, used as given; 0 = chosen from the problem's size
                                     and the idle CPUs (docs/threads.md). Default 0 */
    int verbose;                  /* 0 silent (default) .. 3 debug; messages go to log_fn */
    fkm_log_fn log_fn;            /* NULL: messages are dropped */
    void *log_user;
    fkm_progress_fn progress_fn;  /* NULL: no progress reports */
    void *progress_user;
    size_t gpu_mem_limit;         /* bytes of GPU memory a CUDA fit may allocate on each GPU; 0 = no
                                     cap, only the GPU's free memory (default). Data that does not
                                     fit stays in host memory: the rows that fit are kept on the
                                     GPU and the rest are streamed in chunks every iteration
                                     (docs/scale.md). Only a problem whose working set alone
                                     exceeds the cap fails with FKM_ERR_NO_MEMORY, before anything
                                     is allocated (device=auto: it runs on the CPU instead). */
    int gpu_count;                /* GPUs a CUDA fit uses: cuda_device .. cuda_device + gpu_count - 1,
                                     rows split among them, per-cluster sums all-reduced with NCCL
                                     (loaded at run time: libnccl.so.2). Default 1; 0 = every GPU
                                     from cuda_device on. Results are bitwise the same for any
                                     count (docs/scale.md). */
    fkm_algorithm algorithm;      /* default FKM_ALGO_LLOYD. ELKAN and HAMERLY need metric L2
                                     (FKM_ERR_INVALID_ARG otherwise); they change the speed of the
                                     CPU engine only, never a result. A GPU fit (and each rank of
                                     fkm_mpi_fit) runs Lloyd for them: a full pass of the GPU is
                                     faster than bounds there, and its labels are Lloyd's. */
    int64_t max_cluster_size;     /* 0 = no cap (default). > 0: a hard cap on the points of every
                                     cluster of the fit (points, whatever their weights): each
                                     iteration assigns by the capped step of docs/algorithm.md
                                     ("Capped cluster sizes": nearest centroid while the cap does
                                     not bind; else a regret-ordered greedy, kept only when it
                                     beats the previous labels, then a local search of moves and
                                     swaps) and the update uses those labels.
                                     Needs max_cluster_size * k >= n (else FKM_ERR_INVALID_ARG,
                                     naming the numbers). CPU engine, dense input only: device=cuda,
                                     fkm_fit_csr, fkm_mpi_fit and fkm_partial_sums refuse it
                                     (FKM_ERR_INVALID_ARG); device=auto runs such a fit on the CPU.
                                     The result's labels and inertia are the capped ones;
                                     result.inertia_unconstrained is that of the nearest-centroid
                                     labels of the same centroids. fkm_predict, fkm_transform and
                                     fkm_score ignore it (a fit-time constraint). */
} fkm_params;

/* Fill *p with the defaults documented above. */
FKM_API void fkm_params_default(fkm_params *p);
/* Check p against a problem of n points of dimension d, without running anything. Refuses, with
 * the same status and message as fkm_fit, everything fkm_fit refuses from p, n and d alone
 * (n, d and n*d, every field's range, init/freeze_init, a GPU precision with device=cpu).
 * Left to the fit: the data and weight values, the init_centroids values (FKM_ERR_BAD_INPUT), and
 * what depends on this machine: a GPU for device=cuda (FKM_ERR_NO_CUDA), cuda_device and
 * gpu_count beyond the GPUs present, GPU memory. */
FKM_API fkm_status fkm_params_validate(const fkm_params *p, int64_t n, int64_t d);

/* ---------------------------------------------------------------- data */
/* A dense row-major matrix of n points x d features (or b problems of n x d, contiguous). */
typedef struct {
    const void *data;      /* [in] host, b*n*d elements of dtype, row-major, caller-owned */
    fkm_dtype dtype;
    int64_t n, d;
    const float *weights;  /* [in] optional host n (b*n for batches) non-negative sample weights;
                              NULL = all 1. Must not all be zero. */
} fkm_matrix;

/* ---------------------------------------------------------------- results */
typedef struct {
    int64_t k, n, d;
    float *centroids;           /* [out,lib] k x d float32, row-major */
    int32_t *labels;            /* [out,lib] n labels in [0, k) of the final centroids */
    double inertia;             /* of the final centroids and labels, float64 */
    int iterations;             /* Lloyd iterations run in the kept restart */
    fkm_stop_reason stop_reason;
    fkm_iter_stats *stats;      /* [out,lib] `iterations` entries of the kept restart */
    int best_init;              /* which restart (0-based) was kept */
    fkm_device device;          /* the device that ran: FKM_DEVICE_CPU or FKM_DEVICE_CUDA */
    fkm_precision precision;    /* the precision that ran (never AUTO) */
    double inertia_unconstrained; /* inertia of the final centroids with every point at its nearest
                                     centroid (fkm_score's value): equals `inertia` unless
                                     params.max_cluster_size made the fit move points, when it is
                                     lower (float64, weighted, as `inertia`) */
} fkm_result;

/* Free the library-owned arrays of r and zero it. Safe on a zeroed or already-freed result. */
FKM_API void fkm_result_free(fkm_result *r);

/* ---------------------------------------------------------------- entry points */
/* Fit k-means to x (x->n points; b must be 1, see fkm_fit_batch). On failure *out is zeroed,
 * except on FKM_ERR_CANCELLED, where *out holds the state reached (free it as usual). */
FKM_API fkm_status fkm_fit(const fkm_params *p, const fkm_matrix *x, fkm_result *out);

/* Fit b independent problems stored contiguously in x->data (b x n x d); out has b entries.
 * Each problem i uses seed p->seed + i. On failure every out[i] is zeroed. */
FKM_API fkm_status fkm_fit_batch(const fkm_params *p, const fkm_matrix *x, int64_t b,
                                 fkm_result *out);

/* Fit b independent problems of different sizes (a ragged batch): problem i is rows offsets[i] ..
 * offsets[i+1] of x (x->n rows in all, weights aligned with them), fitted alone with seed
 * p->seed + i -- the same result as fkm_fit on those rows with that seed. offsets: [in] host b + 1
 * non-decreasing int64, offsets[0] = 0, offsets[b] = x->n; out: b entries. A problem with fewer
 * rows than p->k: every row is its own cluster (centroid j = row j mod n_i, the repeats start
 * empty; label i = i; inertia 0; 0 iterations); with no row at all: p->init_centroids when
 * init = FKM_INIT_ARRAY (a warm start keeps its centroids), else zeros. On failure every out[i]
 * is zeroed. */
FKM_API fkm_status fkm_fit_ragged(const fkm_params *p, const fkm_matrix *x, const int64_t *offsets, int64_t b,
                                  fkm_result *out);

/* Nearest centroid of each point. centroids: [in] host k x d float32.
 * labels: [out] n int32. dist: [out] optional n float32 (distance to the chosen centroid:
 * squared L2 for L2; 1 - cos for cosine; -x.c for inner product); NULL to skip. */
FKM_API fkm_status fkm_predict(const fkm_params *p, const fkm_matrix *x, const float *centroids,
                               int64_t k, int32_t *labels, float *dist);

/* Distances of every point to every centroid. out: [out] n x k float32, as for `dist` above. */
FKM_API fkm_status fkm_transform(const fkm_params *p, const fkm_matrix *x, const float *centroids,
                                 int64_t k, float *out);

/* Inertia (float64, weighted) of x under the given centroids. */
FKM_API fkm_status fkm_score(const fkm_params *p, const fkm_matrix *x, const float *centroids,
                             int64_t k, double *inertia);

/* ---------------------------------------------------------------- distributed fits */
/* One Lloyd iteration's local half on a block of rows, for a driver that spreads a problem's rows
 * over processes or machines and combines the blocks itself (the Dask front end; docs/api.md,
 * docs/mpi.md "Determinism"). On the CPU engine (device auto or cpu; cuda is FKM_ERR_INVALID_ARG):
 *   labels: [out] n int32, nearest of the k centroids ([in] host k x d float32; unit-normalised
 *           for cosine as fkm_predict does), ties to the lowest index -- fkm_predict's labels.
 *   dist:   [out] optional n float32 (NULL to skip): the assignment's distance as a Lloyd
 *           iteration's statistics see it (the fp32 expansion, clamped at 0 for L2; not
 *           recomputed in float64 as fkm_predict's L2 distances are).
 *   sums:   [out] 2 k d + 2 k int64: per-cluster sums in 64-bit fixed point. Row i adds to its
 *           cluster c the integers trunc(w_i x_ij col_scale[j]) (column j) and trunc(w_i
 *           weight_scale) (the weight), x the float32 working value (cosine: the unit row), each
 *           carried as two limbs hi += q >> 32, lo += q & (2^32 - 1). Layout: the k d high limbs
 *           of the column sums (row-major k x d), their k d low limbs, the k high limbs of the
 *           weight sums, their k low limbs; every low limb in [0, 2^32). The exact sum is
 *           hi 2^32 + lo.
 * col_scale ([in] d) and weight_scale must be finite and > 0 and keep every term below 2^52
 * (else FKM_ERR_INVALID_ARG): take them as 2^(52 - e) for a max |w x_j| (resp. max w) over ALL
 * blocks below 2^e, i.e. frexp(max, &e). Integer addition being associative, adding the blocks'
 * limbs (then carrying lo >> 32 into hi) gives the same integers for any split of the rows, and
 * centroid c_j = (float)(((double)(hi 2^32 + lo) / col_scale[j]) / (wsum / weight_scale)) is
 * then fkm_mpi_fit's centroid bit for bit. Weights (x->weights) may be NULL (all 1) or all zero in
 * a block; they must be finite and >= 0. k may exceed n. */
FKM_API fkm_status fkm_partial_sums(const fkm_params *p, const fkm_matrix *x, const float *centroids, int64_t k,
                                    const double *col_scale, double weight_scale, int32_t *labels, float *dist,
                                    int64_t *sums);

/* ---------------------------------------------------------------- sparse input (CPU) */
/* A sparse n x d matrix in CSR form (scipy.sparse.csr_matrix's arrays). All pointers are host,
 * [in], owned by the caller and only read during the call. Row i holds the nnz_i = indptr[i+1] -
 * indptr[i] entries indices/data[indptr[i] .. indptr[i+1]), columns strictly increasing within the
 * row (canonical: no duplicates; scipy's sum_duplicates() gives that); absent entries are 0. */
typedef struct {
    int64_t n, d;
    const int64_t *indptr;  /* [in] host n + 1 offsets: indptr[0] = 0, non-decreasing */
    const int32_t *indices; /* [in] host indptr[n] column indices in [0, d) */
    const float *data;      /* [in] host indptr[n] values (finite) */
    const float *weights;   /* [in] optional host n non-negative sample weights (not all 0); NULL = all 1 */
} fkm_csr;

/* fkm_fit, fkm_predict, fkm_transform and fkm_score for a CSR matrix, with the same params,
 * outputs and ownership (results: [out,lib], freed by fkm_result_free). The matrix is never
 * made dense: the CPU engine scores x.c over each row's entries (docs/algorithm.md, "Sparse
 * input": float64 sums of the exact float32 products, |x|^2 from the row's entries). CPU only:
 * device=cuda is refused (FKM_ERR_INVALID_ARG); device=auto runs on the CPU, with a warning
 * through the log callback when a GPU is present. Every metric (cosine: a unit copy of the values,
 * nnz floats; an all-zero row is FKM_ERR_BAD_INPUT); init array, random, k-means++, k-means|| or
 * hierarchical (on the CSR rows); algorithm elkan/hamerly run Lloyd (same results). */
FKM_API fkm_status fkm_fit_csr(const fkm_params *p, const fkm_csr *x, fkm_result *out);
FKM_API fkm_status fkm_predict_csr(const fkm_params *p, const fkm_csr *x, const float *centroids,
                                   int64_t k, int32_t *labels, float *dist);
FKM_API fkm_status fkm_transform_csr(const fkm_params *p, const fkm_csr *x, const float *centroids,
                                     int64_t k, float *out);
FKM_API fkm_status fkm_score_csr(const fkm_params *p, const fkm_csr *x, const float *centroids,
                                 int64_t k, double *inertia);

/* Peak GPU memory, in bytes, that fkm_fit with device=cuda would allocate for x (one problem of
 * x->n points; fkm_fit_batch runs its problems one after another, so the same peak) on GPU
 * p->cuda_device with these params: the data's copy on the GPU (plus the staging buffer of the
 * upload when the data is converted there), the weights, the engine's workspace and the
 * k-means++ temporaries when p->init is k-means++. Not counted: the CUDA context itself
 * (a few hundred MiB, there before any fit), and fkm_predict/fkm_transform. Needs the GPU to
 * pick the kernel: FKM_ERR_NO_CUDA in a CPU-only build or without that GPU. p and x are
 * validated as fkm_fit does (x->data is not read). bytes: [out]. */
FKM_API fkm_status fkm_gpu_memory_estimate(const fkm_params *p, const fkm_matrix *x, size_t *bytes);

/* Number of usable CUDA devices (0 in a CPU-only build or on a machine without a GPU). */
FKM_API int fkm_cuda_device_count(void);

/* Human-readable names. */
FKM_API const char *fkm_device_str(fkm_device d);
FKM_API const char *fkm_precision_str(fkm_precision p);
FKM_API const char *fkm_stop_reason_str(fkm_stop_reason r);
FKM_API const char *fkm_metric_str(fkm_metric m);

#ifdef __cplusplus
}
#endif
#endif /* FLASHKMEANS_H */
