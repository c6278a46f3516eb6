/* cert.cu -- precision exact on fp16 tensor cores, certified (docs/certified.md).
 *
 * The SIMT fp32 kernel (assign.cu) defines the exact labels and scores. Here the persistent fp16
 * kernels (assign_res.cuh, assign_ps.cuh with CERT) score a scaled fp16 copy of the data against
 * a scaled fp16 copy of the centroids and keep, per point, the two smallest lower bounds of the
 * SIMT kernel's scores; a point whose label the bound proves is then scored exactly once (the SIMT
 * kernel's fma chain for that one centroid), every other point is re-scored by the SIMT kernel
 * itself over a list of those rows. The SIMT kernel's own output stage (fkm_write_rows, 64-row
 * tiles) writes distances and statistics, so every bit downstream is the SIMT path's.
 *
 * Per fit: sigma (a power of two per problem), the fp16 data and the per-point bound terms. Per
 * iteration (after each centroid preparation): the fp16 centroid image, n_c and the per-problem
 * maxima r and 2u tau. */
#include <cuda_fp16.h>
#include <math.h>
#include <stdlib.h>

#include "assign_ps.cuh"
#include "../cu_device.cuh"
#include "tuning.cuh"

#define U32 0x1p-24 /* unit roundoff of float32 */

static int cert_wanted(const fkm_cu_engine *e) {
    if (e->prec != FKM_PREC_EXACT || e->cc_major != 9) return 0;
    return e->sw.cert;
}

/* Sizes and the fp16 kernel (resident for one problem of k <= 256 where it fits, else streamed);
 * 0 when neither takes rows of this width: precision exact then runs the SIMT kernel alone. */
static int cert_plan(fkm_cu_engine *e) {
    e->dp16 = fkm_cu_roundup(e->d, 8);
    e->dcp16 = fkm_cu_roundup(e->dp16 * 2, FKM_CU_CHUNK) / 2;
    const int64_t bytes = e->dcp16 * 2;
    const int res = FKM_KERN_RES_BASE, ps = FKM_KERN_PS_BASE; /* op 0: fp16 */
    if (fkm_cu_kern_fits(res, bytes, e->b, e->k) &&
        fkm_res_smem((int)(bytes / 128), fkm_res_tiles(e->k), 2) <= (size_t)e->smem_optin)
        e->kern16 = res;
    else if (fkm_cu_kern_fits(ps, bytes, e->b, e->k) && fkm_ps_smem((int)(bytes / 128), 2, 2) <= (size_t)e->smem_optin)
        e->kern16 = ps;
    else
        return 0;
    e->cert_scale = e->sw.cert_scale;
    e->cert_list = e->sw.cert_list;
    e->cert_rsv = e->sw.cert_rsv;
    return 1;
}

void fkm_cu_cert_plan(fkm_cu_engine *e) { e->cert = cert_wanted(e) && cert_plan(e); }

/* ---- per fit: sigma and the data */

/* max |x| per problem, as the bits of a non-negative float (order-free atomicMax): a block per
 * (problem, slice), one atomic per block (one per element on one address took 98 ms at 2^27). */
__global__ void k_cert_xmax(const float *x, int64_t per, int slices, uint32_t *cmax) {
    __shared__ uint32_t wm[32];
    const int64_t p = blockIdx.x / slices, s = blockIdx.x - p * slices;
    const int64_t i0 = per * s / slices, i1 = per * (s + 1) / slices;
    uint32_t m = 0;
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) m = max(m, __float_as_uint(fabsf(x[p * per + i])));
    for (int o = 16; o > 0; o >>= 1) m = max(m, __shfl_xor_sync(0xffffffffu, m, o));
    if ((threadIdx.x & 31) == 0) wm[threadIdx.x >> 5] = m;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int)(blockDim.x >> 5); w++) m = max(m, wm[w]);
        if (m) atomicMax(&cmax[2 * p], m);
    }
}

/* sigma = 2^(14 - E) with max|x| in [2^(E-1), 2^E), so that max|x| sigma lands in [2^13, 2^14);
 * clamped to 2^+-50 so that alpha / sigma^2 stays a normal float (out-of-range data only loses
 * certification, never correctness). */
__global__ void k_cert_sigma(int64_t b, float alpha, const uint32_t *cmax, float *csigma, float *calpha) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= b) return;
    const float m = __uint_as_float(cmax[2 * p]);
    int ex = 0;
    if (m > 0.0f) {
        int E;
        (void)frexpf(m, &E);
        ex = 14 - E;
        ex = ex < -50 ? -50 : ex > 50 ? 50 : ex;
    }
    const float s = ldexpf(1.0f, ex);
    csigma[p] = s;
    calpha[p] = ldexpf(alpha, -2 * ex);
}

/* fp16 of v * s (round to nearest), flushed to zero below the normal range so that the value the
 * tensor cores multiply is the one the bound accounts for; *ovf set on overflow. */
__device__ __forceinline__ __half cert_h(float v, float s, bool &ovf) {
    __half h = __float2half_rn(v * s);
    const float f = __half2float(h);
    if (fabsf(f) < 0x1p-14f) h = __float2half_rn(0.0f);
    if (isinf(f)) ovf = true;
    return h;
}

/* One element of a row (data or centroid) to fp16, with the three sums the bound needs:
 * |v|^2, |v~|^2 and |v~ - v|^2 (v~ the value the tensor cores see, over sigma). */
__device__ __forceinline__ __half cert_elem(float v, float s, bool &ovf, double &v2, double &t2, double &e2) {
    const __half h = cert_h(v, s, ovf);
    const double t = (double)__half2float(h) / s, dv = t - v;
    v2 += (double)v * v;
    t2 += t * t;
    e2 += dv * dv;
    return h;
}

/* The warp's sums of cert_elem, and whether any lane overflowed. */
__device__ __forceinline__ void cert_row_sums(double &v2, double &t2, double &e2, bool &ovf) {
    v2 = warp_sum(v2);
    t2 = warp_sum(t2);
    e2 = warp_sum(e2);
    ovf = __any_sync(0xffffffffu, ovf);
}

/* Upward float of a non-negative double (norms: their float64 sums are far inside 2^-40). */
__device__ __forceinline__ float cert_up(double v) { return __double2float_ru(v * (1.0 + 0x1p-40)); }

/* One warp per row: the fp16 copy and (P_x, Q_x) of the bound. */
__global__ void k_cert_prep_x(const float *x, int64_t rows, int64_t n, int64_t d, int64_t dp, int64_t dp16,
                              int64_t dcp16, float alpha, const float *csigma, __half *x16, float2 *xq) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const float s = csigma[row / n];
    double a2 = 0.0, b2 = 0.0, e2 = 0.0;
    bool ovf = false;
    for (int64_t j = lane; j < dp16; j += 32) {
        x16[row * dp16 + j] = cert_elem(j < d ? x[row * dp + j] : 0.0f, s, ovf, a2, b2, e2);
    }
    cert_row_sums(a2, b2, e2, ovf);
    if (lane) return;
    const double gd = d * U32 / (1.0 - d * U32), etc = dcp16 * 0x1p-22;
    const double k1 = gd + U32 * (1.0 + gd), k2 = etc + U32 * (1.0 + etc);
    const double a = cert_up(sqrt(a2)), bx = cert_up(sqrt(b2)), dx = ovf ? INFINITY : cert_up(sqrt(e2));
    xq[row] = make_float2(cert_up(alpha * (k1 * a + k2 * bx + dx)), cert_up(alpha * bx));
}

fkm_status fkm_cu_cert_prep_x(fkm_cu_engine *e, const float *x32) {
    const float alpha = e->metric == FKM_METRIC_L2 ? 2.0f : 1.0f;
    const int64_t rows = e->b * e->n;
    CU_RET(cudaMemsetAsync(e->cmax, 0, (size_t)e->b * 2 * sizeof(uint32_t), e->stream));
    CU_RET(cudaMemsetAsync(e->coff, 0, (size_t)e->b * sizeof(int32_t), e->stream));
    const int slices = (int)((e->sm_count * 8 + e->b - 1) / e->b);
    k_cert_xmax<<<(unsigned)(e->b * slices), 256, 0, e->stream>>>(x32, e->n * e->dp, slices, e->cmax);
    CU_LAUNCHED("certified mode: data range");
    k_cert_sigma<<<(unsigned)((e->b + 255) / 256), 256, 0, e->stream>>>(e->b, alpha, e->cmax, e->csigma, e->calpha);
    CU_LAUNCHED("certified mode: scale");
    k_cert_prep_x<<<(unsigned)((rows + 7) / 8), 256, 0, e->stream>>>(x32, rows, e->n, e->d, e->dp, e->dp16, e->dcp16,
                                                                     alpha, e->csigma, (__half *)e->x16, e->xq);
    CU_LAUNCHED("certified mode: data copy");
    return FKM_OK;
}

/* ---- per iteration: the centroids */

/* One warp per padded centroid row: the fp16 image (the wgmma kernels' tiled, swizzled layout, as
 * fkm_cc_row_t writes it), n_c, and the problem's maxima r = max m_c / n_c and 2u tau =
 * 2u max |t_c| / n_c (t_c: the SIMT kernel's cterm). */
__global__ void k_cert_prep_c(const float *c32, int64_t b, int64_t k, int64_t d, int64_t kp, int64_t dcp16,
                              const float *csigma, const float *cterm, __half *cc16, float *cn, uint32_t *cmax) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= b * kp) return;
    const int64_t prob = row / kp, r = row - prob * kp;
    const float *src = r < k ? c32 + (prob * k + r) * d : NULL;
    const float s = csigma[prob];
    const int64_t nkb = dcp16 * 2 / 128;
    char *tb = (char *)cc16 + ((prob * (kp / 128) + r / 128) * nkb) * (128 * 128) + (r % 128) * 128;
    double c2 = 0.0, t2 = 0.0, e2 = 0.0;
    bool ovf = false;
    for (int64_t j = lane; j < dcp16; j += 32) {
        const int64_t jb = j * 2, kb = jb >> 7, c = (jb >> 4) & 7;
        *(__half *)(tb + kb * (128 * 128) + ((c ^ (r & 7)) << 4) + (jb & 15)) =
            cert_elem(src && j < d ? src[j] : 0.0f, s, ovf, c2, t2, e2);
    }
    cert_row_sums(c2, t2, e2, ovf);
    if (lane) return;
    if (!src) {
        cn[row] = 0.0f;
        return;
    }
    const float nc = cert_up(sqrt(c2 > t2 ? c2 : t2));
    cn[row] = ovf ? INFINITY : nc;
    if (ovf) {
        atomicMax(&cmax[2 * prob], __float_as_uint(INFINITY));
        return;
    }
    if (nc == 0.0f) return; /* a zero centroid: t_c = 0, no rounding error */
    const float rr = __fdiv_ru(cert_up(sqrt(e2)), nc), tt = __fmul_ru(__fdiv_ru(fabsf(cterm[row]), nc), 0x1p-23f);
    atomicMax(&cmax[2 * prob], __float_as_uint(rr));
    atomicMax(&cmax[2 * prob + 1], __float_as_uint(tt));
}

fkm_status fkm_cu_cert_prep_c(fkm_cu_engine *e) {
    CU_RET(cudaMemsetAsync(e->cmax, 0, (size_t)e->b * 2 * sizeof(uint32_t), e->stream));
    const int64_t rows = e->b * e->kp;
    k_cert_prep_c<<<(unsigned)((rows + 7) / 8), 256, 0, e->stream>>>(e->c32, e->b, e->k, e->d, e->kp, e->dcp16,
                                                                     e->csigma, e->cterm, (__half *)e->cc16, e->cn,
                                                                     e->cmax);
    CU_LAUNCHED("certified mode: centroid copy");
    return FKM_OK;
}

/* ---- the assignment */

#define RSV_WARPS 8 /* warps per block of the resolve kernel, 32 rows each */

/* The exact step, a warp per 32 rows: the exact score of the candidate i1 (cert_exact's chain: the
 * SIMT kernel's bits), the rows staged through shared memory 32 features at a time so that the
 * float32 data is read coalesced; the point is proven (cert_proves) or joins its problem's list
 * (cert_append; with the split re-score kernel its label becomes -1 - its list position). A
 * problem with coff lists nothing (the SIMT kernel takes every row), and a warp with no row to
 * prove reads nothing. The 32 loads of a full stage go out together, and the centroid's 32
 * features too (one load at a time, each waited for, took 0.69 ms for the 1 GB of N = 4M D = 64
 * under ncu, H100). */
/* One warp's 32 rows from row0 (the body of both resolve kernels). CS: the centroids come from
 * shared memory cs (every problem's, pitch csp floats) instead of the float32 image in global
 * memory; a float4 gather there costs a few bank wavefronts, in L1 one per lane's line. */
template <bool CS>
__device__ __forceinline__ void resolve_warp(const fkm_cu_assign_args &a, int64_t bn, int64_t row0, float (*xs)[33],
                                             const float *cs, int64_t csp) {
    const int lane = threadIdx.x & 31;
    const int64_t g = row0 + lane, dp = a.x32_pitch;
    const int rows = (int)min((int64_t)32, bn - row0);
    const int64_t prob = lane < rows ? g / a.n : 0;
    const bool run = lane < rows && !(a.done && a.done[prob]);
    /* a problem with coff: the SIMT kernel takes every row (the lanes stay in the loop below, which
     * syncs the warp) */
    const bool live = run && !a.coff[prob];
    if (!__any_sync(0xffffffffu, live)) return; /* finished or coff: nothing to read */
    const int lab = live ? a.labels[g] : 0;
    const float *cr = CS ? cs + (prob * a.kp + lab) * csp : a.c32 + (prob * a.kp + lab) * a.c32_pitch;
    const float *xw = a.x32 + row0 * dp;
    float acc = 0.0f;
    for (int64_t f0 = 0; f0 < dp; f0 += 32) {
        const int64_t f = f0 + lane;
        const int m = (int)min((int64_t)32, dp - f0); /* a multiple of 4 */
        if (rows == 32 && m == 32) {
            float v[32];
#pragma unroll
            for (int r = 0; r < 32; r++) v[r] = __ldg(xw + r * dp + f);
#pragma unroll
            for (int r = 0; r < 32; r++) xs[r][lane] = v[r];
        } else {
            for (int r = 0; r < rows; r++) xs[r][lane] = f < dp ? xw[r * dp + f] : 0.0f;
        }
        __syncwarp();
        if (live && m == 32) {
            float4 cv[8];
#pragma unroll
            for (int q = 0; q < 8; q++)
                cv[q] = CS ? reinterpret_cast<const float4 *>(cr + f0)[q] : __ldg(reinterpret_cast<const float4 *>(cr + f0) + q);
#pragma unroll
            for (int q = 0; q < 8; q++) {
                acc = fmaf(xs[lane][4 * q], cv[q].x, acc);
                acc = fmaf(xs[lane][4 * q + 1], cv[q].y, acc);
                acc = fmaf(xs[lane][4 * q + 2], cv[q].z, acc);
                acc = fmaf(xs[lane][4 * q + 3], cv[q].w, acc);
            }
        } else if (live) {
            for (int j = 0; j < m; j += 4) {
                const float4 cv = CS ? *reinterpret_cast<const float4 *>(cr + f0 + j)
                                     : __ldg(reinterpret_cast<const float4 *>(cr + f0 + j));
                acc = fmaf(xs[lane][j], cv.x, acc);
                acc = fmaf(xs[lane][j + 1], cv.y, acc);
                acc = fmaf(xs[lane][j + 2], cv.z, acc);
                acc = fmaf(xs[lane][j + 3], cv.w, acc);
            }
        }
        __syncwarp();
    }
    bool need = false;
    if (live) {
        const float v = fmaf(-a.alpha, acc, a.cterm[prob * a.kp + lab]), l2 = a.best[g];
        need = !cert_proves(a, prob, g, v, l2);
        if (!need) a.best[g] = v;
    }
    const int pos = cert_append(a, prob, need, g - prob * a.n);
    if (pos >= 0 && a.ukey) a.labels[g] = -1 - pos;
}

__global__ void __launch_bounds__(RSV_WARPS * 32) k_cert_resolve(const fkm_cu_assign_args a, int64_t bn) {
    __shared__ float xs[RSV_WARPS][32][33];
    const int w = threadIdx.x >> 5;
    const int64_t row0 = ((int64_t)blockIdx.x * RSV_WARPS + w) * 32;
    if (row0 < bn) resolve_warp<false>(a, bn, row0, xs[w], NULL, 0);
}

/* The same with every problem's centroids staged once per block in shared memory (persistent
 * blocks striding over the warps' row groups): for small b * k * d, where the centroid gathers,
 * not the data, bounded the kernel. Pitch csp = c32_pitch + 4 floats: consecutive centroid rows
 * start in different 16-byte bank groups. */
__global__ void __launch_bounds__(RSV_WARPS * 32) k_cert_resolve_cs(const fkm_cu_assign_args a, int64_t bn, int64_t csp) {
    __shared__ float xs[RSV_WARPS][32][33];
    extern __shared__ float4 cs4[];
    float *cs = reinterpret_cast<float *>(cs4);
    const int64_t rows = (bn / a.n) * a.kp, q4 = a.c32_pitch / 4; /* b * kp rows of q4 float4 */
    for (int64_t i = threadIdx.x; i < rows * q4; i += blockDim.x) {
        const int64_t r = i / q4, q = i - r * q4;
        cs4[r * (csp / 4) + q] = __ldg(reinterpret_cast<const float4 *>(a.c32 + r * a.c32_pitch) + q);
    }
    __syncthreads();
    const int w = threadIdx.x >> 5;
    for (int64_t row0 = ((int64_t)blockIdx.x * RSV_WARPS + w) * 32; row0 < bn; row0 += (int64_t)gridDim.x * RSV_WARPS * 32)
        resolve_warp<true>(a, bn, row0, xs[w], cs, csp);
}

/* The exact step's launch: centroids in shared memory when every problem's fit in RSV_CS_BYTES
 * (and FKM_CU_CERT_RSV is not 0), else straight from global memory. */
#define RSV_CS_BYTES (96 * 1024)
#define RSV_XS_BYTES (sizeof(float) * RSV_WARPS * 32 * 33) /* xs of each resolve kernel */
static fkm_status cert_resolve(fkm_cu_engine *e, const fkm_cu_assign_args &r, int64_t bn) {
    const int64_t warps = (bn + 31) / 32, csp = r.c32_pitch + 4;
    const size_t cs = (size_t)(e->b * e->kp * csp) * sizeof(float);
    if (e->cert_rsv && r.c32_pitch % 4 == 0 && cs <= RSV_CS_BYTES) {
        /* the static transpose buffers count against the 48 KB default too */
        if (cs + RSV_XS_BYTES > 48 * 1024 && (size_t)e->rsv_raised < cs) {
            CU_RET(cudaFuncSetAttribute((const void *)k_cert_resolve_cs, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)cs));
            e->rsv_raised = (int)cs;
        }
        int per = 0;
        CU_RET(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per, k_cert_resolve_cs, RSV_WARPS * 32, cs));
        const int64_t need = (warps + RSV_WARPS - 1) / RSV_WARPS, most = (int64_t)e->sm_count * (per > 0 ? per : 1);
        k_cert_resolve_cs<<<(unsigned)(need < most ? need : most), RSV_WARPS * 32, cs, e->stream>>>(r, bn, csp);
    } else {
        k_cert_resolve<<<(unsigned)((warps + RSV_WARPS - 1) / RSV_WARPS), RSV_WARPS * 32, 0, e->stream>>>(r, bn);
    }
    CU_LAUNCHED("certified mode: exact scores");
    return FKM_OK;
}

#define FIN_TILES 4  /* SIMT tiles of 64 rows per block step (two warps each) */
#define FIN_LOCAL 4096 /* cluster counts in shared memory up to b * k of this */

/* The SIMT kernel's output stage over its own 64-row tiles, from the labels and exact scores:
 * the same distances, keys, changed labels, counts and inertia partials (fkm_store_row, then the
 * same xor tree per warp and the two warps in order). Blocks stride over the tiles; the counts
 * gather in shared memory (b * k <= FIN_LOCAL; integers: order-free) and the changed labels in a
 * register per warp, so the global atomics are few (one per row on a few counters cost as much as
 * the matrix work at k = 256). */
__global__ void __launch_bounds__(FIN_TILES * 64) k_cert_finish(const fkm_cu_assign_args a, int64_t b,
                                                                 const int32_t *ucount, int32_t *coff, int local) {
    extern __shared__ int scount[];
    __shared__ double red[FIN_TILES * 2];
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    const bool stats = a.tile_inertia != NULL, cnt = stats && a.counts;
    if (local && cnt)
        for (int64_t c = tid; c < b * a.k; c += blockDim.x) scount[c] = 0;
    if (blockIdx.x == 0) /* counts, and the tensor-core pass off once it re-scores more than half */
        for (int64_t p = tid; p < b; p += blockDim.x) {
            if (a.done && a.done[p]) continue;
            const int64_t r = coff[p] ? a.n : ucount[p];
            if (a.stats) a.stats[p].rescored = (unsigned long long)r;
            if (2 * r > a.n) coff[p] = 1;
        }
    __syncthreads();
    int64_t cprob = -1;
    unsigned cch = 0; /* changed labels of problem cprob, this warp */
    for (int64_t u0 = (int64_t)blockIdx.x * FIN_TILES; u0 < a.total_tiles; u0 += (int64_t)gridDim.x * FIN_TILES) {
        const int64_t u = u0 + (w >> 1), prob = u / a.tiles, row0 = (u - prob * a.tiles) * 64;
        const bool tile = u < a.total_tiles && !(a.done && a.done[prob]);
        const int64_t i = row0 + (w & 1) * 32 + lane, g = prob * a.n + i;
        const bool valid = tile && i < a.n;
        double contrib = 0.0;
        int changed = 0, lab = 0;
        if (valid) {
            lab = a.labels[g];
            float v;
            if (lab < 0) { /* re-scored by the split kernel: its key (cert_key) */
                v = cert_key_score(a.ukey[prob * a.n - 1 - lab], lab);
                if (v == 0.0f) v = cert_exact(a, prob, g, lab); /* the sign of a zero */
            } else {
                v = a.best[g];
            }
            contrib = fkm_store_row(a, prob, g, v, lab, fkm_row_input(a, g), changed);
        }
        if (stats && tile) {
            const unsigned vmask = __ballot_sync(0xffffffffu, valid);
            if (cnt && valid) {
                if (local) {
                    atomicAdd(&scount[prob * a.k + lab], 1);
                } else { /* lanes with the same label add once */
                    const unsigned peers = __match_any_sync(vmask, lab);
                    if (lane == __ffs(peers) - 1) atomicAdd(&a.counts[prob * a.k + lab], __popc(peers));
                }
            }
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) contrib += __shfl_xor_sync(0xffffffffu, contrib, o);
            const unsigned wch = __popc(__ballot_sync(0xffffffffu, changed));
            if (prob != cprob) {
                if (lane == 0 && cch && a.stats) atomicAdd(&a.stats[cprob].changed, (unsigned long long)cch);
                cprob = prob;
                cch = 0;
            }
            cch += wch;
            if (lane == 0) red[w] = contrib;
        }
        __syncthreads();
        if (stats && tile && (w & 1) == 0 && lane == 0) {
            double s = 0.0;
            s += red[w];
            s += red[w + 1];
            a.tile_inertia[u] = s;
        }
        __syncthreads();
    }
    if (lane == 0 && cch && a.stats) atomicAdd(&a.stats[cprob].changed, (unsigned long long)cch);
    if (!(local && cnt)) return;
    __syncthreads();
    for (int64_t c = tid; c < b * a.k; c += blockDim.x)
        if (scount[c]) atomicAdd(&a.counts[c], scount[c]);
}

fkm_status fkm_cu_assign_simt_list(const fkm_cu_engine *e, const fkm_cu_assign_args *a);

/* The problems the tensor-core pass skips: finished ones and those it no longer pays for. */
__global__ void k_cert_skip(int64_t b, const int32_t *done, const int32_t *coff, int32_t *skip) {
    const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p < b) skip[p] = (done && done[p]) || coff[p];
}

fkm_status fkm_cu_assign_cert(fkm_cu_engine *e, const fkm_cu_assign_args *a) {
    fkm_cu_assign_args c = *a; /* the fp16 pass: i1 into labels, l2 into best */
    c.x = (const char *)e->x16;
    c.x_pitch = c.x_bytes = e->dp16 * 2;
    c.c = (const char *)e->cc16;
    c.c_pitch = e->dcp16 * 2;
    c.nkc = (int)(c.c_pitch / FKM_CU_CHUNK);
    c.tiles = fkm_cu_kern_tiles(e->kern16, e->n);
    c.total_tiles = e->b * c.tiles;
    c.best = e->best;
    c.prev = NULL;
    c.keys = NULL;
    c.counts = NULL;
    c.tile_inertia = NULL;
    c.stats = NULL;
    c.cn = e->cn;
    c.xq = e->xq;
    c.calpha = e->calpha;
    c.cmax = e->cmax;
    c.cscale = e->cert_scale;
    k_cert_skip<<<(unsigned)((e->b + 255) / 256), 256, 0, e->stream>>>(e->b, a->done, e->coff, e->cskip);
    CU_LAUNCHED("certified mode: skip flags");
    c.done = e->cskip;
    CU_RET(cudaMemsetAsync(e->ucount, 0, (size_t)e->b * sizeof(int32_t), e->stream));
    fkm_status st = fkm_cu_kern_is_res(e->kern16) ? fkm_cu_assign_res(e, c, 1) : fkm_cu_assign_ps(e, c, 1);
    if (st != FKM_OK) return st;
    /* the SIMT-side kernels (exact step, re-score, output stage): the SIMT arguments and the list */
    fkm_cu_assign_args r = *a;
    r.coff = e->coff;
    r.xq = e->xq;
    r.cmax = e->cmax;
    r.x32 = (const float *)e->x;
    r.x32_pitch = e->dp;
    r.c32 = (const float *)e->cc;
    r.c32_pitch = e->dcp;
    r.uput = e->ulist;
    r.ucnt = e->ucount;
    r.ulist = e->ulist;
    r.ucount = e->ucount;
    r.ukey = e->ukey;
    const int64_t bn = e->b * e->n;
    if ((st = cert_resolve(e, r, bn)) != FKM_OK) return st;
    if ((st = fkm_cu_assign_simt_list(e, &r)) != FKM_OK) return st;
    const int64_t steps = (r.total_tiles + FIN_TILES - 1) / FIN_TILES; /* the SIMT kernel's b * tiles */
    const int64_t grid = steps < (int64_t)e->sm_count * 8 ? steps : (int64_t)e->sm_count * 8;
    const int local = e->b * e->k <= FIN_LOCAL;
    k_cert_finish<<<(unsigned)grid, FIN_TILES * 64, local ? (size_t)(e->b * e->k) * sizeof(int) : 0, e->stream>>>(
        r, e->b, e->ucount, e->coff, local);
    CU_LAUNCHED("certified mode: output stage");
    return FKM_OK;
}
