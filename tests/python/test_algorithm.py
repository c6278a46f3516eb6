"""KMeans(algorithm=...) and the scikit-learn behaviours added with it (issue 20, item 1):
"elkan"/"hamerly" give "lloyd"'s results bit for bit, scikit-learn 1.2's warnings for "auto",
"full" and a single cluster, n_init="warn", float64 transform, verbose lines."""
import re
import warnings

import numpy as np
import pytest

import flashkmeans
from conftest import blobs


def _data(kind, rng):
    if kind == "blobs":
        return blobs(n=3000, d=6, k=12, seed=int(rng.randint(1000)))[0]
    if kind == "dupes":  # 40 distinct rows repeated: ties and empty clusters
        base = rng.normal(size=(40, 3)).astype(np.float32)
        return base[rng.randint(40, size=1500)]
    if kind == "grid":  # small integers: exact ties
        return rng.randint(0, 3, size=(800, 4)).astype(np.float64)
    return (1e4 + rng.normal(size=(1000, 5))).astype(np.float32)  # far from the origin


@pytest.mark.parametrize("kind", ["blobs", "dupes", "grid", "far"])
@pytest.mark.parametrize("algorithm", ["elkan", "hamerly"])
def test_same_bits_as_lloyd(kind, algorithm):
    rng = np.random.RandomState(7)
    for rep in range(3):
        X = _data(kind, rng)
        k = [5, 17, 45][rep]
        kw = dict(n_init=2, random_state=rep, tol=[1e-4, 0, 1e-2][rep], device="cpu",
                  init=["k-means++", "random", "k-means++"][rep])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fewer distinct points than clusters (dupes)
            a = flashkmeans.KMeans(k, algorithm="lloyd", **kw).fit(X)
            b = flashkmeans.KMeans(k, algorithm=algorithm, **kw).fit(X)
        assert np.array_equal(a.labels_, b.labels_)
        assert a.cluster_centers_.tobytes() == b.cluster_centers_.tobytes()
        assert (a.n_iter_, a.inertia_) == (b.n_iter_, b.inertia_)
        assert [s["inertia"] for s in a.iteration_stats_] == [s["inertia"] for s in b.iteration_stats_]
        assert b._algorithm == algorithm


@pytest.mark.parametrize("algorithm", ["auto", "full"])
def test_auto_full_deprecated_as_sklearn_1_2(algorithm):
    X = blobs(n=200, d=2, k=3)[0]
    msg = "algorithm='%s' is deprecated, it will be removed in 1.3. Using 'lloyd' instead." % algorithm
    with pytest.warns(FutureWarning, match=re.escape(msg)):
        km = flashkmeans.KMeans(3, algorithm=algorithm).fit(X)
    assert km._algorithm == "lloyd"


def test_elkan_one_cluster_warns():
    X = blobs(n=100, d=2, k=2)[0]
    with pytest.warns(RuntimeWarning, match="algorithm='elkan' doesn't make sense for a single cluster"):
        km = flashkmeans.KMeans(1, algorithm="elkan").fit(X)
    assert km._algorithm == "lloyd"


def test_bad_algorithm_values():
    X = blobs(n=100, d=2, k=2)[0]
    with pytest.raises(ValueError, match="'algorithm' parameter"):
        flashkmeans.KMeans(2, algorithm="yinyang").fit(X)
    with pytest.raises(flashkmeans.InvalidArgumentError, match="needs metric l2"):
        flashkmeans.KMeans(2, algorithm="elkan", metric="cosine").fit(X)


def test_n_init_warn_is_sklearn_1_2s_default():
    X = blobs(n=300, d=3, k=4)[0]
    with pytest.warns(FutureWarning, match="The default value of `n_init` will change from 10 to 'auto' in 1.4"):
        km = flashkmeans.KMeans(4, n_init="warn", random_state=0).fit(X)
    assert km._n_init == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        flashkmeans.KMeans(4, random_state=0).fit(X)  # the default (1) does not warn


def test_transform_float64_matches_euclidean_distances():
    sk = pytest.importorskip("sklearn.metrics")
    X = blobs(n=500, d=5, k=3, dtype="float64")[0] + 50.0
    km = flashkmeans.KMeans(3, random_state=0).fit(X)
    np.testing.assert_allclose(km.transform(X), sk.pairwise_distances(X, km.cluster_centers_), rtol=1e-9)
    assert np.array_equal(np.diag(km.transform(km.cluster_centers_)), np.zeros(3))


def test_verbose_prints_sklearns_lines(capsys):
    X = blobs(n=500, d=3, k=4)[0]
    flashkmeans.KMeans(4, random_state=0, tol=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert out.startswith("Initialization complete\nIteration 0, inertia")
    assert re.search(r"Converged at iteration \d+: strict convergence\.", out)
