/* test_cpu_kernels.c -- every CPU assignment kernel this CPU can run (forced through the internal
 * hook fkm_cpu_assign_set_kernel) against the naive unpacked kernel (bitwise: all kernels do the
 * same fp32 operations in the same order) and against the float64 oracle (labels equal except
 * near-ties, whose margin is a rigorous bound on the fp32 error). Exact ties (duplicate centroids,
 * integer data) must go to the lowest index in every lane, tile and cache block. The update is
 * checked against a float64 sum and for bitwise-identical output with 1..4 threads; whole fits
 * through the public API must be bitwise identical for threads = 1 and 2 and for every kernel. */
#include "check.h"
#include "cpu/cpu.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

static const char *const KERNELS[] = {"avx512", "avx2", "portable", "naive"};
enum { NK = 4 };
static const int64_t SIZES[] = {1, 2, 3, 7, 15, 16, 17, 31, 33, 100, 129};
enum { NS = sizeof SIZES / sizeof SIZES[0] };

typedef struct {
    int64_t n, d, k;
    int metric; /* 0 = L2, 2 = inner product (cosine runs the inner-product arithmetic) */
    float *x, *c, *xterm, *cterm;
    double *x64, *c64;
} problem;

static void problem_terms(problem *p) {
    p->xterm = malloc((size_t)p->n * sizeof(float));
    p->cterm = malloc((size_t)p->k * sizeof(float));
    for (int64_t i = 0; i < p->n; i++) {
        float s = 0;
        for (int64_t j = 0; j < p->d; j++) s += p->x[i * p->d + j] * p->x[i * p->d + j];
        p->xterm[i] = p->metric == 0 ? s : 0.0f;
    }
    for (int64_t c = 0; c < p->k; c++) {
        float s = 0;
        for (int64_t j = 0; j < p->d; j++) s += p->c[c * p->d + j] * p->c[c * p->d + j];
        p->cterm[c] = p->metric == 0 ? s : 0.0f;
    }
    p->x64 = malloc((size_t)(p->n * p->d) * sizeof(double));
    p->c64 = malloc((size_t)(p->k * p->d) * sizeof(double));
    for (int64_t i = 0; i < p->n * p->d; i++) p->x64[i] = p->x[i];
    for (int64_t i = 0; i < p->k * p->d; i++) p->c64[i] = p->c[i];
}

/* Random data; integer-valued when `grid` (then every fp32 operation is exact). */
static problem problem_new(uint64_t seed, int64_t n, int64_t d, int64_t k, int metric, int grid) {
    problem p = {n, d, k, metric, NULL, NULL, NULL, NULL, NULL, NULL};
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    p.x = malloc((size_t)(n * d) * sizeof(float));
    p.c = malloc((size_t)(k * d) * sizeof(float));
    for (int64_t i = 0; i < n * d; i++)
        p.x[i] = grid ? (float)((int)(gen_next(&s) % 5) - 2) : (float)(gen_normal(&s) + 0.5);
    for (int64_t i = 0; i < k * d; i++)
        p.c[i] = grid ? (float)((int)(gen_next(&s) % 5) - 2) : (float)(gen_normal(&s) + 0.5);
    return p;
}

static void problem_free(problem *p) {
    free(p->x); free(p->c); free(p->xterm); free(p->cterm); free(p->x64); free(p->c64);
}

static void run_kernel(const problem *p, const char *kernel, int threads, int32_t *labels, float *best) {
    fkm_cpu_assign_args a = {p->x, p->xterm, p->c, p->cterm, p->n, p->d, p->k,
                             p->metric == 0 ? 2.0f : 1.0f, p->metric == 0, threads};
    CHECK(fkm_cpu_assign_set_kernel(kernel) == 0, "cannot force kernel %s", kernel);
    for (int64_t i = 0; i < p->n; i++) { labels[i] = -7; best[i] = NAN; } /* poison */
    fkm_cpu_assign(&a, labels, best);
    fkm_cpu_assign_set_kernel(NULL);
}

/* Labels differing from the oracle beyond the fp32 error bound (exact: no allowance at all). */
static int64_t oracle_misses(const problem *p, const int32_t *got, int exact) {
    int32_t *lab = malloc((size_t)p->n * sizeof(int32_t));
    double *best = malloc((size_t)p->n * sizeof(double));
    ref_assign(p->x64, p->n, p->d, p->c64, p->k, p->metric, lab, best, NULL);
    int64_t bad = 0;
    const double u = 0x1p-24;
    for (int64_t i = 0; i < p->n; i++) {
        const int32_t g = got[i];
        if (g < 0 || g >= p->k) { bad++; continue; }
        if (g == lab[i]) continue;
        if (exact) { bad++; continue; }
        /* |error of one fp32 score| <= (d + 2) u sum_j |x_j c_j| + 2u |c|^2, for both scores */
        double ab = 0, ab2 = 0, cc = 0, cc2 = 0;
        for (int64_t j = 0; j < p->d; j++) {
            ab += fabs(p->x64[i * p->d + j] * p->c64[g * p->d + j]);
            ab2 += fabs(p->x64[i * p->d + j] * p->c64[lab[i] * p->d + j]);
            cc += p->c64[g * p->d + j] * p->c64[g * p->d + j];
            cc2 += p->c64[lab[i] * p->d + j] * p->c64[lab[i] * p->d + j];
        }
        const double f = p->metric == 0 ? 2.0 : 1.0, ct = p->metric == 0 ? 1.0 : 0.0;
        const double margin = (p->d + 4) * u * (f * (ab + ab2) + ct * (cc + cc2));
        const double mine = ref_dist(p->x64 + i * p->d, p->c64 + g * p->d, p->d, p->metric);
        if (mine - best[i] > margin) bad++;
    }
    free(lab);
    free(best);
    return bad;
}

/* One problem through every available kernel, 1 and 2 threads: bitwise equal to naive, and
 * to the oracle within the near-tie bound (exactly when `exact`). */
static void check_problem(const problem *p, int exact, const char *what) {
    int32_t *l0 = malloc((size_t)p->n * sizeof(int32_t)), *l1 = malloc((size_t)p->n * sizeof(int32_t));
    float *b0 = malloc((size_t)p->n * sizeof(float)), *b1 = malloc((size_t)p->n * sizeof(float));
    run_kernel(p, "naive", 1, l0, b0);
    int64_t miss = oracle_misses(p, l0, exact);
    CHECK(miss == 0, "%s n=%lld d=%lld k=%lld metric %d: %lld labels differ from the oracle", what,
          (long long)p->n, (long long)p->d, (long long)p->k, p->metric, (long long)miss);
    for (int ki = 0; ki < NK; ki++) {
        if (!fkm_cpu_assign_kernel_supported(KERNELS[ki])) continue;
        for (int threads = 1; threads <= 2; threads++) {
            if (threads == 1 && !strcmp(KERNELS[ki], "naive")) continue; /* that is l0 itself */
            run_kernel(p, KERNELS[ki], threads, l1, b1);
            int64_t dl = 0, db = 0, first = -1;
            for (int64_t i = 0; i < p->n; i++) {
                dl += l0[i] != l1[i];
                db += memcmp(&b0[i], &b1[i], sizeof(float)) != 0;
                if (first < 0 && (l0[i] != l1[i] || memcmp(&b0[i], &b1[i], sizeof(float)))) first = i;
            }
            CHECK(dl == 0 && db == 0,
                  "%s kernel %s threads %d n=%lld d=%lld k=%lld metric %d: %lld labels, %lld distances differ "
                  "from naive (first at point %lld: %d/%.9g vs %d/%.9g)",
                  what, KERNELS[ki], threads, (long long)p->n, (long long)p->d, (long long)p->k, p->metric,
                  (long long)dl, (long long)db, (long long)first, first < 0 ? 0 : l1[first],
                  first < 0 ? 0.0 : b1[first], first < 0 ? 0 : l0[first], first < 0 ? 0.0 : b0[first]);
        }
    }
    free(l0); free(l1); free(b0); free(b1);
}

static void test_shapes(void) {
    uint64_t seed = 1;
    for (int ni = 0; ni < NS; ni++)
        for (int di = 0; di < NS; di++)
            for (int ki = 0; ki < NS; ki += 1 + (ni + di) % 2) {
                problem p = problem_new(seed++, SIZES[ni], SIZES[di], SIZES[ki], (ni + ki) % 3 == 1 ? 2 : 0, 0);
                problem_terms(&p);
                check_problem(&p, 0, "random");
                problem_free(&p);
            }
    /* Larger shapes: several point chunks, several centroid cache blocks, long d. */
    const int64_t big[][3] = {{200, 784, 257}, {150, 1000, 300}, {300, 128, 1030}, {300, 3, 2000},
                              {513, 1, 100}, {97, 2500, 40}};
    for (size_t b = 0; b < sizeof big / sizeof big[0]; b++) {
        problem p = problem_new(seed++, big[b][0], big[b][1], big[b][2], (int)(b % 2) * 2, 0);
        problem_terms(&p);
        check_problem(&p, 0, "large");
        problem_free(&p);
    }
}

/* Tiny cache blocks (passes over d of 1..5 features, one panel per chunk, one or two tiles per
 * centroid block) put every boundary inside small problems: still the same bits. */
static void test_blocking(void) {
    const fkm_cpu_assign_tuning tunings[] = {{3, 1, 1, 0, 0}, {1, 2, 2, 1, 1}, {5, 3, 1, 0, 0}, {2, 1, 3, 0, 1}};
    const int64_t shapes[][3] = {{100, 17, 33}, {129, 7, 100}, {33, 31, 15}, {70, 1, 29}, {257, 64, 40}};
    uint64_t seed = 500;
    for (size_t t = 0; t < sizeof tunings / sizeof tunings[0]; t++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            problem p = problem_new(seed++, shapes[s][0], shapes[s][1], shapes[s][2], (int)(s % 2) * 2, 0);
            problem_terms(&p);
            fkm_cpu_assign_set_tuning(&tunings[t]);
            check_problem(&p, 0, "tiny blocks");
            fkm_cpu_assign_set_tuning(NULL);
            problem_free(&p);
        }
}

/* Integer data: the fp32 arithmetic is exact, so ties are exact and the oracle must be matched
 * exactly, lowest index included. Many points tie between centroids in different lanes, tiles
 * and (with k large relative to the cache block) different centroid blocks. */
static void test_grid_ties(void) {
    const int64_t shapes[][3] = {{257, 2, 40}, {100, 3, 129}, {333, 1, 17}, {64, 7, 31},
                                 {500, 4, 700}, {129, 16, 33}, {200, 200, 1100}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int metric = 0; metric <= 2; metric += 2) {
            problem p = problem_new(100 + s, shapes[s][0], shapes[s][1], shapes[s][2], metric, 1);
            problem_terms(&p);
            check_problem(&p, 1, "integer grid");
            problem_free(&p);
        }
}

/* Duplicate centroids: copies of centroid a at indices b > a must never win. The pairs are
 * adjacent, one tile apart for each kernel's tile size, far apart (other cache block), and
 * first/last; the points sit near the duplicated centroids so every lane sees them. */
static void test_duplicates(void) {
    const int64_t n = 331, d = 200, k = 1500;
    for (int metric = 0; metric <= 2; metric += 2) {
        problem p = problem_new(7 + metric, n, d, k, metric, 0);
        const int64_t pairs[][2] = {{0, 1}, {5, 17}, {30, 36}, {40, 52}, {60, 76}, {80, 112}, {90, 1200},
                                    {3, 1499}, {700, 701}};
        const int np = sizeof pairs / sizeof pairs[0];
        for (int q = 0; q < np; q++)
            memcpy(p.c + pairs[q][1] * d, p.c + pairs[q][0] * d, (size_t)d * sizeof(float));
        for (int64_t i = 0; i < n; i++) { /* point i near centroid pairs[i % np][0] */
            const int64_t a = pairs[i % np][0];
            for (int64_t j = 0; j < d; j++)
                p.x[i * d + j] = p.c[a * d + j] * (metric == 0 ? 1.0f : 3.0f) + (float)(0.01 * ((i * 7 + j) % 5));
        }
        problem_terms(&p);
        check_problem(&p, 0, "duplicates");
        int32_t *lab = malloc((size_t)n * sizeof(int32_t));
        float *best = malloc((size_t)n * sizeof(float));
        for (int ki = 0; ki < NK; ki++) {
            if (!fkm_cpu_assign_kernel_supported(KERNELS[ki])) continue;
            run_kernel(&p, KERNELS[ki], 2, lab, best);
            int64_t bad = 0, hits = 0;
            for (int64_t i = 0; i < n; i++)
                for (int q = 0; q < np; q++) {
                    bad += lab[i] == pairs[q][1];
                    hits += lab[i] == pairs[q][0];
                }
            CHECK(bad == 0, "kernel %s metric %d: %lld points took the higher index of a duplicate pair",
                  KERNELS[ki], metric, (long long)bad);
            CHECK(hits > n / 2, "kernel %s metric %d: only %lld points chose a duplicated centroid (test too weak)",
                  KERNELS[ki], metric, (long long)hits);
        }
        free(lab);
        free(best);
        problem_free(&p);
    }
}

/* All centroids identical: every point must get label 0, whatever the lane or block. */
static void test_all_equal(void) {
    const int64_t n = 77, d = 5, k = 1100;
    problem p = problem_new(3, n, d, k, 0, 0);
    for (int64_t c = 1; c < k; c++) memcpy(p.c + c * d, p.c, (size_t)d * sizeof(float));
    problem_terms(&p);
    int32_t lab[77];
    float best[77];
    for (int ki = 0; ki < NK; ki++) {
        if (!fkm_cpu_assign_kernel_supported(KERNELS[ki])) continue;
        run_kernel(&p, KERNELS[ki], 2, lab, best);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += lab[i] != 0;
        CHECK(bad == 0, "kernel %s: %lld points not on centroid 0 of %lld identical ones", KERNELS[ki],
              (long long)bad, (long long)k);
    }
    problem_free(&p);
}

/* The update: float64 oracle, and the same bits for 1..4 threads (large clusters split into
 * blocks, weights, an empty cluster). */
static void test_update(void) {
    const int64_t n = 5000, d = 33, k = 9;
    uint64_t s = 11;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)gen_normal(&s);
    for (int64_t i = 0; i < n; i++) {
        w[i] = (float)(0.25 + gen_unif(&s));
        lab[i] = (int32_t)(i % 7 == 0 ? 3 : gen_next(&s) % 3 == 0 ? 5 : gen_next(&s) % 8); /* 8: small */
        if (lab[i] == 6) lab[i] = 3;                                                      /* 6: empty */
    }
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *ww = weighted ? w : NULL;
        float *c1 = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
        int64_t cnt1[9], cnt2[9];
        for (int64_t i = 0; i < k * d; i++) c1[i] = c2[i] = -123.0f;
        CHECK(fkm_cpu_update(x, ww, lab, n, d, k, 1, c1, cnt1) == FKM_OK, "update: %s", fkm_last_error());
        for (int64_t c = 0; c < k; c++) {
            double sw = 0, maxerr = 0;
            int64_t cnt = 0;
            for (int64_t i = 0; i < n; i++)
                if (lab[i] == c) { sw += ww ? ww[i] : 1.0; cnt++; }
            CHECK(cnt1[c] == cnt, "update: count of cluster %lld is %lld, expected %lld", (long long)c,
                  (long long)cnt1[c], (long long)cnt);
            for (int64_t j = 0; j < d && cnt; j++) {
                double sum = 0;
                for (int64_t i = 0; i < n; i++)
                    if (lab[i] == c) sum += (ww ? ww[i] : 1.0) * x[i * d + j];
                maxerr = fmax(maxerr, fabs(sum / sw - c1[c * d + j]));
            }
            CHECK(maxerr <= 1e-6, "update: cluster %lld is %g from the float64 mean", (long long)c, maxerr);
            if (cnt == 0) CHECK(c1[c * d] == -123.0f, "update: empty cluster %lld was overwritten", (long long)c);
        }
        for (int threads = 2; threads <= 4; threads++) {
            for (int64_t i = 0; i < k * d; i++) c2[i] = -123.0f;
            CHECK(fkm_cpu_update(x, ww, lab, n, d, k, threads, c2, cnt2) == FKM_OK, "update: %s", fkm_last_error());
            CHECK(memcmp(c1, c2, (size_t)(k * d) * sizeof(float)) == 0 && memcmp(cnt1, cnt2, sizeof cnt1) == 0,
                  "update with %d threads differs from 1 thread (weighted %d)", threads, weighted);
        }
        free(c1);
        free(c2);
    }
    free(x); free(w); free(lab);
}

/* The documented summation order, computed naively: each cluster's points in index order, cut
 * into blocks of 256 (update.c's UBLOCK), each block summed in float64 from zero, block sums
 * added in block order. */
static void ref_block_means(const float *x, const float *w, const int32_t *lab, int64_t n, int64_t d, int64_t k,
                            float *c) {
    double *tot = malloc((size_t)d * sizeof(double)), *blk = malloc((size_t)d * sizeof(double));
    for (int64_t ci = 0; ci < k; ci++) {
        double wt = 0, wb = 0;
        int64_t inblk = 0, nblk = 0;
        for (int64_t j = 0; j < d; j++) blk[j] = 0;
        for (int64_t i = 0; i <= n; i++) {
            if (i < n && lab[i] != ci) continue;
            if (i < n) {
                for (int64_t j = 0; j < d; j++) blk[j] += (w ? (double)w[i] : 1.0) * (double)x[i * d + j];
                wb += w ? (double)w[i] : 1.0;
                inblk++;
            }
            if (inblk == 256 || (i == n && inblk > 0)) {
                for (int64_t j = 0; j < d; j++) tot[j] = nblk == 0 ? blk[j] : tot[j] + blk[j], blk[j] = 0;
                wt = nblk == 0 ? wb : wt + wb;
                wb = 0, inblk = 0, nblk++;
            }
        }
        if (nblk > 0)
            for (int64_t j = 0; j < d; j++) c[ci * d + j] = (float)(tot[j] / wt);
    }
    free(tot);
    free(blk);
}

/* Values of wildly different magnitude (+-2^60 and 1) make every float64 sum order visible in
 * the float32 means, so this pins the summation order itself, on both update paths (streamed
 * and gathered: a cluster with half of the points is gathered from 2 threads on). */
static void test_update_order(void) {
    const int64_t n = 4000, d = 5, k = 3;
    uint64_t s = 99;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    float cref[15], cgot[15];
    int64_t cnt[3];
    for (int64_t i = 0; i < n; i++) {
        lab[i] = i % 2 == 0 ? 0 : (int32_t)(1 + gen_next(&s) % 2);
        w[i] = (float)(1 + gen_next(&s) % 3);
        /* cluster 0 (rank i/2): +-2^60 pairs that cancel exactly, with small values between
         * them that survive or vanish depending on where the block sums start */
        const int64_t rk = (i / 2) % 100;
        if (lab[i] == 0 && rk % 50 == 0) w[i] = 2.0f; /* equal weights keep the pairs cancelling */
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = lab[i] == 0 && rk == 0 ? 0x1p60f : lab[i] == 0 && rk == 50 ? -0x1p60f
                                                                                      : (float)(1 + j + i % 7);
    }
    for (int weighted = 0; weighted < 2; weighted++) {
        const float *ww = weighted ? w : NULL;
        ref_block_means(x, ww, lab, n, d, k, cref);
        for (int threads = 1; threads <= 4; threads++) {
            memset(cgot, 0, sizeof cgot);
            CHECK(fkm_cpu_update(x, ww, lab, n, d, k, threads, cgot, cnt) == FKM_OK, "update: %s", fkm_last_error());
            CHECK(memcmp(cref, cgot, sizeof cref) == 0,
                  "update threads %d weighted %d: not the documented block order (c0 = %.9g vs %.9g)", threads,
                  weighted, cgot[0], cref[0]);
        }
    }
    free(x); free(w); free(lab);
}

/* Accumulators too big for one thread's streaming budget (every cluster gathered) but not for
 * two (streamed): both paths must give the same bits. */
static void test_update_paths(void) {
    const int64_t n = 3000, d = 1000, k = 600;
    uint64_t s = 12;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    float *c1 = malloc((size_t)(k * d) * sizeof(float)), *c2 = malloc((size_t)(k * d) * sizeof(float));
    int64_t *n1 = malloc((size_t)k * sizeof(int64_t)), *n2 = malloc((size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)gen_normal(&s);
    for (int64_t i = 0; i < n; i++) lab[i] = i < 700 ? 7 : (int32_t)(gen_next(&s) % (uint64_t)k); /* 7: big */
    memset(c1, 0, (size_t)(k * d) * sizeof(float));
    memset(c2, 0, (size_t)(k * d) * sizeof(float));
    CHECK(fkm_cpu_update(x, NULL, lab, n, d, k, 1, c1, n1) == FKM_OK, "update: %s", fkm_last_error());
    for (int threads = 2; threads <= 3; threads++) {
        CHECK(fkm_cpu_update(x, NULL, lab, n, d, k, threads, c2, n2) == FKM_OK, "update: %s", fkm_last_error());
        CHECK(memcmp(c1, c2, (size_t)(k * d) * sizeof(float)) == 0 && memcmp(n1, n2, (size_t)k * sizeof(int64_t)) == 0,
              "update (gathered) with 1 thread differs from %d threads (streamed)", threads);
    }
    double maxerr = 0, sum = 0; /* cluster 7, feature 0, against a float64 sum */
    for (int64_t i = 0; i < n; i++) sum += lab[i] == 7 ? x[i * d] : 0.0;
    maxerr = fabs(sum / (double)n1[7] - c1[7 * d]);
    CHECK(maxerr < 1e-6, "update: big cluster off by %g", maxerr);
    free(x); free(lab); free(c1); free(c2); free(n1); free(n2);
}

static int fit_once(const float *x, const float *w, int64_t n, int64_t d, int64_t k, int threads,
                    fkm_metric metric, fkm_result *r) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 12; p.stop = FKM_STOP_FIXED; p.seed = 42; p.metric = metric;
    p.device = FKM_DEVICE_CPU; p.threads = threads;
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_status st = fkm_fit(&p, &m, r);
    CHECK(st == FKM_OK, "fit: %s", fkm_last_error());
    return st == FKM_OK;
}

static int same_result(const fkm_result *a, const fkm_result *b) {
    return a->iterations == b->iterations && memcmp(&a->inertia, &b->inertia, sizeof(double)) == 0 &&
           memcmp(a->centroids, b->centroids, (size_t)(a->k * a->d) * sizeof(float)) == 0 &&
           memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t)) == 0;
}

/* Whole fits through the public API: threads 1 vs 2, and every kernel, give the same bits. */
static void test_fit_bitwise(void) {
    const int64_t shapes[][3] = {{6000, 17, 5}, {3001, 64, 40}, {1500, 3, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int64_t n = shapes[s][0], d = shapes[s][1], k = shapes[s][2];
        float *x = malloc((size_t)(n * d) * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
        double *x64 = malloc((size_t)(n * d) * sizeof(double));
        gen_blobs(77 + s, n, d, k / 2 + 1, 1.5, x64, x);
        uint64_t sd = 9;
        for (int64_t i = 0; i < n; i++) w[i] = (float)(0.5 + gen_unif(&sd));
        for (int metric = 0; metric < 3; metric++)
            for (int weighted = 0; weighted < 2; weighted++) {
                const float *ww = weighted ? w : NULL;
                fkm_result r1, r2;
                if (!fit_once(x, ww, n, d, k, 1, (fkm_metric)metric, &r1)) continue;
                if (fit_once(x, ww, n, d, k, 2, (fkm_metric)metric, &r2)) {
                    CHECK(same_result(&r1, &r2), "fit n=%lld d=%lld k=%lld metric %d weighted %d: threads 1 and 2 differ",
                          (long long)n, (long long)d, (long long)k, metric, weighted);
                    fkm_result_free(&r2);
                }
                for (int ki = 0; ki < NK; ki++) {
                    if (!fkm_cpu_assign_kernel_supported(KERNELS[ki])) continue;
                    fkm_cpu_assign_set_kernel(KERNELS[ki]);
                    if (fit_once(x, ww, n, d, k, 2, (fkm_metric)metric, &r2)) {
                        CHECK(same_result(&r1, &r2), "fit n=%lld d=%lld k=%lld metric %d: kernel %s differs",
                              (long long)n, (long long)d, (long long)k, metric, KERNELS[ki]);
                        fkm_result_free(&r2);
                    }
                    fkm_cpu_assign_set_kernel(NULL);
                }
                fkm_result_free(&r1);
            }
        free(x); free(w); free(x64);
    }
}

int main(void) {
    printf("CPU kernel in use: %s; available:", fkm_cpu_assign_kernel());
    for (int ki = 0; ki < NK; ki++)
        if (fkm_cpu_assign_kernel_supported(KERNELS[ki])) printf(" %s", KERNELS[ki]);
    printf("\n");
    CHECK(fkm_cpu_assign_set_kernel("no-such-kernel") != 0, "an unknown kernel name was accepted");
    test_shapes();
    test_blocking();
    test_grid_ties();
    test_duplicates();
    test_all_equal();
    test_update();
    test_update_paths();
    test_update_order();
    test_fit_bitwise();
    return check_report();
}
