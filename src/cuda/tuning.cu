/* tuning.cu -- the per-architecture kernel tables and the one chooser (see tuning.cuh). */
#include "tuning.cuh"

#include <stdlib.h>

#include "../backend.h"

const fkm_cu_cfg fkm_cu_cfgs[FKM_CU_NCFG] = {
    /* bm   bn  wm wn stages xres */
    {128, 128, 2, 4, 4, 1}, /* 0: point tile resident, 4 centroid chunks in flight */
    {128, 128, 2, 4, 3, 0}, /* 1: both tiles streamed (large D) */
    {128, 256, 2, 4, 3, 1}, /* 2: wider centroid tile, 64x64 warp tiles */
    {64, 128, 2, 2, 4, 1},  /* 3: small tiles, for few points per problem */
};

size_t fkm_cu_cfg_smem(const fkm_cu_cfg *c, int64_t dcp_bytes) {
    const size_t sp = 128 + 16; /* staged row pitch: one chunk + 16 bytes against bank conflicts */
    size_t s = (size_t)c->stages * (size_t)(c->xres ? c->bn : c->bn + c->bm) * sp;
    if (c->xres) s += (size_t)c->bm * (size_t)(dcp_bytes + 16);
    return s;
}

/* One row of a table: use `cfg` when the centroid pitch is at most max_dcp_bytes. */
typedef struct {
    int64_t max_dcp_bytes;
    int cfg;
} rule;

/* sm_90 (H100/H200: 227 KB shared memory per block) and sm_80 (A100: 163 KB). Rows are tried in
 * order; the first whose pitch bound holds and whose shared memory fits is taken. */
static const rule sm90_rules[] = {{512, 0}, {1024, 0}, {INT64_MAX, 1}};
static const rule sm80_rules[] = {{512, 0}, {INT64_MAX, 1}};
static const rule fallback_rules[] = {{256, 3}, {INT64_MAX, 1}};

static int pick(const rule *r, int nr, int smem_optin, int64_t dcp_bytes) {
    for (int i = 0; i < nr; i++) {
        if (dcp_bytes > r[i].max_dcp_bytes) continue;
        if (fkm_cu_cfg_smem(&fkm_cu_cfgs[r[i].cfg], dcp_bytes) <= (size_t)smem_optin) return r[i].cfg;
    }
    return 1; /* streamed tiles: shared memory independent of D */
}

int fkm_cu_choose_kernel(int cc_major, int smem_optin, int prec, int64_t dcp_bytes) {
    const char *force = getenv("FKM_CU_KERNEL");
    if (force && *force) {
        int id = atoi(force);
        int want_op = prec == FKM_PREC_FP16 ? 0 : prec == FKM_PREC_BF16 ? 1 : prec == FKM_PREC_TF32 ? 2 : -1;
        if (id == FKM_KERN_SIMT && want_op < 0) return id;
        if (id > 0 && id <= 3 * FKM_CU_NCFG && fkm_cu_kern_op(id) == want_op &&
            fkm_cu_cfg_smem(&fkm_cu_cfgs[fkm_cu_kern_cfg(id)], dcp_bytes) <= (size_t)smem_optin)
            return id;
    }
    if (prec == FKM_PREC_EXACT || cc_major < 8) return FKM_KERN_SIMT;
    const int op = prec == FKM_PREC_FP16 ? 0 : prec == FKM_PREC_BF16 ? 1 : 2;
    int cfg;
    if (cc_major >= 9) cfg = pick(sm90_rules, 3, smem_optin, dcp_bytes);
    else if (cc_major == 8) cfg = pick(sm80_rules, 2, smem_optin, dcp_bytes);
    else cfg = pick(fallback_rules, 2, smem_optin, dcp_bytes);
    return fkm_cu_kern_id(op, cfg);
}
