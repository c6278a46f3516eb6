/* test_init_par.c -- k-means|| initialisation (FKM_INIT_KMEANS_PARALLEL) through fkm_fit:
 * determinism across runs and thread counts, centroids are distinct data rows, every
 * well-separated blob gets a centroid, k = 1, k = n, duplicate rows, weights, and a fit from it
 * as good as one from k-means++. */
#include "check.h"
#include "gen.h"
#include "rows.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

/* Initial centroids only on the CPU. c: k x d. */
static fkm_status init_only(const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                            int threads, fkm_metric metric, float *c) {
    return par_centroids(FKM_DEVICE_CPU, FKM_PREC_EXACT, threads, metric, x, w, n, d, k, seed, c, NULL);
}

static void test_determinism(void) {
    const int64_t n = 4000, d = 16, k = 60;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(11, n, d, 25, 1.0, x64, x);
    float *w = malloc((size_t)n * sizeof(float));
    uint64_t s = 3;
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.25 + 2.0 * gen_unif(&s));
    float *c1 = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
    for (int weighted = 0; weighted < 2; weighted++)
        for (int metric = 0; metric < 3; metric++) {
            const float *ww = weighted ? w : NULL;
            CHECK(init_only(x, ww, n, d, k, 7, 1, (fkm_metric)metric, c1) == FKM_OK, "%s", fkm_last_error());
            for (int t = 1; t <= 3; t++) {
                memset(c2, 0, (size_t)(k * d) * sizeof(float));
                CHECK(init_only(x, ww, n, d, k, 7, t, (fkm_metric)metric, c2) == FKM_OK, "%s", fkm_last_error());
                CHECK(!memcmp(c1, c2, (size_t)(k * d) * sizeof(float)),
                      "metric %d weighted %d: 1 thread vs %d threads differ", metric, weighted, t);
            }
            CHECK(count_duplicates(c1, k, d) == 0, "metric %d: duplicate centroids", metric);
            if (metric != FKM_METRIC_COSINE) /* cosine centroids are the normalised rows */
                for (int64_t j = 0; j < k; j++)
                    CHECK(find_row(x, n, d, c1 + j * d) >= 0, "metric %d: centroid %lld is not a data row", metric,
                          (long long)j);
            /* another seed gives another choice */
            CHECK(init_only(x, ww, n, d, k, 8, 2, (fkm_metric)metric, c2) == FKM_OK, "%s", fkm_last_error());
            CHECK(memcmp(c1, c2, (size_t)(k * d) * sizeof(float)) != 0, "seeds 7 and 8 gave the same centroids");
        }
    free(x); free(x64); free(w); free(c1); free(c2);
}

static void test_blobs_covered(void) {
    const int64_t n = 6000, d = 8, k = 40;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    int32_t *blob = malloc((size_t)n * sizeof(int32_t));
    float *c = malloc((size_t)(k * d) * sizeof(float));
    int64_t *hits = malloc((size_t)k * sizeof(int64_t));
    separated_blobs(5, n, d, k, x, blob);
    for (uint64_t seed = 0; seed < 10; seed++) {
        CHECK(init_only(x, NULL, n, d, k, seed, 2, FKM_METRIC_L2, c) == FKM_OK, "%s", fkm_last_error());
        memset(hits, 0, (size_t)k * sizeof(int64_t));
        for (int64_t j = 0; j < k; j++) {
            const int64_t i = find_row(x, n, d, c + j * d);
            CHECK(i >= 0, "seed %llu: centroid %lld is not a data row", (unsigned long long)seed, (long long)j);
            if (i >= 0) hits[blob[i]]++;
        }
        int64_t missed = 0;
        for (int64_t b = 0; b < k; b++) missed += hits[b] != 1;
        CHECK(missed == 0, "seed %llu: %lld blobs without exactly one centroid", (unsigned long long)seed,
              (long long)missed);
    }
    free(x); free(blob); free(c); free(hits);
}

static void test_k1_kn(void) {
    const int64_t n = 500, d = 5;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(21, n, d, 4, 1.0, x64, x);
    float *c = malloc((size_t)(n * d) * sizeof(float));
    CHECK(init_only(x, NULL, n, d, 1, 0, 2, FKM_METRIC_L2, c) == FKM_OK, "k=1: %s", fkm_last_error());
    CHECK(find_row(x, n, d, c) >= 0, "k=1: not a data row");
    /* k = n: every row exactly once */
    CHECK(init_only(x, NULL, n, d, n, 0, 2, FKM_METRIC_L2, c) == FKM_OK, "k=n: %s", fkm_last_error());
    CHECK(count_duplicates(c, n, d) == 0, "k=n: duplicates");
    int64_t missing = 0;
    for (int64_t i = 0; i < n; i++) missing += find_row(c, n, d, x + i * d) < 0;
    CHECK(missing == 0, "k=n: %lld rows are not centroids", (long long)missing);
    /* n = 1, and d = 1 */
    CHECK(init_only(x, NULL, 1, d, 1, 0, 1, FKM_METRIC_L2, c) == FKM_OK && !memcmp(c, x, (size_t)d * sizeof(float)),
          "n=1: %s", fkm_last_error());
    CHECK(init_only(x, NULL, n * d, 1, 30, 4, 2, FKM_METRIC_L2, c) == FKM_OK, "d=1: %s", fkm_last_error());
    CHECK(count_duplicates(c, 30, 1) == 0, "d=1: duplicates");
    free(x); free(x64); free(c);
}

/* 300 rows that are copies of 7 distinct ones (also +0 / -0 alike). */
static void test_duplicate_rows(void) {
    const int64_t n = 300, d = 3, distinct = 7;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            const int64_t v = (i * 5) % distinct;
            x[i * d + j] = j == 2 ? (v == 0 && i % 2 ? -0.0f : 0.0f) : (float)(v * (j + 1));
        }
    float *c = malloc((size_t)(12 * d) * sizeof(float));
    for (int64_t k = 1; k <= 12; k++)
        for (int t = 1; t <= 2; t++) {
            CHECK(init_only(x, NULL, n, d, k, 3, t, FKM_METRIC_L2, c) == FKM_OK, "k=%lld: %s", (long long)k,
                  fkm_last_error());
            const int64_t dups = count_duplicates(c, k, d);
            /* documented: distinct while possible; beyond 7 centroids the rows repeat */
            CHECK(dups == (k > distinct ? k - distinct : 0), "k=%lld: %lld duplicates", (long long)k, (long long)dups);
            for (int64_t j = 0; j < k; j++) CHECK(find_row(x, n, d, c + j * d) >= 0, "k=%lld: not a data row", (long long)k);
        }
    /* a whole fit on such data runs (duplicate centroids start empty) */
    fkm_params p;
    fkm_params_default(&p);
    p.k = 10;
    p.init = FKM_INIT_KMEANS_PARALLEL;
    p.device = FKM_DEVICE_CPU;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK && isfinite(r.inertia), "fit: %s", fkm_last_error());
    fkm_result_free(&r);
    free(x); free(c);
}

static void test_weights(void) {
    const int64_t n = 2000, d = 4;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(31, n, d, 6, 1.0, x64, x);
    float *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        w[i] = i % 3 == 0 ? 1.0f : 0.0f;
        if (i % 3) x[i * d] += 1000.0f; /* zero-weight rows far away: plain D^2 would favour them */
    }
    float *c = malloc((size_t)(n * d) * sizeof(float));
    const int64_t ks[] = {1, 5, 50, 400, 667};
    for (int q = 0; q < 5; q++) {
        const int64_t k = ks[q];
        CHECK(init_only(x, w, n, d, k, 9, 2, FKM_METRIC_L2, c) == FKM_OK, "%s", fkm_last_error());
        int64_t zero = 0;
        for (int64_t j = 0; j < k; j++) {
            const int64_t i = find_row(x, n, d, c + j * d);
            CHECK(i >= 0, "k=%lld: not a data row", (long long)k);
            zero += i >= 0 && w[i] == 0;
        }
        CHECK(zero == 0, "k=%lld: %lld zero-weight rows chosen", (long long)k, (long long)zero);
        CHECK(count_duplicates(c, k, d) == 0, "k=%lld: duplicates", (long long)k);
    }
    /* more centroids than weighted rows (667): documented fill with zero-weight rows, distinct */
    const int64_t k = 700;
    CHECK(init_only(x, w, n, d, k, 9, 2, FKM_METRIC_L2, c) == FKM_OK, "%s", fkm_last_error());
    int64_t zero = 0;
    for (int64_t j = 0; j < k; j++) {
        const int64_t i = find_row(x, n, d, c + j * d);
        zero += i >= 0 && w[i] == 0;
    }
    CHECK(zero == k - 667, "k=700: %lld zero-weight rows (want 33)", (long long)zero);
    CHECK(count_duplicates(c, k, d) == 0, "k=700: duplicates");
    free(x); free(x64); free(w); free(c);
}

/* Final inertia of a fit from k-means|| within a few % of one from k-means++ (mean of 5 seeds). */
static void test_fit_quality(void) {
    const int64_t n = 8000, d = 16, k = 32;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(41, n, d, 32, 1.0, x64, x);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    double sum[2] = {0, 0}, init_sum[2] = {0, 0};
    for (int method = 0; method < 2; method++)
        for (uint64_t seed = 0; seed < 5; seed++) {
            fkm_params p;
            fkm_params_default(&p);
            p.k = k;
            p.seed = seed;
            p.device = FKM_DEVICE_CPU;
            p.init = method ? FKM_INIT_KMEANS_PARALLEL : FKM_INIT_KMEANSPP;
            fkm_result r;
            CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "%s", fkm_last_error());
            sum[method] += r.inertia;
            fkm_result_free(&r);
            p.max_iter = 0;
            CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "%s", fkm_last_error());
            init_sum[method] += r.inertia;
            fkm_result_free(&r);
        }
    printf("mean inertia over 5 seeds: k-means++ init %.6g final %.6g; k-means|| init %.6g final %.6g\n",
           init_sum[0] / 5, sum[0] / 5, init_sum[1] / 5, sum[1] / 5);
    CHECK(sum[1] <= 1.03 * sum[0], "k-means|| final inertia %.6g vs k-means++ %.6g", sum[1] / 5, sum[0] / 5);
    CHECK(init_sum[1] <= 1.25 * init_sum[0], "k-means|| initial inertia %.6g vs k-means++ %.6g", init_sum[1] / 5,
          init_sum[0] / 5);
    free(x); free(x64);
}

/* The fill counts distinct rows (hidden_levels, rows.h) and candidates weigh what their rows
 * weigh (two_masses): the same checks as test_cuda_par on the host version. */
static void test_fill_and_mass(void) {
    float x[4000], w[2000], c[16];
    hidden_levels(x);
    for (uint64_t seed = 0; seed < 5; seed++) {
        CHECK(init_only(x, NULL, 800, 2, 8, seed, 2, FKM_METRIC_L2, c) == FKM_OK, "%s", fkm_last_error());
        CHECK(count_duplicates(c, 8, 2) == 0, "hidden levels seed %llu: duplicates", (unsigned long long)seed);
    }
    two_masses(3, x, w);
    int in_b = 0;
    for (uint64_t seed = 0; seed < 20; seed++) {
        CHECK(init_only(x, w, 2000, 2, 1, seed, 2, FKM_METRIC_L2, c) == FKM_OK, "%s", fkm_last_error());
        in_b += c[0] > 50.0f;
    }
    CHECK(in_b <= 2, "two masses: %d of 20 centroids in the light blob", in_b);
}

static void test_params(void) {
    fkm_params p;
    fkm_params_default(&p);
    p.init = FKM_INIT_KMEANS_PARALLEL;
    CHECK(fkm_params_validate(&p, 100, 3) == FKM_OK, "%s", fkm_last_error());
    p.init = (fkm_init)(FKM_INIT_AUTO + 1); /* the first value past the last method */
    CHECK(fkm_params_validate(&p, 100, 3) == FKM_ERR_INVALID_ARG, "unknown init accepted");
    p.init = FKM_INIT_KMEANS_PARALLEL;
    p.freeze_init = 1;
    CHECK(fkm_params_validate(&p, 100, 3) == FKM_ERR_INVALID_ARG, "freeze_init with k-means|| accepted");
}

int main(void) {
    test_params();
    test_determinism();
    test_blobs_covered();
    test_k1_kn();
    test_duplicate_rows();
    test_weights();
    test_fit_quality();
    test_fill_and_mass();
    return check_report();
}
