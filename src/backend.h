/* backend.h -- the small internal interface that every compute engine implements: the CPU
 * engine, the CUDA engine (one GPU), the CUDA scale engine (host data over one or more GPUs) and
 * the ranks of fkm_mpi_fit.
 *
 * The core (src/core/) owns parameter checking, dtype conversion, initialisation, and the Lloyd
 * driver (src/core/lloyd.c: the loop, the stop rule of src/stop.h, restarts, cancellation). An
 * engine owns the data once `create` has run and keeps the centroids, labels and per-point
 * distances wherever it computes (host memory or GPU memory), so an iteration moves no data
 * across PCIe: the core only reads back scalars (fkm_iter_stats).
 */
#ifndef FKM_BACKEND_H
#define FKM_BACKEND_H

#include "flashkmeans.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One problem, as the core hands it to an engine. All pointers are host, [in], owned by the core
 * and valid until the engine is destroyed. */
typedef struct {
    const float *x;        /* n x d float32, row-major; rows unit-normalised for COSINE */
    const void *raw;       /* the caller's original data (dtype raw_dtype), n x d, may equal x */
    fkm_dtype raw_dtype;   /* engines that compute in the input's own type (GPU fp16) use raw */
    const float *w;        /* n weights, or NULL for all 1 */
    int64_t n, d, k;
    fkm_metric metric;
    fkm_precision precision; /* resolved (never AUTO) */
    int threads;           /* resolved CPU thread count (>= 1) */
    int cuda_device;
    size_t gpu_mem_limit;  /* fkm_params.gpu_mem_limit (0: no cap); GPU engines check it at create */
    fkm_init init;         /* the fit's initialisation (GPU engines count the temporaries of theirs);
                              FKM_INIT_ARRAY when there is none (predict) */
    int gpu_count;         /* fkm_params.gpu_count: GPUs from cuda_device on (0: all) */
    int threads_auto;      /* fkm_params.threads was 0: `threads` may be chosen again as the load
                              changes (threads.h); otherwise it is the caller's and stays */
    fkm_algorithm algorithm; /* fkm_params.algorithm: the CPU engine's iterations skip, by bounds,
                              scores that cannot win (same bits); other engines run Lloyd */
    const fkm_csr *csr;    /* sparse input (fkm_fit_csr ...): x and raw are NULL, only the CPU sparse
                              engine (fkm_cpu_sparse_backend) takes it; NULL for dense input */
    int64_t max_cluster_size; /* fkm_params.max_cluster_size (0: none): only the dense CPU engine
                              takes it (the core refuses the others), and only for a fit: its
                              assignments are capped (docs/algorithm.md) */
} fkm_problem;

typedef struct fkm_backend {
    const char *name;      /* "cpu", "cuda", "mpi" */
    fkm_device device;

    /* Take the problem (GPU: upload). *eng receives the engine's state and *ops the table that runs
     * it: this one, or another that create chose for the problem (the CUDA backend hands a problem
     * that outgrows one GPU, or asks for several, to the scale engine's table). The caller sets
     * *ops to this table before the call and uses *ops for the engine from then on. */
    fkm_status (*create)(const fkm_problem *pb, void **eng, const struct fkm_backend **ops);
    void (*destroy)(void *eng);

    /* Centroids in or out: host k x d float32. */
    fkm_status (*set_centroids)(void *eng, const float *c);
    fkm_status (*get_centroids)(void *eng, float *c);

    /* One Lloyd iteration (collective when the engine has peers, as all hooks below): assign every point to its nearest current centroid (ties -> lowest
     * index; labels and per-point distances kept inside the engine), then, if `update`, replace
     * each centroid by the weighted mean of its points (COSINE: re-normalised; empty clusters
     * by `pol`). Fills inertia (of the assignment), shift, empty, changed; not ms. */
    fkm_status (*iterate)(void *eng, int update, fkm_empty_policy pol, fkm_iter_stats *st);

    /* Assign with the current centroids. labels: host n or NULL; dist: host n or NULL
     * (distance as documented for fkm_predict); inertia: weighted float64 sum, or NULL. */
    fkm_status (*assign)(void *eng, int32_t *labels, float *dist, double *inertia);

    /* Optional (NULL if absent): all n x k distances into host `out`. */
    fkm_status (*distances)(void *eng, float *out);

    /* Optional (NULL: the core runs greedy k-means++ on the host): choose k initial centroids
     * from the data with greedy k-means++ seeded by `seed`, leave them as the engine's current
     * centroids and copy them to host `c` (k x d). Deterministic for a seed; the same algorithm
     * and random draws as the core's, though sums in another order may pick differently at
     * near-ties (so not bitwise the core's choice). */
    fkm_status (*kmeanspp)(void *eng, uint64_t seed, float *c);

    /* Optional (NULL: the core calls iterate in a loop): run up to max_iter iterations from the
     * current centroids with the stop rule tested by the engine exactly as the core tests it
     * (shift: shift^2 <= tol * var; inertia; labels; fixed), without a host round trip per
     * iteration. Fills st[0 .. *ran) including ms; *converged = 1 when the rule was met. */
    fkm_status (*run)(void *eng, int max_iter, fkm_empty_policy pol, fkm_stop_rule rule, double tol,
                      double var, fkm_iter_stats *st, int *ran, int *converged);

    /* Optional (NULL: the core runs k-means|| on the host): k-means|| on the engine's data as
     * documented for FKM_INIT_KMEANS_PARALLEL, leaving the k centroids current and in host `c`.
     * Deterministic for a seed; not bitwise the core's choice (distances at the engine's
     * precision, sums in another order). */
    fkm_status (*kmeans_par)(void *eng, uint64_t seed, float *c);

    /* Optional (NULL: the core initialises by p->init with the hooks above): the whole
     * initialisation, for an engine whose rows the host does not hold (fkm_mpi_fit: each rank
     * holds a slice). Leaves k centroids current and copies them to host `c` (k x d). */
    fkm_status (*init)(void *eng, const fkm_params *p, uint64_t seed, float *c);

    /* Optional (NULL: the engine has no peers): combine this process's cancel request *cancel
     * (0 or 1) with its peers' so that every peer stops after the same iteration (fkm_mpi_fit:
     * the maximum over ranks). Called once per iteration by the core's loop. */
    fkm_status (*agree_cancel)(void *eng, int *cancel);

    /* Optional (NULL: the engine never caps, so the assignment is the nearest-centroid one): after
     * `assign`, the weighted inertia of the current centroids with every point at its nearest
     * centroid (ties to the lowest index), reported as L2 distances are reported by `assign`. */
    fkm_status (*unconstrained_inertia)(void *eng, double *inertia);
} fkm_backend;

extern const fkm_backend fkm_cpu_backend;
/* The CPU engine for CSR input (src/cpu/sparse.c): Lloyd with sparse x.c, metric l2 only. */
extern const fkm_backend fkm_cpu_sparse_backend;
/* NULL in a CPU-only build. */
const fkm_backend *fkm_cuda_backend_get(void);
/* Whether a fit of x with p fits GPU p->cuda_device: FKM_OK, or FKM_ERR_NO_MEMORY (message with
 * both sizes) when fkm_gpu_memory_estimate exceeds p->gpu_mem_limit or the GPU's free memory;
 * the estimate's own errors otherwise (FKM_ERR_NO_CUDA in a CPU-only build). src/cuda/memory.cu */
fkm_status fkm_cuda_check_fit_memory(const fkm_params *p, const fkm_matrix *x);

#ifdef __cplusplus
}
#endif
#endif
