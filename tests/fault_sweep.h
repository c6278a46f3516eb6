/* fault_sweep.h -- the failure-injection sweep of tests/test_faults.c and tests/test_cuda_faults.c.
 *
 * A case runs one API call and turns what it left into an outcome: the status, the last-error
 * text, the outputs as bytes (on success) and whether a failure left anything behind (a result
 * not zeroed, an output file, a temporary file). The sweep runs the case once clean (the
 * reference), once counting the events of one kind (src/fault.h), then once per event with that
 * event failed, and after each failed run once more clean. Every injected failure must give either
 * the expected status with a message naming the cause and nothing left behind, or (a site that
 * recovers, e.g. a best-effort step) the reference's outputs exactly; the clean run after it must
 * give the reference's outputs (the process is still usable). Leaks: LSan (make test-asan). */
#ifndef FKM_FAULT_SWEEP_H
#define FKM_FAULT_SWEEP_H
#include "check.h"
#include "fault.h"

#include <flashkmeans.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fkm_status st;
    char msg[512];
    unsigned char *bytes; /* outputs on success (test-owned) */
    size_t len;
    int dirty; /* a failure left something behind: why says what */
    char why[400];
} fault_outcome;

typedef void (*fault_case_fn)(const void *arg, fault_outcome *o);

static inline void fault_outcome_add(fault_outcome *o, const void *p, size_t n) {
    o->bytes = (unsigned char *)realloc(o->bytes, o->len + n + 1);
    if (n) memcpy(o->bytes + o->len, p, n);
    o->len += n;
}

static inline void fault_outcome_clear(fault_outcome *o) {
    free(o->bytes);
    memset(o, 0, sizeof *o);
}

/* Record the status and last error of the call just made. */
static inline void fault_outcome_status(fault_outcome *o, fkm_status st) {
    o->st = st;
    snprintf(o->msg, sizeof o->msg, "%s", st == FKM_OK ? "" : fkm_last_error());
}

static inline int fault_same(const fault_outcome *a, const fault_outcome *b) {
    return a->st == FKM_OK && b->st == FKM_OK && a->len == b->len && (a->len == 0 || memcmp(a->bytes, b->bytes, a->len) == 0);
}

typedef struct {
    int64_t events, failed, tolerated; /* summed over the sweeps run */
    int sweeps;
} fault_totals;

/* Sweep `kind` over one case. want/want_text: the status and a piece of the message expected of
 * an injected failure. deterministic: the events come in the same order every run (one thread),
 * so every armed event must be reached. max_events > 0 bounds the sweep (every event up to it). */
static inline void fault_sweep(fault_totals *t, const char *name, fkm_fault_kind kind, fault_case_fn fn,
                               const void *arg, fkm_status want, const char *want_text, int deterministic,
                               int64_t max_events) {
    fault_outcome ref = {0}, o = {0};
    fn(arg, &ref);
    CHECK(ref.st == FKM_OK, "%s: the clean run failed: %s", name, ref.msg);
    if (ref.st != FKM_OK) {
        fault_outcome_clear(&ref);
        return;
    }
    fkm_fault_arm(kind, 0);
    fn(arg, &o);
    const int64_t n = fkm_fault_disarm(kind);
    CHECK(fault_same(&o, &ref), "%s: a counting run differs from the clean run", name);
    fault_outcome_clear(&o);
    CHECK(n > 0, "%s: no event of kind %d seen: the hook is not reached", name, (int)kind);
    int64_t failed = 0, tolerated = 0, upto = max_events > 0 && max_events < n ? max_events : n;
    for (int64_t i = 1; i <= upto; i++) {
        fkm_fault_arm(kind, i);
        fn(arg, &o);
        fkm_fault_disarm(kind);
        const int fired = fkm_fault_fired(kind);
        if (deterministic) CHECK(fired, "%s: event %lld of %lld was not reached", name, (long long)i, (long long)n);
        if (o.st != FKM_OK) {
            failed++;
            CHECK(o.st == want, "%s, event %lld failed: status %s, want %s (%s)", name, (long long)i,
                  fkm_status_str(o.st), fkm_status_str(want), o.msg);
            CHECK(strstr(o.msg, want_text) != NULL, "%s, event %lld failed: message '%s' does not say '%s'", name,
                  (long long)i, o.msg, want_text);
            CHECK(!o.dirty, "%s, event %lld failed: %s", name, (long long)i, o.why);
        } else if (fired) {
            tolerated++;
            CHECK(fault_same(&o, &ref), "%s, event %lld failed but the call succeeded with other outputs", name,
                  (long long)i);
        }
        fault_outcome_clear(&o);
        fn(arg, &o); /* the next call in the same process */
        CHECK(fault_same(&o, &ref), "%s: the clean run after failing event %lld: %s", name, (long long)i,
              o.st == FKM_OK ? "other outputs" : o.msg);
        fault_outcome_clear(&o);
    }
    printf("  %-34s %4lld events, %4lld failed with a clear error, %3lld recovered%s\n", name, (long long)n,
           (long long)failed, (long long)tolerated, upto < n ? " (first events only)" : "");
    t->events += upto;
    t->failed += failed;
    t->tolerated += tolerated;
    t->sweeps++;
    fault_outcome_clear(&ref);
}

/* Outcome of a fit: on success its outputs as bytes (then freed), on failure whether *r was zeroed. */
static inline void fault_fit_outcome(fault_outcome *o, fkm_status st, fkm_result *r, int64_t b) {
    fault_outcome_status(o, st);
    for (int64_t i = 0; i < b; i++) {
        if (st == FKM_OK) {
            fault_outcome_add(o, r[i].centroids, (size_t)(r[i].k * r[i].d) * sizeof(float));
            fault_outcome_add(o, r[i].labels, (size_t)r[i].n * sizeof(int32_t));
            fault_outcome_add(o, &r[i].inertia, sizeof r[i].inertia);
            fault_outcome_add(o, &r[i].iterations, sizeof r[i].iterations);
            fault_outcome_add(o, &r[i].best_init, sizeof r[i].best_init);
        } else if (r[i].centroids || r[i].labels || r[i].stats || r[i].k || r[i].n) {
            o->dirty = 1;
            snprintf(o->why, sizeof o->why, "result %lld not zeroed after the failure", (long long)i);
        }
        fkm_result_free(&r[i]);
    }
}
#endif
