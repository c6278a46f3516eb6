/* test_cuda_concurrency.c -- tests/test_concurrency.c on the GPU (issue 23, item 3): 8 host threads
 * (FKM_STRESS_THREADS) fitting, predicting and transforming on one GPU at once, every result
 * bitwise the serial run's, the per-thread last error, a GPU fit cancelled from another thread
 * while others run beside it; FKM_STRESS_SECONDS=N for a longer run. Skipped (exit 77) without a
 * GPU. Not covered here: several GPUs, the device-pointer API on caller streams, two processes. */
#define CONC_DEVICE FKM_DEVICE_CUDA
#include "test_concurrency.c"
