/* switches.cu -- the CUDA engine's environment switches, read in one place (switches.cuh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "switches.cuh"
#include "scale/scale.cuh" /* FKM_SCALE_MAX_SLOTS */

static const char *set(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

extern "C" void fkm_cu_switches_read(fkm_cu_switches *s) {
    const char *v;
    memset(s, 0, sizeof *s);
    snprintf(s->kernel, sizeof s->kernel, "%s", (v = set("FKM_CU_KERNEL")) ? v : "");
    s->arch = (v = set("FKM_CU_ARCH")) ? atoi(v) : 0;
    s->ps_ns = (v = set("FKM_CU_PS_NS")) ? (atoi(v) < 2 ? 2 : atoi(v)) : 0;
    s->upd_u = (v = set("FKM_CU_UPD_U")) ? (atoi(v) >= 8 ? 8 : 4) : 0;
    s->upd_p = (v = set("FKM_CU_UPD_P")) ? (atoi(v) <= 64 ? 64 : 256) : 0;
    s->sort = (v = set("FKM_CU_SORT")) ? strcmp(v, "count") == 0 : -1;
    s->fused = (v = set("FKM_CU_FUSED")) && atoi(v) == 1;
    s->tiny = (v = set("FKM_CU_TINY")) ? atoi(v) != 0 : -1;
    s->graph = !((v = set("FKM_CU_GRAPH")) && atoi(v) == 0);
    s->profile = (v = set("FKM_CU_PROFILE")) ? atoi(v) : 0;
    s->cert = !((v = set("FKM_CU_CERT")) && atoi(v) == 0);
    s->cert_scale = (v = set("FKM_CU_CERT_SCALE")) ? (float)atof(v) : 1.0f;
    s->cert_list = !((v = set("FKM_CU_CERT_LIST")) && atoi(v) == 0);
    s->cert_rsv = !((v = set("FKM_CU_CERT_RSV")) && atoi(v) == 0);
    s->staged = !((v = set("FKM_CU_STAGED")) && atoi(v) == 0);
    s->scale = (v = set("FKM_CU_SCALE")) && atoi(v) == 1;
    s->scale_piece = (v = set("FKM_CU_SCALE_PIECE")) && atoll(v) > 0 ? atoll(v) : 0;
    const int slots = (v = set("FKM_CU_SCALE_SLOTS")) ? atoi(v) : 2;
    s->scale_slots = slots < 2 ? 2 : slots > FKM_SCALE_MAX_SLOTS ? FKM_SCALE_MAX_SLOTS : slots;
}

extern "C" const char *fkm_cu_nccl_library(void) { return set("FKM_NCCL_LIBRARY"); }
