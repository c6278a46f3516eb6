/* assign_avx2.c -- AVX2+FMA microkernel of the fused distance + argmin (see assign_kern.h).
 *
 * Register block: P vectors of 8 points x R centroids = P*R ymm accumulators (12 of the 16).
 * Same arithmetic, same order as the AVX-512 and portable kernels, so the same bits. Compiled
 * with a function attribute; the driver calls it only when the CPU has AVX2 and FMA. */
#include "assign_kern.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define P 2 /* 8-point vectors per panel */
#define R 6 /* centroids per tile */
#define W (8 * P)
#define TGT __attribute__((target("avx2,fma")))

/* top2 is a constant in each of the two wrappers below, so the plain scan compiles as before. */
TGT static inline __attribute__((always_inline)) void panel_body(const fkm_kern_args *a, const float *xp, float *bvp,
                                                              int32_t *bip, const int top2) {
    const int64_t d = a->d, k = a->k;
    /* The running minimum stays in memory (L1) between tiles: the 16 registers go to the
     * accumulators and operands of the FMA loop. */
    for (int64_t t = a->t0; t < a->t1; t++) {
        const float *ct = a->cp + t * R * d + a->j0 * R;
        const float *xj = xp + a->j0 * W;
        float *saved = a->acc ? a->acc + (t - a->t0) * (R * W) : 0; /* NULL: one pass over d */
        __m256 acc[R][P];
#pragma GCC unroll 16
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int p = 0; p < P; p++)
                acc[r][p] = a->j0 == 0 ? _mm256_setzero_ps() : _mm256_loadu_ps(saved + (r * P + p) * 8);
        for (int64_t j = a->j0; j < a->j1; j++, xj += W, ct += R) {
            __m256 xv[P];
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) xv[p] = _mm256_loadu_ps(xj + 8 * p);
#pragma GCC unroll 16
            for (int r = 0; r < R; r++) {
                const __m256 cb = _mm256_broadcast_ss(ct + r);
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) acc[r][p] = _mm256_fmadd_ps(xv[p], cb, acc[r][p]);
            }
        }
        if (a->j1 < d) { /* more features to come: park the partial dots */
#pragma GCC unroll 16
            for (int r = 0; r < R; r++)
#pragma GCC unroll 4
                for (int p = 0; p < P; p++) _mm256_storeu_ps(saved + (r * P + p) * 8, acc[r][p]);
            continue;
        }
        /* Epilogue: centroids in increasing order, strict < keeps the lowest index per lane. */
        const int64_t c0 = t * R;
        const int rr = k - c0 < R ? (int)(k - c0) : R;
        const __m256 alpha = _mm256_set1_ps(a->alpha);
        __m256 bv[P], bi[P], sv[P]; /* bi: int32 indices carried in float registers for blendv */
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            bv[p] = _mm256_loadu_ps(bvp + 8 * p);
            if (top2) sv[p] = _mm256_loadu_ps(a->sv + 8 * p);
            bi[p] = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)(bip + 8 * p)));
        }
#pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            if (r >= rr) break;
            const __m256 cterm = _mm256_set1_ps(a->cterm[c0 + r]);
            const __m256 idx = _mm256_castsi256_ps(_mm256_set1_epi32((int32_t)(c0 + r)));
#pragma GCC unroll 4
            for (int p = 0; p < P; p++) {
                const __m256 s = _mm256_fnmadd_ps(alpha, acc[r][p], cterm);
                /* max returns bv when s is NaN: the second can only come out lower (still a bound) */
                if (top2) sv[p] = _mm256_min_ps(sv[p], _mm256_max_ps(s, bv[p]));
                const __m256 m = _mm256_cmp_ps(s, bv[p], _CMP_LT_OQ);
                bv[p] = _mm256_blendv_ps(bv[p], s, m);
                bi[p] = _mm256_blendv_ps(bi[p], idx, m);
            }
        }
#pragma GCC unroll 4
        for (int p = 0; p < P; p++) {
            _mm256_storeu_ps(bvp + 8 * p, bv[p]);
            if (top2) _mm256_storeu_ps(a->sv + 8 * p, sv[p]);
            _mm256_storeu_si256((__m256i *)(bip + 8 * p), _mm256_castps_si256(bi[p]));
        }
    }
}

TGT static void panel_avx2(const fkm_kern_args *a, const float *xp, float *bvp, int32_t *bip) {
    panel_body(a, xp, bvp, bip, 0);
}
TGT static void panel2_avx2(const fkm_kern_args *a, const float *xp, float *bvp, int32_t *bip) {
    panel_body(a, xp, bvp, bip, 1);
}

/* In-register 8 x 8 transpose (unpack, shuffle, 128-bit lane exchange). */
TGT static void transpose8(__m256 *v) {
    __m256 t[8], u[8];
#pragma GCC unroll 4
    for (int r = 0; r < 8; r += 2) {
        t[r] = _mm256_unpacklo_ps(v[r], v[r + 1]);
        t[r + 1] = _mm256_unpackhi_ps(v[r], v[r + 1]);
    }
#pragma GCC unroll 2
    for (int r = 0; r < 8; r += 4) {
        u[r] = _mm256_shuffle_ps(t[r], t[r + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[r + 1] = _mm256_shuffle_ps(t[r], t[r + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[r + 2] = _mm256_shuffle_ps(t[r + 1], t[r + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[r + 3] = _mm256_shuffle_ps(t[r + 1], t[r + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++) {
        v[r] = _mm256_permute2f128_ps(u[r], u[r + 4], 0x20);
        v[r + 4] = _mm256_permute2f128_ps(u[r], u[r + 4], 0x31);
    }
}

/* 8 x 8 blocks: masked loads of 8 rows (zero rows past n, zero features past d), transpose,
 * store the valid features. */
TGT static void pack_avx2(const float *x, int64_t n, int64_t d, int64_t i0, int64_t np, float *xp) {
    static const int32_t ones[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t p = 0; p < np; p++) {
        const int64_t ip = i0 + p * W, m = n - ip < W ? n - ip : W;
        float *dst = xp + p * W * d;
        for (int h = 0; h < P; h++)
            for (int64_t j0 = 0; j0 < d; j0 += 8) {
                const int jm = d - j0 < 8 ? (int)(d - j0) : 8;
                const __m256i mask = _mm256_loadu_si256((const __m256i *)(ones + 8 - jm));
                __m256 v[8];
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++)
                    v[r] = h * 8 + r < m ? _mm256_maskload_ps(x + (ip + h * 8 + r) * d + j0, mask)
                                         : _mm256_setzero_ps();
                transpose8(v);
#pragma GCC unroll 8
                for (int jj = 0; jj < 8; jj++) /* constant indices keep v[] in registers */
                    if (jj < jm) _mm256_storeu_ps(dst + (j0 + jj) * W + h * 8, v[jj]);
            }
    }
}

static int supported_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

const fkm_assign_kernel fkm_kernel_avx2 = {"avx2", W, R, panel_avx2, pack_avx2, supported_avx2, panel2_avx2};
#else
static int supported_none(void) { return 0; }
const fkm_assign_kernel fkm_kernel_avx2 = {"avx2", 1, 1, 0, 0, supported_none};
#endif
