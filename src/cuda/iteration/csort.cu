/* csort.cu -- the update's inverse map by a stable counting scatter, the alternative to CUB's
 * radix sort (update.cu) for key ranges that fit in shared memory.
 *
 * The keys (problem * k + label, b * k of them) of tile t (FKM_CS_T consecutive points) are
 * counted per tile; an exclusive scan over the counts laid out key-major ([key][tile]) gives, for
 * every (key, tile), where that tile's points of that key start in the sorted order; inside a
 * tile a point's place is the number of points of its key before it (earlier warps, then earlier
 * lanes). The result is exactly the stable sort by key -- the same perm as the radix sort, so
 * the update's sums and every bit after them are unchanged -- in three launches plus a scan. */
#include <cub/device/device_scan.cuh>

#include "../cu_common.cuh"

#define FKM_CS_T 1024 /* points per tile: one per thread */

int fkm_cu_csort_fits(int64_t bk, int64_t total) {
    const int64_t tiles = (total + FKM_CS_T - 1) / FKM_CS_T;
    return bk <= 8192 && bk * tiles <= ((int64_t)1 << 25);
}

int64_t fkm_cu_csort_entries(int64_t bk, int64_t total) { return bk * ((total + FKM_CS_T - 1) / FKM_CS_T); }

size_t fkm_cu_csort_scan_bytes(int64_t entries) {
    size_t bytes = 0;
    cub::DeviceScan::ExclusiveSum(NULL, bytes, (const int32_t *)NULL, (int32_t *)NULL, (int)entries);
    return bytes;
}

/* grid (tiles), FKM_CS_T threads, bk ints of shared memory: counts[key][tile]. */
__global__ void __launch_bounds__(FKM_CS_T) k_cs_hist(const uint32_t *keys, int64_t total, int64_t bk, int64_t tiles,
                                                      int32_t *counts) {
    extern __shared__ int h[];
    const int64_t tile = blockIdx.x, g = tile * FKM_CS_T + threadIdx.x;
    for (int64_t q = threadIdx.x; q < bk; q += FKM_CS_T) h[q] = 0;
    __syncthreads();
    if (g < total) atomicAdd(&h[keys[g]], 1); /* integer counts: order-free */
    __syncthreads();
    for (int64_t q = threadIdx.x; q < bk; q += FKM_CS_T) counts[q * tiles + tile] = h[q];
}

/* grid (tiles), FKM_CS_T threads, bk ints of shared memory: each point to its sorted place. */
__global__ void __launch_bounds__(FKM_CS_T) k_cs_scatter(const uint32_t *keys, int64_t total, int64_t tiles,
                                                         int64_t bk, const int32_t *start, uint32_t *keys_sorted,
                                                         int32_t *perm) {
    extern __shared__ int run[];
    const int64_t tile = blockIdx.x, g = tile * FKM_CS_T + threadIdx.x;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int64_t q = threadIdx.x; q < bk; q += FKM_CS_T) run[q] = 0;
    __syncthreads();
    const bool valid = g < total;
    const uint32_t key = valid ? keys[g] : 0xffffffffu;
    const unsigned peers = __match_any_sync(0xffffffffu, key);
    const int leader = __ffs(peers) - 1, rank = __popc(peers & ((1u << lane) - 1u));
    int base = 0;
    for (int w = 0; w < FKM_CS_T / 32; w++) { /* warps in order: earlier warps' points come first */
        if (warp == w && lane == leader && valid) {
            base = run[key];
            run[key] += __popc(peers);
        }
        __syncthreads();
    }
    base = __shfl_sync(0xffffffffu, base, leader);
    if (valid) {
        const int64_t pos = start[(int64_t)key * tiles + tile] + base + rank;
        keys_sorted[pos] = key;
        perm[pos] = (int32_t)g;
    }
}

fkm_status fkm_cu_csort(fkm_cu_engine *e) {
    const int64_t total = e->b * e->n, bk = e->b * e->k, tiles = (total + FKM_CS_T - 1) / FKM_CS_T;
    const size_t sh = (size_t)bk * sizeof(int);
    k_cs_hist<<<(unsigned)tiles, FKM_CS_T, sh, e->stream>>>(e->keys, total, bk, tiles, e->cs_counts);
    CU_LAUNCHED("counting-sort histogram kernel");
    size_t bytes = e->cub_bytes;
    CU_RET(cub::DeviceScan::ExclusiveSum(e->cub_tmp, bytes, e->cs_counts, e->cs_start, (int)(bk * tiles), e->stream));
    k_cs_scatter<<<(unsigned)tiles, FKM_CS_T, sh, e->stream>>>(e->keys, total, tiles, bk, e->cs_start, e->keys_sorted,
                                                               e->perm);
    CU_LAUNCHED("counting-sort scatter kernel");
    return FKM_OK;
}
