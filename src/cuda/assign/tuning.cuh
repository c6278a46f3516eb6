/* tuning.cuh -- assignment kernel configurations and the per-architecture choice (tuning is data).
 *
 * A kernel is a family (SIMT fp32, mma.sync tensor cores, Hopper wgmma, the two persistent wgmma
 * kernels), a precision path (op) and a tile configuration: fkm_cu_kern_make gives its id, the
 * only place ids are computed. The configuration tables below are the one source of the tile
 * shapes: the launcher instantiates its templates from them (assign.cu) and the chooser and the
 * shared-memory sizes read them. The rule tables in tuning.cu say, per architecture (sm_90, sm_80,
 * fallback), which kernels to try, in order, for a compute type and a padded dimension; the
 * chooser takes the first whose shared memory fits the device. */
#ifndef FKM_CU_TUNING_CUH
#define FKM_CU_TUNING_CUH

#include <stddef.h>
#include <stdint.h>

#include "assign_wgmma_smem.h" /* FKM_CU_RES_MAXK */
#include "../switches.cuh"

/* mma.sync tile configurations (assign_mma.cuh). Rows are 128-byte chunks. */
typedef struct {
    int bm, bn;      /* points x centroids per block tile */
    int wm, wn;      /* warps along points x along centroids */
    int stages;      /* centroid (and, when streamed, point) chunks in flight */
    int xres;        /* 1: the point tile stays in shared memory for the whole D */
} fkm_cu_cfg;

/* wgmma configurations (assign_wgmma.cuh): consumer warpgroups (64 points each), 16 KB stages and
 * the main loop: 0 one wgmma group per k-block (any D); 1 one group per centroid tile (for 1, 2
 * or 4 k-blocks per row and stages >= k-blocks). */
typedef struct {
    int nwg, stages, mode;
} fkm_cu_wcfg;

enum { FKM_CU_NCFG = 4, FKM_CU_NWCFG = 6 };
inline constexpr fkm_cu_cfg fkm_cu_cfgs[FKM_CU_NCFG] = {
    /* bm   bn  wm wn stages xres */
    {128, 128, 2, 4, 4, 1}, /* 0: point tile resident, 4 centroid chunks in flight */
    {128, 128, 2, 4, 3, 0}, /* 1: both tiles streamed (large D) */
    {128, 256, 2, 4, 3, 1}, /* 2: wider centroid tile, 64x64 warp tiles */
    {64, 128, 2, 2, 4, 1},  /* 3: small tiles, for few points per problem */
};
inline constexpr fkm_cu_wcfg fkm_cu_wcfgs[FKM_CU_NWCFG] = {
    {2, 4, 0}, /* 0: 128 points, 4 stages (two blocks per SM at D = 128 fp16) */
    {2, 8, 0}, /* 1: 128 points, 8 stages */
    {4, 4, 0}, /* 2: 256 points (half the centroid traffic per flop), 4 stages */
    {4, 6, 0}, /* 3: 256 points, 6 stages */
    {2, 4, 1}, /* 4: 128 points, one group per centroid tile */
    {4, 4, 1}, /* 5: 256 points, one group per centroid tile */
};

/* Kernel ids: 0 SIMT fp32 (exact); 1 + op * NCFG + cfg mma.sync; WG_BASE + op * NWCFG + wcfg
 * wgmma (assign_wgmma.cuh); RES_BASE + op the centroid-resident persistent wgmma kernel for
 * k <= 256 (assign_res.cuh); PS_BASE + op the persistent wgmma kernel with streamed centroids
 * for any b and k (assign_ps.cuh); op 0 = fp16, 1 = bf16, 2 = tf32. Ids from FKM_KERN_COUNT on are not
 * kernels. */
enum {
    FKM_KERN_SIMT = 0,
    FKM_KERN_WG_BASE = 1 + 3 * FKM_CU_NCFG,
    FKM_KERN_RES_BASE = FKM_KERN_WG_BASE + 3 * FKM_CU_NWCFG,
    FKM_KERN_PS_BASE = FKM_KERN_RES_BASE + 3,
    FKM_KERN_COUNT = FKM_KERN_PS_BASE + 3
};
/* Kernel families, and the id of (family, op, configuration): configuration indexes fkm_cu_cfgs
 * (MMA) or fkm_cu_wcfgs (WG) and is 0 for the others; op 0 = fp16, 1 = bf16, 2 = tf32 (SIMT: -1). */
typedef enum { FKM_KFAM_SIMT, FKM_KFAM_MMA, FKM_KFAM_WG, FKM_KFAM_RES, FKM_KFAM_PS } fkm_cu_kfam;
static inline int fkm_cu_kern_make(fkm_cu_kfam f, int op, int cfg) {
    return f == FKM_KFAM_PS    ? FKM_KERN_PS_BASE + op
           : f == FKM_KFAM_RES ? FKM_KERN_RES_BASE + op
           : f == FKM_KFAM_WG  ? FKM_KERN_WG_BASE + op * FKM_CU_NWCFG + cfg
           : f == FKM_KFAM_MMA ? 1 + op * FKM_CU_NCFG + cfg
                               : FKM_KERN_SIMT;
}
static inline int fkm_cu_kern_is_wg(int id) { return id >= FKM_KERN_WG_BASE && id < FKM_KERN_RES_BASE; }
static inline int fkm_cu_kern_is_res(int id) { return id >= FKM_KERN_RES_BASE && id < FKM_KERN_PS_BASE; }
static inline int fkm_cu_kern_is_ps(int id) { return id >= FKM_KERN_PS_BASE && id < FKM_KERN_COUNT; }
static inline int fkm_cu_kern_op(int id) {
    return fkm_cu_kern_is_ps(id)    ? id - FKM_KERN_PS_BASE
           : fkm_cu_kern_is_res(id) ? id - FKM_KERN_RES_BASE
           : fkm_cu_kern_is_wg(id)  ? (id - FKM_KERN_WG_BASE) / FKM_CU_NWCFG
                                    : (id - 1) / FKM_CU_NCFG;
}
static inline int fkm_cu_kern_cfg(int id) {
    return fkm_cu_kern_is_res(id) || fkm_cu_kern_is_ps(id) ? 0
           : fkm_cu_kern_is_wg(id)                       ? (id - FKM_KERN_WG_BASE) % FKM_CU_NWCFG
                                                         : (id - 1) % FKM_CU_NCFG;
}
/* The persistent families (centroid-resident, streamed): TMA point tiles of RES_BM rows. */
static inline int fkm_cu_kern_is_persistent(int id) { return fkm_cu_kern_is_res(id) || fkm_cu_kern_is_ps(id); }
/* Rows per tile of the pre-swizzled centroid copy (0: plain padded rows). */
static inline int fkm_cu_kern_ctile(int id) { return fkm_cu_kern_is_wg(id) || fkm_cu_kern_is_persistent(id) ? 128 : 0; }
/* Inertia partials per point tile: one for every kernel built here (the engine keeps the count
 * so that a kernel writing one per warp can plug in without touching the reductions). */
int fkm_cu_kern_parts(int id);

/* Whether kernel id exists for rows of dcp_bytes (the tile-grouped and centroid-resident wgmma
 * loops are built for 1, 2 or 4 k-blocks per row, the former with enough stages), b problems
 * and k centroids per problem (the resident kernel: one problem, k <= FKM_CU_RES_MAXK). */
int fkm_cu_kern_fits(int id, int64_t dcp_bytes, int64_t b, int64_t k);
/* Point tiles per problem of n points. */
int64_t fkm_cu_kern_tiles(int id, int64_t n);
/* Points per block tile of a kernel id. */
int fkm_cu_kern_bm(int id);
/* Dynamic shared memory a kernel needs for a centroid pitch of dcp_bytes and k centroids (0 for
 * SIMT; the resident kernel's least, with two point buffers). */
size_t fkm_cu_kern_smem(int id, int64_t dcp_bytes, int64_t k);
/* Point buffers of the resident kernel: as many as fit in smem_optin, at most four. */
int fkm_cu_res_buffers(int64_t dcp_bytes, int64_t k, int smem_optin);
/* Point buffers per warpgroup and centroid stages of the streamed kernel for rows of dcp_bytes:
 * two point buffers and as many stages as fit in smem_optin, at most PS_MAXNS (at least two). */
void fkm_cu_ps_config(const fkm_cu_switches *sw, int64_t dcp_bytes, int smem_optin, int *nbuf, int *ns);

/* Pick the kernel for a device (compute capability major, opt-in shared memory per block),
 * a precision (FKM_PREC_*, resolved), the centroid pitch in bytes, b problems of n points and k
 * centroids. sw->kernel (FKM_CU_KERNEL: comma-separated kernel ids) overrides the choice with the
 * first id valid here (kernel lab, benchmarks); ids that are not valid here -- wrong precision or
 * architecture, too much shared memory, or no such kernel (>= FKM_KERN_COUNT) -- are skipped, as
 * is the list when none is valid; sw->arch (FKM_CU_ARCH=80) makes a newer GPU use the sm_80 table
 * (tests of the mma.sync kernels). */
int fkm_cu_choose_kernel(const fkm_cu_switches *sw, int cc_major, int smem_optin, int prec, int64_t dcp_bytes,
                         int64_t b, int64_t n, int64_t k);
/* Rows in flight per warp in the update's sums kernel (4 or 8; FKM_CU_UPD_U overrides) for
 * elements of es bytes and b*n = total points. */
int fkm_cu_upd_rows(const fkm_cu_switches *sw, int cc_major, int es, int64_t total);
/* Sorted points per chunk of the sums kernel for b*n points: 64 or 256 (FKM_CU_UPD_P overrides). */
int fkm_cu_upd_chunk(const fkm_cu_switches *sw, int64_t total);
/* The update's inverse map by counting scatter (1) or CUB radix sort (0), for b*k keys and b*n
 * points (FKM_CU_SORT=count|radix overrides; the counting scatter also needs to fit, csort.cu). */
int fkm_cu_use_csort(const fkm_cu_switches *sw, int64_t bk, int64_t total);
#endif
