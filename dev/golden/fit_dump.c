/* fit_dump.c -- run a fixed set of CPU fits (fkm_fit; with -DWITH_MPI fkm_mpi_fit over the ranks
 * of MPI_COMM_WORLD) and write every output that must not change when the Lloyd loop is
 * restructured: status, message, centroids, labels, inertia, iterations, stop reason, best
 * restart, device, precision and every per-iteration statistic except the wall clock (ms).
 * Usage: fit_dump OUTDIR (one file per case; MPI: one per case, repetition and rank; the second
 * repetition cancels on the last rank only). dev/golden/compare.sh builds it against two
 * libraries and compares. */
#include "flashkmeans.h"
#ifdef WITH_MPI
#include "flashkmeans_mpi.h"
#endif
#include "gen.h" /* tests/gen.h */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *outdir;
static int rank = 0, nranks = 1;

static void put(FILE *f, const void *p, size_t n) { fwrite(p, 1, n, f); }

static void dump(const char *name, int idx, fkm_status st, const fkm_result *r, int64_t nres) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.%d.r%d", outdir, name, idx, rank);
    FILE *f = fopen(path, "wb");
    int s = (int)st;
    put(f, &s, sizeof s);
    const char *m = fkm_last_error();
    if (st != FKM_OK) fprintf(f, "[%s]", m ? m : "");
    for (int64_t b = 0; st == FKM_OK || st == FKM_ERR_CANCELLED ? b < nres : 0; b++) {
        const fkm_result *o = &r[b];
        put(f, &o->k, 8); put(f, &o->n, 8); put(f, &o->d, 8);
        if (o->centroids) put(f, o->centroids, (size_t)(o->k * o->d) * 4);
        if (o->labels) put(f, o->labels, (size_t)o->n * 4);
        put(f, &o->inertia, 8);
        put(f, &o->iterations, 4);
        int e[4] = {(int)o->stop_reason, o->best_init, (int)o->device, (int)o->precision};
        put(f, e, sizeof e);
        for (int i = 0; o->stats && i < o->iterations; i++) {
            const fkm_iter_stats *t = &o->stats[i];
            put(f, &t->inertia, 8); put(f, &t->shift, 8); put(f, &t->empty, 8); put(f, &t->changed, 8);
            put(f, &t->rescored, 8);
        }
    }
    fclose(f);
}

static int cancel_at = -1, cancel_rank = -1, calls = 0;
static int progress(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)it; (void)max_iter; (void)s; (void)u;
    calls++;
    return calls == cancel_at && (cancel_rank < 0 || cancel_rank == rank);
}

typedef struct {
    const char *name;
    int64_t n, d, k, blobs;
    double spread;
    int init, stop, metric, empty, n_init, max_iter, freeze, weights, dtype, threads, batch, cancel;
    double tol;
    int dup_init; /* FKM_INIT_ARRAY from rows of the data with duplicates: empty clusters */
} fit_case;

static const fit_case cases[] = {
    {"pp_shift", 2000, 8, 10, 10, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 3, 100, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"pp_shift_t1", 2000, 8, 10, 10, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 2, 100, 0, 0, 0, 1, 1, -1, 1e-4, 0},
    {"rand_fixed", 5000, 33, 50, 20, 1.0, FKM_INIT_RANDOM, FKM_STOP_FIXED, 0, 0, 1, 7, 0, 0, 0, 2, 1, -1, 0, 0},
    {"rand_maxiter", 3000, 16, 24, 8, 2.0, FKM_INIT_RANDOM, FKM_STOP_SHIFT, 0, 0, 2, 5, 0, 0, 0, 2, 1, -1, 1e-9, 0},
    {"inertia", 3000, 5, 12, 6, 1.0, FKM_INIT_KMEANSPP, FKM_STOP_INERTIA, 0, 0, 2, 200, 0, 0, 0, 2, 1, -1, 1e-3, 0},
    {"labels", 1500, 3, 7, 5, 0.8, FKM_INIT_RANDOM, FKM_STOP_LABELS, 0, 0, 1, 300, 0, 0, 0, 2, 1, -1, 0, 0},
    {"weights", 2500, 12, 15, 9, 0.7, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 2, 100, 0, 1, 0, 2, 1, -1, 1e-5, 0},
    {"empty_far", 800, 4, 20, 3, 0.3, FKM_INIT_ARRAY, FKM_STOP_SHIFT, 0, FKM_EMPTY_FARTHEST, 1, 50, 0, 0, 0, 2, 1, -1, 1e-4, 1},
    {"empty_keep", 800, 4, 20, 3, 0.3, FKM_INIT_ARRAY, FKM_STOP_SHIFT, 0, FKM_EMPTY_KEEP, 1, 50, 0, 0, 0, 2, 1, -1, 1e-4, 1},
    {"empty_w", 800, 4, 20, 3, 0.3, FKM_INIT_ARRAY, FKM_STOP_FIXED, 0, FKM_EMPTY_FARTHEST, 1, 6, 0, 1, 0, 2, 1, -1, 0, 1},
    {"many_empty", 500, 2, 64, 2, 0.01, FKM_INIT_ARRAY, FKM_STOP_FIXED, 0, FKM_EMPTY_FARTHEST, 1, 4, 0, 0, 0, 2, 1, -1, 0, 1},
    {"cosine", 2000, 16, 12, 8, 1.0, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, FKM_METRIC_COSINE, 0, 2, 100, 0, 0, 0, 2, 1, -1, 1e-5, 0},
    {"ip", 2000, 16, 12, 8, 1.0, FKM_INIT_RANDOM, FKM_STOP_INERTIA, FKM_METRIC_IP, 0, 2, 30, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"kpar", 4000, 10, 40, 25, 0.5, FKM_INIT_KMEANS_PARALLEL, FKM_STOP_SHIFT, 0, 0, 2, 100, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"freeze", 1000, 6, 9, 9, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 2, 100, 1, 0, 0, 2, 1, -1, 1e-4, 0},
    {"iter0", 1000, 6, 9, 9, 0.5, FKM_INIT_RANDOM, FKM_STOP_SHIFT, 0, 0, 3, 0, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"f64", 1200, 7, 8, 8, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 1, 100, 0, 0, FKM_F64, 2, 1, -1, 1e-4, 0},
    {"f16", 1200, 7, 8, 8, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 1, 100, 0, 0, FKM_F16, 2, 1, -1, 1e-4, 0},
    {"batch", 900, 5, 6, 6, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 2, 100, 0, 1, 0, 2, 3, -1, 1e-4, 0},
    {"cancel", 3000, 8, 16, 16, 1.0, FKM_INIT_RANDOM, FKM_STOP_FIXED, 0, 0, 3, 10, 0, 0, 0, 2, 1, 14, 0, 0},
    {"cancel_first", 3000, 8, 16, 16, 1.0, FKM_INIT_RANDOM, FKM_STOP_FIXED, 0, 0, 3, 10, 0, 0, 0, 2, 1, 3, 0, 0},
    {"progress", 3000, 8, 16, 16, 1.0, FKM_INIT_RANDOM, FKM_STOP_SHIFT, 0, 0, 2, 100, 0, 0, 0, 2, 1, 1000000, 1e-4, 0},
    {"batch_cancel", 900, 5, 6, 6, 0.5, FKM_INIT_KMEANSPP, FKM_STOP_FIXED, 0, 0, 2, 5, 0, 0, 0, 2, 3, 13, 0, 0},
    {"big", 20000, 64, 100, 60, 1.0, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 1, 30, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"n_eq_k", 40, 3, 40, 5, 1.0, FKM_INIT_RANDOM, FKM_STOP_SHIFT, 0, 0, 2, 20, 0, 0, 0, 2, 1, -1, 1e-4, 0},
    {"k1", 500, 3, 1, 5, 1.0, FKM_INIT_KMEANSPP, FKM_STOP_SHIFT, 0, 0, 1, 20, 0, 0, 0, 2, 1, -1, 1e-4, 0},
};

int main(int argc, char **argv) {
#ifdef WITH_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
#endif
    if (argc < 2) return 2;
    outdir = argv[1];
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const fit_case *c = &cases[ci];
        const int64_t b = c->batch, nd = c->n * c->d;
        double *x64 = malloc((size_t)(b * nd) * 8);
        float *x32 = malloc((size_t)(b * nd) * 4);
        uint16_t *x16 = malloc((size_t)(b * nd) * 2);
        float *w = malloc((size_t)(b * c->n) * 4);
        float *init = malloc((size_t)(c->k * c->d) * 4);
        for (int64_t q = 0; q < b; q++) gen_blobs(1234 + ci * 7 + q, c->n, c->d, c->blobs, c->spread, x64 + q * nd, x32 + q * nd);
        for (int64_t i = 0; i < b * nd; i++) { /* float16 input: the float rounded */
            float v = x32[i];
            _Float16 h = (_Float16)v;
            memcpy(&x16[i], &h, 2);
        }
        uint64_t s = 99 + ci;
        for (int64_t i = 0; i < b * c->n; i++) w[i] = (gen_next(&s) % 5 == 0) ? 0.0f : (float)(gen_unif(&s) * 3);
        for (int64_t j = 0; j < c->k; j++) /* rows of the data, each third one a duplicate */
            memcpy(init + j * c->d, x32 + ((j % 3 == 2 ? j - 1 : j) * 7 % c->n) * c->d, (size_t)c->d * 4);
        fkm_params p;
        fkm_params_default(&p);
        p.k = c->k; p.max_iter = c->max_iter; p.tol = c->tol; p.stop = c->stop; p.init = c->init;
        p.freeze_init = c->freeze; p.n_init = c->n_init; p.seed = 7 + ci; p.metric = c->metric; p.empty = c->empty;
        p.device = FKM_DEVICE_CPU; p.threads = c->threads;
        if (c->init == FKM_INIT_ARRAY) p.init_centroids = init;
        if (c->cancel >= 0) { p.progress_fn = progress; }
        const void *data = c->dtype == FKM_F64 ? (const void *)x64 : c->dtype == FKM_F16 ? (const void *)x16 : (const void *)x32;
        const size_t es = c->dtype == FKM_F64 ? 8 : c->dtype == FKM_F16 ? 2 : 4;
        for (int rep = 0; rep < (nranks > 1 ? 2 : 1); rep++) {
            calls = 0;
            cancel_at = c->cancel;
            cancel_rank = nranks > 1 && rep == 1 ? nranks - 1 : -1; /* MPI: a cancel on one rank only */
            fkm_result r[3];
            memset(r, 0, sizeof r);
            fkm_status st;
#ifdef WITH_MPI
            if (b > 1) continue;
            /* uneven split: rank q holds rows [q n / R + q, ...) with the last rank taking the rest */
            int64_t r0 = c->n * rank / nranks, r1 = c->n * (rank + 1) / nranks;
            if (rank > 0) r0 -= rank; /* shift boundaries: uneven slices */
            if (rank + 1 < nranks) r1 -= rank + 1;
            fkm_matrix x = {(const char *)data + (size_t)(r0 * c->d) * es, c->dtype, r1 - r0, c->d,
                            c->weights ? w + r0 : NULL};
            st = fkm_mpi_fit(MPI_COMM_WORLD, &p, &x, r0, r);
#else
            fkm_matrix x = {data, c->dtype, c->n, c->d, c->weights ? w : NULL};
            st = fkm_fit_batch(&p, &x, b, r);
#endif
            dump(c->name, rep, st, r, b);
            for (int q = 0; q < 3; q++) fkm_result_free(&r[q]);
        }
        free(x64); free(x32); free(x16); free(w); free(init);
    }
#ifdef WITH_MPI
    MPI_Finalize();
#endif
    return 0;
}
