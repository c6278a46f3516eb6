/* stop.h -- the stop rule, written once (docs/algorithm.md, "Stop rules").
 *
 * The host driver (src/core/lloyd.c) and the CUDA engine's device-side loop (k_stop in
 * src/cuda/iteration/update.cu) both call fkm_stop_rule_met, so a fit stops at the same iteration whichever
 * side runs the loop, and a CPU test of this function (tests/test_stop_rule.c) tests the rule the
 * GPU applies. A pure function of scalars: no state, no memory, __host__ __device__ under nvcc. */
#ifndef FKM_STOP_H
#define FKM_STOP_H

#include "flashkmeans.h"
#include <math.h>

#ifdef __CUDACC__
#define FKM_HOST_DEVICE __host__ __device__
#else
#define FKM_HOST_DEVICE
#endif

/* Whether iteration `it` (0-based) meets `rule` (an fkm_stop_rule; any other value, e.g. -1 for
 * "the host decides", never stops). Of that iteration: shift = the largest centroid move,
 * inertia = of its assignment, changed = labels that changed; prev = the previous iteration's
 * inertia (unused at it 0); var = the data's mean per-feature variance (the shift rule's scale). */
static inline FKM_HOST_DEVICE int fkm_stop_rule_met(int rule, double tol, int it, double shift, double inertia,
                                                    long long changed, double prev, double var) {
    switch (rule) {
    case FKM_STOP_SHIFT: return shift * shift <= tol * var;
    case FKM_STOP_INERTIA:
        if (it == 0) return 0;
        if (prev == 0) return 1;
        /* |prev| because inner-product inertia (sum of -x.c) is negative */
        return prev - inertia <= tol * fabs(prev);
    case FKM_STOP_LABELS: return it > 0 && changed == 0;
    default: return 0; /* FKM_STOP_FIXED, or no rule */
    }
}

#endif
