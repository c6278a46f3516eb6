/* assign_wgmma_smem.h -- shared-memory size of the wgmma assignment kernel (host and device). */
#ifndef FKM_CU_ASSIGN_WGMMA_SMEM_H
#define FKM_CU_ASSIGN_WGMMA_SMEM_H
#include <stddef.h>
/* [1024 alignment slack][point tile 64*nwg rows x nkb x 128 B][stages x 16 KB][2 x stages mbarriers] */
static inline size_t fkm_wgmma_smem(int nwg, int stages, int nkb) {
    return 1024 + (size_t)64 * nwg * nkb * 128 + (size_t)stages * 128 * 128 + 16 * (size_t)stages;
}

/* The k-block class of a row of nkc 128-byte k-blocks: 0, 1, 2 for 1, 2, 4 (the tile-grouped and
 * centroid-resident kernels are built for those), 3 for any other. */
static inline int fkm_kblock_class(int nkc) { return nkc == 1 ? 0 : nkc == 2 ? 1 : nkc == 4 ? 2 : 3; }

/* The largest k the centroid-resident kernel (assign_res.cuh) holds: two tiles of 128, one
 * problem only. Its RES_NWG consumer warpgroups each own a ring of point tiles of RES_BM rows. */
#define FKM_CU_RES_MAXK 256
#define RES_NWG 4
#define RES_BM 64
#define RES_MAXBUF 4
/* Centroid tiles of 128 it holds for k centroids. */
static inline int fkm_res_tiles(long long k) { return k <= 128 ? 1 : 2; }
/* Its shared memory: [1024 slack][nct centroid tiles x nkb x 16 KB]
 * [RES_NWG x nbuf x RES_BM rows x nkb x 128 B][xfull, xempty x RES_NWG x RES_MAXBUF, cfull]
 * [the block's cluster counts: FKM_CU_RES_MAXK ints][inertia partials: RES_NWG x 2 x 4 doubles]. */
static inline size_t fkm_res_smem(int nkb, int nct, int nbuf) {
    return 1024 + (size_t)nct * nkb * 128 * 128 + (size_t)RES_NWG * nbuf * RES_BM * nkb * 128 +
           8 * (2 * RES_NWG * RES_MAXBUF + 1) + 4 * FKM_CU_RES_MAXK + 8 * RES_NWG * 2 * 4;
}

/* The streamed persistent kernel (assign_ps.cuh): rings of RES_BM-row point tiles as above, and a
 * ring of ns <= PS_MAXNS centroid tiles of 128 (nkb x 16 KB each); cluster counts in shared memory
 * for k <= PS_SCOUNT. Its shared memory: [1024 slack][ns x nkb x 16 KB]
 * [RES_NWG x nbuf x RES_BM rows x nkb x 128 B][xfull, xempty x RES_NWG x RES_MAXBUF,
 * cfull, cempty x PS_MAXNS][PS_SCOUNT ints][inertia partials: RES_NWG x 2 x 4 doubles]
 * [the round in each point buffer: RES_NWG x RES_MAXBUF x 2 ints]. */
#define PS_MAXNS 4
#define PS_SCOUNT 4096
static inline size_t fkm_ps_smem(int nkb, int ns, int nbuf) {
    return 1024 + (size_t)ns * nkb * 128 * 128 + (size_t)RES_NWG * nbuf * RES_BM * nkb * 128 +
           8 * (2 * RES_NWG * RES_MAXBUF + 2 * PS_MAXNS) + 4 * PS_SCOUNT + 8 * RES_NWG * 2 * 4 +
           8 * RES_NWG * RES_MAXBUF;
}
#endif
