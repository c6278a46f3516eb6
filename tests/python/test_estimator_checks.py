"""scikit-learn's own estimator checks (every check that applies to a clusterer/transformer).

The one check expected to fail (check_sample_weights_invariance) is the one that
sklearn.cluster.KMeans itself marks expected-to-fail, for the same reason (see _sklearn.py);
the "ones" half of it is tested strictly in test_kmeans.py::test_unit_weights_equal_no_weights."""
import inspect

import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import flashkmeans  # noqa: E402

ESTIMATORS = [flashkmeans.KMeans(),
              flashkmeans.KMeans(n_clusters=3, init="random", n_init=2, stop="inertia")]
KW = {}
if "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters:
    # scikit-learn >= 1.6 takes the expected failures here instead of from the estimator's tags
    # (1.6 split the sample-weight check in two and added the "weights = repetitions" ones,
    # which sklearn.cluster.KMeans marks expected-to-fail too: k-means++ draws differ)
    def _expected(est):
        reason = est._more_tags()["_xfail_checks"]["check_sample_weights_invariance"]
        return {name: reason for name in (
            "check_sample_weights_invariance", "check_sample_weight_equivalence",
            "check_sample_weight_equivalence_on_dense_data",
            "check_sample_weight_equivalence_on_sparse_data")}

    KW["expected_failed_checks"] = _expected


@parametrize_with_checks(ESTIMATORS, **KW)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
