/* convert.h -- input checks and dtype conversion (core-internal). */
#ifndef FKM_CONVERT_H
#define FKM_CONVERT_H
#include "../internal.h"

/* Element i of `data` (dtype t) as float32. */
float fkm_elem_to_float(const void *data, fkm_dtype t, size_t i);

/* Check `rows` rows of m (rows = b*n for batches) and produce the float32 working copy.
 * *out: the rows to compute on; *owned: buffer to fkm_free (NULL when *out is m->data). */
fkm_status fkm_check_and_convert(const fkm_matrix *m, int64_t rows, fkm_metric metric,
                                 const float **out, float **owned);

/* Weights: finite, >= 0, not all zero (NULL is fine). */
fkm_status fkm_check_weights(const float *w, int64_t n);
#endif
