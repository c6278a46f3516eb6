#define _GNU_SOURCE /* qsort_r */
/* capped.c -- the capped assignment of fkm_params.max_cluster_size (capped.h; the rule and what it
 * optimises: docs/algorithm.md, "Capped cluster sizes").
 *
 * Cost: one pass of all n x k distances through the transform kernels (as much arithmetic as the
 * fused assignment, in row blocks of at most 2^22 distances), each row reduced to its M nearest
 * centroids. Only when some centroid is the first choice of more than cap points: one sort of the
 * n regrets and the greedy, O(n M) plus a single-threaded row of k distances for each point whose
 * M nearest are all full. Every distance is computed by one function of the point and centroid
 * alone, and every choice is a sequential scan, so the result does not depend on the threads. */
#include "capped.h"
#include "transform.h"

#include <stdlib.h>
#include <string.h>

enum { CAND = 4 };                  /* nearest centroids remembered per point */
#define BLOCK_DISTANCES (1 << 22)   /* floats of one block of distance rows (16 MiB) */

struct fkm_cpu_capped {
    int64_t n, k, cap, m;
    int32_t *cand;  /* n x m nearest centroids, nearest first (ties: lowest index) */
    float *cdist;   /* their distances */
    float *kdist;   /* distance of each point to its kept label */
    double *regret;
    int64_t *order, *count;
    float *rows;    /* one block of distance rows; also the row of a point recomputed */
    int64_t block;  /* rows per block */
};

void fkm_cpu_capped_destroy(fkm_cpu_capped *cs) {
    if (!cs) return;
    fkm_free(cs->cand); fkm_free(cs->cdist); fkm_free(cs->kdist); fkm_free(cs->regret);
    fkm_free(cs->order); fkm_free(cs->count); fkm_free(cs->rows);
    fkm_free(cs);
}

fkm_cpu_capped *fkm_cpu_capped_create(int64_t n, int64_t k, int64_t cap) {
    fkm_cpu_capped *cs = (fkm_cpu_capped *)fkm_calloc(1, sizeof *cs);
    if (!cs) return NULL;
    cs->n = n; cs->k = k; cs->cap = cap;
    cs->m = k < CAND ? k : CAND;
    cs->block = BLOCK_DISTANCES / k > 0 ? BLOCK_DISTANCES / k : 1;
    if (cs->block > n) cs->block = n;
    cs->cand = (int32_t *)fkm_alloc((size_t)(n * cs->m), sizeof(int32_t));
    cs->cdist = (float *)fkm_alloc((size_t)(n * cs->m), sizeof(float));
    cs->kdist = (float *)fkm_alloc((size_t)n, sizeof(float));
    cs->regret = (double *)fkm_alloc((size_t)n, sizeof(double));
    cs->order = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    cs->count = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    cs->rows = (float *)fkm_alloc((size_t)(cs->block * k), sizeof(float));
    if (!(cs->cand && cs->cdist && cs->kdist && cs->regret && cs->order && cs->count && cs->rows)) {
        fkm_cpu_capped_destroy(cs);
        return NULL;
    }
    return cs;
}

/* The m nearest of one row, nearest first; equal distances keep the lower index first. */
static void nearest_m(const float *row, int64_t k, int64_t m, int32_t *cand, float *cdist) {
    int64_t have = 0;
    for (int64_t c = 0; c < k; c++) {
        const float v = row[c];
        if (have == m && !(v < cdist[m - 1])) continue;
        int64_t j = have < m ? have++ : m - 1;
        while (j > 0 && v < cdist[j - 1]) { /* strict: an equal distance stays ahead (lower index) */
            cdist[j] = cdist[j - 1];
            cand[j] = cand[j - 1];
            j--;
        }
        cdist[j] = v;
        cand[j] = (int32_t)c;
    }
}

static int cmp_regret(const void *pa, const void *pb, void *ctx) {
    const double *r = (const double *)ctx;
    const int64_t i = *(const int64_t *)pa, j = *(const int64_t *)pb;
    if (r[i] != r[j]) return r[i] > r[j] ? -1 : 1;
    return i < j ? -1 : i > j;
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
    /* 3. regret order, then each point to its nearest centroid with room */
    for (int64_t i = 0; i < n; i++) {
        const double gap = m > 1 ? (double)cs->cdist[i * m + 1] - (double)cs->cdist[i * m] : 0.0;
        cs->regret[i] = (w ? (double)w[i] : 1.0) * gap;
        cs->order[i] = i;
    }
    qsort_r(cs->order, (size_t)n, sizeof(int64_t), cmp_regret, cs->regret);
    memset(cs->count, 0, (size_t)k * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        const int64_t i = cs->order[t];
        int64_t c = -1;
        float v = 0.0f;
        for (int64_t j = 0; j < m && c < 0; j++)
            if (cs->count[cs->cand[i * m + j]] < cap) {
                c = cs->cand[i * m + j];
                v = cs->cdist[i * m + j];
            }
        if (c < 0) { /* its m nearest are full: all its distances again (the same bits) */
            fkm_cpu_distance_row(a, i, cs->rows);
            for (int64_t q = 0; q < k; q++)
                if (cs->count[q] < cap && (c < 0 || cs->rows[q] < v)) {
                    c = q;
                    v = cs->rows[q];
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
    return FKM_OK;
}
