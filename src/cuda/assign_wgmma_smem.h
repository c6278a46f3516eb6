/* assign_wgmma_smem.h -- shared-memory size of the wgmma assignment kernel (host and device). */
#ifndef FKM_CU_ASSIGN_WGMMA_SMEM_H
#define FKM_CU_ASSIGN_WGMMA_SMEM_H
#include <stddef.h>
/* [1024 alignment slack][point tile 64*nwg rows x nkb x 128 B][stages x 16 KB][2 x stages mbarriers] */
static inline size_t fkm_wgmma_smem(int nwg, int stages, int nkb) {
    return 1024 + (size_t)64 * nwg * nkb * 128 + (size_t)stages * 128 * 128 + 16 * (size_t)stages;
}

/* The centroid-resident kernel (assign_res.cuh): RES_NWG consumer warpgroups, each with its own
 * ring of nbuf point tiles of 64 rows. [1024 slack][nct centroid tiles x nkb x 16 KB]
 * [RES_NWG x nbuf x 64 rows x nkb x 128 B][xfull, xempty x RES_NWG x RES_MAXBUF, cfull]
 * [cluster counts of the block: FKM_CU_RES_MAXK ints]. */
/* The largest k the centroid-resident kernel holds (two tiles of 128; one problem only). */
#define FKM_CU_RES_MAXK 256
#define RES_NWG 4
#define RES_BM 64
#define RES_MAXBUF 4
static inline size_t fkm_res_smem(int nkb, int nct, int nbuf) {
    return 1024 + (size_t)nct * nkb * 128 * 128 + (size_t)RES_NWG * nbuf * RES_BM * nkb * 128 +
           8 * (2 * RES_NWG * RES_MAXBUF + 1) + 4 * FKM_CU_RES_MAXK;
}
#endif
