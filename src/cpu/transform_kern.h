/* transform_kern.h -- the interface between the all-distances driver (transform.c) and its
 * microkernels (transform_avx512.c, transform_avx2.c, the portable one in transform.c).
 *
 * The n x k output is row-major, so here the SIMD lanes run over centroids (the reverse of the
 * assignment kernels, whose lanes are points): a register block is R points x (width) centroids
 * and each point's row of the block is stored with contiguous vector stores.
 *
 * Layout. Centroids are packed in panels of `width` centroids, transposed: panel[j * width + l]
 * is feature j of centroid q * width + l (zero centroids pad the last panel; their columns are
 * never stored). Points are packed in tiles of `rtile` points, interleaved: tile[j * rtile + r]
 * is feature j of point r of the tile.
 *
 * Arithmetic: exactly that of the assignment kernels (assign_kern.h), so that a row's minimum
 * is the distance fkm_cpu_assign reports and sits at the column of its label:
 *   dot  = fma(x[d-1], c[d-1], ... fma(x[0], c[0], 0))   (fp32, in j order)
 *   s    = fma(-alpha, dot, cterm[c])                     (one rounding)
 *   dist = xterm[i] + s, then 0 if clamp and dist < 0     (as assign.c's finish_point) */
#ifndef FKM_TRANSFORM_KERN_H
#define FKM_TRANSFORM_KERN_H
#include <stdint.h>

typedef struct {
    const float *xt;     /* one packed tile of rtile points */
    const float *xterm;  /* xterm of the tile's first point (rows entries) */
    const float *cp;     /* packed centroid panels */
    const float *cterm;  /* k */
    float *out;          /* the output row of the tile's first point (row stride k) */
    int64_t d, k;
    int64_t q0, q1;      /* panel range to compute */
    int rows;            /* real points in the tile (<= rtile) */
    float alpha;
    int clamp;
} fkm_tkern_args;

typedef void (*fkm_tile_fn)(const fkm_tkern_args *a);

typedef struct {
    const char *name;    /* as fkm_cpu_assign_kernel() names the kernel family */
    int width;           /* centroids per panel */
    int rtile;           /* points per tile */
    fkm_tile_fn tile;    /* NULL: not compiled in */
    int (*supported)(void);
} fkm_transform_kernel;

extern const fkm_transform_kernel fkm_tkernel_avx512;
extern const fkm_transform_kernel fkm_tkernel_avx2;
#endif
