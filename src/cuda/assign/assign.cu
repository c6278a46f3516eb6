/* assign.cu -- the exact (SIMT fp32) assignment kernel and the launcher for every kernel id.
 *
 * Exact mode: fp32 products and sums on the CUDA cores, k summed in index order like the CPU
 * engine. A 256-thread block computes a 64 x 64 tile of scores, each thread a 4 x 4 register
 * block over 16-wide k slices staged (transposed) in shared memory, and keeps a running argmin
 * per row; the 16 threads sharing a row reduce with the lowest-index tie rule at the end. */
#include "assign_mma.cuh"
#include "assign_ps.cuh"
#include "assign_wgmma.cuh"
#include "tuning.cuh"

#include <stdio.h>

/* per device, kernel id and k-block class (fkm_kblock_class): bytes the dynamic shared-memory limit was raised to */
static int smem_raised[16][FKM_KERN_COUNT][4];

#define SIMT_BM 64
#define SIMT_BN 64
#define SIMT_BK 16

/* 256 threads meet: the whole block (bar 0) or one group of 256 in a larger block (bar 1 ..). */
__device__ __forceinline__ void simt_sync(int bar) { asm volatile("bar.sync %0, 256;\n" ::"r"(bar) : "memory"); }

/* The scores of 64 rows (this thread loads row lr from xrow, NULL: zeros) against centroid tiles
 * [j0, j1) of 64, fp32 FMA in feature order; the argmin of row r (ties to the lowest index) ends
 * in rv[r], ri[r]. Called by 256 threads (tid 0 .. 255) that meet at barrier bar. */
__device__ __forceinline__ void simt_argmin(const fkm_cu_assign_args &a, const char *cg, const float *ctg,
                                            const char *xrow, int j0, int j1, float (*xs)[SIMT_BM + 4],
                                            float (*cs)[SIMT_BN + 4], float *rv, int *ri, int tid, int bar) {
    const int ty = tid >> 4, tx = tid & 15;
    const int lr = tid >> 2, lk = (tid & 3) * 4; /* loader: row and k offset of one float4 */
    const int nks = (int)(a.c_pitch / (SIMT_BK * 4));
    float bv[4], acc[4][4];
    int bi[4];
    for (int i = 0; i < 4; i++) { bv[i] = __int_as_float(0x7f800000); bi[i] = 0; }
    for (int j = j0; j < j1; j++) {
#pragma unroll
        for (int i = 0; i < 4; i++)
#pragma unroll
            for (int q = 0; q < 4; q++) acc[i][q] = 0.0f;
        for (int ks = 0; ks < nks; ks++) {
            const int kb = ks * SIMT_BK * 4 + lk * 4; /* byte offset in the row */
            float4 xv = make_float4(0.f, 0.f, 0.f, 0.f);
            if (xrow && kb < a.x_bytes) xv = *reinterpret_cast<const float4 *>(xrow + kb);
            const float4 cv = *reinterpret_cast<const float4 *>(cg + ((int64_t)j * SIMT_BN + lr) * a.c_pitch + kb);
            xs[lk][lr] = xv.x; xs[lk + 1][lr] = xv.y; xs[lk + 2][lr] = xv.z; xs[lk + 3][lr] = xv.w;
            cs[lk][lr] = cv.x; cs[lk + 1][lr] = cv.y; cs[lk + 2][lr] = cv.z; cs[lk + 3][lr] = cv.w;
            simt_sync(bar);
#pragma unroll
            for (int kk = 0; kk < SIMT_BK; kk++) {
                const float4 xa = *reinterpret_cast<const float4 *>(&xs[kk][ty * 4]);
                const float4 ca = *reinterpret_cast<const float4 *>(&cs[kk][tx * 4]);
                const float xr[4] = {xa.x, xa.y, xa.z, xa.w}, cr[4] = {ca.x, ca.y, ca.z, ca.w};
#pragma unroll
                for (int i = 0; i < 4; i++)
#pragma unroll
                    for (int q = 0; q < 4; q++) acc[i][q] = fmaf(xr[i], cr[q], acc[i][q]);
            }
            simt_sync(bar);
        }
#pragma unroll
        for (int q = 0; q < 4; q++) {
            const int col = j * SIMT_BN + tx * 4 + q;
            const float ct = ctg[col];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const float s = fmaf(-a.alpha, acc[i][q], ct);
                if (s < bv[i]) { bv[i] = s; bi[i] = col; }
            }
        }
    }
    /* Row ty*4+i lives in the 16 lanes tx = 0..15 of a half warp. */
#pragma unroll
    for (int i = 0; i < 4; i++) {
        fkm_lane_argmin<1, 8>(bv[i], bi[i]);
        if (tx == 0) { rv[ty * 4 + i] = bv[i]; ri[ty * 4 + i] = bi[i]; }
    }
    simt_sync(bar);
}

__global__ void __launch_bounds__(256) fkm_assign_simt(const fkm_cu_assign_args a) {
    __shared__ __align__(16) float xs[SIMT_BK][SIMT_BM + 4];
    __shared__ __align__(16) float cs[SIMT_BK][SIMT_BN + 4];
    __shared__ double red[256];
    __shared__ float rv[SIMT_BM];
    __shared__ int ri[SIMT_BM];
    const fkm_tile_pos tp = fkm_tile_of<SIMT_BM>(a);
    if (a.done && a.done[tp.prob]) return;
    const int tid = threadIdx.x, lr = tid >> 2;
    simt_argmin(a, a.c + tp.prob * a.kp * a.c_pitch, a.cterm + tp.prob * a.kp,
                lr < tp.rows ? tp.xg + (int64_t)lr * a.x_pitch : NULL, 0, (int)((a.k + SIMT_BN - 1) / SIMT_BN), xs,
                cs, rv, ri, tid, 0);
    const float v = tid < SIMT_BM ? rv[tid] : 0.0f;
    const int lab = tid < SIMT_BM ? ri[tid] : 0;
    fkm_write_rows<SIMT_BM>(a, tp.prob, tp.row0, tp.rows, v, lab, red);
}

/* The SIMT kernel over the rows listed in a.ulist (cert.cu: the uncertified ones; a problem with
 * coff set: all its rows in order). One block per tile of 64 listed rows, b * tiles blocks, those
 * past a problem's count exit at once. Each row's scores depend on that row alone, so a list gives
 * the same bits as the plain tiles; labels and raw scores go to labels and best. (A persistent
 * version over (tile, range of centroid tiles) items with a 64-bit atomic minimum per row was
 * slower on an H100: 0.136 -> 0.315 ms at N = 4M K = 256.) */
__global__ void __launch_bounds__(256) fkm_assign_simt_list(const fkm_cu_assign_args a) {
    __shared__ __align__(16) float xs[SIMT_BK][SIMT_BM + 4];
    __shared__ __align__(16) float cs[SIMT_BK][SIMT_BN + 4];
    __shared__ float rv[SIMT_BM];
    __shared__ int ri[SIMT_BM];
    const fkm_tile_pos tp = fkm_tile_of<SIMT_BM>(a);
    const int64_t prob = tp.prob, row0 = tp.row0;
    if (a.done && a.done[prob]) return;
    const bool all = a.coff && a.coff[prob];
    const int rows = all ? tp.rows : (int)min((int64_t)SIMT_BM, (int64_t)a.ucount[prob] - row0);
    if (rows <= 0) return;
    const int tid = threadIdx.x, lr = tid >> 2;
    const int32_t *list = a.ulist + prob * a.n + row0;
    const int64_t xr = lr < rows ? prob * a.n + (all ? row0 + lr : list[lr]) : -1;
    simt_argmin(a, a.c + prob * a.kp * a.c_pitch, a.cterm + prob * a.kp, xr >= 0 ? a.x + xr * a.x_pitch : NULL, 0,
                (int)((a.k + SIMT_BN - 1) / SIMT_BN), xs, cs, rv, ri, tid, 0);
    if (tid < rows) {
        const int64_t g = prob * a.n + (all ? row0 + tid : list[tid]);
        a.labels[g] = ri[tid];
        a.best[g] = rv[tid];
    }
}

#define LIST_G 4 /* groups of 256 threads per block of the split re-score kernel */

/* The same over the listed rows, split over the centroids. An item is a tile of 64 listed rows
 * and a chunk of LIST_G centroid tiles of 64; the block's LIST_G groups of 256 threads take one
 * centroid tile each, merge in group order with the lowest-index tie rule, and each row's
 * (score, label) goes into its key (cert_key: unsigned order = that rule) by a 64-bit atomic
 * minimum. The minimum of (score, index) under the rule is one element however the columns are
 * split, so the output stage (k_cert_finish) reads the one-block kernel's label from the key, and
 * its score too (a zero score's sign it recomputes). Problems with coff (every row listed, no
 * keys): item i is tiles LIST_G i .. LIST_G i + LIST_G - 1, one per group over all centroids,
 * results written directly.
 * A persistent grid (a block per SM) strides over all items and jumps over the empty rest of a
 * problem: the list is short (1-2% of the rows), and a tile per block of 256 threads left most
 * SMs with two or three blocks, done in three rounds where the mean was 2.2. */
__global__ void __launch_bounds__(256 * LIST_G, 1) fkm_assign_simt_split(const fkm_cu_assign_args a, int chunks) {
    __shared__ __align__(16) float xs[LIST_G][SIMT_BK][SIMT_BM + 4];
    __shared__ __align__(16) float cs[LIST_G][SIMT_BK][SIMT_BN + 4];
    __shared__ float rv[LIST_G][SIMT_BM];
    __shared__ int ri[LIST_G][SIMT_BM];
    const int grp = threadIdx.x >> 8, tid = threadIdx.x & 255, lr = tid >> 2;
    const int nct = (int)((a.k + SIMT_BN - 1) / SIMT_BN);
    const int64_t per = a.tiles * chunks; /* items per problem */
    for (int64_t it = blockIdx.x; it < a.total_tiles * chunks; it += gridDim.x) {
        const int64_t prob = it / per, local = it - prob * per;
        const bool all = a.coff && a.coff[prob];
        const int64_t cnt = (a.done && a.done[prob]) ? 0 : all ? a.n : a.ucount[prob];
        const int64_t first = (all ? local * LIST_G : local / chunks) * SIMT_BM; /* the item's first row */
        if (first >= cnt) { /* the rest of this problem is empty: on to the next one */
            const int64_t next = (prob + 1) * per;
            it += ((next - it + gridDim.x - 1) / gridDim.x - 1) * gridDim.x;
            continue;
        }
        if (all) { /* item i: tiles LIST_G i + group, each group alone over all centroids (no merge,
                    * no block barrier: split and merged, the groups waited for each other and ran
                    * 13% slower than the one-block kernel on every row) */
            const int64_t row0 = (local * LIST_G + grp) * SIMT_BM;
            if (row0 >= a.n) continue;
            const int rows = (int)min((int64_t)SIMT_BM, a.n - row0);
            const int64_t xr = lr < rows ? prob * a.n + row0 + lr : -1;
            simt_argmin(a, a.c + prob * a.kp * a.c_pitch, a.cterm + prob * a.kp,
                        xr >= 0 ? a.x + xr * a.x_pitch : NULL, 0, nct, xs[grp], cs[grp], rv[grp], ri[grp], tid, 1 + grp);
            if (tid < rows) { /* rv, ri of this group are next written after its barriers in simt_argmin */
                a.labels[prob * a.n + row0 + tid] = ri[grp][tid];
                a.best[prob * a.n + row0 + tid] = rv[grp][tid];
            }
            continue;
        }
        const int64_t t = local / chunks, row0 = t * SIMT_BM;
        const int ch = (int)(local - t * chunks);
        const int j0 = ch * LIST_G + grp < nct ? ch * LIST_G + grp : nct, j1 = j0 < nct ? j0 + 1 : nct;
        const int rows = (int)min((int64_t)SIMT_BM, cnt - row0);
        const int32_t *list = a.ulist + prob * a.n + row0;
        const int64_t xr = lr < rows ? prob * a.n + list[lr] : -1;
        simt_argmin(a, a.c + prob * a.kp * a.c_pitch, a.cterm + prob * a.kp, xr >= 0 ? a.x + xr * a.x_pitch : NULL,
                    j0, j1, xs[grp], cs[grp], rv[grp], ri[grp], tid, 1 + grp);
        __syncthreads();
        if (threadIdx.x < rows) {
            const int r = threadIdx.x;
            float v = rv[0][r];
            int lab = ri[0][r];
#pragma unroll
            for (int q = 1; q < LIST_G; q++)
                if (fkm_better(rv[q][r], ri[q][r], v, lab)) { v = rv[q][r]; lab = ri[q][r]; }
            atomicMin(&a.ukey[prob * a.n + row0 + r], cert_key(v, lab));
        }
        __syncthreads(); /* rv, ri are read before the next item's groups write them */
    }
}

/* The SIMT kernel over the uncertified rows (cert.cu). */
fkm_status fkm_cu_assign_simt_list(const fkm_cu_engine *e, const fkm_cu_assign_args *a) {
    if (e->cert_list) {
        const int chunks = (int)((e->k + SIMT_BN * LIST_G - 1) / (SIMT_BN * LIST_G));
        const int64_t items = e->b * e->tiles * chunks, grid = items < e->sm_count ? items : e->sm_count;
        fkm_assign_simt_split<<<(unsigned)grid, 256 * LIST_G, 0, e->stream>>>(*a, chunks);
    } else {
        fkm_assign_simt_list<<<(unsigned)(e->b * e->tiles), 256, 0, e->stream>>>(*a);
    }
    CU_LAUNCHED("re-scoring kernel");
    return FKM_OK;
}

/* ---- launcher: one table entry per kernel id */

/* The kernels are instantiated from the configuration tables (tuning.cuh), so a configuration
 * the chooser can name is the one that runs: one entry per configuration and op, checked below. */
typedef void (*kern_fn)(const fkm_cu_assign_args);
template <int C, int OP>
static constexpr kern_fn mma_of() {
    constexpr fkm_cu_cfg c = fkm_cu_cfgs[C];
    return fkm_assign_mma<c.bm, c.bn, c.wm, c.wn, c.stages, c.xres != 0, OP>;
}
#define CFG_KERNELS(OP) mma_of<0, OP>(), mma_of<1, OP>(), mma_of<2, OP>(), mma_of<3, OP>()
static const kern_fn kernels[] = {fkm_assign_simt, CFG_KERNELS(0), CFG_KERNELS(1), CFG_KERNELS(2)};
static_assert(sizeof kernels / sizeof *kernels == 1 + 3 * FKM_CU_NCFG, "one mma kernel per configuration and op");

/* wgmma kernels by [op][configuration][k-blocks per row: 1, 2, 4, other]: mode 0 configurations
 * take any row (NKB 0), mode 1 ones are built for 1, 2 or 4 k-blocks with at least as many stages;
 * NULL where a configuration does not exist for that row width (fkm_cu_kern_fits says the same). */
template <int W, int OP, int NKB>
static constexpr kern_fn wg_of() {
    constexpr fkm_cu_wcfg w = fkm_cu_wcfgs[W];
    if constexpr (w.mode == 0) return fkm_assign_wgmma<w.nwg, w.stages, OP, 0>;
    else if constexpr (NKB > 0 && w.stages >= NKB) return fkm_assign_wgmma<w.nwg, w.stages, OP, NKB>;
    else return nullptr;
}
#define WG_CFG(W, OP) {wg_of<W, OP, 1>(), wg_of<W, OP, 2>(), wg_of<W, OP, 4>(), wg_of<W, OP, 0>()}
#define WG_OP(OP) {WG_CFG(0, OP), WG_CFG(1, OP), WG_CFG(2, OP), WG_CFG(3, OP), WG_CFG(4, OP), WG_CFG(5, OP)}
static const kern_fn wg_kernels[][FKM_CU_NWCFG][4] = {WG_OP(0), WG_OP(1), WG_OP(2)};
static_assert(sizeof wg_kernels / sizeof *wg_kernels == 3 && FKM_CU_NWCFG == 6,
              "one wgmma row per op and configuration (WG_OP lists FKM_CU_NWCFG of them)");

static kern_fn kernel_of(int id, int nkc) {
    if (!fkm_cu_kern_is_wg(id)) return kernels[id];
    return wg_kernels[fkm_cu_kern_op(id)][fkm_cu_kern_cfg(id)][fkm_kblock_class(nkc)];
}

const char *fkm_cu_kernel_name(int kern) {
    static char names[FKM_KERN_COUNT][40];
    static const char *ops[3] = {"f16", "bf16", "tf32"};
    if (kern < 0 || kern >= FKM_KERN_COUNT) return "?";
    if (kern == FKM_KERN_SIMT) return "simt-f32";
    if (!names[kern][0]) {
        const int op = fkm_cu_kern_op(kern), c = fkm_cu_kern_cfg(kern);
        if (fkm_cu_kern_is_persistent(kern))
            snprintf(names[kern], sizeof names[kern], "wgmma-%s-%s", ops[op], fkm_cu_kern_is_res(kern) ? "res" : "ps");
        else if (fkm_cu_kern_is_wg(kern))
            snprintf(names[kern], sizeof names[kern], "wgmma-%s-%dx128-s%d%s", ops[op], 64 * fkm_cu_wcfgs[c].nwg,
                     fkm_cu_wcfgs[c].stages, fkm_cu_wcfgs[c].mode ? "-g" : "");
        else
            snprintf(names[kern], sizeof names[kern], "mma-%s-%dx%d-s%d%s", ops[op], fkm_cu_cfgs[c].bm, fkm_cu_cfgs[c].bn,
                     fkm_cu_cfgs[c].stages, fkm_cu_cfgs[c].xres ? "-xres" : "");
    }
    return names[kern];
}

fkm_status fkm_cu_assign(fkm_cu_engine *e, int mode) {
    const int full = mode == 2;
    fkm_cu_assign_args a = {}; /* every field defined, also those a kernel family does not read */
    a.x = (const char *)e->x;
    a.x_pitch = e->dp * e->es;
    a.x_bytes = e->dp * e->es;
    a.n = e->n;
    a.k = e->k;
    a.c = (const char *)e->cc;
    a.c_pitch = e->dcp * e->es;
    a.kp = e->kp;
    a.nkc = (int)(a.c_pitch / FKM_CU_CHUNK);
    a.cterm = e->cterm;
    a.xterm = e->xterm;
    a.w = e->w;
    a.alpha = e->metric == FKM_METRIC_L2 ? 2.0f : 1.0f;
    a.clamp = e->metric == FKM_METRIC_L2;
    a.tiles = e->tiles;
    a.total_tiles = e->b * e->tiles;
    a.labels = e->labels;
    a.best = e->best;
    a.prev = full ? e->prev : NULL;
    a.keys = full ? e->keys : NULL;
    a.counts = full ? e->counts : NULL;
    a.tile_inertia = mode >= 1 ? e->tile_inertia : NULL;
    a.stats = full ? e->cur : NULL;
    a.done = full ? e->done : NULL;
    const int id = e->kern;
    if (e->cert) return fkm_cu_assign_cert(e, &a);
    if (fkm_cu_kern_is_res(id)) return fkm_cu_assign_res(e, a, 0);
    if (fkm_cu_kern_is_ps(id)) return fkm_cu_assign_ps(e, a, 0);
    const unsigned grid = (unsigned)(e->b * e->tiles);
    int threads = 256, bn = SIMT_BN;
    if (fkm_cu_kern_is_wg(id)) {
        threads = fkm_cu_wcfgs[fkm_cu_kern_cfg(id)].nwg * 128 + 32;
        bn = WG_BN;
    } else if (id != FKM_KERN_SIMT) {
        const fkm_cu_cfg *cfg = &fkm_cu_cfgs[fkm_cu_kern_cfg(id)];
        threads = cfg->wm * cfg->wn * 32;
        bn = cfg->bn;
    }
    a.nct = (int)((e->k + bn - 1) / bn);
    const size_t smem = fkm_cu_kern_smem(id, a.c_pitch, e->k);
    const kern_fn kf = kernel_of(id, a.nkc);
    if (!kf) return FKM_FAIL(FKM_ERR_INTERNAL, "assignment kernel %d does not exist for %d k-blocks per row", id, a.nkc);
    CU_RET(fkm_cu_smem_optin((const void *)kf, smem,
                             e->dev < 16 ? &smem_raised[e->dev][id][fkm_kblock_class(a.nkc)] : NULL));
    kf<<<grid, threads, smem, e->stream>>>(a);
    CU_LAUNCHED("assignment kernel");
    return FKM_OK;
}
