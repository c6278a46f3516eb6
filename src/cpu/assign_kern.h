/* assign_kern.h -- the interface between the assignment driver (assign.c) and its microkernels
 * (assign_avx512.c, assign_avx2.c, the portable one in assign.c).
 *
 * Layout. Points are packed in panels of `width` points, transposed: panel[j * width + l] is
 * feature j of point l (zero rows pad the last panel). Centroids are packed in tiles of `rtile`
 * centroids, interleaved: tile[j * rtile + r] is feature j of centroid t * rtile + r (zero
 * centroids pad the last tile; the kernel never lets them win).
 *
 * Arithmetic (identical in every kernel, so every kernel gives the same bits):
 *   dot   = fma(x[d-1], c[d-1], ... fma(x[1], c[1], fma(x[0], c[0], 0)))   (fp32, in j order)
 *   score = fma(-alpha, dot, cterm[c])                                     (one rounding)
 *   best  = the first strictly smaller score in increasing centroid order, starting from
 *           (+inf, 0): ties go to the lowest index; NaN scores never win.
 * Each SIMD lane holds one point, so lanes never need merging: the tie rule is per lane.
 * The top-2 variant (panel2) computes the same scores and the same best, and also the second
 * lowest score: Hamerly's bounds (elkan.c) need it, and it comes almost free from the epilogue. */
#ifndef FKM_ASSIGN_KERN_H
#define FKM_ASSIGN_KERN_H
#include <stdint.h>

typedef struct {
    const float *cp;    /* packed centroids (tiles of rtile) */
    const float *cterm; /* k */
    int64_t d, k;
    int64_t t0, t1;     /* tile range to scan, in increasing order */
    int64_t j0, j1;     /* feature range of this pass (cache blocking over d) */
    float *acc;         /* partial dots between passes: rtile * width floats per tile of [t0, t1) */
    float alpha;
    float *sv;          /* the top-2 variant only: running second-lowest score per point (width
                           entries, in and out), for the bounded assignment's runner-up bound */
} fkm_kern_args;

/* Scan tiles [t0, t1) over features [j0, j1) for the `width` points of panel xp. The dot
 * products start from zero when j0 == 0, else from `acc`; when j1 < d they are saved to `acc`,
 * when j1 == d the scores improve the running minimum bv/bi (width entries each, in and out).
 * Splitting d into passes keeps the accumulation order, hence the bits. */
typedef void (*fkm_panel_fn)(const fkm_kern_args *a, const float *xp, float *bv, int32_t *bi);

/* Pack np panels of `width` rows of x (n x d), starting at row i0, into xp (layout above; rows
 * past n are zero). Pure data movement: every packer writes the same bytes. */
typedef void (*fkm_pack_fn)(const float *x, int64_t n, int64_t d, int64_t i0, int64_t np, float *xp);

typedef struct {
    const char *name;
    int width;          /* points per panel */
    int rtile;          /* centroids per tile */
    fkm_panel_fn panel;
    fkm_pack_fn pack;   /* NULL: the portable scalar transposition */
    int (*supported)(void);
    fkm_panel_fn panel2; /* the same scan, also keeping a->sv: the second-lowest score, equal ones
                            counted (min(sv, max(s, bv)) before bv is updated: exact, any order) */
} fkm_assign_kernel;

extern const fkm_assign_kernel fkm_kernel_avx512;
extern const fkm_assign_kernel fkm_kernel_avx2;
#endif
