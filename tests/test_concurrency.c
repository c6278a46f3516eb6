/* test_concurrency.c -- many threads calling the library at once on the CPU engine (issue 23,
 * item 3): each thread runs a mix of fits (options varied by case), batch fits, predict,
 * transform and bad calls, and every result must be bitwise the serial run's; every bad call's
 * fkm_last_error() must be the message of that thread's own call, and a good call in between must
 * not disturb it (the message is per thread); a fit cancelled from another thread stops with
 * FKM_ERR_CANCELLED and the state it reached, while the other threads' fits are untouched.
 * Short by default (CI); FKM_STRESS_SECONDS=N runs the mix for N seconds, FKM_STRESS_THREADS the
 * thread count (default 8). */
#define _GNU_SOURCE
#include "check.h"
#include "gen.h"

#include <flashkmeans.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { N = 1500, D = 8, K = 9, B = 2, NCASES = 8 };
static float *X, *W;
#ifndef CONC_DEVICE /* tests/test_cuda_concurrency.c: the same on the GPU */
#define CONC_DEVICE FKM_DEVICE_CPU
#endif

typedef struct {
    unsigned char *bytes;
    size_t len;
} blob;

static void blob_add(blob *b, const void *p, size_t n) {
    b->bytes = realloc(b->bytes, b->len + n);
    memcpy(b->bytes + b->len, p, n);
    b->len += n;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One call of case c; its outputs as bytes. threads: the CPU threads each call uses. */
static fkm_status run_case(int c, int threads, blob *out) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = K;
    p.device = CONC_DEVICE;
    p.threads = threads;
    p.seed = 100 + (uint64_t)c;
    p.max_iter = 20;
    p.init = c % 3 == 0 ? FKM_INIT_KMEANSPP : c % 3 == 1 ? FKM_INIT_KMEANS_PARALLEL : FKM_INIT_RANDOM;
    p.metric = (fkm_metric)(c % 3);
    p.n_init = 1 + c % 2;
    fkm_matrix m = {X, FKM_F32, N, D, c % 4 == 1 ? W : NULL};
    fkm_status st;
    if (c == 6) { /* batch */
        fkm_result r[B];
        st = fkm_fit_batch(&p, &m, B, r);
        for (int i = 0; st == FKM_OK && i < B; i++) {
            blob_add(out, r[i].centroids, sizeof(float) * K * D);
            blob_add(out, r[i].labels, sizeof(int32_t) * N);
            blob_add(out, &r[i].inertia, sizeof(double));
        }
        for (int i = 0; st == FKM_OK && i < B; i++) fkm_result_free(&r[i]);
        return st;
    }
    if (c == 7) { /* predict + transform with given centroids */
        int32_t *lab = malloc(sizeof(int32_t) * N);
        float *dist = malloc(sizeof(float) * N * K);
        st = fkm_predict(&p, &m, X, K, lab, dist);
        if (st == FKM_OK) blob_add(out, lab, sizeof(int32_t) * N), blob_add(out, dist, sizeof(float) * N);
        if (st == FKM_OK) st = fkm_transform(&p, &m, X + 5 * D, K, dist);
        if (st == FKM_OK) blob_add(out, dist, sizeof(float) * N * K);
        free(lab);
        free(dist);
        return st;
    }
    fkm_result r;
    st = fkm_fit(&p, &m, &r);
    if (st == FKM_OK) {
        blob_add(out, r.centroids, sizeof(float) * K * D);
        blob_add(out, r.labels, sizeof(int32_t) * N);
        blob_add(out, &r.inertia, sizeof(double));
        blob_add(out, &r.iterations, sizeof(int));
        fkm_result_free(&r);
    }
    return st;
}

static blob REF[NCASES];

/* A bad call whose message names this thread's value: k = 1000000 + tid * 1000 + i > n. */
static int bad_call_checks(int tid, int i) {
    fkm_params p;
    fkm_params_default(&p);
    p.device = CONC_DEVICE;
    p.k = 1000000 + tid * 1000 + i;
    fkm_matrix m = {X, FKM_F32, N, D, NULL};
    fkm_result r;
    if (fkm_fit(&p, &m, &r) != FKM_ERR_INVALID_ARG) return 0;
    char want[32], msg[512];
    snprintf(want, sizeof want, "%lld", (long long)p.k);
    snprintf(msg, sizeof msg, "%s", fkm_last_error());
    if (!strstr(msg, want)) {
        fprintf(stderr, "thread %d: last error '%s' is not about its own k=%s\n", tid, msg, want);
        return 0;
    }
    sched_yield(); /* other threads' calls (failing or not) in between must not change ours */
    return strcmp(msg, fkm_last_error()) == 0;
}

typedef struct {
    int tid, threads;
    double until;
    int calls, bad, wrong, errors;
} worker;

static void *work(void *arg) {
    worker *w = (worker *)arg;
    int i = 0;
    do {
        for (int c = 0; c < NCASES; c++, i++) {
            const int cc = (c + w->tid) % NCASES; /* threads start on different cases */
            blob got = {0};
            fkm_status st = run_case(cc, w->threads, &got);
            w->calls++;
            if (st != FKM_OK) w->errors++;
            else if (got.len != REF[cc].len || memcmp(got.bytes, REF[cc].bytes, got.len)) w->wrong++;
            free(got.bytes);
            if (!bad_call_checks(w->tid, i)) w->bad++;
        }
    } while (now_s() < w->until);
    return NULL;
}

/* ---------------------------------------------------------------- cancel from another thread */
typedef struct {
    atomic_int stop, iters_seen;
} cancel_flag;

static int watch_flag(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)max_iter; (void)s;
    cancel_flag *f = (cancel_flag *)u;
    atomic_store(&f->iters_seen, it + 1);
    return atomic_load(&f->stop);
}

typedef struct {
    cancel_flag flag;
    fkm_status st;
    fkm_result r;
} cancel_job;

static void *cancel_fit(void *arg) {
    cancel_job *j = (cancel_job *)arg;
    fkm_params p;
    fkm_params_default(&p);
    p.k = K; p.device = CONC_DEVICE; p.threads = 1; p.init = FKM_INIT_RANDOM;
    p.stop = FKM_STOP_FIXED; p.max_iter = 1000000; /* runs until cancelled (1e6 iterations: minutes) */
    p.progress_fn = watch_flag;
    p.progress_user = &j->flag;
    fkm_matrix m = {X, FKM_F32, N, D, NULL};
    j->st = fkm_fit(&p, &m, &j->r);
    return NULL;
}

static void test_cancel_from_other_thread(int nworkers) {
    cancel_job j;
    memset(&j, 0, sizeof j);
    pthread_t t, others[4];
    worker ow[4];
    const int no = nworkers < 4 ? nworkers : 4;
    for (int i = 0; i < no; i++) { /* fits running beside it must not notice */
        ow[i] = (worker){100 + i, 1, 0, 0, 0, 0, 0};
        pthread_create(&others[i], NULL, work, &ow[i]);
    }
    pthread_create(&t, NULL, cancel_fit, &j);
    const double t0 = now_s();
    while (atomic_load(&j.flag.iters_seen) < 3 && now_s() - t0 < 60) usleep(1000);
    atomic_store(&j.flag.stop, 1);
    pthread_join(t, NULL);
    const char *msg = fkm_last_error(); /* this thread's: empty, the cancel was another thread's */
    CHECK(j.st == FKM_ERR_CANCELLED, "cancel from another thread: %s", fkm_status_str(j.st));
    CHECK(j.r.stop_reason == FKM_STOPPED_CANCELLED && j.r.iterations >= 3 && j.r.centroids && j.r.labels,
          "cancel from another thread: the state reached is kept (stop %d, %d iterations)", (int)j.r.stop_reason,
          j.r.iterations);
    CHECK(msg[0] == '\0', "the cancelling thread's last error is '%s', want empty", msg);
    printf("fit cancelled from another thread after %d iterations (%.0f ms)\n", j.r.iterations, (now_s() - t0) * 1e3);
    fkm_result_free(&j.r);
    for (int i = 0; i < no; i++) {
        pthread_join(others[i], NULL);
        CHECK(ow[i].wrong == 0 && ow[i].errors == 0 && ow[i].bad == 0,
              "beside the cancelled fit, thread %d: %d wrong results, %d errors, %d last-error mix-ups", i,
              ow[i].wrong, ow[i].errors, ow[i].bad);
    }
}

int main(void) {
    if (CONC_DEVICE == FKM_DEVICE_CUDA && fkm_cuda_device_count() < 1) SKIP_ALL("no GPU");
    const char *es = getenv("FKM_STRESS_SECONDS"), *et = getenv("FKM_STRESS_THREADS");
    const double seconds = es ? atof(es) : 0;
    const int nthreads = et && atoi(et) > 0 ? atoi(et) : 8;
    double *x64 = malloc(sizeof(double) * N * D);
    X = malloc(sizeof(float) * B * N * D);
    gen_blobs(7, N, D, 6, 1.0, x64, X);
    memcpy(X + N * D, X, sizeof(float) * N * D); /* the batch's second problem (another seed) */
    free(x64);
    W = malloc(sizeof(float) * N);
    uint64_t s = 9;
    for (int i = 0; i < N; i++) W[i] = (float)(0.5 + gen_unif(&s));

    /* serial reference, one thread per call; the library's results do not depend on the count */
    for (int c = 0; c < NCASES; c++)
        CHECK(run_case(c, 1, &REF[c]) == FKM_OK, "serial case %d: %s", c, fkm_last_error());
    for (int c = 0; c < NCASES; c++) {
        blob two = {0};
        CHECK(run_case(c, 2, &two) == FKM_OK && two.len == REF[c].len && !memcmp(two.bytes, REF[c].bytes, two.len),
              "case %d: 2 threads differ from 1", c);
        free(two.bytes);
    }

    /* rounds of nthreads callers at once: library threads 1, 2 and 0 (chosen by the library) */
    const double t0 = now_s();
    int total = 0;
    for (int round = 0; round < 3; round++) {
        pthread_t *t = malloc(sizeof(pthread_t) * (size_t)nthreads);
        worker *w = calloc((size_t)nthreads, sizeof(worker));
        const int lib_threads = round == 0 ? 1 : round == 1 ? 2 : 0;
        for (int i = 0; i < nthreads; i++) {
            w[i] = (worker){i, lib_threads, t0 + seconds * (round + 1) / 3, 0, 0, 0, 0};
            pthread_create(&t[i], NULL, work, &w[i]);
        }
        for (int i = 0; i < nthreads; i++) {
            pthread_join(t[i], NULL);
            total += w[i].calls;
            CHECK(w[i].errors == 0, "round %d thread %d: %d calls failed", round, i, w[i].errors);
            CHECK(w[i].wrong == 0, "round %d thread %d: %d of %d results differ from the serial run", round, i,
                  w[i].wrong, w[i].calls);
            CHECK(w[i].bad == 0, "round %d thread %d: %d last-error checks failed", round, i, w[i].bad);
        }
        free(t);
        free(w);
    }
    printf("%d threads at once (library threads 1, 2, auto): %d calls in %.1f s, each equal to the serial run, "
           "%d per-thread error messages checked\n", nthreads, total, now_s() - t0, total);
    test_cancel_from_other_thread(nthreads);
    for (int c = 0; c < NCASES; c++) free(REF[c].bytes);
    free(X);
    free(W);
    return check_report();
}
