"""init="hierarchical" through the Python API (the C tests, tests/test_init_hier.c, check the
method itself): accepted by KMeans and batch-free fits, deterministic, k distinct centres, below
256 centres k-means||'s, and a clear error where it cannot run."""
import numpy as np
import pytest

import flashkmeans


def blobs(n, d, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=20.0, size=(200, d))
    return (centres[rng.randint(0, 200, size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_kmeans_hierarchical_deterministic_distinct():
    X = blobs(20000, 5)
    a = flashkmeans.KMeans(512, init="hierarchical", max_iter=0, random_state=3, device="cpu").fit(X)
    b = flashkmeans.KMeans(512, init="hierarchical", max_iter=0, random_state=3, device="cpu",
                           n_threads=1).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.unique(a.cluster_centers_, axis=0).shape[0] == 512
    c = flashkmeans.KMeans(512, init="hierarchical", max_iter=0, random_state=4, device="cpu").fit(X)
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)


def test_small_k_is_kmeans_parallel():
    X = blobs(5000, 3)
    a = flashkmeans.KMeans(100, init="hierarchical", max_iter=0, random_state=1, device="cpu").fit(X)
    b = flashkmeans.KMeans(100, init="k-means||", max_iter=0, random_state=1, device="cpu").fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_fit_quality_close_to_kmeans_parallel():
    X = blobs(40000, 4, seed=2)
    h = flashkmeans.KMeans(400, init="hierarchical", random_state=0, device="cpu").fit(X)
    p = flashkmeans.KMeans(400, init="k-means||", random_state=0, device="cpu").fit(X)
    assert h.inertia_ < 1.05 * p.inertia_


def test_unknown_init_names_hierarchical():
    with pytest.raises(ValueError, match="hierarchical"):
        flashkmeans.KMeans(4, init="hierarchy").fit(blobs(100, 2))
