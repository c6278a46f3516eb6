/* test_faults.c -- host faults on the CPU engine (issue 23, item 2): every host allocation of the
 * library failed in turn (src/fault.h) for fits with the main options, the batch fit, predict,
 * transform, score, the file writers and a reader; cancellation at every iteration. Each failure
 * must give FKM_ERR_NO_MEMORY with an "out of ... memory" message, a zeroed result or no file (the
 * old one intact, no temporary left), and the next call in the process must give the clean run's
 * outputs. Leaks: LSan, under make test-asan (a failure path that leaks fails that run). */
#define _GNU_SOURCE
#include "fault_sweep.h"
#include "gen.h"
#include "io/io.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static float *blobs(uint64_t seed, int64_t n, int64_t d, int64_t b) {
    double *x64 = malloc((size_t)(n * d) * sizeof(double));
    float *x = malloc((size_t)(n * d) * sizeof(float));
    gen_blobs(seed, n, d, b, 1.0, x64, x);
    free(x64);
    return x;
}

enum { N = 600, D = 6, K = 7, B = 3 };
static float *X, *XB, *W, *C0;
static double *X64;

/* ---------------------------------------------------------------- fits */
typedef struct {
    const char *name;
    fkm_init init;
    int n_init, threads, weighted, f64, batch, metric, progress, freeze;
} fit_case;

static int keep_going(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)it; (void)max_iter; (void)s; (void)u;
    return 0;
}

static void run_fit(const void *arg, fault_outcome *o) {
    const fit_case *c = (const fit_case *)arg;
    fkm_params p;
    fkm_params_default(&p);
    p.k = K;
    p.device = FKM_DEVICE_CPU;
    p.seed = 11;
    p.max_iter = 6;
    p.stop = FKM_STOP_FIXED;
    p.init = c->init;
    p.init_centroids = c->init == FKM_INIT_ARRAY ? C0 : NULL;
    p.freeze_init = c->freeze;
    p.n_init = c->n_init;
    p.threads = c->threads;
    p.metric = (fkm_metric)c->metric;
    if (c->progress) p.progress_fn = keep_going;
    const int64_t b = c->batch ? B : 1;
    fkm_matrix m = {c->batch ? (const void *)XB : c->f64 ? (const void *)X64 : (const void *)X,
                    c->f64 ? FKM_F64 : FKM_F32, N, D, c->weighted ? W : NULL};
    fkm_result r[B];
    memset(r, 0x5a, sizeof r); /* garbage: a failure must zero it */
    fkm_status st = c->batch ? fkm_fit_batch(&p, &m, b, r) : fkm_fit(&p, &m, r);
    fault_fit_outcome(o, st, r, b);
}

static const fit_case FITS[] = {
    {"fit k-means++", FKM_INIT_KMEANSPP, 1, 1, 0, 0, 0, 0, 0, 0},
    {"fit random, 3 restarts", FKM_INIT_RANDOM, 3, 1, 0, 0, 0, 0, 0, 0},
    {"fit k-means||", FKM_INIT_KMEANS_PARALLEL, 1, 1, 0, 0, 0, 0, 0, 0},
    {"fit k-means||, 2 restarts, weights", FKM_INIT_KMEANS_PARALLEL, 2, 1, 1, 0, 0, 0, 0, 0},
    {"fit k-means++, weights, cosine", FKM_INIT_KMEANSPP, 1, 1, 1, 0, 0, 1, 0, 0},
    {"fit float64 data, inner product", FKM_INIT_KMEANSPP, 1, 1, 0, 1, 0, 2, 0, 0},
    {"fit given centroids, progress", FKM_INIT_ARRAY, 1, 1, 0, 0, 0, 0, 1, 0},
    {"fit given centroids, frozen", FKM_INIT_ARRAY, 1, 1, 0, 0, 0, 0, 0, 1},
    {"fit_batch of 3, weights", FKM_INIT_KMEANSPP, 2, 1, 1, 0, 1, 0, 0, 0},
    {"fit k-means++, 2 threads", FKM_INIT_KMEANSPP, 2, 2, 1, 0, 0, 0, 0, 0},
};

/* ---------------------------------------------------------------- predict, transform, score */
typedef enum { OP_PREDICT, OP_PREDICT_DIST, OP_TRANSFORM, OP_SCORE } op_kind;

static void run_op(const void *arg, fault_outcome *o) {
    const op_kind op = *(const op_kind *)arg;
    fkm_params p;
    fkm_params_default(&p);
    p.k = K;
    p.device = FKM_DEVICE_CPU;
    p.threads = 1;
    fkm_matrix m = {X, FKM_F32, N, D, op == OP_SCORE ? W : NULL};
    int32_t *lab = malloc(N * sizeof *lab);
    float *dist = malloc((size_t)N * K * sizeof *dist);
    double inertia = 0;
    fkm_status st = op == OP_PREDICT ? fkm_predict(&p, &m, C0, K, lab, NULL)
                    : op == OP_PREDICT_DIST ? fkm_predict(&p, &m, C0, K, lab, dist)
                    : op == OP_TRANSFORM ? fkm_transform(&p, &m, C0, K, dist)
                                         : fkm_score(&p, &m, C0, K, &inertia);
    fault_outcome_status(o, st);
    if (st == FKM_OK) {
        if (op == OP_PREDICT || op == OP_PREDICT_DIST) fault_outcome_add(o, lab, N * sizeof *lab);
        if (op == OP_PREDICT_DIST) fault_outcome_add(o, dist, N * sizeof *dist);
        if (op == OP_TRANSFORM) fault_outcome_add(o, dist, (size_t)N * K * sizeof *dist);
        if (op == OP_SCORE) fault_outcome_add(o, &inertia, sizeof inertia);
    }
    free(lab);
    free(dist);
}

/* ---------------------------------------------------------------- writers, a reader */
static char DIR_[256];
static const char OLD[] = "precious old contents";

typedef enum { W_NPY_REPLACE, W_NPY_NEW, W_FVECS_NEW, W_IVECS_REPLACE, W_BYTES_NEW, W_TWO_STAGED } write_kind;

static int dir_entries(void) {
    DIR *dd = opendir(DIR_);
    int n = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    if (dd) closedir(dd);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = malloc(1 << 20);
    *len = fread(b, 1, 1 << 20, f);
    fclose(f);
    return b;
}

static long long FSIZE = -1; /* >= 0: the file size limit while writing (a disk that fills up) */

static void run_write(const void *arg, fault_outcome *o) {
    const write_kind w = *(const write_kind *)arg;
    struct rlimit lim0, lim;
    char a[300], b[300];
    const int replace = w == W_NPY_REPLACE || w == W_IVECS_REPLACE;
    snprintf(a, sizeof a, "%s/%s", DIR_, w == W_FVECS_NEW ? "c.fvecs" : w == W_IVECS_REPLACE ? "l.ivecs" : w == W_BYTES_NEW ? "r.json" : "c.npy");
    snprintf(b, sizeof b, "%s/l.npy", DIR_);
    if (replace) {
        FILE *f = fopen(a, "wb");
        fwrite(OLD, 1, sizeof OLD, f);
        fclose(f);
    }
    int32_t lab[N];
    for (int i = 0; i < N; i++) lab[i] = i % K;
    fkm_status st;
    fkm_io_pending p1, p2;
    getrlimit(RLIMIT_FSIZE, &lim0);
    lim = lim0;
    if (FSIZE >= 0) lim.rlim_cur = (rlim_t)FSIZE;
    setrlimit(RLIMIT_FSIZE, &lim);
    switch (w) {
    case W_NPY_REPLACE:
    case W_NPY_NEW: st = fkm_io_write_npy(a, X, FKM_NPY_F4, 2, N, D); break;
    case W_FVECS_NEW:
        st = fkm_io_stage_vecs(a, X, FKM_FMT_FVECS, N, D, &p1);
        if (st == FKM_OK) st = fkm_io_commit(&p1);
        break;
    case W_IVECS_REPLACE:
        st = fkm_io_stage_vecs(a, lab, FKM_FMT_IVECS, N, 1, &p1);
        if (st == FKM_OK) st = fkm_io_commit(&p1);
        break;
    case W_BYTES_NEW:
        st = fkm_io_stage_bytes(a, "{\"k\": 7}\n", 9, &p1);
        if (st == FKM_OK) st = fkm_io_commit(&p1);
        break;
    default: /* as the CLI: stage both, then commit both; a failed stage discards the other */
        st = fkm_io_stage_npy(a, X, FKM_NPY_F4, 2, N, D, &p1);
        if (st == FKM_OK) {
            st = fkm_io_stage_npy(b, lab, FKM_NPY_I4, 1, N, 1, &p2);
            if (st != FKM_OK) fkm_io_discard(&p1);
        }
        if (st == FKM_OK) {
            st = fkm_io_commit(&p1);
            if (st == FKM_OK) st = fkm_io_commit(&p2);
            else fkm_io_discard(&p2);
        }
    }
    setrlimit(RLIMIT_FSIZE, &lim0);
    fault_outcome_status(o, st);
    size_t len = 0;
    unsigned char *got = slurp(a, &len);
    if (st == FKM_OK) {
        fault_outcome_add(o, got, len);
        if (w == W_TWO_STAGED) {
            free(got);
            got = slurp(b, &len);
            fault_outcome_add(o, got, len);
        }
        if (dir_entries() != (w == W_TWO_STAGED ? 2 : 1)) {
            o->st = FKM_ERR_INTERNAL;
            snprintf(o->msg, sizeof o->msg, "a temporary file is left after a write that succeeded");
        }
    } else if (replace ? !got || len != sizeof OLD || memcmp(got, OLD, len) : got != NULL) {
        o->dirty = 1;
        snprintf(o->why, sizeof o->why, "'%s' %s", a, replace ? "is no longer the old file" : "exists");
    } else if (dir_entries() != replace) {
        o->dirty = 1;
        snprintf(o->why, sizeof o->why, "%d files in the directory (a temporary left?)", dir_entries());
    }
    free(got);
    unlink(a);
    unlink(b);
}

static void run_read(const void *arg, fault_outcome *o) {
    (void)arg;
    char a[300];
    snprintf(a, sizeof a, "%s/in.npy", DIR_);
    fkm_io_array arr;
    float *f32 = NULL;
    fkm_status st = fkm_io_read(a, NULL, &arr);
    if (st == FKM_OK) {
        st = fkm_io_to_f32(&arr, &f32);
        fkm_io_close(&arr);
    }
    fault_outcome_status(o, st);
    if (st == FKM_OK) fault_outcome_add(o, f32, (size_t)N * D * sizeof(float));
    else if (f32) {
        o->dirty = 1;
        snprintf(o->why, sizeof o->why, "output pointer set on failure");
    }
    free(f32); /* fkm_alloc'ed: free() releases it (src/internal.h) */
}

/* Every writer with the disk full at each point of its output (a file size limit: EFBIG from the
 * write that crosses it, SIGXFSZ ignored as the CLI does): FKM_ERR_IO naming the cause, the old
 * file intact or no file, no temporary left; then the same write without the limit succeeds. */
static void test_disk_full(const write_kind *ws, const char *const *names, int nw, int64_t *cases) {
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < nw; i++) {
        fault_outcome ref = {0}, o = {0};
        run_write(&ws[i], &ref);
        CHECK(ref.st == FKM_OK, "%s: clean write: %s", names[i], ref.msg);
        for (long long at = 0; ref.st == FKM_OK && at < (long long)N * D * 4; at = at < 256 ? at + 64 : at * 3 / 2) {
            FSIZE = at;
            run_write(&ws[i], &o);
            FSIZE = -1;
            if (o.st == FKM_OK) { /* the output fits under this limit: it must be complete */
                CHECK(fault_same(&o, &ref), "%s, disk full at %lld bytes: other bytes written", names[i], at);
            } else {
                (*cases)++;
                CHECK(o.st == FKM_ERR_IO && strstr(o.msg, "too large"), "%s, disk full at %lld bytes: %s (%s)",
                      names[i], at, fkm_status_str(o.st), o.msg);
                CHECK(!o.dirty, "%s, disk full at %lld bytes: %s", names[i], at, o.why);
            }
            fault_outcome_clear(&o);
            run_write(&ws[i], &o);
            CHECK(fault_same(&o, &ref), "%s: the write after a full disk at %lld bytes: %s", names[i], at, o.msg);
            fault_outcome_clear(&o);
        }
        fault_outcome_clear(&ref);
    }
}

/* ---------------------------------------------------------------- cancellation */
typedef struct { int at, calls; } cancel_at;

static int cancel_cb(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)it; (void)max_iter; (void)s;
    cancel_at *c = (cancel_at *)u;
    return c->calls++ == c->at;
}

/* Cancel at every progress call of a fit with restarts and of a batch fit: FKM_ERR_CANCELLED with
 * its message, the state reached kept (freed by fkm_result_free, LSan checks), and the next fit
 * gives the clean run's outputs. */
static void test_cancel(int64_t *cases) {
    for (int batch = 0; batch < 2; batch++) {
        fkm_params p;
        fkm_params_default(&p);
        p.k = K; p.device = FKM_DEVICE_CPU; p.seed = 3; p.max_iter = 5; p.stop = FKM_STOP_FIXED;
        p.n_init = 2; p.threads = 1; p.progress_fn = cancel_cb;
        const int64_t b = batch ? B : 1;
        fkm_matrix m = {batch ? XB : X, FKM_F32, N, D, NULL};
        cancel_at never = {-1, 0};
        p.progress_user = &never;
        fkm_result ref[B], r[B];
        CHECK(fkm_fit_batch(&p, &m, b, ref) == FKM_OK, "cancel: clean run: %s", fkm_last_error());
        const int total = never.calls;
        CHECK(total == (int)b * 2 * 5, "cancel: %d progress calls, want %d", total, (int)b * 10);
        for (int at = 0; at < total; at++) {
            cancel_at c = {at, 0};
            p.progress_user = &c;
            fkm_status st = fkm_fit_batch(&p, &m, b, r);
            (*cases)++;
            CHECK(st == FKM_ERR_CANCELLED && strstr(fkm_last_error(), "cancelled"), "cancel at %d: %s (%s)", at,
                  fkm_status_str(st), fkm_last_error());
            const int64_t which = at / 10; /* the problem that was running */
            /* kept: the better of the restarts run, the cancelled one with the iterations it ran */
            const int restart = at % 10 / 5, ran = r[which].best_init == restart ? at % 5 + 1 : 5;
            CHECK(r[which].stop_reason == FKM_STOPPED_CANCELLED && r[which].best_init <= restart &&
                      r[which].iterations == ran && r[which].centroids && r[which].labels,
                  "cancel at %d: the state reached is kept (stop %d, restart %d, %d iterations)", at,
                  (int)r[which].stop_reason, r[which].best_init, r[which].iterations);
            for (int64_t i = 0; i < b; i++) {
                if (i > which) CHECK(r[i].centroids == NULL, "cancel at %d: problem %lld not run but filled", at, (long long)i);
                fkm_result_free(&r[i]);
            }
            p.progress_user = &never;
            CHECK(fkm_fit_batch(&p, &m, b, r) == FKM_OK, "after cancel at %d: %s", at, fkm_last_error());
            for (int64_t i = 0; i < b; i++) {
                CHECK(memcmp(r[i].centroids, ref[i].centroids, sizeof(float) * K * D) == 0 &&
                          memcmp(r[i].labels, ref[i].labels, sizeof(int32_t) * N) == 0,
                      "after cancel at %d: problem %lld differs from the clean run", at, (long long)i);
                fkm_result_free(&r[i]);
            }
        }
        for (int64_t i = 0; i < b; i++) fkm_result_free(&ref[i]);
    }
}

int main(void) {
    X = blobs(1, N, D, 5);
    XB = malloc(sizeof(float) * B * N * D);
    for (int i = 0; i < B; i++) {
        float *xi = blobs(20 + (uint64_t)i, N, D, 4 + i);
        memcpy(XB + (size_t)i * N * D, xi, sizeof(float) * N * D);
        free(xi);
    }
    X64 = malloc(sizeof(double) * N * D);
    for (int i = 0; i < N * D; i++) X64[i] = X[i];
    W = malloc(sizeof(float) * B * N);
    uint64_t s = 5;
    for (int i = 0; i < B * N; i++) W[i] = (float)(0.25 + gen_unif(&s));
    C0 = malloc(sizeof(float) * K * D);
    memcpy(C0, X + 3 * D, sizeof(float) * K * D);
    snprintf(DIR_, sizeof DIR_, "%s/fkm_faults.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(DIR_)) SKIP_ALL("cannot create a temporary directory: %s", strerror(errno));
    char in[300];
    snprintf(in, sizeof in, "%s/in.npy", DIR_);

    printf("host allocation failures, one at a time:\n");

    fault_totals t = {0};
    for (size_t i = 0; i < sizeof FITS / sizeof FITS[0]; i++)
        fault_sweep(&t, FITS[i].name, FKM_FAULT_HOST_ALLOC, run_fit, &FITS[i], FKM_ERR_NO_MEMORY, "memory",
                    FITS[i].threads == 1, 0);
    static const op_kind OPS[] = {OP_PREDICT, OP_PREDICT_DIST, OP_TRANSFORM, OP_SCORE};
    static const char *const OPN[] = {"predict", "predict with distances", "transform", "score, weights"};
    for (int i = 0; i < 4; i++)
        fault_sweep(&t, OPN[i], FKM_FAULT_HOST_ALLOC, run_op, &OPS[i], FKM_ERR_NO_MEMORY, "memory", 1, 0);
    static const write_kind WS[] = {W_NPY_REPLACE, W_NPY_NEW, W_FVECS_NEW, W_IVECS_REPLACE, W_BYTES_NEW, W_TWO_STAGED};
    static const char *const WN[] = {"write .npy over an old file", "write .npy", "write .fvecs", "write .ivecs over an old file",
                                     "write bytes (report)", "stage two outputs, commit both"};
    for (int i = 0; i < 6; i++)
        fault_sweep(&t, WN[i], FKM_FAULT_HOST_ALLOC, run_write, &WS[i], FKM_ERR_NO_MEMORY, "memory", 1, 0);
    CHECK(fkm_io_write_npy(in, X, FKM_NPY_F4, 2, N, D) == FKM_OK, "input file: %s", fkm_last_error());
    fault_sweep(&t, "read .npy, to float32", FKM_FAULT_HOST_ALLOC, run_read, NULL, FKM_ERR_NO_MEMORY, "memory", 1, 0);
    unlink(in);

    int64_t cancels = 0, full = 0;
    test_cancel(&cancels);
    test_disk_full(WS, WN, 6, &full);

    CHECK(rmdir(DIR_) == 0, "the scratch directory is not empty: %s", strerror(errno));
    printf("%d sweeps: %lld allocations failed one at a time, %lld gave a clear error, %lld were recovered from; "
           "%lld cancellations; %lld writes failed by a full disk\n",
           t.sweeps, (long long)t.events, (long long)t.failed, (long long)t.tolerated, (long long)cancels, (long long)full);
    free(X); free(XB); free(X64); free(W); free(C0);
    return check_report();
}
