/* bench.c -- `flashkmeans bench`: ms per Lloyd iteration on synthetic Gaussian blobs, fixed
 * iteration count, random init (so the time is the iterations', not the seeding's). */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

enum { B_N, B_D, B_K, B_ITERS, B_DEVICE, B_PRECISION, B_THREADS, B_SEED, B_DTYPE, B_VERBOSE, B_HELP, B_COUNT };
static const cli_opt bench_opts[B_COUNT] = {
    [B_N] = {"n", 'n', 1}, [B_D] = {"d", 'd', 1}, [B_K] = {"k", 'k', 1}, [B_ITERS] = {"iters", 0, 1},
    [B_DEVICE] = {"device", 0, 1}, [B_PRECISION] = {"precision", 0, 1}, [B_THREADS] = {"threads", 0, 1},
    [B_SEED] = {"seed", 0, 1}, [B_DTYPE] = {"dtype", 0, 1}, [B_VERBOSE] = {"verbose", 'v', 0}, [B_HELP] = {"help", 'h', 0},
};

typedef struct {
    fkm_params p;
    int64_t n, d;
    fkm_dtype dtype;
    int help;
} bench_args;

static int on_pos(void *ctx, const char *w) {
    (void)ctx;
    return cli_error(CLI_BAD, "unexpected argument '%s' (bench takes only options)", w);
}

static int on_opt(void *ctx, int idx, const char *v) {
    bench_args *a = (bench_args *)ctx;
    switch (idx) {
    case B_N: return cli_int64("-n", v, 1, INT64_MAX, &a->n);
    case B_D: return cli_int64("-d", v, 1, INT32_MAX, &a->d);
    case B_K: return cli_int64("-k", v, 1, INT32_MAX, &a->p.k);
    case B_ITERS: return cli_int("--iters", v, 1, INT32_MAX, &a->p.max_iter);
    case B_DEVICE: return cli_device(v, &a->p.device);
    case B_PRECISION: return cli_precision(v, &a->p.precision);
    case B_THREADS: return cli_int("--threads", v, 0, 4096, &a->p.threads);
    case B_SEED: return cli_uint64("--seed", v, &a->p.seed);
    case B_DTYPE:
        if (cli_dtype("--dtype", v, &a->dtype)) return CLI_BAD;
        if (a->dtype != FKM_F32 && a->dtype != FKM_F16 && a->dtype != FKM_BF16)
            return cli_error(CLI_BAD, "invalid value '%s' for --dtype: bench generates f32, f16 or bf16", v);
        return 0;
    case B_VERBOSE: cli_verbose(&a->p); return 0;
    case B_HELP: a->help = 1; return 0;
    }
    return cli_error(CLI_FAIL, "internal: unhandled option");
}

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unif(uint64_t *s) { return ((next(s) >> 11) + 0.5) * 0x1.0p-53; }
static double normal(uint64_t *s) { return sqrt(-2.0 * log(unif(s))) * cos(6.283185307179586 * unif(s)); }

/* float32 -> fp16 / bf16 bits, round to nearest even (values here are small and finite). */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
static uint16_t to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000, mag = u & 0x7fffffff;
    if (mag < 0x38800000u) { /* subnormal or zero in fp16 */
        float a = fabsf(f) * 16777216.0f; /* units of 2^-24 */
        return (uint16_t)(sign | (uint32_t)lrintf(a));
    }
    if (mag >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* overflow -> inf */
    uint32_t r = mag - 0x38000000u;                           /* rebias 127 -> 15 */
    r = (r + 0xfff + ((r >> 13) & 1)) >> 13;
    return (uint16_t)(sign | r);
}

/* 64-byte aligned, as the library's own buffers are, so that the timing does not depend on where
 * malloc placed the data. NULL on failure or when count * elem overflows. */
static void *alloc64(size_t count, size_t elem) {
    void *p = NULL;
    if (elem && count > SIZE_MAX / elem) return NULL;
    const size_t bytes = count * elem;
    return posix_memalign(&p, 64, bytes > 0 ? bytes : 64) == 0 ? p : NULL;
}

/* n points around k centres (N(0, 4^2) per coordinate), unit spread; dtype as requested. */
static void *make_data(const bench_args *a) {
    const int64_t n = a->n, d = a->d, k = a->p.k;
    const size_t esz = fkm_dtype_size(a->dtype);
    float *ctr = (float *)malloc((size_t)(k * d) * sizeof(float));
    void *x = alloc64((size_t)n * (size_t)d, esz);
    if (!ctr || !x) {
        free(ctr);
        free(x);
        return NULL;
    }
    uint64_t s = a->p.seed * 0x2545F4914F6CDD1Dull + 1;
    for (int64_t i = 0; i < k * d; i++) ctr[i] = (float)(4.0 * normal(&s));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = a->p.seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
        const float *c = ctr + (int64_t)(next(&r) % (uint64_t)k) * d;
        for (int64_t j = 0; j < d; j++) {
            float v = c[j] + (float)normal(&r);
            size_t at = (size_t)i * (size_t)d + (size_t)j;
            if (a->dtype == FKM_F32) ((float *)x)[at] = v;
            else ((uint16_t *)x)[at] = a->dtype == FKM_F16 ? to_f16(v) : to_bf16(v);
        }
    }
    free(ctr);
    return x;
}

static int cmp_d(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int cli_bench(int argc, char **argv) {
    bench_args a;
    memset(&a, 0, sizeof a);
    fkm_params_default(&a.p);
    a.n = 100000;
    a.d = 128;
    a.p.k = 256;
    a.p.max_iter = 10;
    a.dtype = FKM_F32;
    int rc = cli_parse(argc, argv, bench_opts, B_COUNT, on_opt, on_pos, &a);
    if (rc) return rc;
    if (a.help) {
        printf("usage: flashkmeans bench [options]\n"
               "  Gaussian blobs, random init, a fixed number of iterations; prints ms per iteration.\n"
               "  -n N                    points (default 100000)\n"
               "  -d D                    features (default 128)\n"
               "  -k K                    clusters (default 256)\n"
               "  --iters I               iterations (default 10)\n"
               "  --device auto|cpu|cuda  (default auto: a GPU when present)\n"
               "  --precision auto|exact|tf32|fp16|bf16   GPU arithmetic (default auto)\n"
               "  --threads T             CPU threads (default 0: chosen from the problem's size and the idle CPUs)\n"
               "  --seed S                random seed of the data and the init (default 0)\n"
               "  --dtype f32|f16|bf16    element type of the generated data (default f32)\n"
               "  -v, --verbose           library log messages on stderr (-vv: debug messages too)\n"
               "  -h, --help              this help\n");
        return CLI_OK;
    }
    a.p.stop = FKM_STOP_FIXED;
    a.p.init = FKM_INIT_RANDOM;
    fkm_status st = fkm_params_validate(&a.p, a.n, a.d);
    if (st != FKM_OK) return cli_fail(st, "bench");
    void *x = make_data(&a);
    if (!x) return cli_error(CLI_FAIL, "out of memory for %lld x %lld points", (long long)a.n, (long long)a.d);
    fkm_matrix m = {x, a.dtype, a.n, a.d, NULL};
    if (a.p.verbose) a.p.log_fn = cli_log_stderr;
    fkm_result r;
    st = fkm_fit(&a.p, &m, &r);
    free(x);
    if (st != FKM_OK) return cli_fail(st, "bench");
    int it = r.iterations, skip = it > 1 ? 1 : 0;
    double *ms = (double *)malloc((size_t)it * sizeof *ms), mean = 0;
    if (!ms) {
        fkm_result_free(&r);
        return cli_error(CLI_FAIL, "out of memory");
    }
    for (int i = skip; i < it; i++) { ms[i - skip] = r.stats[i].ms; mean += r.stats[i].ms; }
    int cnt = it - skip;
    mean /= cnt;
    qsort(ms, (size_t)cnt, sizeof *ms, cmp_d);
    double med = cnt % 2 ? ms[cnt / 2] : (ms[cnt / 2 - 1] + ms[cnt / 2]) / 2;
#ifdef _OPENMP
    const int threads = a.p.threads; /* 0: the library chooses (docs/threads.md) */
#else
    const int threads = 1;
#endif
    char tb[32] = "threads by size and load";
    if (threads > 0) snprintf(tb, sizeof tb, "%d thread%s", threads, threads == 1 ? "" : "s");
    printf("bench: n=%lld d=%lld k=%lld %s, %d iterations on %s (%s, %s)\n", (long long)a.n, (long long)a.d,
           (long long)a.p.k, cli_dtype_str(a.dtype), it, fkm_device_str(r.device), fkm_precision_str(r.precision), tb);
    printf("  ms/iter: median %.3f  mean %.3f  min %.3f  (over %d iterations%s; first %.3f ms)\n", med, mean, ms[0], cnt,
           skip ? " after the first" : "", r.stats[0].ms);
    printf("  %.1f GFLOP/s counting 2*n*k*d per iteration\n", 2.0 * a.n * a.p.k * a.d / (med * 1e6));
    free(ms);
    fkm_result_free(&r);
    return CLI_OK;
}
