/* par_cands.cu -- the candidate set of k-means|| on the GPU (kmeans_par.cu): its memory, the
 * distance update after new candidates join, and the removal of duplicates by value.
 *
 * Distance update: the new candidates go through the engine's own assignment kernel (tensor cores
 * at the fit's precision) in passes of up to kp per problem, staged in the engine's centroid copy
 * (padding rows at +inf never win); the exact float32 squared distance to the candidate it finds
 * replaces D_i when smaller (ties keep the older candidate), as the host version does.
 *
 * Duplicates: a 64-bit hash of each candidate's values (prefixed by its problem), a stable radix
 * sort, then per run of equal keys the first candidate with equal values represents the others.
 * Representatives keep their order, so older candidates keep their indices; rows nearest to a
 * dropped duplicate move to its representative (the same values: the same distance). */
#include <cub/device/device_radix_sort.cuh>

#include "../cu_device.cuh"
#include "par.cuh"
#include "../assign/tuning.cuh"

__device__ __forceinline__ float par_ld(const par_args &a, int64_t p, int64_t row, int64_t j) {
    return load_as_float(a.x, fkm_ct_dtype(a.ct), (p * a.n + row) * a.dp + j);
}

/* Pass c0: candidate from[p] + c0 + r of each problem (r < kc) into the engine's centroid copy as
 * row r; rows past the problem's pending candidates are padding. One warp per row. */
__global__ void k_par_cc(const par_args a, int64_t c0, int64_t kp, void *cc, int64_t dcp, int tf32, int tiled,
                         float *cterm) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (row >= a.b * kp) return;
    const int64_t p = row / kp, r = row - p * kp, j = a.from[p] + c0 + r;
    const void *src = NULL;
    if (j < a.m[p]) src = (const char *)a.x + ((p * a.n + a.crow[p * a.cap + j]) * a.dp) * (a.ct == FKM_CT_F32 ? 4 : 2);
    fkm_cc_row_t(src, fkm_ct_dtype(a.ct), p, r, a.d, kp, cc, dcp, a.ct, tf32, 1, tiled, cterm);
}

/* Per row: the exact float32 squared distance to the candidate the pass found; the smaller wins.
 * One warp per row, lanes over features, a fixed xor tree. */
__global__ void k_par_near(const par_args a, const int32_t *labels, int64_t c0) {
    const int64_t g = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (g >= a.b * a.n) return;
    const int64_t p = g / a.n, c = a.from[p] + c0 + labels[g];
    if (labels[g] < 0 || c >= a.m[p]) return; /* a padding row (a problem with no candidate left) */
    const int64_t r = a.crow[p * a.cap + c];
    float s = 0.0f;
    for (int64_t j = lane; j < a.d; j += 32) {
        const float v = par_ld(a, p, g - p * a.n, j) - par_ld(a, p, r, j);
        s = fmaf(v, v, s);
    }
    s = warp_sum(s);
    if (lane == 0 && s < a.dist[g]) {
        a.dist[g] = s;
        a.near[g] = (int32_t)c;
    }
}

fkm_status par_update(par_state *s, fkm_cu_engine *e) {
    par_args &a = s->a;
    int64_t most = 0;
    for (int64_t p = 0; p < a.b; p++) most = s->hm[p] - s->hfrom[p] > most ? s->hm[p] - s->hfrom[p] : most;
    for (int64_t c0 = 0; c0 < most; c0 += e->kp) {
        fkm_cu_engine sub = *e; /* the engine's assignment over this pass's candidates, as L2 */
        sub.metric = FKM_METRIC_L2;
        sub.cert = 0; /* its own candidate copy: the SIMT or tensor-core kernel of the precision */
        sub.k = most - c0 < e->kp ? most - c0 : e->kp;
        sub.kp = fkm_cu_roundup(sub.k, FKM_CU_KPAD);
        sub.kern = fkm_cu_choose_kernel(&e->sw, e->cc_major, e->smem_optin, (int)e->prec, e->dcp * e->es, e->b, e->n, sub.k);
        sub.cc_tiled = fkm_cu_kern_ctile(sub.kern);
        sub.tile_parts = fkm_cu_kern_parts(sub.kern);
        sub.tiles = fkm_cu_kern_tiles(sub.kern, e->n);
        const int64_t rows = a.b * sub.kp;
        k_par_cc<<<(unsigned)((rows + 7) / 8), 256, 0, e->stream>>>(a, c0, sub.kp, e->cc, e->dcp, e->prec == FKM_PREC_TF32,
                                                                    sub.cc_tiled, e->cterm);
        CU_LAUNCHED("k-means|| candidate copy");
        fkm_status st = fkm_cu_assign(&sub, 0);
        if (st != FKM_OK) return st;
        k_par_near<<<(unsigned)((a.b * a.n + 7) / 8), 256, 0, e->stream>>>(a, e->labels, c0);
        CU_LAUNCHED("k-means|| distance update");
    }
    return FKM_OK;
}

/* Slot (p, j): key = problem in the top bits (2^pbits > b, so a real key is never all ones), then
 * a hash of the values (-0 as +0); empty slots get all ones and sort last. One warp per slot. */
__global__ void k_par_hash(const par_args a, int pbits, uint64_t *key, int32_t *val) {
    const int64_t slot = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (slot >= a.b * a.cap) return;
    const int64_t p = slot / a.cap, j = slot - p * a.cap;
    uint64_t h = 0;
    if (j < a.m[p]) {
        const int64_t r = a.crow[slot];
        for (int64_t q = lane; q < a.d; q += 32) { /* a sum of per-value hashes: any lane order */
            const float v = par_ld(a, p, r, q);
            h += par_mix((uint64_t)__float_as_uint(v == 0.0f ? 0.0f : v) + 0x9E3779B97F4A7C15ull * (uint64_t)(q + 1));
        }
        h = warp_sum(h);
    }
    if (lane == 0) {
        key[slot] = j < a.m[p] ? ((uint64_t)p << (64 - pbits)) | (par_mix(h) >> pbits) : ~0ull;
        val[slot] = (int32_t)slot;
    }
}

/* The first sorted position of every run of equal (real) keys; one thread walks its run. */
__global__ void k_par_runs(const uint64_t *key, int64_t total, int32_t *rstart) {
    const int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= total || key[s] == ~0ull || (s > 0 && key[s - 1] == key[s])) return;
    for (int64_t t = s; t < total && key[t] == key[s]; t++) rstart[t] = (int32_t)s;
}

/* map[slot] = the first candidate of its run (lowest index: the sort is stable) with equal values. */
__global__ void k_par_rep(const par_args a, const uint64_t *key, const int32_t *val, const int32_t *rstart,
                          int64_t total) {
    const int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= total || key[s] == ~0ull) return;
    const int64_t slot = val[s], p = slot / a.cap, r = a.crow[slot];
    for (int64_t t = rstart[s]; t <= s; t++) {
        const int64_t o = val[t], ro = a.crow[o];
        int64_t q = 0;
        while (q < a.d && par_ld(a, p, ro, q) == par_ld(a, p, r, q)) q++;
        if (q == a.d) { /* t == s at the latest */
            a.map[slot] = (int32_t)(o - p * a.cap);
            return;
        }
    }
}

/* Per problem (one warp): representatives keep their order at new indices; map[j] becomes the
 * new index of j's representative (earlier than j, so already numbered); m = their count. */
__global__ void k_par_compact(const par_args a, int32_t *nid) {
    const int64_t p = blockIdx.x, base = p * a.cap;
    const int lane = threadIdx.x;
    const int64_t m = a.m[p];
    int32_t cnt = 0;
    for (int64_t j0 = 0; j0 < m; j0 += 32) {
        const int64_t j = j0 + lane;
        const int keep = j < m && a.map[base + j] == j;
        const unsigned bal = __ballot_sync(0xffffffffu, keep);
        if (keep) {
            const int32_t q = cnt + __popc(bal & ((1u << lane) - 1));
            nid[base + j] = q;
            a.crow2[base + q] = a.crow[base + j];
        }
        cnt += __popc(bal);
    }
    __syncwarp();
    for (int64_t j = lane; j < m; j += 32) a.map[base + j] = nid[base + a.map[base + j]];
    __syncwarp();
    for (int64_t j = lane; j < cnt; j += 32) a.crow[base + j] = a.crow2[base + j];
    if (lane == 0) a.m[p] = cnt;
}

__global__ void k_par_renear(const par_args a) {
    const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= a.b * a.n) return;
    const int64_t p = g / a.n;
    a.near[g] = a.map[p * a.cap + a.near[g]];
}

static size_t dedup_sort_bytes(int64_t items) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint64_t *)NULL, (uint64_t *)NULL, (const int32_t *)NULL,
                                    (int32_t *)NULL, (int)items, 0, 64);
    return bytes;
}

fkm_status par_dedup(par_state *s, fkm_cu_engine *e) {
    par_args &a = s->a;
    const int64_t total = a.b * a.cap;
    int pbits = 1;
    while (pbits < 31 && ((int64_t)1 << pbits) <= a.b) pbits++;
    k_par_hash<<<(unsigned)((total + 7) / 8), 256, 0, e->stream>>>(a, pbits, s->hkey, s->hval);
    CU_LAUNCHED("k-means|| candidate hashes");
    size_t bytes = s->cub_bytes;
    CU_RET(cub::DeviceRadixSort::SortPairs(s->cub, bytes, s->hkey, s->hkey2, s->hval, s->hval2, (int)total, 0, 64,
                                           e->stream));
    const unsigned g = (unsigned)((total + 255) / 256);
    k_par_runs<<<g, 256, 0, e->stream>>>(s->hkey2, total, s->rstart);
    k_par_rep<<<g, 256, 0, e->stream>>>(a, s->hkey2, s->hval2, s->rstart, total);
    k_par_compact<<<(unsigned)a.b, 32, 0, e->stream>>>(a, s->hval);
    k_par_renear<<<(unsigned)((a.b * a.n + 255) / 256), 256, 0, e->stream>>>(a);
    CU_LAUNCHED("k-means|| duplicate removal");
    CU_RET(cudaMemcpyAsync(s->hm, a.m, (size_t)a.b * sizeof(int32_t), cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    return FKM_OK;
}

static size_t weight_sort_bytes(int64_t items, int bits) {
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL, (const int32_t *)NULL,
                                    (int32_t *)NULL, (int)items, 0, bits);
    return bytes;
}

/* Candidate key bits of the weight sort: keys p * cap + candidate < b * cap. */
int par_key_bits(const par_args &a) {
    int bits = 1;
    while (bits < 32 && ((int64_t)1 << bits) < a.b * a.cap) bits++;
    return bits;
}

size_t par_layout(par_state *s, const fkm_cu_engine *e, char *base) {
    par_args &a = s->a;
    const int64_t bn = e->b * e->n, bc = e->b * a.cap, bb = e->b * a.nblk;
    size_t off = 0;
#define PIECE(ptr, type, count)                                         \
    do {                                                                \
        if (base) ptr = (type *)(base + off);                           \
        off += ((size_t)(count) * sizeof(type) + 255) & ~(size_t)255;   \
    } while (0)
    PIECE(a.dist, float, bn);
    PIECE(a.near, int32_t, bn);
    PIECE(a.crow, int32_t, bc);
    PIECE(a.crow2, int32_t, bc);
    PIECE(a.map, int32_t, bc);
    PIECE(a.ord, int32_t, bc);
    PIECE(a.cw, double, bc);
    PIECE(a.m, int32_t, e->b);
    PIECE(a.from, int32_t, e->b);
    PIECE(a.add, int32_t, e->b);
    PIECE(a.mp, int32_t, e->b);
    PIECE(a.phi, double, e->b);
    PIECE(a.u, double, e->b);
    PIECE(a.bcnt, int32_t, bb);
    PIECE(a.bsum, double, bb);
    PIECE(s->hkey, uint64_t, bc);
    PIECE(s->hkey2, uint64_t, bc);
    PIECE(s->hval, int32_t, bc);
    PIECE(s->hval2, int32_t, bc);
    PIECE(s->rstart, int32_t, bc);
    PIECE(s->seg0, int32_t, bc);
    PIECE(s->seg1, int32_t, bc);
    if (!base) {
        const size_t d1 = dedup_sort_bytes(bc), d2 = weight_sort_bytes(bn, par_key_bits(a));
        s->cub_bytes = d1 > d2 ? d1 : d2;
    }
    PIECE(s->cub, char, s->cub_bytes);
#undef PIECE
    return off;
}
