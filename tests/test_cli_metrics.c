/* test_cli_metrics.c -- NMI / ARI of cli/metrics.c against scikit-learn.
 *
 * The expected values were produced on 2026-11-22 with Debian's python3-sklearn 1.2.1:
 *   /usr/bin/python3 -c "from sklearn.metrics import normalized_mutual_info_score as nmi,
 *       adjusted_rand_score as ari; print(repr(nmi(a, b)), repr(ari(a, b)))"
 * with a, b as below; the pseudo-random cases use the LCG in lcg() (same code in Python:
 *   x = (x*6364136223846793005 + 1442695040888963407) % 2**64; label = (x >> 33) % k). */
#include "check.h"
#include "../cli/metrics.c"

#include <math.h>

static void lcg(uint64_t seed, int64_t n, int64_t k, int64_t *out) {
    uint64_t x = seed;
    for (int64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        out[i] = (int64_t)((x >> 33) % (uint64_t)k);
    }
}

static void expect(const char *name, const int64_t *a, const int64_t *b, int64_t n, double want_nmi, double want_ari) {
    double nmi = NAN, ari = NAN;
    CHECK(cli_agreement(a, b, n, &nmi, &ari) == 0, "%s: out of memory", name);
    CHECK(fabs(nmi - want_nmi) <= 1e-12, "%s: nmi %.17g, sklearn %.17g", name, nmi, want_nmi);
    CHECK(fabs(ari - want_ari) <= 1e-12, "%s: ari %.17g, sklearn %.17g", name, ari, want_ari);
    /* both are symmetric in their arguments */
    CHECK(cli_agreement(b, a, n, &nmi, &ari) == 0 && fabs(nmi - want_nmi) <= 1e-12 && fabs(ari - want_ari) <= 1e-12,
          "%s: not symmetric", name);
}

int main(void) {
    { int64_t a[] = {0, 0, 1, 1}, b[] = {1, 1, 0, 0}; expect("perm", a, b, 4, 1.0, 1.0); }
    { int64_t a[] = {0, 0, 0, 0}, b[] = {0, 1, 2, 3}; expect("split", a, b, 4, 0.0, 0.0); }
    { int64_t a[] = {0, 0, 1, 1}, b[] = {0, 0, 1, 2}; expect("partial", a, b, 4, 0.7999999999999999, 0.5714285714285714); }
    { int64_t a[] = {0, 0, 1, 1}, b[] = {0, 1, 0, 1}; expect("anti", a, b, 4, 0.0, -0.5); }
    { int64_t a[] = {3, 3, 3}, b[] = {7, 7, 7}; expect("const", a, b, 3, 1.0, 1.0); }
    { int64_t a[] = {-5, 100, 100, 7, -5, 7, 100}, b[] = {3, 3, 1, 1, 2, 2, 2};
      expect("values", a, b, 7, 0.19654846916551041, -0.3125); }
    static int64_t a[20000], b[20000];
    /* lcg1000: a = lcg(1,1000,7); b = lcg(2,1000,5) with every third entry (i % 3 == 0) mapped v -> (3v+1) % 5 */
    lcg(1, 1000, 7, a);
    lcg(2, 1000, 5, b);
    for (int i = 0; i < 1000; i++) if (i % 3 == 0) b[i] = (b[i] * 3 + 1) % 5;
    expect("lcg1000", a, b, 1000, 0.003194468656330953, -0.0026254245816897848);
    /* big (3000 x 3000 table: the sorted-pairs path): a = lcg(3,5000,3000); b = a with i % 4 == 0 -> (v+1) % 3000 */
    lcg(3, 5000, 3000, a);
    for (int i = 0; i < 5000; i++) b[i] = i % 4 ? a[i] : (a[i] + 1) % 3000;
    expect("big", a, b, 5000, 0.9632809166790739, 0.6242711230854772);
    /* mostly: a = lcg(5,20000,10); b = a with i % 5 == 0 -> (7v+3) % 12 */
    lcg(5, 20000, 10, a);
    for (int i = 0; i < 20000; i++) b[i] = i % 5 ? a[i] : (a[i] * 7 + 3) % 12;
    expect("mostly", a, b, 20000, 0.8088300564068818, 0.6710719287265299);
    return check_report();
}
