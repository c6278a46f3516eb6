/* memory.cu -- how much GPU memory a problem needs, and the check made before allocating it.
 *
 * The estimate is not a model of the engine: it plans the engine exactly as a fit would
 * (fkm_cu_plan: kernel, paddings) and measures the workspace with the layout function that
 * carves it (fkm_cu_layout), then adds the few buffers allocated outside the workspace (the
 * upload's staging buffer, the weights, the k-means++ or k-means|| temporaries). Not counted: the CUDA
 * context, created before any of this and present whatever the problem. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cu_memory.cuh"
#include "scale/scale.cuh"

extern "C" {
#include "../core/select.h"
}

size_t fkm_cu_init_bytes(const fkm_cu_engine *e, fkm_init init) {
    init = fkm_resolve_init(init, FKM_DEVICE_CUDA);
    if (init == FKM_INIT_KMEANSPP) return fkm_cu_pp_bytes(e->b, e->n, e->k);
    if (init == FKM_INIT_KMEANS_PARALLEL) return fkm_cu_par_bytes(e);
    return 0;
}

/* "9.1 GiB", "512.0 MiB", "12.5 KiB" or "300 bytes". */
static void fmt_bytes(char *buf, size_t len, size_t b) {
    if (b >= ((size_t)1 << 30)) snprintf(buf, len, "%.1f GiB", (double)b / (double)((size_t)1 << 30));
    else if (b >= ((size_t)1 << 20)) snprintf(buf, len, "%.1f MiB", (double)b / (double)((size_t)1 << 20));
    else if (b >= 1024) snprintf(buf, len, "%.1f KiB", (double)b / 1024.0);
    else snprintf(buf, len, "%zu bytes", b);
}

/* Both sizes, rounded; with the exact byte counts too when the rounding makes them look equal. */
static void fmt_pair(char *a, char *b, size_t len, size_t x, size_t y) {
    fmt_bytes(a, len, x);
    fmt_bytes(b, len, y);
    if (strcmp(a, b) == 0) {
        snprintf(a + strlen(a), len - strlen(a), " (%zu bytes)", x);
        snprintf(b + strlen(b), len - strlen(b), " (%zu bytes)", y);
    }
}

fkm_status fkm_cu_check_fits(size_t need, size_t cap, const char *advice) {
    char sn[64], sc[64];
    if (cap && need > cap) {
        fmt_pair(sn, sc, sizeof sn, need, cap);
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "the CUDA engine needs %s of GPU memory for this problem but the cap "
                        "(gpu_mem_limit) is %s; %s", sn, sc, advice);
    }
    if (need == 0) return FKM_OK;
    int dev = 0;
    size_t avail = 0, total = 0;
    CU_RET(cudaGetDevice(&dev));
    CU_RET(cudaMemGetInfo(&avail, &total));
    if (need > avail) {
        char st[64];
        fmt_pair(sn, sc, sizeof sn, need, avail);
        fmt_bytes(st, sizeof st, total);
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "the CUDA engine needs %s of GPU memory for this problem but GPU %d has "
                        "%s free (of %s); %s", sn, dev, sc, st, advice);
    }
    return FKM_OK;
}

/* Plan the one-problem host engine fkm_fit would create for x on GPU p->cuda_device (which
 * becomes the current device) and return its peak. */
static fkm_status host_need(const fkm_params *p, const fkm_matrix *x, size_t *need) {
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    if (!x) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data matrix is NULL");
    if (fkm_dtype_size(x->dtype) == 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown dtype %d", (int)x->dtype);
    fkm_status st = fkm_params_validate(p, x->n, x->d);
    if (st != FKM_OK) return st;
    const fkm_backend *be = fkm_cuda_backend_get();
    const int ngpu = fkm_cuda_device_count();
    if (p->cuda_device >= ngpu)
        return FKM_FAIL(FKM_ERR_NO_CUDA, "no CUDA GPU %d to estimate for (%d GPU(s) present)", p->cuda_device, ngpu);
    fkm_precision prec = FKM_PREC_EXACT;
    if ((st = fkm_resolve_precision(p, be, x->dtype, &prec)) != FKM_OK) return st;
    fkm_cu_engine e;
    if ((st = fkm_cu_plan(&e, p->cuda_device, 1, x->n, x->d, p->k, p->metric, prec)) != FKM_OK) return st;
    *need = fkm_cu_host_peak(&e, x->dtype, x->weights != NULL, p->init);
    return FKM_OK;
}

/* The caller's current device is left as it was. */
extern "C" fkm_status fkm_gpu_memory_estimate(const fkm_params *p, const fkm_matrix *x, size_t *bytes) {
    if (!bytes) return FKM_FAIL(FKM_ERR_INVALID_ARG, "bytes pointer is NULL");
    *bytes = 0;
    int prev = 0;
    const int had = cudaGetDevice(&prev) == cudaSuccess;
    fkm_status st = host_need(p, x, bytes);
    if (had) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    return st;
}

/* device=auto's question: can a CUDA fit run this problem? The resident engine if it fits (and
 * one GPU is asked for), else the scale engine, which streams what does not fit. */
extern "C" fkm_status fkm_cuda_check_fit_memory(const fkm_params *p, const fkm_matrix *x) {
    size_t need = 0;
    int prev = 0;
    const int had = cudaGetDevice(&prev) == cudaSuccess;
    fkm_status st = host_need(p, x, &need);
    if (st == FKM_OK && p->gpu_count == 1) st = fkm_cu_check_fits(need, p->gpu_mem_limit, FKM_CU_HOST_ADVICE);
    if ((st == FKM_OK && p->gpu_count != 1) || st == FKM_ERR_NO_MEMORY) {
        fkm_precision prec = FKM_PREC_EXACT;
        fkm_clear_error();
        st = fkm_resolve_precision(p, fkm_cuda_backend_get(), x->dtype, &prec);
        fkm_problem pb = {NULL, NULL, x->dtype, x->weights, x->n, x->d, p->k, p->metric, prec, 1, p->cuda_device,
                          p->gpu_mem_limit, p->init, p->gpu_count};
        if (st == FKM_OK) st = fkm_scale_feasible(&pb);
    }
    if (had) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    return st;
}
