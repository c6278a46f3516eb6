/* test_capped.c -- fkm_params.max_cluster_size (docs/algorithm.md, "Capped cluster sizes"):
 * the cap is never exceeded (random data, cap * k == n, duplicated points, weights, every metric),
 * the reported inertias are those of the labels, 1/2/3 threads give the same bits, a cap that
 * never binds gives the uncapped fit's bits, the greedy against a brute-force optimum on tiny
 * problems (optimal for k <= 2 and where the cap does not bind; the gap for k = 3 is printed and
 * bounded), refusals, and predict/score unaffected. */
#include "check.h"
#include "gen.h"

#include <flashkmeans.h>
#include "cpu/capped.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fkm_params base(int64_t k, int64_t cap, int threads) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.max_cluster_size = cap;
    p.device = FKM_DEVICE_CPU;
    p.threads = threads;
    p.seed = 7;
    return p;
}

static int64_t largest(const fkm_result *r, int64_t *sizes) {
    int64_t most = 0;
    memset(sizes, 0, (size_t)r->k * sizeof *sizes);
    for (int64_t i = 0; i < r->n; i++) sizes[r->labels[i]]++;
    for (int64_t c = 0; c < r->k; c++) most = sizes[c] > most ? sizes[c] : most;
    return most;
}

/* sum_i w_i dist(x_i, c_{labels_i}) in float64 with the metric's distance. */
static double inertia_of(const float *x, const float *w, int64_t n, int64_t d, const float *c, const int32_t *lab,
                         fkm_metric metric) {
    double tot = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0, dot = 0, nx = 0;
        for (int64_t j = 0; j < d; j++) {
            double a = x[i * d + j], b = c[lab[i] * d + j];
            s += (a - b) * (a - b);
            dot += a * b;
            nx += a * a;
        }
        double v = metric == FKM_METRIC_L2 ? s : metric == FKM_METRIC_COSINE ? 1.0 - dot / sqrt(nx) : -dot;
        if (metric == FKM_METRIC_COSINE && v < 0) v = 0;
        tot += (w ? w[i] : 1.0) * v;
    }
    return tot;
}

static int same_result(const fkm_result *a, const fkm_result *b) {
    if (a->iterations != b->iterations || a->inertia != b->inertia ||
        a->inertia_unconstrained != b->inertia_unconstrained || a->stop_reason != b->stop_reason)
        return 0;
    if (memcmp(a->centroids, b->centroids, (size_t)(a->k * a->d) * sizeof(float))) return 0;
    if (memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t))) return 0;
    for (int t = 0; t < a->iterations; t++)
        if (a->stats[t].inertia != b->stats[t].inertia || a->stats[t].shift != b->stats[t].shift ||
            a->stats[t].changed != b->stats[t].changed || a->stats[t].empty != b->stats[t].empty)
            return 0;
    return 1;
}

/* A fit with its checks: cap held, inertia = that of the labels, unconstrained = fkm_score. */
static void fit_and_check(const char *what, fkm_params p, const float *x, const float *w, int64_t n, int64_t d,
                          fkm_result *r) {
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_status st = fkm_fit(&p, &m, r);
    CHECK(st == FKM_OK, "%s: %s", what, fkm_last_error());
    if (st != FKM_OK) return;
    int64_t *sizes = calloc((size_t)p.k, sizeof *sizes);
    int64_t most = largest(r, sizes);
    CHECK(most <= p.max_cluster_size, "%s: a cluster holds %lld > cap %lld", what, (long long)most,
          (long long)p.max_cluster_size);
    if (p.max_cluster_size * p.k == n)
        for (int64_t c = 0; c < p.k; c++)
            CHECK(sizes[c] == p.max_cluster_size, "%s: cap*k == n but cluster %lld holds %lld", what, (long long)c,
                  (long long)sizes[c]);
    free(sizes);
    double ref = inertia_of(x, w, n, d, r->centroids, r->labels, p.metric);
    CHECK(fabs(r->inertia - ref) <= 1e-5 * fabs(ref) + 1e-6 * n, "%s: inertia %.12g, of the labels %.12g", what,
          r->inertia, ref);
    double score = 0;
    fkm_params q = p;
    CHECK(fkm_score(&q, &m, r->centroids, p.k, &score) == FKM_OK, "%s: score: %s", what, fkm_last_error());
    CHECK(score == r->inertia_unconstrained, "%s: unconstrained %.17g != fkm_score %.17g", what,
          r->inertia_unconstrained, score);
    CHECK(r->inertia_unconstrained <= r->inertia * (1 + 1e-12) + 1e-9, "%s: unconstrained %.12g > capped %.12g", what,
          r->inertia_unconstrained, r->inertia);
    /* predict ignores the cap: each point's nearest centroid */
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    CHECK(fkm_predict(&q, &m, r->centroids, p.k, lab, NULL) == FKM_OK, "%s: predict: %s", what, fkm_last_error());
    double unc = inertia_of(x, w, n, d, r->centroids, lab, p.metric);
    CHECK(fabs(unc - r->inertia_unconstrained) <= 1e-5 * fabs(unc) + 1e-6 * n, "%s: predict's inertia %.12g vs %.12g",
          what, unc, r->inertia_unconstrained);
    free(lab);
}

static void test_random(void) {
    const int64_t d = 5;
    const int64_t shapes[][3] = {{200, 4, 50}, {200, 4, 51}, {200, 8, 25}, {203, 8, 26}, {1000, 10, 100},
                                 {1000, 10, 130}, {999, 7, 143}, {64, 64, 1}, {50, 3, 17}, {300, 2, 150}};
    const fkm_metric metrics[] = {FKM_METRIC_L2, FKM_METRIC_COSINE, FKM_METRIC_IP};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t n = shapes[s][0], k = shapes[s][1], cap = shapes[s][2];
        double *x64 = malloc((size_t)(n * d) * sizeof *x64);
        float *x = malloc((size_t)(n * d) * sizeof *x), *w = malloc((size_t)n * sizeof *w);
        gen_blobs(100 + s, n, d, 3, 1.0, x64, x); /* 3 blobs: k > 3 must split and cap them */
        uint64_t g = s;
        for (int64_t i = 0; i < n; i++) w[i] = (float)(gen_unif(&g) * 3.0);
        for (size_t mi = 0; mi < 3; mi++)
            for (int weighted = 0; weighted < 2; weighted++) {
                char what[96];
                snprintf(what, sizeof what, "n=%lld k=%lld cap=%lld %s%s", (long long)n, (long long)k, (long long)cap,
                         fkm_metric_str(metrics[mi]), weighted ? " weighted" : "");
                fkm_params p = base(k, cap, 2);
                p.metric = metrics[mi];
                fkm_result r;
                fit_and_check(what, p, x, weighted ? w : NULL, n, d, &r);
                fkm_result_free(&r);
            }
        free(x64); free(x); free(w);
    }
}

/* All points equal, or a few distinct rows repeated: every cluster still within the cap. */
static void test_duplicates(void) {
    const int64_t n = 120, d = 3;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    for (int kind = 0; kind < 3; kind++) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++)
                x[i * d + j] = kind == 0 ? 1.5f : kind == 1 ? (float)(i % 2) * 4.0f + (float)j : (float)((i * 7) % 5);
        const int64_t caps[][2] = {{4, 30}, {6, 20}, {5, 24}, {4, 40}, {3, 40}, {120, 1}};
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++)
            for (int init = 0; init < 2; init++) {
                char what[80];
                snprintf(what, sizeof what, "duplicates kind %d k=%lld cap=%lld init %s", kind, (long long)caps[c][0],
                         (long long)caps[c][1], init ? "random" : "kmeans++");
                fkm_params p = base(caps[c][0], caps[c][1], 2);
                p.init = init ? FKM_INIT_RANDOM : FKM_INIT_KMEANSPP;
                fkm_result r;
                fit_and_check(what, p, x, NULL, n, d, &r);
                fkm_result_free(&r);
            }
    }
    free(x);
}

/* The cap counts points, not weight: a heavy point is one point; zero-weight points count too. */
static void test_weights(void) {
    const int64_t n = 90, d = 2, k = 3, cap = 30;
    float *x = malloc((size_t)(n * d) * sizeof *x), *w = malloc((size_t)n * sizeof *w);
    uint64_t g = 5;
    for (int64_t i = 0; i < n; i++) {
        x[i * d] = (float)gen_normal(&g) * 0.1f; /* one blob: every cluster is forced to the cap */
        x[i * d + 1] = (float)gen_normal(&g) * 0.1f;
        w[i] = i % 3 == 0 ? 0.0f : i == 1 ? 1000.0f : 1.0f;
    }
    fkm_params p = base(k, cap, 1);
    fkm_result r;
    fit_and_check("weights with zeros and a heavy point", p, x, w, n, d, &r);
    fkm_result_free(&r);
    free(x); free(w);
}

/* 1, 2 and 3 threads: the same bits (capped labels, centroids, both inertias, stats). */
static void test_threads(void) {
    const int64_t n = 5000, d = 8, k = 16, cap = 320;
    double *x64 = malloc((size_t)(n * d) * sizeof *x64);
    float *x = malloc((size_t)(n * d) * sizeof *x), *w = malloc((size_t)n * sizeof *w);
    gen_blobs(42, n, d, 5, 0.8, x64, x);
    uint64_t g = 9;
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.5 + gen_unif(&g));
    for (int weighted = 0; weighted < 2; weighted++)
        for (int metric = 0; metric < 2; metric++) {
            fkm_result r[3];
            for (int t = 0; t < 3; t++) {
                fkm_params p = base(k, cap, t + 1);
                p.metric = metric ? FKM_METRIC_COSINE : FKM_METRIC_L2;
                p.n_init = 2;
                fit_and_check("threads", p, x, weighted ? w : NULL, n, d, &r[t]);
            }
            CHECK(same_result(&r[0], &r[1]) && same_result(&r[0], &r[2]),
                  "1/2/3 threads differ (weighted %d metric %d)", weighted, metric);
            CHECK(r[0].inertia > r[0].inertia_unconstrained, "the cap should bind here (%.9g vs %.9g)", r[0].inertia,
                  r[0].inertia_unconstrained);
            for (int t = 0; t < 3; t++) fkm_result_free(&r[t]);
        }
    free(x64); free(x); free(w);
}

/* A cap that never binds gives the uncapped fit bit for bit; the capped objective never rises
 * (beyond float rounding) from one iteration to the next, and the fit converges. */
static void test_loose_and_monotone(void) {
    const int64_t n = 3000, d = 4, k = 6;
    double *x64 = malloc((size_t)(n * d) * sizeof *x64);
    float *x = malloc((size_t)(n * d) * sizeof *x);
    gen_blobs(3, n, d, 6, 0.5, x64, x);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result plain, loose, atn;
    fkm_params p = base(k, 0, 2);
    CHECK(fkm_fit(&p, &m, &plain) == FKM_OK, "%s", fkm_last_error());
    int64_t *sizes = calloc((size_t)k, sizeof *sizes);
    int64_t most = largest(&plain, sizes);
    CHECK(plain.inertia_unconstrained == plain.inertia, "uncapped: unconstrained %.17g != %.17g",
          plain.inertia_unconstrained, plain.inertia);
    p.max_cluster_size = most; /* the uncapped fit's largest cluster: never binds on its path */
    CHECK(fkm_fit(&p, &m, &loose) == FKM_OK, "%s", fkm_last_error());
    CHECK(same_result(&plain, &loose), "cap = the largest uncapped cluster (%lld) changed the fit", (long long)most);
    p.max_cluster_size = n;
    CHECK(fkm_fit(&p, &m, &atn) == FKM_OK, "%s", fkm_last_error());
    CHECK(same_result(&plain, &atn), "cap = n changed the fit");
    fkm_result_free(&loose); fkm_result_free(&atn);

    p.max_cluster_size = most * 3 / 4 > (n + k - 1) / k ? most * 3 / 4 : (n + k - 1) / k;
    p.max_iter = 300;
    fkm_result r;
    fit_and_check("monotone", p, x, NULL, n, d, &r);
    for (int t = 1; t < r.iterations; t++)
        CHECK(r.stats[t].inertia <= r.stats[t - 1].inertia * (1 + 1e-6), "iteration %d: capped inertia rose %.9g -> %.9g",
              t, r.stats[t - 1].inertia, r.stats[t].inertia);
    for (int t = 0; t < r.iterations; t++)
        printf("  iteration %d: capped inertia %.9g, changed %lld, shift %.3g\n", t, r.stats[t].inertia,
               (long long)r.stats[t].changed, r.stats[t].shift);
    CHECK(r.stop_reason == FKM_STOPPED_CONVERGED, "capped fit did not converge in %d iterations", r.iterations);
    CHECK(largest(&r, sizes) <= p.max_cluster_size, "cap");
    printf("capped fit n=%lld k=%lld cap=%lld: %d iterations, inertia %.6g (unconstrained %.6g; uncapped fit %.6g)\n",
           (long long)n, (long long)k, (long long)p.max_cluster_size, r.iterations, r.inertia, r.inertia_unconstrained,
           plain.inertia);
    fkm_result_free(&r); fkm_result_free(&plain);
    free(sizes); free(x64); free(x);
}

/* The best assignment of n <= 8 points to k centroids with at most cap each, by enumeration. */
static double brute_force(const float *x, const float *w, int64_t n, int64_t d, const float *c, int64_t k, int64_t cap) {
    double best = INFINITY;
    int64_t total = 1;
    for (int64_t i = 0; i < n; i++) total *= k;
    int32_t lab[8];
    for (int64_t code = 0; code < total; code++) {
        int64_t v = code, cnt[8] = {0}, ok = 1;
        for (int64_t i = 0; i < n; i++) {
            lab[i] = (int32_t)(v % k);
            v /= k;
            if (++cnt[lab[i]] > cap) ok = 0;
        }
        if (!ok) continue;
        double s = inertia_of(x, w, n, d, c, lab, FKM_METRIC_L2);
        if (s < best) best = s;
    }
    return best;
}

/* The capped step alone: max_iter = 0 with frozen centroids assigns once, by the greedy. Small
 * integer coordinates make every float32 distance exact, so costs compare exactly. */
static void test_brute_force(void) {
    uint64_t g = 1234;
    double worst[4] = {1, 1, 1, 1};
    int nonopt[4] = {0}, cases[4] = {0};
    for (int trial = 0; trial < 600; trial++) {
        const int64_t k = 1 + trial % 3, n = 2 + (int64_t)(gen_next(&g) % 7), d = 2; /* n in [2, 8] */
        if (k > n) continue;
        const int64_t need = (n + k - 1) / k, cap = need + (int64_t)(gen_next(&g) % 2) * (trial % 5 == 0);
        float x[16], w[8], c[6];
        for (int64_t i = 0; i < n * d; i++) x[i] = (float)(gen_next(&g) % 9);
        for (int64_t i = 0; i < k * d; i++) c[i] = (float)(gen_next(&g) % 9);
        for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + gen_next(&g) % 4);
        const int weighted = trial % 2;
        fkm_params p = base(k, cap, 1);
        p.init = FKM_INIT_ARRAY;
        p.init_centroids = c;
        p.freeze_init = 1;
        p.max_iter = 0;
        fkm_matrix m = {x, FKM_F32, n, d, weighted ? w : NULL};
        fkm_result r;
        if (fkm_fit(&p, &m, &r) != FKM_OK) {
            CHECK(0, "tiny fit: %s", fkm_last_error());
            continue;
        }
        int64_t sizes[8];
        CHECK(largest(&r, sizes) <= cap, "tiny: cap exceeded");
        const double opt = brute_force(x, weighted ? w : NULL, n, d, c, k, cap);
        const double got = inertia_of(x, weighted ? w : NULL, n, d, c, r.labels, FKM_METRIC_L2);
        CHECK(got == r.inertia, "tiny: reported %.17g, of the labels %.17g", r.inertia, got);
        CHECK(got >= opt, "tiny: below the optimum?? %.17g < %.17g", got, opt);
        if (k <= 2) CHECK(got == opt, "k=%lld n=%lld cap=%lld: greedy %.17g, optimum %.17g (claimed optimal)",
                          (long long)k, (long long)n, (long long)cap, got, opt);
        /* where the cap does not bind, the nearest centroids are the optimum */
        if (r.inertia_unconstrained == r.inertia) CHECK(got == opt, "unbound cap: %.17g vs %.17g", got, opt);
        cases[k]++;
        if (got > opt) {
            nonopt[k]++;
            if (opt > 0 && got / opt > worst[k]) worst[k] = got / opt;
            if (opt == 0) worst[k] = INFINITY;
        }
        fkm_result_free(&r);
    }
    for (int k = 1; k <= 3; k++)
        printf("brute force k=%d: %d problems, greedy above the optimum in %d, worst ratio %.4f\n", k, cases[k],
               nonopt[k], worst[k]);
    CHECK(nonopt[3] > 0, "expected the greedy to miss the optimum somewhere for k = 3 (it is not optimal)");
    /* a regression guard on these fixed problems (measured, greedy + 2 local-search passes: 6 of 177
     * above, worst 1.1481; 8 passes: 5; the greedy alone: 35, worst 2.5753) */
    CHECK(worst[3] < 1.15 && nonopt[3] <= 6, "further from the optimum than measured for k = 3: %d, %.4f", nonopt[3],
          worst[3]);
}

static void test_refusals(void) {
    float x[40];
    for (int i = 0; i < 40; i++) x[i] = (float)i;
    fkm_matrix m = {x, FKM_F32, 20, 2, NULL};
    fkm_result r;
    fkm_params p = base(4, 4, 1); /* 4 x 4 = 16 < 20 */
    CHECK(fkm_fit(&p, &m, &r) == FKM_ERR_INVALID_ARG, "impossible cap accepted");
    const char *e = fkm_last_error();
    CHECK(strstr(e, "max_cluster_size = 4") && strstr(e, "n = 20") && strstr(e, "16") && strstr(e, "= 5"),
          "message: %s", e);
    CHECK(fkm_params_validate(&p, 20, 2) == FKM_ERR_INVALID_ARG, "validate accepted an impossible cap");
    p.max_cluster_size = 5; /* 4 x 5 = 20: fine */
    CHECK(fkm_params_validate(&p, 20, 2) == FKM_OK, "%s", fkm_last_error());
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "%s", fkm_last_error());
    fkm_result_free(&r);
    p.max_cluster_size = -1;
    CHECK(fkm_fit(&p, &m, &r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), ">= 0"), "negative cap: %s",
          fkm_last_error());
    p.max_cluster_size = 5;
    p.device = FKM_DEVICE_CUDA;
    CHECK(fkm_fit(&p, &m, &r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "CPU engine only"),
          "device=cuda with a cap: %s", fkm_last_error());
    p.device = FKM_DEVICE_AUTO; /* auto: the CPU (whatever GPUs there are) */
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK && r.device == FKM_DEVICE_CPU, "auto with a cap: %s", fkm_last_error());
    fkm_result_free(&r);
    /* sparse input and fkm_partial_sums refuse it, never ignore it */
    int64_t indptr[21];
    int32_t idx[40];
    for (int i = 0; i <= 20; i++) indptr[i] = 2 * i;
    for (int i = 0; i < 40; i++) idx[i] = i % 2;
    fkm_csr s = {20, 2, indptr, idx, x, NULL};
    p.device = FKM_DEVICE_CPU;
    CHECK(fkm_fit_csr(&p, &s, &r) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "sparse"), "csr: %s",
          fkm_last_error());
    double cs[2] = {1, 1};
    int32_t lab[20];
    int64_t sums[2 * 4 * 2 + 2 * 4];
    CHECK(fkm_partial_sums(&p, &m, x, 4, cs, 1.0, lab, NULL, sums) == FKM_ERR_INVALID_ARG &&
              strstr(fkm_last_error(), "max_cluster_size"),
          "partial sums: %s", fkm_last_error());
    /* predict / transform / score ignore it, even a cap that k = 4 could not meet */
    p.max_cluster_size = 1;
    float out[80];
    double sc;
    CHECK(fkm_predict(&p, &m, x, 4, lab, NULL) == FKM_OK, "predict with a cap: %s", fkm_last_error());
    CHECK(fkm_transform(&p, &m, x, 4, out) == FKM_OK, "transform with a cap: %s", fkm_last_error());
    CHECK(fkm_score(&p, &m, x, 4, &sc) == FKM_OK, "score with a cap: %s", fkm_last_error());
    /* batches and k = 1 */
    fkm_result rb[2];
    fkm_params pb = base(2, 10, 1);
    CHECK(fkm_fit_batch(&pb, &(fkm_matrix){x, FKM_F32, 10, 2, NULL}, 2, rb) == FKM_OK, "batch: %s", fkm_last_error());
    for (int b = 0; b < 2; b++) {
        int64_t sizes[2];
        CHECK(largest(&rb[b], sizes) <= 10, "batch cap");
        fkm_result_free(&rb[b]);
    }
    fkm_params p1 = base(1, 20, 1);
    CHECK(fkm_fit(&p1, &m, &r) == FKM_OK && r.inertia == r.inertia_unconstrained, "k=1: %s", fkm_last_error());
    fkm_result_free(&r);
}

/* Rows kept whole, or in blocks with full points' rows recomputed: the same bits. */
static void test_row_blocks(void) {
    const int64_t n = 2000, d = 7, k = 24;
    double *x64 = malloc((size_t)(n * d) * sizeof *x64);
    float *x = malloc((size_t)(n * d) * sizeof *x), *w = malloc((size_t)n * sizeof *w);
    gen_blobs(77, n, d, 4, 1.0, x64, x);
    uint64_t g = 3;
    for (int64_t i = 0; i < n; i++) w[i] = (float)(gen_unif(&g) * 2.0);
    const int64_t caps[] = {84, 90, 200};
    for (size_t c = 0; c < 3; c++)
        for (int metric = 0; metric < 3; metric++) {
            fkm_params p = base(k, caps[c], 2);
            p.metric = (fkm_metric)metric;
            p.max_iter = 20; /* enough to move; blocks cost a pass of the kernels per search pass */
            const float *wc = c == 1 ? w : NULL;
            fkm_result whole, blocks, whole1, one;
            fit_and_check("rows kept", p, x, wc, n, d, &whole);
            fkm_cpu_capped_set_limits(1, 61 * k + 3); /* blocks of 61 rows, full rows recomputed */
            p.threads = 3;
            fit_and_check("rows in blocks", p, x, wc, n, d, &blocks);
            /* one row per block: every row its own call of the kernels, so one iteration */
            p.max_iter = 1;
            p.threads = 1;
            fkm_cpu_capped_set_limits(1, 1);
            fit_and_check("one row per block", p, x, wc, n, d, &one);
            fkm_cpu_capped_set_limits(0, 0);
            p.threads = 2;
            fit_and_check("rows kept, 1 iteration", p, x, wc, n, d, &whole1);
            CHECK(same_result(&whole, &blocks) && same_result(&whole1, &one),
                  "kept rows and blocks differ (cap %lld metric %d)", (long long)caps[c], metric);
            fkm_result_free(&whole); fkm_result_free(&blocks); fkm_result_free(&one); fkm_result_free(&whole1);
        }
    free(x64); free(x); free(w);
}

/* A fit run until no label changes ends at a fixed point of the local search: with the fit's own
 * float32 distances (fkm_transform: the same bits), no point gains by moving to a cluster with
 * room and no two points of two clusters gain by swapping, in the library's float64 arithmetic. */
static void test_local_optimum(void) {
    const int64_t n = 300, d = 3;
    const int64_t shapes[][2] = {{5, 60}, {5, 64}, {7, 43}, {3, 120}};
    double *x64 = malloc((size_t)(n * d) * sizeof *x64);
    float *x = malloc((size_t)(n * d) * sizeof *x), *w = malloc((size_t)n * sizeof *w);
    float *dist = malloc((size_t)(n * 8) * sizeof *dist);
    gen_blobs(21, n, d, 2, 1.5, x64, x);
    uint64_t g = 8;
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.25 + gen_unif(&g));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int weighted = 0; weighted < 2; weighted++) {
            const int64_t k = shapes[s][0], cap = shapes[s][1];
            fkm_params p = base(k, cap, 2);
            p.stop = FKM_STOP_LABELS;
            fkm_result r;
            fit_and_check("local optimum", p, x, weighted ? w : NULL, n, d, &r);
            if (!r.labels) continue;
            CHECK(r.stop_reason == FKM_STOPPED_CONVERGED, "k=%lld cap=%lld: labels did not settle in %d iterations",
                  (long long)k, (long long)cap, r.iterations);
            fkm_matrix m = {x, FKM_F32, n, d, NULL};
            CHECK(fkm_transform(&p, &m, r.centroids, k, dist) == FKM_OK, "%s", fkm_last_error());
            int64_t cnt[8] = {0}, moves = 0, swaps = 0;
            for (int64_t i = 0; i < n; i++) cnt[r.labels[i]]++;
            for (int64_t i = 0; i < n; i++) {
                const double wi = weighted ? w[i] : 1.0;
                const int32_t a = r.labels[i];
                for (int64_t c = 0; c < k; c++)
                    if (c != a && cnt[c] < cap && wi * ((double)dist[i * k + a] - (double)dist[i * k + c]) > 0) moves++;
                for (int64_t j = i + 1; j < n; j++) {
                    const int32_t b = r.labels[j];
                    if (b == a) continue;
                    const double wj = weighted ? w[j] : 1.0;
                    const double gi = wi * ((double)dist[i * k + a] - (double)dist[i * k + b]);
                    const double gj = wj * ((double)dist[j * k + b] - (double)dist[j * k + a]);
                    if (gi + gj > 0) swaps++;
                }
            }
            CHECK(moves == 0 && swaps == 0, "k=%lld cap=%lld weighted %d: %lld improving moves, %lld improving swaps",
                  (long long)k, (long long)cap, weighted, (long long)moves, (long long)swaps);
            fkm_result_free(&r);
        }
    free(x64); free(x); free(w); free(dist);
}

int main(void) {
    test_local_optimum();
    test_row_blocks();
    test_refusals();
    test_brute_force();
    test_weights();
    test_duplicates();
    test_random();
    test_threads();
    test_loose_and_monotone();
    return check_report();
}
