/* test_stop_rule.c -- the stop rule (src/stop.h), which the host driver and the CUDA engine's
 * device loop (k_stop) both call: each rule at its boundaries against the table of
 * docs/algorithm.md, written out here independently; and the driver stopping where the rule says
 * (the iteration and stop reason of CPU fits against the rule applied to their own statistics). */
#include "check.h"
#include "gen.h"
#include "stop.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

/* docs/algorithm.md, "Stop rules", as a reader would write it from the table */
static int table_rule(int rule, double tol, int t, double shift, double inertia, long long changed, double prev,
                      double v) {
    if (rule == FKM_STOP_SHIFT) return shift * shift <= tol * v;
    if (rule == FKM_STOP_INERTIA) return t > 0 && (prev == 0 || (prev - inertia) / fabs(prev) <= tol);
    if (rule == FKM_STOP_LABELS) return t > 0 && changed == 0;
    return 0;
}

static void test_boundaries(void) {
    /* shift: max move^2 against tol * variance, equal counts as met */
    CHECK(fkm_stop_rule_met(FKM_STOP_SHIFT, 0.25, 0, 1.0, 5.0, 9, 0.0, 4.0) == 1, "rule at a boundary");  /* 1 <= 1 */
    CHECK(fkm_stop_rule_met(FKM_STOP_SHIFT, 0.25, 3, 1.0, 5.0, 0, 7.0, 3.9) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_SHIFT, 0.0, 0, 0.0, 5.0, 9, 0.0, 0.0) == 1, "rule at a boundary");   /* no move at tol 0 */
    /* inertia: never at the first iteration; prev 0 stops; relative to |prev| (negative for IP) */
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 1.0, 0, 0.0, 5.0, 0, 5.0, 1.0) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.0, 1, 9.0, 5.0, 9, 0.0, 1.0) == 1, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.5, 1, 9.0, 50.0, 9, 100.0, 1.0) == 1, "rule at a boundary");  /* 50 <= 50 */
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.5, 1, 9.0, 49.0, 9, 100.0, 1.0) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.5, 1, 9.0, -150.0, 9, -100.0, 1.0) == 1, "rule at a boundary"); /* IP: 50 <= 50 */
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.5, 1, 9.0, -151.0, 9, -100.0, 1.0) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_INERTIA, 0.0, 2, 9.0, 101.0, 9, 100.0, 1.0) == 1, "rule at a boundary"); /* inertia went up */
    /* labels: none changed, not at the first iteration (every label counts as changed there) */
    CHECK(fkm_stop_rule_met(FKM_STOP_LABELS, 1.0, 0, 0.0, 1.0, 0, 0.0, 1.0) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_LABELS, 0.0, 1, 9.0, 1.0, 0, 1.0, 1.0) == 1, "rule at a boundary");
    CHECK(fkm_stop_rule_met(FKM_STOP_LABELS, 1e9, 1, 0.0, 1.0, 1, 1.0, 1.0) == 0, "rule at a boundary");
    /* fixed, and the device loop's "no rule" (-1): never */
    CHECK(fkm_stop_rule_met(FKM_STOP_FIXED, 1e9, 5, 0.0, 0.0, 0, 0.0, 1e9) == 0, "rule at a boundary");
    CHECK(fkm_stop_rule_met(-1, 1e9, 5, 0.0, 0.0, 0, 0.0, 1e9) == 0, "rule at a boundary");
}

/* Against the table over a grid of values, both signs of inertia, ties included. */
static void test_against_table(void) {
    static const double tols[] = {0.0, 1e-4, 0.5, 1.0};
    static const double vals[] = {-2.0, -1.0, 0.0, 0.5, 1.0, 2.0};
    int n = 0;
    for (int rule = -1; rule <= FKM_STOP_FIXED; rule++)
        for (int a = 0; a < 4; a++)
            for (int t = 0; t < 3; t++)
                for (int i = 0; i < 6; i++)
                    for (int j = 0; j < 6; j++)
                        for (long long ch = 0; ch < 2; ch++) {
                            const double shift = fabs(vals[i]), inertia = vals[i] * 3, prev = vals[j] * 3, v = fabs(vals[j]);
                            const int want = table_rule(rule, tols[a], t, shift, inertia, ch, prev, v);
                            const int got = fkm_stop_rule_met(rule, tols[a], t, shift, inertia, ch, prev, v);
                            if (want != got)
                                fprintf(stderr, "rule %d tol %g t %d shift %g inertia %g changed %lld prev %g var %g: %d, table %d\n",
                                        rule, tols[a], t, shift, inertia, ch, prev, v, got, want);
                            CHECK(want == got, "the rule against the table");
                            n++;
                        }
    CHECK(n > 1000, "%d cases", n);
}

/* Mean per-feature variance, as fkm_fit scales the shift rule (float64 sums in feature order). */
static double mean_var(const float *x, int64_t n, int64_t d) {
    double total = 0.0;
    for (int64_t j = 0; j < d; j++) {
        double s = 0.0, s2 = 0.0;
        for (int64_t i = 0; i < n; i++) {
            s += x[i * d + j];
            s2 += (double)x[i * d + j] * x[i * d + j];
        }
        const double m = s / n, v = s2 / n - m * m;
        total += v > 0 ? v : 0;
    }
    return total / d;
}

/* The driver stops at the first iteration whose statistics meet the rule, and not before. */
static void test_driver_stops_by_rule(void) {
    const int64_t n = 3000, d = 6, k = 9;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(31, n, d, 7, 1.5, x64, x);
    const double v = mean_var(x, n, d);
    for (int rule = FKM_STOP_SHIFT; rule <= FKM_STOP_FIXED; rule++)
        for (int metric = FKM_METRIC_L2; metric <= FKM_METRIC_IP; metric++) {
            fkm_params p;
            fkm_params_default(&p);
            p.k = k; p.device = FKM_DEVICE_CPU; p.threads = 1; p.stop = rule; p.metric = metric;
            p.tol = rule == FKM_STOP_INERTIA ? 1e-3 : 1e-4;
            p.max_iter = 60; p.init = FKM_INIT_RANDOM; p.seed = 5;
            fkm_matrix m = {x, FKM_F32, n, d, NULL};
            fkm_result r;
            CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "%s", fkm_last_error());
            /* cosine scales rows to unit length first: its shift rule uses their variance */
            double var = v;
            if (metric == FKM_METRIC_COSINE) {
                float *u = malloc((size_t)(n * d) * sizeof(float));
                for (int64_t i = 0; i < n; i++) {
                    double s2 = 0.0;
                    for (int64_t j = 0; j < d; j++) s2 += (double)x[i * d + j] * x[i * d + j];
                    for (int64_t j = 0; j < d; j++) u[i * d + j] = (float)(x[i * d + j] / sqrt(s2));
                }
                var = mean_var(u, n, d);
                free(u);
            }
            int first = -1;
            for (int it = 0; it < r.iterations && first < 0; it++) {
                const fkm_iter_stats *s = &r.stats[it];
                if (fkm_stop_rule_met(rule, p.tol, it, s->shift, s->inertia, s->changed,
                                      it > 0 ? r.stats[it - 1].inertia : 0.0, var))
                    first = it;
            }
            if (first >= 0) {
                CHECK(r.stop_reason == FKM_STOPPED_CONVERGED, "rule %d metric %d: converged", rule, metric);
                CHECK(r.iterations == first + 1, "rule %d metric %d: %d iterations, the rule met at %d", rule, metric, r.iterations, first);
            } else {
                CHECK(r.stop_reason == FKM_STOPPED_MAX_ITER, "rule %d metric %d: max_iter", rule, metric);
                CHECK(r.iterations == p.max_iter, "rule %d metric %d: %d iterations", rule, metric, r.iterations);
            }
            if (rule == FKM_STOP_FIXED) CHECK(r.iterations == p.max_iter, "fixed: %d iterations", r.iterations);
            fkm_result_free(&r);
        }
    free(x);
    free(x64);
}

int main(void) {
    test_boundaries();
    test_against_table();
    test_driver_stops_by_rule();
    return check_report();
}
