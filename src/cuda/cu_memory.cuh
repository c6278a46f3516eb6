/* cu_memory.cuh -- GPU memory accounting of the CUDA engine (memory.cu, backend.cu): the peak a
 * problem needs, counted from the same plan and workspace layout that will be allocated, and the
 * check made before allocating anything. */
#ifndef FKM_CU_MEMORY_CUH
#define FKM_CU_MEMORY_CUH

#include "cu_common.cuh"

/* Host data on its way to the GPU (backend.cu, scale/plan.cu): the caller's half data as is when it is
 * the compute type (and needs no normalisation), else the core's float32 copy (normalised for
 * cosine). */
static inline int fkm_cu_upload_raw(int ctype, fkm_metric metric, fkm_dtype raw_dtype) {
    const int half_raw = (ctype == FKM_CT_F16 && raw_dtype == FKM_F16) || (ctype == FKM_CT_BF16 && raw_dtype == FKM_BF16);
    return half_raw && metric != FKM_METRIC_COSINE;
}
/* The GPU copy holds the working float32 values exactly: float32 compute, the caller's own half
 * type, or small integers (uint8 fits fp16 and bf16). */
static inline int fkm_cu_x_exact(int ctype, fkm_dtype raw_dtype) {
    return ctype == FKM_CT_F32 || raw_dtype == FKM_U8 || (raw_dtype == FKM_F16 && ctype == FKM_CT_F16) ||
           (raw_dtype == FKM_BF16 && ctype == FKM_CT_BF16);
}

/* Bytes of GPU temporaries fkm_cu_pp_rows allocates for b problems of n rows, k centres. */
size_t fkm_cu_pp_bytes(int64_t b, int64_t n, int64_t k);
/* Bytes of GPU temporaries the engine's initialisation `init` allocates (k-means++, k-means||;
 * 0 for the others), for the planned engine e. */
size_t fkm_cu_init_bytes(const fkm_cu_engine *e, fkm_init init);
/* Bytes of GPU temporaries fkm_cu_kmeans_par allocates for the planned engine e (kmeans_par.cu). */
size_t fkm_cu_par_bytes(const fkm_cu_engine *e);

/* Peak GPU bytes of the host-data engine (backend.cu) for a planned one-problem engine e:
 * the workspace (which holds the data's compute copy), then the larger of the upload's staging
 * buffer (freed after the upload) and the weights plus the initialisation's temporaries. */
size_t fkm_cu_host_peak(const fkm_cu_engine *e, fkm_dtype raw_dtype, int has_weights, fkm_init init);

/* FKM_OK when `need` bytes fit under `cap` (0: no cap) and in the free memory of the current
 * device; else FKM_ERR_NO_MEMORY with one line naming both sizes and ending in `advice`. */
fkm_status fkm_cu_check_fits(size_t need, size_t cap, const char *advice);

/* The advice of the host API's messages (data in host memory). */
#define FKM_CU_HOST_ADVICE "use device=cpu, a larger cap, or more GPUs (gpu_count)"
/* The scale engine's: even the working set of a streamed fit does not fit. */
#define FKM_CU_STREAM_ADVICE "that is the working set of a fit that streams the data from host memory; use " \
                             "device=cpu, a larger cap, or more GPUs (gpu_count)"
#endif
