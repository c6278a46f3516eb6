/* hostcopy.cuh -- host data to the GPU (hostcopy.cu). */
#ifndef FKM_CU_HOSTCOPY_CUH
#define FKM_CU_HOSTCOPY_CUH
#include "cu_common.cuh"

extern "C" {
/* bytes of host memory src -> device dst on stream s, at the link's speed whether src is pinned or
 * pageable (hostcopy.cu; pageable: staged on up to `threads` CPU threads, unless `staged` is 0:
 * the engine's sw.staged, FKM_CU_STAGED). Returns once src may be reused for pageable data; for
 * pinned data the copy is only queued on s. */
fkm_status fkm_cu_copy_from_host(void *dst, const void *src, size_t bytes, cudaStream_t s, int threads, int staged);
}
#endif
