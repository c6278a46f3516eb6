/* test_cuda_par.c -- k-means|| on the GPU (FKM_INIT_KMEANS_PARALLEL with device=cuda, and the
 * device-pointer API, batches): the documented guarantees of the host version (test_init_par.c)
 * at every precision -- centroids are distinct data rows, the same bits on a second run, every
 * well-separated blob gets one, k = 1 and k = n, duplicate rows, weights (zero-weight rows only
 * when fewer than k distinct rows carry weight) -- and a potential comparable to the host's.
 * Skipped (exit 77) without a GPU. */
#include "rows.h"
#include "test_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>
#endif

/* Round x in place to what the precision's compute copy holds, so centroids (rows of that copy)
 * compare equal to rows of x. */
static void round_for(fkm_precision prec, float *x, int64_t nd) {
    for (int64_t i = 0; prec == FKM_PREC_FP16 && i < nd; i++) x[i] = h2f(f2h(x[i]));
    for (int64_t i = 0; prec == FKM_PREC_BF16 && i < nd; i++) x[i] = bf2f(f2bf(x[i]));
}

/* Initial centroids only on `dev` (the CPU: exact); c: k x d; *pot: their potential. */
static fkm_status par_init(fkm_device dev, fkm_precision prec, const float *x, const float *w, int64_t n, int64_t d,
                           int64_t k, uint64_t seed, float *c, double *pot) {
    return par_centroids(dev, dev == FKM_DEVICE_CUDA ? prec : FKM_PREC_EXACT, 0, FKM_METRIC_L2, x, w, n, d, k, seed, c,
                         pot);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static const char *pname(fkm_precision p) {
    return p == FKM_PREC_FP16 ? "fp16" : p == FKM_PREC_BF16 ? "bf16" : p == FKM_PREC_TF32 ? "tf32" : "exact";
}

/* Distinct data rows, the same bits twice, potential within 1.25x of the host's (3 seeds). */
static void test_basic(fkm_precision prec, int64_t n, int64_t d, int64_t k, int64_t blobs) {
    float *x = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(50 + (uint64_t)k, n, d, blobs, 1.0, x64, x);
    round_for(prec, x, n * d);
    float *c1 = malloc((size_t)(k * d) * 4), *c2 = malloc((size_t)(k * d) * 4);
    double gpot = 0, hpot = 0, p1 = 0, p2 = 0;
    double tg = 0, th = 0;
    int64_t bad = 0, dups = 0, differ = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        double t0 = now_s();
        fkm_status s1 = par_init(FKM_DEVICE_CUDA, prec, x, NULL, n, d, k, seed, c1, &p1);
        tg += now_s() - t0;
        fkm_status s2 = par_init(FKM_DEVICE_CUDA, prec, x, NULL, n, d, k, seed, c2, NULL);
        CHECK(s1 == FKM_OK && s2 == FKM_OK, "%s n=%lld k=%lld: %s", pname(prec), (long long)n, (long long)k,
              fkm_last_error());
        if (s1 != FKM_OK || s2 != FKM_OK) break;
        differ += memcmp(c1, c2, (size_t)(k * d) * 4) != 0;
        for (int64_t j = 0; j < k; j++) bad += find_row(x, n, d, c1 + j * d) < 0;
        dups += count_duplicates(c1, k, d);
        gpot += p1;
        t0 = now_s();
        CHECK(par_init(FKM_DEVICE_CPU, prec, x, NULL, n, d, k, seed, c2, &p2) == FKM_OK, "%s", fkm_last_error());
        th += now_s() - t0;
        hpot += p2;
    }
    printf("k-means|| %s n=%lld d=%lld k=%lld: potential GPU %.6g host %.6g; seconds GPU %.3f host %.3f (wall, first runs included)\n",
           pname(prec), (long long)n, (long long)d, (long long)k, gpot, hpot, tg, th);
    CHECK(bad == 0 && dups == 0 && differ == 0, "%s n=%lld k=%lld: %lld centroids not data rows, %lld duplicates, "
          "%lld runs differ", pname(prec), (long long)n, (long long)k, (long long)bad, (long long)dups, (long long)differ);
    CHECK(gpot <= 1.25 * hpot && hpot <= 1.25 * gpot, "%s n=%lld k=%lld: potential GPU %g vs host %g", pname(prec),
          (long long)n, (long long)k, gpot, hpot);
    free(x); free(x64); free(c1); free(c2);
}

/* Well-separated blobs, k = blobs: exactly one centroid in each, 10 seeds. */
static void test_blobs(fkm_precision prec) {
    const int64_t n = 6000, d = 8, k = 40;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c = malloc((size_t)(k * d) * sizeof(float));
    int32_t *blob = malloc((size_t)n * sizeof(int32_t));
    int64_t *hits = malloc((size_t)k * sizeof(int64_t));
    separated_blobs(5, n, d, k, x, blob);
    for (int64_t i = 0; prec == FKM_PREC_FP16 && i < n * d; i++) x[i] *= 0.125f; /* under fp16's 65504 */
    round_for(prec, x, n * d);
    int64_t missed = 0, bad = 0;
    for (uint64_t seed = 0; seed < 10; seed++) {
        CHECK(par_init(FKM_DEVICE_CUDA, prec, x, NULL, n, d, k, seed, c, NULL) == FKM_OK, "%s", fkm_last_error());
        memset(hits, 0, (size_t)k * sizeof(int64_t));
        for (int64_t j = 0; j < k; j++) {
            const int64_t i = find_row(x, n, d, c + j * d);
            bad += i < 0;
            if (i >= 0) hits[blob[i]]++;
        }
        for (int64_t b = 0; b < k; b++) missed += hits[b] != 1;
    }
    CHECK(missed == 0 && bad == 0, "%s blobs: %lld blobs without exactly one centroid, %lld not data rows", pname(prec),
          (long long)missed, (long long)bad);
    free(x); free(c); free(blob); free(hits);
}

/* k = 1, k = n (every row once: the fill), n = 1, d = 1. */
static void test_k1_kn(void) {
    const int64_t n = 500, d = 5;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c = malloc((size_t)(n * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(21, n, d, 4, 1.0, x64, x);
    CHECK(par_init(FKM_DEVICE_CUDA, FKM_PREC_EXACT, x, NULL, n, d, 1, 0, c, NULL) == FKM_OK && find_row(x, n, d, c) >= 0,
          "k=1: %s", fkm_last_error());
    CHECK(par_init(FKM_DEVICE_CUDA, FKM_PREC_EXACT, x, NULL, n, d, n, 0, c, NULL) == FKM_OK, "k=n: %s", fkm_last_error());
    int64_t missing = 0;
    for (int64_t i = 0; i < n; i++) missing += find_row(c, n, d, x + i * d) < 0;
    CHECK(missing == 0 && count_duplicates(c, n, d) == 0, "k=n: %lld rows are not centroids", (long long)missing);
    CHECK(par_init(FKM_DEVICE_CUDA, FKM_PREC_EXACT, x, NULL, 1, d, 1, 0, c, NULL) == FKM_OK &&
          !memcmp(c, x, (size_t)d * sizeof(float)), "n=1: %s", fkm_last_error());
    CHECK(par_init(FKM_DEVICE_CUDA, FKM_PREC_EXACT, x, NULL, n * d, 1, 30, 4, c, NULL) == FKM_OK &&
          count_duplicates(c, 30, 1) == 0, "d=1: %s", fkm_last_error());
    free(x); free(x64); free(c);
}

/* 3000 rows, copies of 7 distinct ones (+0 and -0 alike): distinct centroids while possible. */
static void test_duplicate_rows(fkm_precision prec) {
    const int64_t n = 3000, d = 3, distinct = 7;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c = malloc((size_t)(12 * d) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) {
            const int64_t v = (i * 5) % distinct;
            x[i * d + j] = j == 2 ? (v == 0 && i % 2 ? -0.0f : 0.0f) : (float)(v * (j + 1));
        }
    for (int64_t k = 1; k <= 12; k++) {
        CHECK(par_init(FKM_DEVICE_CUDA, prec, x, NULL, n, d, k, 3, c, NULL) == FKM_OK, "k=%lld: %s", (long long)k,
              fkm_last_error());
        const int64_t dups = count_duplicates(c, k, d);
        int64_t bad = 0;
        for (int64_t j = 0; j < k; j++) bad += find_row(x, n, d, c + j * d) < 0;
        CHECK(dups == (k > distinct ? k - distinct : 0) && bad == 0, "%s duplicates k=%lld: %lld duplicates, %lld not "
              "data rows", pname(prec), (long long)k, (long long)dups, (long long)bad);
    }
    free(x); free(c);
}

/* Zero-weight rows (far away, favoured by plain D^2) never chosen while weighted rows remain;
 * k = 700 > 667 weighted rows: exactly the missing number of zero-weight rows, all distinct. */
static void test_weights(fkm_precision prec) {
    const int64_t n = 2000, d = 4;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(31, n, d, 6, 1.0, x64, x);
    for (int64_t i = 0; i < n; i++) {
        w[i] = i % 3 == 0 ? 1.0f + (float)(i % 4) : 0.0f;
        if (i % 3) x[i * d] += 1000.0f;
    }
    round_for(prec, x, n * d);
    float *c = malloc((size_t)(n * d) * sizeof(float)), *xw = malloc((size_t)(n * d) * sizeof(float));
    int64_t nw = 0; /* distinct weighted rows (rounding may merge a few) */
    for (int64_t i = 0; i < n; i += 3) memcpy(xw + (nw++) * d, x + i * d, (size_t)d * sizeof(float));
    nw -= count_duplicates(xw, nw, d);
    const int64_t ks[] = {1, 5, 50, 400, 600, 700};
    for (int q = 0; q < 6; q++) {
        const int64_t k = ks[q];
        CHECK(par_init(FKM_DEVICE_CUDA, prec, x, w, n, d, k, 9, c, NULL) == FKM_OK, "%s", fkm_last_error());
        int64_t zero = 0, bad = 0;
        for (int64_t j = 0; j < k; j++) {
            const int64_t i = find_row(x, n, d, c + j * d);
            bad += i < 0;
            zero += i >= 0 && w[i] == 0;
        }
        CHECK(bad == 0 && zero == (k > nw ? k - nw : 0) && count_duplicates(c, k, d) == 0,
              "%s weights k=%lld: %lld not data rows, %lld zero-weight rows, %lld duplicates", pname(prec), (long long)k,
              (long long)bad, (long long)zero, (long long)count_duplicates(c, k, d));
    }
    free(x); free(x64); free(w); free(c); free(xw);
}

/* The fill counts distinct rows: hidden_levels (rows.h) gives eight distinct centroids at k = 8,
 * and the weights of the candidates are those of their rows: two_masses puts the k = 1 centroid
 * in the heavy blob (both fail if duplicates or counts stand in). */
static void test_fill_and_mass(fkm_precision prec) {
    float x[4000], w[2000], c[16];
    hidden_levels(x);
    int64_t dups = 0, bad = 0, in_b = 0;
    for (uint64_t seed = 0; seed < 5; seed++) {
        CHECK(par_init(FKM_DEVICE_CUDA, prec, x, NULL, 800, 2, 8, seed, c, NULL) == FKM_OK, "%s", fkm_last_error());
        dups += count_duplicates(c, 8, 2);
        for (int j = 0; j < 8; j++) bad += find_row(x, 800, 2, c + 2 * j) < 0;
    }
    two_masses(3, x, w);
    for (uint64_t seed = 0; seed < 20; seed++) {
        CHECK(par_init(FKM_DEVICE_CUDA, prec, x, w, 2000, 2, 1, seed, c, NULL) == FKM_OK, "%s", fkm_last_error());
        in_b += c[0] > 50.0f;
    }
    CHECK(dups == 0 && bad == 0 && in_b <= 2, "%s: hidden levels: %lld duplicates, %lld not data rows (5 seeds); "
          "two masses: %lld of 20 centroids in the light blob", pname(prec), (long long)dups, (long long)bad,
          (long long)in_b);
}

/* Cosine: the centroids are distinct unit-length data rows (the rows the engine normalised). */
static void test_cosine(void) {
    const int64_t n = 4000, d = 16, k = 60;
    float *x = malloc((size_t)(n * d) * sizeof(float)), *c = malloc((size_t)(k * d) * sizeof(float));
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    gen_blobs(61, n, d, 25, 1.0, x64, x);
    for (int64_t i = 0; i < n; i++) { /* x64: the unit rows */
        double s = 0;
        for (int64_t j = 0; j < d; j++) s += x64[i * d + j] * x64[i * d + j];
        for (int64_t j = 0; j < d; j++) x64[i * d + j] /= sqrt(s);
    }
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 0; p.init = FKM_INIT_KMEANS_PARALLEL; p.metric = FKM_METRIC_COSINE; p.seed = 2;
    p.device = FKM_DEVICE_CUDA; p.precision = FKM_PREC_FP16;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "cosine: %s", fkm_last_error());
    int64_t far = 0;
    for (int64_t j = 0; st == FKM_OK && j < k; j++) { /* within fp16 rounding of a unit row */
        double best = INFINITY;
        for (int64_t i = 0; i < n; i++) {
            double e = 0;
            for (int64_t q = 0; q < d; q++) e += (r.centroids[j * d + q] - x64[i * d + q]) * (r.centroids[j * d + q] - x64[i * d + q]);
            best = fmin(best, e);
        }
        far += best > 1e-5;
    }
    CHECK(st != FKM_OK || (far == 0 && count_duplicates(r.centroids, k, d) == 0),
          "cosine: %lld centroids not unit data rows, %lld duplicates", (long long)far,
          st == FKM_OK ? (long long)count_duplicates(r.centroids, k, d) : -1LL);
    if (st == FKM_OK) fkm_result_free(&r);
    free(x); free(x64); free(c);
}

#ifdef FKM_HAVE_CUDA
/* Device-pointer API with device weights, b = 2: zero-weight rows (far away) only when fewer than
 * k distinct rows carry weight; then exactly the missing number. */
static void test_device_weights(void) {
    const int64_t b = 2, n = 3000, d = 8;
    double *x64 = malloc((size_t)(b * n * d) * sizeof(double));
    float *x = malloc((size_t)(b * n * d) * sizeof(float)), *w = malloc((size_t)(b * n) * sizeof(float));
    gen_blobs(83, b * n, d, 12, 1.0, x64, x);
    for (int64_t i = 0; i < b * n; i++) {
        w[i] = i % 3 == 0 ? 0.5f + (float)(i % 7) : 0.0f;
        if (i % 3) x[i * d] += 1000.0f;
    }
    const int64_t nw = n / 3; /* weighted rows per problem (3000 and 3 divide evenly) */
    void *dx = NULL, *dw = NULL, *dc = NULL;
    const int64_t ks[2] = {200, nw + 25};
    cudaMalloc(&dx, (size_t)(b * n * d) * 4);
    cudaMalloc(&dw, (size_t)(b * n) * 4);
    cudaMalloc(&dc, (size_t)(b * ks[1] * d) * 4);
    cudaMemcpy(dx, x, (size_t)(b * n * d) * 4, cudaMemcpyHostToDevice);
    cudaMemcpy(dw, w, (size_t)(b * n) * 4, cudaMemcpyHostToDevice);
    float *c = malloc((size_t)(b * ks[1] * d) * 4);
    for (int q = 0; q < 2; q++) {
        const int64_t k = ks[q];
        fkm_params p;
        fkm_params_default(&p);
        p.k = k; p.max_iter = 0; p.init = FKM_INIT_KMEANS_PARALLEL; p.seed = 4; p.precision = FKM_PREC_TF32;
        fkm_cuda_matrix dm = {dx, FKM_F32, b, n, d, (const float *)dw};
        fkm_status st = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
        CHECK(st == FKM_OK, "device weights k=%lld: %s", (long long)k, fkm_last_error());
        cudaMemcpy(c, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
        int64_t bad = 0, zero = 0, dups = 0;
        for (int64_t pr = 0; pr < b; pr++) {
            for (int64_t j = 0; j < k; j++) {
                const int64_t i = find_row(x + pr * n * d, n, d, c + (pr * k + j) * d);
                bad += i < 0;
                zero += i >= 0 && w[pr * n + i] == 0;
            }
            dups += count_duplicates(c + pr * k * d, k, d);
        }
        CHECK(bad == 0 && dups == 0 && zero == b * (k > nw ? k - nw : 0),
              "device weights k=%lld: %lld not rows of their problem, %lld duplicates, %lld zero-weight rows (want %lld)",
              (long long)k, (long long)bad, (long long)dups, (long long)zero, (long long)(b * (k > nw ? k - nw : 0)));
    }
    free(x64); free(x); free(w); free(c);
    cudaFree(dx); cudaFree(dw); cudaFree(dc);
}

/* Device-pointer API on a batch of b problems (dtype t): each problem's centroids are distinct
 * rows of that problem, the same bits on a second run; a fit from them runs. */
static void test_device(int64_t b, int64_t n, int64_t d, int64_t k, fkm_dtype t) {
    const int64_t nd = b * n * d;
    double *x64 = malloc((size_t)nd * sizeof(double));
    float *x = malloc((size_t)nd * sizeof(float));
    gen_blobs(77, b * n, d, k, 0.5, x64, x);
    void *hin = make_input(t, x, x64, nd);
    for (int64_t i = 0; i < nd; i++) x[i] = (float)x64[i]; /* the values the GPU holds */
    const size_t es = t == FKM_F32 ? 4 : 2;
    void *dx = NULL, *dc = NULL;
    cudaMalloc(&dx, (size_t)nd * es);
    cudaMalloc(&dc, (size_t)(b * k * d) * 4);
    cudaMemcpy(dx, hin, (size_t)nd * es, cudaMemcpyHostToDevice);
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 0; p.init = FKM_INIT_KMEANS_PARALLEL; p.seed = 5; p.device = FKM_DEVICE_CUDA;
    p.precision = t == FKM_F16 ? FKM_PREC_FP16 : FKM_PREC_TF32;
    fkm_cuda_matrix dm = {dx, t, b, n, d, NULL};
    float *c1 = malloc((size_t)(b * k * d) * 4), *c2 = malloc((size_t)(b * k * d) * 4);
    fkm_status s1 = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    cudaMemcpy(c1, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
    fkm_status s2 = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    cudaMemcpy(c2, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
    p.max_iter = 5;
    fkm_status s3 = fkm_cuda_fit(&p, &dm, (float *)dc, NULL, NULL, NULL, NULL, NULL, 0, NULL);
    CHECK(s1 == FKM_OK && s2 == FKM_OK && s3 == FKM_OK, "device k-means|| b=%lld: %s", (long long)b, fkm_last_error());
    int64_t bad = 0, dups = 0;
    for (int64_t q = 0; q < b; q++) {
        for (int64_t j = 0; j < k; j++) bad += find_row(x + q * n * d, n, d, c1 + (q * k + j) * d) < 0;
        dups += count_duplicates(c1 + q * k * d, k, d);
    }
    CHECK(bad == 0 && dups == 0 && !memcmp(c1, c2, (size_t)(b * k * d) * 4),
          "device k-means|| b=%lld n=%lld k=%lld: %lld centroids not rows of their problem, %lld duplicates, runs %s",
          (long long)b, (long long)n, (long long)k, (long long)bad, (long long)dups,
          memcmp(c1, c2, (size_t)(b * k * d) * 4) ? "differ" : "agree");
    free(c1); free(c2); free(x64); free(x); free(hin);
    cudaFree(dx); cudaFree(dc);
}

/* The memory estimate counts k-means||'s temporaries. */
static void test_estimate(void) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = 1000; p.device = FKM_DEVICE_CUDA;
    fkm_matrix m = {NULL, FKM_F32, 1000000, 64, NULL};
    size_t random = 0, par = 0;
    p.init = FKM_INIT_RANDOM;
    fkm_status s1 = fkm_gpu_memory_estimate(&p, &m, &random);
    p.init = FKM_INIT_KMEANS_PARALLEL;
    fkm_status s2 = fkm_gpu_memory_estimate(&p, &m, &par);
    /* at least its distances and nearest candidates: 8 bytes a point */
    CHECK(s1 == FKM_OK && s2 == FKM_OK && par >= random + 8 * (size_t)m.n, "estimate random %zu k-means|| %zu (%s)",
          random, par, fkm_last_error());
}
#endif

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
    /* FKM_TEST_SMALL: 1 for the sanitizers (fewer cases), 2 for racecheck (fewer still) */
    const int small = getenv("FKM_TEST_SMALL") ? atoi(getenv("FKM_TEST_SMALL")) : 0;
    const fkm_precision precs[] = {FKM_PREC_EXACT, FKM_PREC_FP16, FKM_PREC_TF32, FKM_PREC_BF16};
#ifdef FKM_HAVE_CUDA
    if (small >= 2) { /* racecheck: each path once (sampling, fill, batches) */
        test_basic(FKM_PREC_FP16, 3000, 16, 40, 20);
        test_k1_kn();
        test_device(3, 2500, 40, 20, FKM_F32);
        return check_report();
    }
#endif
    for (int q = 0; q < (small ? 2 : 4); q++) { /* small (sanitizers): exact and fp16 */
        test_basic(precs[q], 4000, 16, 60, 25);
        test_blobs(precs[q]);
        test_duplicate_rows(precs[q]);
        test_weights(precs[q]);
    }
    test_k1_kn();
    test_cosine();
    test_fill_and_mass(FKM_PREC_EXACT);
    test_fill_and_mass(FKM_PREC_TF32);
    if (!small) {
        test_basic(FKM_PREC_FP16, 200000, 64, 512, 600); /* several passes per round, many blocks */
        test_basic(FKM_PREC_TF32, 100000, 100, 2000, 2000);
    }
#ifdef FKM_HAVE_CUDA
    test_device(1, 4000, 24, 16, FKM_F32);
    test_device(3, 2500, 40, 20, FKM_F32);
    test_device(2, 3000, 128, 50, FKM_F16);
    test_device_weights();
    test_device(70000, 16, 4, 3, FKM_F32); /* more problems than a grid's y dimension holds */
    test_estimate();
#endif
    return check_report();
}
