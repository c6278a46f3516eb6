/* assign_epi.cuh -- the part every assignment kernel shares: argument block, running argmin
 * with the lowest-index tie rule, and the per-row output stage (labels, distances, keys for the
 * update's sort, cluster counts, changed labels, per-tile inertia in a fixed order). */
#ifndef FKM_CU_ASSIGN_EPI_CUH
#define FKM_CU_ASSIGN_EPI_CUH

#include "../cu_common.cuh"

typedef struct fkm_cu_assign_args_s {
    const char *x;          /* compute-type points, b*n rows */
    int64_t x_pitch;        /* bytes per row */
    int64_t x_bytes;        /* bytes of a row that hold data (dp * es); the rest is not read */
    int64_t n, k;           /* points and centroids per problem */
    const char *c;          /* compute-type centroids, b * kp rows */
    int64_t c_pitch;        /* bytes per centroid row (a multiple of FKM_CU_CHUNK) */
    int64_t kp;
    int nct;                /* centroid tiles to scan: ceil(k / BN) */
    int nkc;                /* chunks per row: c_pitch / FKM_CU_CHUNK */
    const float *cterm;     /* b * kp */
    const float *xterm;     /* b * n */
    const float *w;         /* b * n or NULL */
    float alpha;
    int clamp;
    int64_t tiles;          /* point tiles per problem */
    int64_t total_tiles;    /* b * tiles */
    int32_t *labels;        /* b * n out */
    float *best;            /* b * n out or NULL */
    /* statistics (each NULL when not wanted; tile_inertia NULL skips them all): */
    int32_t *prev;          /* previous labels, compared and overwritten */
    uint32_t *keys;         /* problem * k + label, the update's sort keys */
    int32_t *counts;        /* b * k, incremented */
    double *tile_inertia;   /* b * tiles */
    fkm_cu_stats *stats;    /* b: changed += */
    const int32_t *done;    /* b: skip finished problems */
    /* certified pass (cert.cu; all NULL otherwise) */
    const float *cn;        /* b * kp: n_c */
    const float2 *xq;       /* b * n: (P_x, Q_x) */
    const float *calpha;    /* b: alpha / sigma^2 */
    const uint32_t *cmax;   /* 2b: r, 2u tau */
    float cscale;           /* multiplies the bound (1; tests) */
    /* ... its exact step (k_cert_resolve, cert_exact): the SIMT kernel's float32 points and
     * centroids (pitches in floats), the list the rows the bound does not prove join
     * (uput[p*n + i], i < ucnt[p]) */
    const float *x32, *c32;
    int64_t x32_pitch, c32_pitch;
    int32_t *uput, *ucnt;
    /* the split re-score kernel's (score, label) minima by list position (NULL: the one-block
     * kernel writes labels and scores itself); a listed row's label is -1 - its position until the
     * output stage reads its key */
    unsigned long long *ukey;
    /* SIMT kernel over a list of rows (the uncertified ones): row t*64+i of problem p is
     * ulist[p*n + t*64 + i] while that is < ucount[p]; results go to labels and best (raw score) */
    const int32_t *ulist, *ucount;
    const int32_t *coff;    /* b or NULL: every row of the problem is listed (cert.cu) */
} fkm_cu_assign_args;

/* The block's point tile: problem, first row, rows in it (the last tile may be short) and the
 * address of its first row. Blocks are laid out problem by problem, a.tiles per problem. */
struct fkm_tile_pos {
    int64_t prob, row0;
    int rows;
    const char *xg;
};
template <int BM>
__device__ __forceinline__ fkm_tile_pos fkm_tile_of(const fkm_cu_assign_args &a) {
    const int64_t tile = blockIdx.x, prob = tile / a.tiles, row0 = (tile - prob * a.tiles) * BM;
    return {prob, row0, (int)min((int64_t)BM, a.n - row0), a.x + (prob * a.n + row0) * a.x_pitch};
}

/* (v, i) beats (bv, bi): smaller score, or equal score and lower index. */
__device__ __forceinline__ bool fkm_better(float v, int i, float bv, int bi) {
    return v < bv || (v == bv && i < bi);
}

/* Reduce (v, i) across the lanes that differ in the bits of `mask_bits` (xor butterfly). */
template <int FIRST, int LAST>
__device__ __forceinline__ void fkm_lane_argmin(float &v, int &i) {
#pragma unroll
    for (int off = FIRST; off <= LAST; off <<= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, off);
        int oi = __shfl_xor_sync(0xffffffffu, i, off);
        if (fkm_better(ov, oi, v, i)) { v = ov; i = oi; }
    }
}

/* What the output stage reads per row besides the result: |x|^2 (or its stand-in), the previous
 * label and the weight. A kernel may load them before its main loop (fkm_row_inputs) so that
 * their latency hides behind the matrix work instead of stalling the output stage. */
struct fkm_row_in {
    float xt, w;
    int32_t prev;
};
/* The inputs of global row g. */
__device__ __forceinline__ fkm_row_in fkm_row_input(const fkm_cu_assign_args &a, int64_t g) {
    fkm_row_in in = {a.xterm[g], 1.0f, -1};
    if (a.w) in.w = a.w[g];
    if (a.prev) in.prev = a.prev[g];
    return in;
}
template <int BM>
__device__ __forceinline__ fkm_row_in fkm_row_inputs(const fkm_cu_assign_args &a, int64_t prob, int64_t row0, int rows) {
    const int tid = threadIdx.x;
    fkm_row_in in = {0.0f, 1.0f, -1};
    if (tid < BM && tid < rows) in = fkm_row_input(a, prob * a.n + row0 + tid);
    return in;
}

/* One row's results: label, distance, previous label (changed is set when it differs), sort
 * key; returns the row's weighted distance for the inertia. */
__device__ __forceinline__ double fkm_store_row(const fkm_cu_assign_args &a, int64_t prob, int64_t g, float v, int lab,
                                               const fkm_row_in &in, int &changed) {
    float dist = in.xt + v;
    if (a.clamp && dist < 0.0f) dist = 0.0f;
    a.labels[g] = lab;
    if (a.best) a.best[g] = dist;
    if (a.prev) {
        changed = in.prev != lab;
        a.prev[g] = lab;
    }
    if (a.keys) a.keys[g] = (uint32_t)(prob * a.k + lab);
    return (double)dist * (double)in.w;
}

/* Output stage. Called by ALL threads of the block (it has barriers); thread r < BM owns row r
 * of the tile and passes its final (score, label) in (v, lab) and its inputs (fkm_row_inputs).
 * red: >= BM / 16 doubles of shared memory not in use by the caller any more (the caller has
 * passed a block barrier). */
template <int BM>
__device__ __forceinline__ void fkm_write_rows(const fkm_cu_assign_args &a, int64_t prob, int64_t row0, int rows,
                                               float v, int lab, double *red, const fkm_row_in &in) {
    const int tid = threadIdx.x, lane = tid & 31;
    const bool valid = tid < BM && tid < rows;
    const int64_t g = prob * a.n + row0 + tid;
    double contrib = 0.0;
    int changed = 0;
    if (valid) contrib = fkm_store_row(a, prob, g, v, lab, in, changed);
    if (!a.tile_inertia) return; /* labels and distances only: no statistics */
    if (a.counts) { /* lanes with the same label add once (integer atomics: order-free) */
        const unsigned vmask = __ballot_sync(0xffffffffu, valid);
        if (valid) {
            const unsigned peers = __match_any_sync(vmask, lab);
            if (lane == __ffs(peers) - 1) atomicAdd(&a.counts[prob * a.k + lab], __popc(peers));
        }
    }
    /* Tile inertia in a fixed order, so the same bits every run: a xor tree inside each warp of
     * rows, then the warps' sums in warp order. One block barrier (the tree over BM rows with a
     * barrier per level stalled the whole block: ncu "Stall Barrier" was the top reason). */
    static_assert(BM % 32 == 0, "BM must be a multiple of 32");
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, o);
    const int wchanged = __popc(__ballot_sync(0xffffffffu, changed));
    int *nch = reinterpret_cast<int *>(red + BM / 32);
    if (lane == 0 && tid < BM) {
        red[tid >> 5] = contrib;
        nch[tid >> 5] = wchanged;
    }
    __syncthreads();
    if (tid == 0) {
        double s = 0.0;
        int nchanged = 0;
        for (int w = 0; w < BM / 32; w++) {
            s += red[w];
            nchanged += nch[w];
        }
        a.tile_inertia[prob * a.tiles + row0 / BM] = s;
        if (nchanged && a.stats) atomicAdd(&a.stats[prob].changed, (unsigned long long)nchanged);
    }
}
/* The same, reading the row inputs now (kernels whose output stage is not worth the registers). */
template <int BM>
__device__ __forceinline__ void fkm_write_rows(const fkm_cu_assign_args &a, int64_t prob, int64_t row0, int rows,
                                               float v, int lab, double *red) {
    fkm_write_rows<BM>(a, prob, row0, rows, v, lab, red, fkm_row_inputs<BM>(a, prob, row0, rows));
}
#endif
