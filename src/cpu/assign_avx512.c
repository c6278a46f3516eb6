/* assign_avx512.c -- AVX-512 microkernel of the fused distance + argmin (see assign_kern.h).
 *
 * Register block: P vectors of 16 points x R centroids = P*R zmm accumulators (24 of the 32).
 * Per feature j: P vector loads of the point panel, R broadcasts of centroid values, P*R FMAs.
 * Compiled for AVX-512 with a function attribute, so the library still loads and runs on CPUs
 * without it; the driver only calls it after __builtin_cpu_supports says yes. */
#include "assign_kern.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#ifndef P /* -DP=.. -DR=.. to try other register blockings */
#define P 2  /* 16-point vectors per panel */
#endif
#ifndef R
#define R 12 /* centroids per tile */
#endif
#define W (16 * P)
#define TGT __attribute__((target("avx512f,avx512vl,avx512dq,fma")))

/* top2 is a constant in each of the two wrappers below, so the plain scan compiles as before. */
TGT static inline __attribute__((always_inline)) void panel_body(const fkm_kern_args *a, const float *xp, float *bvp,
                                                              int32_t *bip, const int top2) {
    const int64_t d = a->d, k = a->k;
    /* The running minimum stays in memory (L1) between tiles: all 32 registers go to the
     * accumulators and operands of the FMA loop, none is spilled there. */
    for (int64_t t = a->t0; t < a->t1; t++) {
        const float *ct = a->cp + t * R * d + a->j0 * R;
        const float *xj = xp + a->j0 * W;
        float *saved = a->acc ? a->acc + (t - a->t0) * (R * W) : 0; /* NULL: one pass over d */
        __m512 acc[R][P];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
                acc[r][p] = a->j0 == 0 ? _mm512_setzero_ps() : _mm512_loadu_ps(saved + (r * P + p) * 16);
        for (int64_t j = a->j0; j < a->j1; j++, xj += W, ct += R) {
            __m512 xv[P];
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) xv[p] = _mm512_loadu_ps(xj + 16 * p);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const __m512 cb = _mm512_set1_ps(ct[r]);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) acc[r][p] = _mm512_fmadd_ps(xv[p], cb, acc[r][p]);
            }
        }
        if (a->j1 < d) { /* more features to come: park the partial dots */
#pragma GCC unroll 16
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) _mm512_storeu_ps(saved + (r * P + p) * 16, acc[r][p]);
            continue;
        }
        /* Epilogue: centroids in increasing order, strict < keeps the lowest index per lane. */
        const int64_t c0 = t * R;
        const int rr = k - c0 < R ? (int)(k - c0) : R;
        const __m512 alpha = _mm512_set1_ps(a->alpha);
        __m512 bv[P], sv[P];
        __m512i bi[P];
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            bv[p] = _mm512_loadu_ps(bvp + 16 * p);
            if (top2) sv[p] = _mm512_loadu_ps(a->sv + 16 * p);
            bi[p] = _mm512_loadu_si512((const void *)(bip + 16 * p));
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            if (r >= rr) break;
            const __m512 cterm = _mm512_set1_ps(a->cterm[c0 + r]);
            const __m512i idx = _mm512_set1_epi32((int32_t)(c0 + r));
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) {
                const __m512 s = _mm512_fnmadd_ps(alpha, acc[r][p], cterm);
                /* max returns bv when s is NaN: the second can only come out lower (still a bound) */
                if (top2) sv[p] = _mm512_min_ps(sv[p], _mm512_max_ps(s, bv[p]));
                const __mmask16 m = _mm512_cmp_ps_mask(s, bv[p], _CMP_LT_OQ);
                bv[p] = _mm512_mask_mov_ps(bv[p], m, s);
                bi[p] = _mm512_mask_mov_epi32(bi[p], m, idx);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            _mm512_storeu_ps(bvp + 16 * p, bv[p]);
            if (top2) _mm512_storeu_ps(a->sv + 16 * p, sv[p]);
            _mm512_storeu_si512((void *)(bip + 16 * p), bi[p]);
        }
    }
}

TGT static void panel_avx512(const fkm_kern_args *a, const float *xp, float *bvp, int32_t *bip) {
    panel_body(a, xp, bvp, bip, 0);
}
TGT static void panel2_avx512(const fkm_kern_args *a, const float *xp, float *bvp, int32_t *bip) {
    panel_body(a, xp, bvp, bip, 1);
}

/* In-register 16 x 16 transpose: four rounds of two-source permutes; round D exchanges the
 * D-lane halves of 2D-lane groups between rows r and r + D. */
TGT static void transpose16(__m512 *v) {
    static const int32_t idx[4][2][16] = {
        {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
         {8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31}},
        {{0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27},
         {4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31}},
        {{0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29},
         {2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31}},
        {{0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30},
         {1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31}}};
#pragma GCC unroll 4
    for (int s = 0; s < 4; s++) {
        const int D = 8 >> s;
        const __m512i lo = _mm512_loadu_si512((const void *)idx[s][0]);
        const __m512i hi = _mm512_loadu_si512((const void *)idx[s][1]);
#pragma GCC unroll 16
        for (int r = 0; r < 16; r++) {
            if (r & D) continue;
            const __m512 a = v[r], b = v[r + D];
            v[r] = _mm512_permutex2var_ps(a, lo, b);
            v[r + D] = _mm512_permutex2var_ps(a, hi, b);
        }
    }
}

/* 16 x 16 blocks: masked loads of 16 rows (zero rows past n, zero features past d), transpose,
 * store the valid features. */
TGT static void pack_avx512(const float *x, int64_t n, int64_t d, int64_t i0, int64_t np, float *xp) {
    for (int64_t p = 0; p < np; p++) {
        const int64_t ip = i0 + p * W, m = n - ip < W ? n - ip : W;
        float *dst = xp + p * W * d;
        for (int h = 0; h < P; h++)
            for (int64_t j0 = 0; j0 < d; j0 += 16) {
                const int jm = d - j0 < 16 ? (int)(d - j0) : 16;
                const __mmask16 mask = (__mmask16)((1u << jm) - 1);
                __m512 v[16];
#pragma GCC unroll 16
                for (int r = 0; r < 16; r++)
                    v[r] = h * 16 + r < m ? _mm512_maskz_loadu_ps(mask, x + (ip + h * 16 + r) * d + j0)
                                          : _mm512_setzero_ps();
                transpose16(v);
#pragma GCC unroll 16
                for (int jj = 0; jj < 16; jj++) /* constant indices keep v[] in registers */
                    if (jj < jm) _mm512_storeu_ps(dst + (j0 + jj) * W + h * 16, v[jj]);
            }
    }
}

static int supported_avx512(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma");
}

const fkm_assign_kernel fkm_kernel_avx512 = {"avx512", W, R, panel_avx512, pack_avx512, supported_avx512, panel2_avx512};
#else
static int supported_none(void) { return 0; }
const fkm_assign_kernel fkm_kernel_avx512 = {"avx512", 1, 1, 0, 0, supported_none};
#endif
