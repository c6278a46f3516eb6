/* test_empty_policy.c -- FKM_EMPTY_FARTHEST picks, checked against the float64 oracle, on both
 * code paths of the CPU engine (few empty clusters: scans; many: one sort). */
#include "check.h"
#include "gen.h"
#include "ref/ref.h"

#include <flashkmeans.h>
#include <string.h>

/* near clusters get real starting points; the `far` others start far from all data, so they are
 * empty after the first assignment and must take the farthest points, farthest first. */
static void run_case(int64_t near, int64_t far) {
    const int64_t n = 3000, d = 5, k = near + far;
    double *x64 = malloc((size_t)(n * d) * sizeof(double)), *c64 = malloc((size_t)(k * d) * sizeof(double));
    float *x32 = malloc((size_t)(n * d) * sizeof(float)), *c0 = malloc((size_t)(k * d) * sizeof(float));
    gen_blobs(77 + (uint64_t)far, n, d, near, 1.5, x64, x32);
    for (int64_t c = 0; c < k; c++)
        for (int64_t j = 0; j < d; j++) {
            float v = c < near ? x32[(c * 131) * d + j] : (float)(1e4 + 10.0 * c + j);
            c0[c * d + j] = v;
            c64[c * d + j] = v;
        }
    int32_t *lab = malloc((size_t)n * sizeof(int32_t));
    double *best = malloc((size_t)n * sizeof(double));
    ref_assign(x64, n, d, c64, k, 0, lab, best, NULL);
    int64_t *cnt = calloc((size_t)k, sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) cnt[lab[i]]++;
    for (int64_t c = near; c < k; c++) CHECK(cnt[c] == 0, "far centroid %lld is not empty", (long long)c);

    fkm_params p;
    fkm_params_default(&p);
    p.k = k; p.max_iter = 1; p.stop = FKM_STOP_FIXED; p.init = FKM_INIT_ARRAY; p.init_centroids = c0;
    p.device = FKM_DEVICE_CPU; p.empty = FKM_EMPTY_FARTHEST;
    fkm_matrix m = {x32, FKM_F32, n, d, NULL};
    fkm_result r;
    if (fkm_fit(&p, &m, &r) != FKM_OK) { CHECK(0, "fit: %s", fkm_last_error()); return; }
    CHECK(r.stats[0].empty == far, "stats report %lld empty clusters, expected %lld", (long long)r.stats[0].empty, (long long)far);
    /* Expected picks: repeatedly the farthest point (lowest index on ties) whose cluster keeps
     * another point. */
    char *taken = calloc((size_t)n, 1);
    for (int64_t c = near; c < k; c++) {
        int64_t pick = -1;
        for (int64_t i = 0; i < n; i++)
            if (!taken[i] && cnt[lab[i]] > 1 && (pick < 0 || best[i] > best[pick])) pick = i;
        taken[pick] = 1;
        cnt[lab[pick]]--;
        int same = 1;
        for (int64_t j = 0; j < d; j++) same &= r.centroids[c * d + j] == x32[pick * d + j];
        CHECK(same, "far=%lld: empty cluster %lld did not take point %lld", (long long)far, (long long)c, (long long)pick);
    }
    for (int64_t i = 0; i < k * d; i++) CHECK(r.centroids[i] == r.centroids[i], "NaN centroid");
    fkm_result_free(&r);
    free(taken); free(cnt); free(best); free(lab); free(x64); free(c64); free(x32); free(c0);
}

int main(void) {
    run_case(10, 5);   /* few empties: the scanning path */
    run_case(10, 40);  /* many empties: the sorting path */
    return check_report();
}
