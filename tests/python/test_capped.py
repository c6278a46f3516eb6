"""KMeans(max_cluster_size=...): the cap is never exceeded (cap * k == n: every cluster full),
inertia_ is that of the capped labels and inertia_unconstrained_ that of the nearest centres
(= score), the same bits for any thread count, a cap that never binds changes nothing, impossible
caps and GPU/partial_fit use are refused, predict/transform are not capped, get_params has it."""
import itertools

import numpy as np
import pytest

import flashkmeans
from flashkmeans._errors import InvalidArgumentError
from conftest import blobs


def sizes(labels, k):
    return np.bincount(np.asarray(labels), minlength=k)


def inertia_of(X, c, labels, w=None):
    d = ((X.astype(np.float64) - c.astype(np.float64)[labels]) ** 2).sum(axis=1)
    return float((d if w is None else d * w).sum())


@pytest.mark.parametrize("n,k,cap", [(600, 4, 150), (600, 4, 200), (601, 6, 101), (300, 30, 10), (97, 5, 20)])
@pytest.mark.parametrize("weighted", [False, True])
def test_cap_held(n, k, cap, weighted):
    X, _, _ = blobs(n=n, d=6, k=3, seed=n + k)  # 3 blobs of random sizes: the cap must move points
    w = np.random.RandomState(1).uniform(0, 3, n).astype(np.float32) if weighted else None
    km = flashkmeans.KMeans(k, random_state=0, device="cpu", max_cluster_size=cap).fit(X, sample_weight=w)
    s = sizes(km.labels_, k)
    assert s.max() <= cap
    if cap * k == n:
        assert (s == cap).all()
    assert km.inertia_ == pytest.approx(inertia_of(X, km.cluster_centers_, km.labels_, w), rel=1e-6)
    assert km.inertia_unconstrained_ == -km.score(X, sample_weight=w)  # fkm_score, bit for bit
    assert km.inertia_unconstrained_ <= km.inertia_
    # predict is not capped: the nearest centres
    nearest = km.predict(X)
    assert km.inertia_unconstrained_ == pytest.approx(inertia_of(X, km.cluster_centers_, nearest, w), rel=1e-6)


def test_duplicates_and_exactly_full():
    X = np.repeat(np.array([[0, 0], [5, 5], [9, 0]], np.float32), [70, 20, 30], axis=0)
    for k, cap in [(4, 30), (3, 40), (6, 20), (120, 1)]:
        km = flashkmeans.KMeans(k, random_state=1, max_cluster_size=cap).fit(X)
        s = sizes(km.labels_, k)
        assert s.max() <= cap and (s == cap).all() == (cap * k == 120)


def test_threads_same_bits():
    X, _, _ = blobs(n=4000, d=8, k=5, seed=11)
    runs = [flashkmeans.KMeans(16, random_state=2, n_init=2, max_cluster_size=260, n_threads=t).fit(X)
            for t in (1, 2, 3)]
    for km in runs[1:]:
        assert np.array_equal(km.labels_, runs[0].labels_)
        assert np.array_equal(km.cluster_centers_, runs[0].cluster_centers_)
        assert km.inertia_ == runs[0].inertia_ and km.inertia_unconstrained_ == runs[0].inertia_unconstrained_
    assert runs[0].inertia_ > runs[0].inertia_unconstrained_  # the cap binds here


def test_loose_cap_changes_nothing():
    X, _, _ = blobs(n=2000, d=4, k=6, seed=4)
    plain = flashkmeans.KMeans(6, random_state=0, device="cpu").fit(X)
    assert plain.inertia_unconstrained_ == plain.inertia_
    for cap in (None, 0, len(X), int(sizes(plain.labels_, 6).max())):
        km = flashkmeans.KMeans(6, random_state=0, device="cpu", max_cluster_size=cap).fit(X)
        assert np.array_equal(km.labels_, plain.labels_) and km.inertia_ == plain.inertia_
        assert np.array_equal(km.cluster_centers_, plain.cluster_centers_)


@pytest.mark.filterwarnings("ignore:.*duplicate row")  # random centres may coincide
def test_brute_force_k2_optimal():
    """One capped assignment of frozen centres (max_iter=0): for k = 2 the greedy is optimal."""
    rng = np.random.RandomState(0)
    for _ in range(60):
        n = rng.randint(2, 9)
        X = rng.randint(0, 9, (n, 2)).astype(np.float32)
        c = rng.randint(0, 9, (2, 2)).astype(np.float32)
        cap = (n + 1) // 2
        km = flashkmeans.KMeans(2, init=c, n_init=1, max_iter=0, max_cluster_size=cap).fit(X)
        best = min(inertia_of(X, c, np.array(lab)) for lab in itertools.product(range(2), repeat=n)
                   if max(np.bincount(lab, minlength=2)) <= cap)
        assert inertia_of(X, c, km.labels_) == best


def test_refusals():
    X, _, _ = blobs(n=100, d=3, k=3, seed=0)
    with pytest.raises(InvalidArgumentError, match=r"max_cluster_size = 24 is impossible.*n = 100.*= 25"):
        flashkmeans.KMeans(4, max_cluster_size=24).fit(X)
    for bad in (-1, 1.5, True, "10"):
        with pytest.raises(ValueError, match="max_cluster_size"):
            flashkmeans.KMeans(4, max_cluster_size=bad).fit(X)
    with pytest.raises(InvalidArgumentError, match="CPU engine only"):
        flashkmeans.KMeans(4, max_cluster_size=30, device="cuda").fit(X)
    km = flashkmeans.KMeans(4, max_cluster_size=30, random_state=0).fit(X)
    assert km.device_ == "cpu"
    with pytest.raises(ValueError, match="max_cluster_size"):
        km.partial_fit(X[:10])
    scipy = pytest.importorskip("scipy.sparse")
    with pytest.raises(InvalidArgumentError, match="sparse"):
        flashkmeans.KMeans(4, max_cluster_size=30).fit(scipy.csr_matrix(X))


def test_get_params_and_clone():
    km = flashkmeans.KMeans(5, max_cluster_size=40)
    assert km.get_params()["max_cluster_size"] == 40
    assert flashkmeans.KMeans().get_params()["max_cluster_size"] is None
    km.set_params(max_cluster_size=50)
    assert km.max_cluster_size == 50
    sk = pytest.importorskip("sklearn.base")
    assert sk.clone(km).get_params()["max_cluster_size"] == 50
