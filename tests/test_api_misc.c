/* test_api_misc.c -- API-level behaviour on the CPU engine: batched fit equals separate fits,
 * bitwise-identical output for 1 and 2 threads, predict/transform/score consistency, progress
 * callback (cancellation keeps the state), log callback (levels, calling thread), result
 * lifetime (free twice, zeroed on failure). */
#include "test_edge_common.h"

#include <pthread.h>
#include <stdio.h>

static float *blobs32(uint64_t seed, int64_t n, int64_t d, int64_t b, double spread) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(seed, n, d, b, spread, x64, x);
    free(x64);
    return x;
}

static void test_batch(void) {
    const int64_t n = 700, d = 5, k = 8, b = 3;
    float *x = malloc(sizeof(float) * b * n * d), *w = malloc(sizeof(float) * b * n);
    for (int64_t i = 0; i < b; i++) {
        float *xi = blobs32(200 + (uint64_t)i, n, d, 6 + i, 1.0);
        memcpy(x + i * n * d, xi, sizeof(float) * n * d);
        free(xi);
    }
    uint64_t s = 7;
    for (int64_t i = 0; i < b * n; i++) w[i] = (float)(0.5 + gen_unif(&s));
    for (int metric = 0; metric < 3; metric++)
        for (int weighted = 0; weighted < 2; weighted++) {
            fkm_params p = edge_params(k);
            p.metric = (fkm_metric)metric; p.seed = 1234; p.n_init = 2;
            fkm_matrix m = {x, FKM_F32, n, d, weighted ? w : NULL};
            fkm_result out[3];
            CHECK(fkm_fit_batch(&p, &m, b, out) == FKM_OK, "batch: %s", fkm_last_error());
            for (int64_t i = 0; i < b; i++) {
                fkm_params q = p;
                q.seed = p.seed + (uint64_t)i;
                fkm_matrix mi = {x + i * n * d, FKM_F32, n, d, weighted ? w + i * n : NULL};
                fkm_result one;
                CHECK(fkm_fit(&q, &mi, &one) == FKM_OK, "single: %s", fkm_last_error());
                CHECK(edge_same_result(&out[i], &one), "metric %d weighted %d: batch problem %lld != single fit seed+%lld",
                      metric, weighted, (long long)i, (long long)i);
                fkm_result_free(&one);
                fkm_result_free(&out[i]);
            }
        }
    /* Each problem's weights must not all be zero, not just the batch's. */
    for (int64_t i = n; i < 2 * n; i++) w[i] = 0.0f;
    fkm_params p = edge_params(k);
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result out[3];
    fkm_status st = fkm_fit_batch(&p, &m, b, out);
    CHECK(st == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "problem 1"),
          "batch with problem 1's weights all zero: status %d, '%s'", (int)st, fkm_last_error());
    CHECK(out[0].centroids == NULL && out[2].centroids == NULL, "failed batch left results allocated");
    /* NaN in problem 2 names the problem, the row and the column */
    for (int64_t i = n; i < 2 * n; i++) w[i] = 1.0f;
    x[2 * n * d + 4 * d + 3] = NAN;
    st = fkm_fit_batch(&p, &m, b, out);
    CHECK(st == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "problem 2") && strstr(fkm_last_error(), "[4][3]"),
          "batch NaN: status %d, '%s'", (int)st, fkm_last_error());
    free(x); free(w);
}

static void test_threads_bitwise(void) {
    const int64_t n = 9001, d = 19, k = 37;
    float *x = blobs32(300, n, d, 30, 1.5), *w = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + i % 5) * 0.25f;
    for (int metric = 0; metric < 3; metric++)
        for (int variant = 0; variant < 3; variant++) {
            fkm_params p = edge_params(k);
            p.metric = (fkm_metric)metric; p.stop = FKM_STOP_FIXED; p.max_iter = 4; p.seed = 17;
            if (variant == 1) p.init = FKM_INIT_RANDOM;
            if (variant == 2) p.n_init = 2;
            fkm_matrix m = {x, FKM_F32, n, d, variant == 1 ? w : NULL};
            fkm_result a, b;
            p.threads = 1;
            CHECK(fkm_fit(&p, &m, &a) == FKM_OK, "threads=1: %s", fkm_last_error());
            p.threads = 2;
            CHECK(fkm_fit(&p, &m, &b) == FKM_OK, "threads=2: %s", fkm_last_error());
            CHECK(edge_same_result(&a, &b), "metric %d variant %d: 1 and 2 threads differ", metric, variant);
            p.threads = 3; /* more threads than cores: still the same bits */
            fkm_result c;
            CHECK(fkm_fit(&p, &m, &c) == FKM_OK && edge_same_result(&a, &c), "metric %d: 3 threads differ", metric);
            /* predict/transform/score bitwise too */
            int32_t *l1 = malloc(sizeof(int32_t) * n), *l2 = malloc(sizeof(int32_t) * n);
            float *d1 = malloc(sizeof(float) * n), *d2 = malloc(sizeof(float) * n);
            double s1, s2;
            p.threads = 1;
            fkm_predict(&p, &m, a.centroids, k, l1, d1);
            fkm_score(&p, &m, a.centroids, k, &s1);
            p.threads = 2;
            fkm_predict(&p, &m, a.centroids, k, l2, d2);
            fkm_score(&p, &m, a.centroids, k, &s2);
            CHECK(!memcmp(l1, l2, 4 * n) && !memcmp(d1, d2, 4 * n) && s1 == s2, "predict/score depend on threads");
            free(l1); free(l2); free(d1); free(d2);
            fkm_result_free(&a); fkm_result_free(&b); fkm_result_free(&c);
        }
    free(x); free(w);
}

static void test_predict_transform_score(void) {
    const int64_t n = 333, d = 11, k = 9;
    float *x = blobs32(400, n, d, 5, 1.0), *w = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(i % 4) * 0.5f;
    for (int metric = 0; metric < 3; metric++) {
        fkm_params p = edge_params(k);
        p.metric = (fkm_metric)metric;
        fkm_matrix m = {x, FKM_F32, n, d, NULL}, mw = {x, FKM_F32, n, d, w};
        fkm_result r;
        CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "fit: %s", fkm_last_error());
        int32_t *lab = malloc(sizeof(int32_t) * n);
        float *dist = malloc(sizeof(float) * n), *all = malloc(sizeof(float) * n * k);
        double sc = 0, scw = 0, sum = 0, sumw = 0;
        CHECK(fkm_predict(&p, &m, r.centroids, k, lab, dist) == FKM_OK, "predict: %s", fkm_last_error());
        CHECK(fkm_transform(&p, &m, r.centroids, k, all) == FKM_OK, "transform: %s", fkm_last_error());
        CHECK(fkm_score(&p, &m, r.centroids, k, &sc) == FKM_OK, "score: %s", fkm_last_error());
        CHECK(fkm_score(&p, &mw, r.centroids, k, &scw) == FKM_OK, "score w: %s", fkm_last_error());
        CHECK(!memcmp(lab, r.labels, sizeof(int32_t) * n), "metric %d: predict labels != fit labels", metric);
        CHECK(sc == r.inertia, "metric %d: score %.12g != fit inertia %.12g", metric, sc, r.inertia);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) {
            /* transform's row minimum is the predicted label's distance, up to the near-tie
             * margin (the kernels may sum x.c in different orders) */
            float mn = all[i * k];
            int64_t am = 0;
            for (int64_t c = 1; c < k; c++)
                if (all[i * k + c] < mn) { mn = all[i * k + c]; am = c; }
            double xn = 0, cn = 0;
            for (int64_t j = 0; j < d; j++) {
                xn += (double)x[i * d + j] * x[i * d + j];
                cn += (double)r.centroids[lab[i] * d + j] * r.centroids[lab[i] * d + j];
            }
            const double tol = EDGE_MARGIN * (metric == 0 ? xn + cn : metric == 1 ? 2 : sqrt(xn * cn));
            if (fabsf(all[i * k + lab[i]] - dist[i]) > tol) bad++;
            if (am != lab[i] && fabsf(mn - dist[i]) > tol) bad++;
            if (metric != 2 && (dist[i] < 0 || mn < 0)) bad++;
            sum += dist[i];
            sumw += (double)dist[i] * w[i];
        }
        CHECK(bad == 0, "metric %d: %lld transform/predict inconsistencies", metric, (long long)bad);
        CHECK(fabs(sc - sum) <= 1e-9 * (1 + fabs(sum)), "metric %d: score %.12g != sum of dist %.12g", metric, sc, sum);
        CHECK(fabs(scw - sumw) <= 1e-9 * (1 + fabs(sumw)), "metric %d: weighted score %.12g vs %.12g", metric, scw, sumw);
        /* predict with dist = NULL, and with k > n (predict allows it) */
        CHECK(fkm_predict(&p, &m, r.centroids, k, lab, NULL) == FKM_OK, "predict no dist: %s", fkm_last_error());
        fkm_matrix m2 = {x, FKM_F32, 2, d, NULL};
        CHECK(fkm_predict(&p, &m2, r.centroids, k, lab, dist) == FKM_OK && lab[0] == r.labels[0] && lab[1] == r.labels[1],
              "predict with k > n: %s", fkm_last_error());
        free(lab); free(dist); free(all);
        fkm_result_free(&r);
    }
    free(x); free(w);
}

/* ---- progress callback: cancellation after a given iteration. */
typedef struct { int calls, cancel_at, last_iter, max_iter; } prog_state;
static int on_progress(int iter, int max_iter, const fkm_iter_stats *st, void *user) {
    prog_state *ps = (prog_state *)user;
    ps->calls++;
    ps->last_iter = iter;
    ps->max_iter = max_iter;
    if (!st || !isfinite(st->inertia)) return 1;
    return ps->calls - 1 == ps->cancel_at;
}

static void test_progress_cancel(void) {
    const int64_t n = 3000, d = 8, k = 20;
    float *x = blobs32(500, n, d, 25, 1.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    p.stop = FKM_STOP_FIXED; p.max_iter = 10;
    prog_state ps = {0, 1000, -1, 0};
    p.progress_fn = on_progress; p.progress_user = &ps;
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "progress: %s", fkm_last_error());
    CHECK(ps.calls == 10 && ps.last_iter == 9 && ps.max_iter == 10, "progress called %d times (last %d of %d)", ps.calls,
          ps.last_iter, ps.max_iter);
    fkm_result_free(&r);
    ps = (prog_state){0, 2, -1, 0};
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_ERR_CANCELLED, "cancel: status %d", (int)st);
    CHECK(r.stop_reason == FKM_STOPPED_CANCELLED && r.iterations == 3, "cancel: reason %d after %d iterations",
          (int)r.stop_reason, r.iterations);
    CHECK(r.centroids && r.labels && r.stats && edge_sane(&r, 0), "cancel: no usable state");
    CHECK(ps.calls == 3, "progress called %d times after cancelling", ps.calls);
    if (r.centroids) {
        CHECK(edge_labels_match_predict(&p, &m, &r), "cancel: labels are not those of the returned centroids");
        double sc;
        CHECK(fkm_score(&p, &m, r.centroids, k, &sc) == FKM_OK && sc == r.inertia, "cancel: inertia != score");
    }
    fkm_result_free(&r);
    fkm_result_free(&r); /* freeing twice is safe */
    /* Cancel in the third restart: whichever restart is kept, the reason says cancelled. */
    for (int at = 0; at < 3; at++) {
        ps = (prog_state){0, 10 * at + 4, -1, 0};
        p.n_init = 3;
        st = fkm_fit(&p, &m, &r);
        CHECK(st == FKM_ERR_CANCELLED && r.stop_reason == FKM_STOPPED_CANCELLED,
              "cancel in restart %d: status %d reason %d (best_init %d)", at, (int)st, (int)r.stop_reason, r.best_init);
        CHECK(r.best_init <= at && r.centroids != NULL, "cancel in restart %d: best_init %d", at, r.best_init);
        fkm_result_free(&r);
    }
    /* Batch: the cancelled problem keeps its state, later ones stay zeroed. */
    float *xb = malloc(sizeof(float) * 2 * n * d);
    memcpy(xb, x, sizeof(float) * n * d);
    memcpy(xb + n * d, x, sizeof(float) * n * d);
    fkm_matrix mb = {xb, FKM_F32, n, d, NULL};
    fkm_result out[2];
    p.n_init = 1;
    ps = (prog_state){0, 1, -1, 0};
    st = fkm_fit_batch(&p, &mb, 2, out);
    CHECK(st == FKM_ERR_CANCELLED && out[0].centroids && out[0].iterations == 2 && !out[1].centroids,
          "batch cancel: status %d", (int)st);
    fkm_result_free(&out[0]); fkm_result_free(&out[1]);
    free(x); free(xb);
}

/* ---- log callback: levels respected, called on the calling thread only. */
typedef struct { int n[4], other_thread; pthread_t self; } log_state;
static void on_log(fkm_log_level lv, const char *msg, void *user) {
    log_state *ls = (log_state *)user;
    if ((int)lv >= 0 && lv <= FKM_LOG_DEBUG) ls->n[lv]++;
    if (!pthread_equal(pthread_self(), ls->self)) ls->other_thread++;
    if (!msg || !msg[0]) ls->other_thread += 1000;
}

static void test_log(void) {
    const int64_t n = 2000, d = 4, k = 5;
    float *x = blobs32(600, n, d, 5, 1.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int verbose = 0; verbose <= 3; verbose++) {
        log_state ls = {{0}, 0, pthread_self()};
        fkm_params p = edge_params(k);
        p.verbose = verbose; p.log_fn = on_log; p.log_user = &ls; p.threads = 2; p.max_iter = 5; p.stop = FKM_STOP_FIXED;
        fkm_result r;
        CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "log fit: %s", fkm_last_error());
        CHECK(ls.other_thread == 0, "verbose %d: log called from another thread or with an empty message", verbose);
        if (verbose == 0) CHECK(ls.n[0] + ls.n[1] + ls.n[2] + ls.n[3] == 0, "verbose 0 logged something");
        if (verbose < 2) CHECK(ls.n[2] == 0, "verbose %d: INFO logged", verbose);
        if (verbose < 3) CHECK(ls.n[3] == 0, "verbose %d: DEBUG logged", verbose);
        if (verbose >= 2) CHECK(ls.n[2] > 0, "verbose %d: no INFO message", verbose);
        if (verbose >= 3) CHECK(ls.n[3] >= 5, "verbose 3: %d DEBUG messages for 5 iterations", ls.n[3]);
        fkm_result_free(&r);
    }
    /* verbose without a sink: nothing happens */
    fkm_params p = edge_params(k);
    p.verbose = 3;
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "verbose without log_fn: %s", fkm_last_error());
    fkm_result_free(&r);
    free(x);
}

/* Concurrent fits from two application threads give the same bits as sequential ones. */
typedef struct { const fkm_matrix *m; fkm_result r; fkm_status st; } job;
static void *run_job(void *arg) {
    job *j = (job *)arg;
    fkm_params p = edge_params(6);
    p.threads = 1;
    j->st = fkm_fit(&p, j->m, &j->r);
    return NULL;
}

static void test_concurrent(void) {
    const int64_t n = 4000, d = 7;
    float *x = blobs32(700, n, d, 6, 1.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    job a = {&m, {0}, FKM_OK}, b = {&m, {0}, FKM_OK}, c = {&m, {0}, FKM_OK};
    pthread_t ta, tb;
    pthread_create(&ta, NULL, run_job, &a);
    pthread_create(&tb, NULL, run_job, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    run_job(&c);
    CHECK(a.st == FKM_OK && b.st == FKM_OK && c.st == FKM_OK, "concurrent fits failed");
    CHECK(edge_same_result(&a.r, &c.r) && edge_same_result(&b.r, &c.r), "concurrent fits differ from a sequential one");
    fkm_result_free(&a.r); fkm_result_free(&b.r); fkm_result_free(&c.r);
    free(x);
}

static void test_misc_api(void) {
    CHECK(fkm_version() && strcmp(fkm_version(), "") != 0, "no version string");
    CHECK(fkm_cuda_device_count() >= 0, "negative device count");
    for (int s = 0; s <= 9; s++) CHECK(fkm_status_str((fkm_status)s)[0] != 0, "status %d has no text", s);
    CHECK(strcmp(fkm_status_str((fkm_status)99), "unknown status") == 0, "unknown status text");
    CHECK(fkm_dtype_size(FKM_F32) == 4 && fkm_dtype_size(FKM_F64) == 8 && fkm_dtype_size(FKM_F16) == 2 &&
          fkm_dtype_size(FKM_BF16) == 2 && fkm_dtype_size(FKM_U8) == 1 && fkm_dtype_size((fkm_dtype)7) == 0,
          "dtype sizes");
    CHECK(fkm_device_str((fkm_device)9) && fkm_precision_str((fkm_precision)9) && fkm_stop_reason_str((fkm_stop_reason)9) &&
          fkm_metric_str((fkm_metric)9), "name of an unknown value is NULL");
    fkm_params_default(NULL); /* no crash */
    fkm_result_free(NULL);
    fkm_result z;
    memset(&z, 0, sizeof z);
    fkm_result_free(&z);
    /* a successful fit on this thread leaves the result device/precision set */
    float x[8] = {0, 1, 2, 3, 10, 11, 12, 13};
    fkm_matrix m = {x, FKM_F32, 4, 2, NULL};
    fkm_params p = edge_params(2);
    p.device = FKM_DEVICE_AUTO;
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "auto fit: %s", fkm_last_error());
    CHECK(r.precision != FKM_PREC_AUTO && (r.device == FKM_DEVICE_CPU || r.device == FKM_DEVICE_CUDA),
          "result device %d precision %d", (int)r.device, (int)r.precision);
    CHECK(r.k == 2 && r.n == 4 && r.d == 2, "result shape");
    fkm_result_free(&r);
}

/* init auto (the default) is k-means++ on the CPU: the same bits as asking for it, for fkm_fit,
 * a batch and sparse input; validate knows it and nothing past it. (On a GPU it is k-means||:
 * test_cuda_init.) */
static void test_init_auto(void) {
    fkm_params p;
    fkm_params_default(&p);
    CHECK(p.init == FKM_INIT_AUTO, "default init %d, expected FKM_INIT_AUTO", (int)p.init);
    const int64_t n = 3000, d = 7, k = 25;
    float *x = blobs32(41, n, d, 12, 1.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    p = edge_params(k);
    p.seed = 5;
    fkm_result a, b;
    p.init = FKM_INIT_AUTO;
    fkm_status sa = fkm_fit(&p, &m, &a);
    p.init = FKM_INIT_KMEANSPP;
    fkm_status sb = fkm_fit(&p, &m, &b);
    CHECK(sa == FKM_OK && sb == FKM_OK, "fit: %s", fkm_last_error());
    if (sa == FKM_OK && sb == FKM_OK)
        CHECK(edge_same_result(&a, &b), "init auto on the CPU is not k-means++'s result");
    if (sa == FKM_OK) fkm_result_free(&a);
    if (sb == FKM_OK) fkm_result_free(&b);
    p.init = FKM_INIT_AUTO;
    CHECK(fkm_params_validate(&p, n, d) == FKM_OK, "validate refuses init auto: %s", fkm_last_error());
    p.init = (fkm_init)(FKM_INIT_AUTO + 1);
    CHECK(fkm_params_validate(&p, n, d) == FKM_ERR_INVALID_ARG, "validate accepts init %d", (int)p.init);
    /* sparse input: the same rows as CSR, auto = k-means++ there too */
    int64_t *indptr = malloc((size_t)(n + 1) * sizeof(int64_t));
    int32_t *indices = malloc((size_t)(n * d) * sizeof(int32_t));
    for (int64_t i = 0; i <= n; i++) indptr[i] = i * d;
    for (int64_t i = 0; i < n * d; i++) indices[i] = (int32_t)(i % d);
    fkm_csr c = {n, d, indptr, indices, x, NULL};
    p.init = FKM_INIT_AUTO;
    sa = fkm_fit_csr(&p, &c, &a);
    p.init = FKM_INIT_KMEANSPP;
    sb = fkm_fit_csr(&p, &c, &b);
    CHECK(sa == FKM_OK && sb == FKM_OK, "sparse fit: %s", fkm_last_error());
    if (sa == FKM_OK && sb == FKM_OK) CHECK(edge_same_result(&a, &b), "sparse: init auto is not k-means++'s result");
    if (sa == FKM_OK) fkm_result_free(&a);
    if (sb == FKM_OK) fkm_result_free(&b);
    free(indptr), free(indices), free(x);
}

int main(void) {
    test_batch();
    test_threads_bitwise();
    test_predict_transform_score();
    test_progress_cancel();
    test_log();
    test_concurrent();
    test_misc_api();
    test_init_auto();
    return check_report();
}
