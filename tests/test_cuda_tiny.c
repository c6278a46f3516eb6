/* test_cuda_tiny.c -- the tiny-problem loop (src/cuda/iteration/tiny.cu: one block runs one
 * problem's whole fit) against the general device loop, through fkm_cuda_fit.
 *
 * Precision exact: problem q of a batch through the tiny loop gets the same bits (centroids,
 * labels, inertia, iterations) as problem q fitted alone by the general loop, on random shapes,
 * dtypes, metrics, weights, empty-cluster policies, stop rules and chunk edges (n not a multiple
 * of the update's chunk); labels also against the float64 oracle. fp16/bf16: labels against the
 * oracle within the precision's margin and the same bits run after run. And the default choice: a batch of many small problems
 * takes the tiny loop, FKM_CU_TINY=0 turns it off. Skipped (exit 77) without a GPU. */
#include "test_cuda.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef FKM_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashkmeans_cuda.h>


typedef struct {
    int64_t b, n, d, k;
    fkm_precision prec;
    int metric, weighted, dup;
    fkm_empty_policy empty;
    fkm_stop_rule rule;
    fkm_init init;
    uint64_t seed;
} tcase;

typedef struct {
    float *c;
    int32_t *l;
    int *it;
    double *in;
    char kernel[32];
    fkm_status st;
} tout;

static void tout_free(tout *o) { free(o->c); free(o->l); free(o->it); free(o->in); }

static fkm_dtype case_dtype(const tcase *t) {
    if (t->prec == FKM_PREC_BF16) return FKM_BF16;
    return t->prec != FKM_PREC_EXACT || (t->seed & 1) ? FKM_F16 : FKM_F32; /* exact on half data: the fp32 copy */
}

/* One device fit with FKM_CU_TINY set to `mode` ("1", "0" or NULL: the default): of the whole
 * batch (one < 0), or of problem `one` alone (seed + one, as in the batch). */
static tout run_fit(const tcase *t, const void *dx, const float *dw, const char *mode, int64_t one) {
    tout o = {0};
    const int64_t b = one < 0 ? t->b : 1, n = t->n, d = t->d, k = t->k;
    if (mode) setenv("FKM_CU_TINY", mode, 1);
    else unsetenv("FKM_CU_TINY");
    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = t->rule == FKM_STOP_FIXED ? 7 : 30; p.stop = t->rule; p.tol = 1e-4;
    p.init = t->init; p.seed = t->seed + (uint64_t)(one < 0 ? 0 : one); p.metric = (fkm_metric)t->metric;
    p.precision = t->prec; p.empty = t->empty; p.device = FKM_DEVICE_CUDA;
    const fkm_dtype dt = case_dtype(t);
    const int64_t off = one < 0 ? 0 : one * n;
    fkm_cuda_matrix m = {(const char *)dx + off * d * (int64_t)fkm_dtype_size(dt), dt, b, n, d, dw ? dw + off : NULL};
    void *dc = NULL, *dl = NULL;
    o.c = malloc((size_t)(b * k * d) * 4);
    o.l = malloc((size_t)(b * n) * 4);
    o.it = malloc((size_t)b * sizeof(int));
    o.in = malloc((size_t)b * sizeof(double));
    if (cudaMalloc(&dc, (size_t)(b * k * d) * 4) != cudaSuccess || cudaMalloc(&dl, (size_t)(b * n) * 4) != cudaSuccess) {
        o.st = FKM_ERR_NO_MEMORY;
        cudaFree(dc);
        return o;
    }
    fkm_cuda_fit_info info;
    memset(&info, 0, sizeof info);
    o.st = fkm_cuda_fit(&p, &m, (float *)dc, (int32_t *)dl, o.it, o.in, &info, NULL, 0, NULL);
    if (o.st == FKM_OK) {
        snprintf(o.kernel, sizeof o.kernel, "%s", info.kernel ? info.kernel : "?");
        cudaMemcpy(o.c, dc, (size_t)(b * k * d) * 4, cudaMemcpyDeviceToHost);
        cudaMemcpy(o.l, dl, (size_t)(b * n) * 4, cudaMemcpyDeviceToHost);
    }
    cudaFree(dc);
    cudaFree(dl);
    unsetenv("FKM_CU_TINY");
    return o;
}

static void describe(const tcase *t, char *buf, size_t len) {
    snprintf(buf, len, "b=%lld n=%lld d=%lld k=%lld %s metric %d w %d dup %d empty %d rule %d init %d seed %llu",
             (long long)t->b, (long long)t->n, (long long)t->d, (long long)t->k, fkm_precision_str(t->prec), t->metric,
             t->weighted, t->dup, (int)t->empty, (int)t->rule, (int)t->init, (unsigned long long)t->seed);
}

static void check_case(const tcase *t) {
    const int64_t b = t->b, n = t->n, d = t->d, k = t->k, bn = b * n;
    char what[200];
    describe(t, what, sizeof what);
    double *x64 = malloc((size_t)(bn * d) * sizeof(double));
    float *x32 = malloc((size_t)(bn * d) * sizeof(float)), *w = NULL;
    gen_blobs(t->seed, bn, d, k > 1 ? k / 2 + 1 : 1, 1.0, x64, x32);
    if (t->dup) /* a few distinct rows repeated: clusters go empty */
        for (int64_t i = 0; i < bn; i++)
            for (int64_t j = 0; j < d; j++) x32[i * d + j] = x32[(i % 5) * d + j];
    const fkm_dtype dt = case_dtype(t);
    void *in = make_input(dt, x32, x64, bn * d);
    if (t->weighted) {
        uint64_t r = t->seed ^ 0x5151;
        w = malloc((size_t)bn * sizeof(float));
        for (int64_t i = 0; i < bn; i++) w[i] = (float)(0.25 + 2 * gen_unif(&r));
        if (bn > 3) w[bn / 3] = 0.0f; /* a zero weight */
    }
    void *dx = NULL, *dw = NULL;
    const size_t es = fkm_dtype_size(dt);
    int ok = cudaMalloc(&dx, (size_t)(bn * d) * es) == cudaSuccess;
    if (ok && w) ok = cudaMalloc(&dw, (size_t)bn * 4) == cudaSuccess;
    CHECK(ok, "cudaMalloc: %s", what);
    if (ok) {
        cudaMemcpy(dx, in, (size_t)(bn * d) * es, cudaMemcpyHostToDevice);
        if (w) cudaMemcpy(dw, w, (size_t)bn * 4, cudaMemcpyHostToDevice);
        /* the batch through the tiny loop; each problem alone through the general loop */
        tout a = run_fit(t, dx, (const float *)dw, "1", -1), g = {0};
        g.c = malloc((size_t)(b * k * d) * 4);
        g.l = malloc((size_t)bn * 4);
        g.it = malloc((size_t)b * sizeof(int));
        g.in = malloc((size_t)b * sizeof(double));
        for (int64_t q = 0; q < b && g.st == FKM_OK; q++) {
            tout o = run_fit(t, dx, (const float *)dw, "0", q);
            g.st = o.st;
            if (o.st == FKM_OK) {
                memcpy(g.c + q * k * d, o.c, (size_t)(k * d) * 4);
                memcpy(g.l + q * n, o.l, (size_t)n * 4);
                g.it[q] = o.it[0];
                g.in[q] = o.in[0];
                snprintf(g.kernel, sizeof g.kernel, "%s", o.kernel);
            }
            tout_free(&o);
        }
        CHECK(a.st == FKM_OK && g.st == FKM_OK, "%s: fit failed: %s", what, fkm_last_error());
        if (a.st == FKM_OK && g.st == FKM_OK) {
            CHECK(strncmp(a.kernel, "tiny", 4) == 0 && strncmp(g.kernel, "tiny", 4) != 0,
                  "%s: kernels %s / %s (the tiny loop forced on / off)", what, a.kernel, g.kernel);
            int64_t bad = 0;
            double *c64 = malloc((size_t)(k * d) * sizeof(double));
            for (int64_t q = 0; q < b; q++) {
                for (int64_t i = 0; i < k * d; i++) c64[i] = a.c[q * k * d + i];
                bad += oracle_bad(x64 + q * n * d, n, d, c64, k, t->metric, a.l + q * n, NULL, margin_of(t->prec), NULL);
            }
            free(c64);
            CHECK(bad == 0, "%s: %lld labels of the tiny loop off the float64 oracle", what, (long long)bad);
            if (t->prec == FKM_PREC_EXACT) {
                int64_t q = 0;
                while (q < b && a.it[q] == g.it[q] && a.in[q] == g.in[q] &&
                       memcmp(a.c + q * k * d, g.c + q * k * d, (size_t)(k * d) * 4) == 0 &&
                       memcmp(a.l + q * n, g.l + q * n, (size_t)n * 4) == 0)
                    q++;
                CHECK(q == b, "%s: problem %lld of the tiny batch differs from its fit alone (%d vs %d iterations, "
                      "inertia %.17g vs %.17g)", what, (long long)q, q < b ? a.it[q] : -1, q < b ? g.it[q] : -1,
                      q < b ? a.in[q] : 0.0, q < b ? g.in[q] : 0.0);
            } else { /* near-ties may go either way, and the fits part from there: no comparison */
                tout r = run_fit(t, dx, (const float *)dw, "1", -1);
                CHECK(r.st == FKM_OK && memcmp(a.c, r.c, (size_t)(b * k * d) * 4) == 0 &&
                      memcmp(a.l, r.l, (size_t)bn * 4) == 0, "%s: two tiny runs differ", what);
                tout_free(&r);
            }
        }
        tout_free(&a);
        tout_free(&g);
    }
    cudaFree(dx);
    cudaFree(dw);
    free(x64); free(x32); free(w); free(in);
}

/* The default: many small problems take the tiny loop; FKM_CU_TINY=0 turns it off; few problems,
 * or problems of more than 2^20 multiply-adds, take the general loop. */
static void check_default(void) {
    int dev = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    tcase t = {sms + 3, 256, 8, 16, FKM_PREC_FP16, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 4};
    const int64_t bn = t.b * t.n;
    double *x64 = malloc((size_t)(bn * t.d) * sizeof(double));
    float *x32 = malloc((size_t)(bn * t.d) * sizeof(float));
    gen_blobs(9, bn, t.d, t.k, 1.0, x64, x32);
    void *in = make_input(FKM_F16, x32, x64, bn * t.d), *dx = NULL;
    if (cudaMalloc(&dx, (size_t)(bn * t.d) * 2) == cudaSuccess) {
        cudaMemcpy(dx, in, (size_t)(bn * t.d) * 2, cudaMemcpyHostToDevice);
        tout a = run_fit(&t, dx, NULL, NULL, -1), g = run_fit(&t, dx, NULL, "0", -1);
        CHECK(a.st == FKM_OK && strncmp(a.kernel, "tiny", 4) == 0, "b=%lld small problems ran %s by default",
              (long long)t.b, a.kernel);
        CHECK(g.st == FKM_OK && strncmp(g.kernel, "tiny", 4) != 0, "FKM_CU_TINY=0 still ran %s", g.kernel);
        tout_free(&a);
        tout_free(&g);
        t.b = 2; /* fewer problems than SMs: the general loop */
        tout s = run_fit(&t, dx, NULL, NULL, -1);
        CHECK(s.st == FKM_OK && strncmp(s.kernel, "tiny", 4) != 0, "b=2 ran %s by default", s.kernel);
        tout_free(&s);
    }
    cudaFree(dx);
    free(x64); free(x32); free(in);
    /* many problems of more than 2^20 multiply-adds each (n k d = 4096 x 64 x 8): the general loop,
     * which measured faster there (tiny.cu) */
    tcase l = {sms + 3, 4096, 8, 64, FKM_PREC_FP16, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 5};
    const int64_t ln = l.b * l.n;
    x64 = malloc((size_t)(ln * l.d) * sizeof(double));
    x32 = malloc((size_t)(ln * l.d) * sizeof(float));
    gen_blobs(10, ln, l.d, l.k, 1.0, x64, x32);
    in = make_input(FKM_F16, x32, x64, ln * l.d);
    dx = NULL;
    if (cudaMalloc(&dx, (size_t)(ln * l.d) * 2) == cudaSuccess) {
        cudaMemcpy(dx, in, (size_t)(ln * l.d) * 2, cudaMemcpyHostToDevice);
        tout o = run_fit(&l, dx, NULL, NULL, -1);
        CHECK(o.st == FKM_OK && strncmp(o.kernel, "tiny", 4) != 0, "b=%lld problems of n k d = 2^21 ran %s by default",
              (long long)l.b, o.kernel);
        tout_free(&o);
    }
    cudaFree(dx);
    free(x64); free(x32); free(in);
}

static int64_t pick(uint64_t *r, const int64_t *v, int nv) { return v[gen_next(r) % (uint64_t)nv]; }

int main(int argc, char **argv) {
    int cases = argc > 1 ? atoi(argv[1]) : 120;
    if (fkm_cuda_device_count() < 1) {
        printf("SKIP: no CUDA device\n");
        return 77;
    }
    /* fixed cases first: chunk edges (P = 64 below 2^19 points), empties, every rule */
    const tcase fixed[] = {
        {3, 1000, 5, 7, FKM_PREC_EXACT, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 2},
        {3, 1000, 5, 7, FKM_PREC_EXACT, 0, 1, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 3},
        {5, 97, 8, 16, FKM_PREC_EXACT, 0, 0, 1, FKM_EMPTY_FARTHEST, FKM_STOP_FIXED, FKM_INIT_RANDOM, 4},
        {5, 97, 8, 16, FKM_PREC_EXACT, 0, 0, 1, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 6},
        {4, 4096, 8, 16, FKM_PREC_EXACT, 0, 0, 0, FKM_EMPTY_FARTHEST, FKM_STOP_LABELS, FKM_INIT_KMEANSPP, 8},
        {4, 4096, 8, 16, FKM_PREC_EXACT, 0, 1, 0, FKM_EMPTY_FARTHEST, FKM_STOP_INERTIA, FKM_INIT_KMEANSPP, 10},
        {4, 333, 32, 256, FKM_PREC_EXACT, 0, 0, 0, FKM_EMPTY_FARTHEST, FKM_STOP_SHIFT, FKM_INIT_RANDOM, 12},
        {2, 65536, 2, 2, FKM_PREC_EXACT, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 14},
        {6, 500, 17, 9, FKM_PREC_EXACT, 1, 0, 0, FKM_EMPTY_FARTHEST, FKM_STOP_FIXED, FKM_INIT_RANDOM, 16},
        {6, 500, 17, 9, FKM_PREC_EXACT, 2, 1, 0, FKM_EMPTY_KEEP, FKM_STOP_INERTIA, FKM_INIT_RANDOM, 18},
        {3, 1, 4, 1, FKM_PREC_EXACT, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 20},
        {70, 64, 1, 3, FKM_PREC_EXACT, 0, 1, 0, FKM_EMPTY_FARTHEST, FKM_STOP_LABELS, FKM_INIT_RANDOM, 22},
        {8, 4096, 8, 16, FKM_PREC_FP16, 0, 0, 0, FKM_EMPTY_KEEP, FKM_STOP_FIXED, FKM_INIT_RANDOM, 24},
        {8, 2000, 16, 64, FKM_PREC_BF16, 0, 1, 0, FKM_EMPTY_FARTHEST, FKM_STOP_FIXED, FKM_INIT_RANDOM, 26},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) check_case(&fixed[i]);
    uint64_t r = 0x7117;
    const int64_t bs[] = {1, 2, 3, 7, 33}, ns[] = {1, 2, 5, 16, 63, 64, 65, 100, 257, 1000, 3000},
                  ds[] = {1, 2, 3, 4, 5, 8, 9, 16, 17, 31, 32}, ks[] = {1, 2, 3, 7, 16, 40, 100, 256};
    const fkm_precision ps[] = {FKM_PREC_EXACT, FKM_PREC_EXACT, FKM_PREC_EXACT, FKM_PREC_FP16, FKM_PREC_BF16};
    for (int c = 0; c < cases; c++) {
        tcase t;
        t.b = pick(&r, bs, 5); t.n = pick(&r, ns, 11); t.d = pick(&r, ds, 11); t.k = pick(&r, ks, 8);
        if (t.k > t.n) t.k = t.n;
        t.prec = ps[gen_next(&r) % 5];
        t.metric = (int)(gen_next(&r) % 3);
        t.weighted = (int)(gen_next(&r) % 2);
        t.dup = gen_next(&r) % 4 == 0;
        t.empty = gen_next(&r) % 2 ? FKM_EMPTY_FARTHEST : FKM_EMPTY_KEEP;
        t.rule = (fkm_stop_rule)(gen_next(&r) % 4);
        t.init = gen_next(&r) % 3 == 0 ? FKM_INIT_KMEANSPP : FKM_INIT_RANDOM;
        t.seed = 1000 + (uint64_t)c;
        check_case(&t);
    }
    check_default();
    return check_report();
}
#else
int main(void) {
    printf("SKIP: built without CUDA\n");
    return 77;
}
#endif
