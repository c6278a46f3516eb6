/* sparse.c -- fkm_fit_csr, fkm_predict_csr, fkm_transform_csr, fkm_score_csr: checks, the device
 * rule (CPU only), then the CPU sparse engine (src/cpu/sparse.c) through the one Lloyd driver. */
#include "../backend.h"
#include "convert.h"
#include "init.h"
#include "lloyd.h"
#include "select.h"
#include "../threads.h"

#include <math.h>
#include <string.h>

/* The CSR arrays as the header states them; the first offending position is named. */
static fkm_status check_csr(const fkm_csr *x) {
    if (!x) return FKM_FAIL(FKM_ERR_INVALID_ARG, "matrix pointer is NULL");
    fkm_status st = fkm_check_shape(x->n, x->d);
    if (st != FKM_OK) return st;
    if (x->d > (int64_t)INT32_MAX + 1)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "sparse input: d = %lld columns do not fit int32 indices", (long long)x->d);
    if (!x->indptr) return FKM_FAIL(FKM_ERR_INVALID_ARG, "sparse input: indptr is NULL");
    if (x->indptr[0] != 0)
        return FKM_FAIL(FKM_ERR_BAD_INPUT, "sparse input: indptr[0] = %lld, must be 0", (long long)x->indptr[0]);
    for (int64_t i = 0; i < x->n; i++)
        if (x->indptr[i + 1] < x->indptr[i])
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "sparse input: indptr decreases at row %lld (%lld then %lld)",
                            (long long)i, (long long)x->indptr[i], (long long)x->indptr[i + 1]);
    if (x->indptr[x->n] > 0 && (!x->indices || !x->data))
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "sparse input: indices or data is NULL with %lld entries",
                        (long long)x->indptr[x->n]);
    for (int64_t i = 0; i < x->n; i++)
        for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) {
            const int32_t j = x->indices[t];
            if (j < 0 || j >= x->d)
                return FKM_FAIL(FKM_ERR_BAD_INPUT, "sparse input: row %lld has column index %d outside [0, %lld)",
                                (long long)i, j, (long long)x->d);
            if (t > x->indptr[i] && j <= x->indices[t - 1])
                return FKM_FAIL(FKM_ERR_BAD_INPUT, "sparse input: row %lld: column indices not strictly increasing "
                                "(%d after %d; duplicates or unsorted: canonical CSR needed)",
                                (long long)i, j, x->indices[t - 1]);
            if (!isfinite(x->data[t]))
                return FKM_FAIL(FKM_ERR_BAD_INPUT, "data[%lld][%d] is %s (input contains NaN or infinity)",
                                (long long)i, j, isnan(x->data[t]) ? "NaN" : "Inf");
        }
    return fkm_check_weights(x->weights, x->n);
}

/* CPU only: device=cuda refused, auto on the CPU (a warning when a GPU is there). */
static fkm_status check_sparse_params(const fkm_params *p, const char *what, fkm_precision *prec) {
    if (p->device == FKM_DEVICE_CUDA)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "%s: sparse input runs on the CPU only (device=cuda given; use "
                        "device=cpu or auto, or a dense matrix for the GPU)", what);
    if (p->device == FKM_DEVICE_AUTO && fkm_cuda_device_count() > 0)
        fkm_log(p, FKM_LOG_WARN, "%s: sparse input runs on the CPU (no GPU sparse path)", what);
    return fkm_resolve_precision(p, &fkm_cpu_sparse_backend, FKM_F32, prec);
}

/* Mean over features of the per-feature variance, as fit.c's mean_variance computes it on the
 * dense matrix: the absent entries add exact zeros there, so the same float64 sums here. */
static fkm_status mean_variance(const fkm_csr *x, double *out) {
    const int64_t n = x->n, d = x->d;
    double *s = (double *)fkm_calloc((size_t)(2 * d), sizeof(double));
    if (!s) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the feature variances");
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) {
            const double v = x->data[t];
            s[x->indices[t]] += v;
            s[d + x->indices[t]] += v * v;
        }
    double total = 0.0;
    for (int64_t j = 0; j < d; j++) {
        double m = s[j] / n, var = s[d + j] / n - m * m;
        total += var > 0 ? var : 0;
    }
    fkm_free(s);
    *out = total / d;
    return FKM_OK;
}

/* Cosine: a copy of the matrix whose rows are unit, each value rounded as the dense path rounds
 * it (fkm_convert: v / |x| in float64, then float); *data_out (nnz floats) is the caller's to free.
 * An all-zero row has no direction: refused, as for dense input. */
static fkm_status unit_rows(const fkm_csr *x, fkm_csr *out, float **data_out) {
    const int64_t nnz = x->indptr[x->n];
    float *v = (float *)fkm_alloc((size_t)(nnz > 0 ? nnz : 1), sizeof(float));
    if (!v) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the unit rows (%lld values)", (long long)nnz);
    for (int64_t i = 0; i < x->n; i++) {
        double s = 0.0;
        for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) s += (double)x->data[t] * x->data[t];
        if (s == 0.0) {
            fkm_free(v);
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "row %lld is all zeros: cosine distance is undefined for it",
                            (long long)i);
        }
        const double nrm = sqrt(s);
        for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) v[t] = (float)(x->data[t] / nrm);
    }
    *out = *x;
    out->data = v;
    *data_out = v;
    return FKM_OK;
}

static fkm_problem problem(const fkm_csr *x, int64_t k, int threads, fkm_init init, fkm_metric metric) {
    fkm_problem pb;
    memset(&pb, 0, sizeof pb);
    pb.w = x->weights;
    pb.n = x->n; pb.d = x->d; pb.k = k;
    pb.metric = metric;
    pb.precision = FKM_PREC_EXACT;
    pb.threads = threads;
    pb.init = init;
    pb.gpu_count = 1;
    pb.algorithm = FKM_ALGO_LLOYD; /* elkan/hamerly give Lloyd's results: the sparse engine runs Lloyd */
    pb.raw_dtype = FKM_F32;
    pb.csr = x;
    return pb;
}

fkm_status fkm_fit_csr(const fkm_params *p, const fkm_csr *x, fkm_result *out) {
    fkm_status st = FKM_OK;
    void *eng = NULL;
    const fkm_backend *be = &fkm_cpu_sparse_backend;
    float *unit_data = NULL;
    fkm_result cur;
    memset(&cur, 0, sizeof cur);
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "result pointer is NULL");
    memset(out, 0, sizeof *out);
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    fkm_params q = *p; /* init auto: k-means++, the CPU's (fkm_resolve_init) */
    q.init = fkm_resolve_init(p->init, FKM_DEVICE_CPU);
    p = &q;
    FKM_TRY(check_csr(x));
    FKM_TRY(fkm_params_validate(p, x->n, x->d));
    fkm_precision prec;
    FKM_TRY(check_sparse_params(p, "fit", &prec));
    if (p->max_cluster_size > 0)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "fit: max_cluster_size is not available for sparse input (got %lld; "
                        "the capped assignment runs on the dense CPU engine)", (long long)p->max_cluster_size);
    if (p->init == FKM_INIT_ARRAY)
        FKM_TRY(fkm_check_centroids(p->init_centroids, p->k, x->d, p->metric, "init_centroids", NULL));
    fkm_csr unit;
    if (p->metric == FKM_METRIC_COSINE) { /* the engine sees unit rows, as the dense engine does */
        FKM_TRY(unit_rows(x, &unit, &unit_data));
        x = &unit;
    }
    const int64_t nnz = x->indptr[x->n];
    /* an iteration is nnz k multiply-adds (plus k d for the centroids' terms) */
    const int threads = fkm_threads_choose(p->threads, (double)nnz * p->k + (double)p->k * x->d);
    fkm_problem pb = problem(x, p->k, threads, p->init, p->metric);
    double var = 0.0;
    if (p->stop == FKM_STOP_SHIFT) FKM_TRY(mean_variance(x, &var));
    fkm_log(p, FKM_LOG_INFO, "fit: sparse n=%lld d=%lld nnz=%lld k=%lld on cpu (%d threads)", (long long)x->n,
            (long long)x->d, (long long)nnz, (long long)p->k, threads);
    FKM_TRY(fkm_result_alloc(out, p->k, x->n, x->d, p->max_iter));
    FKM_TRY(fkm_result_alloc(&cur, p->k, x->n, x->d, p->max_iter));
    FKM_TRY(be->create(&pb, &eng, &be));
    st = fkm_lloyd_fit(p, be, eng, &pb, p->seed, var, out, &cur);
    out->precision = prec;
cleanup:
    if (eng) be->destroy(eng);
    fkm_free(unit_data);
    fkm_result_free(&cur);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED) fkm_result_free(out);
    return st;
}

/* predict / transform / score: checks as fkm_predict's, an engine with the given centroids. */
static fkm_status open_engine(const fkm_params *p, const fkm_csr *x, const float *centroids, int64_t k,
                              const char *what, void **eng, fkm_csr *unit, float **unit_data) {
    fkm_status st = FKM_OK;
    float *c = NULL;
    *eng = NULL;
    *unit_data = NULL;
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    FKM_TRY(check_csr(x));
    if (!centroids) return FKM_FAIL(FKM_ERR_INVALID_ARG, "centroids pointer is NULL");
    if (k <= 0 || k > INT32_MAX) return FKM_FAIL(FKM_ERR_INVALID_ARG, "k must be in [1, 2^31) (got %lld)", (long long)k);
    fkm_params q = *p;
    q.k = 1; /* k > n is allowed here; validate the rest */
    q.init = FKM_INIT_KMEANSPP;
    q.freeze_init = 0;
    q.max_cluster_size = 0; /* a fit-time constraint, as for dense predict */
    FKM_TRY(fkm_params_validate(&q, x->n, x->d));
    fkm_precision prec;
    FKM_TRY(check_sparse_params(p, what, &prec));
    c = (float *)fkm_alloc((size_t)(k * x->d), sizeof(float));
    FKM_CHECK_ALLOC(c, "centroid copy");
    FKM_TRY(fkm_check_centroids(centroids, k, x->d, p->metric, "centroids", c));
    if (p->metric == FKM_METRIC_COSINE) { /* unit rows; the engine reads them until destroyed */
        FKM_TRY(unit_rows(x, unit, unit_data));
        x = unit;
    }
    const int threads = fkm_threads_choose(p->threads, (double)x->indptr[x->n] * k + (double)k * x->d);
    fkm_problem pb = problem(x, k, threads, FKM_INIT_ARRAY, p->metric);
    const fkm_backend *be = &fkm_cpu_sparse_backend;
    FKM_TRY(be->create(&pb, eng, &be));
    FKM_TRY(be->set_centroids(*eng, c));
cleanup:
    fkm_free(c);
    if (st != FKM_OK && *eng) {
        fkm_cpu_sparse_backend.destroy(*eng);
        *eng = NULL;
    }
    if (st != FKM_OK) {
        fkm_free(*unit_data);
        *unit_data = NULL;
    }
    return st;
}

fkm_status fkm_predict_csr(const fkm_params *p, const fkm_csr *x, const float *centroids, int64_t k,
                           int32_t *labels, float *dist) {
    void *eng = NULL;
    if (!labels) return FKM_FAIL(FKM_ERR_INVALID_ARG, "labels pointer is NULL");
    fkm_csr unit;
    float *unit_data = NULL;
    fkm_status st = open_engine(p, x, centroids, k, "predict", &eng, &unit, &unit_data);
    if (st == FKM_OK) st = fkm_cpu_sparse_backend.assign(eng, labels, dist, NULL);
    if (eng) fkm_cpu_sparse_backend.destroy(eng);
    fkm_free(unit_data);
    return st;
}

fkm_status fkm_score_csr(const fkm_params *p, const fkm_csr *x, const float *centroids, int64_t k,
                         double *inertia) {
    void *eng = NULL;
    if (!inertia) return FKM_FAIL(FKM_ERR_INVALID_ARG, "inertia pointer is NULL");
    fkm_csr unit;
    float *unit_data = NULL;
    fkm_status st = open_engine(p, x, centroids, k, "score", &eng, &unit, &unit_data);
    if (st == FKM_OK) st = fkm_cpu_sparse_backend.assign(eng, NULL, NULL, inertia);
    if (eng) fkm_cpu_sparse_backend.destroy(eng);
    fkm_free(unit_data);
    return st;
}

fkm_status fkm_transform_csr(const fkm_params *p, const fkm_csr *x, const float *centroids, int64_t k,
                             float *out) {
    void *eng = NULL;
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "output pointer is NULL");
    fkm_csr unit;
    float *unit_data = NULL;
    fkm_status st = open_engine(p, x, centroids, k, "transform", &eng, &unit, &unit_data);
    if (st == FKM_OK) st = fkm_cpu_sparse_backend.distances(eng, out);
    if (eng) fkm_cpu_sparse_backend.destroy(eng);
    fkm_free(unit_data);
    return st;
}
