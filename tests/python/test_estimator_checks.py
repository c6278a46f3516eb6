"""scikit-learn's own estimator checks (every check that applies to a clusterer/transformer).

The one check marked xfail by the estimator's tags (check_sample_weights_invariance) is the one
sklearn.cluster.KMeans marks xfail too, for the same reason (see _sklearn.py); the "ones" half of
it is tested strictly in test_kmeans.py::test_unit_weights_equal_no_weights."""
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import flashkmeans  # noqa: E402


@parametrize_with_checks([flashkmeans.KMeans(),
                          flashkmeans.KMeans(n_clusters=3, init="random", n_init=2, stop="inertia")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
