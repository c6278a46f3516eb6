/* backend.cu -- the CUDA engine behind the core's fkm_backend interface (host data: uploaded
 * once at create, kept on the GPU; only centroids, labels and scalars cross PCIe). A problem that
 * does not fit one GPU, or asks for several, create hands to the scale engine instead, a backend
 * of its own (scale/: fkm_scale_backend), which keeps what fits and streams the rest. */
#include <stdlib.h>
#include <string.h>

#include "cu_memory.cuh"
#include "hostcopy.cuh"
#include "scale/scale.cuh"

typedef struct {
    fkm_cu_engine e;
} cuda_backend;

static void cb_destroy(void *p) {
    cuda_backend *c = (cuda_backend *)p;
    if (!c) return;
    fkm_cu_close(&c->e);
    free(c);
}

/* What upload() sends (fkm_cu_upload_raw). */
static int upload_raw(const fkm_cu_engine *e, fkm_dtype raw_dtype) { return fkm_cu_upload_raw(e->ctype, e->metric, raw_dtype); }

/* Bytes of the staging buffer upload() allocates: 0 when the rows go straight into the workspace. */
static size_t staging_bytes(const fkm_cu_engine *e, fkm_dtype raw_dtype) {
    const size_t sesz = upload_raw(e, raw_dtype) ? 2 : 4;
    if (e->dp == e->d && (int)sesz == e->es) return 0;
    return (size_t)e->n * (size_t)e->d * sesz;
}

size_t fkm_cu_host_peak(const fkm_cu_engine *e, fkm_dtype raw_dtype, int has_weights, fkm_init init) {
    fkm_cu_engine m = *e; /* fkm_cu_layout records the sort's scratch size in the engine it measures */
    const size_t ws = fkm_cu_layout(&m, NULL, 1);
    const size_t later = (has_weights ? (size_t)e->n * sizeof(float) : 0) +
                         fkm_cu_init_bytes(e, init);
    const size_t stage = staging_bytes(e, raw_dtype);
    return ws + (stage > later ? stage : later);
}

/* Upload the points (see upload_raw), converted on the GPU when they are not the compute layout. */
static fkm_status upload(fkm_cu_engine *e, const fkm_problem *pb) {
    const int64_t rows = pb->n;
    const int use_raw = upload_raw(e, pb->raw_dtype);
    const void *src = use_raw ? pb->raw : (const void *)pb->x;
    const fkm_dtype t = use_raw ? pb->raw_dtype : FKM_F32;
    const size_t sesz = use_raw ? 2 : 4;
    const size_t bytes = (size_t)rows * (size_t)pb->d * sesz;
    fkm_status st = FKM_OK;
    if (staging_bytes(e, pb->raw_dtype) == 0) { /* already the compute layout: straight in */
        if ((st = fkm_cu_copy_from_host(e->xcopy, src, bytes, e->stream, pb->threads, e->sw.staged)) != FKM_OK) return st;
        void *keep = e->xcopy;
        e->xcopy = NULL; /* prep: norms only */
        st = fkm_cu_prep_x(e, keep, e->ctype == FKM_CT_F32 ? FKM_F32 : e->ctype == FKM_CT_F16 ? FKM_F16 : FKM_BF16, 0, 0);
        e->xcopy = keep;
        return st;
    }
    void *stage = NULL;
    CU_RET(cudaMalloc(&stage, bytes));
    st = fkm_cu_copy_from_host(stage, src, bytes, e->stream, pb->threads, e->sw.staged);
    if (st == FKM_OK) st = fkm_cu_prep_x(e, stage, t, 0, 0);
    cudaError_t ce2 = cudaStreamSynchronize(e->stream);
    (void)cudaFree(stage);
    if (st != FKM_OK) return st;
    if (ce2 != cudaSuccess) return fkm_cu_fail(ce2, __FILE__, __LINE__, "preparing the data");
    return FKM_OK;
}

static fkm_status cb_create(const fkm_problem *pb, void **out, const fkm_backend **ops) {
    cuda_backend *c = (cuda_backend *)calloc(1, sizeof *c);
    if (!c) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the CUDA engine");
    fkm_cu_engine *e = &c->e;
    int ngpu = 1, scale = 0;
    fkm_status st = fkm_scale_wanted(pb, &ngpu, &scale);
    if (st == FKM_OK && !scale) st = fkm_cu_plan(e, pb->cuda_device, 1, pb->n, pb->d, pb->k, pb->metric, pb->precision);
    /* before any allocation: a problem that does not fit goes to the scale engine */
    if (st == FKM_OK && !scale) {
        st = fkm_cu_check_fits(fkm_cu_host_peak(e, pb->raw_dtype, pb->w != NULL, pb->init), pb->gpu_mem_limit,
                               FKM_CU_HOST_ADVICE);
        if (st == FKM_ERR_NO_MEMORY) {
            fkm_clear_error();
            st = FKM_OK;
            scale = 1;
        }
    }
    if (st == FKM_OK && scale) { /* the scale engine's table runs it from here on */
        free(c);
        fkm_cu_scale *s = NULL;
        st = fkm_scale_create(pb, ngpu, &s);
        if (st == FKM_OK) {
            *out = s;
            *ops = &fkm_scale_backend;
        }
        return st;
    }
    if (st == FKM_OK) st = fkm_cu_open(e, NULL, 0, 1, NULL);
    if (st == FKM_OK) st = upload(e, pb);
    e->x_exact = fkm_cu_x_exact(e->ctype, pb->raw_dtype);
    if (st == FKM_OK) {
        e->x = e->xcopy;
        e->w = NULL;
        if (pb->w) {
            float *w = NULL;
            cudaError_t ce = cudaMalloc(&w, (size_t)pb->n * sizeof(float));
            if (ce == cudaSuccess) {
                e->w = w;
                e->w_owned = w;
                ce = cudaMemcpyAsync(w, pb->w, (size_t)pb->n * sizeof(float), cudaMemcpyHostToDevice, e->stream);
            }
            if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "uploading the weights");
        }
    }
    if (st != FKM_OK) {
        cb_destroy(c);
        return st;
    }
    *out = c;
    return FKM_OK;
}

static fkm_status cb_set_centroids(void *p, const float *c) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    CU_RET(cudaMemcpyAsync(e->c32, c, (size_t)(e->k * e->d) * sizeof(float), cudaMemcpyHostToDevice, e->stream));
    fkm_status st = fkm_cu_prep_centroids(e);
    if (st == FKM_OK) st = fkm_cu_reset_loop(e, 1);
    if (st == FKM_OK) CU_RET(cudaStreamSynchronize(e->stream)); /* c may be freed by the caller */
    return st;
}

static fkm_status cb_get_centroids(void *p, float *c) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    CU_RET(cudaMemcpyAsync(c, e->c32, (size_t)(e->k * e->d) * sizeof(float), cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    return FKM_OK;
}

/* Greedy k-means++ (kmeanspp.cu) or k-means|| (kmeans_par.cu) on the GPU: the chosen rows become
 * the current centroids. */
static fkm_status engine_init(void *p, fkm_init m, uint64_t seed, float *c) {
    cuda_backend *cb = (cuda_backend *)p;
    const int pp = m == FKM_INIT_KMEANSPP;
    fkm_status st = pp ? fkm_cu_kmeanspp(&cb->e, seed) : fkm_cu_kmeans_par(&cb->e, seed);
    if (st != FKM_OK) return st;
    if ((st = cb_get_centroids(p, c)) != FKM_OK) return st;
    return cb_set_centroids(p, c);
}

static fkm_status cb_kmeanspp(void *p, uint64_t seed, float *c) { return engine_init(p, FKM_INIT_KMEANSPP, seed, c); }

static fkm_status cb_kmeans_par(void *p, uint64_t seed, float *c) {
    return engine_init(p, FKM_INIT_KMEANS_PARALLEL, seed, c);
}

static void to_iter_stats(const fkm_cu_stats *h, fkm_iter_stats *s) {
    double s2;
    memcpy(&s2, &h->shift2, sizeof s2);
    s->inertia = h->inertia;
    s->shift = sqrt(s2);
    s->empty = h->empty;
    s->changed = (int64_t)h->changed;
    s->rescored = (int64_t)h->rescored;
}

static fkm_status cb_iterate(void *p, int update, fkm_empty_policy pol, fkm_iter_stats *s) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    fkm_cu_stop stop = {-1, 0.0, INT32_MAX};
    fkm_status st = fkm_cu_iteration(e, update, pol, &stop, 0);
    if (st != FKM_OK) return st;
    CU_RET(cudaMemcpyAsync(e->hslots, e->slots, sizeof(fkm_cu_stats), cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    to_iter_stats(e->hslots, s);
    if (!update) s->shift = 0.0;
    return FKM_OK;
}

static fkm_status cb_run(void *p, int max_iter, fkm_empty_policy pol, fkm_stop_rule rule, double tol, double var,
                         fkm_iter_stats *st, int *ran, int *converged) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    CU_RET(cudaMemcpyAsync(e->var, &var, sizeof var, cudaMemcpyHostToDevice, e->stream));
    return fkm_cu_run(e, max_iter, pol, (int)rule, tol, st, ran, converged, NULL);
}

static fkm_status cb_assign(void *p, int32_t *labels, float *dist, double *inertia) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    fkm_status st = fkm_cu_assign(e, 1);
    /* L2: distances and inertia handed back recomputed exactly, as on the CPU (exact.cu) */
    if (st == FKM_OK && e->metric == FKM_METRIC_L2 && e->x_exact && (dist || inertia)) st = fkm_cu_exact_l2(e);
    if (st == FKM_OK && inertia) st = fkm_cu_inertia(e);
    if (st != FKM_OK) return st;
    if (labels)
        CU_RET(cudaMemcpyAsync(labels, e->labels, (size_t)e->n * sizeof(int32_t), cudaMemcpyDeviceToHost, e->stream));
    if (dist) CU_RET(cudaMemcpyAsync(dist, e->best, (size_t)e->n * sizeof(float), cudaMemcpyDeviceToHost, e->stream));
    if (inertia) CU_RET(cudaMemcpyAsync(e->hslots, e->cur, sizeof(fkm_cu_stats), cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    if (inertia) *inertia = e->hslots[0].inertia;
    return FKM_OK;
}

static fkm_status cb_distances(void *p, float *out) {
    fkm_cu_engine *e = &((cuda_backend *)p)->e;
    /* Blocks of rows so the device buffer stays bounded (64 MiB). */
    int64_t rows = ((int64_t)16 << 20) / e->k;
    if (rows < 1) rows = 1;
    if (rows > e->n) rows = e->n;
    float *buf = NULL;
    CU_RET(cudaMalloc(&buf, (size_t)(rows * e->k) * sizeof(float)));
    fkm_status st = FKM_OK;
    for (int64_t r0 = 0; r0 < e->n && st == FKM_OK; r0 += rows) {
        const int64_t m = e->n - r0 < rows ? e->n - r0 : rows;
        st = fkm_cu_distances(e, buf, r0, m);
        if (st != FKM_OK) break;
        cudaError_t ce = cudaMemcpyAsync(out + r0 * e->k, buf, (size_t)(m * e->k) * sizeof(float),
                                         cudaMemcpyDeviceToHost, e->stream);
        if (ce == cudaSuccess) ce = cudaStreamSynchronize(e->stream);
        if (ce != cudaSuccess) st = fkm_cu_fail(ce, __FILE__, __LINE__, "copying distances");
    }
    (void)cudaFree(buf);
    return st;
}

static const fkm_backend cuda_be = {
    "cuda", FKM_DEVICE_CUDA, cb_create, cb_destroy, cb_set_centroids, cb_get_centroids,
    cb_iterate, cb_assign, cb_distances, cb_kmeanspp, cb_run, cb_kmeans_par,
    NULL, NULL, /* init: the core's; agree_cancel: one process */
};

extern "C" const fkm_backend *fkm_cuda_backend_get(void) { return &cuda_be; }

