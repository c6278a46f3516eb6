/* internal.h -- helpers shared by the core and the engines: error recording, allocation, timing.
 * Not installed. */
#ifndef FKM_INTERNAL_H
#define FKM_INTERNAL_H

#include "flashkmeans.h"
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Record a message for fkm_last_error() (printf-style) and return `s`. Thread-local. */
fkm_status fkm_set_error(fkm_status s, const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
void fkm_clear_error(void);

#define FKM_FAIL(status, ...) fkm_set_error((status), __FILE__, __LINE__, __VA_ARGS__)

/* Evaluate a fkm_status expression; on failure store it in `st` and jump to `cleanup`.
 * Functions using it declare `fkm_status st = FKM_OK;` and a `cleanup:` label. */
#define FKM_TRY(expr)                   \
    do {                                \
        st = (expr);                    \
        if (st != FKM_OK) goto cleanup; \
    } while (0)

/* Fail with FKM_ERR_NO_MEMORY (message names what) and jump to cleanup when p is NULL. */
#define FKM_CHECK_ALLOC(p, what)                                                     \
    do {                                                                             \
        if (!(p)) {                                                                  \
            st = FKM_FAIL(FKM_ERR_NO_MEMORY, "out of host memory allocating %s", what); \
            goto cleanup;                                                            \
        }                                                                            \
    } while (0)

/* 64-byte aligned allocation (free with fkm_free); NULL on failure or overflow of a*b. Every host
 * allocation of the library goes through these, so the test hook of src/fault.h can fail each.
 * fkm_free is free(): posix_memalign's memory, so free() releases it too. */
void *fkm_alloc(size_t count, size_t elem);
void *fkm_calloc(size_t count, size_t elem);
void fkm_free(void *p);
char *fkm_strdup(const char *s); /* a copy from fkm_alloc */

double fkm_now_ms(void);  /* monotonic clock in milliseconds */

/* Log through params' callback when p->verbose >= level. */
void fkm_log(const fkm_params *p, fkm_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Counter-based RNG (splitmix64): reproducible streams for a (seed, stream) pair. */
typedef struct { uint64_t s; } fkm_rng;
void fkm_rng_init(fkm_rng *r, uint64_t seed, uint64_t stream);
uint64_t fkm_rng_next(fkm_rng *r);
double fkm_rng_uniform(fkm_rng *r); /* [0, 1) */

#ifdef __cplusplus
}
#endif
#endif
