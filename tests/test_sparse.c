/* test_sparse.c -- CSR input (fkm_fit_csr, fkm_predict_csr, fkm_transform_csr, fkm_score_csr).
 *
 * 1. Oracle: random sparse data (several densities, sizes, weights, inits): the labels of the
 *    returned centroids against the float64 oracle (tests/ref) on the same matrix made dense,
 *    no disagreement outside the near-tie margin (EXACT_MARGIN, docs/numerics.md); predict's
 *    labels = the fit's, score = the inertia, transform and predict's distances = the oracle's
 *    to 1e-5 of |x|^2 + |c|^2.
 * 2. Equal to the dense engine where the result must be equal: small-integer data and weights
 *    (every float64 sum exact in both engines, every float32 score exact in the dense one), each
 *    init (array, random, k-means++), both empty policies: labels, centroids, iterations and
 *    stop reason byte for byte those of fkm_fit on the dense matrix; the inertia to 1e-12.
 * 3. Cosine and inner product: the oracle as in 1 (cosine: unit centroids), and the dense engine's
 *    labels but at near-ties of its float32 scores (both engines see the same unit rows).
 * 4. Bad input and refusals: unsorted / duplicate / out-of-range column, decreasing indptr,
 *    NaN, device=cuda, cosine with an all-zero row (init hierarchical: tests/test_init_hier.c).
 * 5. k-means|| (src/cpu/sparse_par.c): the initial centroids (max_iter = 0) for threads 1, 2 and 4
 *    byte for byte alike, distinct data rows, and byte for byte the dense k-means|| centroids on
 *    the densified matrix -- l2 and cosine, weighted or not, one block of new candidates or
 *    several. Its distances have fkm_sqdist_f32's bits on any data; only the choice of a row's
 *    nearest new candidate can differ (float64 scores here, the dense kernel's float32 ones),
 *    at near-ties: exact small-integer data rules those out, so equality is required there;
 *    on real-valued data the returned fit is held to the float64 oracle (1 and 3), and the
 *    initial centroids' float64 oracle potential to that of the dense ones (1e-6). 1-3 also
 *    run with k-means|| (3: the dense fit starts from the sparse k-means|| centroids). */
#include "check.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_MARGIN 1e-5

static uint64_t rng = 0x5a75e;

typedef struct {
    fkm_csr m;
    int64_t *indptr;
    int32_t *indices;
    float *data, *dense;
    double *dense64;
} csr_buf;

/* n x d with about density * d entries a row (at least one row with none when n > 4); values
 * small integers (ints) or normals around per-row offsets. */
static int full_rows; /* make(): every row gets an entry (cosine needs a direction) */

static void make(csr_buf *b, int64_t n, int64_t d, double density, int ints) {
    memset(b, 0, sizeof *b);
    b->indptr = malloc(sizeof(int64_t) * (size_t)(n + 1));
    b->indices = malloc(sizeof(int32_t) * (size_t)(n * d));
    b->data = malloc(sizeof(float) * (size_t)(n * d));
    b->dense = calloc((size_t)(n * d), sizeof(float));
    b->dense64 = calloc((size_t)(n * d), sizeof(double));
    int64_t t = 0;
    b->indptr[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        const double shift = (double)(i % 5);
        const int64_t row0 = t;
        for (int64_t j = 0; j < d && !(n > 4 && i == 3 && !full_rows); j++) {
            if (gen_unif(&rng) >= density && !(full_rows && t == row0 && j == d - 1)) continue;
            float v = ints ? (float)(1 + (int)(gen_unif(&rng) * 3)) : (float)(gen_normal(&rng) + shift);
            b->indices[t] = (int32_t)j;
            b->data[t++] = v;
            b->dense[i * d + j] = v;
            b->dense64[i * d + j] = v;
        }
        b->indptr[i + 1] = t;
    }
    b->m = (fkm_csr){n, d, b->indptr, b->indices, b->data, NULL};
}

static void drop(csr_buf *b) {
    free(b->indptr); free(b->indices); free(b->data); free(b->dense); free(b->dense64);
}

static double norm2(const double *v, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += v[j] * v[j];
    return s;
}

/* Weights in [0.5, 1.5) for b's rows, attached to its matrix; the caller frees them. */
static float *random_weights(csr_buf *b) {
    float *w = malloc(sizeof(float) * (size_t)b->m.n);
    for (int64_t i = 0; i < b->m.n; i++) w[i] = (float)(0.5 + gen_unif(&rng));
    b->m.weights = w;
    return w;
}

static void oracle_case(int64_t n, int64_t d, int64_t k, double density, fkm_init init, int weighted) {
    csr_buf b;
    make(&b, n, d, density, 0);
    float *w = weighted ? random_weights(&b) : NULL;
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.init = init;
    p.seed = 11 + (uint64_t)n;
    p.max_iter = 20;
    p.device = FKM_DEVICE_CPU;
    if (init == FKM_INIT_ARRAY) p.init_centroids = b.dense + (n - k) * d; /* the last k rows */
    fkm_result r;
    fkm_status st = fkm_fit_csr(&p, &b.m, &r);
    CHECK(st == FKM_OK, "fit_csr n=%lld d=%lld k=%lld: %s", (long long)n, (long long)d, (long long)k, fkm_last_error());
    if (st != FKM_OK) { drop(&b); free(w); return; }
    double *c64 = malloc(sizeof(double) * (size_t)(k * d));
    for (int64_t i = 0; i < k * d; i++) c64[i] = r.centroids[i];
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    double *best = malloc(sizeof(double) * (size_t)n), *sec = malloc(sizeof(double) * (size_t)n);
    ref_assign(b.dense64, n, d, c64, k, 0, lab, best, sec);
    int64_t hard = 0, ties = 0;
    double inertia = 0;
    for (int64_t i = 0; i < n; i++) {
        inertia += (w ? w[i] : 1.0) * ref_dist(b.dense64 + i * d, c64 + (int64_t)r.labels[i] * d, d, 0);
        if (lab[i] == r.labels[i]) continue;
        const double mine = ref_dist(b.dense64 + i * d, c64 + (int64_t)r.labels[i] * d, d, 0);
        const double scale = norm2(b.dense64 + i * d, d) + norm2(c64 + (int64_t)r.labels[i] * d, d);
        if (fabs(mine - best[i]) > EXACT_MARGIN * scale) hard++; else ties++;
    }
    CHECK(hard == 0, "n=%lld d=%lld k=%lld density %.2f: %lld labels off the oracle beyond the margin (%lld near-ties)",
          (long long)n, (long long)d, (long long)k, density, (long long)hard, (long long)ties);
    CHECK(fabs(r.inertia - inertia) <= 1e-6 * inertia + 1e-12, "inertia %.17g vs oracle %.17g", r.inertia, inertia);
    /* predict / score / transform against the fit and the oracle */
    int32_t *pl = malloc(sizeof(int32_t) * (size_t)n);
    float *pd = malloc(sizeof(float) * (size_t)n), *tr = malloc(sizeof(float) * (size_t)(n * k));
    double sc = 0;
    CHECK(fkm_predict_csr(&p, &b.m, r.centroids, k, pl, pd) == FKM_OK, "predict_csr: %s", fkm_last_error());
    CHECK(memcmp(pl, r.labels, sizeof(int32_t) * (size_t)n) == 0, "predict_csr labels differ from the fit's");
    CHECK(fkm_score_csr(&p, &b.m, r.centroids, k, &sc) == FKM_OK && sc == r.inertia,
          "score_csr %.17g vs fit inertia %.17g", sc, r.inertia);
    CHECK(fkm_transform_csr(&p, &b.m, r.centroids, k, tr) == FKM_OK, "transform_csr: %s", fkm_last_error());
    int64_t far = 0;
    for (int64_t i = 0; i < n; i++) {
        const double xn = norm2(b.dense64 + i * d, d);
        const double dl = ref_dist(b.dense64 + i * d, c64 + (int64_t)pl[i] * d, d, 0);
        if (fabs(pd[i] - dl) > 1e-6 * dl + 1e-30) far++;
        for (int64_t c = 0; c < k; c++) {
            const double dc = ref_dist(b.dense64 + i * d, c64 + c * d, d, 0);
            if (fabs(tr[i * k + c] - dc) > 1e-5 * (xn + norm2(c64 + c * d, d)) + 1e-30) far++;
        }
    }
    CHECK(far == 0, "%lld distances (predict, transform) off the oracle", (long long)far);
    free(pl); free(pd); free(tr); free(c64); free(lab); free(best); free(sec); free(w);
    fkm_result_free(&r);
    drop(&b);
}

/* Small-integer data and weights: the dense engine's results, byte for byte. */
static void dense_case(int64_t n, int64_t d, int64_t k, double density, fkm_init init, fkm_empty_policy pol,
                       int weighted, fkm_stop_rule stop) {
    csr_buf b;
    make(&b, n, d, density, 1);
    float *w = NULL, *c0 = NULL;
    if (weighted) {
        w = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + (int)(gen_unif(&rng) * 3));
        b.m.weights = w;
    }
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.init = init;
    p.empty = pol;
    p.stop = stop;
    p.seed = 5 + (uint64_t)k;
    p.max_iter = 30;
    p.device = FKM_DEVICE_CPU;
    if (init == FKM_INIT_ARRAY) { /* rows 0..k-1, with a duplicate: an empty cluster at the start */
        c0 = malloc(sizeof(float) * (size_t)(k * d));
        memcpy(c0, b.dense, sizeof(float) * (size_t)(k * d));
        memcpy(c0 + (k - 1) * d, c0, sizeof(float) * (size_t)d);
        p.init_centroids = c0;
    }
    fkm_matrix dm = {b.dense, FKM_F32, n, d, w};
    fkm_result rs, rd;
    fkm_status s1 = fkm_fit_csr(&p, &b.m, &rs), s2 = fkm_fit(&p, &dm, &rd);
    CHECK(s1 == FKM_OK && s2 == FKM_OK, "fits: %d %d %s", s1, s2, fkm_last_error());
    if (s1 == FKM_OK && s2 == FKM_OK) {
        CHECK(memcmp(rs.labels, rd.labels, sizeof(int32_t) * (size_t)n) == 0,
              "n=%lld d=%lld k=%lld init %d empty %d: labels differ from the dense engine's", (long long)n,
              (long long)d, (long long)k, (int)init, (int)pol);
        CHECK(memcmp(rs.centroids, rd.centroids, sizeof(float) * (size_t)(k * d)) == 0,
              "init %d empty %d: centroids differ from the dense engine's", (int)init, (int)pol);
        CHECK(rs.iterations == rd.iterations && rs.stop_reason == rd.stop_reason,
              "init %d: iterations %d vs %d, stop %d vs %d", (int)init, rs.iterations, rd.iterations,
              (int)rs.stop_reason, (int)rd.stop_reason);
        for (int it = 0; it < rs.iterations && it < rd.iterations; it++)
            CHECK(rs.stats[it].changed == rd.stats[it].changed && rs.stats[it].empty == rd.stats[it].empty &&
                  rs.stats[it].shift == rd.stats[it].shift, "iteration %d statistics differ", it);
        CHECK(fabs(rs.inertia - rd.inertia) <= 1e-12 * rd.inertia, "inertia %.17g vs dense %.17g", rs.inertia,
              rd.inertia);
    }
    fkm_result_free(&rs);
    fkm_result_free(&rd);
    free(w); free(c0);
    drop(&b);
}

static void bad_input(void) {
    csr_buf b;
    make(&b, 20, 6, 0.5, 0);
    fkm_params p;
    fkm_params_default(&p);
    p.k = 3;
    p.device = FKM_DEVICE_CPU;
    fkm_result r;
    int64_t row = 0;
    while (b.indptr[row + 1] - b.indptr[row] < 2) row++;
    const int64_t t = b.indptr[row];
    int32_t keep = b.indices[t + 1];
    b.indices[t + 1] = b.indices[t]; /* duplicate column */
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "strictly increasing"),
          "duplicate column: %s", fkm_last_error());
    b.indices[t + 1] = keep;
    keep = b.indices[t];
    b.indices[t] = 6;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "outside [0, 6)"),
          "column out of range: %s", fkm_last_error());
    b.indices[t] = keep;
    float v = b.data[t];
    b.data[t] = NAN;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "is NaN"),
          "NaN: %s", fkm_last_error());
    b.data[t] = v;
    int64_t ip = b.indptr[5];
    b.indptr[5] = b.indptr[6] + 1;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "indptr decreases"),
          "indptr: %s", fkm_last_error());
    b.indptr[5] = ip;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_OK, "the repaired matrix fits: %s", fkm_last_error());
    fkm_result_free(&r);
    p.device = FKM_DEVICE_CUDA;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "CPU only"),
          "device cuda: %s", fkm_last_error());
    float c[18] = {0};
    int32_t lab[20];
    CHECK(fkm_predict_csr(&p, &b.m, c, 3, lab, NULL) == FKM_ERR_INVALID_ARG, "predict device cuda refused");
    p.device = FKM_DEVICE_CPU;
    p.metric = FKM_METRIC_COSINE; /* row 3 has no entry: no direction */
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "row 3 is all zeros") &&
              r.labels == NULL,
          "cosine, an empty row: %s", fkm_last_error());
    CHECK(fkm_predict_csr(&p, &b.m, c, 3, lab, NULL) == FKM_ERR_BAD_INPUT, "cosine predict, an empty row");
    p.metric = FKM_METRIC_L2;
    p.init = FKM_INIT_KMEANS_PARALLEL;
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_OK, "k-means||: %s", fkm_last_error());
    fkm_result_free(&r);
    CHECK(fkm_fit_csr(&p, NULL, &r) == FKM_ERR_INVALID_ARG, "NULL matrix");
    drop(&b);
}

/* Cosine and inner product: labels against the float64 oracle of the returned centroids (near-
 * ties aside), predict = fit, score = inertia, the distances against the oracle's, and the dense
 * engine on the same matrix: the same unit rows, so the same labels but at near-ties of their
 * float32 scores, the inertia to 1e-5. Cosine centroids unit. */
static void metric_case(fkm_metric metric, int64_t n, int64_t d, int64_t k, double density, fkm_init init,
                        int weighted) {
    full_rows = 1;
    csr_buf b;
    make(&b, n, d, density, 0);
    full_rows = 0;
    float *w = weighted ? random_weights(&b) : NULL;
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.init = init, p.seed = 3 + (uint64_t)n, p.max_iter = 20, p.device = FKM_DEVICE_CPU, p.metric = metric;
    if (init == FKM_INIT_ARRAY) p.init_centroids = b.dense + (n - k) * d;
    const char *mname = metric == FKM_METRIC_COSINE ? "cosine" : "ip";
    fkm_result r, rd;
    fkm_matrix dm = {b.dense, FKM_F32, n, d, w};
    fkm_status st = fkm_fit_csr(&p, &b.m, &r);
    fkm_params pd_ = p;
    float *c0 = NULL;
    if (init == FKM_INIT_KMEANS_PARALLEL) {
        /* The dense fit starts where the sparse one did: on real-valued data the two k-means|| may
         * pick different rows at near-ties (5 above; very sparse unit rows, many orthogonal to
         * every candidate, make them common), and the dense comparison below is of the Lloyd
         * iterations. Their initial centroids are compared in par_case. */
        fkm_params q = p;
        fkm_result r0;
        q.max_iter = 0;
        c0 = malloc(sizeof(float) * (size_t)(k * d));
        CHECK(fkm_fit_csr(&q, &b.m, &r0) == FKM_OK, "%s k-means|| init: %s", mname, fkm_last_error());
        memcpy(c0, r0.centroids, sizeof(float) * (size_t)(k * d));
        fkm_result_free(&r0);
        pd_.init = FKM_INIT_ARRAY, pd_.init_centroids = c0;
    }
    fkm_status sd = fkm_fit(&pd_, &dm, &rd);
    free(c0);
    CHECK(st == FKM_OK && sd == FKM_OK, "%s fit_csr n=%lld d=%lld k=%lld: %s", mname, (long long)n, (long long)d,
          (long long)k, fkm_last_error());
    if (st != FKM_OK || sd != FKM_OK) { drop(&b); free(w); return; }
    const int m = metric == FKM_METRIC_COSINE ? 1 : 2;
    double *c64 = malloc(sizeof(double) * (size_t)(k * d));
    for (int64_t i = 0; i < k * d; i++) c64[i] = r.centroids[i];
    int64_t not_unit = 0;
    for (int64_t c = 0; metric == FKM_METRIC_COSINE && c < k; c++) not_unit += fabs(norm2(c64 + c * d, d) - 1.0) > 1e-5;
    CHECK(not_unit == 0, "cosine: %lld centroids not unit", (long long)not_unit);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    double *best = malloc(sizeof(double) * (size_t)n);
    ref_assign(b.dense64, n, d, c64, k, m, lab, best, NULL);
    int64_t hard = 0, dense_off = 0;
    double inertia = 0;
    for (int64_t i = 0; i < n; i++) {
        const double mine = ref_dist(b.dense64 + i * d, c64 + (int64_t)r.labels[i] * d, d, m);
        const double scale = m == 1 ? 2.0 : sqrt(norm2(b.dense64 + i * d, d) * norm2(c64 + (int64_t)r.labels[i] * d, d));
        inertia += (w ? w[i] : 1.0) * mine;
        if (lab[i] != r.labels[i] && fabs(mine - best[i]) > EXACT_MARGIN * scale) hard++;
        dense_off += rd.labels[i] != r.labels[i];
    }
    CHECK(hard == 0, "%s n=%lld d=%lld k=%lld: %lld labels off the oracle beyond the margin", mname, (long long)n,
          (long long)d, (long long)k, (long long)hard);
    const double tol = 1e-5 * (fabs(inertia) + (double)n);
    CHECK(fabs(r.inertia - inertia) <= tol, "%s inertia %.17g vs oracle %.17g", mname, r.inertia, inertia);
    CHECK(dense_off * 100 <= n && fabs(r.inertia - rd.inertia) <= tol, "%s: %lld labels differ from the dense "
          "engine's; inertia %.17g vs dense %.17g", mname, (long long)dense_off, r.inertia, rd.inertia);
    int32_t *pl = malloc(sizeof(int32_t) * (size_t)n);
    float *pd = malloc(sizeof(float) * (size_t)n), *tr = malloc(sizeof(float) * (size_t)(n * k));
    double sc = 0;
    CHECK(fkm_predict_csr(&p, &b.m, r.centroids, k, pl, pd) == FKM_OK, "%s predict_csr: %s", mname, fkm_last_error());
    CHECK(memcmp(pl, r.labels, sizeof(int32_t) * (size_t)n) == 0, "%s predict_csr labels differ from the fit's", mname);
    CHECK(fkm_score_csr(&p, &b.m, r.centroids, k, &sc) == FKM_OK && sc == r.inertia,
          "%s score_csr %.17g vs fit inertia %.17g", mname, sc, r.inertia);
    CHECK(fkm_transform_csr(&p, &b.m, r.centroids, k, tr) == FKM_OK, "%s transform_csr: %s", mname, fkm_last_error());
    int64_t far = 0;
    for (int64_t i = 0; i < n; i++) {
        const double xs = m == 1 ? 1.0 : sqrt(norm2(b.dense64 + i * d, d));
        const double dl = ref_dist(b.dense64 + i * d, c64 + (int64_t)pl[i] * d, d, m);
        if (fabs(pd[i] - dl) > 1e-5 * (fabs(dl) + xs)) far++;
        for (int64_t c = 0; c < k; c++) {
            const double dc = ref_dist(b.dense64 + i * d, c64 + c * d, d, m);
            if (fabs(tr[i * k + c] - dc) > 1e-5 * (fabs(dc) + xs * (m == 1 ? 1.0 : sqrt(norm2(c64 + c * d, d))))) far++;
        }
    }
    CHECK(far == 0, "%s: %lld distances (predict, transform) off the oracle", mname, (long long)far);
    free(pl); free(pd); free(tr); free(c64); free(lab); free(best); free(w);
    fkm_result_free(&r);
    fkm_result_free(&rd);
    drop(&b);
}

/* Initial centroids only (max_iter = 0): sparse (csr set) or dense. */
static fkm_status init_centroids(const csr_buf *b, int sparse, fkm_metric metric, int64_t k, int threads,
                                 float *c, double *pot) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.init = FKM_INIT_KMEANS_PARALLEL, p.max_iter = 0, p.seed = 17 + (uint64_t)k;
    p.device = FKM_DEVICE_CPU, p.metric = metric, p.threads = threads;
    fkm_matrix dm = {b->dense, FKM_F32, b->m.n, b->m.d, b->m.weights};
    fkm_result r;
    fkm_status st = sparse ? fkm_fit_csr(&p, &b->m, &r) : fkm_fit(&p, &dm, &r);
    if (st == FKM_OK) {
        memcpy(c, r.centroids, sizeof(float) * (size_t)(k * b->m.d));
        *pot = r.inertia;
    }
    fkm_result_free(&r);
    return st;
}

/* sum_i w_i min_c dist(x_i, c) in float64 (tests/ref), on the unit rows for cosine. */
static double oracle_potential(const csr_buf *b, const float *c, int64_t k, fkm_metric metric) {
    const int64_t n = b->m.n, d = b->m.d;
    double *x = calloc((size_t)(n * d), sizeof(double)), *c64 = calloc((size_t)(k * d), sizeof(double));
    double *best = malloc(sizeof(double) * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const double s = metric == FKM_METRIC_COSINE ? sqrt(norm2(b->dense64 + i * d, d)) : 1.0;
        for (int64_t j = 0; j < d; j++) x[i * d + j] = b->dense64[i * d + j] / s;
    }
    for (int64_t i = 0; i < k * d; i++) c64[i] = c[i];
    ref_assign(x, n, d, c64, k, 0, lab, best, NULL); /* unit rows: squared L2 = 2 (1 - cos) */
    double pot = 0;
    for (int64_t i = 0; i < n; i++) pot += (b->m.weights ? b->m.weights[i] : 1.0) * best[i];
    free(x); free(c64); free(best); free(lab);
    return pot;
}

/* 5 above. ints: small-integer data (the dense centroids byte for byte), else normals. */
static void par_case(int64_t n, int64_t d, int64_t k, double density, int ints, fkm_metric metric, int weighted) {
    full_rows = metric == FKM_METRIC_COSINE;
    csr_buf b;
    make(&b, n, d, density, ints);
    full_rows = 0;
    float *w = weighted ? random_weights(&b) : NULL;
    const size_t kd = (size_t)(k * d);
    float *c[3], *cd = malloc(sizeof(float) * kd);
    double pot[3], potd = 0;
    const int threads[3] = {1, 2, 4};
    int ok = 1;
    for (int t = 0; t < 3; t++) {
        c[t] = malloc(sizeof(float) * kd);
        fkm_status st = init_centroids(&b, 1, metric, k, threads[t], c[t], &pot[t]);
        CHECK(st == FKM_OK, "k-means|| sparse threads %d: %s", threads[t], fkm_last_error());
        ok &= st == FKM_OK;
    }
    fkm_status sd = init_centroids(&b, 0, metric, k, 2, cd, &potd);
    CHECK(sd == FKM_OK, "k-means|| dense: %s", fkm_last_error());
    if (ok && sd == FKM_OK) {
        for (int t = 1; t < 3; t++)
            CHECK(memcmp(c[0], c[t], sizeof(float) * kd) == 0 && pot[0] == pot[t],
                  "n=%lld k=%lld metric %d: k-means|| centroids with %d threads differ from 1 thread's",
                  (long long)n, (long long)k, (int)metric, threads[t]);
        /* distinct data rows (cosine: of the unit rows, so compare directions via the dense copy) */
        int64_t not_row = 0, dup = 0;
        for (int64_t q = 0; q < k; q++) {
            int found = 0;
            for (int64_t i = 0; i < n && !found; i++) {
                const double s = metric == FKM_METRIC_COSINE ? sqrt(norm2(b.dense64 + i * d, d)) : 1.0;
                found = 1;
                for (int64_t j = 0; j < d && found; j++)
                    found = c[0][q * d + j] == (metric == FKM_METRIC_COSINE ? (float)(b.dense64[i * d + j] / s)
                                                                              : b.dense[i * d + j]);
            }
            not_row += !found;
            for (int64_t q2 = 0; q2 < q; q2++)
                dup += memcmp(c[0] + q * d, c[0] + q2 * d, sizeof(float) * (size_t)d) == 0;
        }
        CHECK(not_row == 0 && dup == 0, "k-means||: %lld centroids not data rows, %lld duplicates",
              (long long)not_row, (long long)dup);
        if (ints)
            CHECK(memcmp(c[0], cd, sizeof(float) * kd) == 0, "n=%lld d=%lld k=%lld metric %d weighted %d: sparse "
                  "k-means|| centroids differ from the dense ones", (long long)n, (long long)d, (long long)k,
                  (int)metric, weighted);
        /* the float64 oracle's potential of both sets of centroids (the engines' own inertias differ
         * by their arithmetic: the dense one's cosine scores are float32) */
        const double po = oracle_potential(&b, c[0], k, metric), pdo = oracle_potential(&b, cd, k, metric);
        CHECK(fabs(po - pdo) <= 1e-6 * pdo, "n=%lld k=%lld metric %d: k-means|| oracle potential %.17g vs the "
              "dense centroids' %.17g", (long long)n, (long long)k, (int)metric, po, pdo);
    }
    for (int t = 0; t < 3; t++) free(c[t]);
    free(cd); free(w);
    drop(&b);
}

int main(void) {
    const fkm_init inits[] = {FKM_INIT_KMEANSPP, FKM_INIT_RANDOM, FKM_INIT_ARRAY, FKM_INIT_KMEANS_PARALLEL};
    for (int i = 0; i < 4; i++) {
        oracle_case(400, 30, 6, 0.2, inits[i], 0);
        oracle_case(300, 200, 10, 0.03, inits[i], 1);
        oracle_case(50, 5, 1, 0.6, inits[i], 0);
        oracle_case(64, 1, 4, 0.9, inits[i], 1);
    }
    const fkm_empty_policy pols[] = {FKM_EMPTY_FARTHEST, FKM_EMPTY_KEEP};
    for (int i = 0; i < 4; i++)
        for (int e = 0; e < 2; e++) {
            dense_case(500, 25, 8, 0.15, inits[i], pols[e], 0, FKM_STOP_SHIFT);
            dense_case(300, 60, 12, 0.05, inits[i], pols[e], 1, FKM_STOP_LABELS);
            dense_case(40, 4, 10, 0.5, inits[i], pols[e], 1, FKM_STOP_SHIFT); /* duplicates, empties */
        }
    for (int i = 0; i < 4; i++)
        for (int metric = FKM_METRIC_COSINE; metric <= FKM_METRIC_IP; metric++) {
            metric_case((fkm_metric)metric, 400, 30, 6, 0.2, inits[i], 0);
            metric_case((fkm_metric)metric, 300, 200, 10, 0.03, inits[i], 1);
            metric_case((fkm_metric)metric, 64, 3, 4, 0.9, inits[i], 1);
        }
    for (int metric = FKM_METRIC_L2; metric <= FKM_METRIC_COSINE; metric++)
        for (int weighted = 0; weighted < 2; weighted++) {
            par_case(600, 40, 12, 0.1, 1, (fkm_metric)metric, weighted);
            par_case(3000, 60, 700, 0.08, 1, (fkm_metric)metric, weighted); /* > 1024 new candidates a round */
            par_case(60, 3, 20, 0.5, 1, (fkm_metric)metric, weighted);      /* duplicate rows, fill (step 3) */
            par_case(800, 50, 16, 0.1, 0, (fkm_metric)metric, weighted);
        }
    bad_input();
    return check_report();
}
