/* api.cu -- the device-pointer API (include/flashkmeans_cuda.h) over the CUDA engine. */
#include <stdlib.h>
#include <string.h>

#include "../../include/flashkmeans_cuda.h"
#include "cu_memory.cuh"
#include "assign/tuning.cuh"

extern "C" {
#include "../core/select.h" /* fkm_resolve_init */
}

static fkm_precision resolve_prec(const fkm_params *p, fkm_dtype t) {
    if (p->precision != FKM_PREC_AUTO) return p->precision;
    return t == FKM_F16 ? FKM_PREC_FP16 : t == FKM_BF16 ? FKM_PREC_BF16 : FKM_PREC_EXACT;
}

static fkm_status check_matrix(const fkm_params *p, const fkm_cuda_matrix *x) {
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    if (!x || !x->data) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data matrix or its device pointer is NULL");
    if (x->b < 1 || x->n < 1 || x->d < 1)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "need b, n, d >= 1 (got %lld, %lld, %lld)", (long long)x->b,
                        (long long)x->n, (long long)x->d);
    if (fkm_dtype_size(x->dtype) == 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown dtype %d", (int)x->dtype);
    return FKM_OK;
}

/* The compute copy is needed unless the caller's data already is the compute layout. */
static int needs_copy(const fkm_cu_engine *e, const fkm_cuda_matrix *x) {
    const int same = (e->ctype == FKM_CT_F32 && x->dtype == FKM_F32) || (e->ctype == FKM_CT_F16 && x->dtype == FKM_F16) ||
                     (e->ctype == FKM_CT_BF16 && x->dtype == FKM_BF16);
    return !(same && e->metric != FKM_METRIC_COSINE && e->dp == x->d && ((uintptr_t)x->data & 15) == 0);
}

static fkm_status plan(fkm_cu_engine *e, const fkm_params *p, const fkm_cuda_matrix *x, int64_t k) {
    int dev = 0;
    CU_RET(cudaGetDevice(&dev));
    return fkm_cu_plan(e, dev, x->b, x->n, x->d, k, p->metric, resolve_prec(p, x->dtype));
}

/* The device API's GPU memory, checked before allocating: the workspace when the call allocates
 * it, plus the initialisation's temporaries (the data is the caller's, already there). */
#define DEV_ADVICE "split the batch, or fit from host memory (fkm_fit keeps what fits on the GPU and streams the rest)"
static fkm_status check_memory(fkm_cu_engine *e, const fkm_params *p, const fkm_cuda_matrix *x, const void *ws,
                               fkm_init init) {
    fkm_cu_engine m = *e; /* measuring records the sort's scratch size: keep e as planned */
    const size_t need = (ws ? 0 : fkm_cu_layout(&m, NULL, needs_copy(e, x))) + fkm_cu_init_bytes(e, init);
    return fkm_cu_check_fits(need, p->gpu_mem_limit, DEV_ADVICE);
}

static fkm_status fit_checks(const fkm_params *p, const fkm_cuda_matrix *x) {
    fkm_status st = check_matrix(p, x);
    fkm_params q = *p;
    q.device = FKM_DEVICE_CUDA; /* ignored here (header); validate would refuse device=cpu with tf32 */
    if (q.init == FKM_INIT_ARRAY && !q.init_centroids) { /* the centroids buffer holds them (header) */
        q.init = FKM_INIT_RANDOM;
        q.freeze_init = 0;
    }
    if (st == FKM_OK) st = fkm_params_validate(&q, x->n, x->d);
    if (st != FKM_OK) return st;
    if (p->n_init != 1)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "n_init = %d: the device-pointer API runs one restart", p->n_init);
    if (p->init == FKM_INIT_HIERARCHICAL)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "init hierarchical runs on host rows: use fkm_fit with the data on the "
                        "host (device=cuda runs the iterations on the GPU), or k-means|| here");
    return FKM_OK;
}

extern "C" fkm_status fkm_cuda_fit_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, size_t *bytes) {
    if (!bytes) return FKM_FAIL(FKM_ERR_INVALID_ARG, "bytes pointer is NULL");
    fkm_status st = fit_checks(p, x);
    if (st != FKM_OK) return st;
    fkm_cu_engine e;
    if ((st = plan(&e, p, x, p->k)) != FKM_OK) return st;
    *bytes = fkm_cu_layout(&e, NULL, needs_copy(&e, x));
    return FKM_OK;
}

/* As src/core/init.c's fkm_init_random: k distinct rows per problem for the same seed. */
static fkm_status random_rows(const fkm_cu_engine *e, uint64_t seed, int64_t *rows) {
    uint8_t *taken = (uint8_t *)malloc((size_t)(e->n + 7) / 8);
    if (!taken) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for random initialisation");
    for (int64_t p = 0; p < e->b; p++) {
        memset(taken, 0, (size_t)(e->n + 7) / 8);
        fkm_rng rng;
        fkm_rng_init(&rng, seed + (uint64_t)p, 2);
        for (int64_t ci = 0; ci < e->k; ci++) {
            int64_t i = (int64_t)(fkm_rng_next(&rng) % (uint64_t)e->n);
            while (taken[i >> 3] & (1u << (i & 7))) i = (i + 1) % e->n;
            taken[i >> 3] |= (uint8_t)(1u << (i & 7));
            rows[p * e->k + ci] = i;
        }
    }
    free(taken);
    return FKM_OK;
}

static fkm_status init_centroids(fkm_cu_engine *e, const fkm_params *p, const float *centroids) {
    const size_t one = (size_t)(e->k * e->d) * sizeof(float);
    fkm_status st = FKM_OK;
    if (p->init == FKM_INIT_RANDOM) {
        int64_t *rows = (int64_t *)malloc((size_t)(e->b * e->k) * sizeof(int64_t));
        if (!rows) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for random initialisation");
        st = random_rows(e, p->seed, rows);
        cudaError_t ce = cudaSuccess;
        if (st == FKM_OK) ce = cudaMemcpyAsync(e->rowsidx, rows, (size_t)(e->b * e->k) * sizeof(int64_t),
                                               cudaMemcpyHostToDevice, e->stream);
        if (ce == cudaSuccess) ce = cudaStreamSynchronize(e->stream);
        free(rows);
        if (st != FKM_OK) return st;
        if (ce != cudaSuccess) return fkm_cu_fail(ce, __FILE__, __LINE__, "uploading the initial rows");
        st = fkm_cu_gather_rows(e, e->rowsidx);
    } else if (p->init == FKM_INIT_KMEANSPP || p->init == FKM_INIT_KMEANS_PARALLEL) {
        st = p->init == FKM_INIT_KMEANSPP ? fkm_cu_kmeanspp(e, p->seed) : fkm_cu_kmeans_par(e, p->seed);
    } else if (p->init_centroids) {
        for (int64_t q = 0; q < e->b; q++)
            CU_RET(cudaMemcpyAsync(e->c32 + q * e->k * e->d, p->init_centroids, one, cudaMemcpyHostToDevice, e->stream));
        if (e->metric == FKM_METRIC_COSINE) st = fkm_cu_normalise_centroids(e);
    } else {
        CU_RET(cudaMemcpyAsync(e->c32, centroids, one * (size_t)e->b, cudaMemcpyDeviceToDevice, e->stream));
        if (e->metric == FKM_METRIC_COSINE) st = fkm_cu_normalise_centroids(e);
    }
    return st == FKM_OK ? fkm_cu_prep_centroids(e) : st;
}

/* Common setup: workspace, stream, the compute copy of the data (validated), weights. */
static fkm_status setup(fkm_cu_engine *e, const fkm_cuda_matrix *x, void *ws, size_t ws_bytes, fkm_cuda_stream s) {
    const int nc = needs_copy(e, x);
    fkm_status st = fkm_cu_open(e, ws, ws_bytes, nc, (cudaStream_t)s);
    if (st != FKM_OK) return st;
    e->x = nc ? e->xcopy : x->data;
    if (!nc) e->xcopy = NULL; /* prep: norms only */
    st = fkm_cu_prep_x(e, x->data, x->dtype, e->metric == FKM_METRIC_COSINE, 1);
    e->w = x->weights;
    return st;
}

/* Copy the final per-problem statistics back (the stream is synchronised). */
static fkm_status final_inertia(fkm_cu_engine *e, double *inertia) {
    fkm_status st = fkm_cu_inertia(e);
    if (st != FKM_OK) return st;
    const int64_t chunk = FKM_CU_MAX_BATCH * e->b; /* hslots holds that many entries */
    CU_RET(cudaMemcpyAsync(e->hslots, e->cur, sizeof(fkm_cu_stats) * (size_t)(e->b < chunk ? e->b : chunk),
                           cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    for (int64_t q = 0; q < e->b; q++) inertia[q] = e->hslots[q].inertia;
    return FKM_OK;
}

extern "C" fkm_status fkm_cuda_fit(const fkm_params *p, const fkm_cuda_matrix *x, float *centroids, int32_t *labels,
                                   int *iterations, double *inertia, fkm_cuda_fit_info *info, void *workspace,
                                   size_t workspace_bytes, fkm_cuda_stream stream) {
    fkm_status st = fit_checks(p, x);
    if (st != FKM_OK) return st;
    if (!centroids) return FKM_FAIL(FKM_ERR_INVALID_ARG, "centroids pointer is NULL");
    fkm_params pr = *p; /* init auto: k-means|| here (fkm_resolve_init) */
    pr.init = fkm_resolve_init(p->init, FKM_DEVICE_CUDA);
    p = &pr;
    fkm_cu_engine e;
    if ((st = plan(&e, p, x, p->k)) != FKM_OK) return st;
    if ((st = check_memory(&e, p, x, workspace, p->init)) != FKM_OK) return st;
    int *ran = (int *)calloc((size_t)x->b, sizeof(int));
    cudaEvent_t t0 = NULL, t1 = NULL;
    double ms_it = 0.0;
    if (!ran) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory");
    if (cudaEventCreate(&t0) != cudaSuccess || cudaEventCreate(&t1) != cudaSuccess) {
        st = fkm_cu_fail(cudaGetLastError(), __FILE__, __LINE__, "cudaEventCreate");
        goto done;
    }
    if ((st = setup(&e, x, workspace, workspace_bytes, stream)) != FKM_OK) goto done;
    (void)cudaEventRecord(t0, e.stream);
    if (p->stop == FKM_STOP_SHIFT && (st = fkm_cu_compute_var(&e)) != FKM_OK) goto done;
    if ((st = init_centroids(&e, p, centroids)) != FKM_OK) goto done;
    st = e.tiny ? fkm_cu_run_tiny(&e, p->freeze_init ? 0 : p->max_iter, p->empty, (int)p->stop, p->tol, ran, &ms_it)
                : fkm_cu_run(&e, p->freeze_init ? 0 : p->max_iter, p->empty, (int)p->stop, p->tol, NULL, ran, NULL,
                             &ms_it);
    if (st != FKM_OK) goto done;
    /* Labels, distances and inertia of the returned centroids. */
    if ((st = fkm_cu_assign(&e, 1)) != FKM_OK) goto done;
    {
        cudaError_t ce = cudaMemcpyAsync(centroids, e.c32, (size_t)(e.b * e.k * e.d) * sizeof(float),
                                         cudaMemcpyDeviceToDevice, e.stream);
        if (ce == cudaSuccess && labels)
            ce = cudaMemcpyAsync(labels, e.labels, (size_t)(e.b * e.n) * sizeof(int32_t), cudaMemcpyDeviceToDevice,
                                 e.stream);
        if (ce != cudaSuccess) {
            st = fkm_cu_fail(ce, __FILE__, __LINE__, "copying the results");
            goto done;
        }
    }
    if (inertia && (st = final_inertia(&e, inertia)) != FKM_OK) goto done;
    (void)cudaEventRecord(t1, e.stream);
    {
        cudaError_t ce = cudaStreamSynchronize(e.stream);
        if (ce != cudaSuccess) {
            st = fkm_cu_fail(ce, __FILE__, __LINE__, "the fit");
            goto done;
        }
    }
    if (iterations) memcpy(iterations, ran, sizeof(int) * (size_t)x->b);
    if (info) {
        float tot = 0.0f;
        (void)cudaEventElapsedTime(&tot, t0, t1);
        info->iterations = 0;
        for (int64_t q = 0; q < x->b; q++) info->iterations = ran[q] > info->iterations ? ran[q] : info->iterations;
        info->ms_iterations = ms_it;
        info->ms_assign = e.ms_assign;
        for (int g = 0; g < 7; g++) info->ms_stage[g] = g < FKM_CU_NSTAGE ? e.ms_stage[g] : 0.0;
        info->ms_total = tot;
        info->kernel = e.tiny ? (e.ctype == FKM_CT_F32 ? "tiny-f32" : e.ctype == FKM_CT_F16 ? "tiny-f16" : "tiny-bf16")
                       : e.cert ? (fkm_cu_kern_is_res(e.kern16) ? "cert-f16-res" : "cert-f16-ps")
                                : fkm_cu_kernel_name(e.kern);
        info->precision = e.prec;
        info->rescored = e.rescored;
    }
done:
    fkm_cu_close(&e);
    if (t0) (void)cudaEventDestroy(t0);
    if (t1) (void)cudaEventDestroy(t1);
    free(ran);
    return st;
}

static fkm_status predict_checks(const fkm_params *p, const fkm_cuda_matrix *x, int64_t k) {
    fkm_status st = check_matrix(p, x);
    if (st != FKM_OK) return st;
    if (k < 1) return FKM_FAIL(FKM_ERR_INVALID_ARG, "k must be >= 1 (got %lld)", (long long)k);
    fkm_params q = *p;
    q.k = 1;                    /* k > n is fine for prediction */
    q.device = FKM_DEVICE_CUDA; /* ignored here (header) */
    return fkm_params_validate(&q, x->n, x->d);
}

extern "C" fkm_status fkm_cuda_predict_workspace_size(const fkm_params *p, const fkm_cuda_matrix *x, int64_t k,
                                                      size_t *bytes) {
    if (!bytes) return FKM_FAIL(FKM_ERR_INVALID_ARG, "bytes pointer is NULL");
    fkm_status st = predict_checks(p, x, k);
    if (st != FKM_OK) return st;
    fkm_cu_engine e;
    if ((st = plan(&e, p, x, k)) != FKM_OK) return st;
    *bytes = fkm_cu_layout(&e, NULL, needs_copy(&e, x));
    return FKM_OK;
}

extern "C" fkm_status fkm_cuda_predict(const fkm_params *p, const fkm_cuda_matrix *x, const float *centroids,
                                       int64_t k, int32_t *labels, float *dist, double *inertia, void *workspace,
                                       size_t workspace_bytes, fkm_cuda_stream stream) {
    fkm_status st = predict_checks(p, x, k);
    if (st != FKM_OK) return st;
    if (!centroids || !labels) return FKM_FAIL(FKM_ERR_INVALID_ARG, "centroids or labels pointer is NULL");
    fkm_cu_engine e;
    if ((st = plan(&e, p, x, k)) != FKM_OK) return st;
    if ((st = check_memory(&e, p, x, workspace, FKM_INIT_ARRAY)) != FKM_OK) return st;
    if ((st = setup(&e, x, workspace, workspace_bytes, stream)) == FKM_OK) {
        fkm_params q = *p;
        q.init = FKM_INIT_ARRAY;
        q.init_centroids = NULL;
        st = init_centroids(&e, &q, centroids);
    }
    if (st == FKM_OK) st = fkm_cu_assign(&e, 1);
    if (st == FKM_OK) {
        cudaError_t ce = cudaMemcpyAsync(labels, e.labels, (size_t)(e.b * e.n) * sizeof(int32_t),
                                         cudaMemcpyDeviceToDevice, e.stream);
        if (ce == cudaSuccess && dist)
            ce = cudaMemcpyAsync(dist, e.best, (size_t)(e.b * e.n) * sizeof(float), cudaMemcpyDeviceToDevice, e.stream);
        if (ce == cudaSuccess) ce = cudaStreamSynchronize(e.stream);
        if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "copying the labels");
    }
    if (st == FKM_OK && inertia) st = final_inertia(&e, inertia);
    fkm_cu_close(&e);
    return st;
}
