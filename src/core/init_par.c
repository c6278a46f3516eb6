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
 * thread count: the kernel and the exact distances are per row, every sum is in a fixed order. */
#include "../cpu/cpu.h"
#include "init.h"

#include <float.h>
#include <math.h>
#include <string.h>

enum {
    PAR_ROUNDS = 5,    /* R: the paper finds ~5 rounds of l = 2k enough to match k-means++ quality */
    PAR_OVERSAMPLE = 2 /* l = PAR_OVERSAMPLE * k expected candidates per round */
};

typedef struct {
    const float *x, *w;
    int64_t n, d;
    int threads;
    float *cand, *cterm;     /* cap x d candidate rows and their |c|^2 */
    int64_t m, cap;          /* candidates so far, most allowed */
    float *dist;             /* n: exact squared distance to the nearest candidate */
    int32_t *near;           /* n: that candidate's index */
    float *xterm, *best;     /* n: |x|^2 and the kernel's distances (unused past the call) */
    int32_t *lab;            /* n: the kernel's labels among the newest candidates */
    int64_t *slots;          /* hash table of candidate rows: index + 1, 0 = free */
    uint64_t mask;
    fkm_cpu_ws *ws;
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

/* Hash of a row's values (-0 and +0 alike, since rows compare by value). */
static uint64_t row_hash(const float *r, int64_t d) {
    uint64_t h = 0x452821E638D01377ull;
    for (int64_t j = 0; j < d; j++) {
        float v = r[j] == 0.0f ? 0.0f : r[j];
        uint32_t b;
        memcpy(&b, &v, sizeof b);
        h = mix64(h ^ b);
    }
    return h;
}

static int rows_equal(const float *a, const float *b, int64_t d) {
    for (int64_t j = 0; j < d; j++)
        if (a[j] != b[j]) return 0;
    return 1;
}

/* Make row i the next candidate unless it equals one already (or the cap is reached).
 * Returns 1 when added. */
static int cand_add(par_state *s, int64_t i) {
    const int64_t d = s->d;
    const float *row = s->x + i * d;
    if (s->m >= s->cap) return 0;
    uint64_t h = row_hash(row, d) & s->mask;
    for (; s->slots[h]; h = (h + 1) & s->mask)
        if (rows_equal(s->cand + (s->slots[h] - 1) * d, row, d)) return 0;
    memcpy(s->cand + s->m * d, row, (size_t)d * sizeof(float));
    float t = 0.0f;
    for (int64_t j = 0; j < d; j++) t += row[j] * row[j];
    s->cterm[s->m] = t;
    s->slots[h] = ++s->m;
    return 1;
}

/* Candidates [from, m) are new: the blocked kernel finds each row's nearest among them, the
 * exact float32 distance (fkm_sqdist_f32, as k-means++) to that one replaces D_i when smaller
 * (so ties keep the lower, older candidate). */
static void cand_update(par_state *s, int64_t from) {
    if (s->m <= from) return;
    const int64_t d = s->d;
    fkm_cpu_assign_args a = {s->x, s->xterm, s->cand + from * d, s->cterm + from, s->n, d, s->m - from,
                             2.0f, 1, s->threads};
    fkm_cpu_assign_ws(&a, s->lab, s->best, s->ws);
#pragma omp parallel for num_threads(s->threads) schedule(static)
    for (int64_t i = 0; i < s->n; i++) {
        const int64_t c = from + s->lab[i];
        const float dd = fkm_sqdist_f32(s->x + i * d, s->cand + c * d, d);
        if (dd < s->dist[i]) {
            s->dist[i] = dd;
            s->near[i] = (int32_t)c;
        }
    }
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

/* One sampling round; returns 0 when phi = 0 (nothing left to sample). */
static int sample_round(par_state *s, int r, uint64_t seed, double l) {
    const double phi = fkm_cpu_sum(s->dist, s->w, s->n, s->threads);
    if (!(phi > 0)) return 0;
    const int64_t from = s->m;
    for (int64_t i = 0; i < s->n && s->m < s->cap; i++) {
        const double wd = (double)(s->w ? s->w[i] : 1.0f) * s->dist[i];
        if (wd > 0 && fkm_init_draw(seed, r, i) < l * wd / phi) cand_add(s, i);
    }
    cand_update(s, from);
    return 1;
}

/* Step 3: rows in index order, weighted ones first, until k distinct candidates exist. */
static void fill(par_state *s, int64_t k) {
    const int64_t from = s->m;
    for (int pass = 0; pass < 2 && s->m < k; pass++)
        for (int64_t i = 0; i < s->n && s->m < k; i++) {
            const int weighted = !s->w || s->w[i] > 0;
            if (weighted == (pass == 0) && s->dist[i] > 0) cand_add(s, i);
        }
    cand_update(s, from);
}

/* Steps 4-5 with the candidates in s. */
static fkm_status choose(par_state *s, int64_t k, uint64_t seed, float *c) {
    fkm_status st = FKM_OK;
    const int64_t m = s->m, d = s->d;
    double *cw = (double *)fkm_calloc((size_t)m, sizeof(double));
    int64_t *ord = (int64_t *)fkm_alloc((size_t)m, sizeof(int64_t));
    float *cwf = (float *)fkm_alloc((size_t)m, sizeof(float));
    FKM_CHECK_ALLOC(cw && ord && cwf, "k-means|| candidate weights");
    for (int64_t i = 0; i < s->n; i++) cw[s->near[i]] += s->w ? s->w[i] : 1.0f;
    int64_t mp = 0; /* candidates with weight first, each group in candidate order */
    for (int64_t j = 0; j < m; j++)
        if (cw[j] > 0) ord[mp++] = j;
    for (int64_t j = 0, q = mp; j < m; j++)
        if (!(cw[j] > 0)) ord[q++] = j;
    if (mp > k) {
        /* Compact the weighted candidates to the front (in order: a row never moves up past an
         * unread one) and let greedy k-means++ pick k of them. */
        for (int64_t q = 0; q < mp; q++) {
            if (ord[q] != q) memcpy(s->cand + q * d, s->cand + ord[q] * d, (size_t)d * sizeof(float));
            cwf[q] = cw[ord[q]] < FLT_MAX ? (float)cw[ord[q]] : FLT_MAX;
        }
        FKM_TRY(fkm_init_kmeanspp(s->cand, cwf, mp, d, k, seed, s->threads, c));
    } else {
        for (int64_t j = 0; j < k; j++) /* j >= m repeats: fewer than k distinct rows */
            memcpy(c + j * d, s->cand + ord[j % m] * d, (size_t)d * sizeof(float));
    }
cleanup:
    fkm_free(cw);
    fkm_free(ord);
    fkm_free(cwf);
    return st;
}

static void state_free(par_state *s) {
    fkm_free(s->cand); fkm_free(s->cterm); fkm_free(s->dist); fkm_free(s->near); fkm_free(s->xterm);
    fkm_free(s->best); fkm_free(s->lab); fkm_free(s->slots);
    if (s->ws) fkm_cpu_ws_destroy(s->ws);
}

fkm_status fkm_init_kmeans_parallel(const float *x, const float *w, int64_t n, int64_t d, int64_t k,
                                    uint64_t seed, int threads, float *c) {
    fkm_status st = FKM_OK;
    par_state s;
    memset(&s, 0, sizeof s);
    s.x = x; s.w = w; s.n = n; s.d = d; s.threads = threads;
    const double l = (double)PAR_OVERSAMPLE * (double)k;
    /* k <= INT32_MAX, so 1 + 2 R l fits int64; candidates are distinct rows (<= n) and int32 labels */
    s.cap = 1 + 2 * PAR_ROUNDS * PAR_OVERSAMPLE * k;
    if (s.cap > n) s.cap = n;
    if (s.cap > INT32_MAX) s.cap = INT32_MAX;
    uint64_t tsize = 16;
    while (tsize < 2 * (uint64_t)s.cap) tsize *= 2;
    s.mask = tsize - 1;
    s.cand = (float *)fkm_alloc((size_t)s.cap * (size_t)d, sizeof(float));
    s.cterm = (float *)fkm_alloc((size_t)s.cap, sizeof(float));
    s.dist = (float *)fkm_alloc((size_t)n, sizeof(float));
    s.near = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    s.xterm = (float *)fkm_alloc((size_t)n, sizeof(float));
    s.best = (float *)fkm_alloc((size_t)n, sizeof(float));
    s.lab = (int32_t *)fkm_alloc((size_t)n, sizeof(int32_t));
    s.slots = (int64_t *)fkm_calloc((size_t)tsize, sizeof(int64_t));
    s.ws = fkm_cpu_ws_create();
    FKM_CHECK_ALLOC(s.cand && s.cterm && s.dist && s.near && s.xterm && s.best && s.lab && s.slots && s.ws,
                    "k-means|| work space");
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float t = 0.0f;
        for (int64_t j = 0; j < d; j++) t += x[i * d + j] * x[i * d + j];
        s.xterm[i] = t;
        s.dist[i] = INFINITY;
        s.near[i] = 0;
    }
    cand_add(&s, first_row(w, n, seed));
    cand_update(&s, 0);
    for (int r = 0; r < PAR_ROUNDS && s.m < s.cap; r++)
        if (!sample_round(&s, r, seed, l)) break;
    if (s.m < k) fill(&s, k);
    FKM_TRY(choose(&s, k, seed, c));
cleanup:
    state_free(&s);
    return st;
}
