/* soak_case.h -- one randomised case of the differential soak test (tests/test_soak.c): every
 * parameter drawn from a case seed, written as one line of key=value words and read back from it,
 * so a case is replayed from its printed line (tests/soak_regressions.txt holds such lines) even
 * after the generator changes. The data is drawn from the line's own seed. */
#ifndef FKM_SOAK_CASE_H
#define FKM_SOAK_CASE_H
#include "gen.h"
#include "test_cuda.h" /* f2h/h2f/f2bf/bf2f, margin_of */

#include <flashkmeans.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shapes of data: blobs, uniform cube, small integers (exact ties), few distinct rows (duplicates,
 * empty clusters), tight blobs 1000 away from the origin (cancellation in the expansion). */
enum { SOAK_BLOBS, SOAK_UNIFORM, SOAK_INTS, SOAK_DUPS, SOAK_OFFSET, SOAK_NKINDS };
/* Weights: none, 0.5..2, a third zero, small integers. */
enum { SOAK_W_NONE, SOAK_W_UNIF, SOAK_W_ZEROS, SOAK_W_INTS, SOAK_W_NKINDS };

typedef struct {
    uint64_t seed; /* data and fit seed */
    int64_t n, d, k, b;
    int kind, dtype, metric, wkind, init, freeze, stop, max_iter, n_init, empty, threads;
    int gpu_prec; /* the precision of the GPU run (the CPU runs exact) */
    int algo;     /* fkm_algorithm of the CPU run (L2 only; Lloyd's bits, checked) */
    double tol;
} soak_case;

static const char *const soak_kind_names[] = {"blobs", "uniform", "ints", "dups", "offset"};
static const char *const soak_w_names[] = {"none", "unif", "zeros", "ints"};
static const char *const soak_dtype_names[] = {"f32", "f64", "f16", "bf16", "u8"};
static const char *const soak_metric_names[] = {"l2", "cosine", "ip"};
static const char *const soak_init_names[] = {"kmeans++", "random", "array", "kmeans||"};
static const char *const soak_stop_names[] = {"shift", "inertia", "labels", "fixed"};
static const char *const soak_empty_names[] = {"farthest", "keep"};
static const char *const soak_prec_names[] = {"auto", "exact", "tf32", "fp16", "bf16"};
static const char *const soak_algo_names[] = {"lloyd", "elkan", "hamerly"};

static inline int64_t soak_pick(uint64_t *s, int64_t lo, int64_t hi) { /* uniform in [lo, hi] */
    return lo + (int64_t)(gen_next(s) % (uint64_t)(hi - lo + 1));
}
/* log-uniform in [lo, hi]: small shapes often, large ones sometimes */
static inline int64_t soak_logpick(uint64_t *s, int64_t lo, int64_t hi) {
    double v = exp(log((double)lo) + gen_unif(s) * (log((double)hi + 1) - log((double)lo)));
    int64_t r = (int64_t)v;
    return r < lo ? lo : r > hi ? hi : r;
}

/* Draw a case from seed; big widens the shapes (GPU runs: tensor-core tiles, several blocks). */
static inline soak_case soak_draw(uint64_t seed, int big) {
    uint64_t s = seed ^ 0x5eed5eed5eedull;
    soak_case c;
    memset(&c, 0, sizeof c);
    c.seed = seed;
    c.n = soak_logpick(&s, 1, big ? 20000 : 3000);
    c.d = soak_logpick(&s, 1, big ? 300 : 80);
    c.k = soak_logpick(&s, 1, c.n < (big ? 600 : 80) ? c.n : (big ? 600 : 80));
    c.b = gen_unif(&s) < 0.15 ? soak_pick(&s, 2, 3) : 1;
    c.kind = (int)soak_pick(&s, 0, SOAK_NKINDS - 1);
    c.dtype = (int)soak_pick(&s, 0, 4);
    c.metric = (int)soak_pick(&s, 0, 2);
    c.wkind = (int)soak_pick(&s, 0, SOAK_W_NKINDS - 1);
    c.init = (int)soak_pick(&s, 0, 3);
    c.freeze = c.init == FKM_INIT_ARRAY && gen_unif(&s) < 0.2;
    c.stop = (int)soak_pick(&s, 0, 3);
    c.max_iter = gen_unif(&s) < 0.1 ? 0 : (int)soak_logpick(&s, 1, 60);
    c.tol = gen_unif(&s) < 0.2 ? 0.0 : pow(10.0, -(double)soak_pick(&s, 1, 8));
    c.n_init = gen_unif(&s) < 0.2 ? (int)soak_pick(&s, 2, 3) : 1;
    c.empty = (int)soak_pick(&s, 0, 1);
    c.threads = (int)soak_pick(&s, 0, 2);
    c.gpu_prec = (int)soak_pick(&s, 1, 4);
    c.algo = c.metric == FKM_METRIC_L2 ? (int)soak_pick(&s, 0, 2) : 0; /* drawn last: older lines keep their draws */
    return c;
}

static inline void soak_format(const soak_case *c, char *buf, size_t len) {
    snprintf(buf, len,
             "seed=%" PRIu64 " n=%" PRId64 " d=%" PRId64 " k=%" PRId64 " b=%" PRId64
             " data=%s dtype=%s metric=%s weights=%s init=%s freeze=%d stop=%s max_iter=%d tol=%.17g"
             " n_init=%d empty=%s threads=%d gpu_prec=%s%s%s",
             c->seed, c->n, c->d, c->k, c->b, soak_kind_names[c->kind], soak_dtype_names[c->dtype],
             soak_metric_names[c->metric], soak_w_names[c->wkind], soak_init_names[c->init], c->freeze,
             soak_stop_names[c->stop], c->max_iter, c->tol, c->n_init, soak_empty_names[c->empty], c->threads,
             soak_prec_names[c->gpu_prec], c->algo ? " algo=" : "", c->algo ? soak_algo_names[c->algo] : "");
}

static inline int soak_name(const char *v, const char *const *names, int count) {
    for (int i = 0; i < count; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

/* Parse a line written by soak_format (any order; missing keys keep soak_draw(seed)'s values).
 * Returns 0 on success, -1 with a message on stderr. */
static inline int soak_parse(const char *line, soak_case *out) {
    char buf[1024], *save = NULL;
    snprintf(buf, sizeof buf, "%s", line);
    const char *p = strstr(buf, "seed=");
    if (!p) { fprintf(stderr, "soak: no seed= in '%s'\n", line); return -1; }
    soak_case c = soak_draw(strtoull(p + 5, NULL, 10), 0);
    c.algo = 0; /* lines without algo= ran Lloyd */
    for (char *t = strtok_r(buf, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) continue;
        *eq = 0;
        const char *k = t, *v = eq + 1;
        int e = 0;
#define SOAK_ENUM(key, field, names, cnt) else if (!strcmp(k, key)) { e = soak_name(v, names, cnt); if (e >= 0) c.field = e; }
        if (!strcmp(k, "seed")) c.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "n")) c.n = atoll(v);
        else if (!strcmp(k, "d")) c.d = atoll(v);
        else if (!strcmp(k, "k")) c.k = atoll(v);
        else if (!strcmp(k, "b")) c.b = atoll(v);
        else if (!strcmp(k, "freeze")) c.freeze = atoi(v);
        else if (!strcmp(k, "max_iter")) c.max_iter = atoi(v);
        else if (!strcmp(k, "tol")) c.tol = strtod(v, NULL);
        else if (!strcmp(k, "n_init")) c.n_init = atoi(v);
        else if (!strcmp(k, "threads")) c.threads = atoi(v);
        SOAK_ENUM("data", kind, soak_kind_names, SOAK_NKINDS)
        SOAK_ENUM("dtype", dtype, soak_dtype_names, 5)
        SOAK_ENUM("metric", metric, soak_metric_names, 3)
        SOAK_ENUM("weights", wkind, soak_w_names, SOAK_W_NKINDS)
        SOAK_ENUM("init", init, soak_init_names, 4)
        SOAK_ENUM("stop", stop, soak_stop_names, 4)
        SOAK_ENUM("empty", empty, soak_empty_names, 2)
        SOAK_ENUM("gpu_prec", gpu_prec, soak_prec_names, 5)
        SOAK_ENUM("algo", algo, soak_algo_names, 3)
#undef SOAK_ENUM
        else { fprintf(stderr, "soak: unknown key '%s'\n", k); return -1; }
        if (e < 0) { fprintf(stderr, "soak: bad value '%s' for %s\n", v, k); return -1; }
    }
    if (c.n < 1 || c.d < 1 || c.k < 1 || c.k > c.n || c.b < 1 || (c.algo && c.metric != FKM_METRIC_L2) || c.max_iter < 0 || c.n_init < 1) {
        fprintf(stderr, "soak: inconsistent case '%s'\n", line);
        return -1;
    }
    *out = c;
    return 0;
}

/* Data of the case: b x n x d elements of its dtype (returned, malloc'ed) and x64, the float32
 * working values the library converts them to (documented conversions, docs/contract.md §7). */
static inline void *soak_data(const soak_case *c, double *x64) {
    uint64_t s = c->seed * 0x2545F4914F6CDD1Dull + 1;
    const int64_t nd = c->b * c->n * c->d;
    const int64_t ctrs = c->kind == SOAK_DUPS ? soak_pick(&s, 1, c->k + 2) : soak_pick(&s, 1, 2 * c->k + 1);
    double *ctr = malloc((size_t)(ctrs * c->d) * sizeof(double));
    const double off = c->kind == SOAK_OFFSET ? 1000.0 : 0.0, spread = c->kind == SOAK_OFFSET ? 0.01 : gen_unif(&s) + 0.05;
    for (int64_t i = 0; i < ctrs * c->d; i++) ctr[i] = off + gen_normal(&s) * 4.0;
    for (int64_t i = 0; i < c->b * c->n; i++) {
        const int64_t g = (int64_t)(gen_next(&s) % (uint64_t)ctrs);
        for (int64_t j = 0; j < c->d; j++) {
            double v;
            switch (c->kind) {
            case SOAK_UNIFORM: v = gen_unif(&s) * 2 - 1; break;
            case SOAK_INTS: v = (double)soak_pick(&s, 0, 6); break;
            case SOAK_DUPS: v = round(ctr[g * c->d + j] * 8) / 8; break;
            default: v = ctr[g * c->d + j] + spread * gen_normal(&s);
            }
            if (c->dtype == FKM_U8) v = c->kind == SOAK_UNIFORM ? floor((v + 1) * 127.5) : fmin(255, fmax(0, round(fabs(v) * 10)));
            x64[i * c->d + j] = v;
        }
        if (c->metric == FKM_METRIC_COSINE) { /* a zero row is an error for cosine: not a case */
            int zero = 1;
            for (int64_t j = 0; j < c->d; j++) zero &= x64[i * c->d + j] == 0;
            if (zero) x64[i * c->d] = 1;
        }
    }
    free(ctr);
    void *out = malloc((size_t)nd * (c->dtype == FKM_F64 ? 8 : c->dtype == FKM_F32 ? 4 : c->dtype == FKM_U8 ? 1 : 2));
    for (int64_t i = 0; i < nd; i++) {
        const double v = x64[i];
        switch (c->dtype) {
        case FKM_F32: ((float *)out)[i] = (float)v; x64[i] = (float)v; break;
        case FKM_F64: ((double *)out)[i] = v; x64[i] = (float)v; break; /* rounded to nearest float32 */
        case FKM_F16: ((uint16_t *)out)[i] = f2h((float)v); x64[i] = h2f(((uint16_t *)out)[i]); break;
        case FKM_BF16: ((uint16_t *)out)[i] = f2bf((float)v); x64[i] = bf2f(((uint16_t *)out)[i]); break;
        default: ((uint8_t *)out)[i] = (uint8_t)v; x64[i] = (uint8_t)v;
        }
    }
    if (c->metric == FKM_METRIC_COSINE) /* rounding to half/bf16 can make a row zero again */
        for (int64_t i = 0; i < c->b * c->n; i++) {
            int zero = 1;
            for (int64_t j = 0; j < c->d; j++) zero &= x64[i * c->d + j] == 0;
            if (!zero) continue;
            x64[i * c->d] = 1;
            switch (c->dtype) {
            case FKM_F32: ((float *)out)[i * c->d] = 1; break;
            case FKM_F64: ((double *)out)[i * c->d] = 1; break;
            case FKM_F16: ((uint16_t *)out)[i * c->d] = f2h(1); break;
            case FKM_BF16: ((uint16_t *)out)[i * c->d] = f2bf(1); break;
            default: ((uint8_t *)out)[i * c->d] = 1;
            }
        }
    return out;
}

/* Weights (b x n float32, or NULL), never all zero within a problem. */
static inline float *soak_weights(const soak_case *c) {
    if (c->wkind == SOAK_W_NONE) return NULL;
    uint64_t s = c->seed * 0x9E3779B97F4A7C15ull + 7;
    float *w = malloc((size_t)(c->b * c->n) * sizeof(float));
    for (int64_t p = 0; p < c->b; p++) {
        float tot = 0;
        for (int64_t i = 0; i < c->n; i++) {
            float v = c->wkind == SOAK_W_UNIF ? (float)(0.5 + 1.5 * gen_unif(&s))
                    : c->wkind == SOAK_W_ZEROS ? (gen_unif(&s) < 1.0 / 3 ? 0.0f : (float)(0.25 + gen_unif(&s)))
                                               : (float)soak_pick(&s, 0, 3);
            w[p * c->n + i] = v;
            tot += v;
        }
        if (tot == 0) w[p * c->n + c->n - 1] = 1;
    }
    return w;
}

/* Initial centroids for init=array (k x d float32): data rows of problem 0, perturbed a little,
 * sometimes with a duplicate row (a legal input, docs/contract.md §5). */
static inline float *soak_init(const soak_case *c, const double *x64) {
    uint64_t s = c->seed + 0xC0FFEE;
    float *ci = malloc((size_t)(c->k * c->d) * sizeof(float));
    for (int64_t i = 0; i < c->k; i++) {
        const int64_t r = (int64_t)(gen_next(&s) % (uint64_t)c->n);
        for (int64_t j = 0; j < c->d; j++)
            ci[i * c->d + j] = (float)(x64[r * c->d + j] + (c->kind == SOAK_INTS ? 0 : 0.01 * gen_normal(&s)));
    }
    if (c->k > 1 && gen_unif(&s) < 0.25) memcpy(ci + (c->k - 1) * c->d, ci, (size_t)c->d * sizeof(float));
    if (c->metric == FKM_METRIC_COSINE)
        for (int64_t i = 0; i < c->k; i++) {
            int zero = 1;
            for (int64_t j = 0; j < c->d; j++) zero &= ci[i * c->d + j] == 0;
            if (zero) ci[i * c->d] = 1;
        }
    return ci;
}
#endif
