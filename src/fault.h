/* fault.h -- failure injection for the tests (tests/test_faults.c, tests/test_cuda_faults.c).
 * Not installed, not exported from the shared library (hidden visibility): only a program linked
 * with the static library and this internal header can arm it, so no user reaches it by accident.
 *
 * The library counts the events of each kind at their sites (host allocations in fkm_alloc and
 * the few direct allocations; cudaMalloc/cudaMallocHost/cudaHostRegister and selected CUDA calls
 * through the macros at the end of src/cuda/cu_common.cuh) only while the kind is armed; disarmed,
 * a site costs one relaxed atomic load. The counters are process-wide: a test arms one kind, runs
 * one call on one thread (threads = 1 where the order of the events must be the same every run),
 * then disarms. */
#ifndef FKM_FAULT_H
#define FKM_FAULT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FKM_FAULT_HOST_ALLOC = 0, /* malloc, calloc, posix_memalign, strdup of the library */
    FKM_FAULT_CUDA_ALLOC,     /* cudaMalloc, cudaMallocHost, cudaHostRegister */
    FKM_FAULT_CUDA_CALL,      /* cudaMemcpy(Async), cudaMemsetAsync, cudaStream/Event/DeviceSynchronize,
                                 cudaGetLastError (a launch or a kernel that failed) */
    FKM_FAULT_KINDS
} fkm_fault_kind;

/* From now on count the events of `kind` and fail the nth (1-based); nth <= 0: count, fail none. */
void fkm_fault_arm(fkm_fault_kind kind, int64_t nth);
/* Stop counting `kind`; returns the events counted since it was armed. */
int64_t fkm_fault_disarm(fkm_fault_kind kind);
/* Whether the armed event has been failed (it is failed once: later events succeed). */
int fkm_fault_fired(fkm_fault_kind kind);
/* At a site: 1 when this event is to fail. */
int fkm_fault_hit(fkm_fault_kind kind);

#ifdef __cplusplus
}
#endif
#endif
