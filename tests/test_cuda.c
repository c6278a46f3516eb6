/* test_cuda.c -- the CUDA engine's assignment against the float64 oracle: every precision and
 * metric, odd shapes (D = 1, 3, 96, 200, 1000; K = 1, 7, K = N; tile edges), poisoned outputs
 * checked written, distances, transform, CPU parity in exact mode, bad input, and the
 * device-pointer predict on batches. Skipped (exit 77) without a GPU.
 * FKM_TEST_SMALL=1 keeps only small cases, 2 fewer still (for compute-sanitizer runs). */
#include "test_cuda.h"

#include <stdlib.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>
#endif

static int small_only;

static const fkm_precision precs[] = {FKM_PREC_EXACT, FKM_PREC_TF32, FKM_PREC_FP16, FKM_PREC_BF16};
static const char *pname(fkm_precision p) { return fkm_precision_str(p); }

/* Random centroids near the data: rows of x jittered (so that no centroid is far from all). */
static void make_centroids(uint64_t seed, const float *x32, int64_t n, int64_t d, int64_t k, float *c32, double *c64) {
    uint64_t s = seed;
    for (int64_t i = 0; i < k; i++) {
        const int64_t r = (int64_t)(gen_next(&s) % (uint64_t)n);
        for (int64_t j = 0; j < d; j++) {
            c32[i * d + j] = (float)(x32[r * d + j] + 0.3 * gen_normal(&s));
            c64[i * d + j] = c32[i * d + j];
        }
    }
}

static void test_predict(int64_t n, int64_t d, int64_t k, fkm_precision prec, int metric, fkm_dtype t) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float)), *c32 = malloc((size_t)(k * d) * sizeof(float));
    gen_blobs(7000 + (uint64_t)(n * 31 + d * 7 + k + metric + prec * 1000), n, d, k < 8 ? k : 8, 1.0, x64, x32);
    make_centroids(99 + (uint64_t)n, x32, n, d, k, c32, c64);
    void *in = make_input(t, x32, x64, n * d);
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CUDA;
    p.precision = prec;
    p.metric = (fkm_metric)metric;
    fkm_matrix m = {in, t, n, d, NULL};
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    float *dist = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) { lab[i] = -7; dist[i] = NAN; } /* poison */
    fkm_status st = fkm_predict(&p, &m, c32, k, lab, dist);
    CHECK(st == FKM_OK, "predict %s metric %d n=%lld d=%lld k=%lld: %s", pname(prec), metric, (long long)n,
          (long long)d, (long long)k, fkm_last_error());
    if (st == FKM_OK) {
        int64_t ties = 0;
        int64_t bad = oracle_bad(x64, n, d, c64, k, metric, lab, dist, margin_of(prec), &ties);
        CHECK(bad == 0, "%s metric %d n=%lld d=%lld k=%lld dtype %d: %lld labels/distances off the oracle (%lld near-ties)",
              pname(prec), metric, (long long)n, (long long)d, (long long)k, (int)t, (long long)bad, (long long)ties);
        double sc = 0, sum = 0;
        CHECK(fkm_score(&p, &m, c32, k, &sc) == FKM_OK, "score: %s", fkm_last_error());
        for (int64_t i = 0; i < n; i++) sum += dist[i];
        CHECK(fabs(sc - sum) <= 1e-5 * (fabs(sum) + 1), "score %.9g vs sum of distances %.9g", sc, sum);
    }
    free(x64); free(c64); free(x32); free(c32); free(in); free(lab); free(dist);
}

/* Exact mode against the CPU engine: the same labels except near-ties. */
static void test_cpu_parity(int64_t n, int64_t d, int64_t k, int metric) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float)), *c32 = malloc((size_t)(k * d) * sizeof(float));
    gen_blobs(31 + (uint64_t)(n + d + k + metric), n, d, 6, 1.5, x64, x32);
    make_centroids(5, x32, n, d, k, c32, c64);
    fkm_params p;
    fkm_params_default(&p);
    p.metric = (fkm_metric)metric;
    fkm_matrix m = {x32, FKM_F32, n, d, NULL};
    int32_t *lc = malloc((size_t)n * sizeof(int32_t)), *lg = malloc((size_t)n * sizeof(int32_t));
    p.device = FKM_DEVICE_CPU;
    CHECK(fkm_predict(&p, &m, c32, k, lc, NULL) == FKM_OK, "cpu predict: %s", fkm_last_error());
    p.device = FKM_DEVICE_CUDA;
    p.precision = FKM_PREC_EXACT;
    CHECK(fkm_predict(&p, &m, c32, k, lg, NULL) == FKM_OK, "gpu predict: %s", fkm_last_error());
    int64_t diff = 0, hard = 0;
    for (int64_t i = 0; i < n; i++) diff += lc[i] != lg[i];
    hard = oracle_bad(x64, n, d, c64, k, metric, lg, NULL, margin_of(FKM_PREC_EXACT), NULL);
    CHECK(hard == 0 && diff <= n / 1000, "cpu/gpu exact metric %d: %lld labels differ, %lld outside near-ties", metric,
          (long long)diff, (long long)hard);
    free(x64); free(c64); free(x32); free(c32); free(lc); free(lg);
}

static void test_transform(fkm_precision prec, int metric) {
    const int64_t n = 300, d = 19, k = 23;
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float)), *c32 = malloc((size_t)(k * d) * sizeof(float));
    float *all = malloc((size_t)(n * k) * sizeof(float));
    gen_blobs(77, n, d, 4, 1.0, x64, x32);
    make_centroids(78, x32, n, d, k, c32, c64);
    fkm_dtype t = dtype_for(prec);
    void *in = make_input(t, x32, x64, n * d);
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CUDA;
    p.precision = prec;
    p.metric = (fkm_metric)metric;
    fkm_matrix m = {in, t, n, d, NULL};
    for (int64_t i = 0; i < n * k; i++) all[i] = NAN;
    CHECK(fkm_transform(&p, &m, c32, k, all) == FKM_OK, "transform: %s", fkm_last_error());
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < k; c++) {
            double r = ref_dist(x64 + i * d, c64 + c * d, d, metric);
            if (metric == 0 && r < 0) r = 0;
            if (!(fabs(all[i * k + c] - r) <= margin_of(prec) * tie_scale(x64 + i * d, c64 + c * d, d, metric) + 1e-6))
                bad++;
        }
    CHECK(bad == 0, "transform %s metric %d: %lld distances off", pname(prec), metric, (long long)bad);
    free(x64); free(c64); free(x32); free(c32); free(all); free(in);
}

static void test_bad_input(void) {
    float x[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3}, c[2 * 3] = {0, 0, 0, 1, 1, 1};
    int32_t lab[4];
    x[7] = NAN;
    fkm_params p;
    fkm_params_default(&p);
    p.device = FKM_DEVICE_CUDA;
    fkm_matrix m = {x, FKM_F32, 4, 3, NULL};
    CHECK(fkm_predict(&p, &m, c, 2, lab, NULL) == FKM_ERR_BAD_INPUT, "NaN accepted");
    CHECK(strstr(fkm_last_error(), "[2][1]") != NULL, "message does not name data[2][1]: %s", fkm_last_error());
    x[7] = 1;
    CHECK(fkm_predict(&p, &m, c, 2, lab, NULL) == FKM_OK, "the GPU is not usable after a bad input: %s", fkm_last_error());
}

#ifdef FKM_HAVE_CUDA
/* Device-pointer predict over b problems, each checked against the oracle. */
static void test_device_predict(int64_t b, int64_t n, int64_t d, int64_t k, fkm_precision prec, int metric) {
    const int64_t nd = b * n * d;
    double *x64 = malloc((size_t)nd * sizeof(double)), *c64 = malloc((size_t)(b * k * d) * sizeof(double));
    float *x32 = malloc((size_t)nd * sizeof(float)), *c32 = malloc((size_t)(b * k * d) * sizeof(float));
    gen_blobs(4242 + (uint64_t)b, b * n, d, 5, 1.0, x64, x32);
    for (int64_t q = 0; q < b; q++) make_centroids(17 + (uint64_t)q, x32 + q * n * d, n, d, k, c32 + q * k * d, c64 + q * k * d);
    const fkm_dtype t = dtype_for(prec);
    void *in = make_input(t, x32, x64, nd);
    const size_t es = fkm_dtype_size(t);
    void *dx = NULL, *dc = NULL, *dl = NULL, *dd = NULL;
    int ok = cudaMalloc(&dx, (size_t)nd * es) == cudaSuccess && cudaMalloc(&dc, (size_t)(b * k * d) * 4) == cudaSuccess &&
             cudaMalloc(&dl, (size_t)(b * n) * 4) == cudaSuccess && cudaMalloc(&dd, (size_t)(b * n) * 4) == cudaSuccess;
    CHECK(ok, "cudaMalloc failed");
    if (ok) {
        cudaMemcpy(dx, in, (size_t)nd * es, cudaMemcpyHostToDevice);
        cudaMemcpy(dc, c32, (size_t)(b * k * d) * 4, cudaMemcpyHostToDevice);
        cudaMemset(dl, 0xff, (size_t)(b * n) * 4); /* poison: -1 */
        cudaMemset(dd, 0xff, (size_t)(b * n) * 4); /* NaN */
        fkm_params p;
        fkm_params_default(&p);
        p.precision = prec;
        p.metric = (fkm_metric)metric;
        fkm_cuda_matrix m = {dx, t, b, n, d, NULL};
        size_t ws = 0;
        CHECK(fkm_cuda_predict_workspace_size(&p, &m, k, &ws) == FKM_OK && ws > 0, "workspace size: %s", fkm_last_error());
        void *dws = NULL;
        cudaMalloc(&dws, ws);
        double *inert = malloc((size_t)b * sizeof(double));
        fkm_status st = fkm_cuda_predict(&p, &m, (const float *)dc, k, (int32_t *)dl, (float *)dd, inert, dws, ws, NULL);
        CHECK(st == FKM_OK, "device predict: %s", fkm_last_error());
        int32_t *lab = malloc((size_t)(b * n) * 4);
        float *dist = malloc((size_t)(b * n) * 4);
        cudaMemcpy(lab, dl, (size_t)(b * n) * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(dist, dd, (size_t)(b * n) * 4, cudaMemcpyDeviceToHost);
        int64_t bad = 0;
        for (int64_t q = 0; q < b && st == FKM_OK; q++) {
            bad += oracle_bad(x64 + q * n * d, n, d, c64 + q * k * d, k, metric, lab + q * n, dist + q * n,
                              margin_of(prec), NULL);
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += dist[q * n + i];
            if (!(fabs(s - inert[q]) <= 1e-5 * (fabs(s) + 1))) bad++;
        }
        CHECK(bad == 0, "device predict b=%lld n=%lld d=%lld k=%lld %s metric %d: %lld bad", (long long)b, (long long)n,
              (long long)d, (long long)k, pname(prec), metric, (long long)bad);
        /* A too-small workspace is refused, not overrun. */
        CHECK(fkm_cuda_predict(&p, &m, (const float *)dc, k, (int32_t *)dl, NULL, NULL, dws, ws / 2, NULL) ==
                  FKM_ERR_INVALID_ARG, "small workspace accepted");
        cudaFree(dws);
        free(lab); free(dist); free(inert);
    }
    cudaFree(dx); cudaFree(dc); cudaFree(dl); cudaFree(dd);
    free(x64); free(c64); free(x32); free(c32); free(in);
}
#endif

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    small_only = getenv("FKM_TEST_SMALL") && atoi(getenv("FKM_TEST_SMALL"));
    /* n, d, k: D = 1, 3, 96, 200, 1000; K = 1, 7, K = N; tile edges (64, 128, 256 +- 1). */
    static const int64_t shapes[][3] = {{1000, 1, 5},  {777, 3, 7},    {2000, 96, 33}, {513, 200, 100},
                                        {300, 1000, 17}, {64, 16, 64}, {1, 8, 1},      {5000, 128, 1},
                                        {4099, 128, 300}, {129, 64, 257}, {255, 40, 129}};
    /* FKM_TEST_SMALL=1: three shapes; 2: one shape (racecheck is slow). */
    const int nshapes = small_only >= 2 ? 1 : small_only ? 3 : (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < nshapes; s++)
        for (int pi = 0; pi < 4; pi++)
            for (int metric = 0; metric < 3; metric++)
                test_predict(shapes[s][0], shapes[s][1], shapes[s][2], precs[pi], metric, dtype_for(precs[pi]));
    /* Many tiles per block of the centroid-resident kernel (one problem, k <= 256): ring
     * wrap-around, per-tile inertia partials (checked by the score), both centroid tiles. */
    if (!small_only) {
        test_predict(150000, 64, 256, FKM_PREC_TF32, 0, FKM_F32);
        test_predict(150000, 128, 100, FKM_PREC_FP16, 2, dtype_for(FKM_PREC_FP16));
        /* The streamed persistent kernel (one problem, k > 256, rows of 1-2 k-blocks): 2-3 rounds
         * per block (point rings wrap), 5-6 centroid tiles through 4 stages (the stage ring
         * wraps mid-round), a last round with only 2 of its 4 tiles inside n. */
        test_predict(80000, 16, 600, FKM_PREC_FP16, 0, dtype_for(FKM_PREC_FP16));
        test_predict(80000, 30, 700, FKM_PREC_TF32, 2, FKM_F32);
        test_predict(80000, 100, 520, FKM_PREC_BF16, 1, dtype_for(FKM_PREC_BF16));
    }
    /* Half precision fed with float32 / float64 / uint8 data (converted on the GPU). */
    test_predict(1000, 24, 9, FKM_PREC_FP16, 0, FKM_F32);
    test_predict(1000, 24, 9, FKM_PREC_BF16, 1, FKM_F32);
    test_predict(700, 17, 9, FKM_PREC_TF32, 2, FKM_F32);
    for (int metric = 0; metric < (small_only >= 2 ? 1 : 3); metric++) {
        test_cpu_parity(small_only ? 500 : 6000, 33, 40, metric);
        for (int pi = 0; pi < 4; pi++) test_transform(precs[pi], metric);
    }
    test_bad_input();
#ifdef FKM_HAVE_CUDA
    test_device_predict(3, 1000, 40, 12, FKM_PREC_FP16, 0);
    test_device_predict(3, 999, 33, 7, FKM_PREC_EXACT, 1);
    test_device_predict(1, 2048, 128, 256, FKM_PREC_BF16, 2);
    if (!small_only) {
        test_device_predict(70000, 6, 4, 2, FKM_PREC_EXACT, 0);
        /* the streamed kernel on batches: blocks cross problems; each problem's last round has
         * tiles past its n (625 tiles), or a partial last tile (33000 points) */
        test_device_predict(3, 40000, 40, 300, FKM_PREC_FP16, 0);
        test_device_predict(5, 33000, 24, 700, FKM_PREC_TF32, 2);
    }
#endif
    return check_report();
}
