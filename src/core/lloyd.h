/* lloyd.h -- the Lloyd driver: initialise, iterate, test the stop rule, restart, keep the best.
 * Written once for every engine behind src/backend.h: the CPU and CUDA engines of fkm_fit, the
 * CUDA scale engine, and the ranks of fkm_mpi_fit (whose hooks are collective). */
#ifndef FKM_LLOYD_H
#define FKM_LLOYD_H

#include "../backend.h"

/* Run p->n_init restarts of Lloyd's algorithm on the engine `eng` (created from pb by be) and keep
 * the one with the lowest final inertia in *out. Restart r starts from p->init with seed
 * seed + r * 0x9E3779B9; iterations stop by p->stop (src/stop.h), at p->max_iter (0 with
 * freeze_init), or when p->progress_fn asks (agreed with the engine's peers by be->agree_cancel).
 * out and cur: result arrays allocated for pb (fkm_result_alloc); cur is scratch. var: the data's
 * mean per-feature variance (the shift rule's scale; 0 for other rules). On FKM_ERR_CANCELLED
 * *out holds the best restart so far with stop_reason FKM_STOPPED_CANCELLED; on other errors
 * *out is left for the caller to free. Sets out->device and out->precision from be and pb. */
fkm_status fkm_lloyd_fit(const fkm_params *p, const fkm_backend *be, void *eng, const fkm_problem *pb,
                         uint64_t seed, double var, fkm_result *out, fkm_result *cur);

#endif
