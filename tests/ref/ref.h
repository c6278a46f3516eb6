/* ref.h -- the naive float64 oracle every test compares against. Never optimised. */
#ifndef FKM_REF_H
#define FKM_REF_H
#include <stdint.h>

/* metric: 0 = L2 (squared), 1 = cosine (1 - cos), 2 = inner product (-x.c); x rows as given
 * (for cosine the oracle normalises internally). Distances of point i to centroid c in float64. */
double ref_dist(const double *x, const double *c, int64_t d, int metric);

/* labels[i] = argmin_c dist (lowest index on ties); best[i] = that distance; second[i] = the
 * runner-up distance (for near-tie detection; +inf when k == 1). Any out pointer may be NULL. */
void ref_assign(const double *x, int64_t n, int64_t d, const double *c, int64_t k, int metric,
                int32_t *labels, double *best, double *second);

/* Lloyd iterations from c (in/out, k x d) with plain means (weights w or NULL; cosine: re-
 * normalised; empty clusters keep their centroid). Returns the inertia of the last assignment. */
double ref_lloyd(const double *x, const double *w, int64_t n, int64_t d, double *c, int64_t k,
                 int metric, int iters, int32_t *labels);
#endif
