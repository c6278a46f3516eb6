/* bench_host.c -- the host-resident row of docs/targets.md: N = 2^24, K = 4096,
 * D = 128 float32 in host memory, fitted with fkm_fit(device = cuda). The data is uploaded once
 * and stays on the GPU (the published implementation re-sends it over PCIe every iteration).
 * Prints one JSON line per precision: ms per iteration (median of the iterations' device-timed
 * ms), the whole call (upload + init + iterations + copy back), and the inertia.
 * Build: gcc -O2 -fopenmp -Iinclude -c dev/cuda/bench_host.c && nvcc bench_host.o build-dev/libflashkmeans.a -Xcompiler -fopenmp -lz -o bench_host
 * Run:  ./bench_host [n] [k] [d] [iters]   (defaults 16777216 4096 128 10) */
#include <flashkmeans.h>

#include "bench_common.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    const int64_t n = argc > 1 ? atoll(argv[1]) : (int64_t)1 << 24, k = argc > 2 ? atoll(argv[2]) : 4096;
    const int64_t d = argc > 3 ? atoll(argv[3]) : 128;
    const int iters = argc > 4 ? atoi(argv[4]) : 10;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    if (!x) { fprintf(stderr, "out of host memory\n"); return 1; }
    bench_fill(x, n, d);
    const fkm_precision precs[2] = {FKM_PREC_TF32, FKM_PREC_FP16};
    for (int pi = 0; pi < 2; pi++) {
        const fkm_params p = bench_params(k, iters, precs[pi]);
        fkm_result r;
        double call_ms;
        const fkm_status st = bench_fit_timed(&p, x, n, d, &r, &call_ms);
        if (st != FKM_OK) {
            printf("{\"case\":\"host-resident\",\"precision\":\"%s\",\"error\":\"%s\"}\n", fkm_precision_str(precs[pi]), fkm_last_error());
            continue;
        }
        double *ms = malloc(sizeof(double) * (size_t)r.iterations), sum = 0;
        for (int i = 0; i < r.iterations; i++) sum += (ms[i] = r.stats[i].ms);
        qsort(ms, (size_t)r.iterations, sizeof(double), cmp_d);
        printf("{\"case\":\"host-resident N=%lld K=%lld D=%lld fp32\",\"precision\":\"%s\",\"iterations\":%d,"
               "\"ms_per_iter\":%.3f,\"ms_per_iter_min\":%.3f,\"ms_call\":%.1f,\"ms_outside_iterations\":%.1f,\"inertia\":%.6g}\n",
               (long long)n, (long long)k, (long long)d, fkm_precision_str(precs[pi]), r.iterations, ms[r.iterations / 2],
               ms[0], call_ms, call_ms - sum, r.inertia);
        fflush(stdout);
        free(ms);
        fkm_result_free(&r);
    }
    free(x);
    return 0;
}
