/* init.c -- initial centroids for fkm_mpi_fit that do not depend on the number of ranks.
 *
 * Both methods choose GLOBAL row indices with the core's random streams (fkm_rng, stream 2 for
 * random, stream 1 for k-means++), so the choice is a function of the global data and the seed
 * only; no rank ever holds more than its own rows plus the k chosen ones.
 *  - random: the core's draw (index = next % N, walk forward past taken ones), with a hash set of
 *    the taken indices instead of an N-bit map: the same indices as fkm_fit's random init.
 *  - k-means++ (greedy, 2 + log k candidates per step, as the core): the D^2 draws walk the
 *    global rows in order over fixed-point weights (mpi_internal.h), so "the first row whose
 *    running sum exceeds u * total" is the same row for every split; candidate potentials are
 *    exact fixed-point sums compared as integers (ties to the lowest candidate). */
#include "mpi_internal.h"
#include "../core/init.h"

#include <math.h>
#include <string.h>

fkm_status fkm_mpi_fetch_rows(fkm_mpi_ctx *c, const float *x, const int64_t *gidx, int64_t k, float *out) {
    const int64_t d = c->d;
    memset(out, 0, (size_t)(k * d) * sizeof(float));
    for (int64_t t = 0; t < k; t++) /* the owner writes the bits; OR with zeros keeps them (-0.0 too) */
        if (gidx[t] >= c->row0 && gidx[t] < c->row0 + c->n)
            memcpy(out + t * d, x + (gidx[t] - c->row0) * d, (size_t)d * sizeof(float));
    return fkm_mpi_allreduce(c, out, k * d, MPI_UINT32_T, MPI_BOR);
}

/* ---------------------------------------------------------------- random */
static int64_t hash_slot(uint64_t v, uint64_t mask) { return (int64_t)((v * 0x9E3779B97F4A7C15ull >> 17) & mask); }

fkm_status fkm_mpi_init_random(fkm_mpi_ctx *c, const float *x, uint64_t seed, int64_t k, float *cen) {
    fkm_status st = FKM_OK;
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)k) cap *= 2;
    int64_t *set = (int64_t *)fkm_alloc((size_t)cap, sizeof(int64_t));
    int64_t *gidx = (int64_t *)fkm_alloc((size_t)k, sizeof(int64_t));
    if (!set || !gidx) st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the random initialisation");
    FKM_TRY(fkm_mpi_agree(c, st));
    for (uint64_t s = 0; s < cap; s++) set[s] = -1;
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 2);
    for (int64_t ci = 0; ci < k; ci++) {
        int64_t i = (int64_t)(fkm_rng_next(&rng) % (uint64_t)c->N);
        for (;;) { /* taken: walk forward to the next free index, as the core does */
            int64_t h = hash_slot((uint64_t)i, cap - 1);
            while (set[h] >= 0 && set[h] != i) h = (h + 1) & (int64_t)(cap - 1);
            if (set[h] < 0) {
                set[h] = i;
                break;
            }
            i = (i + 1) % c->N;
        }
        gidx[ci] = i;
    }
    st = fkm_mpi_fetch_rows(c, x, gidx, k, cen);
cleanup:
    fkm_free(set);
    fkm_free(gidx);
    return st;
}

/* ---------------------------------------------------------------- k-means++ */
/* The fixed-point value of row i: trunc(w_i * v_i * s), v NULL: w_i alone, w NULL: 1. */
static inline int64_t qval(const float *v, const float *w, int64_t i, double s) {
    return (int64_t)((v ? (double)v[i] : 1.0) * (w ? (double)w[i] : 1.0) * s);
}

/* For each of the m draws u[t] in [0, 1): the global row at which the running sum of qval, taken
 * in global row order, first exceeds floor(u[t] * total). gidx[t] = -1 for every t when the
 * total is 0. Collective. */
static fkm_status sample_rows(fkm_mpi_ctx *c, const float *v, const float *w, double s, const double *u, int m,
                              int64_t *gidx, int64_t *limbs) {
    const int64_t n = c->n;
    int64_t hi = 0, lo = 0;
#pragma omp parallel for num_threads(c->threads) schedule(static) reduction(+ : hi, lo)
    for (int64_t i = 0; i < n; i++) fkm_fx_add(&hi, &lo, qval(v, w, i, s));
    fkm_fx_norm(&hi, &lo); /* n < 2^31 rows per rank here (checked at the start) */
    int64_t mine[2] = {hi, lo};
    fkm_status st = fkm_mpi_rc(MPI_Allgather(mine, 2, MPI_INT64_T, limbs, 2, MPI_INT64_T, c->comm), "MPI_Allgather");
    if (st != FKM_OK) return st;
    __int128 total = 0, my_start = 0;
    for (int q = 0; q < c->size; q++) {
        const int r = c->by_row[q];
        if (r == c->rank) my_start = total;
        total += fkm_fx_value(limbs[2 * r], limbs[2 * r + 1]);
    }
    const __int128 my_total = fkm_fx_value(hi, lo);
    for (int t = 0; t < m; t++) {
        gidx[t] = -1;
        if (total == 0) continue;
        __int128 target = (__int128)((double)total * u[t]);
        if (target >= total) target = total - 1;
        if (target < my_start || target >= my_start + my_total) continue; /* another rank's row */
        __int128 acc = 0;
        for (int64_t i = 0; i < n; i++) {
            acc += qval(v, w, i, s);
            if (acc > target - my_start) {
                gidx[t] = c->row0 + i;
                break;
            }
        }
    }
    return fkm_mpi_allreduce(c, gidx, m, MPI_INT64_T, MPI_MAX);
}

typedef struct {
    float *closest, *cand, *rows;
    int64_t *ids, *limbs, *pot;
    double *u;
} pp_work;

static void pp_free(pp_work *a) {
    fkm_free(a->closest); fkm_free(a->cand); fkm_free(a->rows);
    fkm_free(a->ids); fkm_free(a->limbs); fkm_free(a->pot); fkm_free(a->u);
}

/* Candidates ids[0..trials) are in a->rows: cand[t] = min(closest, d(x, row t)) and the exact
 * global potential of each; returns the best (lowest potential, lowest t on ties). */
static fkm_status best_candidate(fkm_mpi_ctx *c, const float *x, const float *w, int trials, double s, pp_work *a,
                                 int *best) {
    const int64_t n = c->n, d = c->d;
    for (int t = 0; t < trials; t++) {
        float *ct = a->cand + (size_t)t * (size_t)n;
        const float *row = a->rows + t * d;
        int64_t hi = 0, lo = 0;
#pragma omp parallel for num_threads(c->threads) schedule(static) reduction(+ : hi, lo)
        for (int64_t i = 0; i < n; i++) {
            const float dd = fkm_sqdist_f32(x + i * d, row, d);
            ct[i] = dd < a->closest[i] ? dd : a->closest[i];
            fkm_fx_add(&hi, &lo, qval(ct, w, i, s));
        }
        fkm_fx_norm(&hi, &lo);
        a->pot[2 * t] = hi;
        a->pot[2 * t + 1] = lo;
    }
    fkm_status st = fkm_mpi_allreduce(c, a->pot, 2 * trials, MPI_INT64_T, MPI_SUM);
    if (st != FKM_OK) return st;
    *best = 0;
    for (int t = 1; t < trials; t++)
        if (fkm_fx_value(a->pot[2 * t], a->pot[2 * t + 1]) < fkm_fx_value(a->pot[2 * *best], a->pot[2 * *best + 1]))
            *best = t;
    return FKM_OK;
}

fkm_status fkm_mpi_init_kmeanspp(fkm_mpi_ctx *c, const float *x, const float *w, uint64_t seed, int64_t k,
                                 float *cen) {
    fkm_status st = FKM_OK;
    const int64_t n = c->n, d = c->d;
    const int trials = 2 + (int)log((double)k);
    pp_work a = {0};
    a.closest = (float *)fkm_alloc((size_t)n, sizeof(float));
    a.cand = (float *)fkm_alloc((size_t)n * (size_t)trials, sizeof(float));
    a.rows = (float *)fkm_alloc((size_t)(trials * d), sizeof(float));
    a.ids = (int64_t *)fkm_alloc((size_t)trials, sizeof(int64_t));
    a.limbs = (int64_t *)fkm_alloc((size_t)(2 * c->size), sizeof(int64_t));
    a.pot = (int64_t *)fkm_alloc((size_t)(2 * trials), sizeof(int64_t));
    a.u = (double *)fkm_alloc((size_t)trials, sizeof(double));
    if (!a.closest || !a.cand || !a.rows || !a.ids || !a.limbs || !a.pot || !a.u)
        st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the k-means++ work space");
    FKM_TRY(fkm_mpi_agree(c, st));
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 1);

    /* First centre: drawn with probability proportional to the weight. */
    double wmax = 1.0;
    if (w) {
        wmax = 0.0;
        for (int64_t i = 0; i < n; i++) wmax = w[i] > wmax ? w[i] : wmax;
        FKM_TRY(fkm_mpi_allreduce(c, &wmax, 1, MPI_DOUBLE, MPI_MAX));
    }
    a.u[0] = fkm_rng_uniform(&rng);
    FKM_TRY(sample_rows(c, NULL, w, fkm_fx_scale(wmax), a.u, 1, a.ids, a.limbs));
    if (a.ids[0] < 0) FKM_TRY(FKM_FAIL(FKM_ERR_INTERNAL, "k-means++: no first centre (all weights zero?)"));
    FKM_TRY(fkm_mpi_fetch_rows(c, x, a.ids, 1, cen));
#pragma omp parallel for num_threads(c->threads) schedule(static)
    for (int64_t i = 0; i < n; i++) a.closest[i] = fkm_sqdist_f32(x + i * d, cen, d);

    for (int64_t ci = 1; ci < k; ci++) {
        double mx = 0.0; /* the potential's scale: its largest term */
        for (int64_t i = 0; i < n; i++) {
            const double v = (double)a.closest[i] * (w ? (double)w[i] : 1.0);
            mx = v > mx ? v : mx;
        }
        FKM_TRY(fkm_mpi_allreduce(c, &mx, 1, MPI_DOUBLE, MPI_MAX));
        const double s = fkm_fx_scale(mx);
        if (mx > 0) {
            for (int t = 0; t < trials; t++) a.u[t] = fkm_rng_uniform(&rng);
            FKM_TRY(sample_rows(c, a.closest, w, s, a.u, trials, a.ids, a.limbs));
        } else { /* every point sits on a centre: any point is as good as another */
            for (int t = 0; t < trials; t++) a.ids[t] = (int64_t)(fkm_rng_next(&rng) % (uint64_t)c->N);
        }
        FKM_TRY(fkm_mpi_fetch_rows(c, x, a.ids, trials, a.rows));
        int best = 0;
        FKM_TRY(best_candidate(c, x, w, trials, s, &a, &best));
        memcpy(a.closest, a.cand + (size_t)best * (size_t)n, (size_t)n * sizeof(float));
        memcpy(cen + ci * d, a.rows + best * d, (size_t)d * sizeof(float));
    }
cleanup:
    pp_free(&a);
    return st;
}
