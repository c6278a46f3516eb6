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
 * a sampled row), the coarse sample (m0 x d floats), each running fine fit's rows and its work.
 *
 * Sparse input (fkm_init_hierarchical_csr): the same steps on CSR rows, never made dense: the
 * gathered samples are CSR matrices, the coarse and fine fits fkm_fit_csr, step 4 fkm_predict_csr
 * (the sparse engine's exact scores). Only how rows are gathered, fitted and assigned differs
 * (struct rows below); the samples, the split of k and the seeds are the dense path's. */
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

/* The rows the hierarchy works on: dense float32 (x, n x d) or CSR (csr); weights w or NULL. A
 * gathered set owns its arrays (mem). */
typedef struct {
    const float *x;
    const fkm_csr *csr;
    const float *w;
    int64_t n, d;
    fkm_csr g;      /* a gathered CSR set's matrix (csr points here) */
    void *mem[4];   /* what a gathered set owns */
} rows;

static void rows_free(rows *r) {
    for (int i = 0; i < 4; i++) fkm_free(r->mem[i]);
    memset(r, 0, sizeof *r);
}

/* out := the rows idx[0..m) of r (in that order), with their weights; NULL r->w keeps none. */
static fkm_status rows_gather(const rows *r, const int64_t *idx, int64_t m, rows *out) {
    memset(out, 0, sizeof *out);
    out->n = m, out->d = r->d;
    float *w = r->w ? (float *)fkm_alloc((size_t)m, sizeof(float)) : NULL;
    out->mem[0] = w, out->w = w;
    if (r->w && !w) goto oom;
    for (int64_t q = 0; w && q < m; q++) w[q] = r->w[idx[q]];
    if (!r->csr) {
        float *x = (float *)fkm_alloc((size_t)m, (size_t)r->d * sizeof(float));
        if (!(out->mem[1] = x)) goto oom;
        for (int64_t q = 0; q < m; q++) memcpy(x + q * r->d, r->x + idx[q] * r->d, (size_t)r->d * sizeof(float));
        out->x = x;
        return FKM_OK;
    }
    const fkm_csr *s = r->csr;
    int64_t *ip = (int64_t *)fkm_alloc((size_t)m + 1, sizeof(int64_t));
    if (!(out->mem[1] = ip)) goto oom;
    ip[0] = 0;
    for (int64_t q = 0; q < m; q++) ip[q + 1] = ip[q] + (s->indptr[idx[q] + 1] - s->indptr[idx[q]]);
    const size_t nnz = (size_t)ip[m] > 0 ? (size_t)ip[m] : 1;
    int32_t *ix = (int32_t *)fkm_alloc(nnz, sizeof(int32_t));
    float *v = (float *)fkm_alloc(nnz, sizeof(float));
    out->mem[2] = ix, out->mem[3] = v;
    if (!ix || !v) goto oom;
    for (int64_t q = 0; q < m; q++) {
        const int64_t a = s->indptr[idx[q]], len = s->indptr[idx[q] + 1] - a;
        memcpy(ix + ip[q], s->indices + a, (size_t)len * sizeof(int32_t));
        memcpy(v + ip[q], s->data + a, (size_t)len * sizeof(float));
    }
    out->g = (fkm_csr){m, r->d, ip, ix, v, w};
    out->csr = &out->g;
    return FKM_OK;
oom:
    rows_free(out);
    return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
}

/* A plain CPU fit of the gathered rows r (with their weights) into c (k x d). */
static fkm_status sub_fit(const rows *r, int64_t k, fkm_init init, int max_iter, uint64_t seed, int threads,
                          fkm_metric metric, float *c) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.init = init, p.max_iter = max_iter, p.seed = seed, p.threads = threads;
    p.device = FKM_DEVICE_CPU, p.metric = metric;
    fkm_result res;
    memset(&res, 0, sizeof res);
    fkm_status st;
    if (r->csr) {
        st = fkm_fit_csr(&p, r->csr, &res);
    } else {
        fkm_matrix m = {r->x, FKM_F32, r->n, r->d, r->w};
        st = fkm_fit(&p, &m, &res);
    }
    if (st == FKM_OK) memcpy(c, res.centroids, (size_t)(k * r->d) * sizeof(float));
    fkm_result_free(&res);
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

/* Step 4 for CSR rows: fkm_predict_csr (squared L2) on blocks of gathered sampled rows. */
static fkm_status coarse_labels_csr(const rows *r, const int64_t *s, int64_t m, const float *cc, int64_t k0,
                                    int threads, int32_t *lab) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k0, p.threads = threads, p.device = FKM_DEVICE_CPU, p.metric = FKM_METRIC_L2;
    rows src = *r;
    src.w = NULL; /* labels only */
    for (int64_t i0 = 0; i0 < m; i0 += HIER_BLOCK) {
        const int64_t b = m - i0 < HIER_BLOCK ? m - i0 : HIER_BLOCK;
        rows blk;
        fkm_status st = rows_gather(&src, s + i0, b, &blk);
        if (st == FKM_OK) st = fkm_predict_csr(&p, blk.csr, cc, k0, lab + i0, NULL);
        rows_free(&blk);
        if (st != FKM_OK) return st;
    }
    return FKM_OK;
}

/* Step 4: the nearest coarse centroid (of cc, k0 x d) of each sampled row. */
static fkm_status coarse_labels(const rows *r, const int64_t *s, int64_t m, const float *cc, int64_t k0, int threads,
                                int32_t *lab) {
    if (r->csr) return coarse_labels_csr(r, s, m, cc, k0, threads, lab);
    const float *x = r->x;
    const int64_t d = r->d;
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
static fkm_status fine_fits(const rows *x, const int64_t *s, const int64_t *order, const int64_t *start,
                            const int64_t *kj, int64_t k0, uint64_t seed, int threads, fkm_metric metric, float *c) {
    const float *w = x->w;
    const int64_t d = x->d;
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
        int64_t mj = 0; /* positive-weight rows of cluster j, in index order */
        for (int64_t q = start[j]; q < start[j + 1]; q++) mj += !w || w[s[order[q]]] > 0;
        int64_t *idx = (int64_t *)fkm_alloc((size_t)mj, sizeof(int64_t));
        rows xj;
        memset(&xj, 0, sizeof xj);
        fkm_status sj = FKM_ERR_NO_MEMORY;
        if (idx) {
            int64_t r = 0;
            for (int64_t q = start[j]; q < start[j + 1]; q++)
                if (!w || w[s[order[q]]] > 0) idx[r++] = s[order[q]];
            sj = rows_gather(x, idx, mj, &xj);
            if (sj == FKM_OK)
                sj = sub_fit(&xj, kj[j], FKM_INIT_KMEANSPP, HIER_FINE_ITERS,
                             seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(j + 1)), 1, metric, c + off[j] * d);
        }
        rows_free(&xj);
        fkm_free(idx);
        if (sj != FKM_OK) {
#pragma omp critical(fkm_hier_status)
            if (!failed) {
                st = sj;
                snprintf(msg, sizeof msg, "%s", sj == FKM_ERR_NO_MEMORY && !idx ? "out of host memory" : fkm_last_error());
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
static fkm_status sample_and_coarse(const rows *x, int64_t k, int64_t k0, uint64_t seed, int threads,
                                    fkm_metric metric, int64_t **sp, int64_t *m, float *cc) {
    const float *w = x->w;
    const int64_t n = x->n;
    const int64_t want = n / HIER_SAMPLE < k ? n : HIER_SAMPLE * k;
    const int64_t want0 = want < HIER_COARSE * k0 ? want : HIER_COARSE * k0;
    int64_t ms = 0, m0 = 0;
    for (int64_t i = 0; i < n; i++) { /* count first: S holds 8 bytes a sampled row, not a row */
        const double u = sample_key(seed, i, n, want0);
        ms += want >= n || u < (double)want;
        m0 += (want0 >= n || u < (double)want0) && (!w || w[i] > 0);
    }
    int64_t *s = (int64_t *)fkm_alloc((size_t)ms, sizeof(int64_t));
    int64_t *ic = (int64_t *)fkm_alloc((size_t)m0 > 0 ? (size_t)m0 : 1, sizeof(int64_t)); /* the coarse rows */
    if (!s || !ic) {
        fkm_free(s), fkm_free(ic);
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
    }
    int64_t q = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        const double u = sample_key(seed, i, n, want0);
        if (!(want >= n || u < (double)want)) continue;
        s[q++] = i;
        if (!(want0 >= n || u < (double)want0) || (w && !(w[i] > 0))) continue; /* a subset of S: want0 <= want */
        ic[r++] = i;
    }
    *sp = s, *m = ms;
    fkm_status st = FKM_ERR_INVALID_ARG;
    if (m0 >= k0) {
        rows xc;
        st = rows_gather(x, ic, m0, &xc);
        if (st == FKM_OK) st = sub_fit(&xc, k0, FKM_INIT_KMEANS_PARALLEL, HIER_COARSE_ITERS, seed, threads, metric, cc);
        rows_free(&xc);
    }
    fkm_free(ic);
    return st;
}

/* k-means|| on the whole input: below HIER_MIN_K, and the fallbacks of step 1. */
static fkm_status whole_par(const rows *x, int64_t k, uint64_t seed, int threads, float *c) {
    if (x->csr) return fkm_cpu_sparse_kmeans_par(x->csr, x->w, k, seed, threads, c);
    return fkm_init_kmeans_parallel(x->x, x->w, x->n, x->d, k, seed, threads, c);
}

static fkm_status hierarchical(const rows *x, int64_t k, uint64_t seed, int threads, fkm_metric metric, float *c) {
    if (k < HIER_MIN_K) return whole_par(x, k, seed, threads, c);
    const int64_t k0 = (int64_t)ceil(sqrt((double)k)), d = x->d;
    const float *w = x->w;
    fkm_status st = FKM_OK;
    int64_t m = 0, *s = NULL;
    float *cc = (float *)fkm_alloc((size_t)k0, (size_t)d * sizeof(float));
    int32_t *lab = NULL;
    int64_t *order = NULL, *start = NULL, *cap = NULL, *kj = NULL;
    double *wj = NULL, *frac = NULL;
    if (!cc) goto oom;
    st = sample_and_coarse(x, k, k0, seed, threads, metric, &s, &m, cc);
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
    if ((st = coarse_labels(x, s, m, cc, k0, threads, lab)) != FKM_OK) goto done;
    int64_t total_cap = 0;
    for (int64_t q = 0; q < m; q++) { /* weights in index order: the same sums for any thread count */
        const float wi = w ? w[s[q]] : 1.0f;
        if (wi > 0) wj[lab[q]] += wi, cap[lab[q]]++, total_cap++;
    }
    if (total_cap < k) goto fallback;
    fkm_cpu_group_by_label(lab, m, k0, start, order); /* stable: index order per cluster */
    split_k(k, k0, wj, cap, kj, frac);
    st = fine_fits(x, s, order, start, kj, k0, seed, threads, metric, c);
    goto done;
fallback:
    st = whole_par(x, k, seed, threads, c);
    goto done;
oom:
    st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the hierarchical initialisation");
done:
    fkm_free(s), fkm_free(cc), fkm_free(lab), fkm_free(order), fkm_free(start), fkm_free(cap), fkm_free(kj);
    fkm_free(wj), fkm_free(frac);
    return st;
}

fkm_status fkm_init_hierarchical(const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                                 int threads, fkm_metric metric, float *c) {
    rows r;
    memset(&r, 0, sizeof r);
    r.x = x, r.w = w, r.n = n, r.d = d;
    return hierarchical(&r, k, seed, threads, metric, c);
}

fkm_status fkm_init_hierarchical_csr(const fkm_csr *x, const float *w, int64_t k, uint64_t seed, int threads,
                                     fkm_metric metric, float *c) {
    rows r;
    memset(&r, 0, sizeof r);
    r.csr = x, r.w = w, r.n = x->n, r.d = x->d;
    return hierarchical(&r, k, seed, threads, metric, c);
}
