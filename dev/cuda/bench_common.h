/* bench_common.h -- pieces shared by the host-data benchmarks (bench_host.c, bench_stream.c):
 * a monotonic clock, a comparator for medians, the benchmark data and the timed fit. */
#ifndef FKM_BENCH_COMMON_H
#define FKM_BENCH_COMMON_H

#include <flashkmeans.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* n x d float32: hashed uniform in [-1, 1) plus a per-row offset -- never zeros, the same bits for
 * any thread count. */
static void bench_fill(float *x, int64_t n, int64_t d) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n * d; i++) {
        uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + 7;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        x[i] = (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0) + (float)((i / d) % 37) * 0.05f;
    }
}

/* The benchmarks' parameters: k random rows as initial centroids (seed 1), a fixed number of
 * iterations on the GPU in precision prec; the caller may set more (memory cap, GPUs). */
static fkm_params bench_params(int64_t k, int iters, fkm_precision prec) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = iters; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_RANDOM; p.seed = 1;
    p.device = FKM_DEVICE_CUDA; p.precision = prec;
    return p;
}

/* fkm_fit of the n x d float32 rows x into *r (zeroed first); *call_ms: the whole call. */
static fkm_status bench_fit_timed(const fkm_params *p, const float *x, int64_t n, int64_t d, fkm_result *r,
                                  double *call_ms) {
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    memset(r, 0, sizeof *r);
    const double t0 = now_ms();
    const fkm_status st = fkm_fit(p, &m, r);
    *call_ms = now_ms() - t0;
    return st;
}
#endif
