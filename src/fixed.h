/* fixed.h -- the power-of-two scale of the 64-bit fixed-point sums shared by fkm_mpi_fit
 * (src/mpi) and the CUDA scale engine (src/cuda/scale/): one formula, so both quantise a value
 * the same way. */
#ifndef FKM_FIXED_H
#define FKM_FIXED_H

#include <math.h>

/* 2^(52 - e) for a global max |v| < 2^e (maxabs = m 2^e, m in [0.5, 1)); 1 for 0 or a
 * non-finite max. Every |v| times it is below 2^52. */
static inline double fkm_fx_scale(double maxabs) {
    if (!(maxabs > 0) || !isfinite(maxabs)) return 1.0;
    int e = 0;
    (void)frexp(maxabs, &e);
    return ldexp(1.0, 52 - e);
}
#endif
