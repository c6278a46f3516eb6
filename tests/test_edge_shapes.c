/* test_edge_shapes.c -- edge cases of the data's shape and content through the public API on the
 * CPU engine: k=1, k=n, d=1, duplicate points, constant data, empty clusters (both policies,
 * including clusters that hold only zero-weight points), sample weights, denormals. Compared with
 * the float64 oracle (tests/ref) wherever an oracle answer exists. */
#include "test_edge_common.h"

static float *blobs32(uint64_t seed, int64_t n, int64_t d, int64_t b, double spread) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(seed, n, d, b, spread, x64, x);
    free(x64);
    return x;
}

static float *rows_of(const float *x, int64_t d, int64_t k, int64_t stride, int64_t n) {
    float *c = malloc((size_t)(k * d) * sizeof(float));
    for (int64_t i = 0; i < k; i++) memcpy(c + i * d, x + ((i * stride) % n) * d, (size_t)d * sizeof(float));
    return c;
}

static void test_k1(void) {
    const int64_t n = 513, d = 7;
    float *x = blobs32(11, n, d, 3, 1.5);
    float *c0 = rows_of(x, d, 1, 1, n);
    for (int metric = 0; metric < 3; metric++) edge_vs_oracle("k=1", x, NULL, n, d, c0, 1, metric, 3);
    /* k-means++ + shift rule: the mean after one step, converged (shift 0) on the second. */
    fkm_params p = edge_params(1);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "k=1 fit: %s", fkm_last_error());
    double maxerr = 0;
    for (int64_t j = 0; j < d; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += x[i * d + j];
        maxerr = fmax(maxerr, fabs(s / n - r.centroids[j]));
    }
    CHECK(maxerr < 1e-6, "k=1 centroid is not the mean (off by %g)", maxerr);
    CHECK(r.iterations == 2 && r.stop_reason == FKM_STOPPED_CONVERGED, "k=1: %d iterations, reason %d",
          r.iterations, (int)r.stop_reason);
    int all0 = 1;
    for (int64_t i = 0; i < n; i++) all0 &= r.labels[i] == 0;
    CHECK(all0, "k=1: a label is not 0");
    fkm_result_free(&r);
    free(x); free(c0);
}

static void test_k_equals_n(void) {
    /* Integer data: every fp32 operation is exact, so each point's own centroid is at 0 exactly. */
    const int64_t n = 40, d = 5;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = 3;
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(gen_next(&s) % 64);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int init = 0; init < 2; init++) {
        fkm_params p = edge_params(n);
        p.init = (fkm_init)init;
        fkm_result r;
        CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "k=n fit: %s", fkm_last_error());
        CHECK(r.inertia == 0.0, "k=n init %d: inertia %g, expected 0", init, r.inertia);
        /* every point is its own centroid: labels are a permutation */
        int *seen = calloc((size_t)n, sizeof(int)), perm = 1;
        for (int64_t i = 0; i < n; i++) perm &= !seen[r.labels[i]]++;
        CHECK(perm, "k=n init %d: two points share a cluster", init);
        for (int64_t i = 0; i < n; i++)
            CHECK(memcmp(r.centroids + (int64_t)r.labels[i] * d, x + i * d, (size_t)d * sizeof(float)) == 0,
                  "k=n: centroid of point %lld is not the point", (long long)i);
        CHECK(edge_sane(&r, 0), "k=n: result not sane");
        free(seen);
        fkm_result_free(&r);
    }
    /* Gaussian data, k = n, oracle from a permutation of the points. */
    const int64_t n2 = 64, d2 = 9;
    float *g = blobs32(5, n2, d2, 4, 1.0), *c0 = rows_of(g, d2, n2, 13, n2);
    for (int metric = 0; metric < 3; metric++) edge_vs_oracle("k=n", g, NULL, n2, d2, c0, n2, metric, 2);
    free(x); free(g); free(c0);
}

static void test_d1(void) {
    const int64_t n = 1000;
    float *x = blobs32(17, n, 1, 6, 0.7);
    for (int64_t k = 2; k <= 9; k += 7) {
        float *c0 = rows_of(x, 1, k, 101, n);
        edge_vs_oracle("d=1", x, NULL, n, 1, c0, k, 0, 5);
        free(c0);
        /* In one dimension every cluster is an interval: sorting points sorts their centroids. */
        fkm_params p = edge_params(k);
        p.seed = 9;
        fkm_matrix m = {x, FKM_F32, n, 1, NULL};
        fkm_result r;
        CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "d=1 fit: %s", fkm_last_error());
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j += 37)
                if (x[i] < x[j] && r.centroids[r.labels[i]] > r.centroids[r.labels[j]]) bad++;
        CHECK(bad == 0, "d=1 k=%lld: %lld pairs out of interval order", (long long)k, (long long)bad);
        fkm_result_free(&r);
    }
    free(x);
}

static void test_duplicates(void) {
    /* 3 copies of 100 distinct points vs the 100 points with weight 3. */
    const int64_t u = 100, d = 6, k = 7;
    float *base = blobs32(23, u, d, 5, 1.0);
    float *x = malloc((size_t)(3 * u * d) * sizeof(float)), *w = malloc((size_t)u * sizeof(float));
    for (int rep = 0; rep < 3; rep++) memcpy(x + rep * u * d, base, (size_t)(u * d) * sizeof(float));
    for (int64_t i = 0; i < u; i++) w[i] = 3.0f;
    float *c0 = rows_of(base, d, k, 11, u);
    edge_vs_oracle("duplicates", x, NULL, 3 * u, d, c0, k, 0, 6);
    fkm_params p = edge_params(k);
    p.init = FKM_INIT_ARRAY; p.init_centroids = c0; p.stop = FKM_STOP_FIXED; p.max_iter = 6;
    fkm_matrix m3 = {x, FKM_F32, 3 * u, d, NULL}, mw = {base, FKM_F32, u, d, w};
    fkm_result r3, rw;
    CHECK(fkm_fit(&p, &m3, &r3) == FKM_OK, "dup fit: %s", fkm_last_error());
    CHECK(fkm_fit(&p, &mw, &rw) == FKM_OK, "weighted fit: %s", fkm_last_error());
    int same_lab = 1;
    for (int64_t i = 0; i < 3 * u; i++) same_lab &= r3.labels[i] == rw.labels[i % u];
    CHECK(same_lab, "copies and weight 3 give different labels");
    double maxerr = 0;
    for (int64_t i = 0; i < k * d; i++) maxerr = fmax(maxerr, fabs(r3.centroids[i] - rw.centroids[i]));
    CHECK(maxerr < 1e-5, "copies vs weight 3: centroids differ by %g", maxerr);
    CHECK(fabs(r3.inertia - rw.inertia) <= 1e-6 * r3.inertia, "copies vs weight 3: inertia %.10g vs %.10g",
          r3.inertia, rw.inertia);
    /* k-means++ over duplicated data: the chosen centres are data points, results sane. */
    fkm_params q = edge_params(k);
    fkm_result rp;
    CHECK(fkm_fit(&q, &m3, &rp) == FKM_OK && edge_sane(&rp, 0), "dup k-means++ fit: %s", fkm_last_error());
    fkm_result_free(&r3); fkm_result_free(&rw); fkm_result_free(&rp);
    free(base); free(x); free(w); free(c0);
}

static void test_constant(void) {
    const int64_t n = 50, d = 4;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    for (int64_t i = 0; i < n * d; i++) x[i] = 3.25f - (float)(i % d);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int metric = 0; metric < 3; metric++)
        for (int stop = 0; stop < 4; stop++)
            for (int pol = 0; pol < 2; pol++) {
                fkm_params p = edge_params(5);
                p.metric = (fkm_metric)metric; p.stop = (fkm_stop_rule)stop; p.empty = (fkm_empty_policy)pol;
                p.max_iter = 6;
                fkm_result r;
                fkm_status st = fkm_fit(&p, &m, &r);
                CHECK(st == FKM_OK, "constant data metric %d stop %d: %s", metric, stop, fkm_last_error());
                if (st != FKM_OK) continue;
                CHECK(edge_sane(&r, metric), "constant data metric %d stop %d pol %d: NaN or negative inertia %g",
                      metric, stop, pol, r.inertia);
                if (metric == 0) CHECK(r.inertia == 0.0, "constant data: inertia %g", r.inertia);
                if (metric == 1) CHECK(r.inertia <= 1e-5 * n, "constant cosine data: inertia %g", r.inertia);
                int all0 = 1;
                for (int64_t i = 0; i < n; i++) all0 &= r.labels[i] == 0; /* identical centroids: lowest index */
                CHECK(all0, "constant data metric %d: labels not all 0", metric);
                CHECK(r.stats[0].empty == 4, "constant data: %lld empty clusters in iteration 0, expected 4",
                      (long long)r.stats[0].empty);
                /* shift: 0 at once, except that cosine re-normalises the mean of unit rows, which
                 * may move it by an ulp in the first iteration */
                const int want = stop == FKM_STOP_FIXED ? 6 : stop == FKM_STOP_SHIFT ? 1 : 2;
                CHECK(r.iterations == want || (metric == 1 && stop == FKM_STOP_SHIFT && r.iterations == 2),
                      "constant data metric %d stop %d: %d iterations, expected %d", metric, stop, r.iterations, want);
                fkm_result_free(&r);
            }
    free(x);
}

/* Three outliers at norm 10 (indices 30, 3, 8: two exact ties), the rest a blob near 0; centroids
 * 1..3 far from everything, so iteration 0 puts every point in cluster 0. */
static void empty_setup(float *x, int64_t n, float *c0) {
    float *b = blobs32(29, n, 3, 1, 0.5);
    for (int64_t i = 0; i < n * 3; i++) x[i] = b[i] * 0.1f;
    free(b);
    const float out[3][3] = {{0, 10, 0}, {10, 0, 0}, {0, 0, -10}};
    const int64_t at[3] = {3, 8, 30};
    for (int t = 0; t < 3; t++) memcpy(x + at[t] * 3, out[t], sizeof out[t]);
    const float far[4][3] = {{0, 0, 0}, {1000, 0, 0}, {0, 1000, 0}, {1000, 1000, 1000}};
    memcpy(c0, far, sizeof far);
}

static void test_empty_clusters(void) {
    const int64_t n = 200, d = 3, k = 4;
    float x[200 * 3], c0[4 * 3];
    empty_setup(x, n, c0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    p.init = FKM_INIT_ARRAY; p.init_centroids = c0; p.stop = FKM_STOP_FIXED; p.max_iter = 1;
    fkm_result r, r2;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "empty fit: %s", fkm_last_error());
    CHECK(r.stats[0].empty == 3, "farthest: %lld empty clusters counted, expected 3", (long long)r.stats[0].empty);
    /* Farthest points in index order on the exact tie (norm 10 for all three): 3, 8, 30. */
    CHECK(memcmp(r.centroids + 3, x + 3 * 3, 12) == 0, "cluster 1 did not take point 3");
    CHECK(memcmp(r.centroids + 6, x + 8 * 3, 12) == 0, "cluster 2 did not take point 8");
    CHECK(memcmp(r.centroids + 9, x + 30 * 3, 12) == 0, "cluster 3 did not take point 30");
    CHECK(r.labels[3] == 1 && r.labels[8] == 2 && r.labels[30] == 3, "outliers not in their new clusters");
    CHECK(edge_sane(&r, 0), "farthest: result not sane");
    p.threads = 1;
    CHECK(fkm_fit(&p, &m, &r2) == FKM_OK && edge_same_result(&r, &r2), "farthest: not deterministic over threads");
    fkm_result_free(&r2);
    /* A second iteration has no empty cluster. */
    p.max_iter = 3;
    CHECK(fkm_fit(&p, &m, &r2) == FKM_OK, "farthest 3 iters: %s", fkm_last_error());
    CHECK(r2.stats[1].empty == 0 && r2.stats[2].empty == 0, "farthest: still empty after relocation");
    fkm_result_free(&r2);
    /* KEEP: the far centroids stay exactly where they were; never NaN. */
    p.empty = FKM_EMPTY_KEEP;
    CHECK(fkm_fit(&p, &m, &r2) == FKM_OK, "keep fit: %s", fkm_last_error());
    CHECK(memcmp(r2.centroids + 3, c0 + 3, 9 * sizeof(float)) == 0, "keep: empty centroids moved");
    for (int it = 0; it < r2.iterations; it++)
        CHECK(r2.stats[it].empty == 3, "keep: iteration %d counted %lld empty", it, (long long)r2.stats[it].empty);
    CHECK(edge_sane(&r2, 0), "keep: result not sane");
    fkm_result_free(&r);
    fkm_result_free(&r2);
}

/* A cluster that holds only zero-weight points is empty (docs/algorithm.md). */
static void test_zero_weight_cluster(void) {
    const int64_t n = 110, d = 3;
    float *x = blobs32(31, n, d, 1, 1.0), w[110], c0[2 * 3] = {0, 0, 0, 100, 100, 100};
    for (int64_t i = 0; i < n; i++) w[i] = 1.0f;
    for (int64_t i = 100; i < n; i++) { /* far points with weight 0 */
        x[i * d] = x[i * d + 1] = x[i * d + 2] = 100.0f + (float)(i - 100);
        w[i] = 0.0f;
    }
    fkm_matrix m = {x, FKM_F32, n, d, w};
    for (int pol = 0; pol < 2; pol++) {
        fkm_params p = edge_params(2);
        p.init = FKM_INIT_ARRAY; p.init_centroids = c0; p.stop = FKM_STOP_FIXED; p.max_iter = 2;
        p.empty = (fkm_empty_policy)pol;
        fkm_result r;
        CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "zero-weight cluster fit: %s", fkm_last_error());
        CHECK(r.stats[0].empty == 1, "policy %d: zero-weight-only cluster not counted empty (%lld)", pol,
              (long long)r.stats[0].empty);
        CHECK(edge_sane(&r, 0), "policy %d: result not sane", pol);
        if (pol == FKM_EMPTY_KEEP)
            CHECK(memcmp(r.centroids + 3, c0 + 3, 12) == 0, "keep: zero-weight cluster moved");
        else /* the farthest weighted point became centroid 1 */
            CHECK(r.centroids[3] < 50.0f, "farthest: cluster 1 was not refilled with a weighted point");
        fkm_result_free(&r);
    }
    free(x);
}

static void test_weights(void) {
    const int64_t n = 900, d = 5, k = 6;
    float *x = blobs32(37, n, d, 6, 1.0), *w = malloc((size_t)n * sizeof(float));
    uint64_t s = 41;
    for (int64_t i = 0; i < n; i++) w[i] = (i % 7 == 0) ? 0.0f : (float)(0.25 + 2 * gen_unif(&s));
    float *c0 = rows_of(x, d, k, 97, n);
    for (int metric = 0; metric < 3; metric++) edge_vs_oracle("weights", x, w, n, d, c0, k, metric, 4);
    /* Zero-weight points still get labels; they do not count in the inertia. */
    fkm_params p = edge_params(k);
    p.init = FKM_INIT_ARRAY; p.init_centroids = c0;
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "weighted fit: %s", fkm_last_error());
    double sc = 0, sc_unw = 0;
    fkm_matrix mu = {x, FKM_F32, n, d, NULL};
    CHECK(fkm_score(&p, &m, r.centroids, k, &sc) == FKM_OK, "score: %s", fkm_last_error());
    CHECK(fkm_score(&p, &mu, r.centroids, k, &sc_unw) == FKM_OK, "score: %s", fkm_last_error());
    CHECK(sc == r.inertia, "weighted score %.12g != fit inertia %.12g", sc, r.inertia);
    CHECK(sc != sc_unw, "weights ignored by score");
    CHECK(edge_labels_match_predict(&p, &m, &r), "labels of zero-weight points differ from predict");
    /* Integer weights equal duplicated rows (labels exactly, centroids to rounding). */
    for (int64_t i = 0; i < n; i++) w[i] = (float)(i % 3);
    int64_t n2 = 0;
    for (int64_t i = 0; i < n; i++) n2 += (int64_t)w[i];
    float *x2 = malloc((size_t)(n2 * d) * sizeof(float));
    for (int64_t i = 0, o = 0; i < n; i++)
        for (int t = 0; t < (int)w[i]; t++, o++) memcpy(x2 + o * d, x + i * d, (size_t)d * sizeof(float));
    fkm_matrix m2 = {x2, FKM_F32, n2, d, NULL};
    p.stop = FKM_STOP_FIXED; p.max_iter = 5; p.empty = FKM_EMPTY_KEEP;
    fkm_result ra, rb;
    CHECK(fkm_fit(&p, &m, &ra) == FKM_OK && fkm_fit(&p, &m2, &rb) == FKM_OK, "fit: %s", fkm_last_error());
    double maxerr = 0;
    for (int64_t i = 0; i < k * d; i++) maxerr = fmax(maxerr, fabs(ra.centroids[i] - rb.centroids[i]));
    CHECK(maxerr < 1e-5, "integer weights vs duplicated rows: centroids differ by %g", maxerr);
    CHECK(fabs(ra.inertia - rb.inertia) <= 1e-6 * rb.inertia, "integer weights: inertia %.10g vs %.10g",
          ra.inertia, rb.inertia);
    fkm_result_free(&r); fkm_result_free(&ra); fkm_result_free(&rb);
    free(x); free(w); free(c0); free(x2);
}

static void test_denormals(void) {
    const int64_t n = 64, d = 4;
    float x[64 * 4];
    for (int64_t i = 0; i < n * d; i++) x[i] = ldexpf((float)(1 + (i * 7) % 13), -140 - (int)(i % 5));
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int metric = 0; metric < 3; metric++) {
        fkm_params p = edge_params(3);
        p.metric = (fkm_metric)metric;
        fkm_result r;
        fkm_status st = fkm_fit(&p, &m, &r);
        CHECK(st == FKM_OK, "denormal data metric %d: %s", metric, fkm_last_error());
        if (st != FKM_OK) continue;
        CHECK(edge_sane(&r, metric), "denormal data metric %d: NaN/Inf or negative inertia", metric);
        if (metric == 1) { /* cosine: the rows normalise to unit vectors, so do the centroids */
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += (double)r.centroids[j] * r.centroids[j];
            CHECK(fabs(s - 1) < 1e-5, "denormal cosine: centroid norm^2 %g", s);
        }
        fkm_result_free(&r);
    }
    /* Denormal cosine rows give the same labels as the same rows scaled up by 2^140. */
    float y[64 * 4];
    for (int64_t i = 0; i < n * d; i++) y[i] = ldexpf(x[i], 140);
    fkm_params p = edge_params(3);
    p.metric = FKM_METRIC_COSINE; p.stop = FKM_STOP_FIXED; p.max_iter = 3;
    fkm_matrix my = {y, FKM_F32, n, d, NULL};
    fkm_result a, b;
    CHECK(fkm_fit(&p, &m, &a) == FKM_OK && fkm_fit(&p, &my, &b) == FKM_OK, "cosine fits: %s", fkm_last_error());
    CHECK(memcmp(a.labels, b.labels, sizeof(int32_t) * n) == 0, "denormal cosine labels differ from scaled ones");
    fkm_result_free(&a); fkm_result_free(&b);
}

int main(void) {
    test_k1();
    test_k_equals_n();
    test_d1();
    test_duplicates();
    test_constant();
    test_empty_clusters();
    test_zero_weight_cluster();
    test_weights();
    test_denormals();
    return check_report();
}
