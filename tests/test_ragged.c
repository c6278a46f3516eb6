/* test_ragged.c -- fkm_fit_ragged: problems of different sizes in one call.
 *
 * 1. Each problem with at least k rows equals fkm_fit on its rows with seed + i, byte for byte
 *    (labels, centroids, inertia, iterations, stop reason), over random ragged batches (b = 1, 3,
 *    70, and 3000 tiny problems) with weights or not, every init.
 * 2. Fewer rows than k: every row its own cluster (centroid j = row j mod n, label i = i,
 *    inertia 0, 0 iterations); no row: the init array when given, else zeros.
 * 3. Uniform offsets give fkm_fit_batch's results.
 * 4. Bad offsets, a fitted problem without weight (named), NULL pointers: refused, out zeroed. */
#include "check.h"
#include "gen.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

static uint64_t rng = 0x7a66;

static int same_result(const fkm_result *a, const fkm_result *b) {
    return a->k == b->k && a->n == b->n && a->d == b->d &&
           !memcmp(a->centroids, b->centroids, sizeof(float) * (size_t)(a->k * a->d)) &&
           !memcmp(a->labels, b->labels, sizeof(int32_t) * (size_t)a->n) &&
           !memcmp(&a->inertia, &b->inertia, sizeof(double)) && a->iterations == b->iterations &&
           a->stop_reason == b->stop_reason;
}

/* Problem sizes: mostly >= k, some below (0, 1, k - 1) when `underfull`. */
static void sizes(int64_t b, int64_t k, int underfull, int64_t *off) {
    off[0] = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t n = k + (int64_t)(gen_unif(&rng) * 200);
        if (underfull && i % 7 == 3) n = 0;
        if (underfull && i % 7 == 5) n = 1;
        if (underfull && i % 7 == 6) n = k > 1 ? k - 1 : 0;
        off[i + 1] = off[i] + n;
    }
}

static void check_underfull(const fkm_params *p, const float *x, int64_t n, int64_t d, const fkm_result *r,
                            int64_t i) {
    int ok = r->n == n && r->inertia == 0.0 && r->iterations == 0 && r->stop_reason == FKM_STOPPED_CONVERGED;
    for (int64_t j = 0; ok && j < p->k; j++) {
        const float *want = n > 0 ? x + (j % n) * d : p->init == FKM_INIT_ARRAY ? p->init_centroids + j * d : NULL;
        for (int64_t q = 0; q < d; q++) ok &= r->centroids[j * d + q] == (want ? want[q] : 0.0f);
    }
    for (int64_t t = 0; ok && t < n; t++) ok &= r->labels[t] == t;
    CHECK(ok, "problem %lld with %lld rows < k = %lld: every row its own cluster (init %d)", (long long)i,
          (long long)n, (long long)p->k, (int)p->init);
}

static void ragged_case(int64_t b, int64_t d, int64_t k, fkm_init init, int weighted, int underfull) {
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(b + 1));
    sizes(b, k, underfull, off);
    const int64_t n = off[b];
    float *x = malloc(sizeof(float) * (size_t)((n > 0 ? n : 1) * d)), *w = NULL, *c0 = NULL;
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(gen_normal(&rng) + (i / d % 3));
    if (weighted) {
        w = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        for (int64_t i = 0; i < n; i++) w[i] = (float)(0.25 + gen_unif(&rng));
    }
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.init = init, p.seed = 40 + (uint64_t)b, p.max_iter = 25, p.device = FKM_DEVICE_CPU;
    if (init == FKM_INIT_ARRAY) {
        c0 = malloc(sizeof(float) * (size_t)(k * d));
        for (int64_t i = 0; i < k * d; i++) c0[i] = (float)gen_normal(&rng);
        p.init_centroids = c0;
    }
    fkm_result *out = calloc((size_t)b, sizeof(fkm_result));
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_status st = fkm_fit_ragged(&p, &m, off, b, out);
    CHECK(st == FKM_OK, "ragged b=%lld d=%lld k=%lld init %d: %s", (long long)b, (long long)d, (long long)k, (int)init,
          fkm_last_error());
    int64_t differ = 0;
    for (int64_t i = 0; st == FKM_OK && i < b; i++) {
        const int64_t ni = off[i + 1] - off[i];
        if (ni < k) {
            check_underfull(&p, x + off[i] * d, ni, d, &out[i], i);
            continue;
        }
        fkm_params q = p;
        q.seed = p.seed + (uint64_t)i;
        fkm_matrix mi = {x + off[i] * d, FKM_F32, ni, d, w ? w + off[i] : NULL};
        fkm_result one;
        if (fkm_fit(&q, &mi, &one) != FKM_OK || !same_result(&one, &out[i])) differ++;
        fkm_result_free(&one);
    }
    CHECK(differ == 0, "ragged b=%lld k=%lld init %d weighted %d: %lld problems differ from their single fit",
          (long long)b, (long long)k, (int)init, weighted, (long long)differ);
    for (int64_t i = 0; i < b; i++) fkm_result_free(&out[i]);
    free(out), free(off), free(x), free(w), free(c0);
}

/* Uniform offsets: fkm_fit_batch's results. */
static void uniform_equals_batch(void) {
    const int64_t b = 9, n = 150, d = 5, k = 6;
    float *x = malloc(sizeof(float) * (size_t)(b * n * d));
    for (int64_t i = 0; i < b * n * d; i++) x[i] = (float)gen_normal(&rng);
    int64_t off[10];
    for (int64_t i = 0; i <= b; i++) off[i] = i * n;
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.device = FKM_DEVICE_CPU, p.seed = 2;
    fkm_result r1[9], r2[9];
    fkm_matrix mb = {x, FKM_F32, n, d, NULL}, mr = {x, FKM_F32, b * n, d, NULL};
    CHECK(fkm_fit_batch(&p, &mb, b, r1) == FKM_OK && fkm_fit_ragged(&p, &mr, off, b, r2) == FKM_OK, "%s",
          fkm_last_error());
    int same = 1;
    for (int64_t i = 0; i < b; i++) same &= same_result(&r1[i], &r2[i]);
    CHECK(same, "uniform offsets: fkm_fit_batch's results");
    for (int64_t i = 0; i < b; i++) fkm_result_free(&r1[i]), fkm_result_free(&r2[i]);
    free(x);
}

static int all_zeroed(const fkm_result *r, int64_t b) {
    for (int64_t i = 0; i < b; i++)
        if (r[i].centroids || r[i].labels || r[i].stats) return 0;
    return 1;
}

static void refusals(void) {
    const int64_t d = 2;
    float x[40], w[20];
    for (int i = 0; i < 40; i++) x[i] = (float)i;
    for (int i = 0; i < 20; i++) w[i] = 1.0f;
    fkm_params p;
    fkm_params_default(&p);
    p.k = 3, p.device = FKM_DEVICE_CPU;
    fkm_matrix m = {x, FKM_F32, 20, d, NULL};
    fkm_result r[3];
    const int64_t good[4] = {0, 5, 12, 20}, bad0[4] = {1, 5, 12, 20}, dec[4] = {0, 12, 5, 20}, end[4] = {0, 5, 12, 19};
    CHECK(fkm_fit_ragged(&p, &m, NULL, 3, r) == FKM_ERR_INVALID_ARG && all_zeroed(r, 3), "NULL offsets");
    CHECK(fkm_fit_ragged(&p, &m, bad0, 3, r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "offsets[0]"),
          "offsets[0] != 0: %s", fkm_last_error());
    CHECK(fkm_fit_ragged(&p, &m, dec, 3, r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "problem 1"),
          "decreasing offsets: %s", fkm_last_error());
    CHECK(fkm_fit_ragged(&p, &m, end, 3, r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "offsets[3]"),
          "offsets[b] != n: %s", fkm_last_error());
    CHECK(fkm_fit_ragged(&p, &m, good, 0, r) == FKM_ERR_INVALID_ARG, "b = 0");
    CHECK(fkm_fit_ragged(&p, &m, good, 3, NULL) == FKM_ERR_INVALID_ARG, "NULL out");
    CHECK(fkm_fit_ragged(&p, NULL, good, 3, r) == FKM_ERR_INVALID_ARG, "NULL matrix");
    for (int i = 5; i < 12; i++) w[i] = 0.0f; /* problem 1 (7 rows >= k) has no weight */
    m.weights = w;
    CHECK(fkm_fit_ragged(&p, &m, good, 3, r) == FKM_ERR_BAD_INPUT && strstr(fkm_last_error(), "problem 1") &&
              all_zeroed(r, 3),
          "a fitted problem without weight: %s", fkm_last_error());
    const int64_t small[4] = {0, 5, 6, 20}; /* the weightless rows now in an underfull problem */
    for (int i = 0; i < 20; i++) w[i] = i == 5 ? 0.0f : 1.0f;
    CHECK(fkm_fit_ragged(&p, &m, small, 3, r) == FKM_OK, "zero weight in an underfull problem: %s", fkm_last_error());
    for (int i = 0; i < 3; i++) fkm_result_free(&r[i]);
    x[7] = NAN; /* bad data anywhere: named, nothing half-written */
    CHECK(fkm_fit_ragged(&p, &m, good, 3, r) == FKM_ERR_BAD_INPUT && all_zeroed(r, 3), "NaN: %s", fkm_last_error());
}

int main(void) {
    const fkm_init inits[] = {FKM_INIT_KMEANSPP, FKM_INIT_RANDOM, FKM_INIT_ARRAY, FKM_INIT_KMEANS_PARALLEL};
    for (int i = 0; i < 4; i++) {
        ragged_case(1, 3, 4, inits[i], 0, 0);
        ragged_case(3, 8, 16, inits[i], 1, 1);
        ragged_case(70, 2, 5, inits[i], i % 2, 1);
    }
    ragged_case(3000, 4, 16, FKM_INIT_KMEANSPP, 1, 1); /* many tiny problems, a seventh underfull */
    uniform_equals_batch();
    refusals();
    return check_report();
}
