/* init.h -- host initialisation (core-internal). c: [out] host k x d. */
#ifndef FKM_INIT_H
#define FKM_INIT_H
#include "../internal.h"
fkm_status fkm_init_kmeanspp(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                             uint64_t seed, int threads, float *c);
fkm_status fkm_init_random(const float *x, int64_t n, int64_t d, int64_t k, uint64_t seed, float *c);
#endif
