/* sparse_par.c -- k-means|| (FKM_INIT_KMEANS_PARALLEL) on CSR rows, for the sparse engine
 * (sparse.c): the steps and draws of init_par.c, which runs them; this file measures the rows.
 *
 * Why the same bits as the dense k-means|| on the same values. init_par.c's choices depend on the
 * rows only through (a) row equality, (b) each row's nearest new candidate and (c) the distance
 * D_i to it, fkm_sqdist_f32: a float32 sum of (a_j - b_j)^2 in feature order. Here:
 *  (a) equality compares the non-zero entries (an absent entry, 0 and -0 are alike, as they compare
 *      equal in the dense rows);
 *  (c) the distance is the same float32 sum over the union of the two rows' columns in column
 *      order: a column absent from both adds (+0)^2 = +0 to a sum that is >= +0, which leaves it
 *      unchanged, and a - 0 = a, 0 - b = -b exactly -- so the result has fkm_sqdist_f32's bits on
 *      the densified rows, whatever the data;
 *  (b) the nearest candidate is the argmin of |c|^2 - 2 x.c in float64 (x.c through an inverted
 *      index of the new candidates: each product exact, summed in row-entry order), ties to the
 *      lowest. The dense path takes the argmin of its blocked float32 kernel, so at near-ties of
 *      two candidates (scores within float32 rounding) the two may pick different ones; where
 *      every score is exact in both (small integers: tests/test_sparse.c) they pick the same.
 * Greedy k-means++ over the weighted candidates (step 5) runs init.c's code with (c), so it picks
 * what the dense one picks from the same candidates. Only the k chosen rows are made dense.
 *
 * Thread count: every measurement is per row, the candidates' index is built sequentially, and
 * init_par.c sums in a fixed order -- the same centroids for any thread count. */
#include "cpu.h"
#include "../core/init.h"

#include <math.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
#endif

/* Row i as a dense float row (the centroid it becomes; cpu.h). Here because both the engine's
 * inits (sparse.c) and this file's k-means|| make their centres with it. */
void fkm_cpu_csr_row_dense(const fkm_csr *x, int64_t i, float *out) {
    memset(out, 0, (size_t)x->d * sizeof(float));
    for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) out[x->indices[t]] = x->data[t];
}

enum {
    SP_PAR_BLOCK = 1024 /* new candidates indexed at once: bounds the per-thread dot products (8 KiB) */
};

typedef struct {
    const fkm_csr *x;
    int threads;
    int64_t *colstart;   /* d + 1: the block's entries of column j at [colstart[j], colstart[j+1]) */
    int32_t *ecand;      /* the entries' candidate (0.. within the block), grouped by column */
    float *eval;         /* their values */
    int64_t ecap;        /* room in ecand / eval */
    double *cn;          /* SP_PAR_BLOCK: the block's |c|^2, float64 */
    double *acc;         /* threads x SP_PAR_BLOCK: x.c of the row at hand */
} sp_par;

/* Two CSR rows walked side by side in column order: entries [p, pe) of row a, [q, qe) of row b. */
typedef struct {
    const int32_t *col;
    const float *v;
    int64_t p, pe, q, qe;
} row_pair;

static row_pair pair_of(const void *ctx, int64_t a, int64_t b) {
    const fkm_csr *x = ((const sp_par *)ctx)->x;
    const row_pair r = {x->indices, x->data, x->indptr[a], x->indptr[a + 1], x->indptr[b], x->indptr[b + 1]};
    return r;
}

/* fkm_sqdist_f32 of rows a and b as if dense (see the top: (c)). */
static float sp_sqdist(void *ctx, int64_t a, int64_t b) {
    row_pair r = pair_of(ctx, a, b);
    float s = 0.0f;
    while (r.p < r.pe || r.q < r.qe) {
        float t;
        if (r.q == r.qe || (r.p < r.pe && r.col[r.p] < r.col[r.q])) t = r.v[r.p++];
        else if (r.p == r.pe || r.col[r.q] < r.col[r.p]) t = -r.v[r.q++];
        else { t = r.v[r.p] - r.v[r.q]; r.p++, r.q++; }
        s += t * t;
    }
    return s;
}

static void sp_copy(void *ctx, int64_t i, float *out) {
    fkm_cpu_csr_row_dense(((const sp_par *)ctx)->x, i, out);
}

/* Hash of the non-zero entries (column and value): equal rows by value, equal hashes. */
static uint64_t sp_hash(void *ctx, int64_t i) {
    const fkm_csr *x = ((const sp_par *)ctx)->x;
    uint64_t h = 0x452821E638D01377ull;
    for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++)
        if (x->data[t] != 0.0f) h = fkm_init_hash_value(h ^ ((uint64_t)x->indices[t] * 0x9E3779B97F4A7C15ull), x->data[t]);
    return h;
}

/* Rows a and b equal by value: the same non-zero entries (explicit zeros are skipped). */
static int sp_equal(void *ctx, int64_t a, int64_t b) {
    row_pair r = pair_of(ctx, a, b);
    for (;;) {
        while (r.p < r.pe && r.v[r.p] == 0.0f) r.p++;
        while (r.q < r.qe && r.v[r.q] == 0.0f) r.q++;
        if (r.p == r.pe || r.q == r.qe) return r.p == r.pe && r.q == r.qe;
        if (r.col[r.p] != r.col[r.q] || r.v[r.p] != r.v[r.q]) return 0;
        r.p++, r.q++;
    }
}

/* The inverted index of candidates cid[0, nb) (a counting sort of their entries by column) and
 * their |c|^2. */
static fkm_status index_block(sp_par *e, const int64_t *cid, int64_t nb) {
    const fkm_csr *x = e->x;
    int64_t nnz = 0;
    for (int64_t q = 0; q < nb; q++) nnz += x->indptr[cid[q] + 1] - x->indptr[cid[q]];
    if (nnz > e->ecap) {
        fkm_free(e->ecand);
        fkm_free(e->eval);
        e->ecap = nnz;
        e->ecand = (int32_t *)fkm_alloc((size_t)nnz, sizeof(int32_t));
        e->eval = (float *)fkm_alloc((size_t)nnz, sizeof(float));
        if (!e->ecand || !e->eval) {
            e->ecap = 0;
            return FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory for the sparse k-means|| index (%lld entries)",
                            (long long)nnz);
        }
    }
    memset(e->colstart, 0, (size_t)(x->d + 1) * sizeof(int64_t));
    for (int64_t q = 0; q < nb; q++)
        for (int64_t t = x->indptr[cid[q]]; t < x->indptr[cid[q] + 1]; t++) e->colstart[x->indices[t] + 1]++;
    for (int64_t j = 0; j < x->d; j++) e->colstart[j + 1] += e->colstart[j];
    for (int64_t q = 0; q < nb; q++) {
        double s = 0.0;
        for (int64_t t = x->indptr[cid[q]]; t < x->indptr[cid[q] + 1]; t++) {
            const int64_t at = e->colstart[x->indices[t]]++; /* colstart[j] now runs to column j's end */
            e->ecand[at] = (int32_t)q;
            e->eval[at] = x->data[t];
            s += (double)x->data[t] * x->data[t];
        }
        e->cn[q] = s;
    }
    for (int64_t j = x->d; j > 0; j--) e->colstart[j] = e->colstart[j - 1]; /* back to the starts */
    e->colstart[0] = 0;
    return FKM_OK;
}

/* Row i's nearest candidate of the indexed block (see the top: (b)). */
static int64_t nearest_in_block(const sp_par *e, int64_t i, int64_t nb, double *acc) {
    const fkm_csr *x = e->x;
    memset(acc, 0, (size_t)nb * sizeof(double));
    for (int64_t t = x->indptr[i]; t < x->indptr[i + 1]; t++) {
        const double xv = x->data[t];
        const int32_t j = x->indices[t];
        for (int64_t u = e->colstart[j]; u < e->colstart[j + 1]; u++) acc[e->ecand[u]] += xv * (double)e->eval[u];
    }
    int64_t best = 0;
    double bs = INFINITY;
    for (int64_t q = 0; q < nb; q++) {
        const double s = e->cn[q] - 2.0 * acc[q];
        if (s < bs) { bs = s; best = q; }
    }
    return best;
}

/* fkm_par_rows' update, a block of new candidates at a time: a later block replaces D_i only
 * when strictly nearer, so ties still keep the lower candidate. */
static fkm_status sp_update(void *ctx, const int64_t *cid, int64_t from, int64_t m, float *dist, int32_t *near) {
    sp_par *e = (sp_par *)ctx;
    const int64_t n = e->x->n;
    for (int64_t b0 = from; b0 < m; b0 += SP_PAR_BLOCK) {
        const int64_t nb = m - b0 < SP_PAR_BLOCK ? m - b0 : SP_PAR_BLOCK;
        fkm_status st = index_block(e, cid + b0, nb);
        if (st != FKM_OK) return st;
#pragma omp parallel for num_threads(e->threads) schedule(dynamic, 64)
        for (int64_t i = 0; i < n; i++) {
            const int64_t c = b0 + nearest_in_block(e, i, nb, e->acc + (int64_t)omp_get_thread_num() * SP_PAR_BLOCK);
            const float dd = sp_sqdist(e, i, cid[c]);
            if (dd < dist[i]) {
                dist[i] = dd;
                near[i] = (int32_t)c;
            }
        }
    }
    return FKM_OK;
}

fkm_status fkm_cpu_sparse_kmeans_par(const fkm_csr *x, const float *w, int64_t k, uint64_t seed, int threads,
                                     float *c) {
    fkm_status st = FKM_OK;
    sp_par e;
    memset(&e, 0, sizeof e);
    e.x = x;
    e.threads = threads;
    e.colstart = (int64_t *)fkm_alloc((size_t)(x->d + 1), sizeof(int64_t));
    e.cn = (double *)fkm_alloc(SP_PAR_BLOCK, sizeof(double));
    e.acc = (double *)fkm_alloc((size_t)threads * SP_PAR_BLOCK, sizeof(double));
    FKM_CHECK_ALLOC(e.colstart && e.cn && e.acc, "sparse k-means|| work space");
    const fkm_par_rows r = {{&e, sp_sqdist, sp_copy}, x->n, x->d, w, threads, sp_hash, sp_equal, sp_update};
    st = fkm_init_kmeans_parallel_rows(&r, k, seed, c);
cleanup:
    fkm_free(e.colstart); fkm_free(e.ecand); fkm_free(e.eval); fkm_free(e.cn); fkm_free(e.acc);
    return st;
}
