/* test_cuda_scale.c -- the scale engine (src/cuda/scale/): host data streamed through a small
 * GPU-memory cap, and several GPUs with NCCL.
 *  - streaming (a cap that keeps a part resident, small chunks) gives the same bits as the scale
 *    engine holding everything: centroids, labels, inertia, every iteration's statistics;
 *  - so do other caps and chunk sizes, and (with 2+ GPUs) 2 GPUs against 1;
 *  - against the resident engine (float sums): labels agree, centroids within float rounding;
 *  - empty clusters (farthest policy) across streamed rows, weights, cosine, inner product,
 *    fp16 and tf32;
 *  - a cap below the streaming working set: a clear error, nothing allocated left; auto: the CPU.
 * Skipped (exit 77) without a GPU; the 2-GPU part reports itself skipped with one GPU. */
#include "check.h"
#include "gen.h"
#include "test_cuda.h"

#include <flashkmeans.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>

static float *make_data(int64_t n, int64_t d, uint64_t seed) {
    float *x = malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = seed;
    float ctr[40][64];
    for (int c = 0; c < 40; c++)
        for (int j = 0; j < 64; j++) ctr[c][j] = (float)(3.0 * gen_normal(&s));
    for (int64_t i = 0; i < n; i++) {
        const int c = (int)(gen_next(&s) % 40);
        for (int64_t j = 0; j < d; j++) x[i * d + j] = ctr[c][j % 64] + (float)gen_normal(&s);
    }
    return x;
}

typedef struct {
    const char *piece; /* FKM_CU_SCALE_PIECE or NULL */
    size_t cap;
    int gpus;
    int scale;         /* FKM_CU_SCALE=1 */
} run_cfg;

static fkm_status fit_with(const fkm_params *p0, const fkm_matrix *m, const run_cfg *c, fkm_result *r) {
    fkm_params p = *p0;
    p.gpu_mem_limit = c->cap;
    p.gpu_count = c->gpus;
    if (c->piece) setenv("FKM_CU_SCALE_PIECE", c->piece, 1); else unsetenv("FKM_CU_SCALE_PIECE");
    if (c->scale) setenv("FKM_CU_SCALE", "1", 1); else unsetenv("FKM_CU_SCALE");
    fkm_status st = fkm_fit(&p, m, r);
    unsetenv("FKM_CU_SCALE_PIECE");
    unsetenv("FKM_CU_SCALE");
    return st;
}

/* Bitwise the same result (statistics except timing). */
static int same_bits(const fkm_result *a, const fkm_result *b) {
    if (a->iterations != b->iterations || memcmp(&a->inertia, &b->inertia, sizeof a->inertia)) return 0;
    if (memcmp(a->centroids, b->centroids, (size_t)(a->k * a->d) * sizeof(float))) return 0;
    if (memcmp(a->labels, b->labels, (size_t)a->n * sizeof(int32_t))) return 0;
    for (int i = 0; i < a->iterations; i++) {
        const fkm_iter_stats *s = &a->stats[i], *t = &b->stats[i];
        if (s->inertia != t->inertia || s->shift != t->shift || s->empty != t->empty || s->changed != t->changed)
            return 0;
    }
    return 1;
}

static double max_rel_diff(const float *a, const float *b, int64_t m) {
    double mx = 0.0, scale = 1e-30;
    for (int64_t i = 0; i < m; i++) {
        mx = fmax(mx, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return mx / scale;
}

/* The estimate of the resident engine, to pick caps relative to it. */
static size_t resident_estimate(const fkm_params *p, const fkm_matrix *m) {
    size_t b = 0;
    CHECK(fkm_gpu_memory_estimate(p, m, &b) == FKM_OK, "estimate: %s", fkm_last_error());
    return b;
}

/* One configuration: resident-scale vs streamed (two caps, two chunk sizes) bitwise; the resident
 * engine within rounding. */
static void case_stream(const char *what, fkm_params p, const fkm_matrix *m, double label_agree) {
    const size_t est = resident_estimate(&p, m);
    fkm_result ref, r, plain;
    const run_cfg all = {NULL, 0, 1, 1};
    fkm_status st = fit_with(&p, m, &all, &ref);
    CHECK(st == FKM_OK && ref.device == FKM_DEVICE_CUDA, "%s: scale engine, all resident: %s", what, fkm_last_error());
    if (st != FKM_OK) return;
    /* caps that leave about half and about a fifth of the rows resident (a 256 MiB margin is
     * not taken from a cap) and 20000- and 7777-row chunks */
    const size_t caps[2] = {est / 2, est / 5};
    const char *pieces[2] = {"20000", "7777"};
    for (int ci = 0; ci < 2; ci++)
        for (int pi = 0; pi < 2; pi++) {
            const run_cfg c = {pieces[pi], caps[ci], 1, 0};
            st = fit_with(&p, m, &c, &r);
            CHECK(st == FKM_OK, "%s: cap %zu piece %s: %s", what, caps[ci], pieces[pi], fkm_last_error());
            if (st != FKM_OK) continue;
            CHECK(same_bits(&ref, &r), "%s: streamed (cap %zu of %zu, chunks of %s) == resident, bitwise (inertia %.17g vs %.17g)",
                  what, caps[ci], est, pieces[pi], r.inertia, ref.inertia);
            fkm_result_free(&r);
        }
    st = fit_with(&p, m, &(run_cfg){NULL, 0, 1, 0}, &plain);
    CHECK(st == FKM_OK, "%s: resident engine: %s", what, fkm_last_error());
    if (st == FKM_OK) { /* later iterations may part at near-ties: labels and inertia only */
        int64_t agree = 0;
        for (int64_t i = 0; i < m->n; i++) agree += plain.labels[i] == ref.labels[i];
        CHECK((double)agree >= label_agree * (double)m->n, "%s: labels agree with the resident engine: %lld of %lld",
              what, (long long)agree, (long long)m->n);
        CHECK(fabs(ref.inertia - plain.inertia) <= 1e-4 * fabs(plain.inertia), "%s: inertia %.9g vs %.9g", what,
              ref.inertia, plain.inertia);
        fkm_result_free(&plain);
    }
    /* one iteration: the same labels went into both updates, so the centroids differ only by the
     * sums' rounding (float sums in the resident engine, exact ones here) */
    fkm_params p1 = p;
    p1.max_iter = 1;
    fkm_result a, b;
    if (fit_with(&p1, m, &all, &a) == FKM_OK) {
        if (fit_with(&p1, m, &(run_cfg){NULL, 0, 1, 0}, &b) == FKM_OK) {
            const double rel = max_rel_diff(a.centroids, b.centroids, p.k * m->d);
            CHECK(rel < 2e-6, "%s: one iteration: centroids within the float sums' rounding: %.3g", what, rel);
            CHECK(a.stats[0].changed == b.stats[0].changed && a.stats[0].empty == b.stats[0].empty,
                  "%s: one iteration: changed %lld/%lld empty %lld/%lld", what, (long long)a.stats[0].changed,
                  (long long)b.stats[0].changed, (long long)a.stats[0].empty, (long long)b.stats[0].empty);
            CHECK(fabs(a.stats[0].inertia - b.stats[0].inertia) <= 1e-9 * fabs(b.stats[0].inertia),
                  "%s: one iteration: inertia %.17g vs %.17g", what, a.stats[0].inertia, b.stats[0].inertia);
            fkm_result_free(&b);
        }
        fkm_result_free(&a);
    }
    fkm_result_free(&ref);
}

static fkm_params params(int64_t k, fkm_precision prec, fkm_metric metric) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.device = FKM_DEVICE_CUDA;
    p.precision = prec;
    p.metric = metric;
    p.stop = FKM_STOP_FIXED;
    p.max_iter = 6;
    p.init = FKM_INIT_RANDOM;
    p.seed = 7;
    return p;
}

static void streaming(void) {
    const int64_t n = 150001, d = 50;
    float *x = make_data(n, d, 11);
    float *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = (float)(1 + i % 5) * 0.25f;
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    case_stream("exact L2", params(100, FKM_PREC_EXACT, FKM_METRIC_L2), &m, 0.999);
    case_stream("tf32 L2", params(100, FKM_PREC_TF32, FKM_METRIC_L2), &m, 0.99);
    case_stream("fp16 L2", params(100, FKM_PREC_FP16, FKM_METRIC_L2), &m, 0.99);
    case_stream("exact cosine", params(64, FKM_PREC_EXACT, FKM_METRIC_COSINE), &m, 0.999);
    case_stream("exact inner product", params(64, FKM_PREC_EXACT, FKM_METRIC_IP), &m, 0.99);
    fkm_matrix mw = {x, FKM_F32, n, d, w};
    case_stream("exact L2 weighted", params(100, FKM_PREC_EXACT, FKM_METRIC_L2), &mw, 0.999);
    /* empty clusters: 20 copies of one centroid -> 19 empties in the first iteration, filled
     * with the farthest rows wherever they are streamed from */
    fkm_params pe = params(60, FKM_PREC_EXACT, FKM_METRIC_L2);
    float *c0 = malloc((size_t)(60 * d) * sizeof(float));
    for (int c = 0; c < 60; c++) memcpy(c0 + c * d, x + (int64_t)(c < 20 ? 0 : c * 997) * d, (size_t)d * sizeof(float));
    pe.init = FKM_INIT_ARRAY;
    pe.init_centroids = c0;
    fkm_result r;
    if (fit_with(&pe, &m, &(run_cfg){"20000", resident_estimate(&pe, &m) / 4, 1, 0}, &r) == FKM_OK) {
        CHECK(r.stats[0].empty == 19, "19 empty clusters in the first iteration, got %lld", (long long)r.stats[0].empty);
        fkm_result_free(&r);
    }
    case_stream("empty clusters (farthest)", pe, &m, 0.999);
    /* a cluster of zero-weight rows only is empty (docs/contract.md 5): the last 50 rows sit far
     * away with weight 0 and the last initial centroid on them; counting all rows, as the scale
     * engine once did, finds no empty cluster and leaves that centroid where it is */
    float *xz = malloc((size_t)(n * d) * sizeof(float)), *wz = malloc((size_t)n * sizeof(float));
    memcpy(xz, x, (size_t)(n * d) * sizeof(float));
    memcpy(wz, w, (size_t)n * sizeof(float));
    for (int64_t i = n - 50; i < n; i++) {
        for (int64_t j = 0; j < d; j++) xz[i * d + j] = 1000.0f;
        wz[i] = 0.0f;
    }
    for (int c = 0; c < 60; c++) memcpy(c0 + c * d, xz + (int64_t)(c < 59 ? c * 997 : n - 1) * d, (size_t)d * sizeof(float));
    fkm_matrix mz = {xz, FKM_F32, n, d, wz};
    if (fit_with(&pe, &mz, &(run_cfg){"20000", resident_estimate(&pe, &mz) / 4, 1, 0}, &r) == FKM_OK) {
        CHECK(r.stats[0].empty == 1, "a zero-weight-only cluster is empty: %lld empty clusters in the first iteration",
              (long long)r.stats[0].empty);
        fkm_result_free(&r);
    } else {
        CHECK(0, "zero-weight-only cluster: %s", fkm_last_error());
    }
    case_stream("zero-weight-only cluster (farthest)", pe, &mz, 0.999);
    free(xz);
    free(wz);
    uint16_t *h = malloc((size_t)(n * d) * sizeof(uint16_t));
    for (int64_t i = 0; i < n * d; i++) h[i] = f2h(x[i]);
    fkm_matrix mh = {h, FKM_F16, n, d, NULL};
    case_stream("fp16 input", params(100, FKM_PREC_FP16, FKM_METRIC_L2), &mh, 0.999);
    free(h);
    free(c0);
    free(w);
    free(x);
}

/* A cap below the streaming working set: an error naming the cap, a zeroed result, nothing left
 * allocated; device=auto runs on the CPU; a fit afterwards works. */
static void too_small(void) {
    const int64_t n = 50000, d = 32;
    float *x = make_data(n, d, 5);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = params(16, FKM_PREC_EXACT, FKM_METRIC_L2);
    size_t f0 = 0, t = 0;
    cudaMemGetInfo(&f0, &t);
    fkm_result r;
    p.gpu_mem_limit = 100000;
    fkm_status st = fkm_fit(&p, &m, &r);
    const char *msg = fkm_last_error();
    CHECK(st == FKM_ERR_NO_MEMORY && strstr(msg, "gpu_mem_limit") && strstr(msg, "streams") && strstr(msg, "device=cpu"),
          "tiny cap: %d %s", (int)st, msg);
    CHECK(r.centroids == NULL && r.labels == NULL, "failed fit leaves a zeroed result");
    size_t f1 = 0;
    cudaMemGetInfo(&f1, &t);
    CHECK(f1 == f0, "nothing left allocated: %zu -> %zu", f0, f1);
    p.device = FKM_DEVICE_AUTO;
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CPU, "auto + tiny cap: the CPU (%s)", fkm_last_error());
    fkm_result_free(&r);
    p.device = FKM_DEVICE_CUDA;
    p.gpu_count = 99;
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_ERR_INVALID_ARG && strstr(fkm_last_error(), "gpu_count"), "99 GPUs: %d %s", (int)st, fkm_last_error());
    free(x);
}

/* 2 GPUs (and all of them) against 1, bitwise, resident and streamed. */
static void multi_gpu(void) {
    if (fkm_cuda_device_count() < 2) {
        printf("SKIPPED: multi-GPU part (needs 2 GPUs, %d present)\n", fkm_cuda_device_count());
        return;
    }
    const int64_t n = 200003, d = 40;
    float *x = make_data(n, d, 9);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = params(128, FKM_PREC_TF32, FKM_METRIC_L2);
    fkm_result one, r;
    fkm_status st = fit_with(&p, &m, &(run_cfg){NULL, 0, 1, 1}, &one);
    CHECK(st == FKM_OK, "1 GPU: %s", fkm_last_error());
    if (st != FKM_OK) { free(x); return; }
    const size_t est = resident_estimate(&p, &m);
    const run_cfg cfgs[3] = {{NULL, 0, 2, 0}, {"9000", est / 6, 2, 0}, {NULL, 0, 0, 0}};
    for (int i = 0; i < 3; i++) {
        st = fit_with(&p, &m, &cfgs[i], &r);
        CHECK(st == FKM_OK, "config %d (%d GPUs): %s", i, cfgs[i].gpus, fkm_last_error());
        if (st != FKM_OK) continue;
        CHECK(same_bits(&one, &r), "config %d (%d GPUs, cap %zu) == 1 GPU, bitwise", i, cfgs[i].gpus, cfgs[i].cap);
        fkm_result_free(&r);
    }
    fkm_result_free(&one);
    free(x);
}

#endif

int main(void) {
    if (fkm_cuda_device_count() == 0) SKIP_ALL("no CUDA device (or a CPU-only build)");
#ifdef FKM_HAVE_CUDA
    cudaFree(0);
    streaming();
    too_small();
    multi_gpu();
#endif
    return check_report();
}
