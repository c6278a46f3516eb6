/* update.c -- centroid update without races or float atomics, bitwise identical for any thread
 * count.
 *
 * The sum that defines a centroid: cut the cluster's points, in index order, into blocks of
 * UBLOCK points (a constant, not the thread count); sum each block in float64 in index order
 * starting from zero; add the block sums in block order. Products w_i * x_ij are exact in
 * float64 (24-bit by 24-bit mantissas), so FMA contraction cannot change a bit either.
 *
 * Two ways to compute exactly that sum, chosen by size (never changing the bits):
 *  - streaming (most clusters): each thread owns a range of clusters, balanced by point count,
 *    and walks the points in index order, adding its own rows into a block accumulator per
 *    cluster. Memory is read in address order, which the prefetchers follow.
 *  - gather (clusters too big for one thread, or when the 2 k d doubles of accumulators do not
 *    fit): a stable counting sort gives each cluster's points in index order; every block is a
 *    separate task, so one huge cluster still spreads over all threads. */
#include "cpu.h"

#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
#endif

enum { UBLOCK = 256, PF_AHEAD = 4 };
/* Streaming keeps 2 k d doubles of accumulators, touched at random: worth it while each thread's
 * share stays near the cache (beyond, the gather path with one L1-resident row wins). */
#define STREAM_MAX_BYTES_PER_THREAD ((int64_t)8 << 20)

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FKM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FKM_CLONES
#endif

/* acc[0..d) += w * row (w == 1: plain sum), in float64. */
FKM_CLONES static void add_row(double *acc, const float *row, const float *w, int64_t i, int64_t d) {
    if (w) {
        const double wi = w[i];
        for (int64_t j = 0; j < d; j++) acc[j] += wi * (double)row[j];
    } else {
        for (int64_t j = 0; j < d; j++) acc[j] += (double)row[j];
    }
}

FKM_CLONES static void add_into(double *acc, const double *v, int64_t d) {
    for (int64_t j = 0; j < d; j++) acc[j] += v[j];
}

static void prefetch_row(const float *row, int64_t d) {
    for (int64_t b = 0; b < d * (int64_t)sizeof(float); b += 64) __builtin_prefetch((const char *)row + b);
}

/* ---------------------------------------------------------------- counts and inverse map */
/* counts[c] = points labelled c (per-thread histograms over fixed chunks). */
static fkm_status histogram(const int32_t *labels, int64_t n, int64_t k, int threads, int64_t *counts,
                            fkm_cpu_ws *ws) {
    /* one histogram per chunk, as many chunks as threads while they stay small (integer
     * counts: the chunking cannot change the result) */
    int64_t nch = n < 65536 || threads < 2 ? 1 : threads;
    while (nch > 1 && nch * k * (int64_t)sizeof(int64_t) > ((int64_t)64 << 20)) nch--;
    int64_t *hist = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_HIST, (size_t)(nch * k), sizeof(int64_t));
    if (!hist) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update histograms");
    memset(hist, 0, (size_t)(nch * k) * sizeof(int64_t));
    if (nch == 1) { /* no OpenMP region for one chunk (cpu.h) */
        for (int64_t i = 0; i < n; i++) hist[labels[i]]++;
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t t = 0; t < nch; t++) {
            int64_t *h = hist + t * k;
            for (int64_t i = n * t / nch; i < n * (t + 1) / nch; i++) h[labels[i]]++;
        }
    }
    for (int64_t c = 0; c < k; c++) {
        int64_t s = 0;
        for (int64_t t = 0; t < nch; t++) s += hist[t * k + c];
        counts[c] = s;
    }
    return FKM_OK;
}

/* Stable counting sort of the points of the clusters with sel[c] set: start[c]..start[c+1] in
 * perm hold cluster c's indices in increasing order. One pass: this runs only for the few
 * clusters too big for the streaming path. */
static void select_sort(const int32_t *labels, int64_t n, int64_t k, const int64_t *counts, const uint8_t *sel,
                        int64_t *start, int64_t *perm) {
    int64_t pos = 0;
    for (int64_t c = 0; c < k; c++) {
        start[c] = pos;
        pos += sel[c] ? counts[c] : 0;
    }
    start[k] = pos;
    int64_t *fill = start; /* advance the starts while scattering, then shift them back */
    for (int64_t i = 0; i < n; i++)
        if (sel[labels[i]]) perm[fill[labels[i]]++] = i;
    for (int64_t c = k; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
}

/* ---------------------------------------------------------------- gather path */
/* Block b of cluster c (positions s0..s1 of perm) summed from zero in index order. */
static void block_sum(const float *x, const float *w, const int64_t *perm, int64_t s0, int64_t s1, int64_t d,
                      double *acc, double *wsum) {
    double ws = 0.0;
    memset(acc, 0, (size_t)d * sizeof(double));
    for (int64_t s = s0; s < s1; s++) {
        const int64_t i = perm[s];
        if (s + PF_AHEAD < s1) prefetch_row(x + perm[s + PF_AHEAD] * d, d); /* scattered rows */
        add_row(acc, x + i * d, w, i, d);
        ws += w ? (double)w[i] : 1.0;
    }
    *wsum = ws;
}

/* Centroid = sum / weight, or flag the cluster empty when it has no weight. */
static void finish(float *c, int64_t *counts, int64_t ci, const double *sum, double wsum, int64_t d) {
    if (wsum > 0) {
        for (int64_t j = 0; j < d; j++) c[ci * d + j] = (float)(sum[j] / wsum);
    } else {
        counts[ci] = 0; /* only zero-weight points: treated as empty */
    }
}

/* The selected clusters: every block of a cluster with several is one task (its sum parked in
 * part), then each cluster adds its block sums in block order (or sums its single block). */
static fkm_status gather_update(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                                int64_t k, int threads, int64_t *counts, const uint8_t *sel, float *c,
                                fkm_cpu_ws *ws) {
    fkm_status st = FKM_OK;
    int64_t nsel = 0, ntask = 0;
    for (int64_t ci = 0; ci < k; ci++) {
        nsel += sel[ci] ? counts[ci] : 0;
        ntask += sel[ci] && counts[ci] > UBLOCK ? (counts[ci] + UBLOCK - 1) / UBLOCK : 0;
    }
    int64_t *start = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_START, (size_t)k + 1, sizeof(int64_t));
    int64_t *slot = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_SLOT, (size_t)k + 1, sizeof(int64_t));
    int64_t *perm = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_PERM, (size_t)nsel, sizeof(int64_t));
    int64_t *task_c = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_TASK, (size_t)ntask, sizeof(int64_t));
    double *part = (double *)fkm_cpu_ws_get(ws, FKM_WS_PART, (size_t)(ntask * d), sizeof(double));
    double *pw = (double *)fkm_cpu_ws_get(ws, FKM_WS_PW, (size_t)ntask, sizeof(double));
    FKM_CHECK_ALLOC(start && slot && perm && task_c && part && pw, "the update's work space");
    select_sort(labels, n, k, counts, sel, start, perm);
    slot[0] = 0;
    for (int64_t ci = 0; ci < k; ci++) {
        slot[ci + 1] = slot[ci] + (sel[ci] && counts[ci] > UBLOCK ? (counts[ci] + UBLOCK - 1) / UBLOCK : 0);
        for (int64_t t = slot[ci]; t < slot[ci + 1]; t++) task_c[t] = ci;
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t t = 0; t < ntask; t++) {
        const int64_t ci = task_c[t], s0 = start[ci] + (t - slot[ci]) * UBLOCK;
        const int64_t s1 = s0 + UBLOCK < start[ci + 1] ? s0 + UBLOCK : start[ci + 1];
        block_sum(x, w, perm, s0, s1, d, part + t * d, pw + t);
    }
    int fail = 0;
#pragma omp parallel num_threads(threads)
    {
        double *acc = (double *)fkm_cpu_ws_get(ws, FKM_WS_THREAD0 + FKM_WS_PER_THREAD * omp_get_thread_num() + 4,
                                               (size_t)d, sizeof(double));
        if (!acc) {
#pragma omp atomic write
            fail = 1;
        }
#pragma omp for schedule(dynamic, 16)
        for (int64_t ci = 0; ci < k; ci++) {
            if (!acc || !sel[ci]) continue;
            double wsum;
            if (slot[ci + 1] == slot[ci]) {
                block_sum(x, w, perm, start[ci], start[ci + 1], d, acc, &wsum);
            } else {
                memcpy(acc, part + slot[ci] * d, (size_t)d * sizeof(double));
                wsum = pw[slot[ci]];
                for (int64_t t = slot[ci] + 1; t < slot[ci + 1]; t++) {
                    add_into(acc, part + t * d, d);
                    wsum += pw[t];
                }
            }
            finish(c, counts, ci, acc, wsum, d);
        }
    }
    if (fail) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory in the centroid update");
cleanup:
    return st;
}

/* ---------------------------------------------------------------- streaming path */
/* A cluster's running scalars, side by side: the thread that streams the cluster updates them
 * for each of its points, so in separate arrays (8 clusters a cache line) two threads' clusters
 * shared lines and every point moved a line between cores. Packed, only the line at the
 * boundary of two threads' ranges is shared: the update on 2 threads 1.4-1.7x faster at
 * n = 4000-64000, k = 5-64, the same on one (bench/results/cpu-threads-2026-12-06.md). */
typedef struct {
    double wblk, wtot;   /* weight of the open block, of the closed ones */
    int64_t fill, nblk;  /* points in the open block, closed blocks */
} stream_cl;

typedef struct {
    double *tot, *blk; /* k x d, k x d */
    stream_cl *cl;     /* k */
} stream_state;

/* Close cluster c's open block: the first becomes the total, later ones are added to it. */
static void close_block(stream_state *ss, int64_t c, int64_t d) {
    double *b = ss->blk + c * d, *t = ss->tot + c * d;
    stream_cl *cl = ss->cl + c;
    if (cl->nblk++ == 0) {
        memcpy(t, b, (size_t)d * sizeof(double));
        cl->wtot = cl->wblk;
    } else {
        add_into(t, b, d);
        cl->wtot += cl->wblk;
    }
    memset(b, 0, (size_t)d * sizeof(double));
    cl->wblk = 0.0;
    cl->fill = 0;
}

/* One thread: clusters [lo, hi) not selected for gathering, all points in index order. */
static void stream_range(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d, int64_t lo,
                         int64_t hi, const uint8_t *skip, stream_state *ss) {
    if (lo >= hi) return;
    for (int64_t c = lo; c < hi; c++) {
        memset(ss->blk + c * d, 0, (size_t)d * sizeof(double));
        ss->cl[c].wblk = 0.0;
        ss->cl[c].fill = ss->cl[c].nblk = 0;
    }
    const int64_t rowb = d * (int64_t)sizeof(float);
    const int64_t ahead = rowb >= 4096 ? 4 : 16384 / rowb; /* ~16 KiB of rows in flight */
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = labels[i];
        if (i + ahead < n) {
            const int64_t cf = labels[i + ahead];
            if (cf >= lo && cf < hi && !skip[cf]) prefetch_row(x + (i + ahead) * d, d);
        }
        if (c < lo || c >= hi || skip[c]) continue;
        add_row(ss->blk + c * d, x + i * d, w, i, d);
        ss->cl[c].wblk += w ? (double)w[i] : 1.0;
        if (++ss->cl[c].fill == UBLOCK) close_block(ss, c, d);
    }
    for (int64_t c = lo; c < hi; c++)
        if (!skip[c] && ss->cl[c].fill > 0) close_block(ss, c, d);
}

/* ---------------------------------------------------------------- update */
static int stream_alloc(stream_state *ss, int64_t k, int64_t d, int threads, fkm_cpu_ws *ws) {
    memset(ss, 0, sizeof *ss);
    if (2 * k * d * (int64_t)sizeof(double) > STREAM_MAX_BYTES_PER_THREAD * threads) return 0;
    ss->tot = (double *)fkm_cpu_ws_get(ws, FKM_WS_TOT, (size_t)(k * d), sizeof(double));
    ss->blk = (double *)fkm_cpu_ws_get(ws, FKM_WS_BLK, (size_t)(k * d), sizeof(double));
    ss->cl = (stream_cl *)fkm_cpu_ws_get(ws, FKM_WS_CL, (size_t)k, sizeof(stream_cl));
    return ss->tot && ss->blk && ss->cl;
}

/* Thread t streams the clusters [bound[t], bound[t+1]): equal shares of the streamed points. */
static void split_ranges(const int64_t *counts, const uint8_t *sel, int64_t k, int threads, int64_t rest,
                         int64_t *bound) {
    int64_t acc = 0, t = 1;
    bound[0] = 0;
    for (int64_t ci = 0; ci < k && t < threads; ci++) {
        acc += sel[ci] ? 0 : counts[ci];
        while (t < threads && acc * threads >= rest * t) bound[t++] = ci + 1;
    }
    while (t <= threads) bound[t++] = k;
}

fkm_status fkm_cpu_update(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                          int64_t k, int threads, float *c, int64_t *counts) {
    fkm_cpu_ws *ws = fkm_cpu_ws_create();
    if (!ws) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update's work space");
    fkm_status st = fkm_cpu_update_ws(x, w, labels, n, d, k, threads, c, counts, ws);
    fkm_cpu_ws_destroy(ws);
    return st;
}

fkm_status fkm_cpu_update_ws(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                             int64_t k, int threads, float *c, int64_t *counts, fkm_cpu_ws *ws) {
    fkm_status st = FKM_OK;
    stream_state ss;
    if (fkm_cpu_ws_reserve(ws, FKM_WS_SLOTS(threads)) != 0)
        return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update's work space");
    const int stream = stream_alloc(&ss, k, d, threads, ws); /* without it, every cluster is gathered */
    uint8_t *sel = (uint8_t *)fkm_cpu_ws_get(ws, FKM_WS_SEL, (size_t)k, 1);
    int64_t *bound = (int64_t *)fkm_cpu_ws_get(ws, FKM_WS_BOUND, (size_t)threads + 1, sizeof(int64_t));
    if (!sel || !bound) return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the update's work space");
    FKM_TRY(histogram(labels, n, k, threads, counts, ws));

    /* Gather the clusters one thread should not carry alone. */
    const int64_t big = n / (2 * (int64_t)threads) > UBLOCK ? n / (2 * (int64_t)threads) : UBLOCK;
    int64_t nsel = 0, rest = 0;
    for (int64_t ci = 0; ci < k; ci++) {
        sel[ci] = counts[ci] > 0 && (!stream || counts[ci] > big);
        nsel += sel[ci];
        rest += sel[ci] ? 0 : counts[ci];
    }
    if (nsel > 0) FKM_TRY(gather_update(x, w, labels, n, d, k, threads, counts, sel, c, ws));
    if (stream && rest > 0) {
        split_ranges(counts, sel, k, threads, rest, bound);
        if (threads <= 1) { /* no OpenMP region for one thread (cpu.h) */
            stream_range(x, w, labels, n, d, bound[0], bound[1], sel, &ss);
            for (int64_t ci = 0; ci < k; ci++)
                if (!sel[ci] && counts[ci] > 0) finish(c, counts, ci, ss.tot + ci * d, ss.cl[ci].wtot, d);
        } else {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
            for (int64_t r = 0; r < threads; r++) stream_range(x, w, labels, n, d, bound[r], bound[r + 1], sel, &ss);
#pragma omp parallel for num_threads(threads) schedule(static)
            for (int64_t ci = 0; ci < k; ci++)
                if (!sel[ci] && counts[ci] > 0) finish(c, counts, ci, ss.tot + ci * d, ss.cl[ci].wtot, d);
        }
    }
cleanup:
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
    if (!part || nch == 1 || threads <= 1) { /* one thread (cpu.h), or no memory for the partials:
                                                 the same chunks in the same order */
        for (int64_t b = 0; b < nch; b++) total += chunk_sum(v, w, n, b);
        if (part && part != stack) fkm_free(part);
        return total;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t b = 0; b < nch; b++) part[b] = chunk_sum(v, w, n, b);
    for (int64_t b = 0; b < nch; b++) total += part[b];
    if (part != stack) fkm_free(part);
    return total;
}
