/* test_cpu_load.c -- a default-threaded CPU fit next to a process that holds one core (issue 23,
 * item 7). Before the thread rule (src/threads.h), OpenMP workers sharing the busy core made
 * each barrier wait for the scheduler: 2000 x 8, k = 5 went from 0.03 ms per iteration on one
 * thread to a mean of 0.2-13 ms (single iterations of 40 ms). Checked here:
 *   - the two fits (one thread by the size rule) and a larger one (two threads by size,
 *     so the idle-CPU rule has to keep it off the busy core) run, under that load, at most
 *     LOAD_FACTOR times the time per iteration and per fit of the same fit on one thread with
 *     no load;
 *   - the results are the bits of the one-thread fit;
 *   - an explicit thread count is used as given, and a small auto fit runs on one thread.
 * Timing on a shared CI machine is noisy (ctest -j runs another test beside this one), so each
 * problem gets up to ATTEMPTS tries, reference measured again each time; one try within the
 * bound passes. Before the fix every try failed by 3x or more. Skipped with fewer than 2 CPUs. */
#define _GNU_SOURCE
#include "test_edge_common.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { ATTEMPTS = 3 };
#define CPU_SLACK 0.1 /* CPU/wall over the idle CPUs: 1.24-1.38 was measured with spinning workers */
#define LOAD_FACTOR 4.0 /* loaded auto-threaded time <= this x unloaded one-thread time */
#define SLACK_MS 0.02   /* plus this, per iteration: timer and cache noise at 0.03 ms */

static double clock_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static float *blobs32(uint64_t seed, int64_t n, int64_t d, int64_t b) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(seed, n, d, b, 0.5, x64, x);
    free(x64);
    return x;
}

/* OMP_WAIT_POLICY=active or a GOMP_SPINCOUNT keeps the workers spinning on purpose. */
static int spin_forced(void) {
    const char *wp = getenv("OMP_WAIT_POLICY"), *sc = getenv("GOMP_SPINCOUNT");
    return (wp && !strcasecmp(wp, "active")) || (sc && *sc);
}

/* The last CPU this process may run on, and how many it may use. */
static int last_cpu(int *count) {
    cpu_set_t set;
    *count = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    *count = CPU_COUNT(&set);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) last = c;
    return last;
}

/* A child process spinning on `cpu` (the competing load); returns its pid once it runs. */
static pid_t start_load(int cpu) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
        close(fd[0]);
        if (write(fd[1], "x", 1) != 1) _exit(1);
        close(fd[1]);
        for (volatile unsigned long i = 0;; i++) {}
    }
    close(fd[1]);
    char c;
    if (pid > 0 && read(fd[0], &c, 1) != 1) pid = -1;
    close(fd[0]);
    usleep(50 * 1000); /* let the scheduler see it as runnable */
    return pid;
}

static void stop_load(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

typedef struct {
    double iter_ms, fit_ms; /* mean per iteration, mean per fit */
    double cpu_per_wall;    /* CPU time of this process (all threads) over the wall time */
} timing;

/* `reps` fits; the last result is kept in *keep (caller frees). */
static int run_fits(const fkm_params *p, const fkm_matrix *m, int reps, timing *t, fkm_result *keep) {
    double iters = 0, iter_ms = 0, t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    for (int r = 0; r < reps; r++) {
        fkm_result res;
        if (fkm_fit(p, m, &res) != FKM_OK) {
            fprintf(stderr, "fit failed: %s\n", fkm_last_error());
            return -1;
        }
        for (int i = 0; i < res.iterations; i++) iter_ms += res.stats[i].ms;
        iters += res.iterations;
        if (r + 1 < reps) fkm_result_free(&res);
        else *keep = res;
    }
    const double wall = clock_ms(CLOCK_MONOTONIC) - t0;
    t->cpu_per_wall = (clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / wall;
    t->fit_ms = wall / reps;
    t->iter_ms = iter_ms / iters;
    return 0;
}

/* The thread count the fit reports in its debug log ("cpu threads: N (...)"). */
typedef struct { int threads; } log_seen;
static void on_log(fkm_log_level level, const char *msg, void *user) {
    (void)level;
    int t;
    if (sscanf(msg, "cpu threads: %d", &t) == 1) ((log_seen *)user)->threads = t;
}

static int fit_threads(int64_t n, int64_t d, int64_t k, int threads) {
    float *x = blobs32(5, n, d, k);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    log_seen seen = {-1};
    p.threads = threads; p.max_iter = 2; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_RANDOM;
    p.verbose = 3; p.log_fn = on_log; p.log_user = &seen;
    fkm_result r;
    if (fkm_fit(&p, &m, &r) == FKM_OK) fkm_result_free(&r);
    free(x);
    return seen.threads;
}

/* One problem: up to ATTEMPTS rounds of (one thread, no load) then (auto threads, load). */
static void check_problem(const char *name, int64_t n, int64_t d, int64_t k, int iters, int reps, int cpu,
                          int ncpu) {
    float *x = blobs32(17, n, d, k);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = edge_params(k);
    log_seen seen = {-1};
    p.init = FKM_INIT_RANDOM; /* cheap: the iterations are what is measured */
    p.stop = FKM_STOP_FIXED;
    p.max_iter = iters;
    p.log_fn = on_log;
    p.log_user = &seen;
    int ok = 0, same = 1, max_threads = 0;
    double max_cpu = 0;
    for (int a = 0; a < ATTEMPTS && !ok; a++) {
        timing one, loaded;
        fkm_result r1, r2;
        p.threads = 1;
        p.verbose = 0;
        if (run_fits(&p, &m, reps, &one, &r1) != 0) break;
        pid_t pid = start_load(cpu);
        CHECK(pid > 0, "could not start the competing process");
        p.threads = 0;
        p.verbose = 3; /* for the "cpu threads: N" line */
        const int rc = run_fits(&p, &m, reps, &loaded, &r2);
        stop_load(pid);
        if (rc != 0) { fkm_result_free(&r1); break; }
        same = same && edge_same_result(&r1, &r2);
        if (seen.threads > max_threads) max_threads = seen.threads;
        if (loaded.cpu_per_wall > max_cpu) max_cpu = loaded.cpu_per_wall;
        const double bound_iter = LOAD_FACTOR * one.iter_ms + SLACK_MS;
        const double bound_fit = LOAD_FACTOR * one.fit_ms + SLACK_MS * iters;
        ok = loaded.iter_ms <= bound_iter && loaded.fit_ms <= bound_fit;
        printf("%s try %d: one thread, no load: %.4f ms/iter, %.3f ms/fit; auto threads (%d), one core busy: "
               "%.4f ms/iter, %.3f ms/fit, CPU/wall %.2f (bounds %.4f, %.3f): %s\n", name, a + 1, one.iter_ms,
               one.fit_ms, seen.threads, loaded.iter_ms, loaded.fit_ms, loaded.cpu_per_wall, bound_iter, bound_fit,
               ok ? "ok" : "over");
        fkm_result_free(&r1);
        fkm_result_free(&r2);
    }
    CHECK(ok, "%s: an auto-threaded fit beside a busy core is more than %.0fx slower than one thread alone in "
          "each of %d tries", name, LOAD_FACTOR, ATTEMPTS);
    CHECK(same, "%s: the fit under load gave other bits than the one-thread fit", name);
    /* The mechanism, without timing noise: with one of the CPUs busy, an auto fit uses only the
     * others, and so burns no CPU spinning in OpenMP waits beside the busy one (2 CPUs: one
     * thread, the process at most one core). */
    CHECK(max_threads >= 1 && max_threads <= ncpu - 1, "%s: %d threads chosen with one of the %d CPUs busy", name,
          max_threads, ncpu);
    if (!spin_forced())
        CHECK(max_cpu <= ncpu - 1 + CPU_SLACK, "%s: the process used %.2f CPUs while fitting beside a busy core "
              "(%d CPUs)", name, max_cpu, ncpu);
    free(x);
}

int main(void) {
    int ncpu = 0;
    const int cpu = last_cpu(&ncpu);
    if (ncpu < 2 || cpu < 0) SKIP_ALL("needs 2 CPUs to load one of them (this process may use %d)", ncpu);
    /* the rule's two ends, whatever the load: explicit counts are kept, small fits use one thread */
    const int given = fit_threads(2000, 8, 5, 3), small = fit_threads(2000, 8, 5, 0);
    CHECK(given == 3, "threads = 3 given: the fit used %d", given);
    CHECK(small == 1, "2000 x 8, k = 5, auto: %d threads", small);
    /* the figures: one thread by size (80K multiply-adds; k d = 512 per point) */
    check_problem("2000 x 8, k = 5", 2000, 8, 5, 30, 40, cpu, ncpu);
    check_problem("20000 x 16, k = 32", 20000, 16, 32, 10, 8, cpu, ncpu);
    /* 16M multiply-adds, k d = 4096: two threads by size on an idle machine, one beside the load */
    check_problem("4000 x 64, k = 64", 4000, 64, 64, 10, 8, cpu, ncpu);
    return check_report();
}
