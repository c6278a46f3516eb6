/* alloc.c -- the library's host allocations (64-byte aligned), each one a site the fault hook of
 * src/fault.h can fail in tests. */
#define _POSIX_C_SOURCE 200809L
#include "../internal.h"
#include "../fault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *fkm_alloc(size_t count, size_t elem) {
    if (elem && count > SIZE_MAX / elem) return NULL;
    size_t bytes = count * elem;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes == 0) bytes = 64;
    void *p = NULL;
    if (fkm_fault_hit(FKM_FAULT_HOST_ALLOC)) return NULL; /* test hook (src/fault.h) */
    if (posix_memalign(&p, 64, bytes) != 0) return NULL;
    return p;
}

void *fkm_calloc(size_t count, size_t elem) {
    void *p = fkm_alloc(count, elem);
    if (p) memset(p, 0, count * elem);
    return p;
}

void fkm_free(void *p) { free(p); }

char *fkm_strdup(const char *s) {
    const size_t n = strlen(s) + 1;
    char *p = (char *)fkm_alloc(n, 1);
    if (p) memcpy(p, s, n);
    return p;
}

