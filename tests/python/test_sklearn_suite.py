"""scikit-learn's sklearn/cluster/tests/test_k_means.py, unmodified, against flashkmeans.KMeans
(issue 20, item 3) and flashkmeans.MiniBatchKMeans (issue 22, item 3). The tests are the
installed scikit-learn's own functions, imported by sklearn_suite.load_suite with both classes
swapped; sklearn_suite.py (a plugin registered by conftest.py) supplies scikit-learn's fixtures
and deselects, with a reason each, the tests of other functions and of private helpers (sparse
input runs: issue 20, item 2)."""
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import sklearn_suite  # noqa: E402

if not sklearn_suite.supported():
    import sklearn

    pytest.skip("scikit-learn %s installed: the suite's deselections are written for %sx"
                % (sklearn.__version__, sklearn_suite.SUPPORTED), allow_module_level=True)

from sklearn.conftest import global_dtype  # noqa: E402,F401  (the fixture, used by the suite)

globals().update(sklearn_suite.load_suite())


def test_every_deselection_matches():
    """Every name in the deselection list is a test of the installed file: a renamed or removed
    test must be taken off the list, not left to hide a new one."""
    names = set(sklearn_suite.load_suite())
    stale = [n for n in sklearn_suite.DESELECTED if n.split("[")[0] not in names]
    assert not stale, "deselected tests that the installed scikit-learn does not have: %s" % stale


def test_suite_uses_flashkmeans():
    import flashkmeans
    import sys

    assert sys.modules[sklearn_suite.SUITE].KMeans is flashkmeans.KMeans
    assert sys.modules[sklearn_suite.SUITE].MiniBatchKMeans is flashkmeans.MiniBatchKMeans
