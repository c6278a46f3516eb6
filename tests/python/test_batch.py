"""flashkmeans.batch_kmeans: B independent problems, each equal to a single fit."""
import numpy as np
import pytest

import flashkmeans
from conftest import blobs


def test_batch_equals_single_fits():
    xb = np.stack([blobs(n=400, d=5, k=3, seed=s, spread=2.0)[0] for s in range(4)])
    labels, centroids, iters = flashkmeans.batch_kmeans(xb, 3, seed=10)
    assert labels.shape == (4, 400) and labels.dtype == np.int32
    assert centroids.shape == (4, 3, 5) and centroids.dtype == np.float32
    assert iters.shape == (4,) and np.all(iters >= 1)
    for i in range(4):  # problem i uses seed + i
        km = flashkmeans.KMeans(3, random_state=10 + i).fit(xb[i])
        assert np.array_equal(km.labels_, labels[i])
        assert np.array_equal(km.cluster_centers_, centroids[i])
        assert km.n_iter_ == iters[i]


@pytest.mark.parametrize("dtype", ["float64", "float16", "uint8"])
def test_batch_dtypes_and_weights(dtype):
    xb = np.abs(np.random.RandomState(0).randn(3, 200, 4) * 20).astype(dtype)
    l1, c1, it1, inertia = flashkmeans.batch_kmeans(xb, 4, stop="fixed", max_iter=6,
                                                    weights=np.ones((3, 200)), return_inertia=True)
    l2, c2, it2 = flashkmeans.batch_kmeans(xb.astype(np.float32), 4, stop="fixed", max_iter=6)
    assert np.array_equal(l1, l2) and np.array_equal(c1, c2) and list(it1) == [6, 6, 6]
    assert inertia.shape == (3,) and np.all(inertia > 0)


def test_batch_layout_and_errors():
    xb = np.random.RandomState(0).rand(2, 100, 3)
    ref = flashkmeans.batch_kmeans(xb, 2, seed=1)
    F = np.asfortranarray(xb)
    got = flashkmeans.batch_kmeans(F, 2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(ref, got))
    with pytest.raises(ValueError, match="Expected 3D array"):
        flashkmeans.batch_kmeans(xb[0], 2)
    with pytest.raises(ValueError, match="weights must have shape"):
        flashkmeans.batch_kmeans(xb, 2, weights=np.ones(100))
    bad = xb.copy()
    bad[1, 7, 2] = np.nan
    with pytest.raises(ValueError, match=r"problem 1: data\[7\]\[2\]"):
        flashkmeans.batch_kmeans(bad, 2)
    with pytest.raises(ValueError, match="larger than the number of points"):
        flashkmeans.batch_kmeans(xb, 101)


def test_batch_init_array():
    xb = np.random.RandomState(3).rand(3, 150, 4).astype(np.float32)
    c0 = xb[0, :5]
    l, c, it = flashkmeans.batch_kmeans(xb, 5, init=c0, max_iter=0)
    assert all(np.array_equal(c[i], c0) for i in range(3))
    l, c, it = flashkmeans.batch_kmeans(xb, 5, init=c0, tol=0)
    for i in range(3):
        km = flashkmeans.KMeans(5, init=c0, tol=0).fit(xb[i])
        assert np.array_equal(km.cluster_centers_, c[i]) and np.array_equal(km.labels_, l[i])
    with pytest.raises(ValueError, match="init must have shape"):
        flashkmeans.batch_kmeans(xb, 5, init=c0[:4])


def test_batch_init_per_problem():
    """A (B, K, D) init starts problem i from init[i]: the same bits as problem i fitted alone
    from init[i] with seed + i; the warm start of a loop (the previous call's centroids)."""
    xb = np.random.RandomState(5).rand(3, 120, 4).astype(np.float32)
    c0 = np.stack([xb[i, 10 * i:10 * i + 4] for i in range(3)])
    l, c, it, inertia = flashkmeans.batch_kmeans(xb, 4, init=c0, stop="fixed", max_iter=3, seed=7,
                                                 weights=np.ones((3, 120)), return_inertia=True)
    for i in range(3):
        km = flashkmeans.KMeans(4, init=c0[i], stop="fixed", max_iter=3, random_state=7 + i).fit(xb[i])
        assert np.array_equal(km.cluster_centers_, c[i]) and np.array_equal(km.labels_, l[i])
        assert km.inertia_ == inertia[i] and it[i] == 3
    # warm start: continuing from the returned centroids = running longer in one call
    l2, c2, _ = flashkmeans.batch_kmeans(xb, 4, init=c, stop="fixed", max_iter=2)
    l5, c5, _ = flashkmeans.batch_kmeans(xb, 4, init=c0, stop="fixed", max_iter=5)
    assert np.array_equal(c2, c5) and np.array_equal(l2, l5)
    with pytest.raises(ValueError, match="init must have shape"):
        flashkmeans.batch_kmeans(xb, 4, init=c0[:2])
    bad = xb.copy()
    bad[2, 5, 1] = np.inf
    with pytest.raises(ValueError, match=r"problem 2: .*data\[5\]\[1\]"):
        flashkmeans.batch_kmeans(bad, 4, init=c0)
