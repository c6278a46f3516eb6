/* test_init_hier.c -- the hierarchical initialisation (FKM_INIT_HIERARCHICAL) through fkm_fit:
 * k distinct centroids (k = n and duplicate rows included), the same bits for any thread count
 * and run after run, another seed another answer, k-means||'s bits below 256 centroids, weights
 * (zero-weight rows never attract a centroid), separated blobs all covered, quality against
 * k-means|| (potential right after the initialisation and inertia after Lloyd), the refusals, and
 * sparse input (CSR rows: the same properties, k-means||'s bits below 256, cosine, weights). */
#include "check.h"
#include "gen.h"
#include "rows.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

/* Centroids of init method `init` only (max_iter 0), or after up to `iters` Lloyd iterations;
 * *inertia: the fit's. */
static fkm_status fit_init(fkm_init init, int iters, int threads, const float *x, const float *w, int64_t n,
                           int64_t d, int64_t k, uint64_t seed, float *c, double *inertia) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.max_iter = iters, p.init = init, p.seed = seed, p.device = FKM_DEVICE_CPU;
    if (threads) p.threads = threads;
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    if (st == FKM_OK) {
        if (c) memcpy(c, r.centroids, (size_t)(k * d) * sizeof(float));
        if (inertia) *inertia = r.inertia;
    }
    fkm_result_free(&r);
    return st;
}

static int all_finite(const float *c, int64_t m) {
    for (int64_t i = 0; i < m; i++)
        if (!isfinite(c[i])) return 0;
    return 1;
}

static void test_determinism_and_distinct(void) {
    const int64_t n = 30000, d = 8, k = 700; /* k0 = 27 coarse clusters; S = every row (n < 64 k) */
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(21, n, d, 150, 1.0, x64, x);
    float *c1 = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 1, x, NULL, n, d, k, 5, c1, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(all_finite(c1, k * d), "finite centroids");
    CHECK(count_duplicates(c1, k, d) == 0, "k = %lld distinct centroids (%lld duplicates)", (long long)k,
          (long long)count_duplicates(c1, k, d));
    for (int t = 1; t <= 4; t++) {
        memset(c2, 0, (size_t)(k * d) * sizeof(float));
        CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, t, x, NULL, n, d, k, 5, c2, NULL) == FKM_OK, "%s", fkm_last_error());
        CHECK(!memcmp(c1, c2, (size_t)(k * d) * sizeof(float)), "1 thread vs %d threads: the same bits", t);
    }
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, n, d, k, 6, c2, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(memcmp(c1, c2, (size_t)(k * d) * sizeof(float)) != 0, "seeds 5 and 6 gave the same centroids");
    free(x), free(x64), free(c1), free(c2);
}

/* Quality: the potential right after it and the inertia after Lloyd, against k-means||; and a
 * sampled case (n > 64 k, so S is a real sample). */
static void test_quality(void) {
    const int64_t n = 120000, d = 6, k = 1024;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(31, n, d, 400, 1.5, x64, x);
    double ph = 0, pp = 0, ih = 0, ip = 0;
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, n, d, k, 1, NULL, &ph) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_init(FKM_INIT_KMEANS_PARALLEL, 0, 2, x, NULL, n, d, k, 1, NULL, &pp) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 30, 2, x, NULL, n, d, k, 1, NULL, &ih) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_init(FKM_INIT_KMEANS_PARALLEL, 30, 2, x, NULL, n, d, k, 1, NULL, &ip) == FKM_OK, "%s", fkm_last_error());
    printf("quality n=%lld d=%lld k=%lld: potential hierarchical %.6g vs k-means|| %.6g; after 30 iterations "
           "%.6g vs %.6g\n", (long long)n, (long long)d, (long long)k, ph, pp, ih, ip);
    /* the hierarchy's fine fits already ran Lloyd: its start is better than k-means||'s (which is
     * about k-means++'s); after Lloyd both are local optima of about the same cost */
    CHECK(ph < pp, "hierarchical potential %.6g below k-means||'s %.6g", ph, pp);
    CHECK(ih < 1.05 * ip, "after 30 iterations %.6g within 5%% of k-means||'s %.6g", ih, ip);
    free(x), free(x64);
}

/* Every one of 300 separated blobs gets at least one centroid (k = 600). */
static void test_blobs_covered(void) {
    const int64_t n = 30000, d = 4, k = 600, blobs = 300;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    int32_t *blob = malloc((size_t)n * sizeof(int32_t));
    float *c = malloc((size_t)(k * d) * sizeof(float));
    int64_t *hits = calloc((size_t)blobs, sizeof(int64_t));
    separated_blobs(9, n, d, blobs, x, blob);
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, n, d, k, 3, c, NULL) == FKM_OK, "%s", fkm_last_error());
    for (int64_t j = 0; j < k; j++) { /* the blob of the nearest row */
        int64_t bi = 0;
        double bd = INFINITY;
        for (int64_t i = 0; i < n; i += 7) {
            double s = 0;
            for (int64_t q = 0; q < d; q++) s += ((double)x[i * d + q] - c[j * d + q]) * ((double)x[i * d + q] - c[j * d + q]);
            if (s < bd) bd = s, bi = i;
        }
        hits[blob[bi]]++;
    }
    int64_t missed = 0;
    for (int64_t b = 0; b < blobs; b++) missed += hits[b] == 0;
    CHECK(missed == 0, "%lld of %lld separated blobs without a centroid", (long long)missed, (long long)blobs);
    free(x), free(blob), free(c), free(hits);
}

/* k = n (every row a centroid), duplicate rows (fewer distinct rows than k: no failure), and
 * below 256 centroids exactly k-means||. */
static void test_edges(void) {
    const int64_t d = 3;
    float *x = malloc((size_t)(4000 * d) * sizeof(float)), *c = malloc((size_t)(4000 * d) * sizeof(float));
    float *c2 = malloc((size_t)(4000 * d) * sizeof(float));
    uint64_t s = 17;
    for (int64_t i = 0; i < 4000 * d; i++) x[i] = (float)gen_normal(&s);
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, 300, d, 300, 1, c, NULL) == FKM_OK, "k = n: %s", fkm_last_error());
    CHECK(count_duplicates(c, 300, d) == 0, "k = n = 300: distinct centroids");
    int64_t rows = 0;
    for (int64_t j = 0; j < 300; j++) rows += find_row(x, 300, d, c + j * d) >= 0;
    CHECK(rows == 300, "k = n: every centroid is a data row (%lld of 300)", (long long)rows);
    for (int64_t i = 1000; i < 4000; i++) memcpy(x + i * d, x + (i % 1000) * d, (size_t)d * sizeof(float));
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 5, 2, x, NULL, 4000, d, 1500, 2, c, NULL) == FKM_OK,
          "1000 distinct rows, k = 1500: %s", fkm_last_error());
    CHECK(all_finite(c, 1500 * d), "duplicates: finite centroids");
    for (int64_t k = 1; k < 256; k += 127) {
        CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, 4000, d, k, 4, c, NULL) == FKM_OK, "%s", fkm_last_error());
        CHECK(fit_init(FKM_INIT_KMEANS_PARALLEL, 0, 2, x, NULL, 4000, d, k, 4, c2, NULL) == FKM_OK, "%s", fkm_last_error());
        CHECK(!memcmp(c, c2, (size_t)(k * d) * sizeof(float)), "k = %lld < 256: k-means||'s bits", (long long)k);
    }
    free(x), free(c), free(c2);
}

/* Zero-weight rows far away never attract a centroid; the weighted init is deterministic too. */
static void test_weights(void) {
    const int64_t n = 20000, d = 4, k = 400;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    float *c = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
    uint64_t s = 23;
    for (int64_t i = 0; i < n; i++) {
        const int far = i % 10 == 3; /* a tenth of the rows, weight 0, a million away */
        w[i] = far ? 0.0f : (float)(0.5 + gen_unif(&s));
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (float)(gen_normal(&s) + (far ? 1e6 : 0.0));
    }
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 1, x, w, n, d, k, 8, c, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 3, x, w, n, d, k, 8, c2, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(!memcmp(c, c2, (size_t)(k * d) * sizeof(float)), "weighted: 1 vs 3 threads, the same bits");
    int64_t near_far = 0;
    for (int64_t j = 0; j < k; j++) near_far += fabs(c[j * d]) > 1e5;
    CHECK(near_far == 0, "%lld centroids among the zero-weight rows", (long long)near_far);
    CHECK(count_duplicates(c, k, d) == 0, "weighted: distinct centroids");
    /* 12 heavy rows far off carry most of the weight: their coarse cluster's share of k is far
     * above its 12 rows, so it gets exactly its rows (the cap) and the rest goes elsewhere */
    for (int64_t i = 0; i < 12; i++) {
        w[i * 10 + 5] = 5000.0f;
        for (int64_t j = 0; j < d; j++) x[(i * 10 + 5) * d + j] = (float)(-1e4 + 3.0 * (double)i + j);
    }
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, w, n, d, k, 8, c, NULL) == FKM_OK, "heavy rows: %s", fkm_last_error());
    int64_t heavy = 0, rows = 0;
    for (int64_t j = 0; j < k; j++)
        if (c[j * d] < -5e3) heavy++, rows += find_row(x, n, d, c + j * d) >= 0;
    CHECK(heavy == 12 && rows == 12, "heavy rows: %lld centroids there (%lld of them rows), want their 12 rows",
          (long long)heavy, (long long)rows);
    CHECK(count_duplicates(c, k, d) == 0, "heavy rows: distinct centroids");
    free(x), free(w), free(c), free(c2);
}

static void test_refusals(void) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = 2, p.init = FKM_INIT_HIERARCHICAL;
    CHECK(fkm_params_validate(&p, 10, 2) == FKM_OK, "hierarchical accepted by validate");
    p.init = (fkm_init)(FKM_INIT_AUTO + 1);
    CHECK(fkm_params_validate(&p, 10, 2) == FKM_ERR_INVALID_ARG, "the next value refused");
}

/* ---- sparse input (fkm_fit_csr): the same hierarchy on CSR rows, never made dense */

typedef struct {
    int64_t *indptr;
    int32_t *indices;
    float *data;
    fkm_csr m;
} csr_buf;

/* x's entries with |v| >= drop as a CSR matrix; x itself keeps the dropped ones as zeros, so both
 * hold the same data. */
static void csr_of(float *x, int64_t n, int64_t d, float drop, const float *w, csr_buf *b) {
    b->indptr = malloc((size_t)(n + 1) * sizeof(int64_t));
    b->indices = malloc((size_t)(n * d) * sizeof(int32_t));
    b->data = malloc((size_t)(n * d) * sizeof(float));
    int64_t q = 0;
    b->indptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) {
            if (fabsf(x[i * d + j]) < drop) { x[i * d + j] = 0.0f; continue; }
            b->indices[q] = (int32_t)j, b->data[q] = x[i * d + j], q++;
        }
        b->indptr[i + 1] = q;
    }
    b->m = (fkm_csr){n, d, b->indptr, b->indices, b->data, w};
}
static void csr_drop(csr_buf *b) { free(b->indptr), free(b->indices), free(b->data); }

static fkm_status fit_csr_init(fkm_init init, int threads, const csr_buf *b, int64_t k, uint64_t seed,
                               fkm_metric metric, float *c, double *inertia) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.max_iter = 0, p.init = init, p.seed = seed, p.device = FKM_DEVICE_CPU, p.metric = metric;
    if (threads) p.threads = threads;
    fkm_result r;
    fkm_status st = fkm_fit_csr(&p, &b->m, &r);
    if (st == FKM_OK) {
        if (c) memcpy(c, r.centroids, (size_t)(k * b->m.d) * sizeof(float));
        if (inertia) *inertia = r.inertia;
    }
    fkm_result_free(&r);
    return st;
}

static void test_sparse(void) {
    const int64_t n = 30000, d = 16, k = 700;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(41, n, d, 150, 1.0, x64, x);
    csr_buf b;
    csr_of(x, n, d, 1.5f, NULL, &b);
    printf("sparse: n=%lld d=%lld, %lld entries (%.0f%% of the dense)\n", (long long)n, (long long)d,
           (long long)b.indptr[n], 100.0 * (double)b.indptr[n] / (double)(n * d));
    float *c1 = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
    double hs = 0, ps = 0, hd = 0;
    CHECK(fit_csr_init(FKM_INIT_HIERARCHICAL, 1, &b, k, 5, FKM_METRIC_L2, c1, &hs) == FKM_OK, "sparse: %s",
          fkm_last_error());
    CHECK(all_finite(c1, k * d) && count_duplicates(c1, k, d) == 0, "sparse: k = %lld finite, distinct centroids",
          (long long)k);
    for (int t = 2; t <= 4; t += 2) {
        memset(c2, 0, (size_t)(k * d) * sizeof(float));
        CHECK(fit_csr_init(FKM_INIT_HIERARCHICAL, t, &b, k, 5, FKM_METRIC_L2, c2, NULL) == FKM_OK, "%s", fkm_last_error());
        CHECK(!memcmp(c1, c2, (size_t)(k * d) * sizeof(float)), "sparse: 1 thread vs %d threads, the same bits", t);
    }
    /* quality: below sparse k-means||'s potential (the fine fits ran Lloyd), and about the dense
     * hierarchy's on the same data (other engines, so other bits) */
    CHECK(fit_csr_init(FKM_INIT_KMEANS_PARALLEL, 2, &b, k, 5, FKM_METRIC_L2, NULL, &ps) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_init(FKM_INIT_HIERARCHICAL, 0, 2, x, NULL, n, d, k, 5, NULL, &hd) == FKM_OK, "%s", fkm_last_error());
    printf("sparse: potential hierarchical %.6g, k-means|| %.6g; dense hierarchical %.6g\n", hs, ps, hd);
    CHECK(hs < ps, "sparse: hierarchical potential %.6g below k-means||'s %.6g", hs, ps);
    CHECK(fabs(hs - hd) <= 0.05 * hd, "sparse: potential %.6g within 5%% of the dense hierarchy's %.6g", hs, hd);
    /* k < 256: sparse k-means||, bit for bit */
    CHECK(fit_csr_init(FKM_INIT_HIERARCHICAL, 2, &b, 100, 7, FKM_METRIC_L2, c1, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(fit_csr_init(FKM_INIT_KMEANS_PARALLEL, 2, &b, 100, 7, FKM_METRIC_L2, c2, NULL) == FKM_OK, "%s", fkm_last_error());
    CHECK(!memcmp(c1, c2, (size_t)(100 * d) * sizeof(float)), "sparse, k = 100 < 256: k-means||'s bits");
    /* cosine: unit centroids */
    CHECK(fit_csr_init(FKM_INIT_HIERARCHICAL, 2, &b, k, 3, FKM_METRIC_COSINE, c1, NULL) == FKM_OK, "cosine: %s",
          fkm_last_error());
    double worst = 0;
    for (int64_t c = 0; c < k; c++) {
        double nn = 0;
        for (int64_t j = 0; j < d; j++) nn += (double)c1[c * d + j] * c1[c * d + j];
        worst = fmax(worst, fabs(sqrt(nn) - 1.0));
    }
    CHECK(worst < 1e-5 && count_duplicates(c1, k, d) == 0, "sparse cosine: distinct unit centroids (|c| off by %.3g)",
          worst);
    csr_drop(&b);
    /* weights: no centroid among far zero-weight rows (as the dense test) */
    float *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        w[i] = i % 10 == 0 ? 0.0f : 1.0f;
        if (i % 10 == 0)
            for (int64_t j = 0; j < d; j++) x[i * d + j] = 1000.0f + (float)j;
    }
    csr_of(x, n, d, 1.5f, w, &b);
    CHECK(fit_csr_init(FKM_INIT_HIERARCHICAL, 2, &b, k, 8, FKM_METRIC_L2, c1, NULL) == FKM_OK, "weighted: %s",
          fkm_last_error());
    int64_t far = 0;
    for (int64_t c = 0; c < k; c++) far += c1[c * d] > 500.0f;
    CHECK(far == 0, "sparse weighted: %lld centroids among the zero-weight rows", (long long)far);
    csr_drop(&b);
    free(w), free(x), free(x64), free(c1), free(c2);
}

int main(void) {
    test_refusals();
    test_sparse();
    test_edges();
    test_weights();
    test_determinism_and_distinct();
    test_blobs_covered();
    test_quality();
    return check_report();
}
