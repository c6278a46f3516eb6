/* test_cuda_host.c -- host data to the GPU (src/cuda/hostcopy.cu): pageable arrays of 256 MB and
 * more go through pinned staging buffers filled by the caller's threads, page-locked ones are one
 * copy, and FKM_CU_STAGED=0 takes the driver's pageable path. All three must give the same bits
 * (labels, centroids, inertia), for float32 data (copied straight into the workspace) and for
 * float16 data (copied to a staging area and converted on the GPU), with a last chunk shorter than
 * the staging buffer. The times are printed (they are not the test). Skipped (exit 77) without a
 * GPU. */
#include "test_cuda.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    fkm_result r;
    fkm_status st;
    double s;
} run_out;

static run_out fit_once(const void *x, fkm_dtype t, int64_t n, int64_t d, const float *c0, int64_t k, const char *staged) {
    run_out o;
    memset(&o, 0, sizeof o);
    if (staged) setenv("FKM_CU_STAGED", staged, 1);
    else unsetenv("FKM_CU_STAGED");
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CUDA;
    p.k = k;
    p.max_iter = 2;
    p.stop = FKM_STOP_FIXED;
    p.init = FKM_INIT_ARRAY;
    p.init_centroids = c0;
    fkm_matrix m = {x, t, n, d, NULL};
    const double t0 = now_s();
    o.st = fkm_fit(&p, &m, &o.r);
    o.s = now_s() - t0;
    unsetenv("FKM_CU_STAGED");
    return o;
}

static int same_result(const fkm_result *a, const fkm_result *b, int64_t n, int64_t k, int64_t d) {
    return a->inertia == b->inertia && !memcmp(a->labels, b->labels, (size_t)n * sizeof(int32_t)) &&
           !memcmp(a->centroids, b->centroids, (size_t)(k * d) * sizeof(float));
}

/* One dtype: pageable staged, pageable through the driver, page-locked; the same bits. */
static void one_dtype(fkm_dtype t, int64_t n, int64_t d, int64_t k) {
    const size_t es = t == FKM_F32 ? 4 : 2, bytes = (size_t)(n * d) * es;
    void *x = malloc(bytes);
    float *c0 = malloc((size_t)(k * d) * sizeof(float));
    CHECK(x && c0, "out of host memory for %zu bytes", bytes);
    if (!x || !c0) return;
    uint64_t s = 11 + (uint64_t)t;
    for (int64_t i = 0; i < n * d; i++) {
        const float v = (float)(gen_normal(&s) + (double)((i / d) % 7) * 3.0);
        if (t == FKM_F32) ((float *)x)[i] = v;
        else ((uint16_t *)x)[i] = f2h(v);
    }
    for (int64_t i = 0; i < k * d; i++) c0[i] = (float)(gen_normal(&s) + (double)((i / d) % 7) * 3.0);
    const char *tn = t == FKM_F32 ? "float32" : "float16";
    run_out warm = fit_once(x, t, n / 16, d, c0, k, NULL); /* context, kernels: not part of the times */
    if (warm.st == FKM_OK) fkm_result_free(&warm.r);
    run_out a = fit_once(x, t, n, d, c0, k, NULL), b = fit_once(x, t, n, d, c0, k, "0");
    CHECK(a.st == FKM_OK && b.st == FKM_OK, "%s: fit failed: %s", tn, fkm_last_error());
    run_out c;
    memset(&c, 0, sizeof c);
    cudaError_t ce = cudaHostRegister(x, bytes, cudaHostRegisterDefault);
    CHECK(ce == cudaSuccess, "%s: cudaHostRegister: %s", tn, cudaGetErrorString(ce));
    if (ce == cudaSuccess) {
        c = fit_once(x, t, n, d, c0, k, NULL);
        CHECK(c.st == FKM_OK, "%s: fit on page-locked data failed: %s", tn, fkm_last_error());
        cudaHostUnregister(x);
    }
    if (a.st == FKM_OK && b.st == FKM_OK)
        CHECK(same_result(&a.r, &b.r, n, k, d), "%s: staged upload and the driver's path differ", tn);
    if (a.st == FKM_OK && c.st == FKM_OK)
        CHECK(same_result(&a.r, &c.r, n, k, d), "%s: staged upload and page-locked data differ", tn);
    printf("%s n=%lld d=%lld (%.0f MB), whole fit of 2 iterations: staged %.3f s, driver's pageable path %.3f s, "
           "page-locked %.3f s\n", tn, (long long)n, (long long)d, bytes / 1e6, a.s, b.s, c.s);
    fkm_result_free(&a.r), fkm_result_free(&b.r), fkm_result_free(&c.r);
    free(x), free(c0);
}
#endif

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
#ifdef FKM_HAVE_CUDA
    /* 2^19 + 12345 rows x 128: 262 MB of float32 (8 staging buffers and a short one) */
    one_dtype(FKM_F32, (1 << 19) + 12345, 128, 64);
    one_dtype(FKM_F16, (1 << 20) + 12345, 128, 64);
    if (getenv("FKM_TEST_HOST_BIG")) one_dtype(FKM_F32, (int64_t)1 << 24, 128, 4096); /* 8.6 GB: timing */
#endif
    return check_report();
}
