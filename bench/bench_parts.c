/* bench_parts.c -- time the CPU engine's stages separately (assign, update) on raw float32
 * files, for tuning. usage: fkm_bench_parts DATA.f32 N D INIT.f32 K REPS [THREADS] [KERNEL] */
#include "cpu/cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static float *read_f32(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    float *v = f ? malloc(count * sizeof(float)) : NULL;
    if (!v || fread(v, sizeof(float), count, f) != count) { fprintf(stderr, "cannot read %s\n", path); exit(2); }
    fclose(f);
    return v;
}

/* CPU time of the whole process: with one thread, immune to other processes on the machine. */
static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

int main(int argc, char **argv) {
    if (argc < 7) { fprintf(stderr, "usage: %s DATA.f32 N D INIT.f32 K REPS [THREADS] [KERNEL]\n", argv[0]); return 2; }
    const int64_t n = atoll(argv[2]), d = atoll(argv[3]), k = atoll(argv[5]);
    const int reps = atoi(argv[6]), threads = argc > 7 ? atoi(argv[7]) : 2;
    if (argc > 8 && fkm_cpu_assign_set_kernel(argv[8]) != 0) { fprintf(stderr, "no kernel %s\n", argv[8]); return 2; }
    /* blocking overrides for tuning experiments: TUNE_DPASS, TUNE_CPP, TUNE_TBLOCK, TUNE_NOPF, TUNE_SCALARPACK */
    fkm_cpu_assign_tuning tu0 = {getenv("TUNE_DPASS") ? atoll(getenv("TUNE_DPASS")) : 0,
                                 getenv("TUNE_CPP") ? atoll(getenv("TUNE_CPP")) : 0,
                                 getenv("TUNE_TBLOCK") ? atoll(getenv("TUNE_TBLOCK")) : 0, getenv("TUNE_NOPF") != NULL, getenv("TUNE_SCALARPACK") != NULL};
    fkm_cpu_assign_set_tuning(&tu0);
    float *x = read_f32(argv[1], (size_t)(n * d)), *c = read_f32(argv[4], (size_t)(k * d));
    float *xterm = malloc((size_t)n * sizeof(float)), *cterm = malloc((size_t)k * sizeof(float));
    float *best = malloc((size_t)n * sizeof(float));
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    int64_t *counts = malloc((size_t)k * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) { float s = 0; for (int64_t j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j]; xterm[i] = s; }
    for (int64_t i = 0; i < k; i++) { float s = 0; for (int64_t j = 0; j < d; j++) s += c[i * d + j] * c[i * d + j]; cterm[i] = s; }
    fkm_cpu_assign_args a = {x, xterm, c, cterm, n, d, k, 2.0f, 1, threads};
    double ta = 1e30, tu = 1e30, ca = 1e30, cu = 1e30;
    float *c2 = malloc((size_t)(k * d) * sizeof(float));
    for (int r = 0; r < reps; r++) {
        double c0 = cpu_ms(), t0 = fkm_now_ms();
        fkm_cpu_assign(&a, lab, best);
        double c1 = cpu_ms(), t1 = fkm_now_ms();
        fkm_cpu_update(x, NULL, lab, n, d, k, threads, c2, counts);
        double c2t = cpu_ms(), t2 = fkm_now_ms();
        if (c1 - c0 < ca) ca = c1 - c0;
        if (c2t - c1 < cu) cu = c2t - c1;
        if (t1 - t0 < ta) ta = t1 - t0;
        if (t2 - t1 < tu) tu = t2 - t1;
    }
    double gf = 2.0 * n * k * d / (ta * 1e6);
    printf("kernel %s threads %d: assign %.2f ms (%.1f GFLOP/s; cpu %.2f ms), update %.2f ms (cpu %.2f ms) (best of %d)\n",
           fkm_cpu_assign_kernel(), threads, ta, gf, ca, tu, cu, reps);
    return 0;
}
