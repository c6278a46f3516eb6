"""batch_kmeans(..., offsets=...): ragged batches through fkm_fit_ragged (tests/test_ragged.c
checks the C rule itself): each problem equals its own fit with seed + i, labels come back flat,
problems with fewer rows than k make every row its own cluster, per-problem starts, weights, and
clear errors for bad offsets."""
import numpy as np
import pytest

import flashkmeans


def data(sizes, d=3, seed=0):
    rng = np.random.RandomState(seed)
    off = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    return rng.normal(size=(off[-1], d)).astype(np.float32), off


def test_each_problem_is_its_own_fit():
    x, off = data([40, 0, 1, 90, 7, 300])
    k = 8
    labels, cents, iters, inertia = flashkmeans.batch_kmeans(x, k, offsets=off, seed=5, device="cpu",
                                                              return_inertia=True)
    assert labels.shape == (x.shape[0],) and cents.shape == (6, k, 3) and iters.shape == (6,)
    for i in range(6):
        xi = x[off[i]:off[i + 1]]
        li = labels[off[i]:off[i + 1]]
        if len(xi) >= k:
            km = flashkmeans.KMeans(k, random_state=5 + i, device="cpu").fit(xi)
            assert np.array_equal(km.cluster_centers_, cents[i]) and np.array_equal(km.labels_, li)
            assert km.inertia_ == inertia[i] and km.n_iter_ == iters[i]
        else:  # every row its own cluster
            assert np.array_equal(li, np.arange(len(xi)))
            assert inertia[i] == 0 and iters[i] == 0
            want = xi[np.arange(k) % len(xi)] if len(xi) else np.zeros((k, 3), np.float32)
            assert np.array_equal(cents[i], want)


def test_per_problem_starts_and_weights():
    x, off = data([50, 0, 60], seed=1)
    k = 4
    init = np.random.RandomState(2).normal(size=(3, k, 3)).astype(np.float32)
    w = np.random.RandomState(3).uniform(0.5, 2.0, size=x.shape[0]).astype(np.float32)
    labels, cents, _ = flashkmeans.batch_kmeans(x, k, offsets=off, init=init, weights=w, device="cpu")
    assert np.array_equal(cents[1], init[1])  # no rows: its start kept
    for i in (0, 2):
        km = flashkmeans.KMeans(k, init=init[i], device="cpu", random_state=i).fit(
            x[off[i]:off[i + 1]], sample_weight=w[off[i]:off[i + 1]])
        assert np.array_equal(km.cluster_centers_, cents[i])


def test_uniform_offsets_equal_batch():
    rng = np.random.RandomState(4)
    x3 = rng.normal(size=(5, 70, 2)).astype(np.float32)
    a = flashkmeans.batch_kmeans(x3, 6, seed=1, device="cpu")
    b = flashkmeans.batch_kmeans(x3.reshape(-1, 2), 6, offsets=np.arange(6) * 70, seed=1, device="cpu")
    assert np.array_equal(a[0].ravel(), b[0]) and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def test_bad_offsets():
    x, _ = data([10, 10])
    with pytest.raises(ValueError, match="offsets"):
        flashkmeans.batch_kmeans(x, 2, offsets=[0, 5, 19], device="cpu")
    with pytest.raises(ValueError, match="offsets"):
        flashkmeans.batch_kmeans(x, 2, offsets=[0, 12, 8, 20], device="cpu")
    with pytest.raises(ValueError, match="offsets"):
        flashkmeans.batch_kmeans(x, 2, offsets=[0.0, 20.0], device="cpu")
    with pytest.raises(ValueError, match="weights"):
        flashkmeans.batch_kmeans(x, 2, offsets=[0, 20], weights=np.ones(19), device="cpu")
