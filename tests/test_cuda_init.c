/* test_cuda_init.c -- k-means++ on the GPU (host API and device-pointer API, batches), and GPU
 * faults: out of GPU memory and a CUDA error both come back as status codes with text, and the
 * process stays usable (the next GPU call and a CPU call work). Skipped (exit 77) without a GPU. */
#include "rows.h"
#include "test_cuda.h"

#include <stdlib.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>
#endif

static void kpp_params(fkm_params *p, int64_t k, uint64_t seed, fkm_device dev) {
    fkm_params_default(p);
    p->k = k;
    p->max_iter = 0; /* the seeding itself */
    p->init = FKM_INIT_KMEANSPP;
    p->seed = seed;
    p->device = dev;
    p->precision = FKM_PREC_EXACT;
}

/* Host data, device=cuda: every centre is a data row, no row twice, no zero-weight row, the same
 * rows on a second run, and a potential comparable to the CPU's k-means++ (same algorithm). */
static void test_kpp_host(int64_t n, int64_t d, int64_t k, int weighted) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float)), *w = NULL;
    gen_blobs(900 + (uint64_t)k, n, d, k, 0.5, x64, x);
    if (weighted) { /* every third point weightless: k-means++ must never pick one */
        w = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) w[i] = i % 3 == 0 ? 0.0f : 1.0f + (float)(i % 5);
    }
    fkm_matrix m = {x, FKM_F32, n, d, w};
    double gpu_pot = 0, cpu_pot = 0;
    int64_t bad_row = 0, dup = 0, zero_w = 0, differ = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        fkm_params p;
        fkm_result g1 = {0}, g2 = {0}, c = {0};
        kpp_params(&p, k, seed, FKM_DEVICE_CUDA);
        fkm_status s1 = fkm_fit(&p, &m, &g1), s2 = fkm_fit(&p, &m, &g2);
        p.device = FKM_DEVICE_CPU;
        fkm_status s3 = fkm_fit(&p, &m, &c);
        CHECK(s1 == FKM_OK && s2 == FKM_OK && s3 == FKM_OK, "k-means++ n=%lld k=%lld: %s", (long long)n,
              (long long)k, fkm_last_error());
        if (s1 != FKM_OK || s2 != FKM_OK || s3 != FKM_OK) return;
        differ += memcmp(g1.centroids, g2.centroids, (size_t)(k * d) * sizeof(float)) != 0;
        int64_t *rows = malloc((size_t)k * sizeof(int64_t));
        for (int64_t j = 0; j < k; j++) {
            rows[j] = find_row(x, n, d, g1.centroids + j * d);
            if (rows[j] < 0) bad_row++;
            else if (w && w[rows[j]] == 0.0f) zero_w++;
            for (int64_t q = 0; q < j; q++) dup += rows[q] >= 0 && rows[q] == rows[j];
        }
        free(rows);
        gpu_pot += g1.inertia;
        cpu_pot += c.inertia;
        fkm_result_free(&g1); fkm_result_free(&g2); fkm_result_free(&c);
    }
    CHECK(bad_row == 0 && dup == 0 && zero_w == 0 && differ == 0,
          "k-means++ n=%lld k=%lld: %lld centres not data rows, %lld repeated, %lld weightless, %lld runs differ",
          (long long)n, (long long)k, (long long)bad_row, (long long)dup, (long long)zero_w, (long long)differ);
    /* Same algorithm and draws: the potentials agree closely (they differ only where sums in
     * another order flip a near-tie); 3 seeds keep one unlucky draw from deciding. */
    CHECK(gpu_pot <= 1.25 * cpu_pot && cpu_pot <= 1.25 * gpu_pot, "k-means++ potential GPU %g vs CPU %g",
          gpu_pot, cpu_pot);
    free(x64); free(x); free(w);
}

/* Exact L2 distances handed back (as on the CPU): points 0.01 from centres 1000 from the origin,
 * where the expansion |x|^2 - 2x.c + |c|^2 loses every digit of the distance. fit's inertia,
 * score and predict's distances must match float64 to 1e-5 relative, in exact and tf32 mode, and
 * with float16 data in fp16 mode. */
static void test_exact_distances(fkm_precision prec, fkm_dtype t) {
    const int64_t n = 4000, d = 24, k = 4;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c = malloc((size_t)(k * d) * sizeof(float));
    uint16_t *xh = malloc((size_t)(n * d) * sizeof(uint16_t));
    uint64_t r = 99;
    for (int64_t j = 0; j < k * d; j++) c[j] = (float)(1000.0 + 100.0 * (j / d) + (j % d));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            float v = c[(i % k) * d + j] + (float)(0.01 * (gen_unif(&r) - 0.5));
            if (t == FKM_F16) { xh[i * d + j] = f2h(v); v = h2f(xh[i * d + j]); }
            x[i * d + j] = v;
        }
    if (t == FKM_F16) /* centroids on the fp16 grid too, as the fit's would be near */
        for (int64_t j = 0; j < k * d; j++) c[j] = h2f(f2h(c[j]));
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 0; p.init = FKM_INIT_ARRAY; p.init_centroids = c; p.device = FKM_DEVICE_CUDA;
    p.precision = prec;
    fkm_matrix m = {t == FKM_F16 ? (void *)xh : (void *)x, t, n, d, NULL};
    fkm_result res = {0};
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    float *dist = malloc((size_t)n * sizeof(float));
    double score = 0, ref = 0, worst = 0;
    fkm_status st = fkm_fit(&p, &m, &res);
    if (st == FKM_OK) st = fkm_predict(&p, &m, c, k, lab, dist);
    if (st == FKM_OK) st = fkm_score(&p, &m, c, k, &score);
    CHECK(st == FKM_OK, "exact distances (%s): %s", fkm_precision_str(prec), fkm_last_error());
    for (int64_t i = 0; st == FKM_OK && i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < d; j++) {
            const double v = (double)x[i * d + j] - c[(i % k) * d + j];
            s += v * v;
        }
        ref += s;
        worst = fmax(worst, fabs(dist[i] - s) / s);
    }
    if (st == FKM_OK)
        CHECK(fabs(res.inertia - ref) <= 1e-5 * ref && fabs(score - ref) <= 1e-5 * ref && worst <= 1e-5,
              "exact distances (%s): inertia %.9g, score %.9g, float64 %.9g, worst distance error %.2g",
              fkm_precision_str(prec), res.inertia, score, ref, worst);
    fkm_result_free(&res);
    free(x); free(c); free(xh); free(lab); free(dist);
}

#ifdef FKM_HAVE_CUDA
/* Device-pointer API on a batch: each problem's centres are rows of that problem, and a second
 * run gives the same bits. */
static void test_kpp_device(int64_t b, int64_t n, int64_t d, int64_t k) {
    double *x64 = malloc((size_t)(b * n * d) * sizeof(double));
    float *x = malloc((size_t)(b * n * d) * sizeof(float));
    gen_blobs(77, b * n, d, k, 0.5, x64, x);
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, (size_t)(b * n * d) * 4);
    cudaMalloc(&dc, (size_t)(b * k * d) * 4);
    cudaMemcpy(dx, x, (size_t)(b * n * d) * 4, cudaMemcpyHostToDevice);
    fkm_params p;
    kpp_params(&p, k, 5, FKM_DEVICE_CUDA);
    fkm_cuda_matrix dm = {dx, FKM_F32, b, n, d, NULL};
    float *c1 = malloc((size_t)(b * k * d) * 4), *c2 = malloc((size_t)(b * k * d) * 4);
    fkm_status s1 = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    cudaMemcpy(c1, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
    fkm_status s2 = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    cudaMemcpy(c2, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
    CHECK(s1 == FKM_OK && s2 == FKM_OK, "device k-means++ b=%lld: %s", (long long)b, fkm_last_error());
    int64_t bad = 0;
    for (int64_t q = 0; q < b; q++)
        for (int64_t j = 0; j < k; j++) bad += find_row(x + q * n * d, n, d, c1 + (q * k + j) * d) < 0;
    CHECK(bad == 0 && !memcmp(c1, c2, (size_t)(b * k * d) * 4),
          "device k-means++ b=%lld: %lld centres not rows of their problem, runs %s", (long long)b, (long long)bad,
          memcmp(c1, c2, (size_t)(b * k * d) * 4) ? "differ" : "agree");
    free(c1); free(c2); free(x64); free(x);
    cudaFree(dx); cudaFree(dc);
}

/* Device-pointer API, init = ARRAY with init_centroids NULL: the initial centroids are read from
 * the centroids buffer on the GPU (flashkmeans_cuda.h); the result equals the host fit's from the
 * same array. */
static void test_device_inout_init(void) {
    const int64_t n = 3000, d = 16, k = 8;
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c0 = malloc((size_t)(k * d) * 4), *c = malloc((size_t)(k * d) * 4);
    gen_blobs(12, n, d, k, 0.5, x64, x);
    for (int64_t i = 0; i < k * d; i++) c0[i] = x[(i / d) * 311 * d + i % d];
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, (size_t)(n * d) * 4);
    cudaMalloc(&dc, (size_t)(k * d) * 4);
    cudaMemcpy(dx, x, (size_t)(n * d) * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dc, c0, (size_t)(k * d) * 4, cudaMemcpyHostToDevice);
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 4; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_ARRAY; p.init_centroids = NULL;
    p.precision = FKM_PREC_EXACT; p.device = FKM_DEVICE_CUDA;
    fkm_cuda_matrix dm = {dx, FKM_F32, 1, n, d, NULL};
    fkm_status st = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    CHECK(st == FKM_OK, "device fit from the centroids buffer: %s", fkm_last_error());
    cudaMemcpy(c, dc, (size_t)(k * d) * 4, cudaMemcpyDeviceToHost);
    p.init_centroids = c0;
    fkm_matrix hm = {x, FKM_F32, n, d, NULL};
    fkm_result r = {0};
    fkm_status sh = fkm_fit(&p, &hm, &r);
    double err = 0;
    for (int64_t i = 0; sh == FKM_OK && i < k * d; i++) err = fmax(err, fabs(c[i] - r.centroids[i]));
    CHECK(sh == FKM_OK && err <= 1e-4, "centroids-buffer init vs host array init: %g apart (%s)", err,
          fkm_last_error());
    fkm_result_free(&r);
    free(x64); free(x); free(c0); free(c);
    cudaFree(dx); cudaFree(dc);
}

/* Out of GPU memory: take nearly all of it, ask for a fit that cannot fit, expect
 * FKM_ERR_NO_MEMORY with text; then free it and check GPU and CPU fits still work. */
static void test_oom(void) {
    size_t freeb = 0, total = 0;
    cudaMemGetInfo(&freeb, &total);
    void *hog = NULL;
    size_t hogb = freeb > ((size_t)256 << 20) ? freeb - ((size_t)256 << 20) : 0;
    while (hogb > 0 && cudaMalloc(&hog, hogb) != cudaSuccess) hogb -= (size_t)64 << 20;
    (void)cudaGetLastError();
    const int64_t n = 2000000, d = 64, k = 64; /* 512 MB of float data: more than is left */
    float *x = malloc((size_t)(n * d) * sizeof(float));
    uint64_t r = 3;
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)gen_unif(&r);
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 3; p.init = FKM_INIT_RANDOM; p.device = FKM_DEVICE_CUDA;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result res = {0};
    fkm_status st = fkm_fit(&p, &m, &res);
    CHECK(hog != NULL && st == FKM_ERR_NO_MEMORY && strstr(fkm_last_error(), "memory") != NULL,
          "GPU out of memory: status %d (%s), message: %s", (int)st, fkm_status_str(st), fkm_last_error());
    CHECK(res.centroids == NULL && res.labels == NULL, "a failed fit left outputs behind");
    fkm_result_free(&res);
    cudaFree(hog);
    st = fkm_fit(&p, &m, &res); /* now it fits: the process is usable */
    CHECK(st == FKM_OK, "GPU fit after out-of-memory: %s", fkm_last_error());
    fkm_result_free(&res);
    p.device = FKM_DEVICE_CPU;
    m.n = 20000;
    st = fkm_fit(&p, &m, &res);
    CHECK(st == FKM_OK, "CPU fit after GPU out-of-memory: %s", fkm_last_error());
    fkm_result_free(&res);
    free(x);
}

/* A CUDA error: a device pointer that is not device memory (a host pointer) must give
 * FKM_ERR_CUDA (or BAD_INPUT/INVALID_ARG) with text, not a crash; then a CPU fit works. */
static void test_cuda_error(void) {
    float h[64 * 4];
    for (int i = 0; i < 64 * 4; i++) h[i] = (float)(i % 17);
    fkm_params p;
    fkm_params_default(&p);
    p.k = 4; p.init = FKM_INIT_RANDOM; p.max_iter = 2;
    float *dc = NULL;
    cudaMalloc((void **)&dc, 4 * 4 * sizeof(float));
    fkm_cuda_matrix m = {(void *)0x10, FKM_F32, 1, 64, 4, NULL}; /* not an address at all */
    fkm_status st = fkm_cuda_fit(&p, &m, dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    CHECK(st != FKM_OK && fkm_last_error()[0] != '\0', "bad device pointer: status %d, message: %s", (int)st,
          fkm_last_error());
    fkm_matrix hm = {h, FKM_F32, 64, 4, NULL};
    fkm_result res = {0};
    p.device = FKM_DEVICE_CPU;
    st = fkm_fit(&p, &hm, &res);
    CHECK(st == FKM_OK, "CPU fit after a CUDA error: %s", fkm_last_error());
    fkm_result_free(&res);
    cudaFree(dc);
}
#endif

/* init auto (the default) on a GPU is k-means||: the same centres as asking for it, through the
 * host API (device=cuda) and the device API. */
static void test_auto_is_par(void) {
    const int64_t n = 20000, d = 16, k = 40;
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(78, n, d, k, 0.5, x64, x);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p;
    kpp_params(&p, k, 9, FKM_DEVICE_CUDA);
    fkm_result r[2];
    fkm_status st[2];
    for (int i = 0; i < 2; i++) {
        p.init = i ? FKM_INIT_KMEANS_PARALLEL : FKM_INIT_AUTO;
        st[i] = fkm_fit(&p, &m, &r[i]);
    }
    CHECK(st[0] == FKM_OK && st[1] == FKM_OK, "host fit, init auto / k-means||: %s", fkm_last_error());
    if (st[0] == FKM_OK && st[1] == FKM_OK)
        CHECK(!memcmp(r[0].centroids, r[1].centroids, (size_t)(k * d) * 4), "host API: init auto is not k-means|| on the GPU");
    for (int i = 0; i < 2; i++)
        if (st[i] == FKM_OK) fkm_result_free(&r[i]);
#ifdef FKM_HAVE_CUDA
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, (size_t)(n * d) * 4);
    cudaMalloc(&dc, (size_t)(k * d) * 4);
    cudaMemcpy(dx, x, (size_t)(n * d) * 4, cudaMemcpyHostToDevice);
    fkm_cuda_matrix dm = {dx, FKM_F32, 1, n, d, NULL};
    float *c[2] = {malloc((size_t)(k * d) * 4), malloc((size_t)(k * d) * 4)};
    for (int i = 0; i < 2; i++) {
        p.init = i ? FKM_INIT_KMEANS_PARALLEL : FKM_INIT_AUTO;
        st[i] = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
        cudaMemcpy(c[i], dc, (size_t)(k * d) * 4, cudaMemcpyDeviceToHost);
    }
    CHECK(st[0] == FKM_OK && st[1] == FKM_OK, "device fit, init auto / k-means||: %s", fkm_last_error());
    CHECK(!memcmp(c[0], c[1], (size_t)(k * d) * 4), "device API: init auto is not k-means||");
    free(c[0]), free(c[1]);
    cudaFree(dx), cudaFree(dc);
#endif
    free(x64), free(x);
}

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    const int small = getenv("FKM_TEST_SMALL") && atoi(getenv("FKM_TEST_SMALL"));
    test_auto_is_par();
    test_kpp_host(3000, 16, 12, 0);
    test_kpp_host(5000, 33, 40, 1);
    if (!small) test_kpp_host(70000, 96, 300, 0); /* several per-block sums, more trials */
    test_exact_distances(FKM_PREC_EXACT, FKM_F32);
    test_exact_distances(FKM_PREC_TF32, FKM_F32);
    test_exact_distances(FKM_PREC_FP16, FKM_F16);
#ifdef FKM_HAVE_CUDA
    test_kpp_device(1, 4000, 24, 16);
    test_kpp_device(3, 2500, 40, 20);
    test_kpp_device(70000, 16, 4, 3); /* more problems than a grid's y dimension holds */
    test_device_inout_init();
    if (!small) {
        test_oom();
        test_cuda_error(); /* a sticky fault, if any, ends the GPU part: run it last */
    }
#endif
    return check_report();
}
