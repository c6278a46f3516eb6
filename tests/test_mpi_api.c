/* test_mpi_api.c -- fkm_mpi_fit gives bitwise the same centroids, labels, inertia and statistics
 * on 1, 2, 3 and 4 ranks, for any split of the rows (even, skewed, a 1-row and a 0-row slice,
 * ranks holding their slices in reverse order) and any thread count; it agrees with fkm_fit to
 * rounding; a different seed gives a different answer (so the comparison can fail); failures on
 * one rank are reported by all, with the same status.
 *
 * Run by ctest as a plain program, it re-launches itself as `mpirun -np 4` (oversubscribed,
 * allowed as root). Each case runs on the sub-communicators of the first s ranks, s = 1..size,
 * and world rank 0 compares the gathered results with the s = 1 run. Exit 77 only when the
 * library was built without MPI. */
#include "check.h"
#include "gen.h"
#include "flashkmeans.h"

#ifndef FKM_HAVE_MPI
int main(void) { SKIP_ALL("built without MPI (FKM_MPI=OFF or no MPI found)"); }
#else
#include "flashkmeans_mpi.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

static int wrank, wsize;

typedef enum { SPLIT_EVEN, SPLIT_SKEW, SPLIT_TINY, SPLIT_REVERSE } split_kind;

/* Rows [*r0, *r0 + *n) of rank r among s for N rows. */
static void slice_of(split_kind kind, int r, int s, int64_t N, int64_t *r0, int64_t *n) {
    int64_t b[8];
    for (int q = 0; q <= s; q++) b[q] = N * q / s;
    if (kind == SPLIT_SKEW)
        for (int q = 0; q <= s; q++) b[q] = N * q * q / (s * s);
    if (kind == SPLIT_TINY && s >= 2) { /* rank 0: one row, rank 1: none (s > 2), the rest even */
        b[1] = 1;
        if (s > 2) b[2] = 1;
        for (int q = s > 2 ? 3 : 2; q < s; q++) b[q] = 1 + (N - 1) * (q - (s > 2 ? 2 : 1)) / (s - (s > 2 ? 2 : 1));
    }
    const int pos = kind == SPLIT_REVERSE ? s - 1 - r : r;
    *r0 = b[pos];
    *n = b[pos + 1] - b[pos];
}

typedef struct {
    const char *name;
    int64_t N, d, k;
    fkm_init init;
    fkm_metric metric;
    fkm_empty_policy empty;
    fkm_stop_rule stop;
    int weighted, max_iter, n_init, far_init;
    split_kind split;
} tcase;

typedef struct {
    float *cen;
    int32_t *labels; /* N, global order (world rank 0 only) */
    fkm_result r;
    fkm_status st;
} run_out;

static float *make_data(const tcase *t, float **w) {
    double *x64 = malloc((size_t)(t->N * t->d) * sizeof(double));
    float *x = malloc((size_t)(t->N * t->d) * sizeof(float));
    gen_blobs(1234 + (uint64_t)t->N, t->N, t->d, t->k > 3 ? t->k - 2 : t->k, 0.8, x64, x);
    free(x64);
    *w = NULL;
    if (t->weighted) {
        uint64_t s = 99;
        *w = malloc((size_t)t->N * sizeof(float));
        for (int64_t i = 0; i < t->N; i++) (*w)[i] = i % 17 == 5 ? 0.0f : (float)(0.25 + 3.0 * gen_unif(&s));
    }
    return x;
}

/* k x d init centroids: the first k rows, the last one moved far away (it starts empty). */
static float *far_init(const tcase *t, const float *x) {
    float *c = malloc((size_t)(t->k * t->d) * sizeof(float));
    memcpy(c, x, (size_t)(t->k * t->d) * sizeof(float));
    for (int64_t j = 0; j < t->d; j++) c[(t->k - 1) * t->d + j] = 1000.0f + (float)j;
    return c;
}

static void set_params(const tcase *t, fkm_params *p, uint64_t seed, int threads, const float *init) {
    fkm_params_default(p);
    p->k = t->k;
    p->init = init ? FKM_INIT_ARRAY : t->init;
    p->init_centroids = init;
    p->metric = t->metric;
    p->empty = t->empty;
    p->stop = t->stop;
    p->tol = 1e-6;
    p->max_iter = t->max_iter;
    p->n_init = t->n_init;
    p->seed = seed;
    p->threads = threads;
    p->device = FKM_DEVICE_CPU;
}

/* Fit on the first s world ranks; world rank 0 gets the result with labels in global order. */
static void run_on(const tcase *t, int s, uint64_t seed, const float *x, const float *w, const float *init,
                   run_out *o) {
    memset(o, 0, sizeof *o);
    MPI_Comm comm;
    MPI_Comm_split(MPI_COMM_WORLD, wrank < s ? 1 : MPI_UNDEFINED, wrank, &comm);
    if (comm == MPI_COMM_NULL) return;
    int64_t r0, n;
    slice_of(t->split, wrank, s, t->N, &r0, &n);
    fkm_params p;
    set_params(t, &p, seed, 1 + (wrank + s) % 2, init);
    fkm_matrix m = {n ? x + r0 * t->d : NULL, FKM_F32, n, t->d, w && n ? w + r0 : NULL};
    if (w && !n) m.weights = w; /* all ranks pass weights or none do; n = 0 reads nothing */
    o->st = fkm_mpi_fit(comm, &p, &m, r0, &o->r);
    if (wrank == 0) o->labels = calloc((size_t)t->N, sizeof(int32_t));
    /* gather labels by global row: rank 0 receives each rank's slice at its offset */
    int64_t info[2] = {r0, o->st == FKM_OK ? n : 0};
    int64_t all[16];
    MPI_Gather(info, 2, MPI_INT64_T, all, 2, MPI_INT64_T, 0, comm);
    if (wrank == 0) {
        if (o->st == FKM_OK && n) memcpy(o->labels + r0, o->r.labels, (size_t)n * sizeof(int32_t));
        for (int q = 1; q < s; q++)
            if (all[2 * q + 1] > 0)
                MPI_Recv(o->labels + all[2 * q], (int)all[2 * q + 1], MPI_INT32_T, q, 7, comm, MPI_STATUS_IGNORE);
    } else if (o->st == FKM_OK && n > 0) {
        MPI_Send(o->r.labels, (int)n, MPI_INT32_T, 0, 7, comm);
    }
    MPI_Comm_free(&comm);
}

static int same_result(const tcase *t, const run_out *a, const run_out *b, const char *what) {
    const fkm_result *x = &a->r, *y = &b->r;
    int ok = a->st == FKM_OK && b->st == FKM_OK;
    ok = ok && !memcmp(x->centroids, y->centroids, (size_t)(t->k * t->d) * sizeof(float));
    ok = ok && !memcmp(a->labels, b->labels, (size_t)t->N * sizeof(int32_t));
    ok = ok && !memcmp(&x->inertia, &y->inertia, sizeof(double)) && x->iterations == y->iterations &&
         x->stop_reason == y->stop_reason && x->best_init == y->best_init;
    for (int i = 0; ok && i < x->iterations; i++) {
        const fkm_iter_stats *u = &x->stats[i], *v = &y->stats[i];
        ok = !memcmp(&u->inertia, &v->inertia, sizeof(double)) && !memcmp(&u->shift, &v->shift, sizeof(double)) &&
             u->empty == v->empty && u->changed == v->changed;
    }
    if (!ok && wrank == 0 && !strstr(what, "expected"))
        fprintf(stderr, "  %s: %s differs (status %d/%d, inertia %.17g vs %.17g, iters %d vs %d)\n", t->name, what,
                (int)a->st, (int)b->st, x->inertia, y->inertia, x->iterations, y->iterations);
    return ok;
}

static void free_out(run_out *o) {
    fkm_result_free(&o->r);
    free(o->labels);
}

/* fkm_fit on the whole data (rank 0): same problem, float64 block sums instead of fixed point. */
static void compare_with_fit(const tcase *t, const run_out *ref, const float *x, const float *w, const float *init) {
    fkm_params p;
    set_params(t, &p, 7, 1, init);
    fkm_matrix m = {x, FKM_F32, t->N, t->d, w};
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK, "%s: fkm_fit failed: %s", t->name, fkm_last_error());
    if (st != FKM_OK) return;
    int64_t diff = 0;
    for (int64_t i = 0; i < t->N; i++) diff += r.labels[i] != ref->labels[i];
    double cmax = 0, scale = 0;
    for (int64_t i = 0; i < t->k * t->d; i++) {
        cmax = fmax(cmax, fabs((double)r.centroids[i] - ref->r.centroids[i]));
        scale = fmax(scale, fabs((double)r.centroids[i]));
    }
    CHECK(diff * 100 <= t->N, "%s: %lld of %lld labels differ from fkm_fit", t->name, (long long)diff, (long long)t->N);
    CHECK(cmax <= 1e-4 * scale, "%s: centroids differ from fkm_fit by %g (scale %g)", t->name, cmax, scale);
    CHECK(fabs(r.inertia - ref->r.inertia) <= 1e-5 * fabs(r.inertia), "%s: inertia %.9g vs fkm_fit %.9g", t->name,
          ref->r.inertia, r.inertia);
    fkm_result_free(&r);
}

static void run_case(const tcase *t) {
    float *w = NULL, *x = make_data(t, &w);
    float *init = t->far_init ? far_init(t, x) : NULL;
    run_out ref, o;
    run_on(t, 1, 7, x, w, init, &ref);
    if (wrank == 0) {
        CHECK(ref.st == FKM_OK, "%s: 1 rank failed: %s", t->name, fkm_last_error());
        if (t->far_init) CHECK(ref.r.iterations > 0 && ref.r.stats[0].empty >= 1, "%s: no empty cluster", t->name);
    }
    for (int s = 2; s <= wsize && s <= 4; s++) {
        run_on(t, s, 7, x, w, init, &o);
        if (wrank == 0) {
            char what[32];
            snprintf(what, sizeof what, "%d ranks", s);
            CHECK(same_result(t, &ref, &o, what), "%s: %d ranks differ from 1 rank", t->name, s);
        }
        free_out(&o);
    }
    if (!t->far_init) { /* another seed must change the answer: the comparison can fail */
        run_on(t, wsize < 2 ? 1 : 2, 8, x, w, init, &o);
        if (wrank == 0) CHECK(!same_result(t, &ref, &o, "seed 8 (expected)"), "%s: seed 8 gave the seed-7 answer", t->name);
        free_out(&o);
    }
    if (wrank == 0 && ref.st == FKM_OK) compare_with_fit(t, &ref, x, w, init);
    free_out(&ref);
    free(x);
    free(w);
    free(init);
}

/* A NaN in rank 1's slice, a wrong d on one rank, a gap between slices, mismatched k: every
 * rank returns the same status. */
static void errors(void) {
    const int64_t N = 64, d = 3;
    float *x = malloc((size_t)(N * d) * sizeof(float));
    for (int64_t i = 0; i < N * d; i++) x[i] = (float)(i % 7);
    fkm_params p;
    fkm_params_default(&p);
    p.k = 4;
    p.threads = 1;
    int64_t r0 = N * wrank / wsize, n = N * (wrank + 1) / wsize - r0;
    fkm_result r;
    int expect_rank = wsize > 1 ? 1 : 0;
    if (wrank == expect_rank) x[(N * expect_rank / wsize) * d + 1] = NAN;
    fkm_matrix m = {x + r0 * d, FKM_F32, n, d, NULL};
    fkm_status st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    char want[32];
    snprintf(want, sizeof want, "rank %d: ", expect_rank);
    CHECK(st == FKM_ERR_BAD_INPUT, "NaN on rank %d: status %d on rank %d", expect_rank, (int)st, wrank);
    CHECK(wsize == 1 || strstr(fkm_last_error(), want), "NaN: message '%s' on rank %d", fkm_last_error(), wrank);
    CHECK(r.centroids == NULL && r.labels == NULL, "failure leaves a zeroed result");
    x[(N * expect_rank / wsize) * d + 1] = 1.0f;

    m.d = wrank == wsize - 1 && wsize > 1 ? 2 : d;
    st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    CHECK(wsize == 1 || st == FKM_ERR_INVALID_ARG, "d mismatch: status %d on rank %d", (int)st, wrank);
    if (st == FKM_OK) fkm_result_free(&r);
    m.d = d;

    st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0 + (wrank == wsize - 1), &r); /* last slice shifted by one */
    CHECK(st == FKM_ERR_INVALID_ARG, "gap: status %d on rank %d: %s", (int)st, wrank, fkm_last_error());

    p.k = wrank == 0 ? 4 : 5;
    st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    CHECK(wsize == 1 || st == FKM_ERR_INVALID_ARG, "k mismatch: status %d on rank %d", (int)st, wrank);
    if (st == FKM_OK) fkm_result_free(&r);
    p.k = 100; /* k > N */
    st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    CHECK(st == FKM_ERR_INVALID_ARG, "k > N: status %d on rank %d", (int)st, wrank);
    p.k = 4;
    p.max_cluster_size = wrank == 0 ? 0 : 16; /* refused on every rank, even with one rank capped */
    if (wsize == 1) p.max_cluster_size = 16;
    st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    CHECK(st == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "max_cluster_size"), "cap: status %d on rank %d: %s",
          (int)st, wrank, fkm_last_error());
    p.max_cluster_size = 0;
    for (int i = 0; i < 2; i++) { /* host-only initialisations: refused on every rank, nothing half-done */
        p.init = i ? FKM_INIT_HIERARCHICAL : FKM_INIT_KMEANS_PARALLEL;
        st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
        CHECK(st == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), i ? "hierarchical" : "k-means||") &&
                  r.centroids == NULL,
              "init %d: status %d on rank %d: %s", (int)p.init, (int)st, wrank, fkm_last_error());
    }
    p.init = FKM_INIT_KMEANSPP;
    free(x);
}

/* A progress callback on the last rank only cancels every rank after the same iteration. */
static int cancel_at_2(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)max_iter; (void)s; (void)u;
    return it == 2;
}
static void cancel(void) {
    const int64_t N = 300, d = 4;
    double *x64 = malloc((size_t)(N * d) * sizeof(double));
    float *x = malloc((size_t)(N * d) * sizeof(float));
    gen_blobs(5, N, d, 6, 2.0, x64, x);
    fkm_params p;
    fkm_params_default(&p);
    p.k = 6;
    p.threads = 1;
    p.stop = FKM_STOP_FIXED;
    p.max_iter = 20;
    if (wrank == wsize - 1) p.progress_fn = cancel_at_2;
    int64_t r0 = N * wrank / wsize, n = N * (wrank + 1) / wsize - r0;
    fkm_matrix m = {x + r0 * d, FKM_F32, n, d, NULL};
    fkm_result r;
    fkm_status st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &m, r0, &r);
    CHECK(st == FKM_ERR_CANCELLED && r.iterations == 3 && r.stop_reason == FKM_STOPPED_CANCELLED,
          "cancel: status %d, %d iterations on rank %d", (int)st, r.iterations, wrank);
    fkm_result_free(&r);
    free(x);
    free(x64);
}

static int relaunch(char **argv) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("FKM_MPI_CHILD"))
        return 0;
    setenv("FKM_MPI_CHILD", "1", 1);
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0); /* containers forbid CMA */
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
    /* 4 ranks on few cores: spinning waiters (MPI and OpenMP) would starve the working ranks */
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
    setenv("OMP_WAIT_POLICY", "passive", 0);
#ifdef __SANITIZE_ADDRESS__
    setenv("ASAN_OPTIONS", "detect_leaks=0", 0); /* Open MPI keeps allocations until exit */
#endif
    char *args[] = {"mpirun", "-np", "4", "--oversubscribe", "--allow-run-as-root", argv[0], NULL};
    execvp("mpirun", args);
    perror("test_mpi_api: cannot run mpirun (install openmpi-bin)");
    return 1;
}

int main(int argc, char **argv) {
    (void)argc;
    if (relaunch(argv)) return 1;
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &wrank);
    MPI_Comm_size(MPI_COMM_WORLD, &wsize);
    static const tcase cases[] = {
        {"kmeans++ l2", 1001, 16, 10, FKM_INIT_KMEANSPP, FKM_METRIC_L2, FKM_EMPTY_FARTHEST, FKM_STOP_SHIFT, 0, 50, 1, 0, SPLIT_EVEN},
        {"random l2 skew", 997, 7, 13, FKM_INIT_RANDOM, FKM_METRIC_L2, FKM_EMPTY_FARTHEST, FKM_STOP_INERTIA, 0, 50, 2, 0, SPLIT_SKEW},
        {"kmeans++ weighted tiny", 803, 5, 8, FKM_INIT_KMEANSPP, FKM_METRIC_L2, FKM_EMPTY_FARTHEST, FKM_STOP_LABELS, 1, 50, 1, 0, SPLIT_TINY},
        {"random weighted reverse", 640, 9, 6, FKM_INIT_RANDOM, FKM_METRIC_L2, FKM_EMPTY_FARTHEST, FKM_STOP_SHIFT, 1, 50, 1, 0, SPLIT_REVERSE},
        {"empty farthest", 500, 4, 6, FKM_INIT_ARRAY, FKM_METRIC_L2, FKM_EMPTY_FARTHEST, FKM_STOP_FIXED, 0, 8, 1, 1, SPLIT_SKEW},
        {"empty keep", 500, 4, 6, FKM_INIT_ARRAY, FKM_METRIC_L2, FKM_EMPTY_KEEP, FKM_STOP_FIXED, 0, 8, 1, 1, SPLIT_TINY},
        {"cosine", 777, 12, 9, FKM_INIT_KMEANSPP, FKM_METRIC_COSINE, FKM_EMPTY_FARTHEST, FKM_STOP_SHIFT, 0, 50, 1, 0, SPLIT_EVEN},
        {"inner product", 600, 6, 5, FKM_INIT_RANDOM, FKM_METRIC_IP, FKM_EMPTY_FARTHEST, FKM_STOP_FIXED, 1, 10, 1, 0, SPLIT_SKEW},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i]);
    errors();
    cancel();
    int fails = check_fail;
    MPI_Allreduce(MPI_IN_PLACE, &fails, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (wrank == 0) printf("world size %d: ", wsize);
    int rc = wrank == 0 ? check_report() : 0;
    if (wrank == 0 && fails != check_fail) {
        printf("%d failures on other ranks\n", fails - check_fail);
        rc = 1;
    }
    MPI_Finalize();
    return rc || fails ? 1 : 0;
}
#endif
