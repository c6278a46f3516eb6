/* select.c -- run-time choices shared by fit and predict: engine, precision, threads. */
#include "select.h"
#include "../internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fkm_resolve_threads(int t) {
#ifdef _OPENMP
    return t > 0 ? t : omp_get_max_threads();
#else
    (void)t;
    return 1;
#endif
}

fkm_status fkm_choose_backend(const fkm_params *p, const fkm_backend **out) {
    const fkm_backend *cuda = fkm_cuda_backend_get();
    int ngpu = cuda ? fkm_cuda_device_count() : 0;
    if (p->device == FKM_DEVICE_CUDA) {
        if (!cuda) return FKM_FAIL(FKM_ERR_NO_CUDA, "device=cuda requested but this build has no CUDA support");
        if (ngpu == 0) return FKM_FAIL(FKM_ERR_NO_CUDA, "device=cuda requested but no CUDA GPU is present");
        if (p->cuda_device >= ngpu)
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "cuda_device %d does not exist (%d GPU(s) present)", p->cuda_device, ngpu);
        *out = cuda;
    } else if (p->device == FKM_DEVICE_AUTO && ngpu > 0 && p->cuda_device < ngpu) {
        *out = cuda;
    } else {
        *out = &fkm_cpu_backend;
    }
    return FKM_OK;
}

fkm_init fkm_resolve_init(fkm_init init, fkm_device device) {
    if (init != FKM_INIT_AUTO) return init;
    return device == FKM_DEVICE_CUDA ? FKM_INIT_KMEANS_PARALLEL : FKM_INIT_KMEANSPP;
}

fkm_status fkm_choose_fit_backend(const fkm_params *p, const fkm_matrix *x, const fkm_backend **out) {
    fkm_status st = fkm_choose_backend(p, out);
    if (st == FKM_OK && p->max_cluster_size > 0 && (*out)->device != FKM_DEVICE_CPU) {
        /* validate refused device=cuda: this is auto with a GPU; the capped step is the CPU's */
        fkm_log(p, FKM_LOG_INFO, "device=auto: max_cluster_size runs on the CPU engine");
        *out = &fkm_cpu_backend;
        return FKM_OK;
    }
    /* device=cuda: the engine makes the same check itself before allocating (one plan less here) */
    if (st != FKM_OK || (*out)->device != FKM_DEVICE_CUDA || p->device != FKM_DEVICE_AUTO) return st;
    st = fkm_cuda_check_fit_memory(p, x);
    /* a problem this GPU engine cannot hold (or run at all) goes to the CPU; CUDA failures are
     * reported, not hidden */
    if (st == FKM_OK || st == FKM_ERR_CUDA || st == FKM_ERR_INTERNAL) return st;
    fkm_log(p, FKM_LOG_WARN, "device=auto: running on the CPU: %s", fkm_last_error());
    fkm_clear_error();
    *out = &fkm_cpu_backend;
    return FKM_OK;
}

fkm_status fkm_check_cpu_precision(const fkm_params *p) {
    const fkm_precision pr = p->precision;
    if (p->device == FKM_DEVICE_CPU && pr != FKM_PREC_AUTO && pr != FKM_PREC_EXACT)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "precision %s needs the cuda device; the CPU computes in exact fp32",
                        fkm_precision_str(pr));
    return FKM_OK;
}

fkm_status fkm_resolve_precision(const fkm_params *p, const fkm_backend *be, fkm_dtype t, fkm_precision *out) {
    fkm_precision pr = p->precision;
    if (be->device == FKM_DEVICE_CPU) {
        fkm_status st = fkm_check_cpu_precision(p);
        if (st != FKM_OK) return st;
        if (pr != FKM_PREC_AUTO && pr != FKM_PREC_EXACT)
            fkm_log(p, FKM_LOG_WARN, "no GPU: running precision exact on the CPU instead of %s", fkm_precision_str(pr));
        *out = FKM_PREC_EXACT;
        return FKM_OK;
    }
    if (pr == FKM_PREC_AUTO) pr = t == FKM_F16 ? FKM_PREC_FP16 : t == FKM_BF16 ? FKM_PREC_BF16 : FKM_PREC_EXACT;
    *out = pr;
    return FKM_OK;
}

