/* gather_probe.cu -- how fast can a warp-per-row gather read rows of X in a permuted order?
 *
 * The update's sums (src/cuda/iteration/update.cu, k_chunks) read every row of X once, in the order of the
 * points sorted by cluster: effectively a random permutation of the rows over the whole array
 * (N = 8M fp16 D = 128: 2 GB at 2.1 TB/s against a 3.0 TB/s copy). This probe times the same
 * access pattern (one warp per chunk of 256 positions, 8 rows in flight, 256-byte rows summed
 * into registers) for three orders of the same rows:
 *   seq     rows in index order
 *   random  one random permutation of all rows (today's order)
 *   window  random within windows of W rows, windows in order (what a sort by (point range,
 *           cluster) would give: the warps running at one time touch one window)
 *   sorted  the order the sums really see: random labels in [0, K), row indices stably sorted by
 *           label (each cluster's rows ascending, about K rows apart)
 * Build: nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a dev/cuda/lab/gather_probe.cu -o gather_probe
 * Run:   ./gather_probe [rows=8388608] [row_bytes=256] [window_rows=262144] [k=1024] */
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <random>
#include <vector>

#define CK(x)                                                                                          \
    do {                                                                                               \
        cudaError_t e_ = (x);                                                                          \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e_)); return 1; } \
    } while (0)

/* one warp per 256 positions; lane l reads 8 bytes (4 halves) of each row; 8 rows in flight */
__global__ void gather(const char *x, const int32_t *perm, int64_t n, int row_bytes, float *out) {
    const int64_t chunk = (int64_t)blockIdx.x * 8 + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    const int64_t p0 = chunk * 256;
    if (p0 >= n) return;
    float acc = 0.f;
    for (int64_t p = p0; p < p0 + 256 && p < n; p += 8) {
        uint2 v[8];
#pragma unroll
        for (int u = 0; u < 8; u++) {
            const int64_t i = perm[p + u];
            v[u] = *reinterpret_cast<const uint2 *>(x + i * row_bytes + lane * 8);
        }
#pragma unroll
        for (int u = 0; u < 8; u++) acc += __uint_as_float(v[u].x) + __uint_as_float(v[u].y);
    }
    if (acc == 12345.f) out[0] = acc; /* keep the loads */
}

int main(int argc, char **argv) {
    const int64_t n = argc > 1 ? atoll(argv[1]) : 8388608;
    const int rb = argc > 2 ? atoi(argv[2]) : 256;
    const int64_t w = argc > 3 ? atoll(argv[3]) : 262144;
    const int k = argc > 4 ? atoi(argv[4]) : 1024;
    char *x;
    int32_t *perm;
    float *out;
    CK(cudaMalloc(&x, (size_t)n * rb));
    CK(cudaMalloc(&perm, (size_t)n * 4));
    CK(cudaMalloc(&out, 4));
    CK(cudaMemset(x, 1, (size_t)n * rb));
    std::vector<int32_t> h(n);
    std::mt19937_64 g(42);
    const char *names[4] = {"seq", "random", "window", "sorted"};
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int mode = 0; mode < 4; mode++) {
        for (int64_t i = 0; i < n; i++) h[i] = (int32_t)i;
        if (mode == 1) std::shuffle(h.begin(), h.end(), g);
        if (mode == 2)
            for (int64_t s = 0; s < n; s += w) std::shuffle(h.begin() + s, h.begin() + std::min(n, s + w), g);
        if (mode == 3) {
            std::vector<int32_t> lab(n);
            for (int64_t i = 0; i < n; i++) lab[i] = (int32_t)(g() % (uint64_t)k);
            std::stable_sort(h.begin(), h.end(), [&](int32_t a, int32_t b) { return lab[a] < lab[b]; });
        }
        CK(cudaMemcpy(perm, h.data(), (size_t)n * 4, cudaMemcpyHostToDevice));
        const unsigned blocks = (unsigned)((n / 256 + 7) / 8);
        float best = 1e30f;
        for (int rep = 0; rep < 6; rep++) {
            CK(cudaEventRecord(e0));
            gather<<<blocks, 256>>>(x, perm, n, rb, out);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float ms;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            if (rep > 0 && ms < best) best = ms;
        }
        CK(cudaGetLastError());
        printf("%-7s rows %lld x %d B (window %lld rows): %.3f ms, %.2f TB/s\n", names[mode], (long long)n, rb,
               (long long)w, best, (double)n * rb / best / 1e9);
    }
    return 0;
}
