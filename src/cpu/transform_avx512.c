/* transform_avx512.c -- AVX-512 microkernel of the all-distances transform (transform_kern.h).
 *
 * Register block: R points x P vectors of 16 centroids = R*P zmm accumulators (24 of the 32),
 * the assignment kernel's blocking with the roles of points and centroids swapped so that each
 * point's distances leave in contiguous (masked at the last panel) stores. Compiled for AVX-512
 * with a function attribute; the driver only calls it after __builtin_cpu_supports says yes. */
#include "transform_kern.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define P 2  /* 16-centroid vectors per panel */
#define R 12 /* points per tile */
#define W (16 * P)
#define TGT __attribute__((target("avx512f,avx512vl,avx512dq,fma")))

/* Lanes of panel vector p (columns c0 + 16p ...) that are real centroids. */
static inline __mmask16 col_mask(int64_t k, int64_t c0, int p) {
    const int64_t m = k - c0 - 16 * p;
    return m >= 16 ? (__mmask16)0xFFFF : m <= 0 ? (__mmask16)0 : (__mmask16)((1u << m) - 1);
}

TGT static void tile_avx512(const fkm_tkern_args *a) {
    const int64_t d = a->d, k = a->k;
    const __m512 alpha = _mm512_set1_ps(a->alpha), zero = _mm512_setzero_ps();
    for (int64_t q = a->q0; q < a->q1; q++) {
        const float *cj = a->cp + q * W * d, *xj = a->xt;
        __m512 acc[R][P];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) acc[r][p] = _mm512_setzero_ps();
        for (int64_t j = 0; j < d; j++, cj += W, xj += R) {
            __m512 cv[P];
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) cv[p] = _mm512_loadu_ps(cj + 16 * p);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const __m512 xb = _mm512_set1_ps(xj[r]);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) acc[r][p] = _mm512_fmadd_ps(cv[p], xb, acc[r][p]);
            }
        }
        const int64_t c0 = q * W;
        __mmask16 mask[P];
        __m512 cterm[P];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            mask[p] = col_mask(k, c0, p);
            cterm[p] = mask[p] ? _mm512_maskz_loadu_ps(mask[p], a->cterm + c0 + 16 * p) : zero;
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            if (r >= a->rows) break;
            const __m512 xterm = _mm512_set1_ps(a->xterm[r]);
            float *row = a->out + r * k + c0;
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) {
                __m512 v = _mm512_add_ps(xterm, _mm512_fnmadd_ps(alpha, acc[r][p], cterm[p]));
                if (a->clamp) v = _mm512_max_ps(zero, v); /* dist < 0 -> 0; NaN stays NaN */
                if (mask[p]) _mm512_mask_storeu_ps(row + 16 * p, mask[p], v);
            }
        }
    }
}

static int supported_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}

const fkm_transform_kernel fkm_tkernel_avx512 = {"avx512", W, R, tile_avx512, supported_avx512};
#else
static int supported_none(void) { return 0; }
const fkm_transform_kernel fkm_tkernel_avx512 = {"avx512", 1, 1, 0, supported_none};
#endif
