/* prep.cu -- once-per-fit device passes: the compute-type copy of the points (converted,
 * padded, normalised for cosine, validated) with their norms; the centroid copy with its norms;
 * the feature variance that scales the shift stop rule; gathering rows as centroids.
 * Every sum here runs in a fixed order, so the results are the same bits on every run. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>

#include "../cu_device.cuh"

/* Record the first bad element (lowest linear index wins): code 1 NaN, 2 Inf, 3 too large,
 * 4 all-zero row under cosine. */
__device__ __forceinline__ void record_bad(unsigned long long *err, int64_t pos, int code) {
    atomicMin(err, ((unsigned long long)pos << 3) | (unsigned long long)code);
}

/* One warp per row. dst == NULL: the source already is the compute copy (norms only). */
__global__ void k_prep_x(const void *src, int t, int64_t rows, int64_t d, void *dst, int64_t dp, int ct,
                         int metric, int normalise, float lim, float *xterm, unsigned long long *err) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    const int64_t base = row * d;
    double n2 = 0.0;
    for (int64_t j = lane; j < d; j += 32) {
        const float v = load_as_float(src, t, base + j);
        if (err) {
            if (isnan(v)) record_bad(err, base + j, 1);
            else if (isinf(v)) record_bad(err, base + j, 2);
            else if (fabsf(v) > lim) record_bad(err, base + j, 3);
        }
        n2 += (double)v * v;
    }
    float inv = 1.0f;
    if (normalise) {
        n2 = warp_sum(n2);
        if (n2 == 0.0) {
            if (err && lane == 0) record_bad(err, base, 4);
            n2 = 1.0;
        }
        inv = (float)(1.0 / sqrt(n2));
    }
    float s = 0.0f;
    const int64_t width = dst ? dp : d;
    for (int64_t j = lane; j < width; j += 32) {
        float v = j < d ? load_as_float(src, t, base + j) * inv : 0.0f;
        if (dst) {
            v = round_ct(v, ct, 0);
            store_ct(dst, ct, row * dp + j, v);
        }
        s = fmaf(v, v, s);
    }
    s = warp_sum(s);
    if (lane == 0) xterm[row] = metric == FKM_METRIC_L2 ? s : metric == FKM_METRIC_COSINE ? 1.0f : 0.0f;
}

fkm_status fkm_cu_prep_x(fkm_cu_engine *e, const void *src, fkm_dtype t, int normalise, int validate) {
    const int64_t rows = e->b * e->n;
    const float lim = (float)sqrt(3.0e37 / (double)e->d); /* as src/core/convert.c */
    unsigned long long *err = validate ? (unsigned long long *)e->err : NULL;
    if (err) CU_RET(cudaMemsetAsync(err, 0xff, sizeof(unsigned long long), e->stream));
    const unsigned grid = (unsigned)((rows + 7) / 8);
    k_prep_x<<<grid, 256, 0, e->stream>>>(src, (int)t, rows, e->d, e->xcopy, e->dp, e->ctype, (int)e->metric,
                                          normalise, lim, e->xterm, err);
    CU_LAUNCHED("data preparation kernel");
    if (e->cert) { /* the certified mode's fp16 copy, from the float32 values the SIMT kernel reads */
        const fkm_status cs = fkm_cu_cert_prep_x(e, (const float *)(e->xcopy ? e->xcopy : src));
        if (cs != FKM_OK) return cs;
    }
    if (!err) return FKM_OK;
    unsigned long long h = 0;
    CU_RET(cudaMemcpyAsync(&h, err, sizeof h, cudaMemcpyDeviceToHost, e->stream));
    CU_RET(cudaStreamSynchronize(e->stream));
    if (h == ~0ull) return FKM_OK;
    const int64_t pos = (int64_t)(h >> 3), prob = pos / (e->n * e->d), i = pos / e->d % e->n, j = pos % e->d;
    static const char *what[] = {"", "NaN", "Inf", "too large: squared norms would overflow float32; rescale the data",
                                 "an all-zero row: cosine distance is undefined for it"};
    if ((h & 7) == 4)
        return e->b > 1 ? FKM_FAIL(FKM_ERR_BAD_INPUT, "problem %lld: row %lld is %s", (long long)prob, (long long)i, what[4])
                        : FKM_FAIL(FKM_ERR_BAD_INPUT, "row %lld is %s", (long long)i, what[4]);
    if (e->b > 1)
        return FKM_FAIL(FKM_ERR_BAD_INPUT, "problem %lld: data[%lld][%lld] is %s", (long long)prob, (long long)i,
                        (long long)j, what[h & 7]);
    return FKM_FAIL(FKM_ERR_BAD_INPUT, "data[%lld][%lld] is %s", (long long)i, (long long)j, what[h & 7]);
}

/* One warp per padded centroid row: c32 -> cc (rounded to the compute type), cterm. With `tiled`
 * (rows per tile, 128 or 64) the copy is stored as the wgmma kernels' shared-memory image: per tile
 * and per 128-byte k-block, a block of rows with 16-byte chunk c of row r at chunk c ^ (r & 7). */
__global__ void k_prep_c(const float *c32, int64_t b, int64_t k, int64_t d, int64_t kp, void *cc, int64_t dcp,
                         int ct, int tf32, int l2, int tiled, float *cterm) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    if (row >= b * kp) return;
    const int64_t prob = row / kp, r = row - prob * kp;
    fkm_cc_row(r < k ? c32 + (prob * k + r) * d : NULL, prob, r, d, kp, cc, dcp, ct, tf32, l2, tiled, cterm);
}

fkm_status fkm_cu_prep_centroids(fkm_cu_engine *e) {
    const int64_t rows = e->b * e->kp;
    k_prep_c<<<(unsigned)((rows + 7) / 8), 256, 0, e->stream>>>(e->c32, e->b, e->k, e->d, e->kp, e->cc, e->dcp,
                                                               e->ctype, e->prec == FKM_PREC_TF32,
                                                               e->metric == FKM_METRIC_L2, e->cc_tiled, e->cterm);
    CU_LAUNCHED("centroid preparation kernel");
    return e->cert ? fkm_cu_cert_prep_c(e) : FKM_OK;
}

/* All n x k distances (transform) for rows [row0, row0 + rows): fp32 dot products of the
 * compute-type points and the centroids rounded as the assignment sees them. The score
 * fmaf(-alpha, dot, cterm) is the SIMT kernel's, bit for bit (the same chain in feature order), and
 * |x|^2 is added to it last: adding is monotone, so in precision exact the distance at predict's
 * label is the smallest of its row (test_cuda_cert), where |x|^2 + |c|^2 - alpha dot was not. */
__global__ void k_distances(const void *x, const float *c32, int ct, int tf32, int64_t dp, int64_t d, int64_t k,
                            const float *xterm, const float *cterm, float alpha, int clamp, int64_t row0,
                            int64_t rows, float *out) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t r = blockIdx.y + (int64_t)blockIdx.z * 65535;
    if (c >= k || r >= rows) return;
    const int64_t i = row0 + r;
    const int t = fkm_ct_dtype(ct);
    float dot = 0.0f;
    for (int64_t j = 0; j < d; j++) dot = fmaf(load_as_float(x, t, i * dp + j), round_ct(c32[c * d + j], ct, tf32), dot);
    const float v = xterm[i] + fmaf(-alpha, dot, cterm[c]);
    out[r * k + c] = clamp && v < 0.0f ? 0.0f : v;
}

fkm_status fkm_cu_distances(fkm_cu_engine *e, float *out, int64_t row0, int64_t rows) {
    dim3 g((unsigned)((e->k + 127) / 128), (unsigned)(rows < 65535 ? rows : 65535), (unsigned)((rows + 65534) / 65535));
    k_distances<<<g, 128, 0, e->stream>>>(e->x, e->c32, e->ctype, e->prec == FKM_PREC_TF32, e->dp, e->d, e->k,
                                          e->xterm, e->cterm, e->metric == FKM_METRIC_L2 ? 2.0f : 1.0f,
                                          e->metric == FKM_METRIC_L2, row0, rows, out);
    CU_LAUNCHED("distance kernel");
    return FKM_OK;
}

/* Feature variance, stage 1: per (problem, block of VROWS rows, feature) sums in float64. */
#define VROWS 1024
__global__ void k_var_part(const void *x, int ct, int64_t n, int64_t dp, int64_t d, int64_t nvc, double *part) {
    const int64_t j = (int64_t)blockIdx.y * blockDim.x + threadIdx.x;
    const int64_t prob = blockIdx.x / nvc, c = blockIdx.x - prob * nvc;
    if (j >= d) return;
    double s = 0.0, s2 = 0.0;
    const int64_t r1 = min(n, (c + 1) * VROWS);
    for (int64_t r = c * VROWS; r < r1; r++) {
        const double v = load_as_float(x, fkm_ct_dtype(ct),
                                       (prob * n + r) * dp + j);
        s += v;
        s2 += v * v;
    }
    part[(blockIdx.x * d + j) * 2] = s;
    part[(blockIdx.x * d + j) * 2 + 1] = s2;
}

/* Stage 2: one block per problem; features in a fixed tree. */
__global__ void k_var_final(const double *part, int64_t n, int64_t d, int64_t nvc, double *var) {
    __shared__ double red[256];
    const int64_t prob = blockIdx.x;
    double tot = 0.0;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        double s = 0.0, s2 = 0.0;
        for (int64_t c = 0; c < nvc; c++) {
            s += part[((prob * nvc + c) * d + j) * 2];
            s2 += part[((prob * nvc + c) * d + j) * 2 + 1];
        }
        const double m = s / n, v = s2 / n - m * m;
        tot += v > 0 ? v : 0;
    }
    red[threadIdx.x] = tot;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) var[prob] = red[0] / d;
}

fkm_status fkm_cu_compute_var(fkm_cu_engine *e) {
    const int64_t nvc = (e->n + VROWS - 1) / VROWS;
    dim3 g((unsigned)(e->b * nvc), (unsigned)((e->d + 127) / 128));
    k_var_part<<<g, 128, 0, e->stream>>>(e->x, e->ctype, e->n, e->dp, e->d, nvc, (double *)e->part);
    CU_LAUNCHED("variance kernel");
    k_var_final<<<(unsigned)e->b, 256, 0, e->stream>>>((const double *)e->part, e->n, e->d, nvc, e->var);
    CU_LAUNCHED("variance kernel");
    return FKM_OK;
}

size_t fkm_cu_var_scratch(int64_t b, int64_t n, int64_t d) {
    return (size_t)(b * ((n + VROWS - 1) / VROWS)) * (size_t)d * 2 * sizeof(double);
}

/* c32[prob][i] = x[prob][rows[prob * k + i]] as float32. One warp per centroid. */
__global__ void k_gather(const void *x, int ct, int64_t n, int64_t dp, int64_t d, int64_t b, int64_t k,
                         const int64_t *rows, float *c32) {
    const int64_t ci = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (ci >= b * k) return;
    const int64_t prob = ci / k, r = rows[ci];
    const int t = fkm_ct_dtype(ct);
    for (int64_t j = lane; j < d; j += 32) c32[ci * d + j] = load_as_float(x, t, (prob * n + r) * dp + j);
}

fkm_status fkm_cu_gather_rows(fkm_cu_engine *e, const int64_t *rows_dev) {
    k_gather<<<(unsigned)((e->b * e->k + 7) / 8), 256, 0, e->stream>>>(e->x, e->ctype, e->n, e->dp, e->d, e->b, e->k,
                                                                      rows_dev, e->c32);
    CU_LAUNCHED("centroid gather kernel");
    /* Cosine: rows of a half-precision compute copy were rounded there, so no longer unit: made
     * unit again, as every cosine centroid is (the GPU soak found fits with max_iter = 0 whose
     * returned centroids fkm_score/fkm_predict re-normalised, giving another inertia). Float32
     * copies hold the unit rows themselves: left as they are. Every seeding that takes data rows
     * (random, k-means++, k-means||, both APIs) ends here. */
    if (e->metric == FKM_METRIC_COSINE && e->ctype != FKM_CT_F32) return fkm_cu_normalise_centroids(e);
    return FKM_OK;
}

/* Unit-normalise rows of c32 (cosine initial centroids); all-zero rows are left as they are. */
__global__ void k_norm_rows(float *c, int64_t rows, int64_t d) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (row >= rows) return;
    float *r = c + row * d;
    double n2 = 0.0;
    for (int64_t j = lane; j < d; j += 32) n2 += (double)r[j] * r[j];
    n2 = warp_sum(n2);
    if (n2 == 0.0) return;
    const double s = sqrt(n2);
    for (int64_t j = lane; j < d; j += 32) r[j] = (float)(r[j] / s);
}

fkm_status fkm_cu_normalise_centroids(fkm_cu_engine *e) {
    const int64_t rows = e->b * e->k;
    k_norm_rows<<<(unsigned)((rows + 7) / 8), 256, 0, e->stream>>>(e->c32, rows, e->d);
    CU_LAUNCHED("centroid normalisation kernel");
    return FKM_OK;
}
