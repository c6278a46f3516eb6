/* test_cuda_cert.c -- precision exact, certified (docs/certified.md): on a Hopper GPU the fp16
 * tensor-core pass with its proven bound, plus the fp32 re-scoring of the points it cannot prove,
 * must give the bits of the SIMT fp32 kernel alone (FKM_CU_CERT=0, the reference). Every case runs
 * the same call both ways and requires the same labels, centroids, per-iteration statistics and
 * predict distances (memcmp), and labels that agree with the float64 oracle outside the 1e-5
 * near-tie margin:
 *  1. Gaussian blobs over the kernel shapes: D = 1 .. 128 at any k (fp16 pass on the resident kernel
 *     for k <= 256, else the streamed one), n below and above 2^15 (where the kernel tables switch),
 *     D = 200/256 (resident kernel only), D = 4096 and D = 200 with k = 300 (SIMT fallback),
 *     k = 1 .. 1024 and k = n;
 *  2. ties: points mirrored between two centroids (exact and near ties), integer grids (exact ties:
 *     the lowest index wins), duplicated centroids, data far from the origin (nearly everything
 *     re-scored);
 *  3. cosine and inner product, weights, fkm_fit_batch, fkm_predict, fkm_score, and fkm_transform
 *     (every distance with the SIMT kernel's chain: predict's label has the row's smallest);
 *  4. the bound halved (FKM_CU_CERT_SCALE=0.5) on 1-D data built to sit inside it: labels must then
 *     change, so the bound is tight and in use (a host simulation first checks the data's premise).
 * The Hopper-only assertions (re-scored counts, the halved bound) are skipped on other GPUs, where
 * exact runs the SIMT kernel both ways. Skipped (exit 77) without a GPU. */
#include "test_cuda.h"

#include <stdlib.h>
#include <time.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

static int hopper;                /* sm_90: certification runs */
static uint64_t next_seed = 4000; /* a fresh seed per dataset */
static int64_t blob_pts, blob_resc; /* case 1: points and first-iteration re-scores, summed */
static int64_t transform_ties;      /* rows where a lower index ties the label's transform distance */

/* b problems of n rows of d features (x64 holds exactly the float32 values), k initial centroids. */
typedef struct {
    int64_t b, n, d, k;
    double *x64;
    float *x32, *c0, *w;
    int freeze; /* fits keep the initial centroids (no iterations: labels of c0, no statistics) */
} dataset;

static void ds_alloc(dataset *s, int64_t b, int64_t n, int64_t d, int64_t k) {
    s->b = b; s->n = n; s->d = d; s->k = k; s->freeze = 0;
    s->x64 = malloc((size_t)(b * n * d) * sizeof(double));
    s->x32 = malloc((size_t)(b * n * d) * sizeof(float));
    s->c0 = malloc((size_t)(k * d) * sizeof(float));
    s->w = NULL;
}
static void ds_free(dataset *s) { free(s->x64); free(s->x32); free(s->c0); free(s->w); }
static void ds_sync64(dataset *s) {
    for (int64_t i = 0; i < s->b * s->n * s->d; i++) s->x64[i] = s->x32[i];
}
/* Initial centroids: k distinct rows of problem 0. */
static void ds_rows_as_centroids(dataset *s) {
    for (int64_t i = 0; i < s->k; i++)
        memcpy(s->c0 + i * s->d, s->x32 + (i * 7919 % s->n) * s->d, (size_t)s->d * sizeof(float));
}
/* Blobs (k centres, spread 1) shifted by `offset` on every coordinate, centroids from the rows. */
static void ds_blobs(dataset *s, int64_t b, int64_t n, int64_t d, int64_t k, float offset, int weighted) {
    ds_alloc(s, b, n, d, k);
    gen_blobs(next_seed++, b * n, d, k, 1.0, s->x64, s->x32);
    for (int64_t i = 0; offset != 0.0f && i < b * n * d; i++) s->x32[i] += offset;
    ds_sync64(s);
    ds_rows_as_centroids(s);
    if (weighted) {
        uint64_t r = next_seed++;
        s->w = malloc((size_t)(b * n) * sizeof(float));
        for (int64_t i = 0; i < b * n; i++) s->w[i] = (float)(0.25 + 2 * gen_unif(&r));
    }
}

/* ---------------------------------------------------------------- the two runs */

enum { REF = 0, CERT = 1, HALF = 2 }; /* FKM_CU_CERT=0; certified; certified, bound x 0.5 */
static const char *mode_str[] = {"reference", "certified", "half bound"};

static void set_mode(int mode) {
    if (mode == REF) setenv("FKM_CU_CERT", "0", 1); else unsetenv("FKM_CU_CERT");
    if (mode == HALF) setenv("FKM_CU_CERT_SCALE", "0.5", 1); else unsetenv("FKM_CU_CERT_SCALE");
}

static void base_params(fkm_params *p, const dataset *s, int metric, int iters) {
    fkm_params_default(p);
    p->k = s->k;
    p->max_iter = iters;
    p->stop = FKM_STOP_FIXED;
    p->init = FKM_INIT_ARRAY;
    p->init_centroids = s->c0;
    p->freeze_init = s->freeze;
    p->metric = (fkm_metric)metric;
    p->device = FKM_DEVICE_CUDA;
    p->precision = FKM_PREC_EXACT;
}

/* out: s->b results (fkm_fit for one problem, fkm_fit_batch for several). */
static fkm_status run_fit(const dataset *s, int metric, int iters, int mode, fkm_result *out) {
    fkm_params p;
    base_params(&p, s, metric, iters);
    fkm_matrix m = {s->x32, FKM_F32, s->n, s->d, s->w};
    set_mode(mode);
    fkm_status st = s->b == 1 ? fkm_fit(&p, &m, out) : fkm_fit_batch(&p, &m, s->b, out);
    set_mode(CERT);
    return st;
}

/* All b * n rows against the initial centroids. */
static fkm_status run_predict(const dataset *s, int metric, int mode, int32_t *lab, float *dist) {
    fkm_params p;
    base_params(&p, s, metric, 1);
    fkm_matrix m = {s->x32, FKM_F32, s->b * s->n, s->d, NULL};
    set_mode(mode);
    fkm_status st = fkm_predict(&p, &m, s->c0, s->k, lab, dist);
    set_mode(CERT);
    return st;
}

static int64_t count_diff(const int32_t *a, const int32_t *b, int64_t n, int64_t *first) {
    int64_t nd = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i] && nd++ == 0) *first = i;
    return nd;
}

/* Labels against the float64 oracle (all rows, or an even sample of them where n k d is large):
 * none may disagree outside the near-tie margin; distances (when given) within it. */
static void oracle_check(const char *what, const double *x, int64_t n, int64_t d, const float *c, int64_t k,
                         int metric, const int32_t *lab, const float *dist) {
    const double work = 1e8;
    int64_t m = (double)n * (double)k * (double)d <= work ? n : (int64_t)(work / ((double)k * (double)d));
    if (m < 256) m = n < 256 ? n : 256;
    double *xs = calloc((size_t)(m * d), sizeof(double)), *c64 = calloc((size_t)(k * d), sizeof(double));
    int32_t *ls = malloc((size_t)m * sizeof(int32_t));
    float *ds = dist ? malloc((size_t)m * sizeof(float)) : NULL;
    for (int64_t q = 0; q < m; q++) {
        const int64_t i = m == n ? q : (int64_t)((double)q * (double)n / (double)m);
        memcpy(xs + q * d, x + i * d, (size_t)d * sizeof(double));
        ls[q] = lab[i];
        if (ds) ds[q] = dist[i];
    }
    for (int64_t i = 0; i < k * d; i++) c64[i] = c[i];
    int64_t ties = 0;
    const int64_t bad = oracle_bad(xs, m, d, c64, k, metric, ls, ds, margin_of(FKM_PREC_EXACT), &ties);
    CHECK(bad == 0, "%s: %lld of %lld rows off the float64 oracle outside the near-tie margin (%lld near-ties)", what,
          (long long)bad, (long long)m, (long long)ties);
    free(xs); free(c64); free(ls); free(ds);
}

/* Certified against reference, bit for bit: labels, centroids, inertia, every iteration's
 * statistics; the reference re-scores nothing. */
static void cmp_results(const char *what, int64_t q, const fkm_result *c, const fkm_result *r, const dataset *s) {
    const int64_t n = s->n, k = s->k, d = s->d;
    int64_t first, nd = count_diff(c->labels, r->labels, n, &first);
    CHECK(nd == 0, "%s problem %lld: %lld labels differ (first row %lld: %d certified, %d reference)", what,
          (long long)q, (long long)nd, (long long)first, nd ? c->labels[first] : 0, nd ? r->labels[first] : 0);
    CHECK(memcmp(c->centroids, r->centroids, (size_t)(k * d) * sizeof(float)) == 0,
          "%s problem %lld: final centroids differ", what, (long long)q);
    CHECK(c->iterations == r->iterations && c->inertia == r->inertia && c->stop_reason == r->stop_reason,
          "%s problem %lld: %d/%d iterations, inertia %.17g/%.17g (certified/reference)", what, (long long)q,
          c->iterations, r->iterations, c->inertia, r->inertia);
    int64_t bad_it = -1, resc_bad = -1, ref_resc = 0;
    for (int it = 0; it < c->iterations && it < r->iterations; it++) {
        const fkm_iter_stats *a = &c->stats[it], *b = &r->stats[it];
        if (bad_it < 0 && !(a->inertia == b->inertia && a->shift == b->shift && a->changed == b->changed &&
                            a->empty == b->empty))
            bad_it = it;
        if (resc_bad < 0 && (a->rescored < 0 || a->rescored > n)) resc_bad = it;
        ref_resc += b->rescored;
    }
    const fkm_iter_stats *a = bad_it >= 0 ? &c->stats[bad_it] : NULL, *b = bad_it >= 0 ? &r->stats[bad_it] : NULL;
    CHECK(bad_it < 0, "%s problem %lld iteration %lld: inertia %.17g/%.17g shift %.9g/%.9g changed %lld/%lld empty "
          "%lld/%lld (certified/reference)", what, (long long)q, (long long)bad_it, a ? a->inertia : 0,
          b ? b->inertia : 0, a ? a->shift : 0, b ? b->shift : 0, a ? (long long)a->changed : 0LL, b ? (long long)b->changed : 0LL,
          a ? (long long)a->empty : 0LL, b ? (long long)b->empty : 0LL);
    CHECK(resc_bad < 0, "%s problem %lld iteration %lld: rescored %lld outside [0, %lld]", what, (long long)q,
          (long long)resc_bad, resc_bad >= 0 ? (long long)c->stats[resc_bad].rescored : 0LL, (long long)n);
    CHECK(ref_resc == 0, "%s problem %lld: the reference (FKM_CU_CERT=0) reports %lld re-scored points", what,
          (long long)q, (long long)ref_resc);
    CHECK(c->precision == FKM_PREC_EXACT && c->device == FKM_DEVICE_CUDA, "%s: ran %s on %s", what,
          fkm_precision_str(c->precision), fkm_device_str(c->device));
}

/* A fit both ways (FKM_STOP_FIXED, `iters` iterations from the given centroids). Returns the
 * points the certified run re-scored in its first iteration (all problems). */
static int64_t fit_both(const char *what, const dataset *s, int metric, int iters) {
    fkm_result *rc = calloc((size_t)s->b, sizeof(fkm_result)), *rr = calloc((size_t)s->b, sizeof(fkm_result));
    char ec[400] = "";
    fkm_status sc = run_fit(s, metric, iters, CERT, rc);
    if (sc != FKM_OK) snprintf(ec, sizeof ec, "%s", fkm_last_error());
    fkm_status sr = run_fit(s, metric, iters, REF, rr);
    CHECK(sc == FKM_OK && sr == FKM_OK, "%s: fit certified '%s', reference '%s'", what, ec,
          sr == FKM_OK ? "" : fkm_last_error());
    int64_t resc = 0;
    if (sc == FKM_OK && sr == FKM_OK)
        for (int64_t q = 0; q < s->b; q++) {
            char w[256];
            snprintf(w, sizeof w, "%s fit", what);
            cmp_results(w, q, &rc[q], &rr[q], s);
            oracle_check(w, s->x64 + q * s->n * s->d, s->n, s->d, rc[q].centroids, s->k, metric, rc[q].labels, NULL);
            if (rc[q].iterations > 0) resc += rc[q].stats[0].rescored;
        }
    for (int64_t q = 0; q < s->b; q++) { fkm_result_free(&rc[q]); fkm_result_free(&rr[q]); }
    free(rc); free(rr);
    return resc;
}

/* fkm_predict both ways: labels and distances bit for bit, and against the oracle. The labels of
 * each run are copied out when asked for (b * n each). */
/* The other entry points in the default (certified) mode: fkm_score gives the reference's bits,
 * and fkm_transform's distance at the reference's label lr is the smallest of its row (transform
 * adds |x|^2 to the SIMT kernel's own score, a monotone step, so a lower index may only tie it).
 * Transform only where n k is small enough to hold. */
static void score_and_transform(const char *what, const dataset *s, int metric, const int32_t *lr) {
    const int64_t n = s->b * s->n, k = s->k;
    fkm_params p;
    base_params(&p, s, metric, 1);
    fkm_matrix m = {s->x32, FKM_F32, n, s->d, NULL};
    double sc = 0, sr = 0;
    set_mode(REF);
    fkm_status st = fkm_score(&p, &m, s->c0, k, &sr);
    set_mode(CERT);
    if (st == FKM_OK) st = fkm_score(&p, &m, s->c0, k, &sc);
    CHECK(st == FKM_OK, "%s score: %s", what, fkm_last_error());
    CHECK(st != FKM_OK || memcmp(&sc, &sr, sizeof sc) == 0, "%s score: certified %.17g, reference %.17g", what, sc, sr);
    if (n * k > ((int64_t)1 << 24)) return;
    float *all = malloc((size_t)(n * k) * sizeof(float));
    st = fkm_transform(&p, &m, s->c0, k, all);
    CHECK(st == FKM_OK, "%s transform: %s", what, fkm_last_error());
    int64_t above = 0, tied = 0, first = -1;
    for (int64_t i = 0; st == FKM_OK && i < n; i++) {
        int64_t b = 0;
        for (int64_t c = 1; c < k; c++)
            if (all[i * k + c] < all[i * k + b]) b = c;
        if (all[i * k + lr[i]] > all[i * k + b] && above++ == 0) first = i;
        tied += b != lr[i] && all[i * k + lr[i]] == all[i * k + b];
    }
    CHECK(above == 0, "%s transform: at %lld rows (first %lld) the reference's label is not the row's smallest "
          "distance", what, (long long)above, (long long)first);
    transform_ties += tied;
    free(all);
}

static void predict_both(const char *what, const dataset *s, int metric, int32_t *lab_cert, int32_t *lab_ref) {
    const int64_t n = s->b * s->n;
    int32_t *lc = malloc((size_t)n * sizeof(int32_t)), *lr = malloc((size_t)n * sizeof(int32_t));
    float *dc = malloc((size_t)n * sizeof(float)), *dr = malloc((size_t)n * sizeof(float));
    fkm_status sc = run_predict(s, metric, CERT, lc, dc);
    CHECK(sc == FKM_OK, "%s: certified predict: %s", what, fkm_last_error());
    fkm_status sr = run_predict(s, metric, REF, lr, dr);
    CHECK(sr == FKM_OK, "%s: reference predict: %s", what, fkm_last_error());
    if (sc == FKM_OK && sr == FKM_OK) {
        int64_t first, nd = count_diff(lc, lr, n, &first);
        CHECK(nd == 0, "%s predict: %lld labels differ (first row %lld: %d certified, %d reference)", what,
              (long long)nd, (long long)first, nd ? lc[first] : 0, nd ? lr[first] : 0);
        CHECK(memcmp(dc, dr, (size_t)n * sizeof(float)) == 0, "%s predict: distances differ", what);
        char w[256];
        snprintf(w, sizeof w, "%s predict", what);
        oracle_check(w, s->x64, n, s->d, s->c0, s->k, metric, lc, dc);
        if (lab_cert) memcpy(lab_cert, lc, (size_t)n * sizeof(int32_t));
        if (lab_ref) memcpy(lab_ref, lr, (size_t)n * sizeof(int32_t));
        score_and_transform(what, s, metric, lr);
    }
    free(lc); free(lr); free(dc); free(dr);
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

/* Wall time of one fit certified and one on the reference, each after a warm-up run: printed,
 * never asserted. */
static void time_fit_both(const char *what, const dataset *s, int metric, int iters) {
    double ms[2] = {0, 0};
    for (int mode = REF; mode <= CERT; mode++) {
        fkm_result *r = calloc((size_t)s->b, sizeof(fkm_result));
        fkm_status st = run_fit(s, metric, iters, mode, r);
        for (int64_t q = 0; q < s->b; q++) fkm_result_free(&r[q]);
        const double t0 = now_ms();
        st = st == FKM_OK ? run_fit(s, metric, iters, mode, r) : st;
        ms[mode] = now_ms() - t0;
        CHECK(st == FKM_OK, "%s: timed %s fit: %s", what, mode_str[mode], fkm_last_error());
        for (int64_t q = 0; q < s->b; q++) fkm_result_free(&r[q]);
        free(r);
    }
    printf("timing %s (n=%lld d=%lld k=%lld, %d iterations): certified %.2f ms, reference %.2f ms, "
           "certified/reference %.2f\n", what, (long long)(s->b * s->n), (long long)s->d, (long long)s->k, iters,
           ms[CERT], ms[REF], ms[REF] > 0 ? ms[CERT] / ms[REF] : 0.0);
}

/* ---------------------------------------------------------------- 1. blobs, 3. metrics, weights, batches */

static void test_blobs(int64_t b, int64_t n, int64_t d, int64_t k, int metric, int weighted) {
    dataset s;
    ds_blobs(&s, b, n, d, k, 0.0f, weighted);
    char what[160];
    snprintf(what, sizeof what, "blobs b=%lld n=%lld d=%lld k=%lld %s%s", (long long)b, (long long)n, (long long)d,
             (long long)k, fkm_metric_str((fkm_metric)metric), weighted ? " weighted" : "");
    predict_both(what, &s, metric, NULL, NULL);
    blob_resc += fit_both(what, &s, metric, 4);
    blob_pts += b * n;
    ds_free(&s);
}

/* ---------------------------------------------------------------- 2. ties */

/* Rows whose float64 distances to their two nearest centroids tie exactly (x64 against c0). */
static int64_t exact_ties(const dataset *s, int metric, int32_t *oracle_lab, unsigned char *tie) {
    const int64_t n = s->b * s->n;
    double *c64 = malloc((size_t)(s->k * s->d) * sizeof(double)), *best = malloc((size_t)n * sizeof(double)),
           *second = malloc((size_t)n * sizeof(double));
    for (int64_t i = 0; i < s->k * s->d; i++) c64[i] = s->c0[i];
    ref_assign(s->x64, n, s->d, c64, s->k, metric, oracle_lab, best, second);
    int64_t nt = 0;
    for (int64_t i = 0; i < n; i++) nt += (tie[i] = best[i] == second[i]);
    free(c64); free(best); free(second);
    return nt;
}

/* Every exact tie goes to the lowest index (the oracle's label), in both runs. On this data an exact
 * tie is one of the SIMT kernel's fp32 scores too, and such a point is never certified: with c the
 * other tied centroid (or c = the label when i1 is neither), s(i1) >= s(c) >= lo_c - 2u|lo_c| >=
 * l2 - 2u|l2|, so s(i1) < l2 - 2u|l2| fails. The certified run therefore re-scores at least as many
 * points in its first iteration. all: every label must be the oracle's, tie or not (data whose
 * float32 scores are exact). */
static void check_ties(const char *what, const dataset *s, int metric, int64_t resc0, int all) {
    const int64_t n = s->b * s->n;
    int32_t *lo = malloc((size_t)n * sizeof(int32_t)), *lc = malloc((size_t)n * sizeof(int32_t)),
            *lr = malloc((size_t)n * sizeof(int32_t));
    unsigned char *tie = malloc((size_t)n);
    const int64_t nt = exact_ties(s, metric, lo, tie);
    for (int64_t i = 0; i < n; i++) lc[i] = lr[i] = -1;
    predict_both(what, s, metric, lc, lr);
    int64_t wc = 0, wr = 0;
    for (int64_t i = 0; i < n; i++)
        if (tie[i] || all) { wc += lc[i] != lo[i]; wr += lr[i] != lo[i]; }
    CHECK(nt > 0, "%s: the data has no exact tie", what);
    CHECK(wc == 0 && wr == 0, "%s: %lld (certified) and %lld (reference) labels not the oracle's, of %lld %s "
          "(%lld exact ties: lowest index)", what, (long long)wc, (long long)wr, (long long)(all ? n : nt),
          all ? "rows" : "exact ties", (long long)nt);
    if (hopper && resc0 >= 0)
        CHECK(resc0 >= nt, "%s: %lld exact ties but only %lld points re-scored", what, (long long)nt, (long long)resc0);
    free(lo); free(lc); free(lr); free(tie);
}

/* P pairs of centroids mirrored in one coordinate (c and c with feature p % d negated, in random
 * order); each point lies near one pair with that feature 0 (an exact tie in float32 and float64),
 * about 1e-7 (a tie in float32 up to rounding) or about 1e-4 of the centroid's value (inside the
 * fp16 bound). */
static void test_mirror(int64_t n, int64_t d, int64_t P, int metric) {
    dataset s;
    ds_alloc(&s, 1, n, d, 2 * P);
    uint64_t r = next_seed++;
    for (int64_t p = 0; p < P; p++) {
        float *c = s.c0 + 2 * p * d;
        for (int64_t j = 0; j < d; j++) c[j] = (float)(gen_normal(&r) * 4.0);
        const int64_t j = p % d;
        c[j] = (float)((gen_unif(&r) < 0.5 ? -1 : 1) * (1.0 + 3.0 * gen_unif(&r)));
        memcpy(c + d, c, (size_t)d * sizeof(float));
        c[(gen_unif(&r) < 0.5 ? 0 : d) + j] *= -1.0f;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t p = (int64_t)(gen_next(&r) % (uint64_t)P), j = p % d;
        const float *c = s.c0 + (2 * p + (int64_t)(gen_next(&r) & 1)) * d;
        float *x = s.x32 + i * d;
        for (int64_t q = 0; q < d; q++) x[q] = c[q] + (float)(0.3 * gen_normal(&r));
        const double sg = gen_unif(&r) < 0.5 ? -1 : 1, mag = fabs(c[j]) * (1 + gen_unif(&r));
        x[j] = i % 3 == 0 ? 0.0f : (float)(sg * mag * (i % 3 == 1 ? 1e-7 : 1e-4));
    }
    ds_sync64(&s);
    char what[128];
    snprintf(what, sizeof what, "mirrored pairs n=%lld d=%lld k=%lld %s", (long long)n, (long long)d,
             (long long)s.k, fkm_metric_str((fkm_metric)metric));
    const int64_t resc0 = fit_both(what, &s, metric, 4); /* iteration 0 assigns to the mirrored pairs */
    check_ties(what, &s, metric, resc0, 0);
    ds_free(&s);
}

/* Integer points and centroids, no zero coordinate, |v| <= vmax. vmax = 40 (d = 3): every float32
 * score is exact, so every exact tie is one in the SIMT kernel too, and the lowest index must win
 * (checked against the oracle). Larger vmax: fp16 no longer holds the values (identity and the
 * margin only). */
static void test_grid(int64_t n, int64_t d, int64_t k, int vmax, int metric) {
    dataset s;
    ds_alloc(&s, 1, n, d, k);
    uint64_t r = next_seed++;
    for (int64_t i = 0; i < n * d + k * d; i++) {
        const float v = (float)((gen_unif(&r) < 0.5 ? -1 : 1) * (1 + (int)(gen_next(&r) % (uint64_t)vmax)));
        if (i < n * d) s.x32[i] = v; else s.c0[i - n * d] = v;
    }
    ds_sync64(&s);
    char what[128];
    snprintf(what, sizeof what, "integer grid |v|<=%d n=%lld d=%lld k=%lld %s", vmax, (long long)n, (long long)d,
             (long long)k, fkm_metric_str((fkm_metric)metric));
    const int64_t resc0 = fit_both(what, &s, metric, 4);
    if (vmax <= 40) check_ties(what, &s, metric, resc0, 1);
    else predict_both(what, &s, metric, NULL, NULL);
    ds_free(&s);
}

/* Two identical rows of centroids: the higher index never wins (and starts empty). */
static void test_duplicates(int64_t n, int64_t d, int64_t k) {
    dataset s;
    ds_blobs(&s, 1, n, d, k, 0.0f, 0);
    const int64_t dup[][2] = {{5, 20}, {0, k - 1}, {11, 12}};
    for (int q = 0; q < 3; q++) memcpy(s.c0 + dup[q][1] * d, s.c0 + dup[q][0] * d, (size_t)d * sizeof(float));
    char what[128];
    snprintf(what, sizeof what, "duplicated centroids n=%lld d=%lld k=%lld", (long long)n, (long long)d, (long long)k);
    int32_t *lc = malloc((size_t)n * sizeof(int32_t)), *lr = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) lc[i] = lr[i] = -1;
    predict_both(what, &s, 0, lc, lr);
    int64_t wc = 0, wr = 0;
    for (int64_t i = 0; i < n; i++)
        for (int q = 0; q < 3; q++) { wc += lc[i] == dup[q][1]; wr += lr[i] == dup[q][1]; }
    CHECK(wc == 0 && wr == 0, "%s: %lld (certified) and %lld (reference) points took the higher duplicate", what,
          (long long)wc, (long long)wr);
    fkm_result rc;
    fkm_status st = run_fit(&s, 0, 1, CERT, &rc);
    CHECK(st == FKM_OK && rc.stats[0].empty >= 3, "%s: certified fit '%s', %lld empty clusters (3 duplicates)", what,
          st == FKM_OK ? "" : fkm_last_error(), st == FKM_OK ? (long long)rc.stats[0].empty : -1LL);
    if (st == FKM_OK) fkm_result_free(&rc);
    fit_both(what, &s, 0, 4);
    free(lc); free(lr);
    ds_free(&s);
}

/* Blobs 1000 away from the origin on every coordinate: the fp16 rounding of |x| |c| dwarfs the
 * gaps between centroids, so nearly every point is re-scored -- and the bits stay the SIMT
 * kernel's. */
static void test_offset(int64_t n, int64_t d, int64_t k, int timing) {
    dataset s;
    ds_blobs(&s, 1, n, d, k, 1000.0f, 0);
    char what[128];
    snprintf(what, sizeof what, "offset +1000 n=%lld d=%lld k=%lld", (long long)n, (long long)d, (long long)k);
    predict_both(what, &s, 0, NULL, NULL);
    const int64_t resc0 = fit_both(what, &s, 0, 4);
    printf("%s: %lld of %lld points re-scored in the first iteration (%.3f)\n", what, (long long)resc0, (long long)n,
           (double)resc0 / (double)n);
    if (hopper)
        CHECK(resc0 >= n / 2, "%s: only %lld of %lld points re-scored in the first iteration", what, (long long)resc0,
              (long long)n);
    if (timing) time_fit_both(what, &s, 0, 10);
    ds_free(&s);
}

/* ---------------------------------------------------------------- 4. the bound halved */

/* The premise, on the host, for 1-D data and k centroids: the SIMT kernel's scores
 * s(c) = fma(-2, fl(x c), t_c), t_c = fl(c^2); the fp16 pass's s^(c) = fl(t_c - 2 X~ C~) (X~, C~
 * the fp16 roundings; the power-of-two scale sigma changes no relative rounding while everything
 * stays a normal fp16 number); and the certificate of docs/certified.md (version 2) with its bound
 * multiplied by f: lo_c = fl(s^(c) - f R n_c), i1 = argmin lo (ties to the lowest index), l2 the
 * second smallest lo, and i1 passes iff s(i1) < l2 - 2u|l2| (l2 = +inf: no rival, passes). Every
 * product and difference below is exact in double before its one rounding to float (f R n_c up to
 * a double rounding, far below the float rounding that follows). */
typedef struct {
    int64_t flips;     /* points whose fp16 argmin (of s^) differs from the fp32 argmin */
    int64_t esc_doc;   /* wrong labels the certificate passes at f = 0.5, with the documented R_x */
    int64_t esc_worst; /* the same with the worst-case R_x (e_x = 2^-11 |x|, r = 2^-11): a looser bound */
    int64_t bad;       /* wrong labels it passes at f = 1: must be none (the sim's own sanity) */
    int64_t unproven;  /* points it leaves uncertified at f = 1: about the GPU's re-scored count (printed) */
    double reach[2];   /* over the flipped points, how far the fp32 winner's s^ sits above the exact score
                          of the fp16 winner, (s^(c*) - s(i)) / (R n_c*): smallest and largest. Above 0.5 a
                          halved bound passes the wrong label; the full bound is sound only if it stays
                          below 1 (it is at most c*'s own error over R n_c*) */
    int32_t *lab32;    /* the fp32 labels */
} sim_out;

static int sim_certify(const double *sh, const double *s32, const double *nc, int64_t k, double R, double f,
                       int *i1) {
    const double u = 0x1p-24, fr = (float)(f * R);
    double l1 = INFINITY, l2 = INFINITY;
    *i1 = 0;
    for (int64_t c = 0; c < k; c++) {
        const double lo = (float)(sh[c] - fr * nc[c]);
        if (lo < l1) { l2 = l1; l1 = lo; *i1 = (int)c; }
        else if (lo < l2) l2 = lo;
    }
    return l2 == INFINITY || s32[*i1] < l2 - 2 * u * fabs(l2);
}

static void sim_1d(const float *x, int64_t n, const float *cf, int64_t k, sim_out *o) {
    const double u = 0x1p-24, u16 = 0x1p-11, gd = u / (1 - u), etc = 64 * 0x1p-22; /* d = 1: D' = 64 */
    const double k1 = gd + u * (1 + gd), k2 = etc + u * (1 + etc), grow = 1 + 0x1p-20;
    double *t = malloc((size_t)k * sizeof(double)), *ch = malloc((size_t)k * sizeof(double)),
           *nc = malloc((size_t)k * sizeof(double)), *s32 = malloc((size_t)k * sizeof(double)),
           *sh = malloc((size_t)k * sizeof(double));
    double r = 0, tau = 0;
    for (int64_t c = 0; c < k; c++) {
        t[c] = (float)((double)cf[c] * cf[c]);
        ch[c] = h2f(f2h(cf[c]));
        nc[c] = fmax(fabs(cf[c]), fabs(ch[c]));
        r = fmax(r, fabs(ch[c] - cf[c]) / nc[c]);
        tau = fmax(tau, fabs(t[c]) / nc[c]);
    }
    memset(o, 0, sizeof *o);
    o->reach[0] = INFINITY;
    o->lab32 = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        const double xv = x[i], xh = h2f(f2h(x[i]));
        int l32 = 0, lh = 0;
        for (int64_t c = 0; c < k; c++) {
            s32[c] = (float)(t[c] - 2.0 * (double)(float)(xv * cf[c]));
            sh[c] = (float)(t[c] - 2.0 * xh * ch[c]);
            if (s32[c] < s32[l32]) l32 = (int)c;
            if (sh[c] < sh[lh]) lh = (int)c;
        }
        o->lab32[i] = l32;
        const double a = fabs(xv), bx = fabs(xh), e = fabs(xh - xv);
        const double Rdoc = (2 * (k1 * a + k2 * bx + e + r * bx) + 2 * u * tau) * grow;
        const double Rworst = (2 * (k1 * a + k2 * bx + u16 * a + u16 * bx) + 2 * u * tau) * grow;
        int j;
        if (sim_certify(sh, s32, nc, k, Rdoc, 1.0, &j)) o->bad += j != l32;
        else o->unproven++;
        if (sim_certify(sh, s32, nc, k, Rdoc, 0.5, &j) && j != l32) o->esc_doc++;
        if (sim_certify(sh, s32, nc, k, Rworst, 0.5, &j) && j != l32) o->esc_worst++;
        if (lh != l32) {
            o->flips++;
            const double g = (sh[l32] - s32[lh]) / (Rdoc * nc[l32]);
            o->reach[0] = fmin(o->reach[0], g);
            o->reach[1] = fmax(o->reach[1], g);
        }
    }
    free(t); free(ch); free(nc); free(s32); free(sh);
}

/* Data: 20000 points in fp32 steps over a window of relative width ~4e-3 around the tie point
 * x0 = (b - a) / 2 of the centroids -a and b, and one point at 4 (so max|x| = 4: sigma = 2^11,
 * all values normal in fp16). a = 1 + 2^-11 + 7 2^-20 and b = 1 + 17 2^-10 + 2^-11 + 2^-20 both
 * round up in magnitude, by almost 2^-11 relative (the most fp16 can; -a's ratio m_c / n_c is the
 * larger: it is the problem's r). x0 = 17 2^-11 - 3 2^-20 sits 3/8 of an fp16 step below the fp16
 * value 17 2^-11, so the points just below x0 (the -a side: -a is the exact winner) round up past
 * it as well. For those points the winner's own error s^(-a) - s(-a) = 2 (a dx + X~ |dc|) has both
 * terms at nearly their full size, r included, and the same sign: nearly R_x n_(-a) (the kappa
 * terms and 2u tau are the rest). The rounding of b pulls s^(b) down, so the fp16 pass ranks b
 * first (i1 = b), and where the exact gap s(b) - s(-a) is less than about half of R_x n_(-a), the
 * exact s(b) still lies below l2 = lo_(-a) with the bound halved: a wrong label passes. With the
 * full bound none can (l2 - 2u|l2| <= s(-a) <= s(b)). */
static void half_bound_data(dataset *s, int64_t nw) {
    const double a = 1 + 0x1p-11 + 7 * 0x1p-20, b = 1 + 17 * 0x1p-10 + 0x1p-11 + 0x1p-20, x0 = (b - a) / 2;
    ds_alloc(s, 1, nw + 1, 1, 2);
    s->c0[0] = (float)-a;
    s->c0[1] = (float)b;
    CHECK((double)s->c0[0] == -a && (double)s->c0[1] == b && (double)(float)x0 == x0,
          "half bound: a, b, x0 not floats");
    const double up_a = h2f(f2h(s->c0[0])) + a, up_b = h2f(f2h(s->c0[1])) - b;
    CHECK(up_a < 0 && up_b > 0 && -up_a / a > 0.95 * 0x1p-11 && up_b / b > 0.95 * 0x1p-11,
          "half bound: fp16 rounds -a by %g and b by %g relative, not both up by nearly 2^-11", -up_a / a, up_b / b);
    const float xf = (float)x0;
    const double ulp = (double)nextafterf(xf, INFINITY) - x0;
    int64_t step = (int64_t)(4e-3 * x0 / ulp / (double)nw + 0.5);
    if (step < 1) step = 1;
    uint32_t bits;
    memcpy(&bits, &xf, 4);
    bits -= (uint32_t)(nw / 2 * step);
    for (int64_t i = 0; i < nw; i++, bits += (uint32_t)step) memcpy(&s->x32[i], &bits, 4);
    s->x32[nw] = 4.0f;
    ds_sync64(s);
}

/* The simulation on the test's data: flips exist, a halved bound passes wrong labels, the full
 * bound none. */
static void half_bound_premise(const dataset *s, sim_out *sim) {
    const int64_t n = s->n, nw = n - 1;
    sim_1d(s->x32, n, s->c0, 2, sim);
    printf("half-bound premise (host simulation, window [%.9g, %.9g]): %lld of %lld points flip under the fp16 "
           "scores; with the bound halved the certificate passes %lld wrong labels (documented bound), %lld "
           "(worst-case bound); at the full bound %lld, and it leaves %lld unproven; on the flipped points the fp32 "
           "winner's s^ lies %.3f .. %.3f of its bound above the fp16 winner's exact score\n",
           s->x32[0], s->x32[nw - 1], (long long)sim->flips, (long long)n, (long long)sim->esc_doc,
           (long long)sim->esc_worst, (long long)sim->bad, (long long)sim->unproven, sim->reach[0], sim->reach[1]);
    CHECK(sim->flips > 0, "half bound: the simulation finds no point whose fp16 order differs from the fp32 order");
    CHECK(sim->esc_doc > 0 && sim->esc_worst > 0,
          "half bound: the simulation finds no wrong label a halved bound would pass (%lld, %lld)",
          (long long)sim->esc_doc, (long long)sim->esc_worst);
    CHECK(sim->bad == 0 && sim->reach[1] <= 1.0,
          "half bound: the simulated bound fails on its own data (%lld, reach %g)", (long long)sim->bad, sim->reach[1]);
}

static void test_half_bound(void) {
    dataset s;
    half_bound_data(&s, 20000);
    const int64_t n = s.n;
    sim_out sim;
    half_bound_premise(&s, &sim);

    /* Scale 1 against the reference: fkm_predict, fkm_fit with freeze_init (the labels of the given
     * centroids) and one fit iteration (its first assignment is to the given centroids: the
     * re-scored count). */
    int32_t *lr = malloc((size_t)n * sizeof(int32_t)), *lh = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) lr[i] = -1;
    predict_both("half bound (scale 1)", &s, 0, NULL, lr);
    s.freeze = 1;
    fit_both("half bound (scale 1, frozen)", &s, 0, 1);
    s.freeze = 0;
    const int64_t resc = fit_both("half bound (scale 1)", &s, 0, 1);
    int64_t first, sim_diff = count_diff(lr, sim.lab32, n, &first);
    printf("half bound: the reference's labels differ from the simulated fp32 labels in %lld rows; scale 1 "
           "re-scored %lld of %lld points (simulation: %lld)\n", (long long)sim_diff, (long long)resc, (long long)n,
           (long long)sim.unproven);
    if (hopper) CHECK(resc > 0, "half bound: nothing re-scored at scale 1 (%lld)", (long long)resc);

    /* The bound halved: labels of the given centroids by predict and by the frozen fit; the
     * one-iteration fit's first-iteration statistics for the record. */
    fkm_result rh, rr, ih, ir;
    s.freeze = 1;
    fkm_status sh = run_fit(&s, 0, 1, HALF, &rh), sr = run_fit(&s, 0, 1, REF, &rr);
    s.freeze = 0;
    fkm_status si = run_fit(&s, 0, 1, HALF, &ih), sj = run_fit(&s, 0, 1, REF, &ir);
    fkm_status sp = run_predict(&s, 0, HALF, lh, NULL);
    CHECK(sh == FKM_OK && sr == FKM_OK && si == FKM_OK && sj == FKM_OK && sp == FKM_OK,
          "half bound: runs at scale 0.5: %s", fkm_last_error());
    if (sh == FKM_OK && sr == FKM_OK && si == FKM_OK && sj == FKM_OK && sp == FKM_OK) {
        int64_t f2, dfit = count_diff(rh.labels, rr.labels, n, &f2), dpred = count_diff(lh, lr, n, &f2);
        printf("half bound: with FKM_CU_CERT_SCALE=0.5, %lld (predict) and %lld (frozen fit) of %lld labels differ "
               "from the reference (simulation: %lld); one iteration: re-scored %lld, inertia %.17g against %.17g\n",
               (long long)dpred, (long long)dfit, (long long)n, (long long)sim.esc_doc,
               (long long)ih.stats[0].rescored, ih.stats[0].inertia, ir.stats[0].inertia);
        if (hopper)
            CHECK(dfit > 0 && dpred > 0,
                  "half bound: no label changed with the bound halved (predict %lld, frozen fit %lld): the bound is "
                  "not tight, or the certificate does not use it", (long long)dpred, (long long)dfit);
    }
    if (sh == FKM_OK) fkm_result_free(&rh);
    if (sr == FKM_OK) fkm_result_free(&rr);
    if (si == FKM_OK) fkm_result_free(&ih);
    if (sj == FKM_OK) fkm_result_free(&ir);
    free(lr); free(lh); free(sim.lab32);
    ds_free(&s);
}

/* ---------------------------------------------------------------- main */

static int gpu_is_hopper(void) {
#ifdef FKM_HAVE_CUDA
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) return prop.major == 9;
#endif
    return 0;
}

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    const int small = getenv("FKM_TEST_SMALL") && atoi(getenv("FKM_TEST_SMALL"));
    hopper = gpu_is_hopper();
    if (!hopper) printf("not an sm_90 GPU: exact runs the SIMT kernel both ways; Hopper-only checks skipped\n");
    set_mode(CERT);

    /* 4 first: the test that must be able to fail */
    test_half_bound();

    /* 1. blobs: fp16 pass resident (k <= 256) or streamed (k > 256), n on both sides of 2^15 */
    const int64_t dims[] = {1, 3, 64, 127, 128}, ks[] = {1, 2, 37, 300, 1024}, ns[] = {3000, 40000};
    for (int di = 0; di < 5; di++)
        for (int ki = 0; ki < 5; ki++)
            for (int ni = 0; ni < 2; ni++) {
                if (small && (di % 2 || ki % 2 || ni)) continue;
                test_blobs(1, ns[ni], dims[di], ks[ki], 0, 0);
            }
    test_blobs(1, 3000, 200, 100, 0, 0); /* d > 128: the resident kernel only */
    test_blobs(1, 40000, 200, 100, 0, 0);
    test_blobs(1, 3000, 256, 256, 0, 0);
    test_blobs(1, 3000, 200, 300, 0, 0);  /* d > 128 and k > 256: SIMT fallback */
    test_blobs(1, 3000, 4096, 37, 0, 0);  /* SIMT fallback */
    test_blobs(1, 2000, 3, 2000, 0, 0);   /* k = n */
    if (!small) test_blobs(1, 2000, 64, 2000, 0, 0);
    printf("blobs: %lld of %lld points re-scored in the first iteration (%.4f)\n", (long long)blob_resc,
           (long long)blob_pts, blob_pts ? (double)blob_resc / (double)blob_pts : 0.0);

    /* 2. ties, far data */
    test_mirror(3000, 8, 20, 0);
    test_mirror(40000, 64, 150, 0);
    test_mirror(3000, 16, 20, 2);
    test_grid(3000, 3, 37, 40, 0);
    test_grid(40000, 3, 300, 40, 0);
    test_grid(40000, 2, 300, 2800, 0);
    test_duplicates(3000, 16, 37);
    test_duplicates(40000, 16, 300);
    test_offset(40000, 32, 50, 1);
    if (!small) test_offset(40000, 64, 300, 0);

    /* 3. cosine and inner product, weights, batches (fkm_fit_batch, b = 3); predict runs in every case */
    for (int metric = 1; metric <= 2; metric++) {
        test_blobs(1, 3000, 64, 37, metric, 0);
        test_blobs(1, 40000, 64, 300, metric, 1);
        test_blobs(1, 3000, 3, 37, metric, 1);
        if (!small) {
            test_blobs(1, 40000, 128, 1024, metric, 0);
            test_blobs(1, 3000, 200, 100, metric, 0);
        }
    }
    test_blobs(1, 40000, 64, 37, 0, 1);
    test_blobs(1, 3000, 127, 300, 0, 1);
    test_blobs(3, 3000, 64, 37, 0, 1);
    test_blobs(3, 15000, 32, 300, 1, 0);
    test_blobs(3, 40000, 16, 50, 2, 1);

    printf("transform: %lld rows where a lower centroid index ties the label's distance after |x|^2 is added\n",
           (long long)transform_ties);

    if (!small) { /* for contrast with the offset case: centred blobs */
        dataset s;
        ds_blobs(&s, 1, 200000, 128, 1024, 0.0f, 0);
        time_fit_both("centred blobs", &s, 0, 10);
        ds_free(&s);
    }
    return check_report();
}
