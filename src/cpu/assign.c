/* assign.c -- fused distance + argmin on the CPU: kernel choice, packing, blocking, threads.
 *
 * The n x k score matrix never exists. Each thread takes a chunk of points, packs it into
 * transposed panels (assign_kern.h), and runs the microkernel over cache-sized blocks of packed
 * centroid tiles, keeping only a running (best score, index) per point. Loop order per chunk:
 * centroid block (stays in L2) -> panel (stays in L1) -> tile (streams from L2).
 *
 * Every kernel (avx512, avx2, portable, naive) performs the same fp32 operations in the same
 * order (assign_kern.h), so the labels and distances are bitwise identical whichever kernel
 * the CPU allows, and independent of the thread count (each point is computed by one thread). */
#include "assign_kern.h"
#include "cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
#endif

/* Cache budgets in bytes (L1 48 KiB and L2 1 MiB per core on the Zen 5 we tune on; smaller
 * caches only cost speed, never correctness). */
enum { XCHUNK_BYTES = 192 * 1024, CBLOCK_BYTES = 512 * 1024, DPASS_BYTES = 28 * 1024 };

/* ---------------------------------------------------------------- portable kernel */
/* fmaf is exactly rounded everywhere; where the CPU has FMA the clone turns it into the
 * instruction instead of a libm call (same bits, much faster). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define FMA_CLONES
#endif

#define PW 8 /* points per panel */
#define PR 4 /* centroids per tile */

static inline __attribute__((always_inline)) void portable_body(const fkm_kern_args *a, const float *xp, float *bv,
                                                                 int32_t *bi, const int top2) {
    const int64_t d = a->d;
    for (int64_t t = a->t0; t < a->t1; t++) {
        const float *ct = a->cp + t * PR * d;
        float *saved = a->acc ? a->acc + (t - a->t0) * (PR * PW) : NULL;
        float acc[PR][PW] = {{0}};
        if (a->j0 > 0) memcpy(acc, saved, sizeof acc);
        for (int64_t j = a->j0; j < a->j1; j++)
            for (int r = 0; r < PR; r++)
                for (int l = 0; l < PW; l++) acc[r][l] = fmaf(xp[j * PW + l], ct[j * PR + r], acc[r][l]);
        if (a->j1 < d) {
            memcpy(saved, acc, sizeof acc);
            continue;
        }
        for (int r = 0; r < PR && t * PR + r < a->k; r++) {
            const int64_t c = t * PR + r;
            for (int l = 0; l < PW; l++) {
                const float s = fmaf(-a->alpha, acc[r][l], a->cterm[c]);
                if (top2) { /* min(sv, max(s, bv)) as the SIMD kernels: a NaN s gives bv */
                    const float m = s > bv[l] ? s : bv[l];
                    if (m < a->sv[l]) a->sv[l] = m;
                }
                if (s < bv[l]) { bv[l] = s; bi[l] = (int32_t)c; }
            }
        }
    }
}
FMA_CLONES static void panel_portable(const fkm_kern_args *a, const float *xp, float *bv, int32_t *bi) {
    portable_body(a, xp, bv, bi, 0);
}
FMA_CLONES static void panel2_portable(const fkm_kern_args *a, const float *xp, float *bv, int32_t *bi) {
    portable_body(a, xp, bv, bi, 1);
}

static int supported_always(void) { return 1; }
static const fkm_assign_kernel kernel_portable = {"portable", PW, PR, panel_portable, NULL, supported_always, panel2_portable};

/* ---------------------------------------------------------------- naive path
 * No packing, no work space: used when the packing buffers cannot be allocated, and selectable
 * by name so the tests can check it gives the same bits as the packed kernels. */
static void finish_point(const fkm_cpu_assign_args *a, int64_t i, float bv, int32_t bi, int32_t *labels,
                         float *best) {
    float dist = a->xterm[i] + bv;
    if (a->clamp && dist < 0) dist = 0;
    labels[i] = bi;
    best[i] = dist;
}

FMA_CLONES static void naive_range(const fkm_cpu_assign_args *a, int64_t i0, int64_t i1, int32_t *labels,
                                   float *best, float *second) {
    const int64_t d = a->d;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = a->x + i * d;
        float bv = INFINITY, sv = INFINITY;
        int32_t bi = 0;
        for (int64_t c = 0; c < a->k; c += 4) { /* 4 independent dot products, then in order */
            const int64_t m = a->k - c < 4 ? a->k - c : 4;
            float dot[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t j = 0; j < d; j++)
                for (int64_t r = 0; r < m; r++) dot[r] = fmaf(xi[j], a->c[(c + r) * d + j], dot[r]);
            for (int64_t r = 0; r < m; r++) {
                const float s = fmaf(-a->alpha, dot[r], a->cterm[c + r]);
                const float m = s > bv ? s : bv; /* the kernels' second: min(sv, max(s, bv)) */
                if (m < sv) sv = m;
                if (s < bv) { bv = s; bi = (int32_t)(c + r); }
            }
        }
        finish_point(a, i, bv, bi, labels, best);
        if (second) second[i] = sv;
    }
}

static void assign_naive(const fkm_cpu_assign_args *a, int32_t *labels, float *best, float *second) {
    const int64_t chunk = 64, nch = (a->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(a->threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < nch; b++)
        naive_range(a, b * chunk, b * chunk + chunk < a->n ? b * chunk + chunk : a->n, labels, best, second);
}

/* ---------------------------------------------------------------- kernel choice */
static const fkm_assign_kernel *const kernel_list[] = {&fkm_kernel_avx512, &fkm_kernel_avx2, &kernel_portable};
enum { NKERNELS = sizeof kernel_list / sizeof kernel_list[0] };

static const fkm_assign_kernel *forced;  /* set by fkm_cpu_assign_set_kernel */
static int forced_naive;
static fkm_cpu_assign_tuning tuning;     /* set by fkm_cpu_assign_set_tuning; 0 = automatic */

void fkm_cpu_assign_set_tuning(const fkm_cpu_assign_tuning *t) {
    if (t) tuning = *t;
    else memset(&tuning, 0, sizeof tuning);
}

static const fkm_assign_kernel *auto_kernel(void) {
    static const fkm_assign_kernel *chosen; /* benign race: every thread computes the same value */
    if (!chosen) {
        const fkm_assign_kernel *pick = &kernel_portable;
        for (int i = NKERNELS - 1; i >= 0; i--)
            if (kernel_list[i]->panel && kernel_list[i]->supported()) pick = kernel_list[i];
        chosen = pick;
    }
    return chosen;
}

int fkm_cpu_assign_set_kernel(const char *name) {
    if (!name || !strcmp(name, "auto")) { forced = NULL; forced_naive = 0; return 0; }
    if (!strcmp(name, "naive")) { forced = NULL; forced_naive = 1; return 0; }
    for (int i = 0; i < NKERNELS; i++)
        if (!strcmp(name, kernel_list[i]->name)) {
            if (!kernel_list[i]->panel || !kernel_list[i]->supported()) return -1;
            forced = kernel_list[i];
            forced_naive = 0;
            return 0;
        }
    return -1;
}

int fkm_cpu_assign_kernel_supported(const char *name) {
    if (!strcmp(name, "naive")) return 1;
    for (int i = 0; i < NKERNELS; i++)
        if (!strcmp(name, kernel_list[i]->name)) return kernel_list[i]->panel && kernel_list[i]->supported();
    return 0;
}

const char *fkm_cpu_assign_kernel(void) {
    if (forced_naive) return "naive";
    return forced ? forced->name : auto_kernel()->name;
}

/* ---------------------------------------------------------------- packing */
static void pack_tile(const fkm_cpu_assign_args *a, int rt, int64_t t, float *cp) {
    const int64_t d = a->d;
    float *dst = cp + t * rt * d;
    for (int r = 0; r < rt; r++) {
        const int64_t c = t * rt + r;
        if (c < a->k)
            for (int64_t j = 0; j < d; j++) dst[j * rt + r] = a->c[c * d + j];
        else
            for (int64_t j = 0; j < d; j++) dst[j * rt + r] = 0.0f;
    }
}

void fkm_cpu_pack_centroids(const fkm_cpu_assign_args *a, int rt, int64_t ntiles, float *cp) {
    if (a->threads <= 1) { /* no OpenMP region for one thread (cpu.h) */
        for (int64_t t = 0; t < ntiles; t++) pack_tile(a, rt, t, cp);
        return;
    }
#pragma omp parallel for num_threads(a->threads) schedule(static)
    for (int64_t t = 0; t < ntiles; t++) pack_tile(a, rt, t, cp);
}

/* Transpose np panels of w rows into xp. Loop order: feature outer, point inner, so the writes
 * are sequential and the reads walk w rows side by side (w cache lines in flight). */
static void pack_points(const fkm_assign_kernel *kn, const fkm_cpu_assign_args *a, int64_t i0, int64_t np,
                        float *xp) {
    if (kn->pack && !tuning.scalar_pack) {
        kn->pack(a->x, a->n, a->d, i0, np, xp);
        return;
    }
    const int64_t d = a->d, w = kn->width;
    for (int64_t p = 0; p < np; p++) {
        float *dst = xp + p * w * d;
        const int64_t ip = i0 + p * w;
        const int64_t m = a->n - ip < w ? a->n - ip : w; /* real rows in this panel */
        const float *src = a->x + ip * d;
        for (int64_t j = 0; j < d; j++) {
            float *out = dst + j * w;
            for (int64_t l = 0; l < m; l++) out[l] = src[l * d + j];
            for (int64_t l = m; l < w; l++) out[l] = 0.0f;
        }
    }
}

/* ---------------------------------------------------------------- driver */
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

typedef struct {
    const fkm_assign_kernel *kn;
    const float *cp;
    int64_t ntiles, tblock; /* centroid tiles, and tiles per cache block */
    int64_t dpass;          /* features per pass (cache blocking over d) */
    int64_t cpp, nchunks;   /* panels per chunk, chunks */
} plan;

/* Prefetch the rows of the chunk after this one (contiguous in x) so that packing it does not
 * wait on memory: call q of nq of this chunk's kernel calls takes its share, spread over the
 * second half only, so the lines are still in L2 when the packing comes. */
static void prefetch_part(const fkm_cpu_assign_args *a, const plan *pl, int64_t next, int64_t q, int64_t nq) {
    if (next >= pl->nchunks || tuning.no_prefetch || q < nq / 2) return;
    q -= nq / 2;
    nq -= nq / 2;
    const int64_t w = pl->kn->width, i0 = next * pl->cpp * w;
    const int64_t i1 = i0 + pl->cpp * w < a->n ? i0 + pl->cpp * w : a->n;
    const char *base = (const char *)(a->x + i0 * a->d);
    const int64_t bytes = (i1 - i0) * a->d * (int64_t)sizeof(float);
    for (int64_t b = bytes * q / nq & ~(int64_t)63; b < bytes * (q + 1) / nq; b += 64)
        __builtin_prefetch(base + b, 0, 2);
}

/* Chunk ch (np panels from point i0): scan every centroid block, then write the labels out.
 * Loop order: centroid block (L2) -> panel -> pass over d (the panel slice stays in L1) -> tile. */
static void run_chunk(const fkm_cpu_assign_args *a, const plan *pl, int64_t ch, int64_t next, float *xp,
                      float *bv, int32_t *bi, float *sv, float *accbuf, int32_t *labels, float *best,
                      float *second) {
    const int64_t w = pl->kn->width, d = a->d, i0 = ch * pl->cpp * w;
    const int64_t np = ch + 1 < pl->nchunks ? pl->cpp : (a->n + w - 1) / w - ch * pl->cpp;
    pack_points(pl->kn, a, i0, np, xp);
    for (int64_t l = 0; l < np * w; l++) { bv[l] = INFINITY; bi[l] = 0; }
    if (second) for (int64_t l = 0; l < np * w; l++) sv[l] = INFINITY;
    fkm_kern_args ka = {pl->cp, a->cterm, d, a->k, 0, 0, 0, 0, d > pl->dpass ? accbuf : NULL, a->alpha, NULL};
    const fkm_panel_fn panel = second ? pl->kn->panel2 : pl->kn->panel;
    const int64_t nblk = (pl->ntiles + pl->tblock - 1) / pl->tblock, npass = (d + pl->dpass - 1) / pl->dpass;
    int64_t q = 0;
    for (int64_t t0 = 0; t0 < pl->ntiles; t0 += pl->tblock) {
        ka.t0 = t0;
        ka.t1 = t0 + pl->tblock < pl->ntiles ? t0 + pl->tblock : pl->ntiles;
        for (int64_t p = 0; p < np; p++)
            for (ka.j0 = 0; ka.j0 < d; ka.j0 = ka.j1) {
                ka.j1 = ka.j0 + pl->dpass < d ? ka.j0 + pl->dpass : d;
                prefetch_part(a, pl, next, q++, nblk * np * npass);
                if (second) ka.sv = sv + p * w;
                panel(&ka, xp + p * w * d, bv + p * w, bi + p * w);
            }
    }
    for (int64_t l = 0; l < np * w && i0 + l < a->n; l++) finish_point(a, i0 + l, bv[l], bi[l], labels, best);
    if (second)
        for (int64_t l = 0; l < np * w && i0 + l < a->n; l++) second[i0 + l] = sv[l];
}

/* Hand out chunks one ahead, so each thread knows which rows to prefetch. */
static int64_t grab(int64_t *counter) {
    int64_t v;
#pragma omp atomic capture
    v = (*counter)++;
    return v;
}

static void assign_impl(const fkm_cpu_assign_args *a, int32_t *labels, float *best, float *second, fkm_cpu_ws *ws);

void fkm_cpu_assign(const fkm_cpu_assign_args *a, int32_t *labels, float *best) {
    fkm_cpu_ws *ws = fkm_cpu_ws_create();
    if (!ws) { assign_naive(a, labels, best, NULL); return; } /* same bits, no work space */
    assign_impl(a, labels, best, NULL, ws);
    fkm_cpu_ws_destroy(ws);
}

void fkm_cpu_assign_ws(const fkm_cpu_assign_args *a, int32_t *labels, float *best, fkm_cpu_ws *ws) {
    assign_impl(a, labels, best, NULL, ws);
}

void fkm_cpu_assign_top2(const fkm_cpu_assign_args *a, int32_t *labels, float *best, float *second, fkm_cpu_ws *ws) {
    assign_impl(a, labels, best, second, ws);
}

/* One thread's share: chunks handed out one ahead until none is left. */
static void assign_worker(const fkm_cpu_assign_args *a, const plan *pl, fkm_cpu_ws *ws, int32_t *labels, float *best,
                          float *second, int64_t *counter) {
    const int64_t w = pl->kn->width, rt = pl->kn->rtile, d = a->d;
    const int t0 = FKM_WS_THREAD0 + FKM_WS_PER_THREAD * omp_get_thread_num();
    float *xp = (float *)fkm_cpu_ws_get(ws, t0, (size_t)(pl->cpp * w * d), sizeof(float));
    float *bv = (float *)fkm_cpu_ws_get(ws, t0 + 1, (size_t)(pl->cpp * w), sizeof(float));
    int32_t *bi = (int32_t *)fkm_cpu_ws_get(ws, t0 + 2, (size_t)(pl->cpp * w), sizeof(int32_t));
    const int passes = d > pl->dpass; /* partial dots parked between passes over d */
    float *accbuf = passes ? (float *)fkm_cpu_ws_get(ws, t0 + 3, (size_t)(pl->tblock * rt * w), sizeof(float)) : NULL;
    float *sv = second ? (float *)fkm_cpu_ws_get(ws, t0 + 5, (size_t)(pl->cpp * w), sizeof(float)) : NULL;
    const int ok = xp && bv && bi && (accbuf || !passes) && (sv || !second);
    for (int64_t ch = grab(counter), next; ch < pl->nchunks; ch = next) {
        next = grab(counter);
        const int64_t i0 = ch * pl->cpp * w, i1 = i0 + pl->cpp * w < a->n ? i0 + pl->cpp * w : a->n;
        if (ok)
            run_chunk(a, pl, ch, next, xp, bv, bi, sv, accbuf, labels, best, second);
        else /* no work space on this thread: the unpacked path gives the same bits */
            naive_range(a, i0, i1, labels, best, second);
    }
}

static void assign_impl(const fkm_cpu_assign_args *a, int32_t *labels, float *best, float *second, fkm_cpu_ws *ws) {
    const fkm_assign_kernel *kn = forced ? forced : auto_kernel();
    if (forced_naive) { assign_naive(a, labels, best, second); return; }
    const int64_t w = kn->width, rt = kn->rtile, d = a->d;
    const int64_t ntiles = (a->k + rt - 1) / rt;
    float *cp = fkm_cpu_ws_reserve(ws, FKM_WS_SLOTS(a->threads)) == 0
                    ? (float *)fkm_cpu_ws_get(ws, FKM_WS_CPACK, (size_t)(ntiles * rt * d), sizeof(float))
                    : NULL;
    if (!cp) { assign_naive(a, labels, best, second); return; } /* same bits, no work space */
    fkm_cpu_pack_centroids(a, (int)rt, ntiles, cp);

    const int64_t npanels = (a->n + w - 1) / w;
    const int64_t panel_bytes = w * d * (int64_t)sizeof(float);
    plan pl;
    pl.kn = kn;
    pl.cp = cp;
    pl.ntiles = ntiles;
    /* Panels per chunk: fill the L2 share, but leave >= 4 chunks per thread to balance. */
    pl.cpp = clamp64(clamp64(XCHUNK_BYTES / panel_bytes, 1, 64), 1, (npanels + 4 * a->threads - 1) / (4 * a->threads));
    pl.nchunks = (npanels + pl.cpp - 1) / pl.cpp;
    pl.tblock = clamp64(CBLOCK_BYTES / (rt * d * (int64_t)sizeof(float)), 1, ntiles);
    /* One pass when d is small enough for a panel slice plus a tile slice to sit in L1. */
    pl.dpass = DPASS_BYTES / ((w + rt) * (int64_t)sizeof(float));
    if (d <= pl.dpass * 3 / 2) pl.dpass = d;
    if (tuning.dpass > 0) pl.dpass = tuning.dpass < d ? tuning.dpass : d;
    if (tuning.chunk_panels > 0) pl.cpp = tuning.chunk_panels, pl.nchunks = (npanels + pl.cpp - 1) / pl.cpp;
    if (tuning.tile_block > 0) pl.tblock = clamp64(tuning.tile_block, 1, ntiles);
    int64_t counter = 0;
    if (a->threads <= 1) { /* no OpenMP region for one thread (cpu.h) */
        assign_worker(a, &pl, ws, labels, best, second, &counter);
        return;
    }
#pragma omp parallel num_threads(a->threads)
    assign_worker(a, &pl, ws, labels, best, second, &counter);
}
