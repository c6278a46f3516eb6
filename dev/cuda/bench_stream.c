/* bench_stream.c -- issue 5's benchmarks of the scale engine (src/cuda/scale/):
 *   stream:  N = 2^25, K = 4096, D = 128 float32 in host memory with the GPU-memory cap at 4 GiB,
 *            so most rows are streamed every iteration; with the pinned host->device copy
 *            ceiling measured in the same run (cudaMemcpy of 1 GiB from cudaMallocHost memory,
 *            median of 5) -- the achieved rate is (streamed bytes / iteration time), the streamed
 *            rows printed by the engine on stderr (FKM_CU_PROFILE=1);
 *   gpus:    N = 2^26, K = 8192, D = 128 on 1 and 2 GPUs (one GPU also on the resident engine).
 * Prints one JSON line per run.
 * Build: gcc -O2 -fopenmp -Iinclude -I/usr/local/cuda/include -c dev/cuda/bench_stream.c &&
 *        nvcc bench_stream.o build-dev/libflashkmeans.a -Xcompiler -fopenmp -lz -o bench_stream
 * Run:  ./bench_stream N K D ITERS CAP_GIB GPUS PREC [SCALE]   (PREC tf32|fp16; SCALE 1: the
 *       scale engine even when the data fits one GPU) */
#include <flashkmeans.h>

#include "bench_common.h"

#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Median GB/s of 5 copies of 1 GiB from pinned host memory to GPU 0 (after one warm-up). */
static double pinned_ceiling(void) {
    const size_t bytes = (size_t)1 << 30;
    void *h = NULL, *dv = NULL;
    if (cudaMallocHost(&h, bytes) != cudaSuccess || cudaMalloc(&dv, bytes) != cudaSuccess) return -1.0;
    memset(h, 0x5a, bytes);
    double r[5];
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    cudaMemcpy(dv, h, bytes, cudaMemcpyHostToDevice);
    for (int i = 0; i < 5; i++) {
        float ms = 0;
        cudaEventRecord(a, 0);
        cudaMemcpyAsync(dv, h, bytes, cudaMemcpyHostToDevice, 0);
        cudaEventRecord(b, 0);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
        r[i] = (double)bytes / (ms * 1e6);
    }
    qsort(r, 5, sizeof(double), cmp_d);
    cudaFreeHost(h);
    cudaFree(dv);
    return r[2];
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: bench_stream N K D ITERS CAP_GIB GPUS tf32|fp16 [SCALE]\n");
        return 2;
    }
    const int64_t n = atoll(argv[1]), k = atoll(argv[2]), d = atoll(argv[3]);
    const int iters = atoi(argv[4]), gpus = atoi(argv[6]);
    const double cap_gib = atof(argv[5]);
    const fkm_precision prec = strcmp(argv[7], "fp16") == 0 ? FKM_PREC_FP16 : FKM_PREC_TF32;
    if (argc > 8 && atoi(argv[8]) == 1) setenv("FKM_CU_SCALE", "1", 1);
    const double ceiling = pinned_ceiling();
    float *x = malloc((size_t)(n * d) * sizeof(float));
    if (!x) { fprintf(stderr, "out of host memory\n"); return 1; }
    bench_fill(x, n, d);
    fkm_params p = bench_params(k, iters, prec);
    p.gpu_mem_limit = (size_t)(cap_gib * (double)((size_t)1 << 30));
    p.gpu_count = gpus;
    fkm_result r;
    double call_ms;
    const fkm_status st = bench_fit_timed(&p, x, n, d, &r, &call_ms);
    if (st != FKM_OK) {
        printf("{\"n\":%lld,\"gpus\":%d,\"error\":\"%s\"}\n", (long long)n, gpus, fkm_last_error());
        return 1;
    }
    printf("{\"iteration_ms\":[");
    for (int i = 0; i < r.iterations; i++) printf("%s%.1f", i ? "," : "", r.stats[i].ms);
    printf("]}\n");
    double *ms = malloc(sizeof(double) * (size_t)r.iterations), sum = 0;
    for (int i = 0; i < r.iterations; i++) sum += (ms[i] = r.stats[i].ms);
    qsort(ms, (size_t)r.iterations, sizeof(double), cmp_d);
    printf("{\"n\":%lld,\"k\":%lld,\"d\":%lld,\"precision\":\"%s\",\"gpus\":%d,\"cap_gib\":%.2f,\"scale_forced\":%d,"
           "\"iterations\":%d,\"ms_per_iter\":%.2f,\"ms_per_iter_min\":%.2f,\"ms_call\":%.0f,\"ms_outside_iterations\":%.0f,"
           "\"pinned_h2d_gbs\":%.2f,\"inertia\":%.9g}\n",
           (long long)n, (long long)k, (long long)d, argv[7], gpus, cap_gib, argc > 8 && atoi(argv[8]) == 1, r.iterations,
           ms[r.iterations / 2], ms[0], call_ms, call_ms - sum, ceiling, r.inertia);
    free(ms);
    fkm_result_free(&r);
    free(x);
    return 0;
}
