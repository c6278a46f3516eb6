/* test_cuda_half.c -- what holds for float16/bfloat16 data in its own precision (the GPU default
 * for such data; docs/contract.md, "fp16 and bf16"): every product x_j c~_j is exact in float32, so
 * the labels are the float64 oracle's for the data as given and the centroids rounded to the
 * compute type (c~), up to the float32 accumulation alone:
 *     score(c) = |c~|^2 - 2 x.c~  (L2; -x.c~ for inner product), each within
 *     E(c) = (d + 4) 2^-23 (|x|^2 + |c~|^2 + 2 sum_j |x_j c~_j|)
 * of the value the kernel computes (d additions at most 2^-23 relative each, whatever the tensor
 * core's order and rounding, and the final combination). A label l may differ from the oracle's
 * b only when score(l) - score(b) <= E(l) + E(b): about 1.5e-5 relative at d = 128, where the
 * general fp16 margin of the tests is 1e-2.
 * The data puts many points near the bisector of two centroids, closer than the rounding of the
 * centroids moves it, so the same check against the unrounded centroids must find violations:
 * the check is tight enough to see that rounding (a check that cannot fail would pass it too).
 * Skipped (exit 77) without a GPU. */
#include "test_cuda.h"

static int64_t against_unrounded; /* violations when the oracle uses the float32 centroids */

/* Labels of oracle scores s (n x k) with bounds e: the number of chosen labels beyond them. */
static int64_t beyond(const double *s, const double *e, int64_t n, int64_t k, const int32_t *lab) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t b = 0;
        for (int64_t c = 1; c < k; c++)
            if (s[i * k + c] < s[i * k + b]) b = c;
        const int64_t l = lab[i];
        if (l < 0 || l >= k) { bad++; continue; }
        if (s[i * k + l] - s[i * k + b] > e[i * k + l] + e[i * k + b]) bad++;
    }
    return bad;
}

/* Oracle scores and bounds of every (point, centroid) for centroids c (k x d, float64). */
static void scores(const double *x, int64_t n, int64_t d, const double *c, int64_t k, int ip, double *s, double *e) {
    const double g = (double)(d + 4) * 0x1p-23;
    for (int64_t i = 0; i < n; i++)
        for (int64_t q = 0; q < k; q++) {
            double dot = 0, adot = 0, cc = 0, xx = 0;
            for (int64_t j = 0; j < d; j++) {
                const double xv = x[i * d + j], cv = c[q * d + j];
                dot += xv * cv, adot += fabs(xv * cv), cc += cv * cv, xx += xv * xv;
            }
            s[i * k + q] = ip ? -dot : cc - 2 * dot;
            e[i * k + q] = g * (xx + cc + 2 * adot);
        }
}

static void one_case(fkm_dtype t, int64_t n, int64_t d, int64_t k, int metric, uint64_t seed) {
    const char *tn = t == FKM_F16 ? "float16" : "bfloat16";
    float *c32 = malloc((size_t)(k * d) * sizeof(float)), *x32 = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *cr = malloc((size_t)(k * d) * sizeof(double));
    double *cu = malloc((size_t)(k * d) * sizeof(double));
    double *s = malloc((size_t)(n * k) * sizeof(double)), *e = malloc((size_t)(n * k) * sizeof(double));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    uint64_t r = seed;
    for (int64_t i = 0; i < k * d; i++) c32[i] = (float)(gen_normal(&r) * 2.0 + 1.0);
    for (int64_t i = 0; i < n; i++) { /* half near a bisector (offsets 2^-16..2^-2), half anywhere */
        const int64_t a = (int64_t)(gen_next(&r) % (uint64_t)k), b = (int64_t)(gen_next(&r) % (uint64_t)k);
        const double off = ldexp(1.0, -2 - (int)(gen_next(&r) % 15));
        for (int64_t j = 0; j < d; j++)
            x32[i * d + j] = i % 2 ? (float)(0.5 * (c32[a * d + j] + c32[b * d + j]) + off * gen_normal(&r))
                                   : (float)(gen_normal(&r) * 3.0);
    }
    void *in = make_input(t, x32, x64, n * d); /* x64: the values the GPU sees */
    for (int64_t i = 0; i < k * d; i++) {
        cu[i] = c32[i];
        cr[i] = t == FKM_F16 ? h2f(f2h(c32[i])) : bf2f(f2bf(c32[i]));
    }
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CUDA; /* precision auto: fp16 / bf16 for such data */
    p.metric = (fkm_metric)metric;
    fkm_matrix m = {in, t, n, d, NULL};
    for (int64_t i = 0; i < n; i++) lab[i] = -7;
    fkm_status st = fkm_predict(&p, &m, c32, k, lab, NULL);
    CHECK(st == FKM_OK, "%s n=%lld d=%lld k=%lld metric %d: %s", tn, (long long)n, (long long)d, (long long)k, metric,
          fkm_last_error());
    if (st == FKM_OK) {
        scores(x64, n, d, cr, k, metric == 2, s, e);
        const int64_t bad = beyond(s, e, n, k, lab);
        scores(x64, n, d, cu, k, metric == 2, s, e);
        const int64_t unr = beyond(s, e, n, k, lab);
        against_unrounded += unr;
        CHECK(bad == 0, "%s n=%lld d=%lld k=%lld metric %d: %lld labels beyond the accumulation bound of the rounded "
              "centroids", tn, (long long)n, (long long)d, (long long)k, metric, (long long)bad);
        printf("  %-8s n=%-6lld d=%-4lld k=%-4lld metric %d: %lld beyond the bound (rounded centroids), %lld against "
               "the unrounded ones\n", tn, (long long)n, (long long)d, (long long)k, metric, (long long)bad, (long long)unr);
    }
    free(c32), free(x32), free(x64), free(cr), free(cu), free(s), free(e), free(lab), free(in);
}

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    static const int64_t shapes[][3] = {{20000, 128, 64}, {5000, 3, 17}, {3001, 1000, 33}, {6000, 64, 300},
                                        {4096, 8, 16}};
    printf("float16/bfloat16 data in its own precision: labels within float32 accumulation of the oracle:\n");
    for (int ti = 0; ti < 2; ti++)
        for (int si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); si++)
            for (int metric = 0; metric <= 2; metric += 2)
                one_case(ti ? FKM_BF16 : FKM_F16, shapes[si][0], shapes[si][1], shapes[si][2], metric,
                         100 + (uint64_t)(si * 7 + ti * 3 + metric));
    CHECK(against_unrounded > 0, "no label beyond the bound against the unrounded centroids: the data has no point "
          "close enough to a bisector for the check to see the centroids' rounding");
    return check_report();
}
