/* fuzz_api.c -- libFuzzer target for parameter/matrix validation and a tiny fit through the public
 * C API: the input bytes choose n, d, k, every enum (including out-of-range values), tol (any float
 * bits), weights, an init array, a batch of 1 or 2, cancellation, and the data (raw bits of any
 * dtype, or "tame" small values so that fits run to the end). Sizes stay tiny (n <= 48, d <= 16,
 * max_iter <= 6). Invariants: a known status with a one-line message; on success a sane result
 * that predict/transform/score agree with; on failure a zeroed result. */
#include "fuzz_common.h"

#include <stdlib.h>

static int api_cancel_at;
static int api_progress(int iter, int max_iter, const fkm_iter_stats *s, void *user) {
    (void)max_iter; (void)user;
    FUZZ_REQUIRE(s != NULL && iter >= 0);
    return iter == api_cancel_at;
}

static uint16_t api_half(float f) { /* exact for the multiples of 1/4 in [-32, 32) used when tame */
    if (f == 0) return 0;
    uint32_t b;
    memcpy(&b, &f, 4);
    int e = (int)((b >> 23) & 0xff) - 127 + 15;
    return (uint16_t)(((b >> 16) & 0x8000) | (e << 10) | ((b >> 13) & 0x3ff));
}

/* Element i of the data in dtype t: raw input bits, or a tame value byte/4 - 32. */
static void api_put(void *data, fkm_dtype t, int64_t i, fuzz_bytes *in, int tame) {
    if (tame) {
        const float v = (float)(int)fuzz_take(in, 1) / 4.0f - 32.0f;
        switch (t) {
        case FKM_F32: ((float *)data)[i] = v; break;
        case FKM_F64: ((double *)data)[i] = v; break;
        case FKM_F16: ((uint16_t *)data)[i] = api_half(v); break;
        case FKM_BF16: { uint32_t b; memcpy(&b, &v, 4); ((uint16_t *)data)[i] = (uint16_t)(b >> 16); break; }
        case FKM_U8: ((uint8_t *)data)[i] = (uint8_t)(v + 32); break;
        }
        return;
    }
    const size_t sz = fkm_dtype_size(t);
    const uint64_t v = fuzz_take(in, (int)sz);
    memcpy((char *)data + (size_t)i * sz, &v, sz);
}

static int api_zeroed(const fkm_result *r) { return !r->centroids && !r->labels && !r->stats && r->k == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
    fuzz_bytes in = {buf, len};
    const uint8_t n_raw = (uint8_t)fuzz_take(&in, 1), d_raw = (uint8_t)fuzz_take(&in, 1);
    const int64_t n = n_raw == 255 ? -1 : n_raw % 49, d = d_raw == 255 ? -1 : d_raw % 17;
    fkm_params p;
    fkm_params_default(&p);
    p.k = (int64_t)(fuzz_take(&in, 1) % 51) - 1;
    p.metric = (fkm_metric)(fuzz_take(&in, 1) % 4);
    p.init = (fkm_init)(fuzz_take(&in, 1) % 4);
    p.stop = (fkm_stop_rule)(fuzz_take(&in, 1) % 5);
    p.empty = (fkm_empty_policy)(fuzz_take(&in, 1) % 3);
    p.device = (fkm_device)(fuzz_take(&in, 1) % 4);
    p.precision = (fkm_precision)(fuzz_take(&in, 1) % 6);
    p.max_iter = (int)(fuzz_take(&in, 1) % 8) - 1;
    p.n_init = (int)(fuzz_take(&in, 1) % 4);
    const uint8_t flags = (uint8_t)fuzz_take(&in, 1);
    const fkm_dtype t = (fkm_dtype)(fuzz_take(&in, 1) % 6);
    const int tame = flags & 1, weighted = flags & 2, b = flags & 4 ? 2 : 1, raw_tol = flags & 8;
    p.freeze_init = (flags & 16) != 0;
    p.threads = flags & 32 ? 2 : 1;
    p.seed = fuzz_take(&in, 2);
    if (raw_tol) { uint32_t tb = (uint32_t)fuzz_take(&in, 4); float tf; memcpy(&tf, &tb, 4); p.tol = tf; }
    if (flags & 64) { api_cancel_at = (int)fuzz_take(&in, 1) % 8; p.progress_fn = api_progress; }

    const size_t esz = fkm_dtype_size(t) ? fkm_dtype_size(t) : 4;
    const int64_t rows = n > 0 ? b * n : 0, elems = d > 0 ? rows * d : 0;
    void *data = malloc((size_t)elems * esz + 1);
    float *w = weighted ? malloc(sizeof(float) * (size_t)(rows + 1)) : NULL;
    const int64_t kd = p.k > 0 && d > 0 ? p.k * d : 0;
    float *c0 = malloc(sizeof(float) * (size_t)(kd + 1));
    for (int64_t i = 0; i < elems; i++) api_put(data, fkm_dtype_size(t) ? t : FKM_F32, i, &in, tame);
    for (int64_t i = 0; w && i < rows; i++) {
        if (tame) w[i] = (float)(fuzz_take(&in, 1) % 4);
        else { uint32_t v = (uint32_t)fuzz_take(&in, 4); memcpy(&w[i], &v, 4); }
    }
    for (int64_t i = 0; i < kd; i++) {
        if (tame) c0[i] = (float)(int)fuzz_take(&in, 1) / 4.0f - 32.0f;
        else { uint32_t v = (uint32_t)fuzz_take(&in, 4); memcpy(&c0[i], &v, 4); }
    }
    if (p.init == FKM_INIT_ARRAY) p.init_centroids = c0;

    fkm_matrix m = {data, t, n, d, w};
    fuzz_check_status(fkm_params_validate(&p, n, d));
    fkm_result out[2];
    memset(out, 0x5A, sizeof out);
    fkm_status st = b == 1 ? fkm_fit(&p, &m, out) : fkm_fit_batch(&p, &m, b, out);
    fuzz_check_status(st);
    if (st == FKM_OK || st == FKM_ERR_CANCELLED) {
        for (int i = 0; i < b; i++) {
            if (st == FKM_ERR_CANCELLED && !out[i].centroids) continue; /* after the cancelled one */
            fuzz_check_result(&out[i], p.metric);
            FUZZ_REQUIRE(out[i].iterations <= (p.max_iter > 0 ? p.max_iter : 0));
        }
        /* predict / transform / score on the first problem agree with the fit */
        fkm_matrix m1 = {data, t, n, d, w};
        int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
        float *dist = malloc(sizeof(float) * (size_t)n), *all = malloc(sizeof(float) * (size_t)(n * p.k));
        double sc = 0;
        fkm_status s1 = fkm_predict(&p, &m1, out[0].centroids, p.k, lab, dist);
        fkm_status s2 = fkm_transform(&p, &m1, out[0].centroids, p.k, all);
        fkm_status s3 = fkm_score(&p, &m1, out[0].centroids, p.k, &sc);
        fuzz_check_status(s1); fuzz_check_status(s2); fuzz_check_status(s3);
        FUZZ_REQUIRE(s1 == FKM_OK && s2 == FKM_OK && s3 == FKM_OK);
        FUZZ_REQUIRE(memcmp(lab, out[0].labels, sizeof(int32_t) * (size_t)n) == 0);
        FUZZ_REQUIRE(sc == out[0].inertia);
        for (int64_t i = 0; i < n * p.k; i++)
            FUZZ_REQUIRE(isfinite(all[i]) && (p.metric == FKM_METRIC_IP || all[i] >= 0));
        free(lab); free(dist); free(all);
        fkm_result_free(&out[0]);
        if (b == 2) fkm_result_free(&out[1]);
    } else {
        for (int i = 0; i < b; i++) FUZZ_REQUIRE(api_zeroed(&out[i]));
    }
    free(data); free(w); free(c0);
    return 0;
}
