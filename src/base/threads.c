/* threads.c -- the thread count of auto-threaded CPU work: problem size, then idle CPUs.
 * The rule and where its numbers come from: docs/threads.md. */
#include "../threads.h"
#include "../internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <fcntl.h>
#endif

/* Measured on the 2-vCPU AMD EPYC VM this repository is developed on, Lloyd iterations with 1
 * and 2 threads, quiet moments only (fkm_bench_threads -q; bench/results/cpu-threads-2026-12-06.md):
 *  - with k d >= 2048 multiply-adds per point, 2 threads were 1.15x faster at n k d = 4.1M, and
 *    1.19-1.45x from 8M on: a thread per 4M multiply-adds keeps a margin;
 *  - with k d = 512 or less, 2 threads were slower at every n tried (0.3-0.9x, up to n k d =
 *    131M): the assignment is then too small a part of the iteration (the update, the label
 *    bookkeeping and the inertia sum get little or nothing from a second thread); k d = 1024
 *    gained 0-22%. */
#define FKM_FMAS_PER_THREAD ((int64_t)4 << 20)
#define FKM_LLOYD_MIN_KD 2048

/* Telling load from noise. On the VM above 5-10% of /proc/loadavg reads count one runnable task
 * more than a quiet moment has (daemons, kernel threads, awake for well under a millisecond,
 * sometimes seen by two reads in a row), while a competing process is seen by every read. So:
 *  - at the start of a computation, a read that sees load is repeated FKM_LOAD_REREADS times
 *    FKM_LOAD_REREAD_US apart and the best of them counts, unless this application thread saw
 *    lasting load in the last FKM_LOAD_MEMORY_MS (then the first read is believed: under steady
 *    load each call saves the wait);
 *  - a running computation changes its thread count when every check for FKM_LOAD_CONFIRM_MS,
 *    and at least FKM_LOAD_CONFIRM_CHECKS checks in a row, asked for the same change; it takes
 *    threads back only once the workers it let go have stopped spinning (before that they
 *    count as load: a spin window, FKM_SPIN_MS). */
#define FKM_LOAD_REREADS 2
#define FKM_LOAD_REREAD_US 50
#define FKM_LOAD_MEMORY_MS 1000.0
#define FKM_LOAD_CONFIRM_MS 5.0
#define FKM_LOAD_CONFIRM_CHECKS 3
#define FKM_RECHECK_MS 1.0 /* at most one check a millisecond: under 1% of the time */

/* How long the OpenMP workers of a finished team may still be spinning (ms): libgomp spins
 * 300000 rounds, measured 5.6 ms here (its own estimate: 3 ms), LLVM's libomp 200 ms
 * (KMP_BLOCKTIME). With margin; OMP_WAIT_POLICY / GOMP_SPINCOUNT adjust it (spin_window). */
#if defined(__clang__)
#define FKM_SPIN_MS 250.0
#else
#define FKM_SPIN_MS 20.0
#endif

int fkm_threads_cap(int threads, double work) {
    const double by_size = work / (double)FKM_FMAS_PER_THREAD; /* double: n k d may pass 2^63 */
    if (by_size < 2.0) return 1;
    return by_size < threads ? (int)by_size : threads;
}

#ifdef _OPENMP
/* This application thread's last team (OpenMP keeps one pool of workers per calling thread),
 * and when it last saw lasting load. */
static _Thread_local int pool_team;
static _Thread_local double pool_released_ms, load_seen_ms = -1e300;

static double spin_window(void) {
    static _Thread_local double window = -1.0; /* the environment, read once per thread */
    if (window >= 0.0) return window;
    const char *sc = getenv("GOMP_SPINCOUNT"), *wp = getenv("OMP_WAIT_POLICY");
    double w = FKM_SPIN_MS;
    if (sc && *sc) /* a count, or "infinite" */
        w = strncmp(sc, "inf", 3) ? strtod(sc, NULL) / 300000.0 * FKM_SPIN_MS : 1e300;
    else if (wp && !strcasecmp(wp, "passive"))
        w = 0.0;
    else if (wp && !strcasecmp(wp, "active"))
        w = 1e300;
    window = w;
    return w;
}

/* Runnable tasks on the whole machine now, including the caller (Linux: the 4th field of
 * /proc/loadavg, "running/total"); -1 when unknown. One small read, about 6 us. */
static int runnable_now(void) {
#if defined(__linux__)
    char buf[128];
    const int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    const ssize_t m = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (m <= 0) return -1;
    buf[m] = '\0';
    const char *p = buf;
    for (int field = 0; field < 3 && p; field++) p = strchr(p + 1, ' ');
    return p ? atoi(p + 1) : -1;
#else
    return -1;
#endif
}

/* CPUs of ours that no other task wants now: the other runnable tasks (all but the caller and
 * `own` workers of ours) are spread over the machine's online CPUs in proportion (the scheduler
 * balances), and `procs` of those are ours. */
static int idle_cpus(int procs, int own) {
    static _Thread_local long online; /* read once per thread: 10 us a read */
    if (online == 0) online = sysconf(_SC_NPROCESSORS_ONLN);
    const int running = runnable_now();
    if (running < 0 || online < 1) return procs;
    const int others = running - 1 - own;
    if (others <= 0) return procs;
    return procs - (int)(((int64_t)others * procs + online / 2) / online); /* rounded */
}

/* Workers of this thread's last team that may still be spinning (they are runnable, but ours). */
static int own_spinning(void) {
    return pool_team > 1 && fkm_now_ms() - pool_released_ms < spin_window() ? pool_team - 1 : 0;
}

#endif

int fkm_threads_choose(int requested, double work) {
    if (requested > 0) return requested;
#ifdef _OPENMP
    int t = fkm_threads_cap(omp_get_max_threads(), work);
    if (t <= 1) return 1; /* small: no system call either */
    const int procs = omp_get_num_procs(), own = own_spinning();
    int idle = idle_cpus(procs, own);
    if (idle < t && fkm_now_ms() - load_seen_ms > FKM_LOAD_MEMORY_MS)
        for (int i = 0; i < FKM_LOAD_REREADS && idle < t; i++) {
            usleep(FKM_LOAD_REREAD_US);
            const int again = idle_cpus(procs, own);
            if (again > idle) idle = again;
        }
    if (idle < t) {
        load_seen_ms = fkm_now_ms();
        t = idle;
    }
    return t > 1 ? t : 1;
#else
    (void)work;
    return 1;
#endif
}

int fkm_threads_lloyd_size(int64_t n, int64_t d, int64_t k) {
#ifdef _OPENMP
    return k * d < FKM_LLOYD_MIN_KD ? 1 : fkm_threads_cap(omp_get_max_threads(), (double)n * d * k);
#else
    (void)n; (void)d; (void)k;
    return 1;
#endif
}

int fkm_threads_lloyd(int requested, int64_t n, int64_t d, int64_t k) {
    if (requested <= 0 && k * d < FKM_LLOYD_MIN_KD) return 1;
    return fkm_threads_choose(requested, (double)n * d * k);
}

void fkm_threads_watch_init(fkm_threads_watch *w, int full) {
    memset(w, 0, sizeof *w);
    w->full = full;
    w->changed_ms = fkm_now_ms(); /* an earlier computation's workers may still spin */
}

int fkm_threads_recheck(int team, fkm_threads_watch *w) {
#ifdef _OPENMP
    if (w->full <= 1) return team;
    const double now = fkm_now_ms();
    if (now - w->checked_ms < FKM_RECHECK_MS) return team; /* a check costs ~8 us: not at every short step */
    w->checked_ms = now;
    /* workers let go less than a spin ago may still be runnable: no clean count of others yet */
    if (team < w->full && now - w->changed_ms < spin_window()) return team;
    /* between two steps our team - 1 workers spin: runnable, but ours */
    const int idle = idle_cpus(omp_get_num_procs(), team - 1);
    const int want = idle < 1 ? 1 : idle > w->full ? w->full : idle;
    const int dir = (want > team) - (want < team);
    if (dir == 0 || dir != w->dir) w->checks = 0; /* the run of checks is broken */
    w->dir = dir;
    if (dir == 0) return team;
    if (w->checks++ == 0) w->since_ms = now;
    if (w->checks < FKM_LOAD_CONFIRM_CHECKS || now - w->since_ms < FKM_LOAD_CONFIRM_MS) return team;
    w->checks = 0;
    w->changed_ms = now;
    if (dir < 0) {
        load_seen_ms = now;
        fkm_threads_release(team); /* the workers let go still spin a while */
    }
    return want;
#else
    (void)w;
    return team;
#endif
}

void fkm_threads_release(int team) {
#ifdef _OPENMP
    pool_team = team;
    pool_released_ms = fkm_now_ms();
#else
    (void)team;
#endif
}

/* memcpy on up to `threads` threads, pieces of at least 4 MB (a smaller copy stays on the
 * caller's thread): the staged upload of pageable host data (cuda/hostcopy.cu) copies at the
 * memory's speed, not one core's. */
void fkm_par_memcpy(void *dst, const void *src, size_t bytes, int threads) {
    const size_t piece = (size_t)4 << 20;
    int team = threads;
    if ((size_t)team > bytes / piece) team = (int)(bytes / piece);
    if (team <= 1) {
        memcpy(dst, src, bytes);
        return;
    }
    const size_t per = (bytes / (size_t)team + 63) & ~(size_t)63;
#pragma omp parallel for num_threads(team) schedule(static, 1)
    for (int t = 0; t < team; t++) {
        const size_t a = (size_t)t * per, e = a + per < bytes ? a + per : bytes;
        if (a < e) memcpy((char *)dst + a, (const char *)src + a, e - a);
    }
    fkm_threads_release(team);
}
