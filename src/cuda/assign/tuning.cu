/* tuning.cu -- the per-architecture kernel tables and the one chooser (see tuning.cuh). */
#include "tuning.cuh"

#include <stdlib.h>
#include <string.h>

#include "../../backend.h"
#include "../cu_common.cuh" /* fkm_cu_kernel_name */
#include "assign_wgmma_smem.h"

int fkm_cu_kern_parts(int id) {
    (void)id;
    return 1;
}

int fkm_cu_kern_fits(int id, int64_t dcp_bytes, int64_t b, int64_t k) {
    const int64_t nkb = dcp_bytes / 128;
    const int pow2 = nkb == 1 || nkb == 2 || nkb == 4;
    if (fkm_cu_kern_is_res(id)) return pow2 && b == 1 && k <= FKM_CU_RES_MAXK;
    if (fkm_cu_kern_is_ps(id)) return nkb == 1 || nkb == 2;
    if (!fkm_cu_kern_is_wg(id)) return 1;
    const fkm_cu_wcfg *w = &fkm_cu_wcfgs[fkm_cu_kern_cfg(id)];
    return w->mode == 0 || (pow2 && w->stages >= nkb);
}

int64_t fkm_cu_kern_tiles(int id, int64_t n) {
    const int64_t bm = fkm_cu_kern_bm(id);
    return (n + bm - 1) / bm;
}

int fkm_cu_kern_bm(int id) {
    if (id == FKM_KERN_SIMT) return 64;
    if (fkm_cu_kern_is_persistent(id)) return RES_BM;
    if (fkm_cu_kern_is_wg(id)) return 64 * fkm_cu_wcfgs[fkm_cu_kern_cfg(id)].nwg;
    return fkm_cu_cfgs[fkm_cu_kern_cfg(id)].bm;
}

size_t fkm_cu_kern_smem(int id, int64_t dcp_bytes, int64_t k) {
    if (id == FKM_KERN_SIMT) return 0;
    if (fkm_cu_kern_is_res(id)) return fkm_res_smem((int)(dcp_bytes / 128), fkm_res_tiles(k), 2);
    if (fkm_cu_kern_is_ps(id)) return fkm_ps_smem((int)(dcp_bytes / 128), 2, 2);
    if (fkm_cu_kern_is_wg(id)) {
        const fkm_cu_wcfg *w = &fkm_cu_wcfgs[fkm_cu_kern_cfg(id)];
        return fkm_wgmma_smem(w->nwg, w->stages, (int)(dcp_bytes / 128));
    }
    const fkm_cu_cfg *c = &fkm_cu_cfgs[fkm_cu_kern_cfg(id)];
    const size_t sp = 128 + 16; /* staged row pitch: one chunk + 16 bytes against bank conflicts */
    size_t s = (size_t)c->stages * (size_t)(c->xres ? c->bn : c->bn + c->bm) * sp;
    if (c->xres) s += (size_t)c->bm * (size_t)(dcp_bytes + 16);
    return s;
}

int fkm_cu_res_buffers(int64_t dcp_bytes, int64_t k, int smem_optin) {
    int nbuf = RES_MAXBUF;
    while (nbuf > 2 && fkm_res_smem((int)(dcp_bytes / 128), fkm_res_tiles(k), nbuf) > (size_t)smem_optin) nbuf--;
    return nbuf;
}

void fkm_cu_ps_config(const fkm_cu_switches *sw, int64_t dcp_bytes, int smem_optin, int *nbuf, int *ns) {
    const int nkb = (int)(dcp_bytes / 128);
    const int cap = sw->ps_ns ? sw->ps_ns : PS_MAXNS; /* FKM_CU_PS_NS, kernel lab: fewer stages */
    *nbuf = 2;
    *ns = cap < PS_MAXNS ? cap : PS_MAXNS;
    while (*ns > 2 && fkm_ps_smem(nkb, *ns, 2) > (size_t)smem_optin) (*ns)--;
}

/* A table row: kernel family (0 mma.sync, 1 wgmma, 2 centroid-resident wgmma, 3 streamed
 * persistent wgmma), configuration, the largest centroid pitch (bytes) it is meant for and the
 * fewest points in all. Rows are tried in order. */
typedef struct {
    fkm_cu_kfam fam;
    int cfg;
    int64_t max_dcp_bytes;
    int64_t min_points; /* points in all (b x n) from which the row applies */
} rule;

/* sm_90 (H100/H200, 227 KB of shared memory per block), measured on an H100 on 2026-11-22
 * (bench/results/gpu-2026-11-22-v4.md): 128 points x 128 centroids with two blocks per SM
 * (96 registers, 97 KB) is the fastest while its shared memory allows two blocks, i.e. rows up to
 * 256 bytes (fp16 D = 128: 413 TFLOP/s; tf32 D = 64: 94); beyond that 256 points x 128 (one block
 * per SM; tf32 D = 128: 230-241 against 196), and 128 x 128 again where 256 points do not fit
 * (fp16 D = 512: 507). Tried and dropped (dev/cuda/NOTES.md v4): warpgroups taking turns
 * (ping-pong), 2-3 stages; a persistent kernel with TMA point tiles measured slower (310 TFLOP/s
 * fp16 at D = 128) and lives in dev/cuda/lab/, not in the library. Session 4 (NOTES.md v8): one
 * wgmma group per centroid tile (no waits injected by ptxas) for rows up to 256 bytes: fp16 D = 128
 * 413 -> 455 TFLOP/s, K = 65536 471 -> 522; 256-byte tf32 D = 64 103 -> 108; and with 256 points
 * for 512-byte rows (tf32 D = 128: 1.31 -> 1.28 ms per iteration at N = 1M K = 1024). Session 5:
 * one problem with k <= 256 takes the centroid-resident persistent kernel (assign_res.cuh) where
 * its shared memory fits: N = 4M K = 256 D = 64 tf32 1.81 -> 1.22 ms per iteration (assignment
 * 113 -> 226 TFLOP/s), N = 1M K = 256 D = 128 fp16 0.52 -> 0.37. Session 6: one problem with
 * rows of 1-2 k-blocks and larger k takes the persistent kernel with streamed centroids
 * (assign_ps.cuh): fp16 D = 128 N = 1M K = 1024 assignment 476 -> 543 TFLOP/s, N = 8M 5.95 ->
 * 5.20 ms per iteration, K = 65536 534 -> 571 TFLOP/s, tf32 D = 64 K = 1024 234 -> 284; from 2^15
 * points on (one block per SM of 4 x 64 points: at N = 16384 it fills 64 SMs, 0.094 against 0.089
 * ms per iteration; at N = 65536 0.110 against 0.115). */
static const rule sm90_rules[] = {
    {FKM_KFAM_RES, 0, 512, 0}, {FKM_KFAM_PS, 0, 256, 32768}, {FKM_KFAM_WG, 4, 256, 0},      {FKM_KFAM_WG, 5, 512, 0},
    {FKM_KFAM_WG, 2, 1024, 0}, {FKM_KFAM_WG, 0, 1024, 0},    {FKM_KFAM_WG, 0, 4096, 0},     {FKM_KFAM_MMA, 0, 1024, 0},
    {FKM_KFAM_MMA, 1, INT64_MAX, 0}};
/* sm_80 (A100, 163 KB): resident point tile up to 512-byte rows, then streamed. */
static const rule sm80_rules[] = {{FKM_KFAM_MMA, 0, 512, 0}, {FKM_KFAM_MMA, 1, INT64_MAX, 0}};
static const rule fallback_rules[] = {{FKM_KFAM_MMA, 3, 256, 0}, {FKM_KFAM_MMA, 1, INT64_MAX, 0}};

/* One item of sw->kernel: a kernel id, or a kernel's name as fkm_cu_kernel_name gives it (e.g.
 * wgmma-f16-128x128-s4-g); -1 when it names none. */
static int kern_of_item(const char *f, size_t len) {
    if (len > 0 && f[0] >= '0' && f[0] <= '9') return atoi(f);
    for (int id = 0; id < FKM_KERN_COUNT; id++) {
        const char *nm = fkm_cu_kernel_name(id);
        if (strlen(nm) == len && strncmp(nm, f, len) == 0) return id;
    }
    return -1;
}

/* Whether kernel id can run here: precision, architecture (wgmma: sm_90 only), row, k, memory. */
static int kern_ok(int id, int op, int cc_major, int smem_optin, int64_t dcp_bytes, int64_t b, int64_t k) {
    if (id == FKM_KERN_SIMT) return op < 0;
    return id > 0 && id < FKM_KERN_COUNT && fkm_cu_kern_op(id) == op &&
           (!(fkm_cu_kern_is_wg(id) || fkm_cu_kern_is_persistent(id)) || cc_major == 9) &&
           fkm_cu_kern_fits(id, dcp_bytes, b, k) && fkm_cu_kern_smem(id, dcp_bytes, k) <= (size_t)smem_optin;
}

int fkm_cu_choose_kernel(const fkm_cu_switches *sw, int cc_major, int smem_optin, int prec, int64_t dcp_bytes, int64_t b,
                         int64_t n, int64_t k) {
    const int op = prec == FKM_PREC_FP16 ? 0 : prec == FKM_PREC_BF16 ? 1 : prec == FKM_PREC_TF32 ? 2 : -1;
    /* Comma-separated ids or names: the first valid here wins; the others are skipped without a
     * word (a list may name one kernel per precision), and with none valid the tables below
     * decide. Ids >= FKM_KERN_COUNT and unknown names name no kernel and are skipped like the rest. */
    for (const char *f = sw->kernel; f && *f;) { /* FKM_CU_KERNEL */
        const char *end = strchr(f, ',');
        const int id = kern_of_item(f, end ? (size_t)(end - f) : strlen(f));
        if (kern_ok(id, op, cc_major, smem_optin, dcp_bytes, b, k)) return id;
        f = strchr(f, ',');
        if (f) f++;
    }
    if (op < 0 || cc_major < 8) return FKM_KERN_SIMT;
    if (sw->arch / 10 >= 8 && sw->arch / 10 < cc_major) cc_major = sw->arch / 10; /* FKM_CU_ARCH=80: an older table */
    const rule *r = cc_major == 9 ? sm90_rules : cc_major == 8 ? sm80_rules : fallback_rules;
    const int nr = cc_major == 9 ? (int)(sizeof sm90_rules / sizeof *sm90_rules)
                   : cc_major == 8 ? (int)(sizeof sm80_rules / sizeof *sm80_rules)
                                   : (int)(sizeof fallback_rules / sizeof *fallback_rules);
    for (int i = 0; i < nr; i++) {
        if (dcp_bytes > r[i].max_dcp_bytes || b * n < r[i].min_points) continue;
        const int id = fkm_cu_kern_make(r[i].fam, op, r[i].cfg);
        if (kern_ok(id, op, cc_major, smem_optin, dcp_bytes, b, k)) return id;
    }
    return fkm_cu_kern_make(FKM_KFAM_MMA, op, 1); /* streamed tiles: shared memory independent of D */
}

/* Rows in flight per warp in the update's sums (gathered rows, latency-bound). H100,
 * 2026-11-22, N = 1M K = 1024 D = 128 fp16: 4 rows 0.162 ms, 8 rows 0.141 ms (1.8 TB/s; 2.2 TB/s
 * at N = 8M), 16 rows slower again (register pressure; no longer built). Session 5, with the
 * leaner kernel (80 registers for 8 rows, 3 blocks per SM; 64 for 4, 4 blocks): 16-bit rows at
 * N = 8M 8 rows 0.815 ms against 4 rows 0.840 (2.5 TB/s), but at N = 1M 4 rows 0.118 against 0.134
 * (8 rows leave a partial second wave of blocks there); fp32 D = 64 at N = 4M 4 rows 0.423 against
 * 0.443 (8 float4 rows spill); B = 8 N = 16384 (chunks of 64, less than one wave of blocks: rows
 * per warp are all that counts) 8 rows 0.018 against 4 rows 0.022. So 8 for 16-bit data from 4M
 * points on and for the small problems that take chunks of 64. Older parts: the same, unmeasured. */
int fkm_cu_upd_rows(const fkm_cu_switches *sw, int cc_major, int es, int64_t total) {
    if (sw->upd_u) return sw->upd_u; /* FKM_CU_UPD_U */
    (void)cc_major;
    return fkm_cu_upd_chunk(sw, total) == 64 || (es == 2 && total >= ((int64_t)1 << 22)) ? 8 : 4;
}

/* Points per chunk in the sums (one warp walks a chunk, 8 rows at a time). 256 keeps the partial
 * buffers small for big problems; below 2^19 points that leaves too few warps to fill the GPU
 * (B=8 N=16384: 512 warps), so chunks of 64 there. */
int fkm_cu_upd_chunk(const fkm_cu_switches *sw, int64_t total) {
    if (sw->upd_p) return sw->upd_p; /* FKM_CU_UPD_P */
    return total <= ((int64_t)1 << 19) ? 64 : 256;
}

/* Inverse map: both give the same permutation (a stable sort by key), so this is speed only.
 * H100, 2026-11-22 (bench/results/gpu-2026-11-22-v7.md), counting scatter vs CUB radix sort:
 * B=8 N=16384 K=100 0.024 vs 0.040 ms; N=1M K=1024 0.088 vs 0.054; N=4M K=256 0.21 vs 0.074;
 * N=8M K=1024 0.53 vs 0.18 (the scatter's in-tile ranking walks 32 warps with a block barrier
 * each). So the scatter for small problems only. */
int fkm_cu_use_csort(const fkm_cu_switches *sw, int64_t bk, int64_t total) {
    if (sw->sort >= 0) return sw->sort; /* FKM_CU_SORT */
    (void)bk;
    return total <= ((int64_t)1 << 19);
}
