/* elkan.c -- the CPU engine's bounded assignment (FKM_ALGO_ELKAN, FKM_ALGO_HAMERLY): the labels and
 * distances of fkm_cpu_assign, bit for bit, with the scores that provably cannot win skipped.
 *
 * Why the bits are the same. A score is computed here with exactly the kernels' operations
 * (assign_kern.h): dot = fma chain from 0 in feature order, score = fma(-2, dot, |c|^2_f32), so a
 * score computed here equals the kernels' bits. The winner is the lowest index among the minimal
 * scores of the computed set S, which always holds the point's previous centroid. A centroid is
 * skipped only when its fp32 score is provably STRICTLY larger than a score in S; then the global
 * minimum is attained in S only, and the lowest index among S's minima is the kernels' winner.
 *
 * The proof of "strictly larger" works on the real distances D_c = |x - c| of the fp32 values:
 *   |score_f32(c) - (D_c^2 - |x|^2)| <= E_c = g (|c|^2 + 2 |x| |c|) + tiny,   g = 2 (d+2) u / (1 - (d+2) u),
 * u = 2^-24 (dot products of d terms, the |c|^2 sum, the final fma; Higham's gamma_d, doubled as
 * a margin; `tiny` covers underflow). With a lower bound L_c <= D_c:
 *   score_f32(c) >= L_c^2 - |x|^2 - E_c,   so c is skipped when  L_c^2 - |x|^2 - E_c > best score.
 * The bounds are Elkan's (2003): per point and centroid, l(x,c) <= D_c, lowered by the centroid's
 * move every iteration and reset from the score whenever one is computed; and D_c >= d(a,c) - D_a
 * (triangle inequality) with D_a <= sqrt(score(a) + |x|^2 + E_a). Hamerly's (2010) keep one l(x)
 * for all c != a. Every double quantity is rounded outward by a relative 1e-10 (far above double
 * rounding, far below anything that matters); when a norm is too large for fp32 scores to be
 * finite the bounds are not used at all. The previous centroid's score is computed every
 * iteration, so best[] (the distances, the inertia, the empty-cluster policy's choice) is exact.
 *
 * Where the time goes (Hamerly). A point whose bound holds costs one score against its own
 * centroid; eight points' chains run side by side (own_scores), since one fma chain alone waits
 * on the FMA latency d times. The points whose bound fails are gathered in blocks and re-scanned
 * by the SIMD kernels' top-2 scan (assign.c): their labels and distances are the kernels' bits by
 * construction, and the second-lowest score bounds every other centroid's distance from below
 * (all E_c <= the largest, from the largest |c|^2). Scoring them one by one here in scalar code
 * was 8x slower than Lloyd's SIMD pass when few points were pruned (bench/results/elkan-*.md). */
#include "cpu.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_ADDRESS__)
#define FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define FMA_CLONES
#endif

#define SLACK 1e-10 /* relative outward rounding of every bound */

struct fkm_cpu_bounds {
    fkm_algorithm algo;   /* ELKAN or HAMERLY */
    int64_t n, k, d;
    int valid;            /* the bounds describe cref; 0: the next assignment scores everything */
    float *lb;            /* ELKAN: n x k lower bounds on D_c; HAMERLY: n, on min_{c != a} D_c */
    double *xx;           /* n: |x|^2 in float64 */
    float *cref;          /* k x d: the centroids the bounds refer to */
    double *shift;        /* k: how far each centroid moved since cref (rounded up) */
    double *cn, *cc;      /* k: |c| and |c|^2, rounded up */
    double *dcc;          /* k x k: centroid distances, rounded down (ELKAN); k: the distance to the
                             nearest other centroid, rounded down (HAMERLY) */
    int32_t *ref;         /* HAMERLY, n: the centroid lb[i] leaves out (the empty-cluster policy may
                             move a point to another label between assignments) */
    int64_t scored;       /* scores computed by the last assignment */
    /* HAMERLY: the points whose bound fails are re-scanned in blocks of `rows` through the SIMD
     * kernels' top-2 scan (assign.c), gathered here first */
    uint8_t *need;        /* n: 1 = re-scan */
    int64_t rows, *idx;   /* block size; the block's point indices */
    float *xr, *xtr, *rb, *rs; /* rows x d gathered points; their xterm, best, second score */
    int32_t *rl;          /* rows: their labels */
    fkm_cpu_ws *ws;
};

void fkm_cpu_bounds_destroy(fkm_cpu_bounds *b) {
    if (!b) return;
    fkm_free(b->lb); fkm_free(b->xx); fkm_free(b->cref); fkm_free(b->shift);
    fkm_free(b->cn); fkm_free(b->cc); fkm_free(b->dcc); fkm_free(b->ref);
    fkm_free(b->need); fkm_free(b->idx); fkm_free(b->xr); fkm_free(b->xtr); fkm_free(b->rb); fkm_free(b->rs);
    fkm_free(b->rl);
    if (b->ws) fkm_cpu_ws_destroy(b->ws);
    fkm_free(b);
}

fkm_cpu_bounds *fkm_cpu_bounds_create(fkm_algorithm algo, const float *x, int64_t n, int64_t d, int64_t k,
                                      int threads) {
    fkm_cpu_bounds *b = (fkm_cpu_bounds *)fkm_calloc(1, sizeof *b);
    if (!b) return NULL;
    b->n = n, b->k = k, b->d = d;
    b->algo = algo;
    if (algo == FKM_ALGO_ELKAN) { /* n x k bounds; Hamerly's when they do not fit */
        b->lb = (float *)fkm_alloc((size_t)n, (size_t)k * sizeof(float));
        b->dcc = (double *)fkm_alloc((size_t)k, (size_t)k * sizeof(double));
        if (!b->lb || !b->dcc) {
            fkm_free(b->lb); fkm_free(b->dcc);
            b->lb = NULL, b->dcc = NULL;
            b->algo = FKM_ALGO_HAMERLY;
        }
    }
    if (b->algo == FKM_ALGO_HAMERLY) {
        b->lb = (float *)fkm_alloc((size_t)n, sizeof(float));
        b->dcc = (double *)fkm_alloc((size_t)k, sizeof(double));
        b->ref = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
        if (!b->ref) b->lb = (fkm_free(b->lb), NULL);
        /* gathered blocks of about 4 MiB, at least 1024 points */
        b->rows = (4 << 20) / (d * (int64_t)sizeof(float));
        if (b->rows < 1024) b->rows = 1024;
        if (b->rows > n) b->rows = n;
        b->need = (uint8_t *)fkm_alloc((size_t)n, 1);
        b->idx = (int64_t *)fkm_alloc((size_t)b->rows, sizeof(int64_t));
        b->xr = (float *)fkm_alloc((size_t)b->rows, (size_t)d * sizeof(float));
        b->xtr = (float *)fkm_alloc((size_t)b->rows, sizeof(float));
        b->rb = (float *)fkm_alloc((size_t)b->rows, sizeof(float));
        b->rs = (float *)fkm_alloc((size_t)b->rows, sizeof(float));
        b->rl = (int32_t *)fkm_alloc((size_t)b->rows, sizeof(int32_t));
        b->ws = fkm_cpu_ws_create();
        if (!b->need || !b->idx || !b->xr || !b->xtr || !b->rb || !b->rs || !b->rl || !b->ws)
            b->lb = (fkm_free(b->lb), NULL);
    }
    b->xx = (double *)fkm_alloc((size_t)n, sizeof(double));
    b->cref = (float *)fkm_alloc((size_t)(k * d), sizeof(float));
    b->shift = (double *)fkm_alloc((size_t)k, sizeof(double));
    b->cn = (double *)fkm_alloc((size_t)k, sizeof(double));
    b->cc = (double *)fkm_alloc((size_t)k, sizeof(double));
    if (!b->lb || !b->dcc || !b->xx || !b->cref || !b->shift || !b->cn || !b->cc) {
        fkm_cpu_bounds_destroy(b);
        return NULL;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t j = 0; j < d; j++) s += (double)x[i * d + j] * x[i * d + j];
        b->xx[i] = s;
    }
    return b;
}

void fkm_cpu_bounds_reset(fkm_cpu_bounds *b) { b->valid = 0; }
int64_t fkm_cpu_bounds_scored(const fkm_cpu_bounds *b) { return b->scored; }
fkm_algorithm fkm_cpu_bounds_algorithm(const fkm_cpu_bounds *b) { return b->algo; }

/* The kernels' score of x against centroid row c (assign_kern.h): same operations, same order. */
FMA_CLONES static float score1(const float *x, const float *c, int64_t d, float cterm) {
    float dot = 0.0f;
    for (int64_t j = 0; j < d; j++) dot = fmaf(x[j], c[j], dot);
    return fmaf(-2.0f, dot, cterm);
}

/* Four centroids at once (independent chains, each the kernels' order). */
FMA_CLONES static void score4(const float *x, const float *c0, const float *c1, const float *c2, const float *c3,
                              int64_t d, const float *ct, float *s) {
    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
    for (int64_t j = 0; j < d; j++) {
        a0 = fmaf(x[j], c0[j], a0);
        a1 = fmaf(x[j], c1[j], a1);
        a2 = fmaf(x[j], c2[j], a2);
        a3 = fmaf(x[j], c3[j], a3);
    }
    s[0] = fmaf(-2.0f, a0, ct[0]);
    s[1] = fmaf(-2.0f, a1, ct[1]);
    s[2] = fmaf(-2.0f, a2, ct[2]);
    s[3] = fmaf(-2.0f, a3, ct[3]);
}

static double up(double v) { return v * (1.0 + SLACK); }
static double down(double v) { return v > 0 ? v * (1.0 - SLACK) : 0.0; }
static float down_f(double v) { /* a float <= v (v >= 0) */
    float f = (float)v;
    if ((double)f > v) f = nextafterf(f, 0.0f);
    return f > 0 ? f : 0.0f;
}

typedef struct {
    const fkm_cpu_assign_args *a;
    fkm_cpu_bounds *b;
    double g, tiny;
} ctx;

/* E_c for a point of norm xn (rounded up): the score's worst rounding error. */
static double err(const ctx *t, double xn, int64_t c) { return t->g * (t->b->cc[c] + 2.0 * xn * t->b->cn[c]) + t->tiny; }
/* E for any centroid: from the largest |c|^2 (rounded up), >= every err(t, xn, c). */
static double err_max(const ctx *t, double xn, double cmax) { return t->g * (cmax + 2.0 * xn * sqrt(cmax)) + t->tiny; }
/* Lower bound on D from a computed score: D^2 >= s - E + |x|^2. */
static double lower_from(double s, double e, double xx) { return down(sqrt(down(s - e + xx * (1.0 - SLACK)))); }
/* Upper bound on D from a computed score. */
static double upper_from(double s, double e, double xx) {
    const double v = s + e + xx * (1.0 + SLACK);
    return up(sqrt(v > 0 ? up(v) : 0.0));
}
/* Whether every score of a centroid whose distance is >= L is strictly above bv. */
static int beaten(double L, double xx, double e, double bv) {
    if (!(L > 0)) return 0;
    const double l2 = L * L * (1.0 - SLACK), lhs = l2 - xx * (1.0 + SLACK) - e;
    return lhs - bv > SLACK * (l2 + xx + e + fabs(bv));
}

/* Every score of point i, in index order with the kernels' rule (start (+inf, 0), strictly
 * smaller wins): Elkan's first assignment after the centroids were replaced; fills lbrow. */
static void score_all(const ctx *t, int64_t i, float *lbrow, float *bvp, int32_t *bip) {
    const fkm_cpu_assign_args *a = t->a;
    const int64_t d = a->d, k = a->k;
    const float *xi = a->x + i * d;
    const double xx = t->b->xx[i], xn = up(sqrt(up(xx)));
    float bv = INFINITY;
    int32_t bi = 0;
    for (int64_t c = 0; c < k; c += 4) {
        float s[4];
        const int64_t m = k - c < 4 ? k - c : 4;
        if (m == 4)
            score4(xi, a->c + c * d, a->c + (c + 1) * d, a->c + (c + 2) * d, a->c + (c + 3) * d, d, a->cterm + c, s);
        else
            for (int64_t r = 0; r < m; r++) s[r] = score1(xi, a->c + (c + r) * d, d, a->cterm[c + r]);
        for (int64_t r = 0; r < m; r++) {
            if (s[r] < bv) { bv = s[r]; bi = (int32_t)(c + r); }
            lbrow[c + r] = down_f(lower_from(s[r], err(t, xn, c + r), xx));
        }
    }
    *bvp = bv, *bip = bi;
}

static void finish(const fkm_cpu_assign_args *a, int64_t i, float bv, int32_t bi, int32_t *labels, float *best) {
    float dist = a->xterm[i] + bv; /* as the kernels' driver (assign.c) */
    if (a->clamp && dist < 0) dist = 0;
    labels[i] = bi;
    best[i] = dist;
}

/* Elkan, point i with valid bounds: returns the number of scores computed. */
static int64_t elkan_point(const ctx *t, int64_t i, int32_t *labels, float *best) {
    const fkm_cpu_assign_args *a = t->a;
    const fkm_cpu_bounds *b = t->b;
    const int64_t d = a->d, k = a->k;
    const float *xi = a->x + i * d;
    float *lb = b->lb + i * k;
    const double xx = b->xx[i], xn = up(sqrt(up(xx)));
    int32_t bi = labels[i];
    float bv = score1(xi, a->c + (int64_t)bi * d, d, a->cterm[bi]);
    double U = upper_from(bv, err(t, xn, bi), xx);
    lb[bi] = down_f(lower_from(bv, err(t, xn, bi), xx));
    int64_t scored = 1, cand[4];
    int nc = 0;
    for (int64_t c = 0; c <= k; c++) {
        if (c < k && c != labels[i]) {
            const double l = down((double)lb[c] - b->shift[c]);
            lb[c] = down_f(l);
            const double L = fmax(l, b->dcc[(int64_t)bi * k + c] - U);
            if (!beaten(L, xx, err(t, xn, c), bv)) cand[nc++] = c;
        }
        if (nc == 4 || (c == k && nc > 0)) {
            /* the batch's members are tested again against the best found so far */
            int keep = 0;
            for (int q = 0; q < nc; q++) {
                const double L = fmax((double)lb[cand[q]], b->dcc[(int64_t)bi * k + cand[q]] - U);
                if (!beaten(L, xx, err(t, xn, cand[q]), bv)) cand[keep++] = cand[q];
            }
            float s[4];
            if (keep == 4)
                score4(xi, a->c + cand[0] * d, a->c + cand[1] * d, a->c + cand[2] * d, a->c + cand[3] * d, d,
                       (const float[4]){a->cterm[cand[0]], a->cterm[cand[1]], a->cterm[cand[2]], a->cterm[cand[3]]}, s);
            else
                for (int q = 0; q < keep; q++) s[q] = score1(xi, a->c + cand[q] * d, d, a->cterm[cand[q]]);
            scored += keep;
            for (int q = 0; q < keep; q++) {
                const int64_t cq = cand[q];
                const double e = err(t, xn, cq);
                lb[cq] = down_f(lower_from(s[q], e, xx));
                if (s[q] < bv || (s[q] == bv && cq < bi)) { /* lowest index among equal minima */
                    bv = s[q], bi = (int32_t)cq;
                    U = upper_from(bv, e, xx);
                }
            }
            nc = 0;
        }
    }
    finish(a, i, bv, bi, labels, best);
    return scored;
}

/* The kernels' score of points i0.. (m <= 8) against their own centroids: eight chains side by
 * side, since one chain alone waits on the FMA latency d times (as long as a whole SIMD scan). */
FMA_CLONES static void own_scores(const fkm_cpu_assign_args *a, const int32_t *labels, int64_t i0, int m, float *s) {
    const int64_t d = a->d;
    const float *xs[8], *cs[8];
    float acc[8] = {0};
    for (int q = 0; q < 8; q++) {
        const int64_t i = i0 + (q < m ? q : 0);
        xs[q] = a->x + i * d;
        cs[q] = a->c + (int64_t)labels[i] * d;
    }
    for (int64_t j = 0; j < d; j++)
        for (int q = 0; q < 8; q++) acc[q] = fmaf(xs[q][j], cs[q][j], acc[q]);
    for (int q = 0; q < m; q++) s[q] = fmaf(-2.0f, acc[q], a->cterm[labels[i0 + q]]);
}

/* Hamerly's test for point i whose own score is sa: 1 (and the point finished) when no other
 * centroid can win. maxs: the largest move of a centroid, maxs_other: the largest among the others
 * than maxc; cmax: the largest |c|^2 (rounded up). */
static int hamerly_keep(const ctx *t, int64_t i, float sa, double maxs, double maxs_other, int64_t maxc,
                        double cmax, int32_t *labels, float *best) {
    fkm_cpu_bounds *b = t->b;
    const int32_t ai = labels[i];
    if (b->ref[i] != ai) return 0; /* moved by the empty-cluster policy: lb[i] may be about ai */
    const double xx = b->xx[i], xn = up(sqrt(up(xx)));
    const double U = upper_from(sa, err(t, xn, ai), xx);
    /* the runner-up bound moves by the largest move among the other centroids */
    const double l = down((double)b->lb[i] - (maxc == ai ? maxs_other : maxs));
    const double L = fmax(l, b->dcc[ai] - U);
    /* E for any other centroid: g (max |c|^2 + 2 |x| max |c|) */
    const double e = err_max(t, xn, cmax);
    if (!beaten(L, xx, e, sa)) return 0;
    b->lb[i] = down_f(l);
    finish(t->a, i, sa, ai, labels, best);
    return 1;
}

/* Re-scan the points with need[] set, a block of b->rows at a time: gathered, then the SIMD
 * kernels' top-2 scan gives their labels and distances (the kernels' bits) and the second-lowest
 * score, a lower bound on the score of every other centroid, hence on its distance. */
static void hamerly_rescan(const ctx *t, double cmax, int32_t *labels, float *best) {
    const fkm_cpu_assign_args *a = t->a;
    fkm_cpu_bounds *b = t->b;
    const int64_t n = a->n, d = a->d;
    fkm_cpu_assign_args sub = *a;
    sub.x = b->xr, sub.xterm = b->xtr;
    for (int64_t i = 0; i < n;) {
        int64_t m = 0;
        for (; i < n && m < b->rows; i++)
            if (b->need[i]) b->idx[m++] = i;
        if (m == 0) break;
#pragma omp parallel for num_threads(a->threads) schedule(static)
        for (int64_t r = 0; r < m; r++) {
            memcpy(b->xr + r * d, a->x + b->idx[r] * d, (size_t)d * sizeof(float));
            b->xtr[r] = a->xterm[b->idx[r]];
        }
        sub.n = m;
        fkm_cpu_assign_top2(&sub, b->rl, b->rb, b->rs, b->ws);
#pragma omp parallel for num_threads(a->threads) schedule(static)
        for (int64_t r = 0; r < m; r++) {
            const int64_t q = b->idx[r];
            const double xx = b->xx[q], xn = up(sqrt(up(xx)));
            const double e = err_max(t, xn, cmax); /* >= E_c for every c */
            labels[q] = b->rl[r];
            best[q] = b->rb[r];
            b->lb[q] = down_f(lower_from(b->rs[r], e, xx));
            b->ref[q] = b->rl[r];
        }
    }
}

/* Hamerly's assignment: the bound test for every point (all re-scanned when the bounds are not
 * valid), then the re-scans. Returns the number of scores computed. */
static int64_t hamerly_assign(const ctx *t, double maxs, double maxs_other, int64_t maxc, double cmax,
                              int32_t *labels, float *best) {
    const fkm_cpu_assign_args *a = t->a;
    fkm_cpu_bounds *b = t->b;
    const int64_t n = a->n;
    int64_t kept = 0;
    if (!b->valid) {
        memset(b->need, 1, (size_t)n);
    } else {
#pragma omp parallel for num_threads(a->threads) schedule(static) reduction(+ : kept)
        for (int64_t g = 0; g < (n + 7) / 8; g++) {
            const int64_t i0 = g * 8;
            const int m = n - i0 < 8 ? (int)(n - i0) : 8;
            float s[8];
            own_scores(a, labels, i0, m, s);
            for (int q = 0; q < m; q++) {
                const int keep = hamerly_keep(t, i0 + q, s[q], maxs, maxs_other, maxc, cmax, labels, best);
                b->need[i0 + q] = (uint8_t)!keep;
                kept += keep;
            }
        }
    }
    hamerly_rescan(t, cmax, labels, best);
    return (b->valid ? n : 0) + (n - kept) * a->k;
}

/* Centroid terms of the bounds: norms, moves since cref (then cref = c), Elkan's pairwise
 * distances or Hamerly's nearest-other distances. Returns 0 when a norm is too large for the
 * fp32 scores to be trusted finite (the caller then scores everything). */
static int centroid_terms(fkm_cpu_bounds *b, const float *c, int threads, double *maxs, double *maxs_other,
                          int64_t *maxc, double *cmax) {
    const int64_t k = b->k, d = b->d;
    int ok = 1;
    *maxs = 0, *maxs_other = 0, *maxc = -1, *cmax = 0;
    for (int64_t q = 0; q < k; q++) {
        double s = 0.0, m = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const double v = c[q * d + j], w = v - b->cref[q * d + j];
            s += v * v;
            m += w * w;
        }
        b->cc[q] = up(s);
        b->cn[q] = up(sqrt(b->cc[q]));
        b->shift[q] = b->valid ? up(sqrt(up(m))) : 0.0;
        if (b->cc[q] > 1e30) ok = 0;
        if (b->cc[q] > *cmax) *cmax = b->cc[q];
        if (b->shift[q] > *maxs) { *maxs_other = *maxs; *maxs = b->shift[q]; *maxc = q; }
        else if (b->shift[q] > *maxs_other) *maxs_other = b->shift[q];
    }
    memcpy(b->cref, c, (size_t)(k * d) * sizeof(float));
    if (b->algo == FKM_ALGO_ELKAN) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
        for (int64_t p = 0; p < k; p++)
            for (int64_t q = p; q < k; q++) {
                double s = 0.0;
                for (int64_t j = 0; j < d; j++) {
                    const double w = (double)c[p * d + j] - c[q * d + j];
                    s += w * w;
                }
                b->dcc[p * k + q] = b->dcc[q * k + p] = p == q ? 0.0 : down(sqrt(down(s)));
            }
    } else {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
        for (int64_t p = 0; p < k; p++) {
            double mn = INFINITY;
            for (int64_t q = 0; q < k; q++) {
                if (q == p) continue;
                double s = 0.0;
                for (int64_t j = 0; j < d; j++) {
                    const double w = (double)c[p * d + j] - c[q * d + j];
                    s += w * w;
                }
                if (s < mn) mn = s;
            }
            b->dcc[p] = k > 1 ? down(sqrt(down(mn))) : 0.0;
        }
    }
    return ok;
}

int64_t fkm_cpu_assign_bounded(fkm_cpu_bounds *b, const fkm_cpu_assign_args *a, int32_t *labels, float *best) {
    double maxs, maxs_other, cmax;
    int64_t maxc;
    const int ok = centroid_terms(b, a->c, a->threads, &maxs, &maxs_other, &maxc, &cmax);
    const double du = (double)(a->d + 2) * 0x1p-24;
    ctx t = {a, b, du < 0.25 ? 2.0 * du / (1.0 - du) : INFINITY, (double)(4 * a->d + 8) * FLT_TRUE_MIN};
    if (!ok || !(t.g < INFINITY)) { /* no trustworthy bounds: the kernels' full assignment */
        fkm_cpu_assign(a, labels, best);
        b->valid = 0;
        b->scored = a->n * a->k;
        return b->scored;
    }
    const int valid = b->valid;
    int64_t scored = 0;
    if (b->algo == FKM_ALGO_HAMERLY) {
        scored = hamerly_assign(&t, maxs, maxs_other, maxc, cmax, labels, best);
    } else {
#pragma omp parallel for num_threads(a->threads) schedule(dynamic, 64) reduction(+ : scored)
        for (int64_t i = 0; i < a->n; i++) {
            if (!valid) {
                float bv;
                int32_t bi;
                score_all(&t, i, b->lb + i * a->k, &bv, &bi);
                finish(a, i, bv, bi, labels, best);
                scored += a->k;
            } else {
                scored += elkan_point(&t, i, labels, best);
            }
        }
    }
    b->valid = 1;
    b->scored = scored;
    return scored;
}
