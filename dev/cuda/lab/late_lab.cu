/* late_lab.cu -- where should the exact score of a point's own centroid be computed? A lab for the
 * certified mode's "late scores" (dev/cuda/NOTES.md, session 14).
 *
 * The certified fp32 mode needs, for every point, the SIMT kernel's score against its label's
 * centroid: one FMA chain of length d over the float32 row, in feature order from 0. Today a
 * separate pass (the exact step, cert.cu) reads every row for it, and the update's sums kernel
 * reads every row again. Session 14 put the chain into the sums kernel (8 of 32 lanes, one chain
 * per group of 8 loaded rows) and lost 0.39 ms at N = 4M, D = 64 on an H100: the chain sat between
 * one load group and the next. The variants here, on the sums kernel's access pattern (a warp per
 * chunk of P = 256 label-sorted points, lanes = 4 features each, U rows in flight), each checked
 * bit for bit against the CPU (the sums in their order, the chains as fmaf in feature order):
 *
 *   0 sums           the sums alone (the update's read of the data)
 *   1 exact step     the chain alone, a warp per 32 consecutive rows staged through shared memory
 *                    (what cert.cu's k_cert_resolve does); 0 + 1 is today's cost
 *   2 sums+chain8    session 14's kernel: after each group of U = 8 rows, lanes 0..7 run their chains
 *   3 sums+chain32   rows staged four groups at a time, then all 32 lanes run a chain each
 *   4 sums+chain32p  as 3, with the next group's loads issued before the chain phase
 *
 * Build: nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a dev/cuda/lab/late_lab.cu -o late_lab
 * Run:   ./late_lab [N [K [D]]]       (default N = 4194304, K = 256, D = 64; D a multiple of 4, <= 128)
 * Prints per variant: mismatches (must be 0) and ms (median of 5 after a warm-up, CUDA events). */
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); exit(2); } \
    } while (0)

enum { P = 256, U = 8, WARPS = 8 };

struct lab_args {
    const float *x, *c, *cterm; /* n x dp rows, k x dp centroids, k terms */
    const uint32_t *keys;       /* sorted labels */
    const int32_t *perm;        /* row of each sorted position */
    const int32_t *label;       /* label of each row (the exact step's input) */
    int64_t n, dp, nchunks;
    float *sums;                /* nchunks x dp: each chunk's sum of its rows, in position order */
    float *score;               /* n: fma(-2, chain, cterm[label]) */
};

/* The chain: FMAs over the features in order from 0, then fma(-2, acc, t_c). */
__device__ __forceinline__ float chain(const float4 *xr, const float4 *cr, int n4, float t) {
    float acc = 0.0f;
#pragma unroll 4
    for (int f = 0; f < n4; f++) {
        const float4 xv = xr[f], cv = __ldg(cr + f);
        acc = fmaf(xv.x, cv.x, acc);
        acc = fmaf(xv.y, cv.y, acc);
        acc = fmaf(xv.z, cv.z, acc);
        acc = fmaf(xv.w, cv.w, acc);
    }
    return fmaf(-2.0f, acc, t);
}

/* MODE 0: sums; 2: + chains of 8 rows per group; 3: + chains of 32 staged rows; 4: 3 with the next
 * group's loads issued before the chain phase. */
template <int MODE>
__global__ void __launch_bounds__(WARPS * 32, 3) k_sums(const lab_args a) {
    constexpr int SROWS = MODE == 2 ? U : MODE >= 3 ? 32 : 1;
    extern __shared__ float4 dyn[]; /* WARPS x SROWS staged rows of PITCH float4 */
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    const int PITCH = (int)(a.dp >> 2) + 1; /* odd: the chain lanes' 16-byte reads hit different banks */
    const int64_t chunk = (int64_t)blockIdx.x * WARPS + w;
    if (chunk >= a.nchunks) return;
    const int64_t cs = chunk * P, ce = min(cs + P, a.n);
    const int n4 = (int)(a.dp >> 2);
    const bool mine = lane < n4; /* lanes past the row's last float4 load nothing */
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    float4 *st = dyn + (size_t)w * SROWS * PITCH;
    float4 v[U], vn[U];
    auto load = [&](int64_t g0, float4 (&dst)[U]) {
        const int32_t iq = g0 + lane < ce ? a.perm[g0 + lane] : 0;
#pragma unroll
        for (int u = 0; u < U; u++) {
            const int32_t i = __shfl_sync(0xffffffffu, iq, u);
            dst[u] = mine && g0 + u < ce ? __ldg(reinterpret_cast<const float4 *>(a.x + (int64_t)i * a.dp) + lane)
                                         : make_float4(0.f, 0.f, 0.f, 0.f);
        }
    };
    auto run_chain = [&](int64_t p0, int rows) { /* lane r < rows: staged row r, sorted position p0 + r */
        __syncwarp();
        if (lane < rows && p0 + lane < ce) {
            const uint32_t key = a.keys[p0 + lane];
            const int32_t i = a.perm[p0 + lane];
            a.score[i] = chain(st + lane * PITCH, reinterpret_cast<const float4 *>(a.c + (int64_t)key * a.dp), n4,
                               a.cterm[key]);
        }
        __syncwarp();
    };
    int64_t g0 = cs;
    load(g0, v);
    for (int grp = 0; g0 < ce; grp++) {
        if (MODE == 4 && g0 + U < ce) load(g0 + U, vn); /* the next group's loads go out first */
#pragma unroll
        for (int u = 0; u < U; u++) {
            acc.x += v[u].x, acc.y += v[u].y, acc.z += v[u].z, acc.w += v[u].w;
            if (MODE >= 2) st[((MODE == 2 ? 0 : (grp & 3) * U) + u) * PITCH + lane] = v[u];
        }
        if (MODE == 2) run_chain(g0, U);
        if (MODE >= 3 && ((grp & 3) == 3 || g0 + U >= ce)) run_chain(g0 + U - 32 + (3 - (grp & 3)) * U, 32);
        g0 += U;
        if (MODE == 4) {
#pragma unroll
            for (int u = 0; u < U; u++) v[u] = vn[u];
        } else if (g0 < ce) {
            load(g0, v);
        }
    }
    if (mine) reinterpret_cast<float4 *>(a.sums + chunk * a.dp)[lane] = acc;
}

/* The exact step: a warp per 32 consecutive rows, staged through shared memory, each lane one
 * row's chain against its label's centroid. */
__global__ void __launch_bounds__(WARPS * 32) k_exact(const lab_args a) {
    extern __shared__ float4 dyn[];
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, PITCH = (int)(a.dp >> 2) + 1;
    const int64_t r0 = ((int64_t)blockIdx.x * WARPS + w) * 32;
    if (r0 >= a.n) return;
    const int n4 = (int)(a.dp >> 2), rows = (int)min((int64_t)32, a.n - r0);
    float4 *st = dyn + (size_t)w * 32 * PITCH;
    for (int r = 0; r < rows; r++)
        if (lane < n4) st[r * PITCH + lane] = __ldg(reinterpret_cast<const float4 *>(a.x + (r0 + r) * a.dp) + lane);
    __syncwarp();
    if (lane < rows) {
        const int32_t key = a.label[r0 + lane];
        a.score[r0 + lane] = chain(st + lane * PITCH, reinterpret_cast<const float4 *>(a.c + (int64_t)key * a.dp), n4,
                                   a.cterm[key]);
    }
}

static float host_chain(const float *x, const float *c, int64_t dp, float t) {
    float acc = 0.0f;
    for (int64_t f = 0; f < dp; f++) acc = fmaf(x[f], c[f], acc);
    return fmaf(-2.0f, acc, t);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const int64_t n = argc > 1 ? atoll(argv[1]) : 4194304, k = argc > 2 ? atoll(argv[2]) : 256,
                  dp = argc > 3 ? atoll(argv[3]) : 64;
    if (dp % 4 || dp > 128 || n < 1 || k < 1) { fprintf(stderr, "late_lab: D a multiple of 4 up to 128\n"); return 2; }
    const uint64_t seed = getenv("LAB_SEED") ? strtoull(getenv("LAB_SEED"), NULL, 10) : (uint64_t)time(NULL);
    printf("late_lab: N=%lld K=%lld D=%lld, data seed %llu\n", (long long)n, (long long)k, (long long)dp,
           (unsigned long long)seed);
    /* fresh random rows and centroids (never zeros), random labels, sorted by a stable counting sort */
    uint64_t s = seed;
    auto unif = [&s]() { s = s * 6364136223846793005ull + 1442695040888963407ull; return ((s >> 11) + 0.5) * 0x1p-53; };
    std::vector<float> x((size_t)(n * dp)), c((size_t)(k * dp)), ct((size_t)k);
    for (auto &v : x) v = (float)(4.0 * unif() - 2.0);
    for (auto &v : c) v = (float)(4.0 * unif() - 2.0);
    for (int64_t j = 0; j < k; j++) {
        double t = 0;
        for (int64_t f = 0; f < dp; f++) t += (double)c[(size_t)(j * dp + f)] * c[(size_t)(j * dp + f)];
        ct[(size_t)j] = (float)t;
    }
    std::vector<int32_t> label((size_t)n), perm((size_t)n), start((size_t)k + 1, 0);
    std::vector<uint32_t> keys((size_t)n);
    for (auto &l : label) l = (int32_t)(unif() * (double)k) % (int32_t)k;
    for (int64_t i = 0; i < n; i++) start[(size_t)label[(size_t)i] + 1]++;
    for (int64_t j = 0; j < k; j++) start[(size_t)j + 1] += start[(size_t)j];
    for (int64_t i = 0; i < n; i++) {
        const int32_t p = start[(size_t)label[(size_t)i]]++;
        perm[(size_t)p] = (int32_t)i, keys[(size_t)p] = (uint32_t)label[(size_t)i];
    }
    const int64_t nchunks = (n + P - 1) / P;
    /* the CPU's answers: each chunk's sums in position order, every row's chain */
    std::vector<float> want_sums((size_t)(nchunks * dp), 0.0f), want_score((size_t)n);
    for (int64_t q = 0; q < nchunks; q++)
        for (int64_t p = q * P; p < std::min((q + 1) * P, n); p++)
            for (int64_t f = 0; f < dp; f++)
                want_sums[(size_t)(q * dp + f)] += x[(size_t)((int64_t)perm[(size_t)p] * dp + f)];
    for (int64_t i = 0; i < n; i++)
        want_score[(size_t)i] = host_chain(&x[(size_t)(i * dp)], &c[(size_t)((int64_t)label[(size_t)i] * dp)], dp,
                                           ct[(size_t)label[(size_t)i]]);
    lab_args a = {};
    float *dx, *dc, *dct, *dsums, *dscore;
    uint32_t *dkeys;
    int32_t *dperm, *dlabel;
    CK(cudaMalloc(&dx, x.size() * 4)); CK(cudaMalloc(&dc, c.size() * 4)); CK(cudaMalloc(&dct, ct.size() * 4));
    CK(cudaMalloc(&dsums, want_sums.size() * 4)); CK(cudaMalloc(&dscore, (size_t)n * 4));
    CK(cudaMalloc(&dkeys, (size_t)n * 4)); CK(cudaMalloc(&dperm, (size_t)n * 4)); CK(cudaMalloc(&dlabel, (size_t)n * 4));
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dc, c.data(), c.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dct, ct.data(), ct.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dkeys, keys.data(), (size_t)n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dperm, perm.data(), (size_t)n * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dlabel, label.data(), (size_t)n * 4, cudaMemcpyHostToDevice));
    a.x = dx, a.c = dc, a.cterm = dct, a.keys = dkeys, a.perm = dperm, a.label = dlabel;
    a.n = n, a.dp = dp, a.nchunks = nchunks, a.sums = dsums, a.score = dscore;
    const char *names[] = {"sums", "exact step", "sums+chain8", "sums+chain32", "sums+chain32p"};
    const int most = (int)(WARPS * 32 * (size_t)(128 / 4 + 1) * sizeof(float4)); /* D <= 128 */
    CK(cudaFuncSetAttribute(k_exact, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    CK(cudaFuncSetAttribute(k_sums<3>, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    CK(cudaFuncSetAttribute(k_sums<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    std::vector<float> got_sums(want_sums.size()), got_score((size_t)n);
    for (int v = 0; v < 5; v++) {
        const size_t row = (size_t)(dp / 4 + 1) * sizeof(float4), big = WARPS * 32 * row, small = WARPS * U * row;
        auto launch = [&]() {
            const unsigned sb = (unsigned)((nchunks + WARPS - 1) / WARPS), eb = (unsigned)(((n + 31) / 32 + WARPS - 1) / WARPS);
            if (v == 0) k_sums<0><<<sb, WARPS * 32, WARPS * row>>>(a);
            else if (v == 1) k_exact<<<eb, WARPS * 32, big>>>(a);
            else if (v == 2) k_sums<2><<<sb, WARPS * 32, small>>>(a);
            else if (v == 3) k_sums<3><<<sb, WARPS * 32, big>>>(a);
            else k_sums<4><<<sb, WARPS * 32, big>>>(a);
            CK(cudaGetLastError());
        };
        CK(cudaMemset(dsums, 0xff, want_sums.size() * 4)); CK(cudaMemset(dscore, 0xff, (size_t)n * 4));
        launch();
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(got_sums.data(), dsums, got_sums.size() * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(got_score.data(), dscore, (size_t)n * 4, cudaMemcpyDeviceToHost));
        int64_t bad_sums = 0, bad_score = 0;
        if (v != 1)
            for (size_t q = 0; q < want_sums.size(); q++) bad_sums += memcmp(&got_sums[q], &want_sums[q], 4) != 0;
        if (v != 0)
            for (int64_t i = 0; i < n; i++) bad_score += memcmp(&got_score[(size_t)i], &want_score[(size_t)i], 4) != 0;
        std::vector<float> ms;
        for (int r = 0; r < 6; r++) {
            CK(cudaEventRecord(e0));
            launch();
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t = 0;
            CK(cudaEventElapsedTime(&t, e0, e1));
            if (r > 0) ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        printf("%d %-14s sums differing %lld of %lld, scores differing %lld of %lld  %.3f ms%s\n", v, names[v],
               (long long)bad_sums, v != 1 ? (long long)want_sums.size() : 0LL, (long long)bad_score,
               v != 0 ? (long long)n : 0LL, ms[ms.size() / 2], bad_sums || bad_score ? "  WRONG" : "");
    }
    cudaFree(dx), cudaFree(dc), cudaFree(dct), cudaFree(dsums), cudaFree(dscore), cudaFree(dkeys), cudaFree(dperm),
        cudaFree(dlabel);
    return 0;
}
