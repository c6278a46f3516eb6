/* hostcopy.cu -- host data to the GPU at the link's speed, whatever memory it is in.
 *
 * Page-locked memory (a pinned torch CPU tensor, cudaHostRegister'd arrays) is one asynchronous
 * copy. Pageable memory (numpy arrays, ordinary torch CPU tensors) is where the driver's own path
 * is slow: it stages through small pinned buffers on one thread, so 8 GB took seconds. Here it
 * goes through two pinned buffers of 32 MB that the caller's CPU threads fill (fkm_par_memcpy)
 * while the copy engine sends the other one: the memory copy and the transfer overlap, and the
 * caller's array is never page-locked (that alone costs about a second per 8 GB). Small copies,
 * and any failure to get the pinned buffers, take the driver's path. */
#include "hostcopy.cuh"
#include "../threads.h"

namespace {
const size_t STAGE_BYTES = (size_t)32 << 20, STAGED_MIN = (size_t)256 << 20;

int is_pinned(const void *p) {
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* older drivers: an unknown host pointer is an error */
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

struct stage_pair {
    char *buf[2] = {nullptr, nullptr};
    cudaEvent_t sent[2] = {nullptr, nullptr};
    ~stage_pair() {
        for (int i = 0; i < 2; i++) {
            if (sent[i]) (void)cudaEventSynchronize(sent[i]), (void)cudaEventDestroy(sent[i]);
            if (buf[i]) (void)cudaFreeHost(buf[i]);
        }
    }
    bool open() {
        for (int i = 0; i < 2; i++)
            if (cudaMallocHost((void **)&buf[i], STAGE_BYTES) != cudaSuccess ||
                cudaEventCreateWithFlags(&sent[i], cudaEventDisableTiming) != cudaSuccess) {
                (void)cudaGetLastError();
                return false;
            }
        return true;
    }
};
} // namespace

extern "C" fkm_status fkm_cu_copy_from_host(void *dst, const void *src, size_t bytes, cudaStream_t s, int threads,
                                           int staged) {
    staged = staged && bytes >= STAGED_MIN && !is_pinned(src);
    stage_pair st;
    if (!staged || !st.open()) {
        CU_RET(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
        return FKM_OK;
    }
    for (size_t off = 0, i = 0; off < bytes; off += STAGE_BYTES, i ^= 1) {
        const size_t len = bytes - off < STAGE_BYTES ? bytes - off : STAGE_BYTES;
        CU_RET(cudaEventSynchronize(st.sent[i])); /* the transfer from this buffer two chunks ago */
        fkm_par_memcpy(st.buf[i], (const char *)src + off, len, threads);
        CU_RET(cudaMemcpyAsync((char *)dst + off, st.buf[i], len, cudaMemcpyHostToDevice, s));
        CU_RET(cudaEventRecord(st.sent[i], s));
    }
    CU_RET(cudaStreamSynchronize(s)); /* the buffers are freed on return */
    return FKM_OK;
}
