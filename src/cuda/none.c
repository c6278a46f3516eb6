/* none.c -- the CUDA entry points of a CPU-only build: no devices, no backend, no GPU memory
 * estimate, and the device-pointer API (include/flashkmeans_cuda.h) answering FKM_ERR_NO_CUDA. */
#include "../backend.h"
#include "../internal.h"
#include "flashkmeans_cuda.h"

const fkm_backend *fkm_cuda_backend_get(void) { return NULL; }
int fkm_cuda_device_count(void) { return 0; }

static fkm_status no_cuda(void) {
    return FKM_FAIL(FKM_ERR_NO_CUDA, "this build of flashkmeans has no CUDA support");
}

fkm_status fkm_gpu_memory_estimate(const fkm_params *p, const fkm_matrix *x, size_t *bytes) {
    (void)p; (void)x;
    if (bytes) *bytes = 0;
    return no_cuda();
}

fkm_status fkm_cuda_check_fit_memory(const fkm_params *p, const fkm_matrix *x) {
    (void)p; (void)x;
    return no_cuda();
}

fkm_status fkm_cuda_fit_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, size_t *bytes) {
    (void)p; (void)x; (void)bytes;
    return no_cuda();
}

fkm_status fkm_cuda_fit(const fkm_params *p, const fkm_cuda_matrix *x, float *centroids, int32_t *labels,
                        int *iterations, double *inertia, fkm_cuda_fit_info *info, void *workspace,
                        size_t workspace_bytes, fkm_cuda_stream stream) {
    (void)p; (void)x; (void)centroids; (void)labels; (void)iterations; (void)inertia; (void)info;
    (void)workspace; (void)workspace_bytes; (void)stream;
    return no_cuda();
}

fkm_status fkm_cuda_predict_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, int64_t k,
                                           size_t *bytes) {
    (void)p; (void)x; (void)k; (void)bytes;
    return no_cuda();
}

fkm_status fkm_cuda_predict(const fkm_params *p, const fkm_cuda_matrix *x, const float *centroids, int64_t k,
                            int32_t *labels, float *dist, double *inertia, void *workspace, size_t workspace_bytes,
                            fkm_cuda_stream stream) {
    (void)p; (void)x; (void)centroids; (void)k; (void)labels; (void)dist; (void)inertia; (void)workspace;
    (void)workspace_bytes; (void)stream;
    return no_cuda();
}
