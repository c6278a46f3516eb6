/* transform.c -- all n x k distances (fkm_transform) on the CPU: kernel choice, packing,
 * blocking, threads. The microkernels (transform_kern.h) are the assignment kernels' register
 * blocking with lanes over centroids, so each output row is written with contiguous stores.
 *
 * Per thread: a chunk of points is packed into tiles of R points; then, for each cache block of
 * centroid panels (kept in L2), each tile (kept in L1) is run against every panel of the block.
 * Each output element is computed by exactly one thread with a fixed operation order, so the
 * result does not depend on the thread count, the blocking, or the kernel. */
#include "transform.h"
#include "transform_kern.h"

#include <math.h>
#include <string.h>

/* Cache budgets in bytes, as in assign.c (Zen 5: 48 KiB L1 and 1 MiB L2 per core). */
enum { XCHUNK_BYTES = 64 * 1024, CBLOCK_BYTES = 512 * 1024 };

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define FMA_CLONES
#endif

/* ---------------------------------------------------------------- portable kernel */
#define PW 8 /* centroids per panel */
#define PR 4 /* points per tile */

FMA_CLONES static void tile_portable(const fkm_tkern_args *a) {
    const int64_t d = a->d, k = a->k;
    for (int64_t q = a->q0; q < a->q1; q++) {
        const float *cp = a->cp + q * PW * d;
        float acc[PR][PW] = {{0}};
        for (int64_t j = 0; j < d; j++)
            for (int r = 0; r < PR; r++)
                for (int l = 0; l < PW; l++) acc[r][l] = fmaf(cp[j * PW + l], a->xt[j * PR + r], acc[r][l]);
        const int64_t c0 = q * PW;
        for (int r = 0; r < a->rows; r++)
            for (int l = 0; l < PW && c0 + l < k; l++) {
                float v = a->xterm[r] + fmaf(-a->alpha, acc[r][l], a->cterm[c0 + l]);
                if (a->clamp && v < 0) v = 0.0f;
                a->out[r * k + c0 + l] = v;
            }
    }
}

static int supported_always(void) { return 1; }
static const fkm_transform_kernel tkernel_portable = {"portable", PW, PR, tile_portable, supported_always};

/* ---------------------------------------------------------------- naive path
 * No packing, no work space: used when the buffers cannot be allocated, and selectable (as
 * "naive" through fkm_cpu_assign_set_kernel) so the tests can check it gives the same bits. */
FMA_CLONES static void naive_rows(const fkm_cpu_assign_args *a, int64_t i0, int64_t i1, float *out) {
    const int64_t d = a->d, k = a->k;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = a->x + i * d;
        for (int64_t c = 0; c < k; c += 4) { /* 4 independent dot products */
            const int64_t m = k - c < 4 ? k - c : 4;
            float dot[4] = {0.0f, 0.0f, 0.0f, 0.0f};
            for (int64_t j = 0; j < d; j++)
                for (int64_t r = 0; r < m; r++) dot[r] = fmaf(xi[j], a->c[(c + r) * d + j], dot[r]);
            for (int64_t r = 0; r < m; r++) {
                float v = a->xterm[i] + fmaf(-a->alpha, dot[r], a->cterm[c + r]);
                if (a->clamp && v < 0) v = 0.0f;
                out[i * k + c + r] = v;
            }
        }
    }
}

void fkm_cpu_distance_row(const fkm_cpu_assign_args *a, int64_t i, float *out) {
    fkm_cpu_assign_args one = *a;
    one.x = a->x + i * a->d;
    one.xterm = a->xterm + i;
    one.n = 1;
    naive_rows(&one, 0, 1, out);
}

static void distances_naive(const fkm_cpu_assign_args *a, float *out) {
    const int64_t chunk = 64, nch = (a->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(a->threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < nch; b++)
        naive_rows(a, b * chunk, b * chunk + chunk < a->n ? b * chunk + chunk : a->n, out);
}

/* ---------------------------------------------------------------- driver */
static const fkm_transform_kernel *pick_kernel(void) {
    static const fkm_transform_kernel *const list[] = {&fkm_tkernel_avx512, &fkm_tkernel_avx2, &tkernel_portable};
    const char *name = fkm_cpu_assign_kernel(); /* one family for assign and transform */
    if (!strcmp(name, "naive")) return NULL;
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++)
        if (!strcmp(name, list[i]->name) && list[i]->tile && list[i]->supported()) return list[i];
    return &tkernel_portable;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Tiles of rt points from row i0, interleaved (zero points past n). */
static void pack_tiles(const fkm_cpu_assign_args *a, int64_t rt, int64_t i0, int64_t ntiles, float *xt) {
    const int64_t d = a->d;
    for (int64_t t = 0; t < ntiles; t++)
        for (int64_t r = 0; r < rt; r++) {
            const int64_t i = i0 + t * rt + r;
            float *dst = xt + t * rt * d + r;
            if (i < a->n)
                for (int64_t j = 0; j < d; j++) dst[j * rt] = a->x[i * d + j];
            else
                for (int64_t j = 0; j < d; j++) dst[j * rt] = 0.0f;
        }
}

void fkm_cpu_distances(const fkm_cpu_assign_args *a, float *out) {
    const fkm_transform_kernel *kn = pick_kernel();
    if (!kn) { distances_naive(a, out); return; }
    const int64_t w = kn->width, rt = kn->rtile, d = a->d, n = a->n;
    const int64_t npanels = (a->k + w - 1) / w, ntiles = (n + rt - 1) / rt;
    float *cp = (float *)fkm_alloc((size_t)(npanels * w), (size_t)d * sizeof(float));
    if (!cp) { distances_naive(a, out); return; } /* same bits, no work space */
    fkm_cpu_pack_centroids(a, (int)w, npanels, cp); /* panels of w, as the assignment packs them */
    /* Tiles per chunk: about XCHUNK_BYTES of packed points, but >= 4 chunks per thread. */
    const int64_t tpc = clamp64(clamp64(XCHUNK_BYTES / (rt * d * (int64_t)sizeof(float)), 1, 256), 1,
                                (ntiles + 4 * a->threads - 1) / (4 * a->threads));
    const int64_t nchunks = (ntiles + tpc - 1) / tpc;
    const int64_t qblock = clamp64(CBLOCK_BYTES / (w * d * (int64_t)sizeof(float)), 1, npanels);
#pragma omp parallel num_threads(a->threads)
    {
        float *xt = (float *)fkm_alloc((size_t)(tpc * rt), (size_t)d * sizeof(float));
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nchunks; ch++) {
            const int64_t i0 = ch * tpc * rt, nt = ch + 1 < nchunks ? tpc : ntiles - ch * tpc;
            if (!xt) { /* no work space on this thread: the unpacked path gives the same bits */
                naive_rows(a, i0, i0 + nt * rt < n ? i0 + nt * rt : n, out);
                continue;
            }
            pack_tiles(a, rt, i0, nt, xt);
            fkm_tkern_args ka = {NULL, NULL, cp, a->cterm, NULL, d, a->k, 0, 0, 0, a->alpha, a->clamp};
            for (ka.q0 = 0; ka.q0 < npanels; ka.q0 = ka.q1) {
                ka.q1 = ka.q0 + qblock < npanels ? ka.q0 + qblock : npanels;
                for (int64_t t = 0; t < nt; t++) {
                    const int64_t it = i0 + t * rt;
                    ka.xt = xt + t * rt * d;
                    ka.xterm = a->xterm + it;
                    ka.out = out + it * a->k;
                    ka.rows = (int)(n - it < rt ? n - it : rt);
                    kn->tile(&ka);
                }
            }
        }
        fkm_free(xt);
    }
    fkm_free(cp);
}
