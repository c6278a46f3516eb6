/* capped.h -- the capped assignment of fkm_params.max_cluster_size (capped.c; the rule and what it
 * optimises: docs/algorithm.md, "Capped cluster sizes"). */
#ifndef FKM_CPU_CAPPED_H
#define FKM_CPU_CAPPED_H
#include "cpu.h"

/* Scratch for n points, k centroids and a cap (1 <= cap, cap * k >= n), kept across iterations.
 * NULL when out of memory. */
typedef struct fkm_cpu_capped fkm_cpu_capped;
fkm_cpu_capped *fkm_cpu_capped_create(int64_t n, int64_t k, int64_t cap);
void fkm_cpu_capped_destroy(fkm_cpu_capped *cs);
/* Test hook (not thread-safe; call before fitting; 0 = defaults): all n x k distance rows are kept
 * when n k <= whole (default 2^25), else computed in blocks of `block` distances (default 2^22) and
 * a full point's row is recomputed. The result never depends on them, only time and memory. */
void fkm_cpu_capped_set_limits(int64_t whole, int64_t block);

/* Assign the a->n points to a->k centroids with at most `cap` points per centroid:
 *   1. every point's distances with the assignment's arithmetic (fkm_cpu_distances, the same bits
 *      as fkm_cpu_assign); its nearest centroid (ties: lowest index) is its first choice;
 *   2. when no centroid is the first choice of more than cap points, that is the assignment;
 *   3. otherwise points are taken in decreasing regret w_i (second-best - best distance) (ties:
 *      lower index first), each to its nearest centroid (ties: lowest index) with room left;
 *   4. with `kept` (the labels that made the current centroids, within the cap; NULL: none), the
 *      greedy's labels replace them only when their inertia (sum w_i best_i, float64, fixed
 *      chunks) is strictly lower.
 * labels, best [out]: n labels and their distances (the assignment's, clamped as a->clamp says).
 * unc, unc_best [out, optional]: the nearest-centroid labels and distances (step 1). The same bits
 * for any a->threads. */
fkm_status fkm_cpu_capped_assign(fkm_cpu_capped *cs, const fkm_cpu_assign_args *a, const float *w,
                                 const int32_t *kept, int32_t *labels, float *best, int32_t *unc, float *unc_best);
#endif
