/* convert.c -- input checking and conversion of every input dtype to the float32 working copy.
 *
 * One pass over the caller's data: convert (if needed), reject NaN/Inf with the first position,
 * reject magnitudes whose squared norms would overflow float32, and unit-normalise rows for the
 * cosine metric. float32 input that needs no normalisation is used in place (no copy). */
#include "convert.h"
#include "../threads.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float fkm_elem_to_float(const void *data, fkm_dtype t, size_t i) {
    switch (t) {
    case FKM_F32: return ((const float *)data)[i];
    case FKM_F64: return (float)((const double *)data)[i];
    case FKM_F16: return half_to_float(((const uint16_t *)data)[i]);
    case FKM_BF16: return bf16_to_float(((const uint16_t *)data)[i]);
    case FKM_U8: return (float)((const uint8_t *)data)[i];
    }
    return 0.0f;
}

/* Largest |x| such that d * x^2 stays well inside float32 range (room for the 2 x.c term). */
static double max_safe_abs(int64_t d) { return sqrt(3.0e37 / (double)d); }

fkm_status fkm_check_shape(int64_t n, int64_t d) {
    if (n <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "n must be >= 1 (got %lld points)", (long long)n);
    if (d <= 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "d must be >= 1 (got dimension %lld)", (long long)d);
    if (n > INT64_MAX / 8 / d)
        return FKM_FAIL(FKM_ERR_INVALID_ARG, "n x d = %lld x %lld elements is too large to address",
                        (long long)n, (long long)d);
    return FKM_OK;
}

fkm_status fkm_check_matrix(const fkm_matrix *x) {
    if (!x) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data matrix is NULL");
    if (x->n <= 0 || x->d <= 0) return fkm_check_shape(x->n, x->d);
    if (!x->data) return FKM_FAIL(FKM_ERR_INVALID_ARG, "data pointer is NULL");
    if (fkm_dtype_size(x->dtype) == 0) return FKM_FAIL(FKM_ERR_INVALID_ARG, "unknown dtype %d", (int)x->dtype);
    return fkm_check_shape(x->n, x->d);
}

/* Row i, checked element by element as float64 values: the first bad element is named (the
 * fast pass below only says whether a row is clean), converted into buf and, for cosine,
 * normalised (rows of a batch, batch != 0, are named with their problem). The reference for the
 * fast pass: the same values, the same error. */
static fkm_status row_named(const fkm_matrix *m, int64_t i, int batch, fkm_metric metric, double lim, float *buf) {
    const int64_t d = m->d;
    double norm2 = 0.0;
    for (int64_t j = 0; j < d; j++) {
        size_t idx = (size_t)i * (size_t)d + (size_t)j;
        float v = fkm_elem_to_float(m->data, m->dtype, idx);
        /* float64 beyond float32 range is finite but too large: reported as overflow below */
        const double shown = m->dtype == FKM_F64 ? ((const double *)m->data)[idx] : (double)v;
        if (!isfinite(shown)) {
            const char *what = isnan(shown) ? "NaN" : (shown > 0 ? "+Inf" : "-Inf");
            if (!batch) return FKM_FAIL(FKM_ERR_BAD_INPUT, "data[%lld][%lld] is %s", (long long)i, (long long)j, what);
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "problem %lld: data[%lld][%lld] is %s", (long long)(i / m->n),
                            (long long)(i % m->n), (long long)j, what);
        }
        if (fabs(shown) > lim)
            return FKM_FAIL(FKM_ERR_BAD_INPUT,
                            "data[%lld][%lld] = %g is too large: squared norms would overflow float32 "
                            "(limit |x| <= %.3g for d = %lld); rescale the data",
                            (long long)(i % m->n), (long long)j, shown, lim, (long long)d);
        norm2 += (double)v * v;
        if (buf) buf[idx] = v;
    }
    if (metric == FKM_METRIC_COSINE) {
        if (norm2 == 0.0)
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "row %lld is all zeros: cosine distance is undefined for it",
                            (long long)(i % m->n));
        /* Divide in float64: 1/|x| overflows float32 for denormal rows (|x| < 3e-39). */
        const double nrm = sqrt(norm2);
        for (int64_t j = 0; j < d; j++)
            buf[(size_t)i * (size_t)d + (size_t)j] = (float)(buf[(size_t)i * (size_t)d + (size_t)j] / nrm);
    }
    return FKM_OK;
}

/* Row i without naming anything: 1 when row_named would accept it, having done the same
 * conversion and normalisation (the same values: the same conversion, the same float64 sum in
 * the same order). Written so the compiler vectorises the float32 test: |v| <= limf is false
 * for NaN and +-Inf as for too large, and limf, the largest float32 <= lim, makes it exact. */
static int row_clean(const fkm_matrix *m, int64_t i, fkm_metric metric, double lim, float limf, float *buf) {
    const int64_t d = m->d;
    const size_t o = (size_t)i * (size_t)d;
    int ok = 1;
    const float *v = (const float *)m->data + o;
    if (buf) {
        for (int64_t j = 0; j < d; j++) buf[o + (size_t)j] = fkm_elem_to_float(m->data, m->dtype, o + (size_t)j);
        v = buf + o;
    }
    if (m->dtype == FKM_F64) { /* row_named tests the float64 value itself */
        const double *s = (const double *)m->data + o;
        for (int64_t j = 0; j < d; j++) ok &= fabs(s[j]) <= lim;
    } else {
        for (int64_t j = 0; j < d; j++) ok &= fabsf(v[j]) <= limf;
    }
    if (!ok || metric != FKM_METRIC_COSINE) return ok;
    double norm2 = 0.0;
    for (int64_t j = 0; j < d; j++) norm2 += (double)v[j] * v[j];
    if (norm2 == 0.0) return 0;
    const double nrm = sqrt(norm2);
    for (int64_t j = 0; j < d; j++) buf[o + (size_t)j] = (float)(buf[o + (size_t)j] / nrm);
    return 1;
}

/* Rows per task of the fast pass: about 64 K elements, so a task is long next to its dispatch. */
static int64_t clean_block(int64_t d) { return d >= 65536 ? 1 : 65536 / d; }

fkm_status fkm_check_and_convert(const fkm_matrix *m, int64_t rows, fkm_metric metric, int threads,
                                 const float **out, float **owned) {
    fkm_status st = FKM_OK;
    const int64_t d = m->d;
    const int need_copy = m->dtype != FKM_F32 || metric == FKM_METRIC_COSINE;
    float *buf = NULL;
    *out = NULL;
    *owned = NULL;
    if (need_copy) {
        buf = (float *)fkm_alloc((size_t)rows * (size_t)d, sizeof(float));
        FKM_CHECK_ALLOC(buf, "the float32 working copy of the data");
    }
    const double lim = max_safe_abs(d);
    const float limf = (double)(float)lim <= lim ? (float)lim : nextafterf((float)lim, 0.0f);
    /* The data is read at memory speed on every thread the caller allows (a first call on 8 GB of
     * host data spent 2.6 s here on one thread); one read of the whole input costs no more than
     * the check itself, so the work is n d element reads, not multiply-adds. */
    const int64_t blk = clean_block(d), nblk = (rows + blk - 1) / blk;
    const int team = fkm_threads_choose(threads, (double)rows * (double)d);
    int clean = 1;
#pragma omp parallel for schedule(dynamic, 1) reduction(&& : clean) num_threads(team) if (team > 1)
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t end = (b + 1) * blk < rows ? (b + 1) * blk : rows;
        for (int64_t i = b * blk; i < end && clean; i++) clean = row_clean(m, i, metric, lim, limf, buf);
    }
    if (team > 1) fkm_threads_release(team);
    /* A bad element somewhere: find the first one, in order, and name it. */
    for (int64_t i = 0; !clean && i < rows && st == FKM_OK; i++) st = row_named(m, i, rows > m->n, metric, lim, buf);
    if (st == FKM_OK && !clean) st = FKM_FAIL(FKM_ERR_INTERNAL, "the data check disagrees with itself");
    if (st != FKM_OK) goto cleanup;
    *out = buf ? buf : (const float *)m->data;
    *owned = buf;
    return FKM_OK;
cleanup:
    fkm_free(buf);
    return st;
}

fkm_status fkm_check_weights(const float *w, int64_t n) {
    if (!w) return FKM_OK;
    double total = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(w[i])) return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] is not finite", (long long)i);
        if (w[i] < 0) return FKM_FAIL(FKM_ERR_BAD_INPUT, "weights[%lld] = %g is negative", (long long)i, (double)w[i]);
        total += w[i];
    }
    if (total <= 0) return FKM_FAIL(FKM_ERR_BAD_INPUT, "all %lld weights are zero", (long long)n);
    return FKM_OK;
}

fkm_status fkm_check_centroids(const float *c, int64_t k, int64_t d, fkm_metric metric, const char *name,
                               float *out) {
    const double lim = max_safe_abs(d);
    for (int64_t ci = 0; ci < k; ci++) {
        double norm2 = 0.0;
        for (int64_t j = 0; j < d; j++) {
            const float v = c[ci * d + j];
            if (!isfinite(v))
                return FKM_FAIL(FKM_ERR_BAD_INPUT, "%s[%lld][%lld] is %s", name, (long long)ci, (long long)j,
                                isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf"));
            /* same limit as the data: |c|^2 and 2 x.c must stay inside float32 */
            if (fabs(v) > lim)
                return FKM_FAIL(FKM_ERR_BAD_INPUT,
                                "%s[%lld][%lld] = %g is too large: squared norms would overflow float32 "
                                "(limit |c| <= %.3g for d = %lld); rescale the data and centroids",
                                name, (long long)ci, (long long)j, (double)v, lim, (long long)d);
            norm2 += (double)v * v;
        }
        if (metric == FKM_METRIC_COSINE && norm2 == 0.0)
            return FKM_FAIL(FKM_ERR_BAD_INPUT, "%s row %lld is all zeros: cosine distance is undefined for it",
                            name, (long long)ci);
        if (!out) continue;
        /* Rows already unit to float32 rounding (e.g. a fit's own cosine centroids) are kept
         * as they are: re-normalising is not idempotent in float32, and predict/score on a fit's
         * centroids must reproduce its labels and inertia exactly. */
        const double nrm = metric == FKM_METRIC_COSINE && fabs(norm2 - 1.0) > 4.0 * FLT_EPSILON ? sqrt(norm2) : 1.0;
        for (int64_t j = 0; j < d; j++) out[ci * d + j] = (float)(c[ci * d + j] / nrm);
    }
    return FKM_OK;
}

/* Rows hashed by value (-0 and +0 alike), sorted by (hash, index); equal rows end up adjacent. */
typedef struct { uint64_t h; int64_t i; } row_key;

static int cmp_key(const void *a, const void *b) {
    const row_key *x = (const row_key *)a, *y = (const row_key *)b;
    if (x->h != y->h) return x->h < y->h ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

int64_t fkm_count_duplicate_rows(const float *c, int64_t k, int64_t d, int64_t *first_a, int64_t *first_b) {
    row_key *key = (row_key *)fkm_alloc((size_t)k, sizeof(row_key));
    int64_t dups = 0;
    *first_a = *first_b = -1;
    if (!key) return 0; /* only a diagnostic: skip it rather than fail */
    for (int64_t i = 0; i < k; i++) {
        uint64_t h = 0x9E3779B97F4A7C15ull;
        for (int64_t j = 0; j < d; j++) {
            float v = c[i * d + j] == 0.0f ? 0.0f : c[i * d + j];
            uint32_t bits;
            memcpy(&bits, &v, 4);
            h = (h ^ bits) * 0x100000001B3ull;
            h ^= h >> 29;
        }
        key[i].h = h;
        key[i].i = i;
    }
    qsort(key, (size_t)k, sizeof(row_key), cmp_key);
    for (int64_t t = 1; t < k; t++) {
        if (key[t].h != key[t - 1].h) continue;
        const float *a = c + key[t - 1].i * d, *b = c + key[t].i * d;
        int64_t j = 0;
        while (j < d && a[j] == b[j]) j++;
        if (j < d) continue;
        if (dups++ == 0) { *first_a = key[t - 1].i; *first_b = key[t].i; }
    }
    fkm_free(key);
    return dups;
}
