/* init.h -- host initialisation (core-internal). c: [out] host k x d. */
#ifndef FKM_INIT_H
#define FKM_INIT_H
#include "../internal.h"
fkm_status fkm_init_kmeanspp(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                             uint64_t seed, int threads, float *c);
/* k-means|| (init_par.c): candidates oversampled in 5 rounds of l = 2k, then greedy weighted
 * k-means++ over them. Data rows only; distinct while the data has k distinct rows. */
fkm_status fkm_init_kmeans_parallel(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                                    uint64_t seed, int threads, float *c);
/* Hierarchical (init_hier.c), for very large k: a sample, ceil(sqrt(k)) coarse clusters, each split
 * by its share of the weight. k < 256: k-means||. c: [out] k x d. */
fkm_status fkm_init_hierarchical(const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                                 int threads, fkm_metric metric, float *c);
/* Uniform [0, 1) for row i in round r, a pure function of (seed, r, i) (init_par.c). */
double fkm_init_draw(uint64_t seed, int r, int64_t i);
fkm_status fkm_init_random(const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed, float *c);
/* Index i with cum[i-1] <= r < cum[i] (cum: an inclusive prefix sum), clamped to [0, n): the
 * draw of k-means++ (also the sparse engine's, src/cpu/sparse.c). */
int64_t fkm_init_search_cum(const double *cum, int64_t n, double r);
/* Squared distance in float32, summed in index order without FMA contraction: every caller (the
 * host k-means++, the MPI ranks' k-means++) gets the same bits for the same rows. */
float fkm_sqdist_f32(const float *a, const float *b, int64_t d);
/* A result with room for k x d centroids, n labels and `iters` statistics (fit.c); freed again on
 * failure. */
fkm_status fkm_result_alloc(fkm_result *r, int64_t k, int64_t n, int64_t d, int iters);
#endif
