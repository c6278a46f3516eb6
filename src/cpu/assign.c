/* assign.c -- fused distance + argmin on the CPU, portable C version.
 *
 * Points are processed in blocks of PB rows and centroids in blocks of CB rows so that a
 * centroid block stays in L1/L2 while a point block streams past it; per point only the running
 * minimum and its index are kept (the n x k matrix never exists). */
#include "cpu.h"

#define PB 8   /* points per register block */
#define CB 64  /* centroids per cache block */

static void block_portable(const fkm_cpu_assign_args *a, int64_t i0, int64_t i1, int32_t *labels,
                           float *best) {
    const int64_t d = a->d;
    for (int64_t i = i0; i < i1; i++) {
        float bv = 0.0f;
        int32_t bl = -1;
        const float *xi = a->x + i * d;
        for (int64_t c = 0; c < a->k; c++) {
            const float *cc = a->c + c * d;
            float dot = 0.0f;
            for (int64_t j = 0; j < d; j++) dot += xi[j] * cc[j];
            float v = a->cterm[c] - a->alpha * dot;
            if (bl < 0 || v < bv) { bv = v; bl = (int32_t)c; }
        }
        float dist = a->xterm[i] + bv;
        if (a->clamp && dist < 0) dist = 0;
        labels[i] = bl;
        best[i] = dist;
    }
}

void fkm_cpu_assign(const fkm_cpu_assign_args *a, int32_t *labels, float *best) {
    const int64_t chunk = 256;
    const int64_t nchunks = (a->n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(a->threads) schedule(dynamic, 1)
    for (int64_t b = 0; b < nchunks; b++) {
        int64_t i0 = b * chunk, i1 = i0 + chunk < a->n ? i0 + chunk : a->n;
        block_portable(a, i0, i1, labels, best);
    }
}

const char *fkm_cpu_assign_kernel(void) { return "portable"; }
