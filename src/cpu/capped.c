/* capped.c -- the capped assignment of fkm_params.max_cluster_size (capped.h; the rule and what it
 * optimises: docs/algorithm.md, "Capped cluster sizes").
 *
 * Cost: one pass of all n x k distances through the transform kernels (as much arithmetic as the
 * fused assignment; all rows kept up to 2^25 distances, else blocks of 2^22), each row reduced to
 * its M nearest centroids. Only when some centroid is the first choice of more than cap points:
 * one radix sort of the n regrets and the greedy, O(n M), plus a scan of the k distances of each
 * point whose M nearest are all full (recomputed, single-threaded, when the rows are not kept). Every distance is computed by one function of the point and centroid
 * alone, and every choice is a sequential scan, so the result does not depend on the threads. */
#include "capped.h"
#include "transform.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { CAND = 4 };                  /* nearest centroids remembered per point */
enum { PASSES = 2 };                /* local-search passes per assignment (step 5) */
enum { SWAP_K = 1024 };             /* swaps need a k x k table: up to this k (16 MiB) */
#define WHOLE_DISTANCES (1 << 25)   /* up to this many n x k floats (128 MiB) all rows are kept */
#define BLOCK_DISTANCES (1 << 22)   /* else blocks of this many (16 MiB), rows recomputed as needed */

static int64_t whole_limit = WHOLE_DISTANCES, block_limit = BLOCK_DISTANCES;

void fkm_cpu_capped_set_limits(int64_t whole, int64_t block) {
    whole_limit = whole > 0 ? whole : WHOLE_DISTANCES;
    block_limit = block > 0 ? block : BLOCK_DISTANCES;
}

struct fkm_cpu_capped {
    int64_t n, k, cap, m;
    int32_t *cand;  /* n x m nearest centroids, nearest first (ties: lowest index) */
    float *cdist;   /* their distances */
    float *kdist;   /* distance of each point to its kept label */
    uint64_t *key, *key2; /* sort keys: the regrets' bits, reversed (radix sort) */
    int64_t *order, *order2, *count, *hist;
    float *rows;    /* one block of distance rows; also the row of a point recomputed */
    int64_t block;  /* rows per block */
    /* the local search (step 5): per ordered pair of clusters (a, b), the point of a that gains
     * most by moving to b (gain w (D_a - D_b), its index, its distance to b); pass stamps */
    double *gain;
    int32_t *garg, *stamp;
    float *gdist;
};

void fkm_cpu_capped_destroy(fkm_cpu_capped *cs) {
    if (!cs) return;
    fkm_free(cs->cand); fkm_free(cs->cdist); fkm_free(cs->kdist); fkm_free(cs->key); fkm_free(cs->key2);
    fkm_free(cs->order); fkm_free(cs->order2); fkm_free(cs->count); fkm_free(cs->hist); fkm_free(cs->rows);
    fkm_free(cs->gain); fkm_free(cs->garg); fkm_free(cs->gdist); fkm_free(cs->stamp);
    fkm_free(cs);
}

fkm_cpu_capped *fkm_cpu_capped_create(int64_t n, int64_t k, int64_t cap) {
    fkm_cpu_capped *cs = (fkm_cpu_capped *)fkm_calloc(1, sizeof *cs);
    if (!cs) return NULL;
    cs->n = n; cs->k = k; cs->cap = cap;
    cs->m = k < CAND ? k : CAND;
    /* all n rows at once when they fit the budget (a full point's row is then read, not
     * recomputed); else blocks */
    cs->block = n <= whole_limit / k ? n : block_limit / k > 0 ? block_limit / k : 1;
    if (cs->block > n) cs->block = n;
    cs->cand = (int32_t *)fkm_alloc((size_t)(n * cs->m), sizeof(int32_t));
    cs->cdist = (float *)fkm_alloc((size_t)(n * cs->m), sizeof(float));
    cs->kdist = (float *)fkm_alloc((size_t)n, sizeof(float));
    cs->key = (uint64_t *)fkm_alloc((size_t)n, sizeof(uint64_t));
    cs->key2 = (uint64_t *)fkm_alloc((size_t)n, sizeof(uint64_t));
    cs->order = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    cs->order2 = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    cs->count = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    cs->hist = (int64_t *)fkm_alloc((size_t)1 << 16, sizeof(int64_t));
    cs->rows = (float *)fkm_alloc((size_t)(cs->block * k), sizeof(float));
    if (!cs->rows && cs->block == n && n > block_limit / k) { /* no room for every row: blocks */
        cs->block = block_limit / k > 0 ? block_limit / k : 1;
        cs->rows = (float *)fkm_alloc((size_t)(cs->block * k), sizeof(float));
    }
    cs->stamp = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    if (k <= SWAP_K) {
        cs->gain = (double *)fkm_alloc((size_t)(k * k), sizeof(double));
        cs->garg = (int32_t *)fkm_alloc((size_t)(k * k), sizeof(int32_t));
        cs->gdist = (float *)fkm_alloc((size_t)(k * k), sizeof(float));
    }
    if (!(cs->cand && cs->cdist && cs->kdist && cs->key && cs->key2 && cs->order && cs->order2 && cs->count &&
          cs->hist && cs->rows && cs->stamp && (k > SWAP_K || (cs->gain && cs->garg && cs->gdist)))) {
        fkm_cpu_capped_destroy(cs);
        return NULL;
    }
    return cs;
}

/* The m nearest of one row, nearest first, equal distances by lower index: m passes, each the
 * smallest (distance, index) above the previous one. Each pass runs LANES independent running
 * minima (a lane keeps the lowest index of its minimum: strict <), a loop the compiler vectorises,
 * then reduces the lanes by (distance, index). */
enum { LANES = 16 };
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default"))) /* wider lanes; the same choices */
#endif
static void nearest_m(const float *row, int64_t k, int64_t m, int32_t *cand, float *cdist) {
    float pv = -INFINITY;
    int32_t pc = -1;
    for (int64_t j = 0; j < m; j++) {
        float lv[LANES];
        int32_t lc[LANES];
        for (int l = 0; l < LANES; l++) {
            lv[l] = INFINITY;
            lc[l] = INT32_MAX;
        }
        int64_t c0 = 0;
        for (; c0 + LANES <= k; c0 += LANES)
            for (int l = 0; l < LANES; l++) {
                const float v = row[c0 + l];
                const int32_t c = (int32_t)(c0 + l);
                const int above = v > pv || (v == pv && c > pc);
                const int take = above && v < lv[l];
                lv[l] = take ? v : lv[l];
                lc[l] = take ? c : lc[l];
            }
        for (int l = 0; c0 + l < k; l++) { /* the tail, one per lane */
            const float v = row[c0 + l];
            const int32_t c = (int32_t)(c0 + l);
            if ((v > pv || (v == pv && c > pc)) && (v < lv[l] || (v == lv[l] && c < lc[l]))) {
                lv[l] = v;
                lc[l] = c;
            }
        }
        float bv = lv[0];
        int32_t bc = lc[0];
        for (int l = 1; l < LANES; l++)
            if (lv[l] < bv || (lv[l] == bv && lc[l] < bc)) {
                bv = lv[l];
                bc = lc[l];
            }
        cand[j] = bc;
        cdist[j] = row[bc];
        pv = bv;
        pc = bc;
    }
}

/* The indices 0..n-1 sorted by cs->key ascending, equal keys in index order: a stable LSD radix
 * sort in four 16-bit passes between (key, order) and (key2, order2). Returns the array that holds
 * the result (order or order2); a pass whose digit is the same for every key is skipped. */
static const int64_t *radix_sorted(fkm_cpu_capped *cs) {
    const int64_t n = cs->n;
    uint64_t *key = cs->key, *key2 = cs->key2;
    int64_t *order = cs->order, *order2 = cs->order2, *hist = cs->hist;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int shift = 0; shift < 64; shift += 16) {
        memset(hist, 0, ((size_t)1 << 16) * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) hist[(key[i] >> shift) & 0xFFFF]++;
        if (hist[(key[0] >> shift) & 0xFFFF] == n) continue;
        int64_t sum = 0;
        for (int64_t b = 0; b < 1 << 16; b++) {
            const int64_t c = hist[b];
            hist[b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++) {
            const int64_t at = hist[(key[i] >> shift) & 0xFFFF]++;
            key2[at] = key[i];
            order2[at] = order[i];
        }
        uint64_t *tk = key; key = key2; key2 = tk;
        int64_t *to = order; order = order2; order2 = to;
    }
    return order;
}

/* Step 5, the local search: up to PASSES passes over the points in index order, each
 *   - moving a point to the nearest cluster with room when that lowers w_i dist (relocation), and
 *     recording, per ordered pair of clusters (a, b), the point of a that gains most by moving to b;
 *   - then, for each pair a < b, swapping those two points when the swap lowers the capped inertia
 *     (gain_ab + gain_ba > 0) and neither moved in this pass.
 * Every change lowers the capped inertia and keeps every cluster within the cap; a pass without one
 * ends it. The moves and swaps are sequential in index order; the gain table is a maximum with
 * index tie-breaks, threaded by cluster: the same bits for any thread count. Rows: the kept
 * matrix, or recomputed block by block (the same bits). Returns whether anything changed. */
/* Point i's gains to every cluster, kept in the table of its cluster ca when larger. The points of
 * a cluster always come in increasing index order, so strict > keeps the lowest index on ties. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void record_gains(double *restrict g, int32_t *restrict garg, float *restrict gdist, int64_t k, int64_t i,
                         int64_t ca, double wi, const float *restrict row) {
    const double own = (double)row[ca];
    for (int64_t c = 0; c < k; c++) {
        const double gi = wi * (own - (double)row[c]);
        const int take = gi > g[c];
        g[c] = take ? gi : g[c];
        garg[c] = take ? (int32_t)i : garg[c];
        gdist[c] = take ? row[c] : gdist[c];
    }
}

/* The gain table from kept rows, threaded by cluster: each thread owns the rows of the table of
 * the clusters it takes (points grouped by label with a counting sort, in index order). */
static void gains_by_cluster(fkm_cpu_capped *cs, const float *w, const int32_t *labels, int64_t n, int64_t k,
                             int threads) {
    int64_t *start = cs->hist, *perm = cs->order2; /* free here: k + 1 <= 2^16, n */
    fkm_cpu_group_by_label(labels, n, k, start, perm);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t ca = 0; ca < k; ca++)
        for (int64_t t = start[ca]; t < start[ca + 1]; t++) {
            const int64_t i = perm[t];
            const double wi = w ? (double)w[i] : 1.0;
            if (wi > 0)
                record_gains(cs->gain + ca * k, cs->garg + ca * k, cs->gdist + ca * k, k, i, ca, wi, cs->rows + i * k);
        }
}

static int local_search(fkm_cpu_capped *cs, const fkm_cpu_assign_args *a, const float *w, int32_t *labels,
                        float *best) {
    const int64_t n = a->n, k = a->k, d = a->d, cap = cs->cap;
    const int swaps = cs->gain != NULL;
    int changed = 0;
    memset(cs->count, 0, (size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) cs->count[labels[i]]++;
    for (int64_t i = 0; i < n; i++) cs->stamp[i] = -1;
    for (int pass = 0; pass < PASSES; pass++) {
        int improved = 0;
        int64_t room = 0;
        for (int64_t c = 0; c < k; c++) room += cs->count[c] < cap;
        if (swaps)
            for (int64_t q = 0; q < k * k; q++) {
                cs->gain[q] = -INFINITY; /* a swap pays when the two gains add up to > 0 */
                cs->garg[q] = -1;
            }
        const int whole = cs->block == n; /* rows kept: the gains are threaded after the moves */
        for (int64_t i0 = 0; i0 < n && (room || !whole); i0 += cs->block) {
            const int64_t rows = n - i0 < cs->block ? n - i0 : cs->block;
            if (cs->block < n) {
                fkm_cpu_assign_args blk = *a;
                blk.x = a->x + i0 * d;
                blk.xterm = a->xterm + i0;
                blk.n = rows;
                fkm_cpu_distances(&blk, cs->rows);
            }
            for (int64_t r = 0; r < rows; r++) {
                const int64_t i = i0 + r;
                const float *row = cs->block < n ? cs->rows + r * k : cs->rows + i * k;
                const double wi = w ? (double)w[i] : 1.0;
                if (!(wi > 0)) continue; /* a zero-weight point gains nothing anywhere */
                int64_t ca = labels[i];
                /* a point at its nearest centroid cannot gain by moving: skip the scan */
                if (room && ca != cs->cand[i * cs->m]) {
                    int64_t cb = -1;
                    for (int64_t c = 0; c < k; c++)
                        if (c != ca && cs->count[c] < cap && (cb < 0 || row[c] < row[cb])) cb = c;
                    if (cb >= 0 && wi * ((double)row[ca] - (double)row[cb]) > 0) {
                        if (--cs->count[ca] == cap - 1) room++;
                        if (++cs->count[cb] == cap) room--;
                        labels[i] = (int32_t)cb;
                        best[i] = row[cb];
                        cs->stamp[i] = pass;
                        ca = cb;
                        improved = 1;
                    }
                }
                if (swaps && !whole)
                    record_gains(cs->gain + ca * k, cs->garg + ca * k, cs->gdist + ca * k, k, i, ca, wi, row);
            }
        }
        /* a point's gains depend on its own label and row only: after the moves, in any order */
        if (swaps && whole) gains_by_cluster(cs, w, labels, n, k, a->threads);
        for (int64_t ca = 0; swaps && ca < k; ca++)
            for (int64_t cb = ca + 1; cb < k; cb++) {
                const int32_t i = cs->garg[ca * k + cb], j = cs->garg[cb * k + ca];
                if (i < 0 || j < 0 || cs->stamp[i] == pass || cs->stamp[j] == pass) continue;
                if (!(cs->gain[ca * k + cb] + cs->gain[cb * k + ca] > 0)) continue;
                labels[i] = (int32_t)cb;
                best[i] = cs->gdist[ca * k + cb];
                labels[j] = (int32_t)ca;
                best[j] = cs->gdist[cb * k + ca];
                cs->stamp[i] = cs->stamp[j] = pass;
                improved = 1;
            }
        changed |= improved;
        if (!improved) break;
    }
    return changed;
}

fkm_status fkm_cpu_capped_assign(fkm_cpu_capped *cs, const fkm_cpu_assign_args *a, const float *w,
                                 const int32_t *kept, int32_t *labels, float *best, int32_t *unc, float *unc_best) {
    const int64_t n = a->n, k = a->k, d = a->d, m = cs->m, cap = cs->cap;
    /* 1. distances, block by block: each row's m nearest (and the kept label's distance) */
    for (int64_t i0 = 0; i0 < n; i0 += cs->block) {
        fkm_cpu_assign_args blk = *a;
        blk.x = a->x + i0 * d;
        blk.xterm = a->xterm + i0;
        blk.n = n - i0 < cs->block ? n - i0 : cs->block;
        fkm_cpu_distances(&blk, cs->rows);
#pragma omp parallel for num_threads(a->threads) schedule(static)
        for (int64_t r = 0; r < blk.n; r++) {
            const int64_t i = i0 + r;
            nearest_m(cs->rows + r * k, k, m, cs->cand + i * m, cs->cdist + i * m);
            if (kept) cs->kdist[i] = cs->rows[r * k + kept[i]];
        }
    }
    memset(cs->count, 0, (size_t)k * sizeof(int64_t));
    int64_t most = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t c = cs->cand[i * m];
        if (unc) unc[i] = c;
        if (unc_best) unc_best[i] = cs->cdist[i * m];
        if (++cs->count[c] > most) most = cs->count[c];
    }
    /* 2. the cap does not bind: the nearest centroids, i.e. Lloyd's assignment (optimal) */
    if (most <= cap) {
        for (int64_t i = 0; i < n; i++) {
            labels[i] = cs->cand[i * m];
            best[i] = cs->cdist[i * m];
        }
        return FKM_OK;
    }
    /* 3. regret order, then each point to its nearest centroid with room. A regret is >= 0, so
     * its float64 bits order like its value; reversed, an ascending sort is the descending order */
    for (int64_t i = 0; i < n; i++) {
        const double gap = m > 1 ? (double)cs->cdist[i * m + 1] - (double)cs->cdist[i * m] : 0.0;
        double r = (w ? (double)w[i] : 1.0) * gap;
        uint64_t bits;
        if (!(r > 0)) r = 0.0; /* +0, never -0 */
        memcpy(&bits, &r, sizeof bits);
        cs->key[i] = ~bits;
    }
    const int64_t *order = radix_sorted(cs);
    memset(cs->count, 0, (size_t)k * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        const int64_t i = order[t];
        int64_t c = -1;
        float v = 0.0f;
        for (int64_t j = 0; j < m && c < 0; j++)
            if (cs->count[cs->cand[i * m + j]] < cap) {
                c = cs->cand[i * m + j];
                v = cs->cdist[i * m + j];
            }
        if (c < 0) { /* its m nearest are full: its row (kept, or computed again: the same bits) */
            const float *row = cs->rows + i * k;
            if (cs->block < n) {
                fkm_cpu_distance_row(a, i, cs->rows);
                row = cs->rows;
            }
            for (int64_t q = 0; q < k; q++)
                if (cs->count[q] < cap && (c < 0 || row[q] < v)) {
                    c = q;
                    v = row[q];
                }
        }
        if (c < 0) return FKM_FAIL(FKM_ERR_INTERNAL, "capped assignment: no cluster has room (cap %lld, k %lld, n %lld)",
                                   (long long)cap, (long long)k, (long long)n);
        labels[i] = (int32_t)c;
        best[i] = v;
        cs->count[c]++;
    }
    /* 4. a greedy that does not beat the labels that made these centroids gives way to them */
    if (kept && fkm_cpu_sum(cs->kdist, w, n, a->threads) <= fkm_cpu_sum(best, w, n, a->threads)) {
        memcpy(labels, kept, (size_t)n * sizeof(int32_t));
        memcpy(best, cs->kdist, (size_t)n * sizeof(float));
    }
    /* 5. moves and swaps that lower the capped inertia */
    local_search(cs, a, w, labels, best);
    return FKM_OK;
}
