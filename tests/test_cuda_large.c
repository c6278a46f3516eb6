/* test_cuda_large.c -- N * D past 2^31 elements on the GPU (64-bit offsets everywhere): 2^24 + 4099
 * rows x 136 float16 columns (2.29 G elements, 4.6 GB). The labels of rows sampled over the whole
 * range (the last rows sit past element 2^31) must match the float64 oracle within fp16's
 * near-tie margin, and the exact inertia must equal a float64 recomputation over every row.
 * Needs a GPU with ~12 GB free and ~10 GB of host memory: runs only with FKM_LARGE_TESTS=1,
 * otherwise (and without a GPU) it reports SKIPPED. */
#include "test_cuda.h"

#include <stdlib.h>

static float hval(uint64_t i) { /* a hashed value in [-2, 2) plus a per-row cluster offset */
    uint64_t z = i * 0x9E3779B97F4A7C15ull + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    if (!getenv("FKM_LARGE_TESTS") || atoi(getenv("FKM_LARGE_TESTS")) != 1)
        SKIP_ALL("set FKM_LARGE_TESTS=1 to run the N*D > 2^31 GPU test (4.6 GB of data)");
    const int64_t n = ((int64_t)1 << 24) + 4099, d = 136, k = 64;
    CHECK(n * d > ((int64_t)1 << 31), "the shape must pass 2^31 elements");
    uint16_t *x = malloc((size_t)(n * d) * sizeof(uint16_t));
    if (!x) SKIP_ALL("not enough host memory");
    for (int64_t i = 0; i < n; i++) {
        const float off = (float)(i % 16) * 3.0f;
        for (int64_t j = 0; j < d; j++) x[i * d + j] = f2h(hval((uint64_t)(i * d + j)) + (j % 16 == i % 16 ? off : 0.0f));
    }
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 3; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_RANDOM; p.seed = 3;
    p.device = FKM_DEVICE_CUDA; p.precision = FKM_PREC_FP16;
    fkm_matrix m = {x, FKM_F16, n, d, NULL};
    fkm_result r = {0};
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "large GPU fit: %s", fkm_last_error());
    if (st == FKM_OK) {
        /* 3000 rows spread over the range, the last 1000 all past element 2^31 */
        const int64_t ns = 3000, first_far = ((int64_t)1 << 31) / d + 1;
        double *xs = malloc((size_t)(ns * d) * sizeof(double)), *c = malloc((size_t)(k * d) * sizeof(double));
        int32_t *ls = malloc((size_t)ns * sizeof(int32_t));
        for (int64_t s = 0; s < ns; s++) {
            const int64_t i = s < 2000 ? s * (n / 2000) : first_far + (s - 2000) * ((n - first_far) / 1000);
            for (int64_t j = 0; j < d; j++) xs[s * d + j] = h2f(x[i * d + j]);
            ls[s] = r.labels[i];
        }
        for (int64_t j = 0; j < k * d; j++) c[j] = r.centroids[j];
        const int64_t bad = oracle_bad(xs, ns, d, c, k, 0, ls, NULL, margin_of(FKM_PREC_FP16), NULL);
        CHECK(bad == 0, "large GPU fit: %lld of %lld sampled labels disagree with float64", (long long)bad, (long long)ns);
        double ref = 0;
        int64_t unwritten = 0;
        for (int64_t i = 0; i < n; i++) {
            if (r.labels[i] < 0 || r.labels[i] >= k) { unwritten++; continue; }
            const float *ci = r.centroids + (int64_t)r.labels[i] * d;
            double s = 0;
            for (int64_t j = 0; j < d; j++) {
                const double v = (double)h2f(x[i * d + j]) - ci[j];
                s += v * v;
            }
            ref += s;
        }
        CHECK(unwritten == 0 && fabs(r.inertia - ref) <= 1e-6 * ref,
              "large GPU fit: %lld labels out of range, inertia %.10g vs float64 %.10g", (long long)unwritten, r.inertia, ref);
        free(xs); free(c); free(ls);
    }
    fkm_result_free(&r);
    free(x);
    return check_report();
}
