/* predict.c -- predict / transform / score against given centroids. */
#include "../backend.h"
#include "convert.h"
#include "select.h"
#include "../threads.h"

#include <math.h>
#include <string.h>

typedef struct {
    const fkm_backend *be;
    void *eng;
    float *owned_x;
    float *c;
} session;

static void session_close(session *s) {
    if (s->eng) s->be->destroy(s->eng);
    fkm_free(s->owned_x);
    fkm_free(s->c);
    memset(s, 0, sizeof *s);
}

/* Validate inputs, convert the data, create an engine and load the centroids (normalised for
 * cosine). k may exceed n here: predicting few points against many centroids is fine. */
static fkm_status session_open(session *s, const fkm_params *p, const fkm_matrix *x,
                               const float *centroids, int64_t k, const char *what) {
    fkm_status st = FKM_OK;
    const float *x32 = NULL;
    memset(s, 0, sizeof *s);
    if (!p) return FKM_FAIL(FKM_ERR_INVALID_ARG, "params is NULL");
    FKM_TRY(fkm_check_matrix(x)); /* the same checks and words as fkm_fit */
    if (!centroids) return FKM_FAIL(FKM_ERR_INVALID_ARG, "centroids pointer is NULL");
    if (k <= 0 || k > INT32_MAX) return FKM_FAIL(FKM_ERR_INVALID_ARG, "k must be in [1, 2^31) (got %lld)", (long long)k);
    fkm_params q = *p;
    q.k = 1; /* k > n is allowed here; validate the rest */
    q.init = FKM_INIT_KMEANSPP; /* init settings do not apply to predict/transform/score */
    q.freeze_init = 0;
    q.max_cluster_size = 0; /* a fit-time constraint: predict gives each point its nearest centroid */
    FKM_TRY(fkm_params_validate(&q, x->n, x->d));
    fkm_precision prec = FKM_PREC_EXACT;
    FKM_TRY(fkm_choose_backend(p, &s->be));
    FKM_TRY(fkm_resolve_precision(p, s->be, x->dtype, &prec));
    FKM_TRY(fkm_check_weights(x->weights, x->n));
    const int64_t d = x->d;
    s->c = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    FKM_CHECK_ALLOC(s->c, "centroid copy");
    FKM_TRY(fkm_check_centroids(centroids, k, d, p->metric, "centroids", s->c));
    FKM_TRY(fkm_check_and_convert(x, x->n, p->metric, p->threads, &x32, &s->owned_x));
    const int threads = fkm_threads_choose(p->threads, (double)x->n * d * k); /* n k d multiply-adds */
    /* gpu_mem_limit caps fits only; the GPU engine still checks its free memory before allocating */
    fkm_problem pb = {x32, x->data, x->dtype, x->weights, x->n, d, k, p->metric, prec, threads, p->cuda_device, 0, FKM_INIT_ARRAY, 1,
                      0 /* one pass: chosen once */, FKM_ALGO_LLOYD /* one pass: nothing to bound */, NULL /* dense */,
                      0 /* no cap: predict gives the nearest centroid */};
    FKM_TRY(s->be->create(&pb, &s->eng, &s->be)); /* s->be: the engine create chose */
    FKM_TRY(s->be->set_centroids(s->eng, s->c));
    fkm_log(p, FKM_LOG_INFO, "%s: n=%lld d=%lld k=%lld on %s (%s)", what, (long long)x->n, (long long)d, (long long)k,
            s->be->name, fkm_precision_str(prec));
    return FKM_OK;
cleanup:
    session_close(s);
    return st;
}

fkm_status fkm_predict(const fkm_params *p, const fkm_matrix *x, const float *centroids, int64_t k,
                       int32_t *labels, float *dist) {
    session s;
    if (!labels) return FKM_FAIL(FKM_ERR_INVALID_ARG, "labels pointer is NULL");
    fkm_status st = session_open(&s, p, x, centroids, k, "predict");
    if (st == FKM_OK) st = s.be->assign(s.eng, labels, dist, NULL);
    session_close(&s);
    return st;
}

fkm_status fkm_score(const fkm_params *p, const fkm_matrix *x, const float *centroids, int64_t k,
                     double *inertia) {
    session s;
    if (!inertia) return FKM_FAIL(FKM_ERR_INVALID_ARG, "inertia pointer is NULL");
    fkm_status st = session_open(&s, p, x, centroids, k, "score");
    if (st == FKM_OK) st = s.be->assign(s.eng, NULL, NULL, inertia);
    session_close(&s);
    return st;
}

fkm_status fkm_transform(const fkm_params *p, const fkm_matrix *x, const float *centroids, int64_t k,
                         float *out) {
    session s;
    if (!out) return FKM_FAIL(FKM_ERR_INVALID_ARG, "output pointer is NULL");
    fkm_status st = session_open(&s, p, x, centroids, k, "transform");
    if (st == FKM_OK) {
        st = s.be->distances ? s.be->distances(s.eng, out)
                             : FKM_FAIL(FKM_ERR_INTERNAL, "backend %s cannot compute distances", s.be->name);
    }
    session_close(&s);
    return st;
}
