/* transform_avx2.c -- AVX2+FMA microkernel of the all-distances transform (transform_kern.h).
 *
 * Register block: R points x P vectors of 8 centroids = R*P ymm accumulators (12 of the 16).
 * Same arithmetic, same order as the AVX-512 and portable kernels, so the same bits. Compiled
 * with a function attribute; the driver calls it only when the CPU has AVX2 and FMA. */
#include "transform_kern.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define P 2 /* 8-centroid vectors per panel */
#define R 6 /* points per tile */
#define W (8 * P)
#define TGT __attribute__((target("avx2,fma")))

/* Lanes of panel vector p that are real centroids, as a maskload/maskstore mask. */
TGT static inline __m256i col_mask(int64_t k, int64_t c0, int p) {
    const int64_t m = k - c0 - 8 * p;
    const int n = m >= 8 ? 8 : m <= 0 ? 0 : (int)m;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

TGT static void tile_avx2(const fkm_tkern_args *a) {
    const int64_t d = a->d, k = a->k;
    const __m256 alpha = _mm256_set1_ps(a->alpha), zero = _mm256_setzero_ps();
    for (int64_t q = a->q0; q < a->q1; q++) {
        const float *cj = a->cp + q * W * d, *xj = a->xt;
        __m256 acc[R][P];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) acc[r][p] = _mm256_setzero_ps();
        for (int64_t j = 0; j < d; j++, cj += W, xj += R) {
            __m256 cv[P];
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) cv[p] = _mm256_loadu_ps(cj + 8 * p);
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                const __m256 xb = _mm256_broadcast_ss(xj + r);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) acc[r][p] = _mm256_fmadd_ps(cv[p], xb, acc[r][p]);
            }
        }
        const int64_t c0 = q * W;
        const int full = k - c0 >= W; /* every lane real: plain stores */
        __m256i mask[P];
        __m256 cterm[P];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            mask[p] = col_mask(k, c0, p);
            cterm[p] = k - c0 - 8 * p > 0 ? _mm256_maskload_ps(a->cterm + c0 + 8 * p, mask[p]) : zero;
        }
#pragma GCC unroll 8
        for (int r = 0; r < R; r++) {
            if (r >= a->rows) break;
            const __m256 xterm = _mm256_set1_ps(a->xterm[r]);
            float *row = a->out + r * k + c0;
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) {
                __m256 v = _mm256_add_ps(xterm, _mm256_fnmadd_ps(alpha, acc[r][p], cterm[p]));
                if (a->clamp) v = _mm256_max_ps(zero, v); /* dist < 0 -> 0; NaN stays NaN */
                if (full) _mm256_storeu_ps(row + 8 * p, v);
                else if (k - c0 - 8 * p > 0) _mm256_maskstore_ps(row + 8 * p, mask[p], v);
            }
        }
    }
}

static int supported_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const fkm_transform_kernel fkm_tkernel_avx2 = {"avx2", W, R, tile_avx2, supported_avx2};
#else
static int supported_none(void) { return 0; }
const fkm_transform_kernel fkm_tkernel_avx2 = {"avx2", 1, 1, 0, supported_none};
#endif
