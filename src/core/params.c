/* params.c -- defaults and validation of fkm_params. */
#include "../internal.h"
#include "convert.h"
#include "select.h"

#include <math.h>
#include <string.h>

void fkm_params_default(fkm_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->k = 8;
    p->max_iter = 300;
    p->tol = 1e-4;
    p->stop = FKM_STOP_SHIFT;
    p->init = FKM_INIT_AUTO;
    p->n_init = 1;
    p->metric = FKM_METRIC_L2;
    p->empty = FKM_EMPTY_FARTHEST;
    p->device = FKM_DEVICE_AUTO;
    p->precision = FKM_PREC_AUTO;
    p->gpu_mem_limit = 0; /* no cap: the GPU's free memory is the limit */
    p->gpu_count = 1;
}

/* Everything fkm_fit refuses from p, n and d alone, with fkm_fit's words and in its order (the
 * shape as fkm_check_matrix sees it, then p, then the precision the CPU cannot run): a caller
 * that validates first learns exactly what the fit would say. What needs the data values, the
 * init_centroids values or this machine's GPUs is left to the fit (flashkmeans.h). */
fkm_status fkm_params_validate(const fkm_params *p, int64_t n, int64_t d) {
    fkm_status st = fkm_check_shape(n, d);
    if (st != FKM_OK) return st;
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    if (p->k <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "k must be >= 1 (got %lld)", (long long)p->k);
    if (p->k > n)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "k = %lld is larger than the number of points n = %lld",
                        (long long)p->k, (long long)n);
    if (p->k > INT32_MAX)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "k = %lld exceeds the int32 label range", (long long)p->k);
    if (p->max_iter < 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "max_iter must be >= 0 (got %d)", p->max_iter);
    if (!(p->tol >= 0) || isinf(p->tol))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "tol must be a finite number >= 0 (got %g)", p->tol);
    if ((unsigned)p->stop > FKM_STOP_FIXED) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown stop rule %d", (int)p->stop);
    if ((unsigned)p->init > FKM_INIT_AUTO) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown init method %d", (int)p->init);
    if (p->init == FKM_INIT_ARRAY && !p->init_centroids)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "init is FKM_INIT_ARRAY but init_centroids is NULL");
    if (p->freeze_init && p->init != FKM_INIT_ARRAY)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "freeze_init needs init = FKM_INIT_ARRAY");
    if (p->n_init < 1) return FKM_FAIL(FKM_ERR_INVALID_ARG, "n_init must be >= 1 (got %d)", p->n_init);
    if ((unsigned)p->metric > FKM_METRIC_IP) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown metric %d", (int)p->metric);
    if ((unsigned)p->empty > FKM_EMPTY_KEEP) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown empty-cluster policy %d", (int)p->empty);
    if ((unsigned)p->device > FKM_DEVICE_CUDA) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown device %d", (int)p->device);
    if ((unsigned)p->precision > FKM_PREC_BF16) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown precision %d", (int)p->precision);
    if (p->threads < 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "threads must be >= 0 (got %d)", p->threads);
    if (p->cuda_device < 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "cuda_device must be >= 0 (got %d)", p->cuda_device);
    if (p->gpu_count < 0 || p->gpu_count > 64)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "gpu_count must be in [0, 64] (got %d; 0 = every GPU)", p->gpu_count);
    if ((unsigned)p->algorithm > FKM_ALGO_HAMERLY)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown algorithm %d", (int)p->algorithm);
    if (p->algorithm != FKM_ALGO_LLOYD && p->metric != FKM_METRIC_L2)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "algorithm %s needs metric l2 (got %s): its bounds are Euclidean",
                        p->algorithm == FKM_ALGO_ELKAN ? "elkan" : "hamerly", fkm_metric_str(p->metric));
    if (p->max_cluster_size < 0)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "max_cluster_size must be >= 0 (got %lld; 0 = no cap)",
                        (long long)p->max_cluster_size);
    if (p->max_cluster_size > 0) {
        if (p->device == FKM_DEVICE_CUDA)
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "max_cluster_size = %lld runs on the CPU engine only: use device cpu "
                            "or auto (auto runs a capped fit on the CPU)", (long long)p->max_cluster_size);
        const int64_t need = n / p->k + (n % p->k != 0); /* ceil(n / k): no overflow */
        if (p->max_cluster_size < need)
            return FKM_FAIL(FKM_ERR_INVALID_ARG, "max_cluster_size = %lld is impossible: k = %lld clusters of at most "
                            "%lld points hold %lld points, fewer than n = %lld; the smallest cap is ceil(n / k) = %lld",
                            (long long)p->max_cluster_size, (long long)p->k, (long long)p->max_cluster_size,
                            (long long)(p->max_cluster_size * p->k), (long long)n, (long long)need);
    }
    return fkm_check_cpu_precision(p);
}
