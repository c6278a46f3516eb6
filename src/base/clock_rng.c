/* clock_rng.c -- the monotonic clock, logging through the caller's callback, and the
 * counter-based RNG (splitmix64) whose streams every engine draws from. */
#define _POSIX_C_SOURCE 200809L
#include "../internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

double fkm_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

void fkm_log(const fkm_params *p, fkm_log_level level, const char *fmt, ...) {
    if (!p || !p->log_fn || p->verbose < (int)level) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->log_fn(level, buf, p->log_user);
}

void fkm_rng_init(fkm_rng *r, uint64_t seed, uint64_t stream) {
    r->s = seed * 0x9E3779B97F4A7C15ull ^ (stream + 0x632BE59BD9B4E019ull) * 0xD1B54A32D192ED03ull;
}

uint64_t fkm_rng_next(fkm_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double fkm_rng_uniform(fkm_rng *r) { return (fkm_rng_next(r) >> 11) * 0x1.0p-53; }

