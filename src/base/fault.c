/* fault.c -- the failure-injection counters of src/fault.h (test hook). */
#include "../fault.h"

#include <stdatomic.h>

static struct {
    atomic_int armed;
    atomic_llong seen, nth;
    atomic_int fired;
} kinds[FKM_FAULT_KINDS];

void fkm_fault_arm(fkm_fault_kind kind, int64_t nth) {
    atomic_store(&kinds[kind].seen, 0);
    atomic_store(&kinds[kind].fired, 0);
    atomic_store(&kinds[kind].nth, nth);
    atomic_store(&kinds[kind].armed, 1);
}

int64_t fkm_fault_disarm(fkm_fault_kind kind) {
    atomic_store(&kinds[kind].armed, 0);
    return atomic_load(&kinds[kind].seen);
}

int fkm_fault_fired(fkm_fault_kind kind) { return atomic_load(&kinds[kind].fired); }

int fkm_fault_hit(fkm_fault_kind kind) {
    if (!atomic_load_explicit(&kinds[kind].armed, memory_order_relaxed)) return 0;
    const long long i = atomic_fetch_add(&kinds[kind].seen, 1) + 1;
    if (i != atomic_load(&kinds[kind].nth)) return 0;
    atomic_store(&kinds[kind].fired, 1);
    return 1;
}
