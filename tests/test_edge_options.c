/* test_edge_options.c -- every option at its edges through the public API on the CPU engine:
 * n_init (best kept, best_init reported), every stop rule (iterations and stop_reason as
 * documented), freeze_init, max_iter = 0, metrics, every input dtype (bitwise equal to the f32 run
 * when the conversion is exact, conversion of every f16/bf16 value), exact ties, and the
 * determinism of k-means++ / random init for a seed. */
#include "test_edge_common.h"

#include <stdio.h>

static float *blobs32(uint64_t seed, int64_t n, int64_t d, int64_t b, double spread) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(seed, n, d, b, spread, x64, x);
    free(x64);
    return x;
}

/* ---- n_init: the kept restart has the lowest inertia of all restarts (read from the INFO log). */
typedef struct { int count; double inertia[64]; } restart_log;
static void log_restarts(fkm_log_level lv, const char *msg, void *user) {
    restart_log *rl = (restart_log *)user;
    int r, it;
    double in;
    if (lv == FKM_LOG_INFO && sscanf(msg, "restart %d: inertia %lf after %d", &r, &in, &it) == 3 && r < 64) {
        rl->inertia[r] = in;
        if (r + 1 > rl->count) rl->count = r + 1;
    }
}

static void test_n_init(void) {
    const int64_t n = 600, d = 4, k = 12;
    float *x = blobs32(101, n, d, 9, 1.2);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    p.seed = 7;
    fkm_result one, many, many2;
    CHECK(fkm_fit(&p, &m, &one) == FKM_OK, "n_init=1: %s", fkm_last_error());
    restart_log rl = {0, {0}};
    p.n_init = 8; p.verbose = 2; p.log_fn = log_restarts; p.log_user = &rl;
    CHECK(fkm_fit(&p, &m, &many) == FKM_OK, "n_init=8: %s", fkm_last_error());
    CHECK(rl.count == 8, "logged %d restarts, expected 8", rl.count);
    CHECK(many.best_init >= 0 && many.best_init < 8, "best_init %d out of range", many.best_init);
    CHECK(many.inertia <= one.inertia, "n_init=8 inertia %.10g worse than n_init=1 %.10g", many.inertia, one.inertia);
    for (int r = 0; r < rl.count; r++)
        CHECK(many.inertia <= rl.inertia[r] * (1 + 1e-8), "restart %d had inertia %.10g < kept %.10g", r,
              rl.inertia[r], many.inertia);
    CHECK(fabs(rl.inertia[many.best_init] - many.inertia) <= 1e-8 * many.inertia, "best_init %d does not hold the kept inertia",
          many.best_init);
    CHECK(fabs(rl.inertia[0] - one.inertia) <= 1e-8 * one.inertia, "restart 0 differs from the n_init=1 fit");
    p.threads = 1;
    CHECK(fkm_fit(&p, &m, &many2) == FKM_OK && edge_same_result(&many, &many2), "n_init not deterministic");
    double sc;
    CHECK(fkm_score(&p, &m, many.centroids, k, &sc) == FKM_OK && sc == many.inertia, "kept inertia != score");
    CHECK(many.stats != NULL && many.iterations >= 1, "kept restart has no stats");
    fkm_result_free(&one); fkm_result_free(&many); fkm_result_free(&many2);
    free(x);
}

/* ---- stop rules, checked against the recorded statistics. */
static double mean_var(const float *x, int64_t n, int64_t d) {
    double t = 0;
    for (int64_t j = 0; j < d; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) { s += x[i * d + j]; s2 += (double)x[i * d + j] * x[i * d + j]; }
        t += fmax(s2 / n - (s / n) * (s / n), 0);
    }
    return t / d;
}

static int rule_met(fkm_stop_rule rule, const fkm_result *r, int it, double tol, double var) {
    const fkm_iter_stats *s = r->stats;
    switch (rule) {
    case FKM_STOP_SHIFT: return s[it].shift * s[it].shift <= tol * var;
    case FKM_STOP_INERTIA:
        return it > 0 && (s[it - 1].inertia - s[it].inertia) <= tol * fabs(s[it - 1].inertia);
    case FKM_STOP_LABELS: return it > 0 && s[it].changed == 0;
    default: return 0;
    }
}

static void test_stop_rules(void) {
    const int64_t n = 2000, d = 6, k = 15;
    float *x = blobs32(103, n, d, 20, 2.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    const double var = mean_var(x, n, d);
    const double tols[3] = {1e-2, 1e-4, 0.0};
    for (int metric = 0; metric < 3; metric++)
        for (int rule = 0; rule < 3; rule++)
            for (int t = 0; t < 3; t++) {
                fkm_params p = edge_params(k);
                p.metric = (fkm_metric)metric; p.stop = (fkm_stop_rule)rule; p.tol = tols[t]; p.max_iter = 60;
                p.seed = 5;
                fkm_result r;
                fkm_status st = fkm_fit(&p, &m, &r);
                CHECK(st == FKM_OK, "stop rule %d: %s", rule, fkm_last_error());
                if (st != FKM_OK) continue;
                /* cosine's var is that of the unit rows; only the L2 shift rule is recomputed here */
                const int checkable = !(rule == FKM_STOP_SHIFT && metric != 0);
                for (int it = 0; checkable && it + 1 < r.iterations; it++)
                    CHECK(!rule_met((fkm_stop_rule)rule, &r, it, tols[t], var),
                          "metric %d rule %d tol %g: met at iteration %d but ran on to %d", metric, rule, tols[t], it,
                          r.iterations);
                if (r.stop_reason == FKM_STOPPED_CONVERGED) {
                    CHECK(!checkable || rule_met((fkm_stop_rule)rule, &r, r.iterations - 1, tols[t], var),
                          "metric %d rule %d tol %g: converged at %d without meeting the rule", metric, rule, tols[t],
                          r.iterations - 1);
                } else {
                    CHECK(r.stop_reason == FKM_STOPPED_MAX_ITER && r.iterations == 60,
                          "metric %d rule %d: reason %d after %d iterations", metric, rule, (int)r.stop_reason, r.iterations);
                }
                if (metric == 0 && t < 2) /* blobs converge well before 60 iterations */
                    CHECK(r.stop_reason == FKM_STOPPED_CONVERGED, "rule %d tol %g did not converge", rule, tols[t]);
                if (rule == FKM_STOP_LABELS && r.stop_reason == FKM_STOPPED_CONVERGED)
                    CHECK(r.stats[r.iterations - 1].changed == 0, "labels rule: last iteration changed labels");
                CHECK(r.iterations >= 1 && edge_sane(&r, metric), "metric %d rule %d: result not sane", metric, rule);
                fkm_result_free(&r);
            }
    /* Inner product: inertia is negative; the relative rule must still see a real decrease.
     * Small initial centroids (0.01 x rows) make the first update lower the inertia a lot. */
    float *c0 = malloc(sizeof(float) * k * d), *xp = malloc(sizeof(float) * n * d);
    for (int64_t i = 0; i < n * d; i++) xp[i] = x[i] + 20.0f;
    for (int64_t i = 0; i < k * d; i++) c0[i] = 0.01f * xp[(i / d) * 97 * d + i % d];
    fkm_matrix mp = {xp, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    p.metric = FKM_METRIC_IP; p.stop = FKM_STOP_INERTIA; p.tol = 1e-3; p.max_iter = 30;
    p.init = FKM_INIT_ARRAY; p.init_centroids = c0;
    fkm_result r;
    CHECK(fkm_fit(&p, &mp, &r) == FKM_OK, "ip inertia rule: %s", fkm_last_error());
    CHECK(r.inertia < 0, "ip inertia is not negative: %g", r.inertia);
    for (int it = 1; it < r.iterations; it++)
        CHECK(it + 1 < r.iterations || rule_met(FKM_STOP_INERTIA, &r, it, p.tol, 0),
              "ip + inertia rule stopped at iteration %d while inertia still fell (%.9g -> %.9g)", it,
              r.stats[it - 1].inertia, r.stats[it].inertia);
    CHECK(r.iterations > 2, "ip + inertia rule stopped after %d iterations (%.9g -> %.9g)", r.iterations,
          r.stats[0].inertia, r.iterations > 1 ? r.stats[1].inertia : 0.0);
    fkm_result_free(&r);
    free(c0); free(xp);
    /* FIXED runs exactly max_iter even when converged; MAX_ITER is the reason. */
    for (int it = 0; it < 4; it++) {
        fkm_params q = edge_params(k);
        q.stop = FKM_STOP_FIXED; q.max_iter = (int[]){1, 2, 7, 100}[it];
        CHECK(fkm_fit(&q, &m, &r) == FKM_OK, "fixed: %s", fkm_last_error());
        CHECK(r.iterations == q.max_iter && r.stop_reason == FKM_STOPPED_MAX_ITER, "fixed %d: ran %d, reason %d",
              q.max_iter, r.iterations, (int)r.stop_reason);
        for (int i = 0; i < r.iterations; i++) CHECK(r.stats[i].ms >= 0, "negative time");
        fkm_result_free(&r);
    }
    /* max_iter bounds every rule: tol 0 on a large problem with max_iter 3. */
    for (int rule = 0; rule < 3; rule++) {
        fkm_params q = edge_params(k);
        q.stop = (fkm_stop_rule)rule; q.tol = 0; q.max_iter = 3; q.init = FKM_INIT_RANDOM;
        CHECK(fkm_fit(&q, &m, &r) == FKM_OK, "bounded: %s", fkm_last_error());
        CHECK(r.iterations <= 3, "rule %d ran %d > max_iter", rule, r.iterations);
        CHECK(r.iterations == 3 ? r.stop_reason == FKM_STOPPED_MAX_ITER || r.stop_reason == FKM_STOPPED_CONVERGED
                                : r.stop_reason == FKM_STOPPED_CONVERGED, "rule %d: reason %d", rule, (int)r.stop_reason);
        fkm_result_free(&r);
    }
    free(x);
}

/* ---- freeze_init and max_iter = 0: centroids untouched, labels/inertia of those centroids. */
static void test_freeze_and_zero_iter(void) {
    const int64_t n = 300, d = 5, k = 7;
    float *x = blobs32(107, n, d, 7, 1.0), *c0 = blobs32(108, k, d, 2, 3.0);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int metric = 0; metric < 3; metric++)
        for (int mode = 0; mode < 2; mode++) {
            fkm_params p = edge_params(k);
            p.metric = (fkm_metric)metric; p.init = FKM_INIT_ARRAY; p.init_centroids = c0;
            if (mode == 0) p.freeze_init = 1; else p.max_iter = 0;
            fkm_result r;
            CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "freeze/zero: %s", fkm_last_error());
            CHECK(r.iterations == 0 && r.stop_reason == FKM_STOPPED_MAX_ITER, "mode %d: %d iterations, reason %d", mode,
                  r.iterations, (int)r.stop_reason);
            if (metric != 1) /* cosine returns the unit-normalised init */
                CHECK(memcmp(r.centroids, c0, sizeof(float) * (size_t)(k * d)) == 0, "mode %d: centroids moved", mode);
            else
                for (int64_t c = 0; c < k; c++) {
                    double s = 0, dot = 0, s0 = 0;
                    for (int64_t j = 0; j < d; j++) {
                        s += (double)r.centroids[c * d + j] * r.centroids[c * d + j];
                        dot += (double)r.centroids[c * d + j] * c0[c * d + j];
                        s0 += (double)c0[c * d + j] * c0[c * d + j];
                    }
                    CHECK(fabs(s - 1) < 1e-6 && fabs(dot - sqrt(s0)) < 1e-5 * sqrt(s0), "cosine init not normalised");
                }
            CHECK(edge_labels_match_predict(&p, &m, &r), "mode %d metric %d: labels != predict", mode, metric);
            double sc;
            CHECK(fkm_score(&p, &m, c0, k, &sc) == FKM_OK && sc == r.inertia, "mode %d: inertia %.10g != score %.10g",
                  mode, r.inertia, sc);
            fkm_result_free(&r);
        }
    /* max_iter = 0 with k-means++: the init itself, made of data rows. */
    fkm_params p = edge_params(k);
    p.max_iter = 0;
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "max_iter 0 k-means++: %s", fkm_last_error());
    for (int64_t c = 0; c < k; c++) {
        int found = 0;
        for (int64_t i = 0; i < n && !found; i++) found = !memcmp(r.centroids + c * d, x + i * d, sizeof(float) * d);
        CHECK(found, "k-means++ centroid %lld is not a data row", (long long)c);
    }
    fkm_result_free(&r);
    free(x); free(c0);
}

/* ---- dtypes: integer data 0..255 converts exactly from every type. */
static uint16_t f2half(float f) { /* exact for the integers used here */
    uint32_t b;
    memcpy(&b, &f, 4);
    if (f == 0) return (uint16_t)(b >> 16);
    int e = (int)((b >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(((b >> 16) & 0x8000) | (e << 10) | ((b >> 13) & 0x3ff));
}

static void test_dtypes(void) {
    const int64_t n = 400, d = 9, k = 6;
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    double *x64 = malloc(sizeof(double) * (size_t)(n * d));
    uint16_t *h = malloc(2 * (size_t)(n * d)), *bf = malloc(2 * (size_t)(n * d));
    uint8_t *u = malloc((size_t)(n * d));
    uint64_t s = 109;
    for (int64_t i = 0; i < n * d; i++) {
        int64_t blob = (i / d) % 4;
        u[i] = (uint8_t)(blob * 60 + gen_next(&s) % 40);
        x[i] = x64[i] = u[i];
        h[i] = f2half(x[i]);
        uint32_t b;
        memcpy(&b, &x[i], 4);
        bf[i] = (uint16_t)(b >> 16);
    }
    const void *data[5] = {x, x64, h, bf, u};
    for (int metric = 0; metric < 3; metric++) {
        fkm_params p = edge_params(k);
        p.metric = (fkm_metric)metric; p.seed = 3; p.n_init = 2;
        if (metric == 1) /* u8 rows of 0 are impossible here (blob 0 has values 0..39): keep them non-zero */
            for (int64_t i = 0; i < n; i++) { x[i * d] = x64[i * d] = u[i * d] = 1; h[i * d] = f2half(1); bf[i * d] = 0x3f80; }
        fkm_result ref, r;
        fkm_matrix m = {x, FKM_F32, n, d, NULL};
        CHECK(fkm_fit(&p, &m, &ref) == FKM_OK, "f32 fit: %s", fkm_last_error());
        for (int t = 1; t < 5; t++) {
            fkm_matrix mt = {data[t], (fkm_dtype)t, n, d, NULL};
            fkm_status st = fkm_fit(&p, &mt, &r);
            CHECK(st == FKM_OK, "dtype %d: %s", t, fkm_last_error());
            if (st != FKM_OK) continue;
            CHECK(edge_same_result(&ref, &r), "dtype %d metric %d: result differs from the f32 run", t, metric);
            int32_t *l1 = malloc(sizeof(int32_t) * n), *l2 = malloc(sizeof(int32_t) * n);
            double s1, s2;
            CHECK(fkm_predict(&p, &m, ref.centroids, k, l1, NULL) == FKM_OK &&
                  fkm_predict(&p, &mt, ref.centroids, k, l2, NULL) == FKM_OK && !memcmp(l1, l2, sizeof(int32_t) * n),
                  "dtype %d: predict differs", t);
            CHECK(fkm_score(&p, &m, ref.centroids, k, &s1) == FKM_OK && fkm_score(&p, &mt, ref.centroids, k, &s2) == FKM_OK &&
                  s1 == s2, "dtype %d: score differs", t);
            free(l1); free(l2);
            fkm_result_free(&r);
        }
        fkm_result_free(&ref);
    }
    free(x); free(x64); free(h); free(bf); free(u);
}

/* Reference half -> float by arithmetic, not bit tricks. */
static double half_value(uint16_t v) {
    int sgn = v >> 15, e = (v >> 10) & 31, m = v & 1023;
    double r = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return sgn ? -r : r;
}

/* Every finite f16 and bf16 bit pattern converts exactly: IP against the centroid 1 gives -x. */
static void test_half_conversion(void) {
    const float one = 1.0f;
    uint16_t *v = malloc(2 * 65536);
    float *out = malloc(4 * 65536);
    for (int type = 0; type < 2; type++) {
        int64_t n = 0;
        for (uint32_t b = 0; b < 65536; b++) {
            if (type == 0 && ((b >> 10) & 31) == 31) continue; /* inf/nan */
            if (type == 1) {
                uint32_t fb = b << 16;
                float f;
                memcpy(&f, &fb, 4);
                if (!isfinite(f) || fabsf(f) > 1e18f) continue; /* over the d = 1 magnitude limit */
            }
            v[n++] = (uint16_t)b;
        }
        fkm_params p = edge_params(1);
        p.metric = FKM_METRIC_IP;
        fkm_matrix m = {v, type == 0 ? FKM_F16 : FKM_BF16, n, 1, NULL};
        CHECK(fkm_transform(&p, &m, &one, 1, out) == FKM_OK, "half transform: %s", fkm_last_error());
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) {
            double want;
            if (type == 0) want = half_value(v[i]);
            else { uint32_t fb = (uint32_t)v[i] << 16; float f; memcpy(&f, &fb, 4); want = f; }
            if (!((double)-out[i] == want)) bad++;
        }
        CHECK(bad == 0, "%s: %lld values converted wrongly", type == 0 ? "f16" : "bf16", (long long)bad);
    }
    free(v); free(out);
}

/* ---- exact ties: duplicate centroids and equidistant points go to the lowest index. */
static void test_ties(void) {
    /* integer data: every expansion term is exact, whatever the summation order */
    const int64_t n = 64, d = 24, k = 6;
    float *x = malloc(sizeof(float) * n * d), c[6 * 24];
    uint64_t s = 113;
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)(gen_next(&s) % 9) - 4;
    for (int64_t j = 0; j < d; j++) {
        c[0 * d + j] = 9; c[1 * d + j] = 0; c[2 * d + j] = 0;   /* 1 and 2 duplicate */
        c[3 * d + j] = 9; c[4 * d + j] = 0; c[5 * d + j] = 0;   /* 4 and 5 duplicate 1 too */
    }
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    for (int metric = 0; metric < 3; metric += 2) {
        fkm_params p = edge_params(k);
        p.metric = (fkm_metric)metric;
        int32_t lab[64];
        CHECK(fkm_predict(&p, &m, c, k, lab, NULL) == FKM_OK, "tie predict: %s", fkm_last_error());
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            float sum = 0; /* IP: 9s win when sum x > 0, the zeros (first: 1) when < 0, 0 on a tie */
            for (int64_t j = 0; j < d; j++) sum += x[i * d + j];
            ok &= lab[i] == (metric == 0 ? 1 : sum < 0 ? 1 : 0);
        }
        CHECK(ok, "metric %d: duplicate centroids did not resolve to the lowest index", metric);
    }
    /* equidistant: x = 1 between centroids 2 and 0 (listed high first), all d */
    for (int64_t dd = 1; dd <= 37; dd += 4) {
        float *xe = malloc(sizeof(float) * dd), *ce = malloc(sizeof(float) * 3 * dd);
        for (int64_t j = 0; j < dd; j++) { xe[j] = 1; ce[j] = 2; ce[dd + j] = 0; ce[2 * dd + j] = 7; }
        fkm_params p = edge_params(3);
        fkm_matrix me = {xe, FKM_F32, 1, dd, NULL};
        int32_t l = -1;
        float dist = -1;
        CHECK(fkm_predict(&p, &me, ce, 3, &l, &dist) == FKM_OK && l == 0 && dist == (float)dd,
              "d=%lld: equidistant point got label %d dist %g", (long long)dd, l, dist);
        /* same tie with the lower index on the other side */
        for (int64_t j = 0; j < dd; j++) { ce[j] = 0; ce[dd + j] = 2; }
        CHECK(fkm_predict(&p, &me, ce, 3, &l, NULL) == FKM_OK && l == 0, "d=%lld: swapped tie got %d", (long long)dd, l);
        free(xe); free(ce);
    }
    /* a fit whose init has duplicate rows: the higher duplicate is empty in iteration 0 */
    float ci[3 * 24];
    memcpy(ci, c, sizeof ci);
    fkm_params p = edge_params(3);
    p.init = FKM_INIT_ARRAY; p.init_centroids = ci; p.max_iter = 1; p.stop = FKM_STOP_FIXED; p.empty = FKM_EMPTY_KEEP;
    fkm_result r;
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "duplicate init fit: %s", fkm_last_error());
    CHECK(r.stats[0].empty >= 1, "duplicate init rows: no empty cluster counted");
    CHECK(memcmp(r.centroids + 2 * d, ci + 2 * d, sizeof(float) * d) == 0, "keep: empty duplicate moved");
    fkm_result_free(&r);
    free(x);
}

/* ---- init determinism: same seed => same centroids; independent of threads. */
static void test_init_determinism(void) {
    const int64_t n = 1500, d = 8, k = 20;
    float *x = blobs32(127, n, d, 25, 1.0), *w = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + i % 3);
    for (int init = 0; init < 2; init++)
        for (int weighted = 0; weighted < 2; weighted++) {
            fkm_matrix m = {x, FKM_F32, n, d, weighted ? w : NULL};
            fkm_params p = edge_params(k);
            p.init = (fkm_init)init; p.max_iter = 0; p.seed = 99;
            fkm_result a, b, c;
            p.threads = 1;
            CHECK(fkm_fit(&p, &m, &a) == FKM_OK, "init: %s", fkm_last_error());
            p.threads = 2;
            CHECK(fkm_fit(&p, &m, &b) == FKM_OK, "init: %s", fkm_last_error());
            CHECK(edge_same_result(&a, &b), "init %d: differs between 1 and 2 threads", init);
            p.seed = 100;
            CHECK(fkm_fit(&p, &m, &c) == FKM_OK, "init: %s", fkm_last_error());
            CHECK(memcmp(a.centroids, c.centroids, sizeof(float) * k * d) != 0, "init %d: seed ignored", init);
            /* k distinct data rows */
            int distinct = 1;
            for (int64_t i = 0; i < k; i++)
                for (int64_t j = 0; j < i; j++) distinct &= memcmp(a.centroids + i * d, a.centroids + j * d, 4 * d) != 0;
            CHECK(distinct, "init %d: two initial centroids coincide on distinct data", init);
            fkm_result_free(&a); fkm_result_free(&b); fkm_result_free(&c);
        }
    free(x); free(w);
}

int main(void) {
    test_n_init();
    test_stop_rules();
    test_freeze_and_zero_iter();
    test_dtypes();
    test_half_conversion();
    test_ties();
    test_init_determinism();
    return check_report();
}
