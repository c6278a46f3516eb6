/* graph_probe.cu -- which call fails when a Lloyd-like sequence is captured into a CUDA graph?
 * Build: nvcc -O2 -std=c++17 dev/cuda/graph_probe.cu -o graph_probe; run on a GPU. */
#include <cstdio>
#include <cuda_runtime.h>
__global__ void k_small(int *p, int n) { int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) p[i] += 1; }
struct Big { const char *a; long long b[20]; int *p; };
__global__ void k_big(const Big a) { if (threadIdx.x == 0 && blockIdx.x == 0) a.p[0] += (int)a.b[3]; }
typedef void (*fn)(const Big);
static const fn table[2] = {k_big, k_big};
#define T(x) do { cudaError_t e_ = (x); printf("%-60s %s\n", #x, cudaGetErrorString(e_)); } while (0)
int main() {
  int *d = nullptr, *h = nullptr; cudaEvent_t ev0, ev1; cudaStream_t s; cudaGraph_t g = nullptr; cudaGraphExec_t ge = nullptr;
  T(cudaMalloc(&d, 4096)); T(cudaMallocHost(&h, 4096)); T(cudaEventCreate(&ev0)); T(cudaEventCreate(&ev1));
  T(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  for (int mode = 0; mode < 3; mode++) {
    printf("-- mode %d\n", mode);
    T(cudaStreamBeginCapture(s, mode == 0 ? cudaStreamCaptureModeThreadLocal : mode == 1 ? cudaStreamCaptureModeGlobal : cudaStreamCaptureModeRelaxed));
    T(cudaEventRecordWithFlags(ev0, s, cudaEventRecordExternal));
    k_small<<<4, 256, 0, s>>>(d, 1024); T(cudaGetLastError());
    T(cudaMemsetAsync(d, 0, 64, s));
    Big b = {}; b.p = d; b.b[3] = 2;
    table[0]<<<1, 32, 0, s>>>(b); T(cudaGetLastError());
    T(cudaFuncSetAttribute(k_big, cudaFuncAttributeMaxDynamicSharedMemorySize, 100000));
    table[1]<<<1, 32, 100000, s>>>(b); T(cudaGetLastError());
    T(cudaMemcpyAsync(h, d, 64, cudaMemcpyDeviceToHost, s));
    T(cudaEventRecordWithFlags(ev1, s, cudaEventRecordExternal));
    T(cudaStreamEndCapture(s, &g));
    T(cudaGraphInstantiate(&ge, g, 0));
    T(cudaGraphLaunch(ge, s)); T(cudaStreamSynchronize(s));
    float ms = -1; T(cudaEventElapsedTime(&ms, ev0, ev1)); printf("elapsed %f, h[0] %d\n", ms, h[0]);
    if (ge) cudaGraphExecDestroy(ge); if (g) cudaGraphDestroy(g); ge = nullptr; g = nullptr;
  }
  printf("-- plain cudaEventRecord in capture\n");
  T(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  T(cudaEventRecord(ev0, s));
  k_small<<<4, 256, 0, s>>>(d, 1024); T(cudaGetLastError());
  T(cudaEventRecord(ev1, s));
  T(cudaStreamEndCapture(s, &g));
  T(cudaGraphInstantiate(&ge, g, 0));
  T(cudaGraphLaunch(ge, s)); T(cudaStreamSynchronize(s));
  float ms = -1; T(cudaEventElapsedTime(&ms, ev0, ev1)); printf("elapsed %f\n", ms);
  return 0;
}
