/* threads.h -- how many CPU threads an auto-threaded computation uses (params.threads = 0).
 *
 * Two limits, both data in threads.c (docs/threads.md gives the measurements behind them):
 *  - size: a parallel loop of W multiply-adds gets at most W / FKM_FMAS_PER_THREAD threads, so a
 *    small problem runs on the calling thread alone and wakes no OpenMP worker at all; a Lloyd
 *    iteration also needs k d multiply-adds per point or more (FKM_LLOYD_MIN_KD), since below
 *    that the update and bookkeeping, which gain nothing from a second thread, dominate;
 *  - load: no more threads than the CPUs that are idle now (Linux: the runnable count of
 *    /proc/loadavg), because a worker that must share a core with another process makes every
 *    barrier wait for the scheduler (a 0.03 ms iteration became 0.3-40 ms) while its partner
 *    spins. A computation checks again between iterations: it gives up threads when load
 *    comes and stays, and takes them back when it has gone; a task awake for an instant is
 *    not load.
 * An explicit thread count (params.threads > 0) is always used as given. The result never
 * depends on the thread count (fixed summation order), so these choices change only the speed.
 * State: one small note per application thread (its last team of OpenMP workers, below). */
#ifndef FKM_THREADS_H
#define FKM_THREADS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Threads for a computation whose largest parallel loop does `work` multiply-adds (a double:
 * n k d may pass 2^63): `requested`
 * when > 0; otherwise the smaller of the size limit, the idle CPUs and the OpenMP maximum
 * (never below 1). */
int fkm_threads_choose(int requested, double work);

/* fkm_threads_choose for Lloyd iterations of n points, d features, k centroids (work n k d),
 * with its minimum of k d multiply-adds per point. */
int fkm_threads_lloyd(int requested, int64_t n, int64_t d, int64_t k);

/* The size limit of fkm_threads_lloyd alone (no system call). */
int fkm_threads_lloyd_size(int64_t n, int64_t d, int64_t k);

/* Between two steps of an auto-threaded computation that runs `team` threads: the count for the
 * next step. Fewer once other tasks have wanted our CPUs at every check for a while, more (up
 * to `full`) once they have stopped for a while (threads.c says how long). At most one read
 * of /proc/loadavg (about 6 us) a millisecond; nothing when full <= 1. */
typedef struct {
    int full;          /* the size limit: the most threads the computation may take */
    int dir, checks;   /* checks in a row that asked for fewer (dir -1) or more (+1) threads */
    double since_ms;   /* when the first of them was */
    double changed_ms; /* when the count last changed */
    double checked_ms; /* when it last looked (at most one look a millisecond) */
} fkm_threads_watch;
void fkm_threads_watch_init(fkm_threads_watch *w, int full);
int fkm_threads_recheck(int team, fkm_threads_watch *w);

/* The size limit alone (no system call): min(threads, work / FKM_FMAS_PER_THREAD), >= 1. For
 * the smaller loops of a computation whose thread count fkm_threads_choose gave. */
int fkm_threads_cap(int threads, double work);

/* A computation that ran `team` threads is over: its workers spin for a while in the OpenMP
 * runtime (libgomp: a few ms), which the next choice on this thread must not take for load. */
void fkm_threads_release(int team);

/* memcpy of `bytes` on up to `threads` threads (pieces of 4 MB or more; fewer threads below). */
void fkm_par_memcpy(void *dst, const void *src, size_t bytes, int threads);

#ifdef __cplusplus
}
#endif
#endif
