/*
 * flashkmeans_cuda.h -- the device-pointer API: data already on the GPU, the caller's stream,
 * optional caller workspace with a size query.
 *
 * Every pointer named "device" below is a CUDA device pointer (cudaMalloc, or memory the device
 * can address); "host" pointers are ordinary host memory. The functions are always declared; in
 * a build without CUDA they return FKM_ERR_NO_CUDA.
 *
 * Streams: `stream` is a cudaStream_t (declared here as fkm_cuda_stream, the same type, so this
 * header needs no CUDA header). All device work is ordered on it; NULL (the legacy default
 * stream) makes the call use a stream of its own that starts after the work already queued on
 * the legacy stream. On a stream of the caller's, each batch of Lloyd iterations is captured once
 * as a CUDA graph and replayed (not on the legacy stream, which cannot be captured, nor on a
 * stream the caller is capturing itself; FKM_CU_GRAPH=0 in the environment turns it off). The
 * calls return after their work has completed, because the stop rule is polled from the host
 * every few iterations.
 *
 * Workspace: pass NULL to let the call allocate (cudaMalloc) and free it; or pass a device buffer
 * of at least the size reported by the matching *_workspace_size function for the same
 * arguments. Nothing else is allocated on the device, and nothing at all inside the iteration
 * loop. The workspace holds the converted copy of the points when one is needed (cosine,
 * dtype differs from the compute type, rows not a whole number of 16-byte vectors).
 *
 * Numbers: as in flashkmeans.h. Precision: FKM_PREC_AUTO gives FP16 for fp16 data, BF16 for bf16
 * data and EXACT (fp32 SIMT) otherwise; TF32/FP16/BF16 may be asked for with any input dtype
 * (the data is converted once). Same inputs => bitwise-identical outputs, run after run.
 */
#ifndef FLASHKMEANS_CUDA_H
#define FLASHKMEANS_CUDA_H

#include "flashkmeans.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The same type as cudaStream_t. */
typedef struct CUstream_st *fkm_cuda_stream;

/* b independent problems of n points x d features, contiguous, row-major, on the device. */
typedef struct {
    const void *data;      /* [in] device, b*n*d elements of dtype */
    fkm_dtype dtype;
    int64_t b, n, d;       /* b >= 1 problems; b*n < 2^31 */
    const float *weights;  /* [in] optional device b*n non-negative weights (not validated); NULL = 1 */
} fkm_cuda_matrix;

/* What a device fit did (host struct, optional). */
typedef struct {
    int iterations;        /* most iterations run by any problem */
    double ms_iterations;  /* GPU time of the Lloyd iterations (CUDA events), setup excluded */
    double ms_total;       /* GPU time of the whole call after argument checks */
    double ms_assign;      /* GPU time in the assignment kernel during the iterations; measured only
                              when the environment sets FKM_CU_PROFILE=1 (else 0) */
    const char *kernel;    /* name of the assignment kernel that ran (static string) */
    fkm_precision precision;
    double ms_stage[7];    /* FKM_CU_PROFILE=2 only: GPU time per stage summed over the iterations:
                              setup, assign, empty clusters, sort, sums, centroids, stop rule */
    int64_t rescored;      /* precision exact, certified (docs/certified.md): points re-scored in
                              fp32, summed over iterations and problems; 0 otherwise */
} fkm_cuda_fit_info;

/* Bytes of workspace fkm_cuda_fit needs for these arguments. */
FKM_API fkm_status fkm_cuda_fit_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, size_t *bytes);

/* Fit b problems on the GPU (params as for fkm_fit_batch; problem i uses seed p->seed + i).
 * centroids: [in,out] device b*k*d float32. Output: the final centroids. Input: the initial
 *            centroids when p->init == FKM_INIT_ARRAY and p->init_centroids is NULL (otherwise
 *            p->init_centroids, a host k x d array, initialises every problem).
 *            FKM_INIT_RANDOM picks k distinct points per problem exactly as fkm_fit does.
 *            FKM_INIT_KMEANSPP and FKM_INIT_KMEANS_PARALLEL run on the GPU, every problem at
 *            once; their temporaries are allocated and freed inside the call, not taken from the
 *            workspace (docs/cuda.md).
 * labels:    [out] device b*n int32, the labels of the final centroids; may be NULL.
 * iterations:[out] optional host b ints; inertia: [out] optional host b doubles (final).
 * info:      [out] optional host. p->device and p->cuda_device: the current device is used.
 * p->progress_fn is not called. */
FKM_API fkm_status fkm_cuda_fit(const fkm_params *p, const fkm_cuda_matrix *x, float *centroids, int32_t *labels,
                                int *iterations, double *inertia, fkm_cuda_fit_info *info, void *workspace,
                                size_t workspace_bytes, fkm_cuda_stream stream);

/* Bytes of workspace fkm_cuda_predict needs. */
FKM_API fkm_status fkm_cuda_predict_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, int64_t k,
                                                   size_t *bytes);

/* Nearest centroid of each point of each problem. centroids: [in] device b*k*d float32 (for
 * cosine they are normalised here). labels: [out] device b*n int32. dist: [out] optional device
 * b*n float32 (as fkm_predict's). inertia: [out] optional host b doubles. */
FKM_API fkm_status fkm_cuda_predict(const fkm_params *p, const fkm_cuda_matrix *x, const float *centroids, int64_t k,
                                    int32_t *labels, float *dist, double *inertia, void *workspace,
                                    size_t workspace_bytes, fkm_cuda_stream stream);

#ifdef __cplusplus
}
#endif
#endif /* FLASHKMEANS_CUDA_H */
