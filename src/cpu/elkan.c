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
 * iteration, so best[] (the distances, the inertia, the empty-cluster policy's choice) is exact. */
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
};

void fkm_cpu_bounds_destroy(fkm_cpu_bounds *b) {
    if (!b) return;
    fkm_free(b->lb); fkm_free(b->xx); fkm_free(b->cref); fkm_free(b->shift);
    fkm_free(b->cn); fkm_free(b->cc); fkm_free(b->dcc); fkm_free(b->ref);
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
 * smaller wins): the first assignment after the centroids were replaced, and Hamerly's full
 * re-scan. Fills Elkan's bounds (lbrow) or returns the lower bound on the runner-up. */
static double score_all(const ctx *t, int64_t i, float *lbrow, float *bvp, int32_t *bip) {
    const fkm_cpu_assign_args *a = t->a;
    const int64_t d = a->d, k = a->k;
    const float *xi = a->x + i * d;
    const double xx = t->b->xx[i], xn = up(sqrt(up(xx)));
    float bv = INFINITY;
    int32_t bi = 0;
    double m1 = INFINITY, m2 = INFINITY; /* lowest and second lowest lower bound (Hamerly) */
    int64_t m1c = -1;
    for (int64_t c = 0; c < k; c += 4) {
        float s[4];
        const int64_t m = k - c < 4 ? k - c : 4;
        if (m == 4)
            score4(xi, a->c + c * d, a->c + (c + 1) * d, a->c + (c + 2) * d, a->c + (c + 3) * d, d, a->cterm + c, s);
        else
            for (int64_t r = 0; r < m; r++) s[r] = score1(xi, a->c + (c + r) * d, d, a->cterm[c + r]);
        for (int64_t r = 0; r < m; r++) {
            if (s[r] < bv) { bv = s[r]; bi = (int32_t)(c + r); }
            const double l = lower_from(s[r], err(t, xn, c + r), xx);
            if (lbrow) lbrow[c + r] = down_f(l);
            if (l < m1) { m2 = m1; m1 = l; m1c = c + r; }
            else if (l < m2) m2 = l;
        }
    }
    *bvp = bv, *bip = bi;
    return m1c == bi ? m2 : m1; /* a lower bound on every distance but the winner's */
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

/* Hamerly, point i with valid bounds. maxs: the largest move of a centroid, maxs_other: the
 * largest among the others than maxc; cmax: the largest |c|^2 (rounded up). */
static int64_t hamerly_point(const ctx *t, int64_t i, double maxs, double maxs_other, int64_t maxc,
                             double emax_c, int32_t *labels, float *best) {
    const fkm_cpu_assign_args *a = t->a;
    fkm_cpu_bounds *b = t->b;
    const int64_t d = a->d;
    const float *xi = a->x + i * d;
    const double xx = b->xx[i], xn = up(sqrt(up(xx)));
    const int32_t ai = labels[i];
    const float sa = score1(xi, a->c + (int64_t)ai * d, d, a->cterm[ai]);
    const double U = upper_from(sa, err(t, xn, ai), xx);
    if (b->ref[i] != ai) goto rescan; /* moved by the empty-cluster policy: lb[i] may be about ai */
    /* the runner-up bound moves by the largest move among the other centroids */
    const double l = down((double)b->lb[i] - (maxc == ai ? maxs_other : maxs));
    const double L = fmax(l, b->dcc[ai] - U);
    /* E for any other centroid: g (max |c|^2 + 2 |x| max |c|) */
    const double e = t->g * (emax_c + 2.0 * xn * sqrt(emax_c)) + t->tiny;
    if (beaten(L, xx, e, sa)) {
        b->lb[i] = down_f(l);
        finish(a, i, sa, ai, labels, best);
        return 1;
    }
rescan:;
    float bv;
    int32_t bi;
    b->lb[i] = down_f(score_all(t, i, NULL, &bv, &bi));
    b->ref[i] = bi;
    finish(a, i, bv, bi, labels, best);
    return 1 + a->k;
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
#pragma omp parallel for num_threads(a->threads) schedule(dynamic, 64) reduction(+ : scored)
    for (int64_t i = 0; i < a->n; i++) {
        if (!valid) {
            float bv;
            int32_t bi;
            const double r = score_all(&t, i, b->algo == FKM_ALGO_ELKAN ? b->lb + i * a->k : NULL, &bv, &bi);
            if (b->algo == FKM_ALGO_HAMERLY) b->lb[i] = down_f(r), b->ref[i] = bi;
            finish(a, i, bv, bi, labels, best);
            scored += a->k;
        } else if (b->algo == FKM_ALGO_ELKAN) {
            scored += elkan_point(&t, i, labels, best);
        } else {
            scored += hamerly_point(&t, i, maxs, maxs_other, maxc, cmax, labels, best);
        }
    }
    b->valid = 1;
    b->scored = scored;
    return scored;
}
