"""init="k-means||" (FKM_INIT_KMEANS_PARALLEL) through KMeans and batch_kmeans, on the CPU."""
import numpy as np
import pytest

import flashkmeans
from conftest import blobs


def _rows(X, C):
    """Index of the data row equal to each centroid (-1: none)."""
    X = np.asarray(X, dtype=np.float32)
    out = []
    for c in C:
        hit = np.nonzero((X == c).all(axis=1))[0]
        out.append(int(hit[0]) if len(hit) else -1)
    return np.array(out)


def test_centroids_are_distinct_data_rows_any_thread_count():
    X, _, _ = blobs(n=3000, d=12, k=30, spread=2.0)
    a = flashkmeans.KMeans(40, init="k-means||", max_iter=0, random_state=5, n_threads=1,
                           device="cpu").fit(X)
    b = flashkmeans.KMeans(40, init="k-means||", max_iter=0, random_state=5, n_threads=2,
                           device="cpu").fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    rows = _rows(X, a.cluster_centers_)
    assert (rows >= 0).all() and len(set(rows.tolist())) == 40
    c = flashkmeans.KMeans(40, init="k-means||", max_iter=0, random_state=6, device="cpu").fit(X)
    assert not np.array_equal(a.cluster_centers_, c.cluster_centers_)


def test_every_blob_gets_a_centroid_and_fit_matches_kmeanspp():
    X, y, _ = blobs(n=4000, d=8, k=25, spread=0.02)  # in-blob D^2 << between-blob D^2
    init = flashkmeans.KMeans(25, init="k-means||", max_iter=0, random_state=0, device="cpu").fit(X)
    rows = _rows(X, init.cluster_centers_)
    assert sorted(y[rows].tolist()) == list(range(25))
    par = [flashkmeans.KMeans(25, init="k-means||", random_state=s, device="cpu").fit(X).inertia_
           for s in range(3)]
    pp = [flashkmeans.KMeans(25, init="k-means++", random_state=s, device="cpu").fit(X).inertia_
          for s in range(3)]
    assert np.mean(par) <= 1.03 * np.mean(pp)


def test_zero_weight_rows_never_chosen():
    X, _, _ = blobs(n=900, d=4, k=6, spread=1.0)
    w = np.zeros(len(X))
    w[::3] = 1.0
    X = X.copy()
    X[w == 0, 0] += 500.0  # far away: they would dominate the D^2 draws if their weight counted
    km = flashkmeans.KMeans(12, init="k-means||", max_iter=0, random_state=2, device="cpu")
    km.fit(X, sample_weight=w)
    rows = _rows(X, km.cluster_centers_)
    assert (rows >= 0).all() and (w[rows] > 0).all()


def test_duplicate_rows_and_k_equal_n():
    X = np.repeat(np.arange(5, dtype=np.float32)[:, None] * [1.0, 2.0], 40, axis=0)
    km = flashkmeans.KMeans(5, init="k-means||", max_iter=0, device="cpu").fit(X)
    assert len({tuple(r) for r in km.cluster_centers_.tolist()}) == 5
    # more clusters than distinct rows: documented repeats, no error
    km = flashkmeans.KMeans(8, init="k-means||", device="cpu").fit(X)
    assert np.isfinite(km.inertia_) and km.inertia_ == 0
    Y, _, _ = blobs(n=200, d=3, k=4)
    km = flashkmeans.KMeans(200, init="k-means||", max_iter=0, device="cpu").fit(Y)
    assert sorted(_rows(Y, km.cluster_centers_).tolist()) == list(range(200))


def test_batch_kmeans_and_unknown_name():
    X, _, _ = blobs(n=500, d=4, k=5)
    xb = np.stack([X, X[::-1].copy()])
    labels, centroids, iters = flashkmeans.batch_kmeans(xb, 5, init="k-means||", device="cpu")
    assert centroids.shape == (2, 5, 4) and labels.shape == (2, 500)
    with pytest.raises(ValueError):
        flashkmeans.KMeans(3, init="k-means|").fit(X)


def test_init_auto_is_the_default_and_kmeanspp_on_the_cpu():
    """init="auto" (the default) is k-means++ on the CPU, bit for bit (k-means|| on a GPU:
    tests/test_cuda_init.c); the CLI-style names are refused as before."""
    X = blobs(3000, 9, 20, seed=4)[0]
    assert flashkmeans.KMeans().get_params()["init"] == "auto"
    a = flashkmeans.KMeans(20, random_state=3, device="cpu").fit(X)
    b = flashkmeans.KMeans(20, init="k-means++", random_state=3, device="cpu").fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_, b.labels_) and a.inertia_ == b.inertia_
    c = flashkmeans.KMeans(20, init="auto", n_init="auto", random_state=3, device="cpu").fit(X)
    assert c._n_init == 1 and np.array_equal(c.cluster_centers_, a.cluster_centers_)
    with pytest.raises(ValueError, match="'auto'"):
        flashkmeans.KMeans(20, init="automatic").fit(X)
