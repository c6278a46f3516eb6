/* test_core.c -- the library against the float64 oracle: Lloyd from the same initial centroids,
 * predict, score, every metric; labels equal except documented near-ties. */
#include "check.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

/* Near-tie margin of the exact precision (docs/numerics.md): relative to |x|^2 + |c|^2. */
#define EXACT_MARGIN 1e-5

static double row_norm2(const double *v, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += v[j] * v[j];
    return s;
}

/* Count label disagreements that are NOT near-ties. */
static int64_t hard_disagreements(const double *x, int64_t n, int64_t d, const double *c, int64_t k,
                                  int metric, const int32_t *got) {
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    double *best = malloc((size_t)n * sizeof(double)), *sec = malloc((size_t)n * sizeof(double));
    ref_assign(x, n, d, c, k, metric, lab, best, sec);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] == got[i]) continue;
        double mine = ref_dist(x + i * d, c + (int64_t)got[i] * d, d, metric);
        double scale = metric == 0 ? row_norm2(x + i * d, d) + row_norm2(c + (int64_t)got[i] * d, d) : 2.0;
        if (fabs(mine - best[i]) > EXACT_MARGIN * scale) bad++;
    }
    free(lab); free(best); free(sec);
    return bad;
}

static void test_lloyd_vs_ref(int metric, int64_t n, int64_t d, int64_t k, int iters, int weighted) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(1000 + (uint64_t)(metric * 7 + n + d + k), n, d, k, 1.0, x64, x32);
    float *w = NULL;
    double *w64 = NULL;
    if (weighted) {
        uint64_t s = 5;
        w = malloc((size_t)n * sizeof(float));
        w64 = malloc((size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) w64[i] = w[i] = (float)(0.5 + gen_unif(&s));
    }
    float *c0 = malloc((size_t)(k * d) * sizeof(float));
    double *c64 = malloc((size_t)(k * d) * sizeof(double));
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < d; j++) c64[i * d + j] = c0[i * d + j] = x32[(i * 7919 % n) * d + j];
    if (metric == 1) /* the oracle keeps centroids unit-norm for cosine, as the library does */
        for (int64_t i = 0; i < k; i++) {
            double s = sqrt(row_norm2(c64 + i * d, d));
            for (int64_t j = 0; j < d; j++) c64[i * d + j] /= s;
        }

    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = iters; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_ARRAY;
    p.init_centroids = c0; p.metric = (fkm_metric)metric; p.device = FKM_DEVICE_CPU; p.empty = FKM_EMPTY_KEEP;
    fkm_matrix m = {x32, FKM_F32, n, d, w};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "fit failed: %s", fkm_last_error());
    if (st != FKM_OK) goto out;
    CHECK(r.iterations == iters, "ran %d iterations, expected %d", r.iterations, iters);

    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    ref_lloyd(x64, w64, n, d, c64, k, metric, iters, lab);
    double maxerr = 0, scale = 0;
    for (int64_t i = 0; i < k * d; i++) {
        maxerr = fmax(maxerr, fabs(c64[i] - r.centroids[i]));
        scale = fmax(scale, fabs(c64[i]));
    }
    CHECK(maxerr <= 1e-4 * (scale + 1), "metric %d: centroids differ from the oracle by %g", metric, maxerr);
    /* The returned labels are those of the returned centroids. */
    int64_t bad = hard_disagreements(x64, n, d, c64, k, metric, r.labels);
    CHECK(bad == 0, "metric %d n=%lld d=%lld k=%lld: %lld labels differ from the oracle outside near-ties",
          metric, (long long)n, (long long)d, (long long)k, (long long)bad);
    double ref_in = 0;
    double *best = malloc((size_t)n * sizeof(double));
    ref_assign(x64, n, d, c64, k, metric, NULL, best, NULL);
    for (int64_t i = 0; i < n; i++) ref_in += (w64 ? w64[i] : 1.0) * (metric == 0 ? fmax(best[i], 0) : best[i]);
    CHECK(fabs(r.inertia - ref_in) <= 1e-5 * fabs(ref_in) + 1e-6 * n,
          "metric %d: inertia %.12g vs oracle %.12g", metric, r.inertia, ref_in);
    free(best);
    free(lab);
    fkm_result_free(&r);
out:
    free(x64); free(x32); free(c0); free(c64); free(w); free(w64);
}

static void test_predict_score(void) {
    const int64_t n = 500, d = 13, k = 9;
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float)), *c32 = malloc((size_t)(k * d) * sizeof(float));
    gen_blobs(42, n, d, 4, 2.0, x64, x32);
    gen_blobs(43, k, d, 3, 2.0, c64, c32);
    for (int metric = 0; metric < 3; metric++) {
        fkm_params p;
        fkm_params_default(&p);
        p.metric = (fkm_metric)metric;
        p.device = FKM_DEVICE_CPU;
        fkm_matrix m = {x32, FKM_F32, n, d, NULL};
        int32_t *lab = malloc((size_t)n * sizeof(int32_t));
        float *dist = malloc((size_t)n * sizeof(float)), *all = malloc((size_t)(n * k) * sizeof(float));
        CHECK(fkm_predict(&p, &m, c32, k, lab, dist) == FKM_OK, "predict: %s", fkm_last_error());
        CHECK(hard_disagreements(x64, n, d, c64, k, metric, lab) == 0, "predict metric %d disagrees", metric);
        CHECK(fkm_transform(&p, &m, c32, k, all) == FKM_OK, "transform: %s", fkm_last_error());
        double maxerr = 0, sum = 0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t c = 0; c < k; c++) {
                double r = ref_dist(x64 + i * d, c64 + c * d, d, metric);
                maxerr = fmax(maxerr, fabs(r - all[i * k + c]) / (1 + fabs(r)));
            }
            CHECK(all[i * k + lab[i]] == dist[i] || fabs(all[i * k + lab[i]] - dist[i]) < 1e-4 * (1 + fabs(dist[i])),
                  "transform and predict disagree at %lld", (long long)i);
            sum += dist[i];
        }
        CHECK(maxerr < 1e-4, "transform metric %d off by %g", metric, maxerr);
        double sc = 0;
        CHECK(fkm_score(&p, &m, c32, k, &sc) == FKM_OK, "score: %s", fkm_last_error());
        CHECK(fabs(sc - sum) <= 1e-6 * (1 + fabs(sum)), "score %g vs sum of predict distances %g", sc, sum);
        free(lab); free(dist); free(all);
    }
    free(x64); free(c64); free(x32); free(c32);
}

/* Points within 0.01 of centres 1000 away from the origin: the fp32 expansion cancels almost all
 * digits of |x-c|^2, yet the reported inertia and distances must be within 1e-6 of float64. */
static void test_inertia_far_from_origin(void) {
    const int64_t n = 4000, d = 16, k = 4;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = 99;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (float)(1000.0 + 50.0 * (double)(i % k) + 0.01 * gen_normal(&s));
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.device = FKM_DEVICE_CPU; p.seed = 3;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    if (fkm_fit(&p, &m, &r) != FKM_OK) { CHECK(0, "fit: %s", fkm_last_error()); free(x); return; }
    double exact = 0;
    float *dist = malloc((size_t)n * sizeof(float));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    CHECK(fkm_predict(&p, &m, r.centroids, k, lab, dist) == FKM_OK, "predict: %s", fkm_last_error());
    double maxrel = 0;
    for (int64_t i = 0; i < n; i++) {
        double di = 0;
        for (int64_t j = 0; j < d; j++) {
            double t = (double)x[i * d + j] - r.centroids[(int64_t)r.labels[i] * d + j];
            di += t * t;
        }
        exact += di;
        maxrel = fmax(maxrel, fabs(dist[i] - di) / (di + 1e-30));
    }
    CHECK(fabs(r.inertia - exact) <= 1e-6 * exact, "inertia %.10g vs float64 %.10g (rel %.2g)", r.inertia, exact,
          fabs(r.inertia - exact) / exact);
    CHECK(maxrel <= 1e-6, "predict distances off by up to %.2g relative", maxrel);
    double sc = 0;
    CHECK(fkm_score(&p, &m, r.centroids, k, &sc) == FKM_OK && fabs(sc - exact) <= 1e-6 * exact,
          "score %.10g vs float64 %.10g", sc, exact);
    fkm_result_free(&r);
    free(x); free(dist); free(lab);
}

int main(void) {
    test_inertia_far_from_origin();
    for (int metric = 0; metric < 3; metric++) {
        test_lloyd_vs_ref(metric, 2000, 16, 10, 5, 0);
        test_lloyd_vs_ref(metric, 1537, 3, 7, 4, 1);
    }
    test_lloyd_vs_ref(0, 3000, 1, 5, 6, 0);     /* d = 1 */
    test_lloyd_vs_ref(0, 777, 100, 33, 3, 0);   /* odd sizes */
    test_lloyd_vs_ref(0, 50, 8, 1, 3, 0);       /* k = 1 */
    test_predict_score();
    return check_report();
}
