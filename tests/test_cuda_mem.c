/* test_cuda_mem.c -- GPU memory: fkm_gpu_memory_estimate, the gpu_mem_limit cap and the free-memory
 * check made before allocating (host API and device-pointer API), device=auto falling back to the
 * CPU, and the estimate against the peak the GPU really shows (cudaMemGetInfo, sampled by the
 * progress callback between iterations and by a polling thread during the whole fit).
 * The CPU-side checks run everywhere; the rest is skipped (exit 77) without a GPU. */
#include "check.h"
#include "gen.h"

#include <flashkmeans.h>
#include <stdlib.h>
#include <string.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>
#include <pthread.h>
#include <stdatomic.h>
#endif

/* n x d standard-normal float32 points around 16 random centres (quality is irrelevant here). */
static float *make_data(int64_t n, int64_t d, uint64_t seed) {
    float *x = malloc((size_t)(n * d) * sizeof(float));
    uint64_t s = seed;
    float ctr[16][256];
    for (int c = 0; c < 16; c++)
        for (int64_t j = 0; j < d && j < 256; j++) ctr[c][j] = (float)(4.0 * gen_normal(&s));
    for (int64_t i = 0; i < n; i++) {
        const int c = (int)(gen_next(&s) % 16);
        for (int64_t j = 0; j < d; j++) x[i * d + j] = ctr[c][j % 256] + (float)(gen_unif(&s) - 0.5);
    }
    return x;
}

static fkm_params base_params(int64_t k, fkm_device dev) {
    fkm_params p;
    fkm_params_default(&p);
    p.k = k;
    p.device = dev;
    p.stop = FKM_STOP_FIXED;
    p.max_iter = 3;
    p.init = FKM_INIT_RANDOM;
    return p;
}

/* Everywhere: the default, the CPU ignoring the cap, and what a CPU-only build answers. */
static void cpu_side(void) {
    fkm_params p;
    fkm_params_default(&p);
    CHECK(p.gpu_mem_limit == 0, "default gpu_mem_limit %zu", p.gpu_mem_limit);
    float *x = make_data(400, 8, 1);
    fkm_matrix m = {x, FKM_F32, 400, 8, NULL};
    p = base_params(4, FKM_DEVICE_CPU);
    p.gpu_mem_limit = 1;
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CPU, "device=cpu ignores the cap: %s", fkm_last_error());
    fkm_result_free(&r);
    size_t bytes = 99;
    p.device = FKM_DEVICE_AUTO;
#ifndef FKM_HAVE_CUDA
    st = fkm_gpu_memory_estimate(&p, &m, &bytes);
    CHECK(st == FKM_ERR_NO_CUDA && bytes == 0, "CPU-only build: estimate gives %d, %zu bytes", (int)st, bytes);
#else
    if (fkm_cuda_device_count() == 0) {
        st = fkm_gpu_memory_estimate(&p, &m, &bytes);
        CHECK(st == FKM_ERR_NO_CUDA && bytes == 0, "no GPU: estimate gives %d, %zu bytes", (int)st, bytes);
    }
#endif
    /* auto with a 1-byte cap: the CPU whether or not there is a GPU */
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CPU, "auto + 1-byte cap runs on the CPU: %s", fkm_last_error());
    fkm_result_free(&r);
    free(x);
}

#ifdef FKM_HAVE_CUDA
static char logged[1024];
static void keep_log(fkm_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == FKM_LOG_WARN) snprintf(logged, sizeof logged, "%s", msg);
}

static size_t free_now(void) {
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    return f;
}

static size_t estimate(const fkm_params *p, const fkm_matrix *m) {
    size_t b = 0;
    fkm_status st = fkm_gpu_memory_estimate(p, m, &b);
    CHECK(st == FKM_OK && b > 0, "estimate: %s", fkm_last_error());
    return b;
}

static void estimate_shape(void) {
    float *x = make_data(400000, 64, 2);
    fkm_params p = base_params(256, FKM_DEVICE_CUDA);
    size_t prev = 0;
    for (int64_t n = 100000; n <= 400000; n *= 2) {
        fkm_matrix m = {x, FKM_F32, n, 64, NULL};
        const size_t e = estimate(&p, &m);
        CHECK(e > (size_t)n * 64 * 4, "n=%lld: %zu bytes holds less than the data", (long long)n, e);
        CHECK(e > prev, "monotone in n: %zu after %zu", e, prev);
        prev = e;
    }
    fkm_matrix m = {x, FKM_F32, 400000, 64, NULL};
    const size_t plain = estimate(&p, &m);
    float *w = malloc(400000 * sizeof(float));
    for (int i = 0; i < 400000; i++) w[i] = 1.0f;
    m.weights = w;
    CHECK(estimate(&p, &m) >= plain + 400000 * 4, "weights count");
    m.weights = NULL;
    p.init = FKM_INIT_KMEANSPP; /* trials (2 + ln 256 = 7) floats per point */
    CHECK(estimate(&p, &m) >= plain + 7 * 400000 * 4, "k-means++ temporaries count");
    p.init = FKM_INIT_RANDOM;
    m.d = 63; /* rows not a whole number of 16-byte vectors: a staging buffer of the f32 rows */
    CHECK(estimate(&p, &m) >= plain + 400000 * 63 * 4 - (size_t)400000 * 4, "staging counts");
    m.d = 64;
    size_t b = 0;
    CHECK(fkm_gpu_memory_estimate(&p, &m, NULL) == FKM_ERR_INVALID_ARG, "NULL bytes");
    p.k = 400001;
    CHECK(fkm_gpu_memory_estimate(&p, &m, &b) == FKM_ERR_INVALID_ARG, "k > n");
    p.k = 256;
    p.cuda_device = 99;
    CHECK(fkm_gpu_memory_estimate(&p, &m, &b) == FKM_ERR_NO_CUDA, "no GPU 99");
    free(w);
    free(x);
}

/* cap = estimate fits; estimate - 1 fails cleanly; the next fit works; auto goes to the CPU. */
static void cap_edges(void) {
    const int64_t n = 300000, d = 48;
    float *x = make_data(n, d, 3);
    float *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = 1.0f + (float)(i % 3);
    fkm_matrix m = {x, FKM_F32, n, d, w};
    fkm_params p = base_params(128, FKM_DEVICE_CUDA);
    p.init = FKM_INIT_KMEANSPP;
    const size_t e = estimate(&p, &m);
    fkm_result r;
    p.gpu_mem_limit = e;
    fkm_status st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CUDA, "cap = estimate (%zu): %s", e, fkm_last_error());
    fkm_result_free(&r);
    /* one byte less: the rows that do not fit are streamed (tests/test_cuda_scale.c checks the
     * results); a cap below even the streaming working set is refused before allocating */
    p.gpu_mem_limit = e - 1;
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CUDA, "cap = estimate - 1 streams: %s", fkm_last_error());
    if (st == FKM_OK) fkm_result_free(&r);
    const size_t before = free_now();
    p.gpu_mem_limit = 100000;
    st = fkm_fit(&p, &m, &r);
    const char *msg = fkm_last_error();
    CHECK(st == FKM_ERR_NO_MEMORY, "cap 100000: status %d (%s)", (int)st, msg);
    CHECK(strstr(msg, "gpu_mem_limit") && strstr(msg, "device=cpu") && strstr(msg, "streams"),
          "message names the cap and the ways out: %s", msg);
    CHECK(r.centroids == NULL && r.labels == NULL, "failed fit leaves a zeroed result");
    CHECK(free_now() == before, "nothing left allocated: %zu -> %zu free", before, free_now());
    p.gpu_mem_limit = 0;
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CUDA, "a normal fit after the refusal: %s", fkm_last_error());
    fkm_result_free(&r);
    /* a batch runs its problems one at a time: one problem's estimate is its cap */
    float *x2 = malloc((size_t)(2 * n * d) * sizeof(float));
    memcpy(x2, x, (size_t)(n * d) * sizeof(float));
    memcpy(x2 + n * d, x, (size_t)(n * d) * sizeof(float));
    fkm_matrix m2 = {x2, FKM_F32, n, d, NULL};
    fkm_result rb[2];
    p.gpu_mem_limit = estimate(&p, &m2);
    st = fkm_fit_batch(&p, &m2, 2, rb);
    CHECK(st == FKM_OK, "batch of 2 under one problem's estimate: %s", fkm_last_error());
    if (st == FKM_OK) { fkm_result_free(&rb[0]); fkm_result_free(&rb[1]); }
    free(x2);
    /* auto: the CPU, said through the log */
    p.device = FKM_DEVICE_AUTO;
    p.gpu_mem_limit = 100000;
    p.verbose = 1;
    p.log_fn = keep_log;
    logged[0] = '\0';
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CPU, "auto + small cap: the CPU (%s)", fkm_last_error());
    CHECK(strstr(logged, "running on the CPU") && strstr(logged, "gpu_mem_limit"), "logged: '%s'", logged);
    fkm_result_free(&r);
    free(w);
    free(x);
}

/* Too little free memory (most of the GPU taken here) without any cap: half the estimate left
 * free is less than even the streaming working set plus its margin. */
static void free_memory_edge(void) {
    const int64_t n = 200000, d = 64;
    float *x = make_data(n, d, 4);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_params p = base_params(64, FKM_DEVICE_CUDA);
    const size_t e = estimate(&p, &m), f = free_now();
    void *hog = NULL;
    if (f <= e || cudaMalloc(&hog, f - e / 2) != cudaSuccess) {
        (void)cudaGetLastError();
        CHECK(0, "could not take %zu of %zu free bytes", f - e / 2, f);
        free(x);
        return;
    }
    fkm_result r;
    fkm_status st = fkm_fit(&p, &m, &r);
    const char *msg = fkm_last_error();
    CHECK(st == FKM_ERR_NO_MEMORY && strstr(msg, "free") && strstr(msg, "device=cpu"), "little free memory: %d %s",
          (int)st, msg);
    p.device = FKM_DEVICE_AUTO;
    st = fkm_fit(&p, &m, &r);
    CHECK(st == FKM_OK && r.device == FKM_DEVICE_CPU, "auto, little free memory: the CPU (%s)", fkm_last_error());
    fkm_result_free(&r);
    cudaFree(hog);
    free(x);
}

/* ---- the real peak */
static size_t base_free, min_free;
static int progress_min(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)it; (void)max_iter; (void)s; (void)u;
    const size_t f = free_now();
    if (f < min_free) min_free = f;
    return 0;
}

typedef struct {
    atomic_int stop;
    size_t min_free;
} poller;
static void *poll_free(void *arg) {
    poller *q = (poller *)arg;
    cudaSetDevice(0);
    while (!atomic_load(&q->stop)) {
        const size_t f = free_now();
        if (f < q->min_free) q->min_free = f;
    }
    return NULL;
}

static void check_ratio(const char *what, size_t est, size_t used) {
    const double r = used ? (double)est / (double)used : 0.0;
    printf("%-44s estimate %9.1f MiB, measured %9.1f MiB (x%.3f)\n", what, est / 1048576.0, used / 1048576.0, r);
    CHECK(r >= 0.9 && r <= 1.1, "%s: estimate %zu vs measured peak %zu", what, est, used);
}

/* Same kernels once on a small problem first: lazily loaded modules are not the fit's memory. */
static void warm(const fkm_params *p, const float *x, int64_t d) {
    fkm_params q = *p;
    q.progress_fn = NULL;
    q.k = p->k;
    fkm_matrix m = {x, FKM_F32, 4 * p->k, d, NULL};
    fkm_result r;
    if (fkm_fit(&q, &m, &r) == FKM_OK) fkm_result_free(&r);
}

static void real_peak(void) {
    const int64_t n = (int64_t)1 << 20;
    float *x = make_data(n, 64, 5), *w = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) w[i] = 1.0f;
    /* resident between iterations: workspace + weights */
    fkm_params p = base_params(256, FKM_DEVICE_CUDA);
    fkm_matrix m = {x, FKM_F32, n, 64, w};
    warm(&p, x, 64);
    p.progress_fn = progress_min;
    base_free = min_free = free_now();
    fkm_result r;
    const size_t e1 = estimate(&p, &m);
    CHECK(fkm_fit(&p, &m, &r) == FKM_OK, "fit: %s", fkm_last_error());
    fkm_result_free(&r);
    check_ratio("between iterations (f32, d=64, weights)", e1, base_free - min_free);
    /* the whole fit, polled: k-means++ temporaries; then the staging buffer of d=63 rows */
    for (int c = 0; c < 2; c++) {
        fkm_params q = base_params(256, FKM_DEVICE_CUDA);
        q.init = c == 0 ? FKM_INIT_KMEANSPP : FKM_INIT_RANDOM;
        fkm_matrix mq = {x, FKM_F32, c == 0 ? n : n * 64 / 63, c == 0 ? 64 : 63, c == 0 ? w : NULL};
        warm(&q, x, mq.d);
        const size_t e = estimate(&q, &mq);
        poller pl;
        atomic_init(&pl.stop, 0);
        pl.min_free = base_free = free_now();
        pthread_t th;
        pthread_create(&th, NULL, poll_free, &pl);
        CHECK(fkm_fit(&q, &mq, &r) == FKM_OK, "fit: %s", fkm_last_error());
        atomic_store(&pl.stop, 1);
        pthread_join(th, NULL);
        fkm_result_free(&r);
        check_ratio(c == 0 ? "whole fit, polled (k-means++, weights)" : "whole fit, polled (d=63: staging)", e,
                    base_free - pl.min_free);
    }
    free(w);
    free(x);
}

/* Device-pointer API: the workspace (when allocated by the call) and k-means++ temporaries. */
static void device_api(void) {
    const int64_t n = 100000, d = 32, k = 64;
    float *hx = make_data(n, d, 6);
    void *dx = NULL, *dc = NULL, *dl = NULL, *ws = NULL;
    cudaMalloc(&dx, (size_t)(n * d) * 4);
    cudaMalloc(&dc, (size_t)(k * d) * 4);
    cudaMalloc(&dl, (size_t)n * 4);
    cudaMemcpy(dx, hx, (size_t)(n * d) * 4, cudaMemcpyHostToDevice);
    fkm_cuda_matrix m = {dx, FKM_F32, 1, n, d, NULL};
    fkm_params p = base_params(k, FKM_DEVICE_CUDA);
    size_t wsb = 0, pwsb = 0;
    CHECK(fkm_cuda_fit_workspace_size(&p, &m, &wsb) == FKM_OK && wsb > 0, "workspace size");
    p.gpu_mem_limit = wsb;
    fkm_status st = fkm_cuda_fit(&p, &m, dc, dl, NULL, NULL, NULL, NULL, 0, NULL);
    CHECK(st == FKM_OK, "device fit, cap = workspace: %s", fkm_last_error());
    const size_t before = free_now();
    p.gpu_mem_limit = wsb - 1;
    st = fkm_cuda_fit(&p, &m, dc, dl, NULL, NULL, NULL, NULL, 0, NULL);
    CHECK(st == FKM_ERR_NO_MEMORY && strstr(fkm_last_error(), "gpu_mem_limit"), "device fit, cap - 1: %d %s", (int)st,
          fkm_last_error());
    CHECK(free_now() == before, "nothing left allocated");
    cudaMalloc(&ws, wsb);
    p.gpu_mem_limit = 1; /* the caller's workspace: nothing to allocate with random init */
    st = fkm_cuda_fit(&p, &m, dc, dl, NULL, NULL, NULL, ws, wsb, NULL);
    CHECK(st == FKM_OK, "caller's workspace, 1-byte cap: %s", fkm_last_error());
    p.init = FKM_INIT_KMEANSPP; /* but k-means++ allocates its temporaries */
    st = fkm_cuda_fit(&p, &m, dc, dl, NULL, NULL, NULL, ws, wsb, NULL);
    CHECK(st == FKM_ERR_NO_MEMORY, "caller's workspace, k-means++, 1-byte cap: %d %s", (int)st, fkm_last_error());
    p.init = FKM_INIT_RANDOM;
    CHECK(fkm_cuda_predict_workspace_size(&p, &m, k, &pwsb) == FKM_OK, "predict workspace size");
    p.gpu_mem_limit = pwsb - 1;
    st = fkm_cuda_predict(&p, &m, dc, k, dl, NULL, NULL, NULL, 0, NULL);
    CHECK(st == FKM_ERR_NO_MEMORY, "device predict, cap - 1: %d %s", (int)st, fkm_last_error());
    p.gpu_mem_limit = pwsb;
    st = fkm_cuda_predict(&p, &m, dc, k, dl, NULL, NULL, NULL, 0, NULL);
    CHECK(st == FKM_OK, "device predict, cap = workspace: %s", fkm_last_error());
    cudaFree(ws);
    cudaFree(dl);
    cudaFree(dc);
    cudaFree(dx);
    free(hx);
}
#endif

int main(void) {
    cpu_side();
    if (fkm_cuda_device_count() == 0) {
        if (check_fail) return check_report();
        SKIP_ALL("no CUDA device (or a CPU-only build); %d CPU-side checks passed", check_pass);
    }
#ifdef FKM_HAVE_CUDA
    cudaFree(0); /* the context first: it is not the fit's memory */
    estimate_shape();
    cap_edges();
    free_memory_edge();
    device_api();
    real_peak();
#endif
    return check_report();
}
