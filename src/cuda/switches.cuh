/* switches.cuh -- every environment switch of the CUDA engine, read in one place (switches.cu)
 * into one struct. None is needed in normal use: they are A/B switches for benchmarks, the kernel
 * lab and tests that force a path. docs/cuda.md ("Environment switches") lists them.
 *
 * Read when an engine is planned (fkm_cu_plan: e->sw) and kept for that engine's whole fit, so a
 * test that sets a variable in its own process sees it on its next call, never half-way through
 * one; the scale engine and the host copy read them when they plan. Each field keeps the meaning
 * of the variable as parsed before this struct existed ("set" = present and not empty). */
#ifndef FKM_CU_SWITCHES_CUH
#define FKM_CU_SWITCHES_CUH
#include <stdint.h>

typedef struct {
    /* assignment kernels (assign/tuning.cu) */
    char kernel[128];  /* FKM_CU_KERNEL: comma-separated kernel names or ids tried first ("" = the tables) */
    int arch;          /* FKM_CU_ARCH: compute capability x 10 whose table to use (0 = the GPU's) */
    int ps_ns;         /* FKM_CU_PS_NS: most stages of the streamed kernel (0 = its own) */
    /* the update (assign/tuning.cu) */
    int upd_u;         /* FKM_CU_UPD_U: rows in flight per warp, 4 or 8 (0 = tuned) */
    int upd_p;         /* FKM_CU_UPD_P: points per chunk, 64 or 256 (0 = tuned) */
    int sort;          /* FKM_CU_SORT: 1 = "count" (counting scatter), 0 = other (radix sort), -1 = tuned */
    int fused;         /* FKM_CU_FUSED=1: the fused centroid kernel */
    /* the loop */
    int tiny;          /* FKM_CU_TINY: 0 = off, 1 = wherever it applies, -1 = the size rule */
    int graph;         /* FKM_CU_GRAPH=0: no graph capture (1 otherwise) */
    int profile;       /* FKM_CU_PROFILE: 1 iteration events, 2 also per stage (0 = none) */
    /* certified exact (assign/cert.cu) */
    int cert;          /* FKM_CU_CERT=0: precision exact runs the SIMT kernel alone */
    float cert_scale;  /* FKM_CU_CERT_SCALE: factor on the bound (1; tests halve it) */
    int cert_list;     /* FKM_CU_CERT_LIST=0: re-score every row, not the listed ones */
    int cert_rsv;      /* FKM_CU_CERT_RSV=0: the exact step without centroids in shared memory */
    /* host data */
    int staged;        /* FKM_CU_STAGED=0: pageable data through the driver's copy (hostcopy.cu) */
    int scale;         /* FKM_CU_SCALE=1: the scale engine even for one GPU and data that fits */
    int64_t scale_piece; /* FKM_CU_SCALE_PIECE: rows per piece when smaller (0 = planned) */
    int scale_slots;   /* FKM_CU_SCALE_SLOTS: staging slots per GPU, 2 .. FKM_SCALE_MAX_SLOTS (2) */
} fkm_cu_switches;

#ifdef __cplusplus
extern "C" {
#endif
/* The environment now. */
void fkm_cu_switches_read(fkm_cu_switches *s);
/* FKM_NCCL_LIBRARY: the NCCL library to load (NULL = libnccl.so.2). A pointer into the
 * environment: use it at once. */
const char *fkm_cu_nccl_library(void);
#ifdef __cplusplus
}
#endif
#endif
