/* metrics.h -- agreement between two labelings (CLI --truth): NMI and ARI as scikit-learn defines
 * them (normalized_mutual_info_score with average_method="arithmetic", adjusted_rand_score). */
#ifndef FKM_CLI_METRICS_H
#define FKM_CLI_METRICS_H
#include <stdint.h>

/* a, b: n labels each (any int64 values). Returns 0, or -1 when memory runs out. */
int cli_agreement(const int64_t *a, const int64_t *b, int64_t n, double *nmi, double *ari);

#endif
