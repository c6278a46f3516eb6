/* bench_init.c -- the cost of the initialisations on the GPU: greedy k-means++ and k-means|| on
 * device-resident data (fkm_cuda_fit with max_iter = 0), against the host's k-means|| (fkm_fit,
 * device = cpu, all threads) on the same rows. Data: n points around 4k Gaussian centres in
 * [-1, 1)^d (spread 0.1), float32 on the GPU, computed at the given precision.
 * Prints one JSON line per (case, method): median seconds of 3 calls after a warm-up, and the
 * potential (inertia of the initial centroids).
 * Build: gcc -O2 -fopenmp -Iinclude -I/usr/local/cuda/include -c dev/cuda/bench_init.c && nvcc bench_init.o build-dev/libflashkmeans.a -Xcompiler -fopenmp -lz -o bench_init
 * Run:  ./bench_init [n k d [host [seed]]]   (default: the cases below, seed 1; host=1 adds the CPU's
 *       k-means||) */
#include <flashkmeans.h>
#include <flashkmeans_cuda.h>

#include "bench_common.h"

#include <cuda_runtime_api.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unif(uint64_t a, uint64_t b) { return (double)(mix(mix(a) ^ b) >> 11) * 0x1.0p-53; }

static void blobs(float *x, int64_t n, int64_t d, int64_t centres) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const uint64_t c = mix((uint64_t)i) % (uint64_t)centres;
        for (int64_t j = 0; j < d; j++) {
            const double u1 = unif(i * 131 + j, 7) + 1e-12, u2 = unif(i * 131 + j, 9);
            const double g = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
            x[i * d + j] = (float)(2.0 * unif(c * 977 + j, 3) - 1.0 + 0.1 * g);
        }
    }
}

static const char *name_of(fkm_init m) { return m == FKM_INIT_KMEANSPP ? "k-means++" : "k-means||"; }

/* Median of 3 timed calls (after one warm-up) of the device API's initialisation. */
static uint64_t g_seed = 1;

static int time_gpu(const float *dx, int64_t n, int64_t d, int64_t k, fkm_precision prec, fkm_init m, float *dc,
                    double *sec, double *pot) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 0; p.init = m; p.seed = g_seed; p.precision = prec; p.device = FKM_DEVICE_CUDA;
    fkm_cuda_matrix dm = {dx, FKM_F32, 1, n, d, NULL};
    double t[4];
    for (int r = 0; r < 4; r++) {
        const double t0 = now_ms();
        if (fkm_cuda_fit(&p, &dm, dc, NULL, NULL, pot, NULL, NULL, 0, NULL) != FKM_OK) return 0;
        t[r] = (now_ms() - t0) / 1000.0;
    }
    qsort(t + 1, 3, sizeof(double), cmp_d);
    *sec = t[2];
    return 1;
}

static void run_case(int64_t n, int64_t k, int64_t d, int host) {
    float *x = malloc((size_t)(n * d) * sizeof(float)), *dx = NULL, *dc = NULL;
    blobs(x, n, d, 4 * k);
    if (cudaMalloc((void **)&dx, (size_t)(n * d) * 4) != cudaSuccess || cudaMalloc((void **)&dc, (size_t)(k * d) * 4) != cudaSuccess ||
        cudaMemcpy(dx, x, (size_t)(n * d) * 4, cudaMemcpyHostToDevice) != cudaSuccess) {
        fprintf(stderr, "GPU memory for n=%lld\n", (long long)n);
        return;
    }
    const fkm_init ms[2] = {FKM_INIT_KMEANS_PARALLEL, FKM_INIT_KMEANSPP};
    for (int q = 0; q < 2; q++) {
        if (ms[q] == FKM_INIT_KMEANSPP && n * k > ((int64_t)1 << 30)) continue; /* minutes: skipped */
        double sec = 0, pot = 0;
        if (!time_gpu(dx, n, d, k, FKM_PREC_FP16, ms[q], dc, &sec, &pot)) {
            printf("{\"n\":%lld,\"k\":%lld,\"d\":%lld,\"method\":\"%s\",\"error\":\"%s\"}\n", (long long)n, (long long)k,
                   (long long)d, name_of(ms[q]), fkm_last_error());
            continue;
        }
        printf("{\"n\":%lld,\"k\":%lld,\"d\":%lld,\"method\":\"%s\",\"where\":\"gpu device data fp16\",\"seconds\":%.4f,"
               "\"potential\":%.6g}\n", (long long)n, (long long)k, (long long)d, name_of(ms[q]), sec, pot);
        fprintf(stderr, "n=%-8lld k=%-5lld d=%-4lld %-10s GPU   %8.3f s  potential %.6g\n", (long long)n, (long long)k,
                (long long)d, name_of(ms[q]), sec, pot);
    }
    if (host) {
        fkm_params p;
        fkm_params_default(&p);
        p.k = k; p.max_iter = 0; p.init = FKM_INIT_KMEANS_PARALLEL; p.seed = g_seed; p.device = FKM_DEVICE_CPU;
        fkm_matrix m = {x, FKM_F32, n, d, NULL};
        fkm_result r;
        const double t0 = now_ms();
        const fkm_status st = fkm_fit(&p, &m, &r);
        const double sec = (now_ms() - t0) / 1000.0;
        if (st == FKM_OK) {
            printf("{\"n\":%lld,\"k\":%lld,\"d\":%lld,\"method\":\"k-means||\",\"where\":\"host cpu float32 all threads\","
                   "\"seconds\":%.4f,\"potential\":%.6g}\n", (long long)n, (long long)k, (long long)d, sec, r.inertia);
            fprintf(stderr, "n=%-8lld k=%-5lld d=%-4lld %-10s host  %8.3f s  potential %.6g\n", (long long)n,
                    (long long)k, (long long)d, "k-means||", sec, r.inertia);
            fkm_result_free(&r);
        }
    }
    cudaFree(dx); cudaFree(dc); free(x);
}

int main(int argc, char **argv) {
    if (argc > 5) g_seed = (uint64_t)atoll(argv[5]);
    if (argc > 3) {
        run_case(atoll(argv[1]), atoll(argv[2]), atoll(argv[3]), argc > 4 && atoi(argv[4]));
        return 0;
    }
    run_case(200000, 512, 64, 1);
    run_case(1000000, 1024, 128, 1);
    run_case(1000000, 4096, 128, 0);
    run_case(8000000, 1024, 128, 0);
    return 0;
}
