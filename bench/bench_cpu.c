/* bench_cpu.c -- time Lloyd iterations of the CPU engine through the public C API.
 *
 * usage: fkm_bench_cpu DATA.f32 N D INIT.f32 K ITERS [THREADS] [KERNEL]
 *   DATA.f32 / INIT.f32: raw little-endian float32, row-major (N x D and K x D).
 *   KERNEL: auto (default), avx512, avx2, portable, naive (internal hook, for comparisons).
 * Runs fkm_fit with init = INIT, stop = fixed, ITERS iterations; prints one JSON object with
 * the per-iteration times (ms) as measured by the library, and their median after the first. */
#include <flashkmeans.h>

#include "cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float *read_f32(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return NULL; }
    float *v = malloc(count * sizeof(float));
    if (!v || fread(v, sizeof(float), count, f) != count) {
        fprintf(stderr, "%s: short read (want %zu floats)\n", path, count);
        free(v);
        v = NULL;
    }
    fclose(f);
    return v;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s DATA.f32 N D INIT.f32 K ITERS [THREADS] [KERNEL]\n", argv[0]);
        return 2;
    }
    const int64_t n = atoll(argv[2]), d = atoll(argv[3]), k = atoll(argv[5]);
    const int iters = atoi(argv[6]), threads = argc > 7 ? atoi(argv[7]) : 0;
    const char *kernel = argc > 8 ? argv[8] : "auto";
    if (fkm_cpu_assign_set_kernel(kernel) != 0) {
        fprintf(stderr, "kernel %s is not available on this CPU\n", kernel);
        return 2;
    }
    float *x = read_f32(argv[1], (size_t)(n * d)), *c0 = read_f32(argv[4], (size_t)(k * d));
    if (!x || !c0) return 2;
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = iters; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_ARRAY;
    p.init_centroids = c0; p.device = FKM_DEVICE_CPU; p.threads = threads;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    const double t0 = fkm_now_ms();
    fkm_status st = fkm_fit(&p, &m, &r);
    const double wall = fkm_now_ms() - t0;
    if (st != FKM_OK) {
        fprintf(stderr, "fit failed: %s\n", fkm_last_error());
        return 1;
    }
    double ms[4096], sorted[4096];
    int it = r.iterations < 4096 ? r.iterations : 4096;
    for (int i = 0; i < it; i++) sorted[i] = ms[i] = r.stats[i].ms;
    /* median of the iterations after the first (warm-up) */
    int m0 = it > 1 ? 1 : 0;
    qsort(sorted + m0, (size_t)(it - m0), sizeof(double), cmp_d);
    double med = sorted[m0 + (it - m0) / 2], best = sorted[m0];
    printf("{\"tool\": \"flashkmeans\", \"kernel\": \"%s\", \"n\": %lld, \"d\": %lld, \"k\": %lld, \"iterations\": %d, "
           "\"median_ms\": %.3f, \"min_ms\": %.3f, \"wall_ms\": %.3f, \"inertia\": %.17g, \"ms\": [",
           fkm_cpu_assign_kernel(), (long long)n, (long long)d, (long long)k, r.iterations, med, best,
           wall, r.inertia);
    for (int i = 0; i < it; i++) printf("%s%.3f", i ? ", " : "", ms[i]);
    printf("], \"empty\": [");
    for (int i = 0; i < it; i++) printf("%s%lld", i ? ", " : "", (long long)r.stats[i].empty);
    printf("]}\n");
    fkm_result_free(&r);
    free(x);
    free(c0);
    return 0;
}
