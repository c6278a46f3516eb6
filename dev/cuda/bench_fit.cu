/* bench_fit.cu -- ms per Lloyd iteration through the device-pointer API, for the rows of
 * docs/targets.md (or one case from the command line). Random normal data made on
 * the GPU (never zeros), random initial centroids, fixed iterations, warm-up, median of reps.
 * With FKM_CU_PROFILE=1 (set here) the assignment kernel is timed too: TFLOP/s = 2BNKD / time.
 *
 * Build (after the library, e.g. build-cuda/libflashkmeans.a):
 *   nvcc -O2 -std=c++17 -Iinclude dev/cuda/bench_fit.cu build-cuda/libflashkmeans.a -lgomp -o bench_fit
 * Run:  ./bench_fit                  all rows, one JSON object per line, table on stderr
 *       ./bench_fit B N K D dtype prec iters     (dtype f16|bf16|f32, prec fp16|bf16|tf32|exact) */
#include <flashkmeans_cuda.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <vector>

#define CK(x)                                                                                  \
    do {                                                                                       \
        cudaError_t e_ = (x);                                                                  \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); return 1; } \
    } while (0)

__device__ float hash_normal(uint64_t i, uint64_t seed) {
    uint64_t z = i * 0x9E3779B97F4A7C15ull + seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u1 = ((z >> 40) + 0.5f) * (1.0f / 16777216.0f), u2 = ((z & 0xffffff) + 0.5f) * (1.0f / 16777216.0f);
    return sqrtf(-2.0f * logf(u1)) * cospif(2.0f * u2);
}

__global__ void fill(void *p, int t, uint64_t n, uint64_t seed) {
    for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < n; i += (uint64_t)gridDim.x * blockDim.x) {
        const float v = hash_normal(i, seed);
        if (t == FKM_F16) ((__half *)p)[i] = __float2half(v);
        else if (t == FKM_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
        else ((float *)p)[i] = v;
    }
}

struct Case {
    long long b, n, k, d;
    fkm_dtype t;
    fkm_precision prec;
    int iters;
    const char *name;
};

static const char *pstr(fkm_precision p) { return fkm_precision_str(p); }

static int run_case(const Case &c, int reps) {
    const size_t es = fkm_dtype_size(c.t), nd = (size_t)(c.b * c.n * c.d);
    void *x = NULL, *cent = NULL, *lab = NULL, *ws = NULL;
    if (cudaMalloc(&x, nd * es) != cudaSuccess) {
        printf("{\"case\":\"%s\",\"error\":\"out of memory for the data\"}\n", c.name);
        (void)cudaGetLastError();
        return 0;
    }
    CK(cudaMalloc(&cent, (size_t)(c.b * c.k * c.d) * 4));
    CK(cudaMalloc(&lab, (size_t)(c.b * c.n) * 4));
    fill<<<4096, 256>>>(x, c.t, nd, 12345);
    CK(cudaGetLastError());
    fkm_params p;
    fkm_params_default(&p);
    p.k = c.k; p.max_iter = c.iters; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_RANDOM; p.precision = c.prec;
    fkm_cuda_matrix m = {x, c.t, c.b, c.n, c.d, NULL};
    size_t wsb = 0;
    if (fkm_cuda_fit_workspace_size(&p, &m, &wsb) != FKM_OK) { printf("{\"case\":\"%s\",\"error\":\"%s\"}\n", c.name, fkm_last_error()); return 0; }
    if (cudaMalloc(&ws, wsb) != cudaSuccess) {
        printf("{\"case\":\"%s\",\"error\":\"out of memory for the workspace (%zu bytes)\"}\n", c.name, wsb);
        (void)cudaGetLastError();
        cudaFree(x); cudaFree(cent); cudaFree(lab);
        return 0;
    }
    fkm_cuda_fit_info info;
    memset(&info, 0, sizeof info);
    fkm_params w = p;
    w.max_iter = 2;
    if (fkm_cuda_fit(&w, &m, (float *)cent, (int32_t *)lab, NULL, NULL, &info, ws, wsb, NULL) != FKM_OK) {
        printf("{\"case\":\"%s\",\"error\":\"%s\"}\n", c.name, fkm_last_error());
        return 0;
    }
    std::vector<double> it_ms, as_ms, tot_ms, inertia(c.b), stage(7, 0.0);
    for (int r = 0; r < reps; r++) {
        if (fkm_cuda_fit(&p, &m, (float *)cent, (int32_t *)lab, NULL, inertia.data(), &info, ws, wsb, NULL) != FKM_OK) {
            printf("{\"case\":\"%s\",\"error\":\"%s\"}\n", c.name, fkm_last_error());
            return 0;
        }
        it_ms.push_back(info.ms_iterations / info.iterations);
        as_ms.push_back(info.ms_assign / info.iterations);
        tot_ms.push_back(info.ms_total);
        for (int g = 0; g < 7; g++) stage[g] += info.ms_stage[g] / info.iterations / reps;
    }
    std::sort(it_ms.begin(), it_ms.end());
    std::sort(as_ms.begin(), as_ms.end());
    std::sort(tot_ms.begin(), tot_ms.end());
    const double ms = it_ms[reps / 2], ams = as_ms[reps / 2];
    const double flop = 2.0 * c.b * c.n * c.k * c.d;
    printf("{\"case\":\"%s\",\"b\":%lld,\"n\":%lld,\"k\":%lld,\"d\":%lld,\"dtype\":\"%s\",\"precision\":\"%s\","
           "\"kernel\":\"%s\",\"iters\":%d,\"reps\":%d,\"ms_per_iter\":%.4f,\"ms_per_iter_min\":%.4f,"
           "\"ms_per_iter_max\":%.4f,\"ms_assign\":%.4f,\"assign_tflops\":%.1f,\"ms_setup_and_final\":%.3f,"
           "\"inertia0\":%.6g,\"rescored_frac\":%.6f,\"ms_stages\":[%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f]}\n",
           c.name, c.b, c.n, c.k, c.d, c.t == FKM_F16 ? "f16" : c.t == FKM_BF16 ? "bf16" : "f32", pstr(c.prec),
           info.kernel, c.iters, reps, ms, it_ms.front(), it_ms.back(), ams, ams > 0 ? flop / ams / 1e9 : 0.0,
           tot_ms[reps / 2] - ms * c.iters, inertia[0],
           info.iterations ? (double)info.rescored / info.iterations / (double)(c.b * c.n) : 0.0, stage[0], stage[1], stage[2], stage[3], stage[4], stage[5],
           stage[6]);
    fflush(stdout);
    fprintf(stderr, "%-34s %-26s %9.3f ms/iter  assign %8.3f ms (%6.1f TFLOP/s)  update+rest %7.3f ms\n", c.name,
            info.kernel, ms, ams, ams > 0 ? flop / ams / 1e9 : 0.0, ms - ams);
    if (stage[1] > 0)
        fprintf(stderr, "    stages ms: setup %.4f assign %.4f empty %.4f sort %.4f sums %.4f centroids %.4f stop %.4f\n",
                stage[0], stage[1], stage[2], stage[3], stage[4], stage[5], stage[6]);
    cudaFree(x); cudaFree(cent); cudaFree(lab); cudaFree(ws);
    return 0;
}

int main(int argc, char **argv) {
    setenv("FKM_CU_PROFILE", "1", 0);
    std::vector<Case> cases;
    if (argc >= 8) {
        Case c;
        c.b = atoll(argv[1]); c.n = atoll(argv[2]); c.k = atoll(argv[3]); c.d = atoll(argv[4]);
        c.t = !strcmp(argv[5], "f16") ? FKM_F16 : !strcmp(argv[5], "bf16") ? FKM_BF16 : FKM_F32;
        c.prec = !strcmp(argv[6], "fp16") ? FKM_PREC_FP16 : !strcmp(argv[6], "bf16") ? FKM_PREC_BF16
                 : !strcmp(argv[6], "tf32") ? FKM_PREC_TF32 : FKM_PREC_EXACT;
        c.iters = atoi(argv[7]);
        c.name = "custom";
        cases.push_back(c);
    } else {
        cases = {
            {32, 65536, 1024, 128, FKM_F16, FKM_PREC_FP16, 20, "B=32 N=65536 K=1024 D=128 fp16"},
            {1, 8388608, 1024, 128, FKM_F16, FKM_PREC_FP16, 10, "B=1 N=8M K=1024 D=128 fp16"},
            {1, 1048576, 1024, 128, FKM_F16, FKM_PREC_FP16, 20, "B=1 N=1M K=1024 D=128 fp16"},
            {1, 1048576, 65536, 128, FKM_F16, FKM_PREC_FP16, 5, "B=1 N=1M K=65536 D=128 fp16"},
            {1, 1048576, 1024, 128, FKM_F32, FKM_PREC_TF32, 20, "B=1 N=1M K=1024 D=128 fp32 tf32"},
            {1, 1048576, 1024, 512, FKM_F16, FKM_PREC_FP16, 10, "B=1 N=1M K=1024 D=512 fp16"},
            {1, 4194304, 256, 64, FKM_F32, FKM_PREC_TF32, 20, "B=1 N=4M K=256 D=64 fp32 tf32"},
            {8, 16384, 100, 128, FKM_F16, FKM_PREC_FP16, 50, "B=8 N=16384 K=100 D=128 fp16"},
            {1, 1048576, 1024, 128, FKM_F32, FKM_PREC_EXACT, 20, "B=1 N=1M K=1024 D=128 fp32 exact"},
            {1, 4194304, 256, 64, FKM_F32, FKM_PREC_EXACT, 20, "B=1 N=4M K=256 D=64 fp32 exact"},
        };
    }
    int dev = 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    fprintf(stderr, "device: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    const int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 3;
    for (const Case &c : cases)
        if (run_case(c, reps)) return 1;
    return 0;
}
