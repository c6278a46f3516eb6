/* test_cuda.h -- helpers shared by the GPU tests: half/bfloat16 rounding, data as the GPU sees
 * it, and the oracle check with each precision's near-tie margin. */
#ifndef FKM_TEST_CUDA_H
#define FKM_TEST_CUDA_H
#include "check.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Near-tie margins relative to |x|^2 + |c|^2 (docs/numerics.md). */
static inline double margin_of(fkm_precision p) {
    switch (p) {
    case FKM_PREC_TF32: return 2e-3;
    case FKM_PREC_FP16: return 1e-2;
    case FKM_PREC_BF16: return 3e-2;
    default: return 1e-5;
    }
}

static inline uint16_t f2h(float f) { /* round to nearest even */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, m = x & 0x7fffff;
    int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        m |= 0x800000;
        uint32_t shift = (uint32_t)(14 - e), hm = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1))) hm++;
        return (uint16_t)(sign | hm);
    }
    uint32_t hm = m >> 13, rem = m & 0x1fff;
    uint32_t h = sign | ((uint32_t)e << 10) | hm;
    if (rem > 0x1000 || (rem == 0x1000 && (hm & 1))) h++;
    return (uint16_t)h;
}
static inline float h2f(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        if (m == 0) bits = sign;
        else {
            e = 127 - 15 + 1;
            while (!(m & 0x400)) { m <<= 1; e--; }
            bits = sign | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) bits = sign | 0x7f800000u | (m << 13);
    else bits = sign | ((e + 127 - 15) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
static inline uint16_t f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}
static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Input dtype that feeds a precision in the tests (half precisions get half data). */
static inline fkm_dtype dtype_for(fkm_precision p) {
    return p == FKM_PREC_FP16 ? FKM_F16 : p == FKM_PREC_BF16 ? FKM_BF16 : FKM_F32;
}

/* Data of n x d in dtype t (returned buffer, malloc'ed); x64 is overwritten with exactly the
 * values the library sees. */
static inline void *make_input(fkm_dtype t, const float *x32, double *x64, int64_t nd) {
    if (t == FKM_F32) {
        float *o = malloc((size_t)nd * sizeof(float));
        memcpy(o, x32, (size_t)nd * sizeof(float));
        for (int64_t i = 0; i < nd; i++) x64[i] = x32[i];
        return o;
    }
    uint16_t *o = malloc((size_t)nd * sizeof(uint16_t));
    for (int64_t i = 0; i < nd; i++) {
        o[i] = t == FKM_F16 ? f2h(x32[i]) : f2bf(x32[i]);
        x64[i] = t == FKM_F16 ? h2f(o[i]) : bf2f(o[i]);
    }
    return o;
}

static inline double sq(const double *v, int64_t d) {
    double s = 0;
    for (int64_t j = 0; j < d; j++) s += v[j] * v[j];
    return s;
}

/* Near-tie scale of a point and a centroid. */
static inline double tie_scale(const double *x, const double *c, int64_t d, int metric) {
    return metric == 1 ? 2.0 : sq(x, d) + sq(c, d);
}

/* Labels outside [0, k) (unwritten) and disagreements with the oracle beyond the margin. When
 * dist is given, each distance must match the oracle's for the chosen centroid within it. */
static inline int64_t oracle_bad(const double *x, int64_t n, int64_t d, const double *c, int64_t k, int metric,
                          const int32_t *got, const float *dist, double margin, int64_t *ties) {
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    double *best = malloc((size_t)n * sizeof(double));
    ref_assign(x, n, d, c, k, metric, lab, best, NULL);
    int64_t bad = 0, nt = 0;
    for (int64_t i = 0; i < n; i++) {
        if (got[i] < 0 || got[i] >= k) { bad++; continue; }
        const double *cc = c + (int64_t)got[i] * d;
        const double mine = ref_dist(x + i * d, cc, d, metric), sc = tie_scale(x + i * d, cc, d, metric);
        if (got[i] != lab[i]) {
            if (mine - best[i] > margin * sc) bad++;
            else nt++;
        }
        if (dist) {
            double want = metric == 0 && mine < 0 ? 0 : mine;
            if (!(fabs((double)dist[i] - want) <= margin * sc + 1e-6)) bad++;
        }
    }
    if (ties) *ties = nt;
    free(lab);
    free(best);
    return bad;
}
#endif
