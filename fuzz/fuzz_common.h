/* fuzz_common.h -- shared helpers of the libFuzzer targets (fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with clang -fsanitize=fuzzer,address,undefined
 * by fuzz/Makefile; the same sources are also compiled into the ctest replay driver
 * (tests/test_bad_input_fuzz.c), which renames the entry points and redefines FUZZ_FAIL to count a
 * failure instead of trapping. */
#ifndef FKM_FUZZ_COMMON_H
#define FKM_FUZZ_COMMON_H
#include <flashkmeans.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* An invariant the library must keep on every input (a violated one is a bug, like a crash). */
#ifndef FUZZ_FAIL
#include <stdio.h>
#define FUZZ_FAIL(msg) (fprintf(stderr, "invariant violated: %s (%s:%d)\n", msg, __FILE__, __LINE__), __builtin_trap())
#endif
#define FUZZ_REQUIRE(cond) do { if (!(cond)) FUZZ_FAIL(#cond); } while (0)

/* Consume bytes from the front of the input (zeros once it is exhausted). */
typedef struct { const uint8_t *p; size_t n; } fuzz_bytes;
static inline uint64_t fuzz_take(fuzz_bytes *b, int nbytes) {
    uint64_t v = 0;
    for (int i = 0; i < nbytes; i++) {
        v |= (uint64_t)(b->n ? *b->p : 0) << (8 * i);
        if (b->n) { b->p++; b->n--; }
    }
    return v;
}

/* A returned status must be a known code with a one-line message. */
static inline void fuzz_check_status(fkm_status st) {
    FUZZ_REQUIRE((int)st >= FKM_OK && (int)st <= FKM_ERR_INTERNAL);
    FUZZ_REQUIRE(st != FKM_ERR_INTERNAL);
    if (st != FKM_OK && st != FKM_ERR_CANCELLED) {
        const char *m = fkm_last_error();
        FUZZ_REQUIRE(m != NULL && m[0] != 0 && strchr(m, '\n') == NULL);
    }
}

/* What a successful fit promises: finite centroids, labels in range, inertia finite and >= 0
 * (inner product: any sign), stats finite. */
static inline void fuzz_check_result(const fkm_result *r, fkm_metric metric) {
    for (int64_t i = 0; i < r->k * r->d; i++) FUZZ_REQUIRE(isfinite(r->centroids[i]));
    for (int64_t i = 0; i < r->n; i++) FUZZ_REQUIRE(r->labels[i] >= 0 && r->labels[i] < r->k);
    FUZZ_REQUIRE(isfinite(r->inertia));
    if (metric != FKM_METRIC_IP) FUZZ_REQUIRE(r->inertia >= 0);
    for (int i = 0; i < r->iterations; i++) {
        FUZZ_REQUIRE(isfinite(r->stats[i].inertia) && isfinite(r->stats[i].shift) && r->stats[i].shift >= 0);
        FUZZ_REQUIRE(r->stats[i].empty >= 0 && r->stats[i].empty <= r->k);
    }
}
#endif
