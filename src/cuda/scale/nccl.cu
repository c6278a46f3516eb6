/* nccl.cu -- NCCL, loaded at run time (dlopen "libnccl.so.2", or FKM_NCCL_LIBRARY), so the
 * library neither links it nor needs it installed for one GPU: only a fit on several GPUs asks
 * for it, and a missing NCCL is then a clear error, not a loader failure at start. The few
 * declarations used are NCCL's stable ABI (checked against nccl.h when it is available). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "scale.cuh"

#if defined(__has_include)
#if __has_include(<nccl.h>)
#include <nccl.h>
#define FKM_HAVE_NCCL_H 1
#endif
#endif

#ifdef FKM_HAVE_NCCL_H
static_assert(ncclInt64 == FKM_NCCL_INT64 && ncclSum == FKM_NCCL_SUM, "NCCL ABI constants changed");
static_assert(sizeof(ncclComm_t) == sizeof(void *), "NCCL communicator handle is a pointer");
#endif

typedef int (*init_all_fn)(void **comms, int ndev, const int *devs);
typedef int (*destroy_fn)(void *comm);
typedef int (*group_fn)(void);
typedef int (*allreduce_fn)(const void *s, void *r, size_t count, int type, int op, void *comm, cudaStream_t st);
typedef const char *(*errstr_fn)(int rc);

static struct {
    pthread_once_t once;
    void *lib;
    init_all_fn init_all;
    destroy_fn destroy;
    group_fn group_start, group_end;
    allreduce_fn allreduce;
    errstr_fn errstr;
    char why[256];
} nccl = {PTHREAD_ONCE_INIT};

static void load(void) {
    const char *path = fkm_cu_nccl_library(); /* FKM_NCCL_LIBRARY (switches.cuh) */
    nccl.lib = dlopen(path ? path : "libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!nccl.lib) {
        snprintf(nccl.why, sizeof nccl.why, "%s", dlerror());
        return;
    }
    nccl.init_all = (init_all_fn)dlsym(nccl.lib, "ncclCommInitAll");
    nccl.destroy = (destroy_fn)dlsym(nccl.lib, "ncclCommDestroy");
    nccl.group_start = (group_fn)dlsym(nccl.lib, "ncclGroupStart");
    nccl.group_end = (group_fn)dlsym(nccl.lib, "ncclGroupEnd");
    nccl.allreduce = (allreduce_fn)dlsym(nccl.lib, "ncclAllReduce");
    nccl.errstr = (errstr_fn)dlsym(nccl.lib, "ncclGetErrorString");
    if (!nccl.init_all || !nccl.destroy || !nccl.group_start || !nccl.group_end || !nccl.allreduce || !nccl.errstr) {
        snprintf(nccl.why, sizeof nccl.why, "a symbol is missing from the NCCL library");
        dlclose(nccl.lib);
        nccl.lib = NULL;
    }
}

static fkm_status nccl_fail(int rc, const char *what) {
    return FKM_FAIL(FKM_ERR_CUDA, "NCCL error in %s: %s (%d)", what, nccl.errstr(rc), rc);
}

fkm_status fkm_nccl_init(int ndev, const int *devs, void **comms) {
    pthread_once(&nccl.once, load);
    if (!nccl.lib)
        return FKM_FAIL(FKM_ERR_NO_CUDA, "a fit on %d GPUs needs NCCL, which could not be loaded (%s); install "
                        "libnccl2 or set FKM_NCCL_LIBRARY to its path", ndev, nccl.why);
    const int rc = nccl.init_all(comms, ndev, devs);
    return rc == 0 ? FKM_OK : nccl_fail(rc, "ncclCommInitAll");
}

void fkm_nccl_destroy(int ndev, void **comms) {
    for (int i = 0; i < ndev; i++)
        if (comms[i]) (void)nccl.destroy(comms[i]);
}

fkm_status fkm_nccl_sum_i64(int ndev, void **comms, int64_t *const *bufs, size_t count, const cudaStream_t *streams) {
    int rc = nccl.group_start();
    for (int i = 0; rc == 0 && i < ndev; i++)
        rc = nccl.allreduce(bufs[i], bufs[i], count, FKM_NCCL_INT64, FKM_NCCL_SUM, comms[i], streams[i]);
    const int rc2 = nccl.group_end();
    if (rc != 0) return nccl_fail(rc, "ncclAllReduce");
    return rc2 == 0 ? FKM_OK : nccl_fail(rc2, "ncclGroupEnd");
}
