/* assign_wgmma_smem.h -- shared-memory size of the wgmma assignment kernel (host and device). */
#ifndef FKM_CU_ASSIGN_WGMMA_SMEM_H
#define FKM_CU_ASSIGN_WGMMA_SMEM_H
#include <stddef.h>
/* [1024 alignment slack][point tile 64*nwg rows x nkb x 128 B][stages x 16 KB][2 x stages mbarriers] */
static inline size_t fkm_wgmma_smem(int nwg, int stages, int nkb) {
    return 1024 + (size_t)64 * nwg * nkb * 128 + (size_t)stages * 128 * 128 + 16 * (size_t)stages;
}
#endif
