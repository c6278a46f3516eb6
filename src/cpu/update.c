/* update.c -- centroid update without races or float atomics, bitwise identical for any thread
 * count.
 *
 * 1. Inverse map: a stable counting sort of the point indices by label (per-thread histograms
 *    over fixed chunks, then a scatter). Its output is unique, so the thread count cannot change
 *    it.
 * 2. Each cluster's segment is cut into blocks of UBLOCK points, a size fixed here, not by the
 *    thread count. A block is summed in float64 in index order starting from zero; a cluster's
 *    sum is its block sums added in block order. Large clusters therefore spread over all
 *    threads (one block per task) without any order depending on the scheduling.
 * Products w_i * x_ij are exact in float64 (24-bit by 24-bit mantissas), so whether the compiler
 * fuses them into FMAs cannot change a bit either. */
#include "cpu.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

enum { UBLOCK = 256, PF_AHEAD = 4 };

/* ---------------------------------------------------------------- inverse map */
/* start[c]..start[c+1]: the positions in perm of cluster c's points, in increasing index. */
static fkm_status counting_sort(const int32_t *labels, int64_t n, int64_t k, int threads, int64_t *start,
                                int64_t *perm, int64_t *counts) {
    const int64_t nch = n < 65536 || threads < 2 ? 1 : threads;
    int64_t *hist = (int64_t *)fkm_calloc((size_t)(nch * k), sizeof(int64_t));
    if (!hist) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update histograms");
#pragma omp parallel for num_threads(threads) schedule(static) if (nch > 1)
    for (int64_t t = 0; t < nch; t++) {
        int64_t *h = hist + t * k;
        for (int64_t i = n * t / nch; i < n * (t + 1) / nch; i++) h[labels[i]]++;
    }
    int64_t pos = 0;
    for (int64_t c = 0; c < k; c++) {
        start[c] = pos;
        for (int64_t t = 0; t < nch; t++) {
            const int64_t cnt = hist[t * k + c];
            hist[t * k + c] = pos; /* becomes chunk t's write position for cluster c */
            pos += cnt;
        }
        counts[c] = pos - start[c];
    }
    start[k] = pos;
#pragma omp parallel for num_threads(threads) schedule(static) if (nch > 1)
    for (int64_t t = 0; t < nch; t++) {
        int64_t *h = hist + t * k;
        for (int64_t i = n * t / nch; i < n * (t + 1) / nch; i++) perm[h[labels[i]]++] = i;
    }
    fkm_free(hist);
    return FKM_OK;
}

/* ---------------------------------------------------------------- block sums */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FKM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FKM_CLONES
#endif

/* acc[0..d) = sum over s in [s0, s1) of w_i x_i (i = perm[s]), in s order; *wsum likewise. */
FKM_CLONES static void block_sum(const float *x, const float *w, const int64_t *perm, int64_t s0, int64_t s1,
                                 int64_t d, double *acc, double *wsum) {
    double ws = 0.0;
    memset(acc, 0, (size_t)d * sizeof(double));
    for (int64_t s = s0; s < s1; s++) {
        const int64_t i = perm[s];
        const float *xi = x + i * d;
        if (s + PF_AHEAD < s1) { /* rows are scattered: fetch a whole row a few rows ahead */
            const char *nx = (const char *)(x + perm[s + PF_AHEAD] * d);
            for (int64_t b = 0; b < d * (int64_t)sizeof(float); b += 64) __builtin_prefetch(nx + b);
        }
        if (w) {
            const double wi = w[i];
            for (int64_t j = 0; j < d; j++) acc[j] += wi * (double)xi[j];
            ws += wi;
        } else {
            for (int64_t j = 0; j < d; j++) acc[j] += (double)xi[j];
            ws += 1.0;
        }
    }
    *wsum = ws;
}

FKM_CLONES static void add_into(double *acc, const double *v, int64_t d) {
    for (int64_t j = 0; j < d; j++) acc[j] += v[j];
}

/* ---------------------------------------------------------------- update */
static int64_t nblocks(int64_t cnt) { return (cnt + UBLOCK - 1) / UBLOCK; }

/* Sum the blocks of clusters that have more than one (one task per block) into part. */
static int sum_split_blocks(const float *x, const float *w, const int64_t *perm, const int64_t *start,
                            const int64_t *slot, int64_t k, int64_t d, int threads, double *part, double *pw) {
    /* task list: (cluster, block) for split clusters, in cluster order */
    const int64_t ntask = slot[k];
    int64_t *task_c = (int64_t *)fkm_alloc((size_t)(ntask > 0 ? ntask : 1), sizeof(int64_t));
    if (!task_c) return -1;
    for (int64_t c = 0; c < k; c++)
        for (int64_t s = slot[c]; s < slot[c + 1]; s++) task_c[s] = c;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < ntask; t++) {
        const int64_t c = task_c[t], b = t - slot[c];
        const int64_t s0 = start[c] + b * UBLOCK;
        const int64_t s1 = s0 + UBLOCK < start[c + 1] ? s0 + UBLOCK : start[c + 1];
        block_sum(x, w, perm, s0, s1, d, part + t * d, pw + t);
    }
    fkm_free(task_c);
    return 0;
}

fkm_status fkm_cpu_update(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                          int64_t k, int threads, float *c, int64_t *counts) {
    fkm_status st = FKM_OK;
    double *part = NULL, *pw = NULL;
    int64_t *start = (int64_t *)fkm_alloc((size_t)k + 1, sizeof(int64_t));
    int64_t *slot = (int64_t *)fkm_alloc((size_t)k + 1, sizeof(int64_t));
    int64_t *perm = (int64_t *)fkm_alloc((size_t)n, sizeof(int64_t));
    FKM_CHECK_ALLOC(start && slot && perm, "update work space");
    FKM_TRY(counting_sort(labels, n, k, threads, start, perm, counts));

    /* Partial-sum slots only for clusters split into several blocks: at most 2n/UBLOCK rows. */
    slot[0] = 0;
    for (int64_t ci = 0; ci < k; ci++) slot[ci + 1] = slot[ci] + (counts[ci] > UBLOCK ? nblocks(counts[ci]) : 0);
    if (slot[k] > 0) {
        part = (double *)fkm_alloc((size_t)slot[k], (size_t)d * sizeof(double));
        pw = (double *)fkm_alloc((size_t)slot[k], sizeof(double));
        FKM_CHECK_ALLOC(part && pw, "update partial sums");
        if (sum_split_blocks(x, w, perm, start, slot, k, d, threads, part, pw) != 0) {
            st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update task list");
            goto cleanup;
        }
    }

    int fail = 0;
#pragma omp parallel num_threads(threads)
    {
        double *acc = (double *)fkm_alloc((size_t)d, sizeof(double));
        if (!acc) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t ci = 0; ci < k; ci++) {
            if (!acc || counts[ci] == 0) continue;
            double wsum;
            if (slot[ci + 1] == slot[ci]) { /* one block: sum it here */
                block_sum(x, w, perm, start[ci], start[ci + 1], d, acc, &wsum);
            } else { /* several: add the block sums in block order */
                memcpy(acc, part + slot[ci] * d, (size_t)d * sizeof(double));
                wsum = pw[slot[ci]];
                for (int64_t s = slot[ci] + 1; s < slot[ci + 1]; s++) {
                    add_into(acc, part + s * d, d);
                    wsum += pw[s];
                }
            }
            if (wsum > 0) {
                for (int64_t j = 0; j < d; j++) c[ci * d + j] = (float)(acc[j] / wsum);
            } else {
                counts[ci] = 0; /* only zero-weight points: treated as empty */
            }
        }
        fkm_free(acc);
    }
    if (fail) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory in the centroid update");
cleanup:
    fkm_free(start);
    fkm_free(slot);
    fkm_free(perm);
    fkm_free(part);
    fkm_free(pw);
    return st;
}

enum { SUM_CHUNK = 4096 };

static double chunk_sum(const float *v, const float *w, int64_t n, int64_t b) {
    double s = 0.0;
    for (int64_t i = b * SUM_CHUNK; i < n && i < (b + 1) * SUM_CHUNK; i++) s += (double)v[i] * (w ? w[i] : 1.0f);
    return s;
}

double fkm_cpu_sum(const float *v, const float *w, int64_t n, int threads) {
    const int64_t nch = (n + SUM_CHUNK - 1) / SUM_CHUNK;
    double stack[64];
    double *part = nch <= 64 ? stack : (double *)fkm_alloc((size_t)nch, sizeof(double));
    double total = 0.0;
    if (!part) { /* no memory for the partials: same chunks, same order, one thread */
        for (int64_t b = 0; b < nch; b++) total += chunk_sum(v, w, n, b);
        return total;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < nch; b++) part[b] = chunk_sum(v, w, n, b);
    for (int64_t b = 0; b < nch; b++) total += part[b];
    if (part != stack) fkm_free(part);
    return total;
}
