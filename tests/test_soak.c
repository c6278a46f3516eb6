/* test_soak.c -- differential soak test (issue 23, item 4): randomised cases (soak_case.h: shapes,
 * dtypes, metrics, weights, init methods, stop rules, restarts, batches, empty-cluster policies,
 * thread counts; GPU precisions) run on the CPU engine and, when a GPU is present, on the CUDA
 * engine, each result checked against the float64 oracle (tests/ref) with the documented margins
 * (docs/numerics.md, docs/contract.md) and against the library's own documented identities.
 *
 *   test_soak [--seconds S] [--seed S] [--big] [--cpu-only] [--quiet] [--json FILE]
 *   test_soak --case 'seed=... n=... ...'     replay one case (the line a failure prints)
 *   test_soak --case '...' --shrink             the smallest failing variant of it (a reproducer)
 *   --self-cross: the CPU-vs-GPU check with the CPU standing in for the GPU (tests the harness)
 *
 * Without arguments (ctest): the regression cases of tests/soak_regressions.txt, then random cases
 * for FKM_SOAK_SECONDS (default 20) from a seed printed first (FKM_SOAK_SEED to choose it). Every
 * case prints its line; a failing one prints what broke and the command that replays it. */
#include "ref/ref.h"
#include "soak_case.h"

#include <time.h>

static struct {
    int64_t cases, gpu_cases, fits, failed_cases, checks, fails, label_bad, near_ties, points, update_unsure;
    int64_t cos_unjudged; /* cosine clusters whose mean lies within its error bound of zero */
    int quiet, silent; /* silent: a shrink attempt, nothing printed */
    int self_cross;    /* --self-cross: cross_check with the CPU in the GPU's place (no GPU needed) */
} S;
static char case_line[1024];
static const char *argv0 = "test_soak";
static int case_failed;

#define FAIL(...)                                                                  \
    do {                                                                           \
        S.fails++;                                                                 \
        if (!case_failed && !S.silent) printf("FAIL case: %s\n", case_line);       \
        case_failed = 1;                                                           \
        if (S.silent) break;                                                       \
        printf("  FAIL %s:%d: ", __FILE__, __LINE__);                              \
        printf(__VA_ARGS__);                                                       \
        putchar('\n');                                                             \
    } while (0)
#define EXPECT(cond, ...) do { S.checks++; if (!(cond)) FAIL(__VA_ARGS__); } while (0)

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Working rows the engines compute on: x itself, or its rows unit-normalised in float64 and
 * rounded to float32 for cosine (docs/contract.md §1). */
static double *working_rows(const double *x, int64_t n, int64_t d, int metric) {
    double *w = malloc((size_t)(n * d) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
        s = sqrt(s);
        for (int64_t j = 0; j < d; j++) w[i * d + j] = metric == FKM_METRIC_COSINE ? (float)(x[i * d + j] / s) : x[i * d + j];
    }
    return w;
}

/* Labels and inertia of centroids c (float32, k x d) against the oracle: a label may differ from
 * the oracle's argmin only where the two oracle distances are within margin * scale (the
 * near-tie rule, docs/numerics.md); inertia within the sum of the same per-point margins. */
static void check_assignment(const char *what, const double *x, const float *w, int64_t n, int64_t d,
                             const float *c32, int64_t k, int metric, const int32_t *got, double inertia,
                             double margin) {
    double *c = malloc((size_t)(k * d) * sizeof(double)), *best = malloc((size_t)n * sizeof(double));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < k * d; i++) c[i] = c32[i];
    ref_assign(x, n, d, c, k, metric, lab, best, NULL);
    double want = 0, slack = 0;
    int64_t bad = 0, ties = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (got[i] < 0 || got[i] >= k) { bad++; if (first < 0) first = i; continue; }
        const double *cc = c + (int64_t)got[i] * d, mine = ref_dist(x + i * d, cc, d, metric);
        const double sc = tie_scale(x + i * d, cc, d, metric), wi = w ? w[i] : 1.0;
        if (got[i] != lab[i]) {
            if (mine - best[i] > margin * sc) { bad++; if (first < 0) first = i; }
            else ties++;
        }
        want += wi * (metric != FKM_METRIC_IP && mine < 0 ? 0 : mine);
        slack += wi * (margin * sc + 1e-6);
    }
    S.checks += 2;
    S.label_bad += bad;
    S.near_ties += ties;
    S.points += n;
    if (bad) {
        const double *cc = c + (int64_t)(got[first] < 0 || got[first] >= k ? 0 : got[first]) * d;
        FAIL("%s: %" PRId64 " of %" PRId64 " labels differ from the oracle beyond the margin %.0e (first: point %" PRId64
             " label %d, oracle %d, oracle distances %.17g vs %.17g, margin %.3g)",
             what, bad, n, margin, first, got[first], lab[first], ref_dist(x + first * d, cc, d, metric), best[first],
             margin * tie_scale(x + first * d, cc, d, metric));
    }
    if (!(fabs(inertia - want) <= slack)) FAIL("%s: inertia %.17g, oracle %.17g (allowed %.3g)", what, inertia, want, slack);
    free(c); free(best); free(lab);
}

static int same_result(const fkm_result *a, const fkm_result *b) {
    return a->k == b->k && a->n == b->n && a->d == b->d && a->iterations == b->iterations &&
           a->stop_reason == b->stop_reason && a->best_init == b->best_init &&
           !memcmp(&a->inertia, &b->inertia, sizeof(double)) &&
           !memcmp(a->centroids, b->centroids, (size_t)(a->k * a->d) * sizeof(float)) &&
           !memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t));
}

/* The stop rule against the reported per-iteration statistics (docs/contract.md §6): met at the
 * last iteration when CONVERGED, never met before it. v = mean per-feature variance of the
 * working data. A value within 1e-9 of the threshold is not judged (float64 rounding of v). */
static int rule_met(const soak_case *c, const fkm_iter_stats *st, int t, double v, int *unsure) {
    switch (c->stop) {
    case FKM_STOP_SHIFT: {
        const double lhs = st[t].shift * st[t].shift, rhs = c->tol * v;
        if (fabs(lhs - rhs) <= 1e-9 * fmax(lhs, rhs) && lhs != rhs) *unsure = 1;
        return lhs <= rhs;
    }
    case FKM_STOP_INERTIA:
        if (t == 0) return 0;
        if (st[t - 1].inertia == 0) return 1;
        return st[t - 1].inertia - st[t].inertia <= c->tol * fabs(st[t - 1].inertia);
    case FKM_STOP_LABELS: return t > 0 && st[t].changed == 0;
    default: return 0;
    }
}

static void check_stop(const char *what, const soak_case *c, const fkm_result *r, double v) {
    S.checks++;
    const int max_iter = c->freeze ? 0 : c->max_iter;
    if (r->iterations < 0 || r->iterations > max_iter) { FAIL("%s: %d iterations, max_iter %d", what, r->iterations, max_iter); return; }
    if (c->stop == FKM_STOP_FIXED || max_iter == 0) {
        if (r->iterations != max_iter || r->stop_reason != FKM_STOPPED_MAX_ITER)
            FAIL("%s: %d iterations, reason %s; want %d, max_iter", what, r->iterations, fkm_stop_reason_str(r->stop_reason), max_iter);
        return;
    }
    if (r->stop_reason == FKM_STOPPED_MAX_ITER && r->iterations != max_iter)
        FAIL("%s: reason max_iter after %d of %d iterations", what, r->iterations, max_iter);
    for (int t = 0; t < r->iterations; t++) {
        int unsure = 0;
        const int met = rule_met(c, r->stats, t, v, &unsure), last = t == r->iterations - 1;
        if (unsure) continue;
        if (!last && met) FAIL("%s: rule %s met at iteration %d but %d iterations ran", what, soak_stop_names[c->stop], t, r->iterations);
        if (last && r->stop_reason == FKM_STOPPED_CONVERGED && !met)
            FAIL("%s: converged at iteration %d but the rule is not met (shift %.17g, inertia %.17g, changed %" PRId64 ")",
                 what, t, r->stats[t].shift, r->stats[t].inertia, r->stats[t].changed);
    }
}

/* FKM_EMPTY_FARTHEST as documented (docs/contract.md §5), on oracle distances: empty clusters, in
 * index order, each take the donor (positive weight, its cluster keeps another weighted point)
 * farthest from its centroid, lowest index on ties. Moves labels in place; returns 1 when a choice
 * was a near-tie (another donor within the margin, with a different row or weight), where the
 * engine's float32 distances may rightly choose otherwise. */
static int oracle_farthest(const double *x, const double *wr, const float *w, int64_t n, int64_t d, const float *c32,
                           int64_t k, int metric, double margin, int32_t *lab, double *cnt) {
    double *dist = malloc((size_t)n * sizeof(double)), *c = malloc((size_t)d * sizeof(double));
    int64_t *pts = calloc((size_t)k, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < d; j++) c[j] = c32[(int64_t)lab[i] * d + j];
        dist[i] = ref_dist(x + i * d, c, d, metric);
        if (metric != FKM_METRIC_IP && dist[i] < 0) dist[i] = 0;
        pts[lab[i]] += !w || w[i] > 0;
    }
    /* small integers and integer centroids under L2: float32 distances are exact, no near-tie */
    int unsure = 0, exact = metric == FKM_METRIC_L2;
    for (int64_t i = 0; i < n * d && exact; i++) exact = x[i] == rint(x[i]) && fabs(x[i]) <= 64;
    for (int64_t i = 0; i < k * d && exact; i++) exact = c32[i] == rintf(c32[i]) && fabsf(c32[i]) <= 64;
    exact = exact && d <= 1000;
    for (int64_t l = 0; l < k; l++) {
        if (pts[l] != 0) continue;
        int64_t far = -1;
        for (int64_t i = 0; i < n; i++)
            if (pts[lab[i]] > 1 && !(w && !(w[i] > 0)) && (far < 0 || dist[i] > dist[far])) far = i;
        if (far < 0) break;
        for (int64_t i = 0; i < n && !unsure; i++) {
            if (i == far || !(pts[lab[i]] > 1 && !(w && !(w[i] > 0)))) continue;
            for (int64_t j = 0; j < d; j++) c[j] = c32[(int64_t)lab[i] * d + j];
            const int same = lab[i] == lab[far] && (!w || w[i] == w[far]) && !memcmp(&wr[i * d], &wr[far * d], (size_t)d * sizeof(double));
            if (!same && !exact && dist[far] - dist[i] <= margin * tie_scale(x + i * d, c, d, metric)) unsure = 1;
        }
        const double wf = w ? w[far] : 1.0;
        pts[lab[far]]--, cnt[lab[far]] -= wf;
        lab[far] = (int32_t)l, pts[l] = 1, cnt[l] = wf, dist[far] = 0;
    }
    free(dist); free(c); free(pts);
    return unsure;
}

/* One Lloyd update from centroids c0 against the oracle: fit A (init=c0, max_iter=0) gives the
 * assignment L0 and c0 as the fit sees it; fit B (init=c0, one FIXED iteration) gives c1. The
 * empty-cluster policy is applied to L0 as documented (KEEP: nothing; FARTHEST: oracle_farthest),
 * then each cluster with weight must be the weighted mean of its working rows: float64 sums
 * rounded to float32, within 2^-23 of the largest |value| summed; cosine: then normalised in
 * float64, the error divided by the mean's norm, a zero mean keeping c0. Clusters left empty keep
 * c0 bit for bit. */
static void check_update(const char *what, const soak_case *c, fkm_params p, const fkm_matrix *m, const double *x,
                         const float *c0) {
    const int64_t n = m->n, d = m->d, k = c->k;
    p.init = FKM_INIT_ARRAY, p.init_centroids = c0, p.freeze_init = 0, p.n_init = 1, p.max_iter = 0;
    p.stop = FKM_STOP_FIXED;
    fkm_result a, b;
    fkm_status sa = fkm_fit(&p, m, &a);
    p.max_iter = 1;
    fkm_status sb = fkm_fit(&p, m, &b);
    S.fits += 2;
    S.checks++;
    if (sa != FKM_OK || sb != FKM_OK) {
        FAIL("%s: update fits failed: %s / %s: %s", what, fkm_status_str(sa), fkm_status_str(sb), fkm_last_error());
        fkm_result_free(&a), fkm_result_free(&b);
        return;
    }
    double *wr = working_rows(x, n, d, c->metric), *sum = calloc((size_t)(k * d), sizeof(double));
    double *mx = calloc((size_t)(k * d), sizeof(double)), *cnt = calloc((size_t)k, sizeof(double));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    memcpy(lab, a.labels, (size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) cnt[lab[i]] += m->weights ? m->weights[i] : 1.0;
    int64_t empty = 0;
    for (int64_t l = 0; l < k; l++) empty += cnt[l] == 0;
    EXPECT(b.iterations == 1 && b.stats[0].empty == empty, "%s: stats empty %" PRId64 ", oracle %" PRId64, what,
           b.iterations == 1 ? b.stats[0].empty : -1, empty);
    int unsure = 0;
    if (empty && c->empty == FKM_EMPTY_FARTHEST)
        unsure = oracle_farthest(x, wr, m->weights, n, d, a.centroids, k, c->metric, margin_of(p.precision), lab, cnt);
    S.update_unsure += unsure;
    for (int64_t i = 0; i < n; i++) {
        const double wi = m->weights ? m->weights[i] : 1.0;
        if (wi == 0) continue;
        for (int64_t j = 0; j < d; j++) {
            sum[lab[i] * d + j] += wi * wr[i * d + j];
            mx[lab[i] * d + j] = fmax(mx[lab[i] * d + j], fabs(wr[i * d + j]));
        }
    }
    /* The engines' documented sums: CPU float64 (then one float32 rounding: 2^-23 of the largest
     * value is ample); CUDA fp32 over chunks of at most 256 points, then float64 (docs/cuda.md:
     * 255 u of the largest value), on its copy of the data: fp16/bf16 for those precisions
     * (rounding of float32 data, and of the unit rows of half data under cosine: 2^-11 / 2^-8
     * relative, 2^-25 absolute under fp16's subnormals; found by the first GPU soak). */
    double rel = 0x1p-23, abs_tol = 0;
    if (p.device == FKM_DEVICE_CUDA) {
        rel = 256 * 0x1p-24;
        /* half data is used as it is, except under cosine: its unit rows are rounded again */
        const int cos = c->metric == FKM_METRIC_COSINE;
        if (p.precision == FKM_PREC_FP16 && (c->dtype != FKM_F16 || cos)) rel += 0x1p-11, abs_tol = 0x1p-24;
        if (p.precision == FKM_PREC_BF16 && (c->dtype != FKM_BF16 || cos)) rel += 0x1p-8;
    }
    const float *c1 = b.centroids;
    for (int64_t l = 0; l < k && !unsure; l++) {
        if (cnt[l] == 0) {
            double mv = 0;
            for (int64_t j = 0; j < d; j++) mv = fmax(mv, fabs((double)c1[l * d + j] - a.centroids[l * d + j]));
            EXPECT(!memcmp(c1 + l * d, a.centroids + l * d, (size_t)d * sizeof(float)),
                   "%s: empty cluster %" PRId64 " moved by up to %.3g (%s; c0[0] %.9g, c1[0] %.9g)", what, l, mv,
                   soak_empty_names[c->empty], (double)a.centroids[l * d], (double)c1[l * d]);
            continue;
        }
        /* Cosine: c = m / |m| of the engine's mean m^ = m + D, |D_j| <= e_j = (rel + 2^-23) mx_j +
         * abs_tol. | |m^| - |m| | <= |D| <= E = sqrt(sum e_j^2), so
         *   |c^_j - c_j| <= |D_j| / |m^| + |m_j| | 1/|m^| - 1/|m| | <= (e_j + |c_j| E) / (|m| - E),
         * plus 2^-23 for the float32 result. The second term is the error of the norm, spread over
         * every feature: rounding a large feature moves the small ones too (the GPU soak's cosine
         * fp16/bf16 failures of 2026-12-07 were that term, e.g. 0.2855 against 0.2843 at bf16). A
         * mean within E of zero has no direction to check (|m| <= 2E: not judged). */
        double nm = 0, E = 0;
        for (int64_t j = 0; j < d; j++) {
            const double mj = sum[l * d + j] / cnt[l], ej = (rel + 0x1p-23) * mx[l * d + j] + abs_tol;
            nm += mj * mj;
            E += ej * ej;
        }
        nm = sqrt(nm), E = sqrt(E);
        if (c->metric == FKM_METRIC_COSINE && nm > 0 && nm <= 2 * E) {
            S.cos_unjudged++;
            continue;
        }
        int64_t badj = -1;
        double want = 0;
        for (int64_t j = 0; j < d && badj < 0; j++) {
            double tol = rel * mx[l * d + j] + abs_tol;
            want = sum[l * d + j] / cnt[l];
            if (c->metric == FKM_METRIC_COSINE) {
                if (nm == 0) { want = a.centroids[l * d + j]; tol = 0; }
                else {
                    want /= nm;
                    tol = 0x1p-23 + ((rel + 0x1p-23) * mx[l * d + j] + abs_tol + fabs(want) * E) / (nm - E);
                }
            }
            if (!(fabs((double)c1[l * d + j] - want) <= tol)) badj = j;
        }
        EXPECT(badj < 0, "%s: cluster %" PRId64 " after one update: c1[%" PRId64 "] = %.9g, weighted mean %.9g (%s)", what, l,
               badj, badj < 0 ? 0.0 : (double)c1[l * d + badj], want, soak_empty_names[c->empty]);
    }
    free(wr); free(sum); free(mx); free(cnt); free(lab);
    fkm_result_free(&a), fkm_result_free(&b);
}

/* Mean over features of the per-feature variance of the working rows (unweighted, float64). */
static double feature_variance(const double *x, int64_t n, int64_t d, int metric) {
    double *wr = working_rows(x, n, d, metric), v = 0;
    for (int64_t j = 0; j < d; j++) {
        double mu = 0, s = 0;
        for (int64_t i = 0; i < n; i++) mu += wr[i * d + j];
        mu /= (double)n;
        for (int64_t i = 0; i < n; i++) s += (wr[i * d + j] - mu) * (wr[i * d + j] - mu);
        v += s / (double)n;
    }
    free(wr);
    return v / (double)d;
}

/* Every check of one engine's result on problem `pi` of the case. */
static void check_result(const char *what, const soak_case *c, const fkm_params *p, const fkm_matrix *m,
                         const double *x, const fkm_result *r, double margin) {
    const int64_t n = m->n, d = m->d, k = c->k;
    int finite = r->centroids && r->labels && r->k == k && r->n == n && r->d == d;
    for (int64_t i = 0; finite && i < k * d; i++) finite = isfinite(r->centroids[i]);
    EXPECT(finite, "%s: result shape or centroids not finite", what);
    if (!finite) return;
    check_assignment(what, x, m->weights, n, d, r->centroids, k, c->metric, r->labels, r->inertia, margin);
    if (c->freeze && c->metric != FKM_METRIC_COSINE)
        EXPECT(!memcmp(r->centroids, p->init_centroids, (size_t)(k * d) * sizeof(float)), "%s: frozen centroids changed", what);
    check_stop(what, c, r, feature_variance(x, n, d, c->metric));
    /* predict returns the fit's labels and score its inertia, bit for bit (contract §3) */
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    double sc = NAN;
    fkm_status s1 = fkm_predict(p, m, r->centroids, k, lab, NULL), s2 = fkm_score(p, m, r->centroids, k, &sc);
    EXPECT(s1 == FKM_OK && !memcmp(lab, r->labels, (size_t)n * sizeof(int32_t)), "%s: predict(centroids) != fit labels (%s)", what,
           fkm_status_str(s1));
    EXPECT(s2 == FKM_OK && !memcmp(&sc, &r->inertia, sizeof sc), "%s: score %.17g != fit inertia %.17g (%s)", what, sc, r->inertia,
           fkm_status_str(s2));
    free(lab);
}

/* The case on one device: fit (batch when b > 1), checks, then the identities: a rerun (CPU: with
 * another thread count) is bitwise equal; problem i of a batch equals a fit with seed + i; the
 * kept restart equals the restart of lowest inertia run alone. */
static void run_device(const soak_case *c, fkm_device dev, const void *data, const double *x64, const float *w,
                       const float *c0) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = c->k, p.max_iter = c->max_iter, p.tol = c->tol, p.stop = (fkm_stop_rule)c->stop, p.init = (fkm_init)c->init;
    p.init_centroids = c->init == FKM_INIT_ARRAY ? c0 : NULL, p.freeze_init = c->freeze, p.n_init = c->n_init;
    p.seed = c->seed, p.metric = (fkm_metric)c->metric, p.empty = (fkm_empty_policy)c->empty, p.device = dev;
    p.threads = c->threads;
    p.precision = dev == FKM_DEVICE_CUDA ? (fkm_precision)c->gpu_prec : FKM_PREC_EXACT;
    p.algorithm = (fkm_algorithm)c->algo; /* a GPU fit runs Lloyd for elkan/hamerly: the same bits */
    const double margin = margin_of(p.precision);
    const char *dn = dev == FKM_DEVICE_CUDA ? "gpu" : "cpu";
    const size_t esz = fkm_dtype_size((fkm_dtype)c->dtype);
    const int64_t nd = c->n * c->d;
    fkm_matrix all = {data, (fkm_dtype)c->dtype, c->n, c->d, w};
    fkm_result *r = calloc((size_t)c->b, sizeof(fkm_result));
    fkm_status st = c->b > 1 ? fkm_fit_batch(&p, &all, c->b, r) : fkm_fit(&p, &all, r);
    S.fits++;
    S.checks++;
    if (st != FKM_OK) {
        FAIL("%s fit: %s: %s", dn, fkm_status_str(st), fkm_last_error());
        free(r);
        return;
    }
    EXPECT(r[0].device == dev && r[0].precision == p.precision, "%s: ran on %s in %s", dn, fkm_device_str(r[0].device),
           fkm_precision_str(r[0].precision));
    for (int64_t pi = 0; pi < c->b; pi++) {
        char what[64];
        snprintf(what, sizeof what, "%s problem %" PRId64, dn, pi);
        fkm_matrix m = {(const char *)data + (size_t)(pi * nd) * esz, (fkm_dtype)c->dtype, c->n, c->d, w ? w + pi * c->n : NULL};
        const double *x = x64 + pi * nd;
        check_result(what, c, &p, &m, x, &r[pi], margin);
        fkm_params q = p;
        q.seed = p.seed + (uint64_t)pi;
        if (dev == FKM_DEVICE_CPU) q.threads = c->threads == 1 ? 2 : 1;
        fkm_result again;
        st = fkm_fit(&q, &m, &again);
        S.fits++;
        EXPECT(st == FKM_OK && same_result(&r[pi], &again), "%s: a fit of this problem alone (seed + %" PRId64 "%s) is not bitwise equal",
               what, pi, dev == FKM_DEVICE_CPU ? ", other thread count" : "");
        fkm_result_free(&again);
        if (p.algorithm != FKM_ALGO_LLOYD) { /* elkan/hamerly: Lloyd's results and statistics, bit for bit */
            q = p, q.seed = p.seed + (uint64_t)pi, q.algorithm = FKM_ALGO_LLOYD;
            st = fkm_fit(&q, &m, &again);
            S.fits++;
            int same = st == FKM_OK && same_result(&r[pi], &again);
            for (int t = 0; same && t < again.iterations; t++) {
                fkm_iter_stats u = r[pi].stats[t], v = again.stats[t];
                u.ms = v.ms = 0, u.rescored = v.rescored = 0;
                same = !memcmp(&u, &v, sizeof u);
            }
            EXPECT(same, "%s: algorithm %s differs from Lloyd", what, soak_algo_names[c->algo]);
            fkm_result_free(&again);
        }
        if (c->n_init > 1 && c->init != FKM_INIT_ARRAY) { /* restart r alone: seed + r * 0x9E3779B9 */
            int best = -1;
            double bi = INFINITY;
            fkm_result one[3];
            for (int ri = 0; ri < c->n_init; ri++) {
                fkm_params o = q;
                o.n_init = 1, o.seed = q.seed + (uint64_t)ri * 0x9E3779B9ull;
                if (fkm_fit(&o, &m, &one[ri]) != FKM_OK) { FAIL("%s: restart %d alone failed: %s", what, ri, fkm_last_error()); continue; }
                S.fits++;
                if (one[ri].inertia < bi) bi = one[ri].inertia, best = ri;
            }
            EXPECT(best == r[pi].best_init, "%s: kept restart %d, lowest inertia in restart %d", what, r[pi].best_init, best);
            if (best >= 0 && best == r[pi].best_init) {
                one[best].best_init = best;
                EXPECT(same_result(&one[best], &r[pi]), "%s: kept restart %d differs from the same restart run alone", what, best);
            }
            for (int ri = 0; ri < c->n_init; ri++) fkm_result_free(&one[ri]);
        }
        if (pi == 0) check_update(what, c, p, &m, x, r[0].centroids);
    }
    for (int64_t pi = 0; pi < c->b; pi++) fkm_result_free(&r[pi]);
    free(r);
}

/* CPU against GPU directly: the GPU's predict (at the case's precision) on the centroids of the
 * CPU fit of problem 0 gives the CPU's labels, except where the two centroids' oracle distances
 * are within the GPU precision's margin; its distances match the oracle's within it. */
static void cross_check(const soak_case *c, const void *data, const double *x64, const float *w, const float *c0) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = c->k, p.max_iter = c->max_iter, p.tol = c->tol, p.stop = (fkm_stop_rule)c->stop, p.init = (fkm_init)c->init;
    p.init_centroids = c->init == FKM_INIT_ARRAY ? c0 : NULL, p.freeze_init = c->freeze, p.seed = c->seed;
    p.metric = (fkm_metric)c->metric, p.empty = (fkm_empty_policy)c->empty, p.device = FKM_DEVICE_CPU;
    fkm_matrix m = {data, (fkm_dtype)c->dtype, c->n, c->d, w};
    fkm_result r;
    S.checks++;
    if (fkm_fit(&p, &m, &r) != FKM_OK) { FAIL("cross: cpu fit: %s", fkm_last_error()); return; }
    p.device = S.self_cross ? FKM_DEVICE_CPU : FKM_DEVICE_CUDA;
    p.precision = S.self_cross ? FKM_PREC_EXACT : (fkm_precision)c->gpu_prec;
    int32_t *lab = malloc((size_t)c->n * sizeof(int32_t));
    float *dist = malloc((size_t)c->n * sizeof(float));
    fkm_status st = fkm_predict(&p, &m, r.centroids, c->k, lab, dist);
    S.fits += 2;
    if (st != FKM_OK) FAIL("cross: gpu predict: %s: %s", fkm_status_str(st), fkm_last_error());
    else {
        double *cd = malloc((size_t)(c->k * c->d) * sizeof(double));
        for (int64_t i = 0; i < c->k * c->d; i++) cd[i] = r.centroids[i];
        const double margin = margin_of(p.precision);
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < c->n; i++) {
            const double *x = x64 + i * c->d;
            if (lab[i] < 0 || lab[i] >= c->k) { bad++; if (first < 0) first = i; continue; }
            const double *cg = cd + (int64_t)lab[i] * c->d, *cc = cd + (int64_t)r.labels[i] * c->d;
            const double dg = ref_dist(x, cg, c->d, c->metric), dc = ref_dist(x, cc, c->d, c->metric);
            const double sc = fmax(tie_scale(x, cg, c->d, c->metric), tie_scale(x, cc, c->d, c->metric));
            const double want = c->metric != FKM_METRIC_IP && dg < 0 ? 0 : dg;
            if ((lab[i] != r.labels[i] && fabs(dg - dc) > margin * sc) || !(fabs((double)dist[i] - want) <= margin * sc + 1e-6)) {
                bad++;
                if (first < 0) first = i;
            }
        }
        S.checks++;
        if (bad)
            FAIL("cross: %" PRId64 " of %" PRId64 " GPU labels/distances on the CPU fit's centroids beyond the %s margin (first: point %" PRId64
                 ", gpu %d dist %.9g, cpu %d)", bad, c->n, soak_prec_names[p.precision], first, lab[first], (double)dist[first], r.labels[first]);
        free(cd);
    }
    free(lab); free(dist);
    fkm_result_free(&r);
}

static void run_case(const soak_case *c, int gpu) {
    soak_format(c, case_line, sizeof case_line);
    case_failed = 0;
    const int64_t nd = c->b * c->n * c->d;
    double *x64 = malloc((size_t)nd * sizeof(double));
    void *data = soak_data(c, x64);
    float *w = soak_weights(c), *c0 = soak_init(c, x64);
    const double t0 = now_s();
    const int64_t ties0 = S.near_ties;
    run_device(c, FKM_DEVICE_CPU, data, x64, w, c0);
    if (gpu) run_device(c, FKM_DEVICE_CUDA, data, x64, w, c0);
    if (gpu || S.self_cross) cross_check(c, data, x64, w, c0);
    S.cases++;
    S.gpu_cases += gpu;
    S.failed_cases += case_failed;
    if (S.silent) {}
    else if (case_failed) printf("  replay: %s --case '%s'   (--shrink: a smaller failing case)\n", argv0, case_line);
    else if (!S.quiet)
        printf("ok %.3fs ties %" PRId64 " cpu%s %s\n", now_s() - t0, S.near_ties - ties0, gpu ? "+gpu" : " (gpu skipped)", case_line);
    fflush(stdout);
    free(x64); free(data); free(w); free(c0);
}

/* --shrink: smaller and simpler variants of a failing case, kept while they still fail (any
 * check), until none of the steps below fails; prints the smallest and runs it once more loudly. */
static int fails_silently(const soak_case *c, int gpu) {
    const int quiet = S.quiet;
    const __typeof__(S) saved = S;
    S.silent = 1;
    run_case(c, gpu);
    const int f = case_failed;
    S = saved, S.quiet = quiet;
    return f;
}

static void shrink(soak_case c, int gpu) {
    if (!fails_silently(&c, gpu)) { printf("soak: --shrink: the case passes, nothing to shrink\n"); return; }
    int tries = 0;
    for (int changed = 1; changed && tries < 400;) {
        changed = 0;
        for (int step = 0; step < 16 && !changed; step++) {
            soak_case t = c;
            switch (step) {
            case 0: t.b = 1; break;
            case 1: t.n_init = 1; break;
            case 2: t.wkind = SOAK_W_NONE; break;
            case 3: t.algo = 0; break;
            case 4: t.threads = 1; break;
            case 5: t.max_iter /= 2; break;
            case 6: t.max_iter = t.max_iter > 0 ? t.max_iter - 1 : 0; break;
            case 7: t.n = t.n / 2 > 0 ? t.n / 2 : 1; break;
            case 8: t.n = t.n > 1 ? t.n - 1 : 1; break;
            case 9: t.d = t.d / 2 > 0 ? t.d / 2 : 1; break;
            case 10: t.d = t.d > 1 ? t.d - 1 : 1; break;
            case 11: t.k = t.k / 2 > 0 ? t.k / 2 : 1; break;
            case 12: t.k = t.k > 1 ? t.k - 1 : 1; break;
            case 13: t.stop = FKM_STOP_FIXED; break;
            case 14: t.freeze = 0; break;
            default: t.dtype = FKM_F32; break;
            }
            if (t.k > t.n) t.k = t.n;
            if (!memcmp(&t, &c, sizeof t)) continue;
            tries++;
            if (fails_silently(&t, gpu)) c = t, changed = 1;
        }
    }
    soak_format(&c, case_line, sizeof case_line);
    printf("soak: --shrink: %d variants tried; smallest failing case:\n%s\n", tries, case_line);
    run_case(&c, gpu);
}

static int run_file(const char *path, int gpu) {
    FILE *f = fopen(path, "r");
    if (!f) { printf("soak: no regression file %s\n", path); return 0; }
    char line[1024];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || strspn(line, " \t\r\n") == strlen(line)) continue;
        soak_case c;
        if (soak_parse(line, &c)) { S.fails++; S.failed_cases++; continue; }
        run_case(&c, gpu);
        count++;
    }
    fclose(f);
    printf("soak: %d regression case(s) from %s\n", count, path);
    return count;
}

int main(int argc, char **argv) {
    const char *env = getenv("FKM_SOAK_SECONDS"), *src = getenv("FKM_SOURCE_DIR"), *json = NULL, *one = NULL;
    double seconds = env ? atof(env) : 20;
    uint64_t seed = getenv("FKM_SOAK_SEED") ? strtoull(getenv("FKM_SOAK_SEED"), NULL, 10) : (uint64_t)time(NULL);
    int big = 0, cpu_only = 0, regressions = 1, do_shrink = 0;
    argv0 = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seconds") && v) seconds = atof(v), i++;
        else if (!strcmp(a, "--seed") && v) seed = strtoull(v, NULL, 10), i++;
        else if (!strcmp(a, "--case") && v) one = v, i++;
        else if (!strcmp(a, "--json") && v) json = v, i++;
        else if (!strcmp(a, "--big")) big = 1;
        else if (!strcmp(a, "--cpu-only")) cpu_only = 1;
        else if (!strcmp(a, "--no-regressions")) regressions = 0;
        else if (!strcmp(a, "--quiet")) S.quiet = 1;
        else if (!strcmp(a, "--shrink")) do_shrink = 1;
        else if (!strcmp(a, "--self-cross")) S.self_cross = 1;
        else { fprintf(stderr, "usage: %s [--seconds S] [--seed S] [--big] [--cpu-only] [--no-regressions] [--quiet] [--self-cross] [--json FILE] | --case LINE [--shrink]\n", argv[0]); return 2; }
    }
    const int ngpu = fkm_cuda_device_count(), gpu = ngpu > 0 && !cpu_only;
    printf("soak: %s; GPU side %s\n", fkm_version(), gpu ? "on" : cpu_only ? "off (--cpu-only)" : "SKIPPED (no CUDA GPU)");
    const double t0 = now_s();
    if (one) {
        soak_case c;
        if (soak_parse(one, &c)) return 2;
        if (do_shrink) shrink(c, gpu);
        else run_case(&c, gpu);
    } else {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/soak_regressions.txt", src ? src : ".");
        if (regressions) run_file(path, gpu);
        printf("soak: random cases for %.0f s from --seed %" PRIu64 "%s\n", seconds, seed, big ? " --big" : "");
        for (uint64_t i = 0; now_s() - t0 < seconds; i++) {
            soak_case c = soak_draw(seed + i * 0x9E3779B97F4A7C15ull, big);
            run_case(&c, gpu);
        }
    }
    const double el = now_s() - t0;
    printf("soak: %" PRId64 " cases (%" PRId64 " on the GPU, GPU side %s), %" PRId64 " fits, %" PRId64 " checks, %" PRId64
           " points checked against the oracle: %" PRId64 " near-ties within the margin, %" PRId64
           " labels beyond it; %" PRId64 " update checks left unjudged (a near-tie in the empty-cluster donor), %" PRId64
           " cosine clusters not judged (a mean within its error of zero); %" PRId64 " failed checks in %" PRId64
           " cases; %.1f s\n",
           S.cases, S.gpu_cases, gpu ? "on" : "skipped", S.fits, S.checks, S.points, S.near_ties, S.label_bad, S.update_unsure,
           S.cos_unjudged, S.fails, S.failed_cases, el);
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "{\"seed\": %" PRIu64 ", \"big\": %d, \"seconds\": %.1f, \"cases\": %" PRId64 ", \"gpu_cases\": %" PRId64
                       ", \"gpu\": \"%s\", \"fits\": %" PRId64 ", \"checks\": %" PRId64 ", \"points\": %" PRId64
                       ", \"near_ties\": %" PRId64 ", \"labels_beyond_margin\": %" PRId64 ", \"update_unjudged\": %" PRId64
                       ", \"cosine_unjudged\": %" PRId64 ", \"failed_checks\": %" PRId64
                       ", \"failed_cases\": %" PRId64 "}\n",
                    seed, big, el, S.cases, S.gpu_cases, gpu ? "on" : "skipped", S.fits, S.checks, S.points, S.near_ties,
                    S.label_bad, S.update_unsure, S.cos_unjudged, S.fails, S.failed_cases);
            fclose(f);
        }
    }
    return S.fails ? 1 : 0;
}
