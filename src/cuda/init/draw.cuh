/* draw.cuh -- weighted draws of a row by one warp, in a fixed order (the same row every run), and
 * the per-block sums they search, shared by greedy k-means++ (kmeanspp.cu) and k-means||
 * (kmeans_par.cu). */
#ifndef FKM_CU_DRAW_CUH
#define FKM_CU_DRAW_CUH

#include "../cu_device.cuh"

/* The sum of v over the 256 threads of a block in a fixed tree (the same bits every run); red:
 * 256 doubles of shared memory. Every thread gets the sum. */
__device__ __forceinline__ double fkm_block_sum256(double v, double *red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int h = 128; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
        __syncthreads();
    }
    const double s = red[0];
    __syncthreads(); /* red may be reused */
    return s;
}

/* Warp-wide search of v[0..m) (v by callback) for the first index whose running sum exceeds r,
 * in chunks of 32 with an inclusive shuffle scan: fixed order, the same bits every run. Returns
 * -1 when r is not reached; *total gets the sum. */
template <typename F>
__device__ int64_t pp_warp_search(int64_t m, double r, F v, double *total) {
    const int lane = threadIdx.x & 31;
    double base = 0.0;
    for (int64_t c0 = 0; c0 < m; c0 += 32) {
        double s = c0 + lane < m ? v(c0 + lane) : 0.0;
        for (int off = 1; off < 32; off <<= 1) {
            const double o = __shfl_up_sync(0xffffffffu, s, off);
            if (lane >= off) s += o;
        }
        const unsigned hit = __ballot_sync(0xffffffffu, c0 + lane < m && base + s > r);
        if (hit) {
            *total = base + __shfl_sync(0xffffffffu, s, 31);
            return c0 + __ffs(hit) - 1;
        }
        base += __shfl_sync(0xffffffffu, s, 31);
    }
    *total = base;
    return -1;
}

/* The row of [0, n) drawn by r (0 <= r < the total of val): the first whose running sum of val
 * exceeds r, found through the per-block sums bs[0..nblk) of blocks of pb rows, then inside the
 * block. When rounding puts r past a total (the block sums and the rows are added in different
 * orders), the last block or row with a positive value. Called by a whole warp. */
template <typename F>
__device__ int64_t fkm_warp_draw(const double *bs, int64_t nblk, int64_t pb, int64_t n, double r, F val) {
    const int lane = threadIdx.x & 31;
    double tot = 0.0;
    int64_t blk = pp_warp_search(nblk, r, [&](int64_t j) { return bs[j]; }, &tot);
    if (blk < 0) {
        blk = nblk - 1;
        while (blk > 0 && !(bs[blk] > 0.0)) blk--;
    }
    double before = 0.0;
    for (int64_t j = lane; j < blk; j += 32) before += bs[j];
    before = warp_sum(before);
    const int64_t i0 = blk * pb, m = min(pb, n - i0);
    int64_t pick = pp_warp_search(m, r - before, [&](int64_t j) { return val(i0 + j); }, &tot);
    if (pick < 0) {
        pick = m - 1;
        while (pick > 0 && !(val(i0 + pick) > 0.0)) pick--;
    }
    return i0 + pick;
}
#endif
