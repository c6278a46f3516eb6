/* bench_tiny.c -- many tiny problems on the CPU through the public API (fkm_fit_batch), the regime
 * of per-layer weight codebooks: B problems of n x d, k clusters, a fixed number of iterations.
 * Prints microseconds per problem-iteration (whole call / (B x iterations)) and per problem for one
 * iteration (the fixed cost of a fit).
 *   fkm_bench_tiny [B n d k iters threads]   (default 2000 256 4 16 21 1)              */
#include <flashkmeans.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double run(const float *x, int64_t B, int64_t n, int64_t d, int64_t k, int iters, int threads) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k, p.max_iter = iters, p.stop = FKM_STOP_FIXED, p.init = FKM_INIT_RANDOM, p.device = FKM_DEVICE_CPU;
    p.threads = threads;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result *r = calloc((size_t)B, sizeof *r);
    const double t0 = now();
    if (fkm_fit_batch(&p, &m, B, r) != FKM_OK) {
        fprintf(stderr, "fkm_fit_batch: %s\n", fkm_last_error());
        exit(1);
    }
    const double t = now() - t0;
    for (int64_t i = 0; i < B; i++) fkm_result_free(&r[i]);
    free(r);
    return t;
}

int main(int argc, char **argv) {
    const int64_t B = argc > 1 ? atoll(argv[1]) : 2000, n = argc > 2 ? atoll(argv[2]) : 256;
    const int64_t d = argc > 3 ? atoll(argv[3]) : 4, k = argc > 4 ? atoll(argv[4]) : 16;
    const int iters = argc > 5 ? atoi(argv[5]) : 21, threads = argc > 6 ? atoi(argv[6]) : 1;
    float *x = malloc(sizeof(float) * (size_t)(B * n * d));
    uint64_t s = 1;
    for (int64_t i = 0; i < B * n * d; i++) { /* xorshift: fresh non-zero data */
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)(s >> 11) * 0x1p-53f;
    }
    run(x, B, n, d, k, 1, threads); /* warm-up */
    double best1 = 1e30, best = 1e30;
    for (int r = 0; r < 3; r++) {
        const double t1 = run(x, B, n, d, k, 1, threads), t = run(x, B, n, d, k, iters, threads);
        if (t1 < best1) best1 = t1;
        if (t < best) best = t;
    }
    printf("B=%lld n=%lld d=%lld k=%lld threads=%d: %.2f us per problem-iteration (%d iterations), "
           "%.2f us per problem with 1 iteration\n", (long long)B, (long long)n, (long long)d, (long long)k, threads,
           1e6 * best / ((double)B * iters), iters, 1e6 * best1 / (double)B);
    free(x);
    return 0;
}
