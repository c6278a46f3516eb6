/* test_cuda_fit.c -- Lloyd iterations on the CUDA engine: the update against float64 means of
 * the GPU's own labels (every precision, metric, with weights), parity with the CPU engine in
 * exact mode, empty-cluster policies, stop rules through the device-side loop and the
 * per-iteration path, bitwise determinism, and the device-pointer fit on batches.
 * Skipped (exit 77) without a GPU. */
#include "test_cuda.h"

#include <stdlib.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>
#endif

static const fkm_precision precs[] = {FKM_PREC_EXACT, FKM_PREC_TF32, FKM_PREC_FP16, FKM_PREC_BF16};

typedef struct {
    int64_t n, d, k;
    double *x64;
    float *x32, *c0, *w;
    void *in;
    fkm_dtype t;
} dataset;

static void ds_make(dataset *s, uint64_t seed, int64_t n, int64_t d, int64_t k, fkm_dtype t, int weighted) {
    s->n = n; s->d = d; s->k = k; s->t = t;
    s->x64 = malloc((size_t)(n * d) * sizeof(double));
    s->x32 = malloc((size_t)(n * d) * sizeof(float));
    s->c0 = malloc((size_t)(k * d) * sizeof(float));
    gen_blobs(seed, n, d, k, 1.0, s->x64, s->x32);
    s->in = make_input(t, s->x32, s->x64, n * d);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < d; j++) s->c0[i * d + j] = (float)s->x64[(i * 7919 % n) * d + j];
    s->w = NULL;
    if (weighted) {
        uint64_t r = seed ^ 0xabc;
        s->w = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) s->w[i] = (float)(0.25 + 2 * gen_unif(&r));
    }
}
static void ds_free(dataset *s) { free(s->x64); free(s->x32); free(s->c0); free(s->w); free(s->in); }

static void base_params(fkm_params *p, const dataset *s, fkm_precision prec, int metric, int iters) {
    fkm_params_default(p);
    p->k = s->k;
    p->max_iter = iters;
    p->stop = FKM_STOP_FIXED;
    p->init = FKM_INIT_ARRAY;
    p->init_centroids = s->c0;
    p->metric = (fkm_metric)metric;
    p->device = FKM_DEVICE_CUDA;
    p->precision = prec;
}

/* 128 rows spread over the data: their labels against the float64 oracle (within the
 * precision's near-tie margin), so the labels the update test builds its means from are right. */
static void check_label_sample(const dataset *s, int metric, fkm_precision prec, const int32_t *lab) {
    const int64_t m = s->n < 128 ? s->n : 128, d = s->d, k = s->k;
    double *xs = malloc((size_t)(m * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    int32_t *ls = malloc((size_t)m * sizeof(int32_t));
    for (int64_t q = 0; q < m; q++) {
        const int64_t i = (q * 104729) % s->n;
        memcpy(xs + q * d, s->x64 + i * d, (size_t)d * sizeof(double));
        ls[q] = lab[i];
    }
    for (int64_t i = 0; i < k * d; i++) c64[i] = s->c0[i];
    int64_t ties = 0;
    const int64_t bad = oracle_bad(xs, m, d, c64, k, metric, ls, NULL, margin_of(prec), &ties);
    CHECK(bad == 0, "labels %s metric %d k=%lld: %lld of %lld sampled rows off the float64 oracle", fkm_precision_str(prec),
          metric, (long long)k, (long long)bad, (long long)m);
    free(xs); free(c64); free(ls);
}

/* One iteration: the new centroids are the (weighted) means of the points under the labels the
 * GPU assigned to the initial centroids, computed here in float64. */
static void test_update(fkm_precision prec, int metric, int weighted, int64_t n_pts, int64_t k_cl) {
    dataset s;
    ds_make(&s, 500 + (uint64_t)(prec * 10 + metric), n_pts, 40, k_cl, dtype_for(prec), weighted);
    const int64_t n = s.n, d = s.d, k = s.k;
    fkm_params p;
    base_params(&p, &s, prec, metric, 1);
    p.empty = FKM_EMPTY_KEEP;
    fkm_matrix m = {s.in, s.t, n, d, s.w};
    int32_t *lab0 = malloc((size_t)n * sizeof(int32_t));
    fkm_result r;
    CHECK(fkm_predict(&p, &m, s.c0, k, lab0, NULL) == FKM_OK, "predict: %s", fkm_last_error());
    check_label_sample(&s, metric, prec, lab0);
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "fit %s metric %d: %s", fkm_precision_str(prec), metric, fkm_last_error());
    if (st == FKM_OK) {
        double *sum = calloc((size_t)(k * d), sizeof(double)), *cnt = calloc((size_t)k, sizeof(double));
        for (int64_t i = 0; i < n; i++) {
            const double wi = s.w ? s.w[i] : 1.0, nx = metric == 1 ? sqrt(sq(s.x64 + i * d, d)) : 1.0;
            cnt[lab0[i]] += wi;
            for (int64_t j = 0; j < d; j++) sum[lab0[i] * d + j] += wi * s.x64[i * d + j] / nx;
        }
        double err = 0, scale = 0;
        for (int64_t c = 0; c < k; c++) {
            double nc = 0;
            for (int64_t j = 0; j < d; j++) {
                sum[c * d + j] = cnt[c] > 0 ? sum[c * d + j] / cnt[c] : s.c0[c * d + j];
                nc += sum[c * d + j] * sum[c * d + j];
            }
            if (metric == 1 && cnt[c] > 0)
                for (int64_t j = 0; j < d; j++) sum[c * d + j] /= sqrt(nc);
            if (metric == 1 && cnt[c] == 0) { /* the library keeps the normalised initial row */
                double n0 = sqrt(sq(sum + c * d, d));
                for (int64_t j = 0; j < d; j++) sum[c * d + j] /= n0;
            }
            for (int64_t j = 0; j < d; j++) {
                err = fmax(err, fabs(sum[c * d + j] - r.centroids[c * d + j]));
                scale = fmax(scale, fabs(sum[c * d + j]));
            }
        }
        /* fp32 sums of the data as the GPU holds it (half data normalised for cosine: 1e-3). */
        const double tol = (metric == 1 && (prec == FKM_PREC_FP16 || prec == FKM_PREC_BF16)) ? 5e-3 : 2e-5;
        CHECK(err <= tol * (scale + 1), "update %s metric %d weighted %d: centroids off the float64 means by %g",
              fkm_precision_str(prec), metric, weighted, err);
        CHECK(r.stats[0].changed == n, "first iteration changed %lld labels, expected all %lld",
              (long long)r.stats[0].changed, (long long)n);
        free(sum); free(cnt);
        fkm_result_free(&r);
    }
    free(lab0);
    ds_free(&s);
}

static int count_calls(int it, int max_iter, const fkm_iter_stats *st, void *user) {
    (void)it; (void)max_iter; (void)st;
    (*(int *)user)++;
    return 0;
}

/* Exact mode: same centroids, labels, iterations and stop reason as the CPU engine, through the
 * device-side loop and (progress callback set) the per-iteration path. */
static void test_cpu_parity(int metric, fkm_stop_rule rule, int weighted, int per_iter, int far_init) {
    dataset s;
    ds_make(&s, 900 + (uint64_t)(metric * 3 + rule), 4000, 24, 30, FKM_F32, weighted);
    if (far_init) /* one centroid far from everything: empty in the first iteration */
        for (int64_t j = 0; j < s.d; j++) s.c0[3 * s.d + j] += 1000.0f;
    fkm_params p;
    base_params(&p, &s, FKM_PREC_EXACT, metric, 40);
    p.stop = rule;
    p.tol = rule == FKM_STOP_SHIFT ? 1e-6 : 1e-7;
    int calls = 0;
    if (per_iter) { p.progress_fn = count_calls; p.progress_user = &calls; }
    fkm_matrix m = {s.x32, FKM_F32, s.n, s.d, s.w};
    fkm_result rg, rc;
    fkm_status sg = fkm_fit(&p, &m, &rg);
    p.device = FKM_DEVICE_CPU;
    p.precision = FKM_PREC_AUTO;
    fkm_status sc = fkm_fit(&p, &m, &rc);
    CHECK(sg == FKM_OK && sc == FKM_OK, "fits: %s", fkm_last_error());
    if (sg == FKM_OK && sc == FKM_OK) {
        double err = 0, scale = 0;
        int64_t diff = 0;
        for (int64_t i = 0; i < s.k * s.d; i++) {
            err = fmax(err, fabs(rg.centroids[i] - rc.centroids[i]));
            scale = fmax(scale, fabs(rc.centroids[i]));
        }
        for (int64_t i = 0; i < s.n; i++) diff += rg.labels[i] != rc.labels[i];
        CHECK(err <= 1e-4 * (scale + 1) && diff == 0, "metric %d rule %d far %d: gpu vs cpu centroids %g apart, %lld labels",
              metric, rule, far_init, err, (long long)diff);
        CHECK(rg.iterations == rc.iterations && rg.stop_reason == rc.stop_reason,
              "metric %d rule %d: gpu %d iterations (%s), cpu %d (%s)", metric, rule, rg.iterations,
              fkm_stop_reason_str(rg.stop_reason), rc.iterations, fkm_stop_reason_str(rc.stop_reason));
        CHECK(fabs(rg.inertia - rc.inertia) <= 1e-5 * fabs(rc.inertia), "inertia gpu %.12g cpu %.12g", rg.inertia,
              rc.inertia);
        for (int it = 0; it < rg.iterations && it < rc.iterations; it++) {
            CHECK(rg.stats[it].empty == rc.stats[it].empty && rg.stats[it].changed == rc.stats[it].changed,
                  "iteration %d: empty %lld/%lld changed %lld/%lld (gpu/cpu)", it, (long long)rg.stats[it].empty,
                  (long long)rc.stats[it].empty, (long long)rg.stats[it].changed, (long long)rc.stats[it].changed);
            CHECK(fabs(rg.stats[it].inertia - rc.stats[it].inertia) <= 1e-5 * fabs(rc.stats[it].inertia),
                  "iteration %d inertia %.12g vs %.12g", it, rg.stats[it].inertia, rc.stats[it].inertia);
        }
        if (far_init && metric == 0) CHECK(rg.stats[0].empty == 1, "the far centroid was not empty (%lld)", (long long)rg.stats[0].empty);
        if (per_iter) CHECK(calls == 2 * rg.iterations, "progress called %d times for %d+%d iterations", calls,
                            rg.iterations, rc.iterations);
        CHECK(rg.device == FKM_DEVICE_CUDA && rg.precision == FKM_PREC_EXACT, "result says device %d precision %d",
              (int)rg.device, (int)rg.precision);
    }
    if (sg == FKM_OK) fkm_result_free(&rg);
    if (sc == FKM_OK) fkm_result_free(&rc);
    ds_free(&s);
}

/* Same input, same bits: centroids, labels, inertia, per-iteration statistics. */
static void test_determinism(fkm_precision prec, int metric, int64_t k) {
    dataset s;
    ds_make(&s, 1234 + (uint64_t)prec, 100000, 64, k, dtype_for(prec), 1); /* several tiles per block */
    fkm_params p;
    base_params(&p, &s, prec, metric, 8);
    p.init = FKM_INIT_RANDOM;
    fkm_matrix m = {s.in, s.t, s.n, s.d, s.w};
    fkm_result a, b;
    fkm_status s1 = fkm_fit(&p, &m, &a), s2 = fkm_fit(&p, &m, &b);
    CHECK(s1 == FKM_OK && s2 == FKM_OK, "fits: %s", fkm_last_error());
    if (s1 == FKM_OK && s2 == FKM_OK) {
        int same = memcmp(a.centroids, b.centroids, (size_t)(s.k * s.d) * sizeof(float)) == 0 &&
                   memcmp(a.labels, b.labels, (size_t)s.n * sizeof(int32_t)) == 0 && a.inertia == b.inertia &&
                   a.iterations == b.iterations;
        for (int it = 0; same && it < a.iterations; it++)
            same = a.stats[it].inertia == b.stats[it].inertia && a.stats[it].shift == b.stats[it].shift;
        CHECK(same, "%s metric %d: two runs differ", fkm_precision_str(prec), metric);
    }
    if (s1 == FKM_OK) fkm_result_free(&a);
    if (s2 == FKM_OK) fkm_result_free(&b);
    ds_free(&s);
}

#ifdef FKM_HAVE_CUDA
/* Device-pointer fit of b problems against the host API run one problem at a time. */
/* rule FKM_STOP_LABELS: the problems stop at different iterations (converged ones are skipped by
 * the later iterations' kernels). */
static void test_device_fit(int64_t b, int64_t n, int64_t d, int64_t k, fkm_precision prec, int metric,
                            fkm_stop_rule rule) {
    dataset s;
    ds_make(&s, 31337 + (uint64_t)b, b * n, d, k, dtype_for(prec), 0);
    const size_t es = fkm_dtype_size(s.t);
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = rule == FKM_STOP_FIXED ? 6 : 40; p.stop = rule; p.init = FKM_INIT_RANDOM; p.seed = 11;
    p.metric = (fkm_metric)metric; p.precision = prec; p.device = FKM_DEVICE_CUDA;
    void *dx = NULL, *dc = NULL, *dl = NULL;
    cudaMalloc(&dx, (size_t)(b * n * d) * es);
    cudaMalloc(&dc, (size_t)(b * k * d) * 4);
    cudaMalloc(&dl, (size_t)(b * n) * 4);
    cudaMemcpy(dx, s.in, (size_t)(b * n * d) * es, cudaMemcpyHostToDevice);
    cudaMemset(dl, 0xff, (size_t)(b * n) * 4);
    fkm_cuda_matrix dm = {dx, s.t, b, n, d, NULL};
    int *iters = malloc((size_t)b * sizeof(int));
    double *inert = malloc((size_t)b * sizeof(double));
    fkm_cuda_fit_info info;
    fkm_status st = fkm_cuda_fit(&p, &dm, (float *)dc, (int32_t *)dl, iters, inert, &info, NULL, 0, NULL);
    CHECK(st == FKM_OK, "device fit b=%lld: %s", (long long)b, fkm_last_error());
    fkm_result *rr = calloc((size_t)b, sizeof(fkm_result));
    fkm_matrix hm = {s.in, s.t, n, d, NULL};
    fkm_status sh = fkm_fit_batch(&p, &hm, b, rr);
    CHECK(sh == FKM_OK, "host batch fit: %s", fkm_last_error());
    if (st == FKM_OK && sh == FKM_OK) {
        float *c = malloc((size_t)(b * k * d) * 4);
        int32_t *l = malloc((size_t)(b * n) * 4);
        double *c64 = malloc((size_t)(k * d) * sizeof(double));
        cudaMemcpy(c, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(l, dl, (size_t)(b * n) * 4, cudaMemcpyDeviceToHost);
        int64_t bad = 0;
        int most = 0, fewest = p.max_iter;
        double err = 0, scale = 0;
        for (int64_t q = 0; q < b; q++) {
            most = iters[q] > most ? iters[q] : most;
            fewest = iters[q] < fewest ? iters[q] : fewest;
            for (int64_t i = 0; i < k * d; i++) {
                c64[i] = c[q * k * d + i];
                err = fmax(err, fabs(c[q * k * d + i] - rr[q].centroids[i]));
                scale = fmax(scale, fabs(rr[q].centroids[i]));
            }
            bad += oracle_bad(s.x64 + q * n * d, n, d, c64, k, metric, l + q * n, NULL, margin_of(prec), NULL);
            if (iters[q] != rr[q].iterations) bad++;
            if (!(fabs(inert[q] - rr[q].inertia) <= 1e-2 * fabs(rr[q].inertia) + 1e-6)) bad++;
        }
        const double tol = prec == FKM_PREC_EXACT ? 1e-4 : prec == FKM_PREC_TF32 ? 1e-3 : 2e-2;
        CHECK(bad == 0 && err <= tol * (scale + 1), "device fit b=%lld %s metric %d: %lld bad, centroids %g apart",
              (long long)b, fkm_precision_str(prec), metric, (long long)bad, err);
        CHECK(info.iterations == most && info.ms_iterations > 0 && (rule != FKM_STOP_FIXED || most == 6),
              "info: %d iterations (problems ran %d), %g ms", info.iterations, most, info.ms_iterations);
        if (rule != FKM_STOP_FIXED) /* else the skipping of converged problems went untested */
            CHECK(fewest < most, "all %lld problems stopped after %d iterations", (long long)b, most);
        free(c); free(l); free(c64);
    }
    for (int64_t q = 0; q < b; q++) fkm_result_free(&rr[q]);
    free(rr); free(iters); free(inert);
    cudaFree(dx); cudaFree(dc); cudaFree(dl);
    ds_free(&s);
}

/* One iteration on b problems at once (device API): each problem's new centroids are the means of
 * its points under the labels the same batch predict gives for the initial centroids, in float64.
 * Sensitive to the per-problem cluster counts (they place the segments that cross chunks). */
static void test_update_batch(fkm_precision prec, int64_t b, int64_t n, int64_t d, int64_t k) {
    dataset s;
    ds_make(&s, 777 + (uint64_t)(b + k), b * n, d, k, dtype_for(prec), 0);
    const size_t es = fkm_dtype_size(s.t);
    fkm_params p;
    base_params(&p, &s, prec, 0, 1);
    p.init_centroids = NULL; /* the device array holds each problem's initial centroids */
    p.empty = FKM_EMPTY_KEEP;
    float *c0 = malloc((size_t)(b * k * d) * 4), *c = malloc((size_t)(b * k * d) * 4);
    int32_t *l0 = malloc((size_t)(b * n) * 4);
    for (int64_t q = 0; q < b; q++) memcpy(c0 + q * k * d, s.c0, (size_t)(k * d) * 4);
    void *dx = NULL, *dc = NULL, *dl = NULL;
    int ok = cudaMalloc(&dx, (size_t)(b * n * d) * es) == cudaSuccess &&
             cudaMalloc(&dc, (size_t)(b * k * d) * 4) == cudaSuccess && cudaMalloc(&dl, (size_t)(b * n) * 4) == cudaSuccess;
    CHECK(ok, "cudaMalloc failed");
    if (ok) {
        cudaMemcpy(dx, s.in, (size_t)(b * n * d) * es, cudaMemcpyHostToDevice);
        cudaMemcpy(dc, c0, (size_t)(b * k * d) * 4, cudaMemcpyHostToDevice);
        fkm_cuda_matrix dm = {dx, s.t, b, n, d, NULL};
        fkm_params pp = p;
        pp.init = FKM_INIT_RANDOM; /* predict checks the init fields too */
        fkm_status st = fkm_cuda_predict(&pp, &dm, (const float *)dc, k, (int32_t *)dl, NULL, NULL, NULL, 0, NULL);
        CHECK(st == FKM_OK, "batch predict: %s", fkm_last_error());
        cudaMemcpy(l0, dl, (size_t)(b * n) * 4, cudaMemcpyDeviceToHost);
        fkm_status sf = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
        CHECK(sf == FKM_OK, "batch fit: %s", fkm_last_error());
        cudaMemcpy(c, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
        double err = 0, scale = 0;
        double *sum = malloc((size_t)(k * d) * sizeof(double)), *cnt = malloc((size_t)k * sizeof(double));
        for (int64_t q = 0; q < b && st == FKM_OK && sf == FKM_OK; q++) {
            memset(sum, 0, (size_t)(k * d) * sizeof(double));
            memset(cnt, 0, (size_t)k * sizeof(double));
            for (int64_t i = q * n; i < (q + 1) * n; i++) {
                cnt[l0[i]] += 1;
                for (int64_t j = 0; j < d; j++) sum[l0[i] * d + j] += s.x64[i * d + j];
            }
            for (int64_t e = 0; e < k * d; e++) {
                const double want = cnt[e / d] > 0 ? sum[e] / cnt[e / d] : s.c0[e];
                err = fmax(err, fabs(want - c[q * k * d + e]));
                scale = fmax(scale, fabs(want));
            }
        }
        CHECK(err <= 2e-5 * (scale + 1), "batch update b=%lld n=%lld k=%lld %s: centroids off the float64 means by %g",
              (long long)b, (long long)n, (long long)k, fkm_precision_str(prec), err);
        free(sum); free(cnt);
    }
    cudaFree(dx); cudaFree(dc); cudaFree(dl);
    free(c0); free(c); free(l0);
    ds_free(&s);
}

static void test_device_bad(void) {
    float h[6 * 2] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    h[9] = INFINITY;
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, sizeof h);
    cudaMalloc(&dc, 2 * 2 * 4);
    cudaMemcpy(dx, h, sizeof h, cudaMemcpyHostToDevice);
    fkm_params p;
    fkm_params_default(&p);
    p.k = 2; p.init = FKM_INIT_RANDOM;
    fkm_cuda_matrix m = {dx, FKM_F32, 1, 6, 2, NULL};
    CHECK(fkm_cuda_fit(&p, &m, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL) == FKM_ERR_BAD_INPUT, "Inf accepted");
    CHECK(strstr(fkm_last_error(), "data[4][1]") != NULL, "message: %s", fkm_last_error());
    p.init = FKM_INIT_KMEANSPP; /* the data check comes before any initialisation */
    CHECK(fkm_cuda_fit(&p, &m, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL) == FKM_ERR_BAD_INPUT,
          "Inf accepted with k-means++ init: %s", fkm_last_error());
    cudaFree(dx); cudaFree(dc);
}
#endif

#ifdef FKM_HAVE_CUDA
/* FKM_CU_KERNEL names a kernel by its name (fkm_cuda_fit_info.kernel) as well as by its id: the
 * first item valid for the call wins, unknown names and kernels of another precision are skipped,
 * and with none valid the tables choose (the name of the default run). */
static const char *kernel_run(const char *force, void *dx, void *dc, int64_t n, int64_t d, int64_t k) {
    if (force) setenv("FKM_CU_KERNEL", force, 1);
    else unsetenv("FKM_CU_KERNEL");
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 2; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_RANDOM; p.device = FKM_DEVICE_CUDA;
    fkm_cuda_matrix dm = {dx, FKM_F16, 1, n, d, NULL};
    fkm_cuda_fit_info info;
    memset(&info, 0, sizeof info);
    fkm_status st = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, &info, NULL, 0, NULL);
    unsetenv("FKM_CU_KERNEL");
    CHECK(st == FKM_OK, "FKM_CU_KERNEL=%s: %s", force ? force : "(unset)", fkm_last_error());
    return st == FKM_OK && info.kernel ? info.kernel : "?";
}

static void test_kernel_by_name(void) {
    const int64_t n = 20000, d = 128, k = 100;
    dataset s;
    ds_make(&s, 99, n, d, k, FKM_F16, 0);
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, (size_t)(n * d) * 2);
    cudaMalloc(&dc, (size_t)(k * d) * 4);
    cudaMemcpy(dx, s.in, (size_t)(n * d) * 2, cudaMemcpyHostToDevice);
    char dflt[64];
    snprintf(dflt, sizeof dflt, "%s", kernel_run(NULL, dx, dc, n, d, k));
    static const char *want[][2] = {
        {"mma-f16-64x128-s4-xres", "mma-f16-64x128-s4-xres"},            /* by name */
        {"4", "mma-f16-64x128-s4-xres"},                                   /* by id, as before */
        {"no-such-kernel,mma-f16-128x128-s3", "mma-f16-128x128-s3"},       /* unknown name skipped */
        {"mma-tf32-128x128-s4-xres,mma-f16-128x256-s3-xres", "mma-f16-128x256-s3-xres"}, /* other precision skipped */
        {"mma-tf32-128x128-s4-xres", NULL},                                /* none valid: the tables' choice */
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *got = kernel_run(want[i][0], dx, dc, n, d, k), *w = want[i][1] ? want[i][1] : dflt;
        CHECK(strcmp(got, w) == 0, "FKM_CU_KERNEL=%s ran %s, expected %s", want[i][0], got, w);
        printf("  FKM_CU_KERNEL=%-50s -> %s\n", want[i][0], got);
    }
    cudaFree(dx); cudaFree(dc);
    ds_free(&s);
}
#endif

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    const int small = getenv("FKM_TEST_SMALL") && atoi(getenv("FKM_TEST_SMALL"));
#ifdef FKM_HAVE_CUDA
    test_kernel_by_name();
#endif
    for (int pi = 0; pi < 4; pi++)
        for (int metric = 0; metric < (small ? 1 : 3); metric++) test_update(precs[pi], metric, metric == 0, 3000, 25);
    /* Enough points that every block of the centroid-resident kernel (one problem, k <= 256) takes
     * several tiles per warpgroup and wraps its ring of point buffers. */
    if (!small) {
        test_update(FKM_PREC_TF32, 0, 1, 150000, 200);
        test_update(FKM_PREC_FP16, 2, 0, 150000, 100);
        test_update(FKM_PREC_BF16, 1, 1, 120000, 256);
        /* The streamed kernel: counts per block in shared memory (k = 700), and past PS_SCOUNT
         * (k = 5000) one global atomic per row. */
        test_update(FKM_PREC_FP16, 0, 1, 80000, 700);
        test_update(FKM_PREC_TF32, 2, 0, 70000, 5000);
        /* K past 2^20 (one problem): counts by global atomics, 2^21 points */
        test_update(FKM_PREC_TF32, 0, 0, (int64_t)1 << 21, ((int64_t)1 << 20) + 5);
    }
    test_cpu_parity(0, FKM_STOP_FIXED, 1, 0, 1); /* FKM_EMPTY_FARTHEST against the CPU */
    if (!small) {
        for (int metric = 0; metric < 3; metric++) test_cpu_parity(metric, FKM_STOP_SHIFT, metric == 2, 0, 0);
        test_cpu_parity(0, FKM_STOP_INERTIA, 0, 0, 0);
        test_cpu_parity(0, FKM_STOP_LABELS, 0, 1, 0);
        test_cpu_parity(1, FKM_STOP_FIXED, 0, 1, 1);
    }
    if (!small)
        for (int pi = 0; pi < 4; pi++) {
            test_determinism(precs[pi], pi % 3, 50);
            if (precs[pi] != FKM_PREC_EXACT) test_determinism(precs[pi], pi % 3, 600); /* streamed kernel */
        }
#ifdef FKM_HAVE_CUDA
    test_device_fit(1, 3000, 32, 10, FKM_PREC_EXACT, 0, FKM_STOP_FIXED);
    test_device_fit(3, 2000, 48, 16, FKM_PREC_FP16, 0, FKM_STOP_FIXED);
    test_device_fit(3, 1500, 20, 9, FKM_PREC_BF16, 1, FKM_STOP_FIXED);
    test_device_fit(2, 2500, 64, 20, FKM_PREC_TF32, 2, FKM_STOP_FIXED);
    if (!small) { /* batches on the streamed kernel (n >= 2^15, k > 256): blocks cross problems */
        test_device_fit(3, 40000, 40, 300, FKM_PREC_FP16, 0, FKM_STOP_FIXED);
        test_device_fit(4, 33000, 24, 280, FKM_PREC_BF16, 0, FKM_STOP_LABELS);
        test_update_batch(FKM_PREC_FP16, 3, 40000, 40, 300);
        test_update_batch(FKM_PREC_TF32, 5, 33000, 24, 600);
    }
    test_device_bad();
#endif
    return check_report();
}
