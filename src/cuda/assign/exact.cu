/* exact.cu -- exact L2 distances for the results handed back (as the CPU engine does).
 *
 * The assignment picks labels with the expansion |x|^2 - 2 x.c + |c|^2, which loses the
 * distance's relative accuracy when a point sits close to its centroid far from the origin. The
 * distances returned by predict and the inertia returned by fit and score are therefore
 * recomputed here as sum_j (x_j - c_j)^2 in float64 for the chosen centroid, and the per-tile
 * inertia partials rewritten from them in a fixed order (so k_policy's sum stays deterministic).
 * Only when the GPU copy of the data holds the caller's values exactly (e->x_exact). */
#include "../cu_device.cuh"
#include "tuning.cuh"

/* grid (tiles, b), 256 threads: a warp per row (lanes over features), rows of the tile strided
 * by warp; each warp sums its rows in row order, the block adds the 8 warps in order. */
__global__ void k_exact_l2(const void *x, int ct, int64_t n, int64_t dp, int64_t d, int64_t k, const float *c32,
                           const int32_t *labels, const float *w, float *best, double *tile_inertia, int64_t tiles,
                           int parts, int bm) {
    const int64_t prob = blockIdx.y, tile = blockIdx.x;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int t = fkm_ct_dtype(ct);
    __shared__ double part[8];
    double acc = 0.0;
    const int64_t r0 = tile * bm, r1 = min(r0 + bm, n);
    for (int64_t r = r0 + warp; r < r1; r += 8) {
        const int64_t g = prob * n + r;
        const float *cr = c32 + (prob * k + labels[g]) * d;
        double s = 0.0;
        for (int64_t j = lane; j < d; j += 32) {
            const double v = (double)load_as_float(x, t, g * dp + j) - (double)cr[j];
            s += v * v;
        }
        s = warp_sum(s);
        if (lane == 0) best[g] = (float)s;
        acc += s * (w ? (double)w[g] : 1.0);
    }
    if (lane == 0) part[warp] = acc;
    __syncthreads();
    if (threadIdx.x < parts) {
        double sum = 0.0;
        if (threadIdx.x == 0)
            for (int q = 0; q < 8; q++) sum += part[q];
        tile_inertia[(prob * tiles + tile) * parts + threadIdx.x] = sum;
    }
}

fkm_status fkm_cu_exact_l2(fkm_cu_engine *e) {
    const dim3 grid((unsigned)e->tiles, (unsigned)e->b);
    k_exact_l2<<<grid, 256, 0, e->stream>>>(e->x, e->ctype, e->n, e->dp, e->d, e->k, e->c32, e->labels, e->w, e->best,
                                             e->tile_inertia, e->tiles, e->tile_parts, fkm_cu_kern_bm(e->kern));
    CU_LAUNCHED("exact distance kernel");
    return FKM_OK;
}
