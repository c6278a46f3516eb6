/* test_cpu_transform.c -- fkm_transform on the CPU (src/cpu/transform*.c), through the public API
 * with every kernel this CPU can run forced by the internal hook fkm_cpu_assign_set_kernel:
 *   - every kernel and thread count gives the same bits as the unpacked "naive" loop;
 *   - every distance is within a rigorous fp32 error bound of the float64 oracle (tests/ref);
 *   - L2 and cosine distances are >= 0 (clamped), also where a point sits on a centroid;
 *   - row i's minimum sits at fkm_predict's label (the same arithmetic as the assignment), and
 *     for cosine and IP equals fkm_predict's distance bit for bit (L2 predict distances are
 *     recomputed exactly, so those are checked against the oracle instead).
 * Shapes cover every panel/tile remainder; larger ones cross the chunk and cache-block bounds. */
#include "check.h"
#include "cpu/cpu.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <math.h>
#include <string.h>

static const char *const KERNELS[] = {"avx512", "avx2", "portable", "naive"};
enum { NK = 4 };

typedef struct {
    int64_t n, d, k;
    int metric;
    float *x, *c;
} problem;

/* Gaussian data around +0.5 (so L2 has a non-trivial offset); centroids: the first k points
 * (distance 0 on the diagonal: the clamp matters) when on_points, else fresh draws. */
static problem problem_new(uint64_t seed, int64_t n, int64_t d, int64_t k, int metric, int on_points) {
    problem p = {n, d, k, metric, malloc((size_t)(n * d) * sizeof(float)), malloc((size_t)(k * d) * sizeof(float))};
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    for (int64_t i = 0; i < n * d; i++) p.x[i] = (float)(gen_normal(&s) + 0.5);
    for (int64_t i = 0; i < k * d; i++) p.c[i] = on_points && i < n * d ? p.x[i] : (float)(gen_normal(&s) + 0.5);
    return p;
}

static fkm_params params(const problem *p, int threads) {
    fkm_params q;
    fkm_params_default(&q);
    q.device = FKM_DEVICE_CPU;
    q.metric = (fkm_metric)p->metric;
    q.threads = threads;
    return q;
}

/* All n x k distances with `kernel` forced (poisoned output first); NULL on failure. */
static float *transform(const problem *p, const char *kernel, int threads) {
    float *out = malloc((size_t)(p->n * p->k) * sizeof(float));
    for (int64_t i = 0; i < p->n * p->k; i++) out[i] = NAN;
    CHECK(fkm_cpu_assign_set_kernel(kernel) == 0, "cannot force kernel %s", kernel);
    fkm_params q = params(p, threads);
    fkm_matrix m = {p->x, FKM_F32, p->n, p->d, NULL};
    const fkm_status st = fkm_transform(&q, &m, p->c, p->k, out);
    fkm_cpu_assign_set_kernel(NULL);
    CHECK(st == FKM_OK, "transform (%s): %s", kernel, fkm_last_error());
    if (st != FKM_OK) { free(out); return NULL; }
    return out;
}

/* Distances farther from the oracle than the fp32 bound: the dot product errs by at most
 * (d + 2) u sum|x_j c_j| (plus 2u for the rounding of unit vectors under cosine), |x|^2 and |c|^2
 * by d u times themselves, the two final roundings by u each of what they sum. */
static int64_t oracle_misses(const problem *p, const float *out, int64_t *neg) {
    const double u = 0x1p-24;
    const int64_t d = p->d;
    double *x = malloc((size_t)d * sizeof(double)), *c = malloc((size_t)d * sizeof(double));
    int64_t bad = 0;
    *neg = 0;
    for (int64_t i = 0; i < p->n; i++)
        for (int64_t j = 0; j < p->k; j++) {
            double xx = 0, cc = 0, ab = 0;
            for (int64_t t = 0; t < d; t++) x[t] = p->x[i * d + t], c[t] = p->c[j * d + t];
            for (int64_t t = 0; t < d; t++) xx += x[t] * x[t], cc += c[t] * c[t];
            for (int64_t t = 0; t < d; t++) ab += fabs(x[t] * c[t]);
            const double ref = ref_dist(x, c, d, p->metric), got = out[i * p->k + j];
            double margin;
            if (p->metric == FKM_METRIC_L2) margin = (d + 4) * u * (2 * ab + xx + cc);
            else if (p->metric == FKM_METRIC_COSINE) margin = (d + 6) * u * ab / sqrt(xx * cc) + 4 * u;
            else margin = (d + 4) * u * ab;
            if (!(fabs(got - ref) <= margin)) bad++;
            if (p->metric != FKM_METRIC_IP && !(got >= 0)) (*neg)++;
        }
    free(x);
    free(c);
    return bad;
}

/* Row minimum at predict's label; for cosine/IP also predict's distance, bit for bit. */
static int64_t predict_mismatches(const problem *p, const float *out) {
    int32_t *lab = malloc((size_t)p->n * sizeof(int32_t));
    float *dist = malloc((size_t)p->n * sizeof(float));
    fkm_params q = params(p, 0);
    fkm_matrix m = {p->x, FKM_F32, p->n, p->d, NULL};
    CHECK(fkm_predict(&q, &m, p->c, p->k, lab, dist) == FKM_OK, "predict: %s", fkm_last_error());
    int64_t bad = 0;
    for (int64_t i = 0; i < p->n; i++) {
        const float *row = out + i * p->k, mine = row[lab[i]];
        float lo = INFINITY;
        for (int64_t j = 0; j < p->k; j++) lo = row[j] < lo ? row[j] : lo;
        bad += mine != lo;
        if (p->metric != FKM_METRIC_L2) bad += memcmp(&mine, &dist[i], sizeof mine) != 0;
    }
    free(lab);
    free(dist);
    return bad;
}

static void check_problem(const problem *p, int all_threads) {
    float *ref = transform(p, "naive", 1);
    if (!ref) return;
    int64_t neg = 0, miss = oracle_misses(p, ref, &neg);
    CHECK(miss == 0 && neg == 0, "n=%lld d=%lld k=%lld metric %d: %lld distances off the oracle, %lld negative",
          (long long)p->n, (long long)p->d, (long long)p->k, p->metric, (long long)miss, (long long)neg);
    const int64_t pm = predict_mismatches(p, ref);
    CHECK(pm == 0, "n=%lld d=%lld k=%lld metric %d: %lld rows disagree with predict", (long long)p->n,
          (long long)p->d, (long long)p->k, p->metric, (long long)pm);
    for (int ki = 0; ki < NK; ki++) {
        if (!fkm_cpu_assign_kernel_supported(KERNELS[ki])) continue;
        for (int threads = all_threads ? 1 : 2; threads <= 2; threads++) {
            if (threads == 1 && !strcmp(KERNELS[ki], "naive")) continue; /* that is ref itself */
            float *got = transform(p, KERNELS[ki], threads);
            if (!got) continue;
            int64_t diff = 0, first = -1;
            for (int64_t i = 0; i < p->n * p->k; i++)
                if (memcmp(&got[i], &ref[i], sizeof(float))) diff++, first = first < 0 ? i : first;
            CHECK(diff == 0, "kernel %s threads %d n=%lld d=%lld k=%lld metric %d: %lld distances differ from "
                  "naive (first [%lld][%lld]: %.9g vs %.9g)", KERNELS[ki], threads, (long long)p->n,
                  (long long)p->d, (long long)p->k, p->metric, (long long)diff,
                  (long long)(first < 0 ? 0 : first / p->k), (long long)(first < 0 ? 0 : first % p->k),
                  first < 0 ? 0.0 : got[first], first < 0 ? 0.0 : ref[first]);
            free(got);
        }
    }
    free(ref);
}

int main(void) {
    static const int64_t NS[] = {1, 2, 5, 12, 13, 25, 100}, DS[] = {1, 2, 7, 16, 33, 129},
                         KS[] = {1, 3, 16, 17, 31, 32, 33, 65};
    printf("kernel: %s\n", fkm_cpu_assign_kernel());
    uint64_t seed = 1;
    for (size_t a = 0; a < sizeof NS / sizeof NS[0]; a++)
        for (size_t b = 0; b < sizeof DS / sizeof DS[0]; b++)
            for (size_t c = 0; c < sizeof KS / sizeof KS[0]; c++) {
                const int metric = (int)((a + b + c) % 3);
                problem p = problem_new(seed++, NS[a], DS[b], KS[c], metric, (a + c) % 2 == 0);
                check_problem(&p, 1);
                free(p.x);
                free(p.c);
            }
    /* Across chunks (several per thread), cache blocks of panels (d = 300: 13 panels of 32 per
     * block) and large d (a tile larger than a chunk's budget). */
    static const int64_t BIG[][3] = {{1500, 300, 530}, {3001, 5, 1000}, {130, 3000, 70}};
    for (int i = 0; i < 3; i++)
        for (int metric = 0; metric < 3; metric++) {
            problem p = problem_new(seed++, BIG[i][0], BIG[i][1], BIG[i][2], metric, metric == 0);
            check_problem(&p, 0);
            free(p.x);
            free(p.c);
        }
    return check_report();
}
