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
 *    NaN, device=cuda, cosine with an all-zero row, init k-means||. */
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
    CHECK(fkm_fit_csr(&p, &b.m, &r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "k-means||"),
          "k-means||: %s", fkm_last_error());
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
    fkm_status st = fkm_fit_csr(&p, &b.m, &r), sd = fkm_fit(&p, &dm, &rd);
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

int main(void) {
    const fkm_init inits[] = {FKM_INIT_KMEANSPP, FKM_INIT_RANDOM, FKM_INIT_ARRAY};
    for (int i = 0; i < 3; i++) {
        oracle_case(400, 30, 6, 0.2, inits[i], 0);
        oracle_case(300, 200, 10, 0.03, inits[i], 1);
        oracle_case(50, 5, 1, 0.6, inits[i], 0);
        oracle_case(64, 1, 4, 0.9, inits[i], 1);
    }
    const fkm_empty_policy pols[] = {FKM_EMPTY_FARTHEST, FKM_EMPTY_KEEP};
    for (int i = 0; i < 3; i++)
        for (int e = 0; e < 2; e++) {
            dense_case(500, 25, 8, 0.15, inits[i], pols[e], 0, FKM_STOP_SHIFT);
            dense_case(300, 60, 12, 0.05, inits[i], pols[e], 1, FKM_STOP_LABELS);
            dense_case(40, 4, 10, 0.5, inits[i], pols[e], 1, FKM_STOP_SHIFT); /* duplicates, empties */
        }
    for (int i = 0; i < 3; i++)
        for (int metric = FKM_METRIC_COSINE; metric <= FKM_METRIC_IP; metric++) {
            metric_case((fkm_metric)metric, 400, 30, 6, 0.2, inits[i], 0);
            metric_case((fkm_metric)metric, 300, 200, 10, 0.03, inits[i], 1);
            metric_case((fkm_metric)metric, 64, 3, 4, 0.9, inits[i], 1);
        }
    bad_input();
    return check_report();
}
