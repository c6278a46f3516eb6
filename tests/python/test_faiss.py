"""flashkmeans.Kmeans behaves like faiss.Kmeans (interface, shapes, types, semantics)."""
import numpy as np
import pytest

import flashkmeans
from conftest import blobs


def test_train_assign_shapes_and_types():
    x, y, _ = blobs(n=3000, d=12, k=6)
    km = flashkmeans.Kmeans(12, 6, niter=20, seed=1234)
    obj = km.train(x)
    assert km.centroids.shape == (6, 12) and km.centroids.dtype == np.float32
    assert km.obj.shape == (20,) and obj == km.obj[-1]  # FAISS: fixed niter, returns last obj
    assert np.all(np.diff(km.obj) <= 1e-6 * km.obj[0])  # Lloyd never increases the objective
    assert len(km.iteration_stats) == 20
    st = km.iteration_stats[3]
    assert {"obj", "time", "nsplit"} <= set(st) and st["obj"] == km.obj[3]
    assert km.iteration_stats[-1]["time"] >= km.iteration_stats[0]["time"]
    D, I = km.assign(x)
    assert D.shape == I.shape == (3000,) and D.dtype == np.float32 and I.dtype == np.int64
    np.testing.assert_allclose(D, ((x - km.centroids[I]) ** 2).sum(1), rtol=1e-4, atol=1e-3)
    assert np.array_equal(I, km.labels)


def test_same_result_as_sklearn_front_end():
    """Same seed, same stop rule -> the same library call, the same centroids."""
    x, _, _ = blobs(n=1000, d=5, k=4, spread=2.0)
    km = flashkmeans.Kmeans(5, 4, niter=15, seed=99)
    km.train(x)
    sk = flashkmeans.KMeans(4, init="random", random_state=99, max_iter=15, stop="fixed",
                            device="cpu").fit(x)
    assert np.array_equal(km.centroids, sk.cluster_centers_)


def test_weights_and_init_centroids():
    x, _, _ = blobs(n=500, d=3, k=3, dtype="float64")
    c0 = x[:3]
    km = flashkmeans.Kmeans(3, 3, niter=0)
    km.train(x, init_centroids=c0)
    np.testing.assert_array_equal(km.centroids, c0.astype(np.float32))
    km = flashkmeans.Kmeans(3, 3, niter=10)
    km.train(x, weights=np.ones(500), init_centroids=c0)
    ref = flashkmeans.Kmeans(3, 3, niter=10)
    ref.train(x, init_centroids=c0)
    assert np.array_equal(km.centroids, ref.centroids)
    frozen = flashkmeans.Kmeans(3, 3, niter=10, frozen_centroids=True)
    frozen.train(x, init_centroids=c0)
    np.testing.assert_array_equal(frozen.centroids, c0.astype(np.float32))
    with pytest.raises(ValueError, match="init_centroids must have shape"):
        flashkmeans.Kmeans(3, 3).train(x, init_centroids=x[:2])


def test_init_choice():
    x, _, _ = blobs(n=1000, d=5, k=4, spread=2.0)
    a = flashkmeans.Kmeans(5, 4, niter=0, seed=3)
    a.train(x)
    rows = [np.flatnonzero((x == c).all(1)) for c in a.centroids]
    assert all(len(r) >= 1 for r in rows)  # FAISS-like: k of the points themselves
    b = flashkmeans.Kmeans(5, 4, niter=5, seed=3, init="k-means++")
    b.train(x)
    ref = flashkmeans.KMeans(4, random_state=3, max_iter=5, stop="fixed", device="cpu").fit(x)
    assert np.array_equal(b.centroids, ref.cluster_centers_)


def test_spherical():
    x, _, _ = blobs(n=800, d=6, k=4)
    km = flashkmeans.Kmeans(6, 4, niter=10, spherical=True)
    km.train(x)
    np.testing.assert_allclose(np.linalg.norm(km.centroids, axis=1), 1, rtol=1e-5)
    D, I = km.assign(x)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = xn @ km.centroids.T
    assert np.array_equal(I, sims.argmax(1))
    np.testing.assert_allclose(D, sims.max(1), atol=1e-5)


def test_faiss_options():
    x, _, _ = blobs(n=2000, d=4, k=5)
    with pytest.raises(TypeError, match="unexpected keyword"):
        flashkmeans.Kmeans(4, 5, nitre=3)
    km = flashkmeans.Kmeans(4, 5, niter=5, min_points_per_centroid=39, update_index=True)
    km.train(x)
    with pytest.warns(RuntimeWarning, match="sampling 500 points out of 2000"):
        flashkmeans.Kmeans(4, 5, niter=5, max_points_per_centroid=100).train(x)
    with pytest.raises(ValueError, match="dimension 4"):
        flashkmeans.Kmeans(3, 5).train(x)
    with pytest.raises(RuntimeError, match="train before"):
        flashkmeans.Kmeans(4, 5).assign(x)
    assert flashkmeans.Kmeans(4, 5).device == "cpu"
    assert flashkmeans.Kmeans(4, 5, gpu=True).device == "cuda"


def test_nredo_keeps_best():
    x, _, _ = blobs(n=1500, d=4, k=12, spread=4.0)
    one = flashkmeans.Kmeans(4, 12, niter=10, seed=5)
    one.train(x)
    many = flashkmeans.Kmeans(4, 12, niter=10, seed=5, nredo=4)
    many.train(x)
    assert many.inertia <= one.inertia + 1e-9
