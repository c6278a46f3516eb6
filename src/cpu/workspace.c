/* workspace.c -- scratch memory that the CPU engine keeps from one iteration to the next.
 *
 * Allocating the assignment's and the update's buffers afresh every iteration costs a page fault
 * per 4 KiB on first touch (expensive under virtualisation: several milliseconds an iteration at
 * the benchmark sizes). A workspace keeps one buffer per slot and only ever grows it. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>

struct fkm_cpu_ws {
    void **buf;
    size_t *size;
    int nslots;
};

fkm_cpu_ws *fkm_cpu_ws_create(void) { return (fkm_cpu_ws *)fkm_calloc(1, sizeof(fkm_cpu_ws)); }

void fkm_cpu_ws_destroy(fkm_cpu_ws *ws) {
    if (!ws) return;
    for (int i = 0; i < ws->nslots; i++) fkm_free(ws->buf[i]);
    fkm_free(ws->buf);
    fkm_free(ws->size);
    fkm_free(ws);
}

int fkm_cpu_ws_reserve(fkm_cpu_ws *ws, int nslots) {
    if (nslots <= ws->nslots) return 0;
    void **b = (void **)fkm_calloc((size_t)nslots, sizeof(void *));
    size_t *s = (size_t *)fkm_calloc((size_t)nslots, sizeof(size_t));
    if (!b || !s) {
        fkm_free(b);
        fkm_free(s);
        return -1;
    }
    if (ws->nslots) {
        memcpy(b, ws->buf, (size_t)ws->nslots * sizeof(void *));
        memcpy(s, ws->size, (size_t)ws->nslots * sizeof(size_t));
    }
    fkm_free(ws->buf);
    fkm_free(ws->size);
    ws->buf = b;
    ws->size = s;
    ws->nslots = nslots;
    return 0;
}

void *fkm_cpu_ws_get(fkm_cpu_ws *ws, int slot, size_t count, size_t elem) {
    if (slot < 0 || slot >= ws->nslots || (elem && count > SIZE_MAX / elem)) return NULL;
    size_t bytes = count * elem > 0 ? count * elem : 1;
    if (ws->size[slot] >= bytes) return ws->buf[slot];
    fkm_free(ws->buf[slot]);
    ws->buf[slot] = fkm_alloc(bytes, 1);
    ws->size[slot] = ws->buf[slot] ? bytes : 0;
    return ws->buf[slot];
}
