/* par.cuh -- the state of k-means|| on the GPU (kmeans_par.cu: rounds and choice; par_cands.cu:
 * the candidate set's upkeep), for every problem of a batch at once. All pointers are device
 * memory carved from one allocation (par_layout); h* are pinned host mirrors. */
#ifndef FKM_CU_PAR_CUH
#define FKM_CU_PAR_CUH

#include "../cu_common.cuh"

/* The splitmix64 finaliser: the draws' hash (as the host's init_par.c) and the rows' hash. */
__device__ __forceinline__ uint64_t par_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

#define PAR_PB 1024      /* rows per block: the unit of the per-block sums and counts */
#define PAR_ROUNDS 5     /* R, as the host version (src/core/init_par.c) */
#define PAR_OVERSAMPLE 2 /* l = 2k expected candidates per round */

/* What a marking pass takes: a round's sample, or the fill's rows with weight, then without. */
enum { PAR_SAMPLE = 0, PAR_FILL_W = 1, PAR_FILL_Z = 2 };

struct par_args {
    const void *x;
    int ct;
    int64_t b, n, dp, d, k;
    const float *w;       /* b*n or NULL */
    int64_t cap, nblk;    /* candidates per problem at most; blocks of PAR_PB rows per problem */
    uint64_t seed;
    double l;
    float *dist;          /* [b][n] exact squared distance to the nearest candidate */
    int32_t *near;        /* [b][n] that candidate */
    int32_t *crow;        /* [b][cap] candidate j's row (within its problem) */
    int32_t *crow2;       /* [b][cap] scratch of the compaction */
    int32_t *map;         /* [b][cap] old candidate -> its first equal (then its new index) */
    int32_t *m, *from;    /* [b] candidates now; before the pending ones */
    int32_t *add;         /* [b] rows a marking pass adds */
    int32_t *bcnt;        /* [b][nblk] per-block counts, then exclusive offsets */
    double *bsum;         /* [b][nblk] per-block weighted sums */
    double *phi;          /* [b] */
    const double *u;      /* [b] the first candidate's uniform */
    double *cw;           /* [b][cap] candidate weights */
    int32_t *ord;         /* [b][cap] weighted candidates, then the others, each in order */
    int32_t *mp;          /* [b] candidates with weight */
};

/* The whole state: args, the sort scratch, host mirrors. The assignment passes stage up to e->kp
 * candidates per problem in the engine's own centroid copy (cc, cterm: unused before the fit). */
typedef struct {
    par_args a;
    uint64_t *hkey, *hkey2;      /* [b][cap] dedup sort keys */
    int32_t *hval, *hval2;       /* [b][cap] dedup sort values (slots) */
    int32_t *rstart;             /* [b][cap] first sorted position of each key's run */
    int32_t *seg0, *seg1;        /* [b][cap] weight segments in the sorted rows */
    void *cub;
    size_t cub_bytes;
    void *base;                  /* the one allocation */
    int32_t *hm, *hfrom, *hmp;   /* pinned host copies of m, from and mp */
} par_state;

/* par_cands.cu: add the pending candidates [from, m) to the distances (exact float32 squared L2
 * to the nearest, found by the engine's assignment kernel), then drop duplicates by value. */
fkm_status par_update(par_state *s, fkm_cu_engine *e);
fkm_status par_dedup(par_state *s, fkm_cu_engine *e);
/* Key bits of the weight sort (keys p * cap + candidate). */
int par_key_bits(const par_args &a);
/* Bytes of the one allocation for engine e (its b, n, k, d) and its layout (base NULL: measure). */
size_t par_layout(par_state *s, const fkm_cu_engine *e, char *base);
#endif
