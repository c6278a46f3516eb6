/* test_elkan.c -- FKM_ALGO_ELKAN and FKM_ALGO_HAMERLY give Lloyd's results bit for bit.
 *
 * 1. Fits: many random problems (sizes, seeds, inits, stop rules, weights, empty policies, thread
 *    counts) and hard data (duplicate rows, fewer distinct rows than k, integer grids with exact
 *    ties, points equidistant from centroids, data far from the origin where the expansion
 *    cancels, tiny and huge magnitudes): labels, centroids, inertia, iterations, stop reason and
 *    every per-iteration statistic equal to the FKM_ALGO_LLOYD fit's, byte for byte.
 * 2. The bounded assignment itself (src/cpu/elkan.c) against the kernels' (fkm_cpu_assign) over
 *    sequences of centroids that move a little, jump, or sit exactly between points: labels and
 *    distances bitwise equal at every step, and on clustered data most scores really skipped.
 * 3. The parameter: default, validation (unknown value; a metric other than l2 refused). */
#include "check.h"
#include "cpu/cpu.h"
#include "gen.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

static uint64_t rng = 0x5eed;

static double unif(void) { return gen_unif(&rng); }

/* Kinds of data. */
enum { NORMAL, BLOBS, DUPES, FEW_DISTINCT, GRID, FAR, TINY, HUGE, NKINDS };
static const char *kind_name[] = {"normal", "blobs", "dupes", "few-distinct", "grid", "far", "tiny", "huge"};

static void make_data(int kind, int64_t n, int64_t d, int64_t k, float *x) {
    switch (kind) {
    case BLOBS: {
        double *x64 = (double *)malloc(sizeof(double) * (size_t)(n * d));
        gen_blobs(gen_next(&rng), n, d, k, 0.3, x64, x);
        free(x64);
        break;
    }
    case DUPES: /* rows drawn from n/4 + 1 distinct ones */
    case FEW_DISTINCT: { /* fewer distinct rows than clusters: empty clusters every iteration */
        const int64_t m = kind == DUPES ? n / 4 + 1 : (k > 1 ? k - 1 : 1);
        for (int64_t i = 0; i < n; i++) {
            const int64_t r = i < m ? i : (int64_t)(unif() * m);
            for (int64_t j = 0; j < d; j++) x[i * d + j] = i < m ? (float)gen_normal(&rng) : x[r * d + j];
        }
        break;
    }
    case GRID: /* small integers: exact scores, many exact ties */
        for (int64_t i = 0; i < n * d; i++) x[i] = (float)(int)(unif() * 4);
        break;
    default: {
        const double scale = kind == TINY ? 1e-18 : kind == HUGE ? 1e15 : 1.0;
        const double off = kind == FAR ? 1e4 : 0.0;
        for (int64_t i = 0; i < n * d; i++) x[i] = (float)(off + scale * gen_normal(&rng));
    }
    }
}

static int same_stats(const fkm_result *a, const fkm_result *b) {
    for (int t = 0; t < a->iterations; t++) {
        const fkm_iter_stats *s = &a->stats[t], *u = &b->stats[t];
        if (memcmp(&s->inertia, &u->inertia, sizeof(double)) || memcmp(&s->shift, &u->shift, sizeof(double)) ||
            s->empty != u->empty || s->changed != u->changed)
            return 0;
    }
    return 1;
}

static int fits_run;

static void compare_fit(const fkm_params *p0, const float *x, const float *w, int64_t n, int64_t d, const char *what) {
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result ref, got;
    memset(&ref, 0, sizeof ref);
    fkm_params p = *p0;
    p.algorithm = FKM_ALGO_LLOYD;
    fkm_status s0 = fkm_fit(&p, &m, &ref);
    for (int algo = FKM_ALGO_ELKAN; algo <= FKM_ALGO_HAMERLY; algo++) {
        p.algorithm = (fkm_algorithm)algo;
        memset(&got, 0, sizeof got);
        fkm_status s1 = fkm_fit(&p, &m, &got);
        const char *an = algo == FKM_ALGO_ELKAN ? "elkan" : "hamerly";
        CHECK(s0 == s1, "%s %s: status %d vs lloyd %d (%s)", what, an, s1, s0, fkm_last_error());
        if (s0 == FKM_OK && s1 == FKM_OK) {
            fits_run++;
            CHECK(got.iterations == ref.iterations && got.stop_reason == ref.stop_reason,
                  "%s %s: %d iterations (%d) vs lloyd %d (%d)", what, an, got.iterations, got.stop_reason,
                  ref.iterations, ref.stop_reason);
            CHECK(!memcmp(got.labels, ref.labels, (size_t)n * sizeof(int32_t)), "%s %s: labels differ", what, an);
            CHECK(!memcmp(got.centroids, ref.centroids, (size_t)(p.k * d) * sizeof(float)), "%s %s: centroids differ",
                  what, an);
            CHECK(!memcmp(&got.inertia, &ref.inertia, sizeof(double)), "%s %s: inertia %.17g vs %.17g", what, an,
                  got.inertia, ref.inertia);
            CHECK(got.iterations != ref.iterations || same_stats(&got, &ref), "%s %s: per-iteration stats differ",
                  what, an);
        }
        fkm_result_free(&got);
    }
    fkm_result_free(&ref);
}

static void test_fits(void) {
    float *x = (float *)malloc(sizeof(float) * 1400 * 40), *w = (float *)malloc(sizeof(float) * 1400),
          *c0 = (float *)malloc(sizeof(float) * 70 * 40);
    int cases = 0;
    for (int kind = 0; kind < NKINDS; kind++)
        for (int rep = 0; rep < 14; rep++, cases++) {
            const int64_t d = 1 + (int64_t)(unif() * (rep % 3 == 0 ? 3 : 39));
            const int64_t k = 1 + (int64_t)(unif() * (rep % 4 == 0 ? 4 : 60));
            int64_t n = k + (int64_t)(unif() * (rep % 5 == 0 ? 30 : 1200));
            make_data(kind, n, d, k, x);
            fkm_params p;
            fkm_params_default(&p);
            p.k = k;
            p.device = FKM_DEVICE_CPU;
            p.seed = gen_next(&rng);
            p.max_iter = 40 + (int)(unif() * 60);
            p.stop = (fkm_stop_rule)(rep % 4);
            p.tol = rep % 3 == 1 ? 0.0 : 1e-4;
            p.init = rep % 3 == 0 ? FKM_INIT_RANDOM : FKM_INIT_KMEANSPP;
            p.empty = rep % 7 == 3 ? FKM_EMPTY_KEEP : FKM_EMPTY_FARTHEST;
            p.threads = 1 + rep % 2;
            p.n_init = rep % 6 == 5 ? 2 : 1;
            if (rep % 5 == 2) { /* given centres: rows of the data (exact zero distances) or points between */
                p.init = FKM_INIT_ARRAY;
                for (int64_t c = 0; c < k; c++)
                    for (int64_t j = 0; j < d; j++)
                        c0[c * d + j] = rep % 2 ? x[(c % n) * d + j] : 0.5f * (x[(c % n) * d + j] + x[((c + 1) % n) * d + j]);
                p.init_centroids = c0;
            }
            const float *wp = NULL;
            if (rep % 4 == 1) {
                for (int64_t i = 0; i < n; i++) w[i] = (float)(int)(unif() * 3); /* zero weights too */
                w[0] = 1.0f;
                wp = w;
            }
            char what[160];
            snprintf(what, sizeof what, "%s n=%lld d=%lld k=%lld rule=%d init=%d w=%d", kind_name[kind], (long long)n,
                     (long long)d, (long long)k, (int)p.stop, (int)p.init, wp != NULL);
            compare_fit(&p, x, wp, n, d, what);
        }
    printf("fits: %d cases, %d bounded fits equal to lloyd's\n", cases, fits_run);
    free(x), free(w), free(c0);
}

/* The bounded assignment against the kernels' over a sequence of centroid sets. */
static void test_assign_sequences(void) {
    const int64_t n = 1500, d = 12, k = 24;
    float *x = (float *)malloc(sizeof(float) * n * d), *c = (float *)malloc(sizeof(float) * k * d);
    float *xterm = (float *)malloc(sizeof(float) * n), *cterm = (float *)malloc(sizeof(float) * k);
    float *b0 = (float *)malloc(sizeof(float) * n), *b1 = (float *)malloc(sizeof(float) * n);
    int32_t *l0 = (int32_t *)malloc(sizeof(int32_t) * n), *l1 = (int32_t *)malloc(sizeof(int32_t) * n);
    int64_t scored = 0, total = 0, hscored = 0, htotal = 0;
    for (int kind = 0; kind < NKINDS; kind++)
        for (int algo = FKM_ALGO_ELKAN; algo <= FKM_ALGO_HAMERLY; algo++) {
            make_data(kind == FEW_DISTINCT ? BLOBS : kind, n, d, k, x);
            fkm_cpu_xterm(x, n, d, FKM_METRIC_L2, 1, xterm);
            fkm_cpu_bounds *bd = fkm_cpu_bounds_create((fkm_algorithm)algo, x, n, d, k, 2);
            CHECK(bd != NULL, "bounds created");
            if (!bd) continue;
            for (int64_t q = 0; q < k; q++) memcpy(c + q * d, x + (q * 37 % n) * d, sizeof(float) * d);
            for (int step = 0; step < 30; step++) {
                fkm_cpu_cterm(c, k, d, FKM_METRIC_L2, cterm);
                fkm_cpu_assign_args a = {x, xterm, c, cterm, n, d, k, 2.0f, 1, 1 + step % 2};
                fkm_cpu_assign(&a, l0, b0);
                const int64_t s = fkm_cpu_assign_bounded(bd, &a, l1, b1);
                CHECK(!memcmp(l0, l1, sizeof(int32_t) * n) && !memcmp(b0, b1, sizeof(float) * n),
                      "%s %s step %d: bounded assignment differs from the kernels'", kind_name[kind],
                      algo == FKM_ALGO_ELKAN ? "elkan" : "hamerly", step);
                if (step > 0 && kind == BLOBS && algo == FKM_ALGO_ELKAN) scored += s, total += n * k;
                if (step > 0 && kind == BLOBS && algo == FKM_ALGO_HAMERLY) hscored += s, htotal += n * k;
                /* next centroids: small moves, sometimes a jump onto a point or midway between two
                 * centroids (ties), sometimes a centroid duplicated (equal scores: lowest index wins) */
                for (int64_t q = 0; q < k; q++) {
                    const double r = unif();
                    if (r < 0.05) memcpy(c + q * d, x + (int64_t)(unif() * n) * d, sizeof(float) * d);
                    else if (r < 0.08 && q > 0) memcpy(c + q * d, c + (q - 1) * d, sizeof(float) * d);
                    else if (r < 0.10 && q > 1)
                        for (int64_t j = 0; j < d; j++) c[q * d + j] = 0.5f * (c[(q - 1) * d + j] + c[(q - 2) * d + j]);
                    else
                        for (int64_t j = 0; j < d; j++) c[q * d + j] += (float)(1e-3 * gen_normal(&rng) * (step % 3));
                }
            }
            fkm_cpu_bounds_destroy(bd);
        }
    printf("assign: clustered data, elkan, %lld of %lld scores computed after the first step\n", (long long)scored,
           (long long)total);
    CHECK(scored * 4 < total, "the bounds skip most scores on clustered data (%lld of %lld)", (long long)scored,
          (long long)total);
    /* no check here: the jumps move some centroid far every step, and Hamerly's single bound
     * drops by the largest move (test_hamerly_blocks checks it prunes under small moves) */
    printf("assign: clustered data, hamerly, %lld of %lld scores computed after the first step\n", (long long)hscored,
           (long long)htotal);
    free(x), free(c), free(xterm), free(cterm), free(b0), free(b1), free(l0), free(l1);
}

/* Hamerly's re-scans go through gathered blocks of about 4 MiB: with d = 1100 a block holds 1024
 * points, so 2600 points take three, the last one partial. */
static void test_hamerly_blocks(void) {
    const int64_t n = 2600, d = 1100, k = 7;
    float *x = (float *)malloc(sizeof(float) * n * d), *c = (float *)malloc(sizeof(float) * k * d);
    float *xterm = (float *)malloc(sizeof(float) * n), *cterm = (float *)malloc(sizeof(float) * k);
    float *b0 = (float *)malloc(sizeof(float) * n), *b1 = (float *)malloc(sizeof(float) * n);
    int32_t *l0 = (int32_t *)malloc(sizeof(int32_t) * n), *l1 = (int32_t *)malloc(sizeof(int32_t) * n);
    make_data(BLOBS, n, d, k, x);
    fkm_cpu_xterm(x, n, d, FKM_METRIC_L2, 1, xterm);
    fkm_cpu_bounds *bd = fkm_cpu_bounds_create(FKM_ALGO_HAMERLY, x, n, d, k, 2);
    CHECK(bd != NULL, "bounds created");
    for (int64_t q = 0; q < k; q++) memcpy(c + q * d, x + (q * 101 % n) * d, sizeof(float) * d);
    for (int step = 0; bd && step < 6; step++) {
        fkm_cpu_cterm(c, k, d, FKM_METRIC_L2, cterm);
        fkm_cpu_assign_args a = {x, xterm, c, cterm, n, d, k, 2.0f, 1, 2};
        fkm_cpu_assign(&a, l0, b0);
        const int64_t scored = fkm_cpu_assign_bounded(bd, &a, l1, b1);
        CHECK(!memcmp(l0, l1, sizeof(int32_t) * n) && !memcmp(b0, b1, sizeof(float) * n),
              "hamerly, three blocks, step %d: equal to the kernels'", step);
        if (step >= 3) /* after small moves most points keep their label without a re-scan */
            CHECK(scored * 4 < n * k, "hamerly step %d: %lld of %lld scores computed", step, (long long)scored,
                  (long long)(n * k));
        for (int64_t q = 0; q < k; q++) /* big moves first, then small: re-scans in every block */
            for (int64_t j = 0; j < d; j++) c[q * d + j] += (float)(gen_normal(&rng) * (step < 2 ? 0.3 : 1e-3));
    }
    fkm_cpu_bounds_destroy(bd);
    free(x), free(c), free(xterm), free(cterm), free(b0), free(b1), free(l0), free(l1);
}

/* The kernels' top-2 scan (Hamerly's re-scans): every kernel's labels and distances equal
 * fkm_cpu_assign's, and second equal to the second-lowest score (equal scores counted) computed
 * with the kernels' arithmetic, on sizes that exercise partial tiles and several passes over d. */
static float ref_score(const float *x, const float *c, int64_t d, float cterm) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; j++) dot = fmaf(x[j], c[j], dot);
    return fmaf(-2.0f, dot, cterm);
}

static void test_top2(void) {
    static const char *kernels[] = {"avx512", "avx2", "portable", "naive"};
    static const int64_t shapes[][3] = {{1, 1, 1}, {37, 3, 1}, {200, 5, 13}, {333, 300, 25}, {1000, 64, 100}, {129, 17, 40}};
    int runs = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int64_t n = shapes[si][0], d = shapes[si][1], k = shapes[si][2];
        float *x = (float *)malloc(sizeof(float) * n * d), *c = (float *)malloc(sizeof(float) * k * d);
        float *xterm = (float *)malloc(sizeof(float) * n), *cterm = (float *)malloc(sizeof(float) * k);
        float *b0 = (float *)malloc(sizeof(float) * n), *b1 = (float *)malloc(sizeof(float) * n);
        float *s1 = (float *)malloc(sizeof(float) * n);
        int32_t *l0 = (int32_t *)malloc(sizeof(int32_t) * n), *l1 = (int32_t *)malloc(sizeof(int32_t) * n);
        const int kind = si % 2 ? GRID : NORMAL; /* GRID: exact ties */
        make_data(kind, n, d, k, x);
        for (int64_t q = 0; q < k; q++) memcpy(c + q * d, x + (q * 7 % n) * d, sizeof(float) * d);
        if (k > 3) memcpy(c + 3 * d, c + 1 * d, sizeof(float) * d); /* a duplicated centroid: equal scores */
        fkm_cpu_xterm(x, n, d, FKM_METRIC_L2, 1, xterm);
        fkm_cpu_cterm(c, k, d, FKM_METRIC_L2, cterm);
        fkm_cpu_assign_args a = {x, xterm, c, cterm, n, d, k, 2.0f, 1, 1 + (int)(si % 2)};
        fkm_cpu_assign(&a, l0, b0);
        for (size_t kn = 0; kn < sizeof kernels / sizeof kernels[0]; kn++) {
            if (!fkm_cpu_assign_kernel_supported(kernels[kn])) continue;
            CHECK(fkm_cpu_assign_set_kernel(kernels[kn]) == 0, "kernel %s selected", kernels[kn]);
            fkm_cpu_ws *ws = fkm_cpu_ws_create();
            fkm_cpu_assign_top2(&a, l1, b1, s1, ws);
            fkm_cpu_ws_destroy(ws);
            int64_t bad_second = 0;
            CHECK(!memcmp(l0, l1, sizeof(int32_t) * n) && !memcmp(b0, b1, sizeof(float) * n),
                  "top-2 %s n=%lld d=%lld k=%lld: labels and distances equal the plain scan's", kernels[kn],
                  (long long)n, (long long)d, (long long)k);
            for (int64_t i = 0; i < n; i++) {
                float m1 = INFINITY, m2 = INFINITY;
                for (int64_t q = 0; q < k; q++) {
                    const float sc = ref_score(x + i * d, c + q * d, d, cterm[q]);
                    if (sc < m1) m2 = m1, m1 = sc;
                    else if (sc < m2) m2 = sc;
                }
                if (memcmp(&m2, &s1[i], sizeof(float))) bad_second++;
            }
            CHECK(bad_second == 0, "top-2 %s n=%lld d=%lld k=%lld: %lld second scores differ from the reference",
                  kernels[kn], (long long)n, (long long)d, (long long)k, (long long)bad_second);
            runs++;
        }
        fkm_cpu_assign_set_kernel("auto");
        free(x), free(c), free(xterm), free(cterm), free(b0), free(b1), free(s1), free(l0), free(l1);
    }
    printf("top-2 scan: %d kernel x shape runs\n", runs);
}

static void test_params(void) {
    fkm_params p;
    fkm_params_default(&p);
    CHECK(p.algorithm == FKM_ALGO_LLOYD, "default algorithm lloyd");
    p.algorithm = (fkm_algorithm)3;
    CHECK(fkm_params_validate(&p, 100, 4) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "algorithm"),
          "unknown algorithm refused: %s", fkm_last_error());
    p.algorithm = FKM_ALGO_ELKAN;
    CHECK(fkm_params_validate(&p, 100, 4) == FKM_OK, "elkan + l2 accepted");
    p.metric = FKM_METRIC_COSINE;
    CHECK(fkm_params_validate(&p, 100, 4) == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "l2"),
          "elkan + cosine refused: %s", fkm_last_error());
    p.algorithm = FKM_ALGO_HAMERLY;
    p.metric = FKM_METRIC_IP;
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    fkm_matrix m = {x, FKM_F32, 4, 2, NULL};
    fkm_result r;
    memset(&r, 0, sizeof r);
    p.k = 2;
    CHECK(fkm_fit(&p, &m, &r) == FKM_ERR_INVALID_ARG && r.labels == NULL, "hamerly + ip refused by the fit");
}

int main(void) {
    test_params();
    test_top2();
    test_hamerly_blocks();
    test_assign_sequences();
    test_fits();
    return check_report();
}
