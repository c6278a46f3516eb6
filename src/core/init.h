/* init.h -- host initialisation (core-internal). c: [out] host k x d. */
#ifndef FKM_INIT_H
#define FKM_INIT_H
#include "../internal.h"
fkm_status fkm_init_kmeanspp(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                             uint64_t seed, int threads, float *c);
/* Rows reached by index, for the initialisations that run on dense and CSR rows alike. sqdist:
 * rows i and j's squared distance with fkm_sqdist_f32's bits (so both kinds of row pick the same
 * centres); copy: row i as d floats. Both are called from several threads at once. */
typedef struct {
    void *ctx;
    float (*sqdist)(void *ctx, int64_t i, int64_t j);
    void (*copy)(void *ctx, int64_t i, float *out);
} fkm_init_rows;
/* Dense float32 rows (n x d, row-major) as fkm_init_rows: fkm_init_dense_rows(&dr, dr) gives the
 * sqdist (fkm_sqdist_f32) and copy of these rows with ctx; ctx must point at dr itself or at a
 * struct whose first member is dr (init_par.c's, which adds its own hooks on the same ctx). */
typedef struct {
    const float *x;
    int64_t d;
} fkm_dense_rows;
fkm_init_rows fkm_init_dense_rows(void *ctx);
/* fkm_init_kmeanspp over n rows reached through r (init.c). */
fkm_status fkm_init_kmeanspp_rows(const fkm_init_rows *r, const float *w, int64_t n, int64_t d, int64_t k,
                                  uint64_t seed, int threads, float *c);
/* What k-means|| (init_par.c) needs of its rows beyond fkm_init_rows: dense float32 rows
 * (init_par.c) or CSR rows (src/cpu/sparse_par.c). Every candidate is a row index. */
typedef struct {
    fkm_init_rows rows;
    int64_t n, d;
    const float *w; /* n weights or NULL */
    int threads;
    uint64_t (*hash)(void *ctx, int64_t i);        /* of row i's values; equal rows, equal hashes */
    int (*equal)(void *ctx, int64_t i, int64_t j); /* rows i and j equal by value (-0 = +0) */
    /* Candidates cand[from, m) are new (cand[0, from) were given before): for every row, the
     * nearest new one (ties: the lowest) and its distance dd (rows.sqdist's bits); where dd <
     * dist[i], dist[i] = dd and near[i] = its candidate number. */
    fkm_status (*update)(void *ctx, const int64_t *cand, int64_t from, int64_t m, float *dist, int32_t *near);
} fkm_par_rows;
/* h mixed with a value's bits (splitmix64's finaliser): the row hashes of k-means|| (init_par.c). */
uint64_t fkm_init_hash_value(uint64_t h, float v);
/* k-means|| over rows reached through r (the steps at the top of init_par.c). c: [out] k x d. */
fkm_status fkm_init_kmeans_parallel_rows(const fkm_par_rows *r, int64_t k, uint64_t seed, float *c);
/* k-means|| (init_par.c): candidates oversampled in 5 rounds of l = 2k, then greedy weighted
 * k-means++ over them. Data rows only; distinct while the data has k distinct rows. */
fkm_status fkm_init_kmeans_parallel(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                                    uint64_t seed, int threads, float *c);
/* Hierarchical (init_hier.c), for very large k: a sample, ceil(sqrt(k)) coarse clusters, each split
 * by its share of the weight. k < 256: k-means||. c: [out] k x d. */
fkm_status fkm_init_hierarchical(const float *x, const float *w, int64_t n, int64_t d, int64_t k, uint64_t seed,
                                 int threads, fkm_metric metric, float *c);
/* The same on CSR rows (the sparse engine's init hook), never made dense: gathered samples stay
 * CSR, fitted with fkm_fit_csr and assigned with fkm_predict_csr. */
fkm_status fkm_init_hierarchical_csr(const fkm_csr *x, const float *w, int64_t k, uint64_t seed, int threads,
                                     fkm_metric metric, float *c);
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
