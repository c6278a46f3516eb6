/* none.c -- the CUDA entry points of a CPU-only build: no devices, no backend. */
#include "../backend.h"

const fkm_backend *fkm_cuda_backend_get(void) { return NULL; }
int fkm_cuda_device_count(void) { return 0; }
