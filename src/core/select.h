/* select.h -- run-time choices shared by fit and predict/transform/score (core-internal). */
#ifndef FKM_SELECT_H
#define FKM_SELECT_H
#include "../backend.h"

/* CPU threads to use: p->threads, or all available when 0 (1 without OpenMP). */
int fkm_resolve_threads(int threads);

/* The engine for p->device: CUDA when asked (error if absent or cuda_device does not exist),
 * AUTO -> CUDA when that GPU exists, else the CPU. */
fkm_status fkm_choose_backend(const fkm_params *p, const fkm_backend **out);

/* FKM_INIT_AUTO for a fit on `device`: k-means|| on a GPU, k-means++ elsewhere; any other init
 * unchanged. Every entry point that initialises resolves it first (flashkmeans.h). */
fkm_init fkm_resolve_init(fkm_init init, fkm_device device);

/* fkm_choose_backend for a fit of x (b problems run one at a time, so one problem's size). With
 * device=auto, when that is the GPU, its memory is checked first (fkm_cuda_check_fit_memory:
 * p->gpu_mem_limit and the free memory) and a problem that does not fit goes to the CPU engine,
 * logged as a warning. (device=cuda: the engine's create fails with FKM_ERR_NO_MEMORY.) */
fkm_status fkm_choose_fit_backend(const fkm_params *p, const fkm_matrix *x, const fkm_backend **out);

/* A GPU precision (tf32, fp16, bf16) with device=cpu: FKM_ERR_INVALID_ARG, else FKM_OK. Shared by
 * fkm_params_validate and fkm_resolve_precision so that both refuse it with the same words. */
fkm_status fkm_check_cpu_precision(const fkm_params *p);

/* The precision that runs on `be` for input dtype t (never AUTO). A GPU precision with
 * device=cpu is an error; with device=auto on a machine without a GPU it runs exact (warned). */
fkm_status fkm_resolve_precision(const fkm_params *p, const fkm_backend *be, fkm_dtype t, fkm_precision *out);
#endif
