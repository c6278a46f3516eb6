/* bench_common.h -- pieces shared by the host-data benchmarks (bench_host.c, bench_stream.c):
 * a monotonic clock, a comparator for medians, and the benchmark data. */
#ifndef FKM_BENCH_COMMON_H
#define FKM_BENCH_COMMON_H

#include <stdint.h>
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
#endif
