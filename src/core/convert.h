/* convert.h -- input checks and dtype conversion (core-internal). */
#ifndef FKM_CONVERT_H
#define FKM_CONVERT_H
#include "../internal.h"

/* Element i of `data` (dtype t) as float32. */
float fkm_elem_to_float(const void *data, fkm_dtype t, size_t i);

/* n >= 1, d >= 1 and n*d small enough that n*d*8 bytes fit in int64 (any dtype, the float32
 * copy and float64 sums can be indexed). One wording for fkm_check_matrix and
 * fkm_params_validate, so that validate refuses a shape exactly as fit does. */
fkm_status fkm_check_shape(int64_t n, int64_t d);

/* The matrix itself, for every entry point (fit, batch fit, predict, transform, score), with
 * one wording: m non-NULL, n >= 1, d >= 1, data non-NULL, a known dtype, and n*d small enough
 * that n*d*8 bytes fit in int64 (any dtype, the float32 copy and float64 sums can be indexed). */
fkm_status fkm_check_matrix(const fkm_matrix *m);

/* Check `rows` rows of m (rows = b*n for batches) and produce the float32 working copy, on up to
 * `threads` CPU threads (params.threads: 0 = auto). The first bad element in row order is named,
 * whatever the thread count.
 * *out: the rows to compute on; *owned: buffer to fkm_free (NULL when *out is m->data). */
fkm_status fkm_check_and_convert(const fkm_matrix *m, int64_t rows, fkm_metric metric, int threads,
                                 const float **out, float **owned);

/* Weights: finite, >= 0, not all zero (NULL is fine). */
fkm_status fkm_check_weights(const float *w, int64_t n);

/* Caller-given centroids (k x d, named `name` in messages): finite, within the data's magnitude
 * limit, no zero row for cosine. When out != NULL, copy them there (unit-normalised for cosine). */
fkm_status fkm_check_centroids(const float *c, int64_t k, int64_t d, fkm_metric metric, const char *name,
                               float *out);

/* Number of rows of c equal (by value) to an earlier row; the first such pair in *first_a/b. */
int64_t fkm_count_duplicate_rows(const float *c, int64_t k, int64_t d, int64_t *first_a, int64_t *first_b);
#endif
