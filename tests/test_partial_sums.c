/* test_partial_sums.c -- fkm_partial_sums, the block-wise half of a distributed Lloyd iteration
 * (the Dask front end): labels equal fkm_predict's; the fixed-point sums equal an independent
 * __int128 sum of trunc(w x scale); the blocks of any split (and any thread count) add up to the
 * whole's integers; centroids from the sums agree with float64 means; every refusal. */
#include "check.h"
#include "flashkmeans.h"
#include "fixed.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum { N = 1500, D = 7, K = 6 };

static float X[N * D], W[N], C[K * D];
static double CS[D], WS;

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static void make_data(void) {
    for (int64_t i = 0; i < N; i++) {
        const int g = (int)(i % K);
        for (int64_t j = 0; j < D; j++) X[i * D + j] = (float)(3.0 * g + (j == 0 ? 100.0 : 0.0) + urand() - 0.5);
        W[i] = i % 11 == 0 ? 0.0f : (float)(0.25 + 2.0 * urand());
    }
    for (int64_t c = 0; c < K; c++) memcpy(C + c * D, X + (c * 37 + 5) * D, D * sizeof(float));
    double wmax = 0.0;
    for (int64_t j = 0; j < D; j++) {
        double m = 0.0;
        for (int64_t i = 0; i < N; i++) m = fmax(m, fabs((double)W[i] * X[i * D + j]));
        CS[j] = fkm_fx_scale(m);
    }
    for (int64_t i = 0; i < N; i++) wmax = fmax(wmax, W[i]);
    WS = fkm_fx_scale(wmax);
}

static fkm_params params(int threads) {
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CPU;
    p.threads = threads;
    return p;
}

static int64_t *sums_alloc(void) { return (int64_t *)calloc(2 * K * D + 2 * K, sizeof(int64_t)); }
static __int128 val(const int64_t *s, int64_t count, int64_t idx) { /* hi 2^32 + lo */
    return (__int128)s[idx] * 4294967296 + s[count + idx];
}

/* The whole problem in one call, against independent references. */
static void test_whole(void) {
    fkm_params p = params(2);
    fkm_matrix m = {X, FKM_F32, N, D, W};
    int32_t lab[N], plab[N];
    float dist[N], pdist[N];
    int64_t *s = sums_alloc();
    CHECK(fkm_partial_sums(&p, &m, C, K, CS, WS, lab, dist, s) == FKM_OK, "%s", fkm_last_error());
    CHECK(fkm_predict(&p, &m, C, K, plab, pdist) == FKM_OK, "%s", fkm_last_error());
    int same = 1, close = 1;
    for (int64_t i = 0; i < N; i++) {
        same &= lab[i] == plab[i];
        double xx = 0.0;
        for (int64_t j = 0; j < D; j++) xx += (double)X[i * D + j] * X[i * D + j];
        close &= fabs((double)dist[i] - pdist[i]) <= 1e-5 * 2.0 * xx; /* the expansion vs float64 */
    }
    CHECK(same, "labels differ from fkm_predict's");
    CHECK(close, "distances are not the assignment's");
    /* references: __int128 sums of the documented terms */
    static __int128 ref[K * D], wref[K];
    memset(ref, 0, sizeof ref);
    memset(wref, 0, sizeof wref);
    for (int64_t i = 0; i < N; i++) {
        const int64_t c = lab[i];
        for (int64_t j = 0; j < D; j++) ref[c * D + j] += (int64_t)((double)W[i] * (double)X[i * D + j] * CS[j]);
        wref[c] += (int64_t)((double)W[i] * WS);
    }
    int eq = 1, lo_ok = 1;
    for (int64_t e = 0; e < K * D; e++) {
        eq &= val(s, K * D, e) == ref[e];
        lo_ok &= s[K * D + e] >= 0 && s[K * D + e] < 4294967296ll;
    }
    for (int64_t c = 0; c < K; c++) eq &= val(s + 2 * K * D, K, c) == wref[c];
    CHECK(eq, "fixed-point sums differ from the int128 reference");
    CHECK(lo_ok, "low limbs not in [0, 2^32)");
    /* centroids from the sums (docs/api.md's formula) against float64 weighted means */
    double worst = 0.0;
    for (int64_t c = 0; c < K; c++) {
        const double wsum = (double)val(s + 2 * K * D, K, c) / WS;
        for (int64_t j = 0; j < D; j++) {
            const float cen = (float)(((double)val(s, K * D, c * D + j) / CS[j]) / wsum);
            double num = 0.0, den = 0.0;
            for (int64_t i = 0; i < N; i++)
                if (lab[i] == c) {
                    num += (double)W[i] * X[i * D + j];
                    den += W[i];
                }
            worst = fmax(worst, fabs(cen - num / den) / fmax(1.0, fabs(num / den)));
        }
    }
    CHECK(worst < 1e-6, "centroids from the sums off the float64 means by %g", worst);
    free(s);
}

/* Any split of the rows, any thread count: the blocks' limbs add up to the whole's integers. */
static void test_splits(void) {
    const int64_t cuts[][5] = {{0, N, -1}, {0, 1, 700, N, -1}, {0, 499, 500, 1499, N}};
    fkm_params p1 = params(1);
    fkm_matrix m = {X, FKM_F32, N, D, W};
    int32_t whole_lab[N];
    int64_t *whole = sums_alloc();
    CHECK(fkm_partial_sums(&p1, &m, C, K, CS, WS, whole_lab, NULL, whole) == FKM_OK, "%s", fkm_last_error());
    for (int t = 1; t <= 3; t++)
        for (size_t v = 0; v < sizeof cuts / sizeof cuts[0]; v++) {
            fkm_params p = params(t);
            int64_t *acc = sums_alloc(), *s = sums_alloc();
            int32_t lab[N];
            for (int b = 0; b < 4 && cuts[v][b + 1] >= 0; b++) {
                const int64_t r0 = cuts[v][b], r1 = cuts[v][b + 1];
                fkm_matrix blk = {X + r0 * D, FKM_F32, r1 - r0, D, W + r0};
                CHECK(fkm_partial_sums(&p, &blk, C, K, CS, WS, lab + r0, NULL, s) == FKM_OK, "%s", fkm_last_error());
                for (int64_t e = 0; e < 2 * K * D + 2 * K; e++) acc[e] += s[e];
            }
            int eq = memcmp(lab, whole_lab, sizeof lab) == 0;
            for (int64_t e = 0; e < K * D; e++) eq &= val(acc, K * D, e) == val(whole, K * D, e);
            for (int64_t c = 0; c < K; c++) eq &= val(acc + 2 * K * D, K, c) == val(whole + 2 * K * D, K, c);
            CHECK(eq, "split %zu with %d threads: sums or labels differ from the whole's", v, t);
            free(acc);
            free(s);
        }
    free(whole);
}

/* float64 input rounds to the float32 run's values; no weights = all 1; a block of zero weights;
 * inner product and cosine label as fkm_predict does. */
static void test_variants(void) {
    static double X64[N * D];
    for (int64_t e = 0; e < N * D; e++) X64[e] = X[e];
    fkm_params p = params(2);
    int32_t a[N], b[N];
    int64_t *s1 = sums_alloc(), *s2 = sums_alloc();
    fkm_matrix m32 = {X, FKM_F32, N, D, W}, m64 = {X64, FKM_F64, N, D, W};
    CHECK(fkm_partial_sums(&p, &m32, C, K, CS, WS, a, NULL, s1) == FKM_OK, "%s", fkm_last_error());
    CHECK(fkm_partial_sums(&p, &m64, C, K, CS, WS, b, NULL, s2) == FKM_OK, "%s", fkm_last_error());
    CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(s1, s2, (2 * K * D + 2 * K) * sizeof(int64_t)) == 0,
          "float64 input differs from float32");
    float ones[N];
    for (int64_t i = 0; i < N; i++) ones[i] = 1.0f;
    fkm_matrix mw = {X, FKM_F32, N, D, ones}, mn = {X, FKM_F32, N, D, NULL};
    CHECK(fkm_partial_sums(&p, &mw, C, K, CS, 1.0, a, NULL, s1) == FKM_OK, "%s", fkm_last_error());
    CHECK(fkm_partial_sums(&p, &mn, C, K, CS, 1.0, b, NULL, s2) == FKM_OK, "%s", fkm_last_error());
    CHECK(memcmp(s1, s2, (2 * K * D + 2 * K) * sizeof(int64_t)) == 0, "unit weights differ from none");
    int64_t cnt = 0;
    for (int64_t c = 0; c < K; c++) cnt += val(s2 + 2 * K * D, K, c);
    CHECK(cnt == N, "weight sums without weights: %lld, expected %d", (long long)cnt, N);
    float zeros[10] = {0};
    fkm_matrix mz = {X, FKM_F32, 10, D, zeros};
    CHECK(fkm_partial_sums(&p, &mz, C, K, CS, WS, a, NULL, s1) == FKM_OK, "zero-weight block: %s", fkm_last_error());
    int allzero = 1;
    for (int64_t e = 0; e < 2 * K * D + 2 * K; e++) allzero &= s1[e] == 0;
    CHECK(allzero, "a block of zero weights adds something");
    for (int metric = FKM_METRIC_COSINE; metric <= FKM_METRIC_IP; metric++) {
        fkm_params q = params(2);
        q.metric = (fkm_metric)metric;
        float pd[N], dd[N];
        CHECK(fkm_partial_sums(&q, &m32, C, K, CS, WS, a, dd, s1) == FKM_OK, "%s", fkm_last_error());
        CHECK(fkm_predict(&q, &m32, C, K, b, pd) == FKM_OK, "%s", fkm_last_error());
        CHECK(memcmp(a, b, sizeof a) == 0, "metric %d: labels differ from fkm_predict's", metric);
        CHECK(memcmp(dd, pd, sizeof dd) == 0, "metric %d: distances differ from fkm_predict's", metric);
    }
    free(s1);
    free(s2);
}

static void expect(fkm_status got, fkm_status want, const char *needle, const char *what) {
    CHECK(got == want, "%s: status %d, expected %d (%s)", what, (int)got, (int)want, fkm_last_error());
    CHECK(strstr(fkm_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, fkm_last_error(), needle);
}

static void test_errors(void) {
    fkm_params p = params(1);
    fkm_matrix m = {X, FKM_F32, N, D, W};
    int32_t lab[N];
    int64_t *s = sums_alloc();
    double cs[D];
    expect(fkm_partial_sums(NULL, &m, C, K, CS, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "params", "NULL params");
    expect(fkm_partial_sums(&p, &m, NULL, K, CS, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "centroids", "NULL centroids");
    expect(fkm_partial_sums(&p, &m, C, K, NULL, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "col_scale", "NULL scales");
    expect(fkm_partial_sums(&p, &m, C, K, CS, WS, NULL, NULL, s), FKM_ERR_INVALID_ARG, "labels", "NULL labels");
    expect(fkm_partial_sums(&p, &m, C, K, CS, WS, lab, NULL, NULL), FKM_ERR_INVALID_ARG, "sums", "NULL sums");
    expect(fkm_partial_sums(&p, &m, C, 0, CS, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "k must be", "k = 0");
    memcpy(cs, CS, sizeof cs);
    cs[3] *= 2.0; /* one column's scale from a smaller max than its own */
    expect(fkm_partial_sums(&p, &m, C, K, cs, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "col_scale[3]", "scale too large");
    cs[3] = 0.0;
    expect(fkm_partial_sums(&p, &m, C, K, cs, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "col_scale[3]", "zero scale");
    cs[3] = NAN;
    expect(fkm_partial_sums(&p, &m, C, K, cs, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "col_scale[3]", "NaN scale");
    expect(fkm_partial_sums(&p, &m, C, K, CS, WS * 2, lab, NULL, s), FKM_ERR_INVALID_ARG, "weight_scale", "weight scale");
    expect(fkm_partial_sums(&p, &m, C, K, CS, -1.0, lab, NULL, s), FKM_ERR_INVALID_ARG, "weight_scale", "negative");
    float w[N];
    memcpy(w, W, sizeof w);
    w[7] = -1.0f;
    fkm_matrix mw = {X, FKM_F32, N, D, w};
    expect(fkm_partial_sums(&p, &mw, C, K, CS, WS, lab, NULL, s), FKM_ERR_BAD_INPUT, "weights[7]", "negative weight");
    static float xb[N * D];
    memcpy(xb, X, sizeof xb);
    xb[12 * D + 3] = NAN;
    fkm_matrix mb = {xb, FKM_F32, N, D, W};
    expect(fkm_partial_sums(&p, &mb, C, K, CS, WS, lab, NULL, s), FKM_ERR_BAD_INPUT, "data[12][3]", "NaN data");
    fkm_params pc = p;
    pc.device = FKM_DEVICE_CUDA;
    expect(fkm_partial_sums(&pc, &m, C, K, CS, WS, lab, NULL, s), FKM_ERR_INVALID_ARG, "CPU", "device cuda");
    fkm_matrix m0 = {X, FKM_F32, 0, D, NULL};
    CHECK(fkm_partial_sums(&p, &m0, C, K, CS, WS, lab, NULL, s) == FKM_ERR_INVALID_ARG, "n = 0 accepted");
    float cb[K * D];
    memcpy(cb, C, sizeof cb);
    cb[5] = INFINITY;
    expect(fkm_partial_sums(&p, &m, cb, K, CS, WS, lab, NULL, s), FKM_ERR_BAD_INPUT, "centroids[0][5]", "Inf centroid");
    free(s);
}

int main(void) {
    make_data();
    test_whole();
    test_splits();
    test_variants();
    test_errors();
    return check_report();
}
