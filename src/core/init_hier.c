/* init_hier.c -- hierarchical initialisation for very large k (FKM_INIT_HIERARCHICAL), on the
 * host's float32 rows, as large-k index builders do: coarse clusters first, then each one split.
 *
 * Why. k-means++ and the second phase of k-means|| cost O(k) passes over their input (n k d and
 * about 20 k^2 d multiply-adds): at k = 2^16 and beyond that is more than the Lloyd iterations
 * themselves. Here the work is one coarse fit with k0 = ceil(sqrt(k)) centroids and k0 small fits
 * whose sizes sum to the sample: about (64 + 10) k d sqrt(k) multiply-adds per sampled row set,
 * spread over independent problems that run in parallel.
 *
 * The steps, all fixed (docs/algorithm.md):
 *  1. k < HIER_MIN_K, or fewer than k positive-weight sampled rows: k-means|| (init_par.c) instead.
 *  2. Sample S: row i is in S when u_i < m / n, m = min(n, HIER_SAMPLE k), u_i a counter-based
 *     uniform of (seed, i) (fkm_init_draw, round HIER_ROUND) -- independent of the thread count.
 *  3. Coarse: the rows with u_i < m0 / n, m0 = min(m, HIER_COARSE k0) (a subset of S), fitted with
 *     k-means|| and at most HIER_COARSE_ITERS Lloyd iterations (the CPU engine, seed `seed`).
 *  4. Every row of S goes to its nearest coarse centroid (squared L2, the CPU kernels).
 *  5. Coarse cluster j gets k_j centroids, its share of k by S's weight, never more than its
 *     positive-weight rows: clusters whose share reaches their rows get their rows and the others
 *     share what is left (repeated until none more reaches), rounded down, then one more each by
 *     largest fractional part (ties: lower j). Sum k_j = k.
 *  6. Cluster j's positive-weight rows (in index order) are fitted with k_j centroids: k-means++
 *     and at most HIER_FINE_ITERS Lloyd iterations, seed mixed with j; its centroids go to rows
 *     sum_{i<j} k_i .. of c. The clusters run in parallel, each fit on one thread (a fit's bits do
 *     not depend on its thread count, so neither do these).
 * Same seed => same centroids, for any thread count. Memory: S's indices, labels and order (20 bytes
 * a sampled row), the coarse sample (m0 x d floats), each running fine fit's rows and its work. */
#include "../cpu/cpu.h"
#include "init.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    HIER_MIN_K = 256,       /* below: k-means|| (the hierarchy's quality loss buys nothing) */
    HIER_SAMPLE = 64,       /* sampled rows per final centroid */
    HIER_COARSE = 256,      /* sampled rows per coarse centroid */
    HIER_COARSE_ITERS = 20, /* Lloyd iterations of the coarse fit (at most) */
    HIER_FINE_ITERS = 10,   /* Lloyd iterations of each fine fit (at most) */
    HIER_ROUND = 100,       /* fkm_init_draw's round for the sample (k-means|| uses 0..5) */
    HIER_BLOCK = 16384      /* rows gathered per block of step 4 */
};

/* A plain CPU fit of the gathered rows x (n x d, weights w) into c (k x d). */
static fkm_status sub_fit(const float *x, const float *w, int64_t n, int64_t d, int64_t k, fkm_init init,
                          int max_iter, uint64_t seed, int threads, fkm_metric metric, float *c) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.init = init, p.max_iter = max_iter, p.seed = seed, p.threads = threads;
    p.device = FKM_DEVICE_CPU, p.metric = metric;
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_result r;
    memset(&r, 0, sizeof r);
    fkm_status st = fkm_fit(&p, &m, &r);
    if (st == FKM_OK) memcpy(c, r.centroids, (size_t)(k * d) * sizeof(float));
    fkm_result_free(&r);
    return st;
}

/* Step 5: k_j for every coarse cluster from its sampled weight wj and positive-weight rows cap
 * (sum cap >= k). Water-filling: clusters whose share of what is left reaches their rows get
 * their rows; the others share the rest by weight, rounded down, then one more each by largest
 * fractional part (ties: lower j) -- never past their rows, since their share is below them. */
static void split_k(int64_t k, int64_t k0, const double *wj, const int64_t *cap, int64_t *kj, double *share) {
    for (int64_t j = 0; j < k0; j++) kj[j] = -1; /* -1: not capped */
    for (int changed = 1; changed;) {
        changed = 0;
        double tot = 0.0;
        int64_t left = k;
        for (int64_t j = 0; j < k0; j++) {
            if (kj[j] >= 0) left -= kj[j];
            else tot += wj[j];
        }
        for (int64_t j = 0; j < k0; j++) {
            if (kj[j] >= 0) continue;
            share[j] = tot > 0 ? (double)left * wj[j] / tot : 0.0;
            if (share[j] >= (double)cap[j]) kj[j] = cap[j], changed = 1;
        }
    }
    int64_t left = k;
    for (int64_t j = 0; j < k0; j++) {
        if (kj[j] < 0) kj[j] = (int64_t)share[j], share[j] -= (double)kj[j]; /* share: the fraction */
        else share[j] = -1.0;                                                /* capped: none more */
        left -= kj[j];
    }
    while (left > 0) {
        int64_t best = -1;
        for (int64_t j = 0; j < k0; j++)
            if (kj[j] < cap[j] && (best < 0 || share[j] > share[best])) best = j;
        if (best < 0) break; /* cannot happen while sum cap >= k */
        kj[best]++, share[best] = -1.0, left--;
    }
}

/* Step 4: the nearest coarse centroid (of cc, k0 x d) of each sampled row. */
static fkm_status coarse_labels(const float *x, int64_t d, const int64_t *s, int64_t m, const float *cc,
                                int64_t k0, int threads, int32_t *lab) {
    float *buf = (float *)fkm_alloc((size_t)HIER_BLOCK, (size_t)d * sizeof(float));
    float *xt = (float *)fkm_alloc((size_t)HIER_BLOCK, sizeof(float));
    float *best = (float *)fkm_alloc((size_t)HIER_BLOCK, sizeof(float));
    float *ct = (float *)fkm_alloc((size_t)k0, sizeof(float));
    fkm_status st = FKM_OK;
    if (!buf || !xt || !best || !ct) {
        st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
        goto done;
    }
    fkm_cpu_cterm(cc, k0, d, FKM_METRIC_L2, ct);
    for (int64_t i0 = 0; i0 < m; i0 += HIER_BLOCK) {
        const int64_t b = m - i0 < HIER_BLOCK ? m - i0 : HIER_BLOCK;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t r = 0; r < b; r++) memcpy(buf + r * d, x + s[i0 + r] * d, (size_t)d * sizeof(float));
        fkm_cpu_xterm(buf, b, d, FKM_METRIC_L2, threads, xt);
        fkm_cpu_assign_args a = {buf, xt, cc, ct, b, d, k0, 2.0f, 1, threads};
        fkm_cpu_assign(&a, lab + i0, best);
    }
done:
    fkm_free(buf), fkm_free(xt), fkm_free(best), fkm_free(ct);
    return st;
}

/* Step 6: fine fits of every coarse cluster, in parallel. order: S's positions grouped by cluster
 * (start[j] .. start[j+1]), each group in index order. */
static fkm_status fine_fits(const float *x, const float *w, int64_t d, const int64_t *s, const int64_t *order,
                            const int64_t *start, const int64_t *kj, int64_t k0, uint64_t seed, int threads,
                            fkm_metric metric, float *c) {
    int64_t *off = (int64_t *)fkm_alloc((size_t)k0 + 1, sizeof(int64_t));
    if (!off) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
    off[0] = 0;
    for (int64_t j = 0; j < k0; j++) off[j + 1] = off[j] + kj[j];
    int failed = 0;               /* the first failure's status and message (last-error text is per thread) */
    fkm_status st = FKM_OK;
    char msg[256] = "";
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t j = 0; j < k0; j++) {
        int stop;
#pragma omp atomic read
        stop = failed;
        if (kj[j] == 0 || stop) continue;
        int64_t mj = 0; /* positive-weight rows of cluster j */
        for (int64_t q = start[j]; q < start[j + 1]; q++) mj += !w || w[s[order[q]]] > 0;
        float *xj = (float *)fkm_alloc((size_t)mj, (size_t)d * sizeof(float));
        float *wj = w ? (float *)fkm_alloc((size_t)mj, sizeof(float)) : NULL;
        fkm_status sj = FKM_ERR_NO_MEMORY;
        if (xj && (wj || !w)) {
            int64_t r = 0;
            for (int64_t q = start[j]; q < start[j + 1]; q++) {
                const int64_t i = s[order[q]];
                if (w && !(w[i] > 0)) continue;
                memcpy(xj + r * d, x + i * d, (size_t)d * sizeof(float));
                if (w) wj[r] = w[i];
                r++;
            }
            sj = sub_fit(xj, wj, mj, d, kj[j], FKM_INIT_KMEANSPP, HIER_FINE_ITERS,
                         seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(j + 1)), 1, metric, c + off[j] * d);
        }
        fkm_free(xj), fkm_free(wj);
        if (sj != FKM_OK) {
#pragma omp critical(fkm_hier_status)
            if (!failed) {
                st = sj;
                snprintf(msg, sizeof msg, "%s", sj == FKM_ERR_NO_MEMORY && !xj ? "out of host memory" : fkm_last_error());
#pragma omp atomic write
                failed = 1;
            }
        }
    }
    fkm_free(off);
    return st == FKM_OK ? st : FKM_FAIL(st, "hierarchical initialisation, a coarse cluster's fit: %s", msg);
}

/* Row i's sample key u_i n: row i is in the sample of `want` rows out of n when want >= n or the
 * key is below want. want0 >= n (then want >= n too): every row in both samples, no draw. */
static double sample_key(uint64_t seed, int64_t i, int64_t n, int64_t want0) {
    return want0 >= n ? 0.0 : fkm_init_draw(seed, HIER_ROUND, i) * (double)n;
}

/* Steps 2-3: S's row indices (in index order, *sp allocated here) and the coarse centroids cc.
 * FKM_ERR_INVALID_ARG: fewer positive-weight coarse rows than k0 (the caller falls back). */
static fkm_status sample_and_coarse(const float *x, const float *w, int64_t n, int64_t d, int64_t k, int64_t k0,
                                    uint64_t seed, int threads, fkm_metric metric, int64_t **sp, int64_t *m,
                                    float *cc) {
    const int64_t want = n / HIER_SAMPLE < k ? n : HIER_SAMPLE * k;
    const int64_t want0 = want < HIER_COARSE * k0 ? want : HIER_COARSE * k0;
    int64_t ms = 0, m0 = 0;
    for (int64_t i = 0; i < n; i++) { /* count first: S holds 8 bytes a sampled row, not a row */
        const double u = sample_key(seed, i, n, want0);
        ms += want >= n || u < (double)want;
        m0 += (want0 >= n || u < (double)want0) && (!w || w[i] > 0);
    }
    int64_t *s = (int64_t *)fkm_alloc((size_t)ms, sizeof(int64_t));
    float *xc = (float *)fkm_alloc((size_t)m0, (size_t)d * sizeof(float));
    float *wc = w ? (float *)fkm_alloc((size_t)m0, sizeof(float)) : NULL;
    if (!s || !xc || (w && !wc)) {
        fkm_free(s), fkm_free(xc), fkm_free(wc);
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
    }
    int64_t q = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        const double u = sample_key(seed, i, n, want0);
        if (!(want >= n || u < (double)want)) continue;
        s[q++] = i;
        if (!(want0 >= n || u < (double)want0) || (w && !(w[i] > 0))) continue; /* a subset of S: want0 <= want */
        memcpy(xc + r * d, x + i * d, (size_t)d * sizeof(float));
        if (w) wc[r] = w[i];
        r++;
    }
    *sp = s, *m = ms;
    fkm_status st = m0 >= k0 ? sub_fit(xc, wc, m0, d, k0, FKM_INIT_KMEANS_PARALLEL, HIER_COARSE_ITERS, seed,
                                       threads, metric, cc)
                             : FKM_ERR_INVALID_ARG;
    fkm_free(xc), fkm_free(wc);
    return st;
}

fkm_status fkm_init_hierarchical(const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                                 int threads, fkm_metric metric, float *c) {
    if (k < HIER_MIN_K) return fkm_init_kmeans_parallel(x, w, n, d, k, seed, threads, c);
    const int64_t k0 = (int64_t)ceil(sqrt((double)k));
    fkm_status st = FKM_OK;
    int64_t m = 0, *s = NULL;
    float *cc = (float *)fkm_alloc((size_t)k0, (size_t)d * sizeof(float));
    int32_t *lab = NULL;
    int64_t *order = NULL, *start = NULL, *cap = NULL, *kj = NULL;
    double *wj = NULL, *frac = NULL;
    if (!cc) goto oom;
    st = sample_and_coarse(x, w, n, d, k, k0, seed, threads, metric, &s, &m, cc);
    if (st == FKM_ERR_INVALID_ARG) goto fallback; /* fewer coarse rows than k0 */
    if (st != FKM_OK) goto done;
    lab = (int32_t *)fkm_alloc((size_t)m, sizeof(int32_t));
    order = (int64_t *)fkm_alloc((size_t)m, sizeof(int64_t));
    start = (int64_t *)fkm_calloc((size_t)k0 + 1, sizeof(int64_t));
    cap = (int64_t *)fkm_calloc((size_t)k0, sizeof(int64_t));
    kj = (int64_t *)fkm_alloc((size_t)k0, sizeof(int64_t));
    wj = (double *)fkm_calloc((size_t)k0, sizeof(double));
    frac = (double *)fkm_alloc((size_t)k0, sizeof(double));
    if (!lab || !order || !start || !cap || !kj || !wj || !frac) goto oom;
    if ((st = coarse_labels(x, d, s, m, cc, k0, threads, lab)) != FKM_OK) goto done;
    int64_t total_cap = 0;
    for (int64_t q = 0; q < m; q++) { /* weights in index order: the same sums for any thread count */
        const float wi = w ? w[s[q]] : 1.0f;
        if (wi > 0) wj[lab[q]] += wi, cap[lab[q]]++, total_cap++;
    }
    if (total_cap < k) goto fallback;
    fkm_cpu_group_by_label(lab, m, k0, start, order); /* stable: index order per cluster */
    split_k(k, k0, wj, cap, kj, frac);
    st = fine_fits(x, w, d, s, order, start, kj, k0, seed, threads, metric, c);
    goto done;
fallback:
    st = fkm_init_kmeans_parallel(x, w, n, d, k, seed, threads, c);
    goto done;
oom:
    st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
done:
    fkm_free(s), fkm_free(cc), fkm_free(lab), fkm_free(order), fkm_free(start), fkm_free(cap), fkm_free(kj);
    fkm_free(wj), fkm_free(frac);
    return st;
}
