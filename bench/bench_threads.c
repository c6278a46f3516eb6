/* bench_threads.c -- time per Lloyd iteration against the thread count, with or without a
 * competing process on one core: the measurements behind the thread rule (src/threads.h,
 * docs/threads.md).
 *
 * usage: fkm_bench_threads [-l] [-q N] [-t T,T,...] [-r ROUNDS] NxDxK ...
 *   -l        a child process spins on the last CPU of this process's set while fits run
 *   -q N      quiet mode, for a machine that others share: N fits per thread count, each
 *             started only when no other task has been runnable for 20 ms (Linux
 *             /proc/loadavg) and kept only if none was right after; prints the min and median
 *             over those fits of each fit's median iteration
 *   -t        thread counts to compare (0 = auto, the library's choice); default 1,2,0
 *   -r        rounds; each round times every thread count once, in turn (default 3)
 * Each timing is a loop of fits (random init, 20 fixed iterations) of about 0.3 s; a line per
 * shape and thread count gives per-iteration min, 10th percentile, median, mean and max over all
 * rounds (the minimum is the figure least disturbed by other processes), the mean per fit, and
 * the process's CPU time over the wall time (above 1 with one thread's work: spinning workers). */
#define _GNU_SOURCE
#include <flashkmeans.h>

#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ITERS = 20, MAX_T = 8, MAX_SAMPLES = 1 << 20 };

static double clock_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static pid_t start_load(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) last = c;
    pid_t pid = fork();
    if (pid == 0) {
        CPU_ZERO(&set);
        CPU_SET(last, &set);
        sched_setaffinity(0, sizeof set, &set);
        for (volatile unsigned long i = 0;; i++) {}
    }
    usleep(100 * 1000);
    return pid;
}

typedef struct {
    double *iter;        /* per-iteration ms, all rounds */
    int64_t niter;
    double fit_ms, wall, cpu; /* sums over rounds */
    int fits;
} sample;

/* One timing: fits until ~0.3 s have passed (at least 2). */
static void time_fits(const fkm_params *p, const fkm_matrix *m, sample *s) {
    const double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    for (int r = 0; r < 2 || clock_ms(CLOCK_MONOTONIC) - t0 < 300.0; r++) {
        fkm_result res;
        if (fkm_fit(p, m, &res) != FKM_OK) {
            fprintf(stderr, "fit: %s\n", fkm_last_error());
            exit(1);
        }
        for (int i = 0; i < res.iterations && s->niter < MAX_SAMPLES; i++) s->iter[s->niter++] = res.stats[i].ms;
        s->fits++;
        fkm_result_free(&res);
    }
    s->wall += clock_ms(CLOCK_MONOTONIC) - t0;
    s->cpu += clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

static float *data(int64_t n, int64_t d, int64_t k);

/* Runnable tasks on the machine now, this one included (4th field of /proc/loadavg). */
static int runnable(void) {
    char buf[128];
    FILE *f = fopen("/proc/loadavg", "r");
    int r = -1;
    if (f && fgets(buf, sizeof buf, f)) sscanf(buf, "%*f %*f %*f %d", &r);
    if (f) fclose(f);
    return r;
}

/* Wait until this process has been alone on the machine for 20 ms (polled each ms). */
static void wait_quiet(void) {
    for (int alone = 0; alone < 20; usleep(1000)) alone = runnable() <= 1 ? alone + 1 : 0;
}

/* One fit of p in a quiet window; its median iteration (ms) in *med. 0: kept, -1: disturbed. */
static int quiet_fit(const fkm_params *p, const fkm_matrix *m, double *med) {
    double it[ITERS];
    fkm_result res;
    wait_quiet();
    if (fkm_fit(p, m, &res) != FKM_OK) {
        fprintf(stderr, "fit: %s\n", fkm_last_error());
        exit(1);
    }
    /* our own workers may still spin (one per extra thread; auto: up to one per CPU): more than
     * that is someone else */
    const int ours = p->threads > 0 ? p->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    const int others = runnable() - ours;
    const int n = res.iterations;
    for (int i = 0; i < n; i++) it[i] = res.stats[i].ms;
    fkm_result_free(&res);
    qsort(it, (size_t)n, sizeof(double), cmp_double);
    *med = it[n / 2];
    usleep(20 * 1000); /* let the workers go to sleep before the next one */
    return others > 0 ? -1 : 0;
}

static void quiet_shape(long long n, long long d, long long k, const int *threads, int nt, int want) {
    float *x = data(n, d, k);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    double got[MAX_T][256];
    int ng[MAX_T] = {0}, rejected = 0;
    if (want > 256) want = 256;
    for (int done = 0; !done;) {
        done = 1;
        for (int t = 0; t < nt; t++) {
            if (ng[t] >= want) continue;
            done = 0;
            fkm_params p;
            fkm_params_default(&p);
            p.k = k; p.device = FKM_DEVICE_CPU; p.threads = threads[t];
            p.init = FKM_INIT_RANDOM; p.stop = FKM_STOP_FIXED; p.max_iter = ITERS;
            double med;
            if (quiet_fit(&p, &m, &med) == 0) got[t][ng[t]++] = med;
            else rejected++;
        }
    }
    for (int t = 0; t < nt; t++) {
        qsort(got[t], (size_t)ng[t], sizeof(double), cmp_double);
        char tn[16];
        snprintf(tn, sizeof tn, threads[t] ? "%d" : "auto", threads[t]);
        printf("| %lldx%lld, %lld | %.2f | %s | %.4f | %.4f | %d (%d disturbed) |\n", n, d, k, n * d * k / 1e6, tn,
               got[t][0], got[t][ng[t] / 2], ng[t], rejected);
    }
    fflush(stdout);
    free(x);
}

static float *data(int64_t n, int64_t d, int64_t k) {
    float *x = malloc((size_t)(n * d) * sizeof(float)), *ctr = malloc((size_t)(k * d) * sizeof(float));
    uint64_t s = 12345;
    for (int64_t i = 0; i < k * d; i++) ctr[i] = (float)((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 40) / 4.2e6f;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const int64_t b = (int64_t)((s >> 33) % (uint64_t)k);
        for (int64_t j = 0; j < d; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            x[i * d + j] = ctr[b * d + j] + (float)((s >> 40) / 1.6e7 - 0.5);
        }
    }
    free(ctr);
    return x;
}

int main(int argc, char **argv) {
    int threads[MAX_T] = {1, 2, 0}, nt = 3, rounds = 3, load = 0, quiet = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "-l")) load = 1;
        else if (!strcmp(argv[a], "-r") && a + 1 < argc) rounds = atoi(argv[++a]);
        else if (!strcmp(argv[a], "-q") && a + 1 < argc) quiet = atoi(argv[++a]);
        else if (!strcmp(argv[a], "-t") && a + 1 < argc) {
            nt = 0;
            for (char *tok = strtok(argv[++a], ","); tok && nt < MAX_T; tok = strtok(NULL, ",")) threads[nt++] = atoi(tok);
        } else {
            fprintf(stderr, "usage: %s [-l] [-q N] [-t T,T,...] [-r ROUNDS] NxDxK ...\n", argv[0]);
            return 2;
        }
    }
    if (quiet) {
        printf("| n x d, k | n k d (M FMA) | threads | min of fit medians (ms/iter) | median | fits kept |\n");
        printf("|---|---|---|---|---|---|\n");
        for (; a < argc; a++) {
            long long n, d, k;
            if (sscanf(argv[a], "%lldx%lldx%lld", &n, &d, &k) != 3) { fprintf(stderr, "bad shape %s\n", argv[a]); return 2; }
            quiet_shape(n, d, k, threads, nt, quiet);
        }
        return 0;
    }
    const pid_t child = load ? start_load() : 0;
    printf("| n x d, k | n k d (M FMA) | threads | iter min ms | p10 | median | mean | max | ms/fit | CPU/wall |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (; a < argc; a++) {
        long long n, d, k;
        if (sscanf(argv[a], "%lldx%lldx%lld", &n, &d, &k) != 3) { fprintf(stderr, "bad shape %s\n", argv[a]); return 2; }
        float *x = data(n, d, k);
        fkm_matrix m = {x, FKM_F32, n, d, NULL};
        sample s[MAX_T];
        for (int t = 0; t < nt; t++) {
            memset(&s[t], 0, sizeof s[t]);
            s[t].iter = malloc(MAX_SAMPLES * sizeof(double));
        }
        for (int r = 0; r < rounds; r++)
            for (int t = 0; t < nt; t++) {
                fkm_params p;
                fkm_params_default(&p);
                p.k = k; p.device = FKM_DEVICE_CPU; p.threads = threads[t];
                p.init = FKM_INIT_RANDOM; p.stop = FKM_STOP_FIXED; p.max_iter = ITERS;
                time_fits(&p, &m, &s[t]);
            }
        for (int t = 0; t < nt; t++) {
            qsort(s[t].iter, (size_t)s[t].niter, sizeof(double), cmp_double);
            char tn[16];
            snprintf(tn, sizeof tn, threads[t] ? "%d" : "auto", threads[t]);
            double sum = 0;
            for (int64_t i = 0; i < s[t].niter; i++) sum += s[t].iter[i];
            printf("| %lldx%lld, %lld | %.2f | %s | %.4f | %.4f | %.4f | %.4f | %.2f | %.3f | %.2f |\n", n, d, k,
                   n * d * k / 1e6, tn, s[t].iter[0], s[t].iter[s[t].niter / 10], s[t].iter[s[t].niter / 2],
                   sum / s[t].niter, s[t].iter[s[t].niter - 1], s[t].wall / s[t].fits, s[t].cpu / s[t].wall);
            free(s[t].iter);
        }
        fflush(stdout);
        free(x);
    }
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    return 0;
}
