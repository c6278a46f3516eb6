/* cpu.h -- CPU engine internals: fused assignment kernels and the deterministic update. */
#ifndef FKM_CPU_H
#define FKM_CPU_H
#include "../backend.h"
#include "../internal.h"

/* How the three metrics reduce to one argmin: score(c) = cterm[c] - alpha * x.c, and the
 * reported distance is xterm(x) + score, clamped at 0 for L2.
 *   L2:     cterm = |c|^2, alpha = 2, xterm = |x|^2
 *   cosine: cterm = 0,     alpha = 1, xterm = 1     (x, c unit vectors: 1 - cos)
 *   ip:     cterm = 0,     alpha = 1, xterm = 0     (-x.c)                                  */
typedef struct {
    const float *x;      /* n x d */
    const float *xterm;  /* n, per-point additive term (see above) */
    const float *c;      /* k x d */
    const float *cterm;  /* k */
    int64_t n, d, k;
    float alpha;
    int clamp;           /* clamp distances at 0 (L2) */
    int threads;
} fkm_cpu_assign_args;

/* One thread, no OpenMP region: libgomp makes a system call (a futex wake) per parallel region
 * even for a team of one, and `if (0)` does not avoid it. The loops that run every iteration
 * (assignment, update, sums) call their bodies directly when threads <= 1: for a fit of 256 x 4
 * points that was 3-4 system calls, most of an iteration's time. */

/* Scratch memory kept across iterations (workspace.c): one buffer per slot, grown on demand,
 * freed by fkm_cpu_ws_destroy. A workspace serves one call at a time. */
typedef struct fkm_cpu_ws fkm_cpu_ws;
fkm_cpu_ws *fkm_cpu_ws_create(void); /* NULL when out of memory */
void fkm_cpu_ws_destroy(fkm_cpu_ws *ws);
int fkm_cpu_ws_reserve(fkm_cpu_ws *ws, int nslots);                    /* 0, or -1: no memory */
void *fkm_cpu_ws_get(fkm_cpu_ws *ws, int slot, size_t count, size_t elem); /* NULL: no memory */
/* Slots: fixed ones, then FKM_WS_PER_THREAD per OpenMP thread from FKM_WS_THREAD0. */
enum {
    FKM_WS_CPACK, FKM_WS_HIST, FKM_WS_SEL, FKM_WS_BOUND, FKM_WS_TOT, FKM_WS_BLK, FKM_WS_CL,
    FKM_WS_START, FKM_WS_SLOT, FKM_WS_PERM, FKM_WS_TASK, FKM_WS_PART, FKM_WS_PW,
    FKM_WS_THREAD0 = 32, FKM_WS_PER_THREAD = 8 /* xp, bv, bi, acc (assign), acc (update), sv (top-2) */
};
#define FKM_WS_SLOTS(threads) (FKM_WS_THREAD0 + FKM_WS_PER_THREAD * (threads))

/* labels[i] = argmin_c score (ties -> lowest c); best[i] = xterm[i] + min score. Never forms the
 * n x k matrix: points and centroids are walked in cache-sized blocks. Picks the widest SIMD
 * kernel the running CPU supports. */
void fkm_cpu_assign(const fkm_cpu_assign_args *a, int32_t *labels, float *best);
/* Centroids as panels of rt, transposed ([tile][j][rt], zeros past k): cp holds ntiles * rt * d. */
void fkm_cpu_pack_centroids(const fkm_cpu_assign_args *a, int rt, int64_t ntiles, float *cp);
/* The same with buffers from ws (kept for the next call). */
void fkm_cpu_assign_ws(const fkm_cpu_assign_args *a, int32_t *labels, float *best, fkm_cpu_ws *ws);
/* The same labels and best, and second[i] (n, out): a lower bound on every score of point i but
 * its winner's -- the second-lowest score (equal ones counted), lower only where a score is NaN.
 * For Hamerly's bounds (elkan.c). */
void fkm_cpu_assign_top2(const fkm_cpu_assign_args *a, int32_t *labels, float *best, float *second,
                         fkm_cpu_ws *ws);

/* Name of the kernel fkm_cpu_assign uses now ("avx512", "avx2", "portable" or "naive"). All
 * kernels perform the same fp32 operations in the same order (see assign_kern.h), so they give
 * bitwise-identical labels and distances; they differ only in speed. */
const char *fkm_cpu_assign_kernel(void);

/* Test and benchmark hook (not thread-safe; call before fitting): force a kernel by name, or
 * NULL / "auto" for the widest the CPU supports. Returns 0, or -1 if the name is unknown or the
 * CPU lacks the instructions. fkm_cpu_assign_kernel_supported says which names would work. */
int fkm_cpu_assign_set_kernel(const char *name);
int fkm_cpu_assign_kernel_supported(const char *name);

/* Test and benchmark hook: override the cache blocking of fkm_cpu_assign (0 = automatic).
 * Blocking never changes the result (same operations, same order), only the speed; the tests
 * use tiny blocks to exercise every boundary. NULL restores the defaults. */
typedef struct {
    int64_t dpass;        /* features per pass over d */
    int64_t chunk_panels; /* point panels per chunk (a thread's unit of work) */
    int64_t tile_block;   /* centroid tiles per cache block */
    int no_prefetch;      /* do not prefetch the next chunk's rows */
    int scalar_pack;      /* pack points with the portable scalar loop, not the kernel's SIMD one */
} fkm_cpu_assign_tuning;
void fkm_cpu_assign_set_tuning(const fkm_cpu_assign_tuning *t);

/* Deterministic weighted means: c[k] = sum_{i: labels[i]=k} w_i x_i / sum w_i, summed in float64
 * in index order within each cluster whatever the thread count. counts[k] = number of points.
 * Clusters with no weight are left untouched in c and flagged in counts as 0. */
fkm_status fkm_cpu_update(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                          int64_t k, int threads, float *c, int64_t *counts);
/* The same with buffers from ws (kept for the next call). */
fkm_status fkm_cpu_update_ws(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d,
                             int64_t k, int threads, float *c, int64_t *counts, fkm_cpu_ws *ws);

/* engine.c: the FKM_EMPTY_FARTHEST policy on an assignment (labels, best distances, counts of
 * weighted points per cluster): each empty cluster, in index order, takes the farthest donor. */
fkm_status fkm_cpu_fill_empty(int32_t *labels, float *best, int64_t *counts, const float *w, int64_t n,
                              int64_t k);

/* Sum of v[i] * (w ? w[i] : 1) in float64, in fixed-size chunks combined in order: the same
 * bits for any thread count. */
double fkm_cpu_sum(const float *v, const float *w, int64_t n, int threads);

/* elkan.c: the bounded assignment of FKM_ALGO_ELKAN / FKM_ALGO_HAMERLY (L2 only). Labels and
 * best[] bitwise those of fkm_cpu_assign for the same centroids; the scores skipped are those that
 * provably cannot win under the kernels' own fp32 rounding (the proof is at the top of elkan.c).
 * create: x is the engine's n x d data (kept by the caller); NULL when out of memory. ELKAN keeps
 * n x k float bounds and falls back to HAMERLY's n when they cannot be allocated. reset: the
 * centroids were replaced, the next assignment scores everything. assign: labels [in,out] (the
 * previous assignment's, read while the bounds are valid), best [out]; returns the number of
 * scores computed (n k when everything was scored). */
typedef struct fkm_cpu_bounds fkm_cpu_bounds;
fkm_cpu_bounds *fkm_cpu_bounds_create(fkm_algorithm algo, const float *x, int64_t n, int64_t d, int64_t k,
                                      int threads);
void fkm_cpu_bounds_destroy(fkm_cpu_bounds *b);
void fkm_cpu_bounds_reset(fkm_cpu_bounds *b);
int64_t fkm_cpu_bounds_scored(const fkm_cpu_bounds *b);
fkm_algorithm fkm_cpu_bounds_algorithm(const fkm_cpu_bounds *b); /* the one running (see create) */
int64_t fkm_cpu_assign_bounded(fkm_cpu_bounds *b, const fkm_cpu_assign_args *a, int32_t *labels, float *best);

/* terms.c, shared with src/mpi. The assignment's point terms: |x_i|^2 (L2), 1 (cosine), 0 (inner
 * product), n of them; its centroid terms: |c|^2 (L2), else 0, k of them. */
void fkm_cpu_xterm(const float *x, int64_t n, int64_t d, fkm_metric metric, int threads, float *xterm);
void fkm_cpu_cterm(const float *c, int64_t k, int64_t d, fkm_metric metric, float *cterm);
/* best[i] = sum_j (x_ij - c_{labels[i], j})^2 in float64, rounded to float: L2 distances handed
 * to the caller without the expansion's cancellation. */
void fkm_cpu_exact_l2(const float *x, const float *c, const int32_t *labels, int64_t n, int64_t d, int threads,
                      float *best);
/* The largest centroid move: sqrt(max_c sum_j (c_cj - c_old_cj)^2), sums in float64 in feature
 * order (the iteration's shift statistic). */
/* Cosine: centroid row c (d) back to unit length after an update, as every CPU engine does it:
 * |c|^2 in float64 in feature order, each value (float)(c * (1 / |c|)); a sum that cancels to zero
 * keeps c_old's direction. Callers skip clusters that kept their (unit) centroid. */
void fkm_cpu_unit_centroid(float *c, const float *c_old, int64_t d);
/* CSR row i as d dense floats in out (sparse.c). */
void fkm_cpu_csr_row_dense(const fkm_csr *x, int64_t i, float *out);
/* k-means|| (init_par.c's steps) on CSR rows, without making them dense (sparse_par.c): the
 * centroids the dense k-means|| gives on the densified rows but at float32 near-ties of a row's
 * nearest candidate. w: n weights or NULL; c: [out] k x d. */
fkm_status fkm_cpu_sparse_kmeans_par(const fkm_csr *x, const float *w, int64_t k, uint64_t seed, int threads,
                                     float *c);
/* Stable counting sort by label: perm[start[c] .. start[c+1]) holds cluster c's indices i (of n,
 * labels in [0, k)) in increasing order. start: [out] k + 1; perm: [out] n. */
void fkm_cpu_group_by_label(const int32_t *labels, int64_t n, int64_t k, int64_t *start, int64_t *perm);
double fkm_cpu_max_shift(const float *c, const float *c_old, int64_t k, int64_t d);
/* fixed_sums.c, shared by src/mpi (reduced over ranks) and fkm_partial_sums (reduced by the
 * caller): per-cluster sums of w_i x_ij and of w_i over n rows in 64-bit fixed point, each term
 * trunc(w_i x_ij colscale[j]) resp. trunc(w_i wscale) in two int64 limbs. work [out]: 2 k d + 2 k
 * int64 -- the k d high limbs of the sums, their k d low limbs, then k high and k low limbs of the
 * weights; every low limb in [0, 2^32). The same integers for any thread count and any split of
 * the rows (integer sums). Needs |w_i x_ij colscale[j]| < 2^52 and w_i wscale < 2^52. */
void fkm_cpu_fx_cluster_sums(const float *x, const float *w, const int32_t *labels, int64_t n, int64_t d, int64_t k,
                             const double *colscale, double wscale, int threads, int64_t *work);
/* counts[c] = points labelled c with a positive weight (all of them without weights); returns
 * how many clusters have none (empty: a cluster of zero-weight points has no mean). */
int64_t fkm_cpu_count_labels(const int32_t *labels, const float *w, int64_t n, int64_t k, int64_t *counts);
#endif
