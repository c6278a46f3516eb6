/* test_edge_large.c -- N*D > 2^31: one Lloyd iteration over more than 2^31 elements, checked
 * exactly, so that any 32-bit index (i*d in an int, an int offset in a kernel) shows up as a wrong
 * centroid, a wrong label or a crash.
 *
 * Runs only with FKM_LARGE_TESTS=1 (else exit 77 = SKIPPED); it needs ~10 GB of free memory
 * (checked in /proc/meminfo first). FKM_LARGE_DTYPE=f32 (default) or u8, FKM_LARGE_D (default
 * 64): n = 2^31 / d + 1 rows. f32 is used in place; u8 is converted to a float32 working copy
 * (4x the u8 size on top of it), so u8 with d = 8 needs ~20 GB.
 *
 * Data (integers, so every sum below is exact in float64): row i, column j holds
 *   base(i) + j % 7, base(i) = 0 for even i, 10 for odd i, and 200 for the last row.
 * Initial centroids: c0 = 0, c1 = 10 (all columns), k = 2, one fixed iteration, EMPTY_KEEP.
 * Every even row is nearest c0, every odd row and the last row nearest c1. */
#define _GNU_SOURCE
#include "check.h"

#include <flashkmeans.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double mem_available_gb(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb / (1024.0 * 1024.0);
}

static int base_of(int64_t i, int64_t n) { return i == n - 1 ? 200 : (i & 1) ? 10 : 0; }

int main(void) {
    const char *on = getenv("FKM_LARGE_TESTS");
    if (!on || strcmp(on, "1") != 0) SKIP_ALL("set FKM_LARGE_TESTS=1 to run the N*D > 2^31 test");
    const char *dt = getenv("FKM_LARGE_DTYPE");
    const int u8 = dt && strcmp(dt, "u8") == 0;
    const int64_t d = getenv("FKM_LARGE_D") ? atoll(getenv("FKM_LARGE_D")) : 64;
    if (d < 1 || d > 4096) SKIP_ALL("bad FKM_LARGE_D");
    const int64_t n = ((int64_t)1 << 31) / d + 1, nd = n * d;
    /* data + working copy (u8) + ~8 per-point arrays of 4-8 bytes */
    const double need = (double)nd * (u8 ? 5 : 4) / 1073741824.0 + (double)n * 40 / 1073741824.0 + 0.5;
    const double avail = mem_available_gb();
    printf("n = %lld, d = %lld, n*d = %lld (2^31 + %lld), %s; needs ~%.1f GB, %.1f GB available\n", (long long)n,
           (long long)d, (long long)nd, (long long)(nd - ((int64_t)1 << 31)), u8 ? "u8" : "f32", need, avail);
    if (avail >= 0 && avail < need * 1.15) SKIP_ALL("not enough free memory (%.1f GB < %.1f GB)", avail, need * 1.15);

    double t0 = now_s();
    void *data = NULL;
    if (posix_memalign(&data, (size_t)2 << 20, (size_t)nd * (u8 ? 1 : 4)) != 0) SKIP_ALL("cannot allocate the data");
#ifdef MADV_HUGEPAGE
    madvise(data, (size_t)nd * (u8 ? 1 : 4), MADV_HUGEPAGE); /* 2 MB pages: far fewer page faults */
#endif
    const size_t esz = u8 ? 1 : 4, row = (size_t)d * esz;
    char *tmpl = malloc(3 * row); /* the three kinds of rows: base 0, 10, 200 */
    for (int t = 0; t < 3; t++)
        for (int64_t j = 0; j < d; j++) {
            const int v = (t == 0 ? 0 : t == 1 ? 10 : 200) + (int)(j % 7);
            if (u8) ((uint8_t *)tmpl)[t * d + j] = (uint8_t)v;
            else ((float *)tmpl)[t * d + j] = (float)v;
        }
    for (int64_t i = 0; i < n; i++) {
        const int b = base_of(i, n);
        memcpy((char *)data + (size_t)i * row, tmpl + (b == 0 ? 0 : b == 10 ? 1 : 2) * row, row);
    }
    free(tmpl);
    float *c0 = malloc(sizeof(float) * 2 * d);
    for (int64_t j = 0; j < d; j++) { c0[j] = 0; c0[d + j] = 10; }
    printf("generated in %.1f s\n", now_s() - t0);

    fkm_params p;
    fkm_params_default(&p);
    p.k = 2; p.max_iter = 1; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_ARRAY; p.init_centroids = c0;
    p.empty = FKM_EMPTY_KEEP; p.device = FKM_DEVICE_CPU;
    fkm_matrix m = {data, u8 ? FKM_U8 : FKM_F32, n, d, NULL};
    fkm_result r;
    t0 = now_s();
    fkm_status st = fkm_fit(&p, &m, &r);
    printf("fit: %.1f s, status %s %s\n", now_s() - t0, fkm_status_str(st), st ? fkm_last_error() : "");
    CHECK(st == FKM_OK, "large fit failed: %s", fkm_last_error());
    if (st != FKM_OK) { free(data); free(c0); return check_report(); }

    /* Expected centroids: exact integer sums in float64, one division, rounded to float32. */
    const int64_t n_even = n / 2, n_odd = (n - 1) / 2; /* among the regular rows 0 .. n-2 */
    const int64_t cnt0 = n_even, cnt1 = n_odd + 1;      /* the last row joins cluster 1 */
    int64_t bad_c = 0;
    for (int64_t j = 0; j < d; j++) {
        const double s0 = (double)cnt0 * (double)(j % 7);
        const double s1 = (double)n_odd * (10.0 + j % 7) + (200.0 + j % 7);
        bad_c += r.centroids[j] != (float)(s0 / cnt0);
        bad_c += r.centroids[d + j] != (float)(s1 / cnt1);
    }
    CHECK(bad_c == 0, "%lld centroid elements differ from the exact means (c1[0] = %.9g, expected %.9g)",
          (long long)bad_c, r.centroids[d], (float)(((double)n_odd * 10.0 + 200.0) / cnt1));
    CHECK(r.stats[0].empty == 0 && r.stats[0].changed == n, "iteration stats: empty %lld changed %lld",
          (long long)r.stats[0].empty, (long long)r.stats[0].changed);
    int64_t bad_l = 0;
    for (int64_t i = 0; i < n; i++) bad_l += r.labels[i] != (i == n - 1 || (i & 1) ? 1 : 0);
    CHECK(bad_l == 0, "%lld labels wrong (last row: %d)", (long long)bad_l, r.labels[n - 1]);

    /* Inertia of the final centroids, in float64 from the exact data. */
    /* fp32 |x|^2 - 2x.c + |c|^2 has an absolute error ~ d*eps*(|x|^2 + |c|^2) per point
     * (docs/contract.md); most points here sit almost on their centroid, so bound it that way. */
    double want = 0, absb = 0;
    for (int t = 0; t < 3; t++) { /* rows of one kind are identical: distance x count */
        const int b = t == 0 ? 0 : t == 1 ? 10 : 200, l = t == 0 ? 0 : 1;
        const double count = t == 0 ? (double)cnt0 : t == 1 ? (double)n_odd : 1.0;
        double s = 0, nx = 0, nc = 0;
        for (int64_t j = 0; j < d; j++) {
            const double xv = (double)(b + j % 7), cv = r.centroids[l * d + j], e = xv - cv;
            s += e * e;
            nx += xv * xv;
            nc += cv * cv;
        }
        want += count * s;
        absb += count * 1e-7 * (double)d * (nx + nc);
    }
    CHECK(fabs(r.inertia - want) <= 1e-6 * want + absb, "inertia %.12g vs %.12g (bound %g)", r.inertia, want,
          1e-6 * want + absb);
    printf("inertia %.10g (float64 check %.10g)\n", r.inertia, want);
    fkm_result_free(&r);
    free(data);
    free(c0);
    return check_report();
}
