/* metrics.c -- NMI and ARI from the contingency table of two labelings.
 *
 * Both follow scikit-learn 1.2 exactly, special cases included, so that the numbers printed by
 * `flashkmeans fit --truth` can be compared with a Python pipeline:
 *   NMI = MI / ((H(a) + H(b)) / 2), 1 when both labelings have a single class, 0 when MI is 0;
 *        each MI term below machine epsilon counts as 0 and MI is clipped at 0.
 *   ARI from the pair-confusion matrix: 2 (tp tn - fn fp) / ((tp + fn)(fn + tn) + (tp + fp)(fp + tn)),
 *        1 when fn = fp = 0. Counts are exact integers (128-bit) up to n = 2^31. */
#include "metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}
static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* Labels -> dense ids 0..k-1 (in sorted order of the values). Returns k, or -1 on OOM. */
static int64_t compact(const int64_t *v, int64_t n, int64_t *ids) {
    int64_t *u = (int64_t *)malloc((size_t)(n ? n : 1) * sizeof *u);
    if (!u) return -1;
    memcpy(u, v, (size_t)n * sizeof *u);
    qsort(u, (size_t)n, sizeof *u, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (i == 0 || u[i] != u[k - 1]) u[k++] = u[i];
    for (int64_t i = 0; i < n; i++) {
        int64_t lo = 0, hi = k - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (u[mid] < v[i]) lo = mid + 1;
            else hi = mid;
        }
        ids[i] = lo;
    }
    free(u);
    return k;
}

/* Entropy (natural log) of counts c[0..k-1] summing to n. */
static double entropy(const int64_t *c, int64_t k, int64_t n) {
    double h = 0;
    for (int64_t i = 0; i < k; i++)
        if (c[i] > 0) h -= (double)c[i] / n * (log((double)c[i]) - log((double)n));
    return h;
}

typedef struct {
    double mi;
    long double sum_sq; /* sum of n_ij^2 */
} cells_acc;

static void add_cell(cells_acc *acc, int64_t nij, int64_t ai, int64_t bj, int64_t n) {
    double p = (double)nij / n;
    double t = p * (log((double)nij) - log((double)n)) + p * (-log((double)ai * (double)bj) + log((double)n) + log((double)n));
    if (fabs(t) < DBL_EPSILON) t = 0;
    acc->mi += t;
    acc->sum_sq += (long double)nij * nij;
}

int cli_agreement(const int64_t *a, const int64_t *b, int64_t n, double *nmi, double *ari) {
    int rc = -1;
    int64_t *ia = (int64_t *)malloc((size_t)(n ? n : 1) * sizeof *ia), *ib = (int64_t *)malloc((size_t)(n ? n : 1) * sizeof *ib);
    int64_t *ca = NULL, *cb = NULL, *cell = NULL;
    uint64_t *keys = NULL;
    if (!ia || !ib) goto done;
    int64_t ka = compact(a, n, ia), kb = compact(b, n, ib);
    if (ka < 0 || kb < 0) goto done;
    ca = (int64_t *)calloc((size_t)ka + 1, sizeof *ca);
    cb = (int64_t *)calloc((size_t)kb + 1, sizeof *cb);
    if (!ca || !cb) goto done;
    for (int64_t i = 0; i < n; i++) { ca[ia[i]]++; cb[ib[i]]++; }

    cells_acc acc = {0, 0};
    if ((uint64_t)ka * (uint64_t)kb <= (1u << 22)) { /* small table: dense */
        cell = (int64_t *)calloc((size_t)(ka * kb), sizeof *cell);
        if (!cell) goto done;
        for (int64_t i = 0; i < n; i++) cell[ia[i] * kb + ib[i]]++;
        for (int64_t x = 0; x < ka; x++)
            for (int64_t y = 0; y < kb; y++)
                if (cell[x * kb + y]) add_cell(&acc, cell[x * kb + y], ca[x], cb[y], n);
    } else { /* large table: sort the pair keys, count runs */
        keys = (uint64_t *)malloc((size_t)n * sizeof *keys);
        if (!keys) goto done;
        for (int64_t i = 0; i < n; i++) keys[i] = (uint64_t)ia[i] * (uint64_t)kb + (uint64_t)ib[i];
        qsort(keys, (size_t)n, sizeof *keys, cmp_u64);
        for (int64_t i = 0, j; i < n; i = j) {
            for (j = i; j < n && keys[j] == keys[i]; j++) {}
            add_cell(&acc, j - i, ca[keys[i] / (uint64_t)kb], cb[keys[i] % (uint64_t)kb], n);
        }
    }

    /* NMI */
    if ((ka == 1 && kb == 1) || n == 0) {
        *nmi = 1.0;
    } else {
        double mi = (ka == 1 || kb == 1) ? 0.0 : (acc.mi > 0 ? acc.mi : 0.0);
        *nmi = mi == 0 ? 0.0 : mi / ((entropy(ca, ka, n) + entropy(cb, kb, n)) / 2);
    }

    /* ARI from the pair-confusion matrix (ordered pairs, as scikit-learn counts them) */
    long double sa = 0, sb = 0;
    for (int64_t x = 0; x < ka; x++) sa += (long double)ca[x] * ca[x];
    for (int64_t y = 0; y < kb; y++) sb += (long double)cb[y] * cb[y];
    if (n < ((int64_t)1 << 31)) {
        __int128 ss = (__int128)acc.sum_sq, A = (__int128)sa, B = (__int128)sb, N = n;
        __int128 tp = ss - N, fp = B - ss, fn = A - ss, tn = N * N - fp - fn - ss;
        if (fn == 0 && fp == 0) *ari = 1.0;
        else *ari = (double)(2 * (tp * tn - fn * fp)) / (double)((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn));
    } else {
        long double ss = acc.sum_sq, N = (long double)n;
        long double tp = ss - N, fp = sb - ss, fn = sa - ss, tn = N * N - fp - fn - ss;
        if (fn == 0 && fp == 0) *ari = 1.0;
        else *ari = (double)(2 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn)));
    }
    rc = 0;
done:
    free(ia); free(ib); free(ca); free(cb); free(cell); free(keys);
    return rc;
}
