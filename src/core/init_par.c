/* init_par.c -- k-means|| initialisation on the host (Bahmani, Moseley, Vattani, Kumar, Vassilvitskii,
 * "Scalable K-Means++", VLDB 2012), for large k with bounded memory.
 *
 * Greedy k-means++ over all n points costs O(n k d (2 + ln k)) in a scalar loop. k-means|| instead
 * oversamples a small candidate set in a few passes over the data, each pass measuring distances
 * with the CPU engine's blocked assignment kernel, then runs the same greedy k-means++ (init.c) on
 * the weighted candidates only. The choices, all fixed (docs/algorithm.md):
 *
 *  1. First candidate: one row drawn with probability proportional to w_i from fkm_rng(seed,
 *     stream 3), exactly as k-means++ draws its first centre.
 *  2. PAR_ROUNDS = 5 rounds with oversampling l = 2k. Each round: phi = sum_i w_i D_i^2 (D_i: the
 *     distance to the nearest candidate so far, squared L2 on the working float32 rows as
 *     k-means++ measures it; phi summed by fkm_cpu_sum, the same bits for any thread count); row i
 *     is taken independently with probability min(1, l w_i D_i^2 / phi), its uniform number being a
 *     counter-based hash of (seed, round, i) -- so the sample does not depend on the thread count.
 *     Taken rows join in index order; a row equal (by value) to a candidate is skipped, and rows
 *     beyond the cap of 1 + 2 R l candidates (and n, and 2^31 - 1) are dropped in index order.
 *     The new candidates then update D_i. A round with phi = 0 (every row with weight coincides
 *     with a candidate) ends the sampling.
 *  3. Too few candidates (< k): rows are added in index order, first those with positive weight,
 *     then the zero-weight ones, skipping rows equal to a candidate, until there are k.
 *  4. Weight of candidate c = sum of w_i over the rows whose nearest candidate is c (ties to the
 *     lowest candidate index), summed in index order in float64.
 *  5. Centroids: with more than k candidates of positive weight, greedy weighted k-means++
 *     (fkm_init_kmeanspp, seed unchanged) over those candidates picks k of them; otherwise all
 *     positive-weight candidates, then zero-weight ones in candidate order, then -- only when the
 *     data has fewer than k distinct rows -- candidates repeated from the first on.
 *
 * Hence: centroids are data rows; no duplicate among them while the data has k distinct rows (at
 * a non-zero float32 squared distance); zero-weight rows only when fewer than k distinct rows carry
 * weight. Memory: five n-sized arrays (D, nearest candidate, the kernel's labels and distances,
 * |x|^2) plus the candidates (cap x d floats) and their hash table. Same seed => same bits for any
 * thread count: the kernel and the exact distances are per row, every sum is in a fixed order.
 *
 * The steps above run on rows reached by index (fkm_par_rows, init.h): the dense float32 rows at
 * the bottom of this file, or CSR rows (src/cpu/sparse_par.c). A row kind supplies only the
 * measurements -- hash and equality of rows, the nearest new candidate, and a distance with
 * fkm_sqdist_f32's bits -- so that on the same values both kinds take the same candidates. */
#include "../cpu/cpu.h"
#include "init.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum {
    PAR_ROUNDS = 5,    /* R: the paper finds ~5 rounds of l = 2k enough to match k-means++ quality */
    PAR_OVERSAMPLE = 2 /* l = PAR_OVERSAMPLE * k expected candidates per round */
};

/* The sampling state, whatever the rows: candidates are row indices. */
typedef struct {
    const fkm_par_rows *r;
    int64_t *cid;            /* cap: the candidates' row indices, in the order they joined */
    int64_t m, cap;          /* candidates so far, most allowed */
    float *dist;             /* n: exact squared distance to the nearest candidate */
    int32_t *near;           /* n: that candidate's number */
    int64_t *slots;          /* hash table of candidate rows: number + 1, 0 = free */
    uint64_t mask;
} par_state;

static uint64_t mix64(uint64_t z) { /* the splitmix64 finaliser */
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform [0, 1) for row i in round r: a pure function of (seed, r, i). */
double fkm_init_draw(uint64_t seed, int r, int64_t i) {
    uint64_t h = mix64(seed * 0x9E3779B97F4A7C15ull + 0x243F6A8885A308D3ull * (uint64_t)(r + 1));
    h = mix64(h ^ ((uint64_t)i * 0xD1B54A32D192ED03ull + 0x13198A2E03707344ull));
    return (h >> 11) * 0x1.0p-53;
}

uint64_t fkm_init_hash_value(uint64_t h, float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return mix64(h ^ b);
}

/* Most candidates: 1 + 2 R l. k <= INT32_MAX, so that fits int64; candidates are distinct rows
 * (<= n) and int32 labels. */
static int64_t par_cap(int64_t n, int64_t k) {
    int64_t cap = 1 + 2 * PAR_ROUNDS * PAR_OVERSAMPLE * k;
    if (cap > n) cap = n;
    return cap < INT32_MAX ? cap : INT32_MAX;
}

/* Make row i the next candidate unless it equals one already (or the cap is reached).
 * Returns 1 when added. */
static int cand_add(par_state *s, int64_t i) {
    const fkm_par_rows *r = s->r;
    if (s->m >= s->cap) return 0;
    uint64_t h = r->hash(r->rows.ctx, i) & s->mask;
    for (; s->slots[h]; h = (h + 1) & s->mask)
        if (r->equal(r->rows.ctx, s->cid[s->slots[h] - 1], i)) return 0;
    s->cid[s->m] = i;
    s->slots[h] = ++s->m;
    return 1;
}

/* Candidates [from, m) are new: the rows' update hook measures them (see fkm_par_rows). */
static fkm_status cand_update(par_state *s, int64_t from) {
    if (s->m <= from) return FKM_OK;
    return s->r->update(s->r->rows.ctx, s->cid, from, s->m, s->dist, s->near);
}

/* Row drawn with probability proportional to its weight (the first k-means++ centre's draw: the
 * first index whose inclusive prefix sum exceeds u * total). */
static int64_t first_row(const float *w, int64_t n, uint64_t seed) {
    double total = 0.0, cum = 0.0;
    for (int64_t i = 0; i < n; i++) total += w ? w[i] : 1.0f;
    fkm_rng rng;
    fkm_rng_init(&rng, seed, 3); /* streams 1 and 2 are k-means++'s and random init's */
    const double r = fkm_rng_uniform(&rng) * total;
    int64_t last = 0;
    for (int64_t i = 0; i < n; i++) {
        const float wi = w ? w[i] : 1.0f;
        cum += wi;
        if (wi > 0) last = i;
        if (cum > r) return i;
    }
    return last; /* u * total rounded up to total: the last row with weight */
}

/* One sampling round; *more = 0 when phi = 0 (nothing left to sample). */
static fkm_status sample_round(par_state *s, int r, uint64_t seed, double l, int *more) {
    const float *w = s->r->w;
    const int64_t n = s->r->n;
    const double phi = fkm_cpu_sum(s->dist, w, n, s->r->threads);
    *more = phi > 0;
    if (!*more) return FKM_OK;
    const int64_t from = s->m;
    for (int64_t i = 0; i < n && s->m < s->cap; i++) {
        const double wd = (double)(w ? w[i] : 1.0f) * s->dist[i];
        if (wd > 0 && fkm_init_draw(seed, r, i) < l * wd / phi) cand_add(s, i);
    }
    return cand_update(s, from);
}

/* Step 3: rows in index order, weighted ones first, until k distinct candidates exist. */
static fkm_status fill(par_state *s, int64_t k) {
    const float *w = s->r->w;
    const int64_t from = s->m;
    for (int pass = 0; pass < 2 && s->m < k; pass++)
        for (int64_t i = 0; i < s->r->n && s->m < k; i++) {
            const int weighted = !w || w[i] > 0;
            if (weighted == (pass == 0) && s->dist[i] > 0) cand_add(s, i);
        }
    return cand_update(s, from);
}

/* The weighted candidates, by their rows' indices, as rows 0.. of greedy k-means++. */
typedef struct {
    const fkm_init_rows *base;
    const int64_t *ids;
} picked_rows;

static float picked_sqdist(void *ctx, int64_t i, int64_t j) {
    const picked_rows *p = (const picked_rows *)ctx;
    return p->base->sqdist(p->base->ctx, p->ids[i], p->ids[j]);
}

static void picked_copy(void *ctx, int64_t i, float *out) {
    const picked_rows *p = (const picked_rows *)ctx;
    p->base->copy(p->base->ctx, p->ids[i], out);
}

/* Steps 4-5 with the candidates in s. */
static fkm_status choose(par_state *s, int64_t k, uint64_t seed, float *c) {
    fkm_status st = FKM_OK;
    const fkm_par_rows *r = s->r;
    const int64_t m = s->m, d = r->d;
    double *cw = (double *)fkm_calloc((size_t)m, sizeof(double));
    int64_t *ord = (int64_t *)fkm_alloc((size_t)m, sizeof(int64_t));
    float *cwf = (float *)fkm_alloc((size_t)m, sizeof(float));
    FKM_CHECK_ALLOC(cw && ord && cwf, "k-means|| candidate weights");
    for (int64_t i = 0; i < r->n; i++) cw[s->near[i]] += r->w ? r->w[i] : 1.0f;
    int64_t mp = 0; /* candidates with weight first, each group in candidate order */
    for (int64_t j = 0; j < m; j++)
        if (cw[j] > 0) ord[mp++] = j;
    for (int64_t j = 0, q = mp; j < m; j++)
        if (!(cw[j] > 0)) ord[q++] = j;
    if (mp > k) { /* greedy k-means++ picks k of the weighted candidates, taken in candidate order */
        for (int64_t q = 0; q < mp; q++) {
            cwf[q] = cw[ord[q]] < FLT_MAX ? (float)cw[ord[q]] : FLT_MAX;
            ord[q] = s->cid[ord[q]]; /* candidate number -> row index */
        }
        picked_rows pr = {&r->rows, ord};
        const fkm_init_rows rows = {&pr, picked_sqdist, picked_copy};
        FKM_TRY(fkm_init_kmeanspp_rows(&rows, cwf, mp, d, k, seed, r->threads, c));
    } else {
        for (int64_t j = 0; j < k; j++) /* j >= m repeats: fewer than k distinct rows */
            r->rows.copy(r->rows.ctx, s->cid[ord[j % m]], c + j * d);
    }
cleanup:
    fkm_free(cw);
    fkm_free(ord);
    fkm_free(cwf);
    return st;
}

fkm_status fkm_init_kmeans_parallel_rows(const fkm_par_rows *r, int64_t k, uint64_t seed, float *c) {
    fkm_status st = FKM_OK;
    const int64_t n = r->n;
    par_state s;
    memset(&s, 0, sizeof s);
    s.r = r;
    const double l = (double)PAR_OVERSAMPLE * (double)k;
    s.cap = par_cap(n, k);
    uint64_t tsize = 16;
    while (tsize < 2 * (uint64_t)s.cap) tsize *= 2;
    s.mask = tsize - 1;
    s.cid = (int64_t *)fkm_alloc((size_t)s.cap, sizeof(int64_t));
    s.dist = (float *)fkm_alloc((size_t)n, sizeof(float));
    s.near = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    s.slots = (int64_t *)fkm_calloc((size_t)tsize, sizeof(int64_t));
    FKM_CHECK_ALLOC(s.cid && s.dist && s.near && s.slots, "k-means|| work space");
    for (int64_t i = 0; i < n; i++) {
        s.dist[i] = INFINITY;
        s.near[i] = 0;
    }
    cand_add(&s, first_row(r->w, n, seed));
    FKM_TRY(cand_update(&s, 0));
    int more = 1;
    for (int round = 0; round < PAR_ROUNDS && s.m < s.cap && more; round++)
        FKM_TRY(sample_round(&s, round, seed, l, &more));
    if (s.m < k) FKM_TRY(fill(&s, k));
    FKM_TRY(choose(&s, k, seed, c));
cleanup:
    fkm_free(s.cid); fkm_free(s.dist); fkm_free(s.near); fkm_free(s.slots);
    return st;
}

/* Dense float32 rows: the candidates copied into a contiguous block for the blocked kernel. */
typedef struct {
    fkm_dense_rows rows;     /* first: the ctx of fkm_init_dense_rows (init.c) is this struct */
    int64_t n;
    int threads;
    float *cand, *cterm;     /* cap x d candidate rows and their |c|^2 */
    float *xterm, *best;     /* n: |x|^2 and the kernel's distances (unused past the call) */
    int32_t *lab;            /* n: the kernel's labels among the newest candidates */
    fkm_cpu_ws *ws;
} dense_par;

/* Hash of a row's values (-0 and +0 alike, since rows compare by value). */
static uint64_t dense_hash(void *ctx, int64_t i) {
    const dense_par *e = (const dense_par *)ctx;
    const float *r = e->rows.x + i * e->rows.d;
    uint64_t h = 0x452821E638D01377ull;
    for (int64_t j = 0; j < e->rows.d; j++) h = fkm_init_hash_value(h, r[j] == 0.0f ? 0.0f : r[j]);
    return h;
}

static int dense_equal(void *ctx, int64_t i, int64_t j) {
    const dense_par *e = (const dense_par *)ctx;
    const float *a = e->rows.x + i * e->rows.d, *b = e->rows.x + j * e->rows.d;
    for (int64_t t = 0; t < e->rows.d; t++)
        if (a[t] != b[t]) return 0;
    return 1;
}

/* The blocked kernel finds each row's nearest among the new candidates, the exact float32
 * distance (fkm_sqdist_f32, as k-means++) to that one replaces D_i when smaller (so ties keep
 * the lower, older candidate). */
static fkm_status dense_update(void *ctx, const int64_t *cid, int64_t from, int64_t m, float *dist,
                               int32_t *near) {
    dense_par *e = (dense_par *)ctx;
    const int64_t d = e->rows.d;
    for (int64_t q = from; q < m; q++) {
        const float *row = e->rows.x + cid[q] * d;
        memcpy(e->cand + q * d, row, (size_t)d * sizeof(float));
        float t = 0.0f;
        for (int64_t j = 0; j < d; j++) t += row[j] * row[j];
        e->cterm[q] = t;
    }
    fkm_cpu_assign_args a = {e->rows.x, e->xterm, e->cand + from * d, e->cterm + from, e->n, d, m - from,
                             2.0f, 1, e->threads};
    fkm_cpu_assign_ws(&a, e->lab, e->best, e->ws);
#pragma omp parallel for num_threads(e->threads) schedule(static)
    for (int64_t i = 0; i < e->n; i++) {
        const int64_t c = from + e->lab[i];
        const float dd = fkm_sqdist_f32(e->rows.x + i * d, e->cand + c * d, d);
        if (dd < dist[i]) {
            dist[i] = dd;
            near[i] = (int32_t)c;
        }
    }
    return FKM_OK;
}

fkm_status fkm_init_kmeans_parallel(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                                    uint64_t seed, int threads, float *c) {
    fkm_status st = FKM_OK;
    dense_par e = {{x, d}, n, threads, NULL, NULL, NULL, NULL, NULL, NULL};
    const int64_t cap = par_cap(n, k);
    e.cand = (float *)fkm_alloc((size_t)cap * (size_t)d, sizeof(float));
    e.cterm = (float *)fkm_alloc((size_t)cap, sizeof(float));
    e.xterm = (float *)fkm_alloc((size_t)n, sizeof(float));
    e.best = (float *)fkm_alloc((size_t)n, sizeof(float));
    e.lab = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    e.ws = fkm_cpu_ws_create();
    FKM_CHECK_ALLOC(e.cand && e.cterm && e.xterm && e.best && e.lab && e.ws, "k-means|| work space");
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float t = 0.0f;
        for (int64_t j = 0; j < d; j++) t += x[i * d + j] * x[i * d + j];
        e.xterm[i] = t;
    }
    const fkm_par_rows r = {fkm_init_dense_rows(&e), n, d, w, threads, dense_hash, dense_equal,
                            dense_update};
    st = fkm_init_kmeans_parallel_rows(&r, k, seed, c);
cleanup:
    fkm_free(e.cand); fkm_free(e.cterm); fkm_free(e.xterm); fkm_free(e.best); fkm_free(e.lab);
    if (e.ws) fkm_cpu_ws_destroy(e.ws);
    return st;
}
