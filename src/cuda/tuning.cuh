/* tuning.cuh -- assignment kernel configurations and the per-architecture choice (tuning is data).
 *
 * A kernel id names a precision path and a tile configuration. The tables in tuning.cu say, per
 * architecture family (sm_90, sm_80, fallback), which configuration to use for a compute type
 * and a padded dimension; the chooser then checks the shared-memory need against the device and
 * steps down to the next configuration that fits. */
#ifndef FKM_CU_TUNING_CUH
#define FKM_CU_TUNING_CUH

#include <stdint.h>

/* Tensor-core tile configurations (see assign.cu). BKB = 128 bytes per pipeline chunk. */
typedef struct {
    int bm, bn;      /* points x centroids per block tile */
    int wm, wn;      /* warps along points x along centroids */
    int stages;      /* centroid (and, when streamed, point) chunks in flight */
    int xres;        /* 1: the point tile stays in shared memory for the whole D */
} fkm_cu_cfg;

enum { FKM_CU_NCFG = 4 };
extern const fkm_cu_cfg fkm_cu_cfgs[FKM_CU_NCFG];

/* Kernel ids: 0 = SIMT fp32 (exact); 1 + op * NCFG + cfg for tensor cores with
 * op 0 = fp16, 1 = bf16, 2 = tf32. */
enum { FKM_KERN_SIMT = 0 };
static inline int fkm_cu_kern_id(int op, int cfg) { return 1 + op * FKM_CU_NCFG + cfg; }
static inline int fkm_cu_kern_op(int id) { return (id - 1) / FKM_CU_NCFG; }
static inline int fkm_cu_kern_cfg(int id) { return (id - 1) % FKM_CU_NCFG; }

/* Points per block tile of a kernel id (the SIMT kernel's tile is 64). */
static inline int fkm_cu_kern_bm(int id) { return id == FKM_KERN_SIMT ? 64 : fkm_cu_cfgs[fkm_cu_kern_cfg(id)].bm; }

/* Dynamic shared memory bytes a configuration needs for a centroid pitch of dcp_bytes. */
size_t fkm_cu_cfg_smem(const fkm_cu_cfg *c, int64_t dcp_bytes);

/* Pick the kernel for a device (compute capability major, opt-in shared memory per block),
 * a precision (FKM_PREC_*, resolved) and the centroid pitch in bytes. FKM_CU_KERNEL in the
 * environment (a kernel id) overrides the choice, for the kernel lab and benchmarks. */
int fkm_cu_choose_kernel(int cc_major, int smem_optin, int prec, int64_t dcp_bytes);
#endif
