/* test_cuda_faults.c -- GPU faults (issue 23, item 2), through the hook of src/fault.h and the
 * wrappers at the end of src/cuda/cu_common.cuh: each cudaMalloc / cudaMallocHost /
 * cudaHostRegister failed in turn (FKM_ERR_NO_MEMORY), each cudaMemcpy(Async) / cudaMemsetAsync /
 * synchronisation / launch check failed in turn (FKM_ERR_CUDA: a GPU error in the middle of a
 * fit), and each host allocation of a CUDA fit, for fits on the GPU (k-means++, k-means||,
 * restarts, weights, the engine's own loop and the host loop of a progress callback, a batch, the
 * streamed engine under a small gpu_mem_limit), predict and transform. Each failure: the status and
 * message, a zeroed result; the next call gives the clean run's bits; GPU memory free after the
 * sweeps as before them (within 2 MiB). Threads and cancellation on the GPU: test_cuda_concurrency.c.
 * Skipped (exit 77) without a GPU. For the leak check on the GPU, run it under
 *   compute-sanitizer --leak-check full --error-exitcode 1 ./tests/test_cuda_faults
 * FKM_FAULT_MAX=N fails only the first N events of each sweep (a quick look). */
#include "fault_sweep.h"
#include "gen.h"

#include <stdlib.h>
#include <string.h>
#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>

enum { N = 3000, D = 16, K = 10, B = 3 };
static float *X, *W, *C0;

typedef struct {
    const char *name;
    fkm_init init;
    int n_init, weighted, progress, batch;
    size_t gpu_mem_limit;
    int op; /* 0 fit, 1 predict with distances, 2 transform */
} gpu_case;

static int keep_going(int it, int max_iter, const fkm_iter_stats *s, void *u) {
    (void)it; (void)max_iter; (void)s; (void)u;
    return 0;
}

static void run_gpu(const void *arg, fault_outcome *o) {
    const gpu_case *c = (const gpu_case *)arg;
    fkm_params p;
    fkm_params_default(&p);
    p.k = K;
    p.device = FKM_DEVICE_CUDA;
    p.seed = 5;
    p.max_iter = 4;
    p.stop = FKM_STOP_FIXED;
    p.init = c->init;
    p.init_centroids = c->init == FKM_INIT_ARRAY ? C0 : NULL;
    p.n_init = c->n_init;
    p.gpu_mem_limit = c->gpu_mem_limit;
    if (c->progress) p.progress_fn = keep_going;
    const int64_t b = c->batch ? B : 1;
    fkm_matrix m = {X, FKM_F32, N, D, c->weighted ? W : NULL};
    if (c->op) {
        float *out = malloc(sizeof(float) * N * K);
        int32_t *lab = malloc(sizeof(int32_t) * N);
        fkm_status st = c->op == 1 ? fkm_predict(&p, &m, C0, K, lab, out) : fkm_transform(&p, &m, C0, K, out);
        fault_outcome_status(o, st);
        if (st == FKM_OK && c->op == 1) fault_outcome_add(o, lab, sizeof(int32_t) * N), fault_outcome_add(o, out, sizeof(float) * N);
        if (st == FKM_OK && c->op == 2) fault_outcome_add(o, out, sizeof(float) * N * K);
        free(out);
        free(lab);
        return;
    }
    fkm_result r[B];
    memset(r, 0x5a, sizeof r);
    fkm_status st = c->batch ? fkm_fit_batch(&p, &m, b, r) : fkm_fit(&p, &m, r);
    fault_fit_outcome(o, st, r, b);
}

static const gpu_case CASES[] = {
    {"gpu fit k-means++", FKM_INIT_KMEANSPP, 1, 0, 0, 0, 0, 0},
    {"gpu fit k-means||, 2 restarts, weights", FKM_INIT_KMEANS_PARALLEL, 2, 1, 0, 0, 0, 0},
    {"gpu fit random, progress (host loop)", FKM_INIT_RANDOM, 1, 0, 1, 0, 0, 0},
    {"gpu fit_batch of 3", FKM_INIT_KMEANSPP, 1, 0, 0, 1, 0, 0},
    {"gpu fit streamed (gpu_mem_limit 1 MiB)", FKM_INIT_KMEANSPP, 1, 0, 0, 0, (size_t)1 << 20, 0},
    {"gpu predict with distances", FKM_INIT_KMEANSPP, 1, 0, 0, 0, 0, 1},
    {"gpu transform", FKM_INIT_KMEANSPP, 1, 0, 0, 0, 0, 2},
};

#endif

int main(void) {
#ifndef FKM_HAVE_CUDA
    SKIP_ALL("built without the CUDA engine");
#else
    if (fkm_cuda_device_count() < 1) SKIP_ALL("no GPU");
    const char *em = getenv("FKM_FAULT_MAX");
    const int64_t max_events = em ? atoll(em) : 0;
    /* B problems of N rows: the batch case reads them all (N rows alone: a read past the end,
     * a segmentation fault on the first GPU run) */
    double *x64 = malloc(sizeof(double) * B * N * D);
    X = malloc(sizeof(float) * B * N * D);
    gen_blobs(3, B * N, D, 8, 1.0, x64, X);
    free(x64);
    W = malloc(sizeof(float) * B * N);
    uint64_t s = 1;
    for (int i = 0; i < B * N; i++) W[i] = (float)(0.5 + gen_unif(&s));
    C0 = malloc(sizeof(float) * K * D);
    memcpy(C0, X + 7 * D, sizeof(float) * K * D);

    fault_outcome warm = {0}; /* the context and the kernels loaded before the memory baseline */
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        run_gpu(&CASES[i], &warm);
        fault_outcome_clear(&warm);
    }
    size_t free0 = 0, free1 = 0, total = 0;
    cudaMemGetInfo(&free0, &total);

    fault_totals t = {0};
    static const struct {
        fkm_fault_kind kind;
        fkm_status want;
        const char *text, *what;
    } KINDS[] = {{FKM_FAULT_CUDA_ALLOC, FKM_ERR_NO_MEMORY, "memory", "GPU and pinned allocations"},
                 {FKM_FAULT_CUDA_CALL, FKM_ERR_CUDA, "CUDA error", "copies, syncs, launches"},
                 {FKM_FAULT_HOST_ALLOC, FKM_ERR_NO_MEMORY, "memory", "host allocations"}};
    for (int k = 0; k < 3; k++) {
        printf("%s failed one at a time:\n", KINDS[k].what);
        for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
            fault_sweep(&t, CASES[i].name, KINDS[k].kind, run_gpu, &CASES[i], KINDS[k].want, KINDS[k].text, 1,
                        max_events);
    }
    cudaMemGetInfo(&free1, &total);
    CHECK(free1 + ((size_t)2 << 20) >= free0, "GPU memory free: %zu bytes before the sweeps, %zu after", free0, free1);
    printf("%d sweeps: %lld events failed one at a time, %lld gave a clear error, %lld were recovered from; "
           "GPU memory free %+lld bytes\n",
           t.sweeps, (long long)t.events, (long long)t.failed, (long long)t.tolerated,
           (long long)free1 - (long long)free0);
    free(X);
    free(W);
    free(C0);
    return check_report();
#endif
}
