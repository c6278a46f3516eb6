/* assign_lab.cu -- the assignment kernels as numbered variants, in the manner of llm.c's dev/cuda:
 * each variant is first checked against a float64 CPU reference on fresh random data, then
 * timed. A variant is a kernel of the library, forced by name through FKM_CU_KERNEL (the names
 * fkm_cuda_fit_info.kernel reports; docs/cuda.md), run through the public device API. A new
 * kernel becomes a variant here first, and moves into the default tables (src/cuda/assign/
 * tuning.cu) only when it wins.
 *
 * Build (after a CUDA build of the library, e.g. build-dev/):
 *   nvcc -O2 -std=c++17 -Iinclude -Itests dev/cuda/lab/assign_lab.cu tests/ref/ref.c -Lbuild-dev -lflashkmeans \
 *        -o assign_lab
 * Run:  ./assign_lab                 every variant at N=262144 K=1024 D=128 (fp16 data for the 16-bit
 *                                    variants, float32 for tf32 and simt)
 *       ./assign_lab V [N K D]       variant V only (its number in the list printed first)
 * For each variant: "skipped" when the kernel cannot run this shape here (the library ran another),
 * else the labels beyond the precision's near-tie margin (must be 0) and ms / TFLOP/s of the
 * assignment (median of 5 after a warm-up, CUDA events, FKM_CU_PROFILE=1's assignment timer). */
#include <flashkmeans_cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <cuda_runtime.h>
#include <vector>

extern "C" {
#include "ref/ref.h"
}

static const char *variants[] = {
    "simt-f32",
    "mma-f16-128x128-s4-xres", "mma-f16-128x128-s3", "mma-f16-128x256-s3-xres", "mma-f16-64x128-s4-xres",
    "mma-tf32-128x128-s4-xres", "mma-tf32-128x128-s3",
    "wgmma-f16-128x128-s4", "wgmma-f16-128x128-s8", "wgmma-f16-256x128-s4", "wgmma-f16-256x128-s6",
    "wgmma-f16-128x128-s4-g", "wgmma-f16-256x128-s4-g",
    "wgmma-bf16-128x128-s4-g", "wgmma-tf32-128x128-s4-g", "wgmma-tf32-256x128-s4-g",
    "wgmma-f16-res", "wgmma-bf16-res", "wgmma-tf32-res",
    "wgmma-f16-ps", "wgmma-bf16-ps", "wgmma-tf32-ps",
};
static const int nvariants = (int)(sizeof variants / sizeof *variants);

#define CK(x)                                                                                      \
    do {                                                                                           \
        cudaError_t e_ = (x);                                                                      \
        if (e_ != cudaSuccess) { fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); exit(2); } \
    } while (0)

static uint16_t to_half(float f) { /* round to nearest even; |f| well inside the normal range */
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000, m = x & 0x7fffff;
    const int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    if (e <= 0) return (uint16_t)sign;
    uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)h;
}
static float from_half(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    uint32_t bits = e ? sign | ((e + 112) << 23) | (m << 13) : sign;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

struct problem {
    int64_t n, k, d;
    std::vector<float> x32, c32;  /* the values the GPU sees, as float32 */
    std::vector<uint16_t> x16;
    std::vector<double> x64, c64;
    std::vector<int64_t> rows; /* the rows the float64 reference checks (an even sample) */
    std::vector<double> xs64;  /* their values */
};

/* The float64 reference costs n k d multiply-adds on one CPU core per variant (~30 s at the
 * default shape: the first GPU run of all 22 variants ran out of its 300 s); it checks an even
 * sample of LAB_CHECK_ROWS rows (default 16384; all rows when n is smaller). */
static void pick_rows(problem &p) {
    const int64_t want = getenv("LAB_CHECK_ROWS") ? atoll(getenv("LAB_CHECK_ROWS")) : 16384;
    const int64_t m = want <= 0 || want > p.n ? p.n : want;
    p.rows.resize((size_t)m), p.xs64.resize((size_t)(m * p.d));
    for (int64_t q = 0; q < m; q++) {
        p.rows[(size_t)q] = m == p.n ? q : (int64_t)((double)q * (double)p.n / (double)m);
        memcpy(&p.xs64[(size_t)(q * p.d)], &p.x64[(size_t)(p.rows[(size_t)q] * p.d)], (size_t)p.d * sizeof(double));
    }
}

/* Fresh random blobs every run (seeded from the clock unless LAB_SEED is set): never zeros. */
static void make(problem &p, uint64_t seed) {
    uint64_t s = seed;
    auto unif = [&s]() { s = s * 6364136223846793005ull + 1442695040888963407ull; return ((s >> 11) + 0.5) * 0x1p-53; };
    auto normal = [&]() { return std::sqrt(-2.0 * std::log(unif())) * std::cos(6.283185307179586 * unif()); };
    std::vector<double> ctr((size_t)(64 * p.d));
    for (auto &v : ctr) v = 3.0 * normal();
    p.x32.resize((size_t)(p.n * p.d)), p.x16.resize(p.x32.size()), p.x64.resize(p.x32.size());
    for (int64_t i = 0; i < p.n; i++) {
        const int64_t b = (int64_t)(unif() * 64) % 64;
        for (int64_t j = 0; j < p.d; j++) {
            const size_t q = (size_t)(i * p.d + j);
            p.x16[q] = to_half((float)(ctr[(size_t)(b * p.d + j)] + normal()));
            p.x32[q] = from_half(p.x16[q]); /* one set of values for every variant */
            p.x64[q] = p.x32[q];
        }
    }
    p.c32.resize((size_t)(p.k * p.d)), p.c64.resize(p.c32.size());
    for (int64_t c = 0; c < p.k; c++)
        for (int64_t j = 0; j < p.d; j++) {
            p.c32[(size_t)(c * p.d + j)] = p.x32[(size_t)(((c * 7919) % p.n) * p.d + j)] + (float)(0.01 * normal());
            p.c64[(size_t)(c * p.d + j)] = p.c32[(size_t)(c * p.d + j)];
        }
}

static fkm_precision prec_of(const char *name) {
    return strstr(name, "-f16") ? FKM_PREC_FP16 : strstr(name, "-bf16") ? FKM_PREC_BF16
           : strstr(name, "-tf32") ? FKM_PREC_TF32 : FKM_PREC_EXACT;
}
static double margin_of(fkm_precision p) { /* relative to |x|^2 + |c|^2, as tests/test_cuda.h */
    return p == FKM_PREC_TF32 ? 2e-3 : p == FKM_PREC_FP16 ? 1e-2 : p == FKM_PREC_BF16 ? 3e-2 : 1e-5;
}

/* One variant: a fit of ITERS Lloyd iterations from the problem's centroids with the kernel
 * forced; the kernel that ran, the final labels against the reference on the final centroids
 * (beyond the precision's near-tie margin: wrong), ms per assignment (median over 3 fits after a
 * warm-up fit; FKM_CU_PROFILE=1's per-iteration assignment events). */
enum { ITERS = 5 };
static void run_variant(int v, const problem &p, const void *dx16, const void *dx32, float *dc, int32_t *dl) {
    const char *name = variants[v];
    const fkm_precision prec = prec_of(name);
    setenv("FKM_CU_KERNEL", name, 1);
    setenv("FKM_CU_PROFILE", "1", 1);
    if (prec == FKM_PREC_EXACT) setenv("FKM_CU_CERT", "0", 1); /* the SIMT kernel, not the certified pass */
    else unsetenv("FKM_CU_CERT");
    fkm_params q;
    fkm_params_default(&q);
    q.k = p.k, q.init = FKM_INIT_ARRAY, q.init_centroids = NULL, q.max_iter = ITERS, q.stop = FKM_STOP_FIXED;
    q.precision = prec, q.device = FKM_DEVICE_CUDA;
    /* fp16 variants read the fp16 data; the others its float32 values (the same numbers), converted
     * on the GPU to their compute type */
    fkm_cuda_matrix m = {prec == FKM_PREC_FP16 ? dx16 : dx32, prec == FKM_PREC_FP16 ? FKM_F16 : FKM_F32, 1, p.n, p.d,
                         NULL};
    std::vector<double> ms;
    for (int rep = 0; rep < 4; rep++) {
        CK(cudaMemcpy(dc, p.c32.data(), p.c32.size() * 4, cudaMemcpyHostToDevice));
        fkm_cuda_fit_info info;
        memset(&info, 0, sizeof info);
        if (fkm_cuda_fit(&q, &m, dc, dl, NULL, NULL, &info, NULL, 0, NULL) != FKM_OK) {
            printf("%2d %-28s failed: %s\n", v, name, fkm_last_error());
            return;
        }
        const char *ran = info.kernel ? info.kernel : "?";
        if (strcmp(ran, name) != 0) {
            printf("%2d %-28s skipped: not valid for this shape here (the library ran %s)\n", v, name, ran);
            return;
        }
        if (rep > 0) ms.push_back(info.ms_assign / (info.iterations > 0 ? info.iterations : 1)); /* rep 0: warm-up */
    }
    const int64_t nc = (int64_t)p.rows.size(); /* rows checked */
    std::vector<int32_t> lab((size_t)p.n), want((size_t)nc);
    std::vector<float> c((size_t)(p.k * p.d));
    std::vector<double> c64(c.size()), best((size_t)nc);
    CK(cudaMemcpy(lab.data(), dl, lab.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < c.size(); i++) c64[i] = c[i];
    ref_assign(p.xs64.data(), nc, p.d, c64.data(), p.k, 0, want.data(), best.data(), NULL);
    int64_t bad = 0;
    for (int64_t q = 0; q < nc; q++) {
        const int32_t l = lab[(size_t)p.rows[(size_t)q]];
        if (l == want[(size_t)q]) continue;
        if (l < 0 || l >= p.k) { bad++; continue; }
        const double *xi = &p.xs64[(size_t)(q * p.d)], *cl = &c64[(size_t)((int64_t)l * p.d)];
        double xx = 0, cc = 0;
        for (int64_t j = 0; j < p.d; j++) xx += xi[j] * xi[j], cc += cl[j] * cl[j];
        if (ref_dist(xi, cl, p.d, 0) - best[(size_t)q] > margin_of(prec) * (xx + cc)) bad++;
    }
    std::sort(ms.begin(), ms.end());
    const double med = ms[ms.size() / 2], tf = 2.0 * p.n * p.k * p.d / (med * 1e-3) / 1e12;
    printf("%2d %-28s labels beyond the %s margin: %lld of %lld checked  assignment %.3f ms  %.0f TFLOP/s%s\n", v,
           name, fkm_precision_str(prec), (long long)bad, (long long)nc, med, tf, bad ? "  WRONG" : "");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per variant reaches the log even if a time limit stops the run */
    if (fkm_cuda_device_count() == 0) { fprintf(stderr, "assign_lab: no CUDA GPU\n"); return 77; }
    const int only = argc > 1 ? atoi(argv[1]) : -1;
    problem p;
    p.n = argc > 4 ? atoll(argv[2]) : 262144, p.k = argc > 4 ? atoll(argv[3]) : 1024, p.d = argc > 4 ? atoll(argv[4]) : 128;
    const uint64_t seed = getenv("LAB_SEED") ? strtoull(getenv("LAB_SEED"), NULL, 10) : (uint64_t)time(NULL);
    printf("assign_lab: N=%lld K=%lld D=%lld, data seed %llu; variants:\n", (long long)p.n, (long long)p.k,
           (long long)p.d, (unsigned long long)seed);
    for (int v = 0; v < nvariants; v++) printf("  %2d %s\n", v, variants[v]);
    make(p, seed);
    pick_rows(p);
    void *dx16 = NULL, *dx32 = NULL;
    float *dc = NULL;
    int32_t *dl = NULL;
    CK(cudaMalloc(&dx16, p.x16.size() * 2));
    CK(cudaMalloc(&dx32, p.x32.size() * 4));
    CK(cudaMalloc((void **)&dc, p.c32.size() * 4));
    CK(cudaMalloc((void **)&dl, (size_t)p.n * 4));
    CK(cudaMemcpy(dx16, p.x16.data(), p.x16.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dx32, p.x32.data(), p.x32.size() * 4, cudaMemcpyHostToDevice));
    for (int v = 0; v < nvariants; v++)
        if (only < 0 || v == only) run_variant(v, p, dx16, dx32, dc, dl);
    cudaFree(dx16), cudaFree(dx32), cudaFree(dc), cudaFree(dl);
    return 0;
}
