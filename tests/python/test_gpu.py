"""PyTorch CUDA tensors through the device-pointer API: zero copies (pointer identity), results
on the input's device, parity with the CPU engine. Skipped without torch, a GPU, or a library
built with CUDA. Run on the GPU machine by `make gpu-check`."""
import numpy as np
import pytest

import flashkmeans
from conftest import blobs, cuda_torch

torch = cuda_torch()

from flashkmeans import _torch  # noqa: E402


def _cuda(a, dtype=torch.float32):
    return torch.as_tensor(np.ascontiguousarray(a)).to(device="cuda", dtype=dtype)


def _problems(b, n, d, k, seed=0, spread=0.3):
    """b problems sharing k well separated centres (so one init array serves them all); the fits
    start from the true centres, so every engine must find the true partition, bit for bit in
    the labels (no near-ties exist at this separation)."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10, 10, size=(k, d))
    X = np.stack([centres[rng.randint(0, k, n)] + spread * rng.randn(n, d) for _ in range(b)])
    return X.astype(np.float32), centres.astype(np.float32)


def _margin(X, C, labels):
    """fp32 contract: |x|^2 - 2 x.c + |c|^2 has error ~1e-6 * (|x|^2 + |c|^2) per point."""
    X = np.asarray(X, np.float64)
    return 4e-6 * ((X ** 2).sum() + (np.asarray(C, np.float64)[labels] ** 2).sum())


def test_zero_copy_batch():
    X, C = _problems(3, 4096, 64, 16)
    x = _cuda(X)
    labels, centroids, iters = flashkmeans.batch_kmeans(x, 16, init=C, seed=5)
    assert _torch.last_call["data"] == x.data_ptr()  # the library read the tensor itself
    assert labels.data_ptr() == _torch.last_call["labels"]  # and wrote the returned tensors
    assert centroids.data_ptr() == _torch.last_call["centroids"]
    assert labels.device == x.device and centroids.device == x.device and iters.device == x.device
    assert labels.dtype == torch.int32 and centroids.shape == (3, 16, 64)
    l_cpu, c_cpu, _ = flashkmeans.batch_kmeans(X, 16, init=C, device="cpu")
    assert np.array_equal(labels.cpu().numpy(), l_cpu)
    np.testing.assert_allclose(centroids.cpu().numpy(), c_cpu, rtol=1e-4, atol=1e-4)


def test_random_init_matches_cpu_rows():
    """init="random" picks the same k rows on the device as on the host, for the same seed."""
    X, _ = _problems(2, 2048, 16, 8, seed=1)
    x = _cuda(X)
    _, c_gpu, _ = flashkmeans.batch_kmeans(x, 8, init="random", seed=9, max_iter=0)
    _, c_cpu, _ = flashkmeans.batch_kmeans(X, 8, init="random", seed=9, max_iter=0, device="cpu")
    assert np.array_equal(c_gpu.cpu().numpy(), c_cpu)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "uint8"])
def test_dtypes_no_copy(dtype):
    X, C = _problems(1, 8192, 32, 8, seed=1)
    X, C = X[0], C
    if dtype == "uint8":
        lo = X.min()
        X, C = np.round((X - lo) * 8), (C - lo) * 8
    x = _cuda(X, getattr(torch, dtype))
    km = flashkmeans.KMeans(8, init=C).fit(x)
    assert _torch.last_call["data"] == x.data_ptr()
    assert km.cluster_centers_.is_cuda and km.labels_.is_cuda and km.device_ == "cuda"
    ref = flashkmeans.KMeans(8, init=C, device="cpu").fit(x.float().cpu().numpy())
    assert np.array_equal(km.labels_.cpu().numpy(), ref.labels_)


def test_sklearn_front_end_on_device():
    X, C = _problems(1, 10000, 48, 10, seed=2)
    X = X[0]
    x = _cuda(X)
    km = flashkmeans.KMeans(10, init=C, precision="exact").fit(x)
    pred = km.predict(x)
    assert pred.is_cuda and torch.equal(pred, km.labels_)
    T = km.transform(x)
    assert T.is_cuda and torch.equal(T.argmin(1).int(), km.labels_)
    assert km.score(x) == pytest.approx(-km.inertia_, rel=1e-5)
    cpu = flashkmeans.KMeans(10, init=C, device="cpu").fit(X)
    assert np.array_equal(km.labels_.cpu().numpy(), cpu.labels_)
    assert km.inertia_ == pytest.approx(cpu.inertia_, abs=_margin(X, cpu.cluster_centers_, cpu.labels_))
    # the default init (auto: k-means|| on a GPU) runs on the GPU: no host copy, deterministic
    # for a seed, and its centres are data rows
    a = flashkmeans.KMeans(10, random_state=0, max_iter=0).fit(x)
    assert _torch.last_call["data"] == x.data_ptr()
    b2 = flashkmeans.KMeans(10, random_state=0, max_iter=0).fit(x)
    assert torch.equal(a.cluster_centers_, b2.cluster_centers_)
    assert bool((a.cluster_centers_[:, None, :] == x.float()[None]).all(-1).any(-1).all())
    full = flashkmeans.KMeans(10, random_state=0).fit(x)
    assert full.inertia_ <= 1.2 * cpu.inertia_  # well-separated blobs: the seeding finds them all


def test_kmeans_parallel_on_device():
    """init="k-means||" on CUDA tensors runs on the GPU (src/cuda/init/kmeans_par.cu): no host copy,
    the same centres twice, distinct data rows, every well separated blob found, batches."""
    X, C = _problems(2, 20000, 32, 40, seed=6)
    x = _cuda(X[0])
    a = flashkmeans.KMeans(40, init="k-means||", random_state=3, max_iter=0).fit(x)
    assert _torch.last_call["data"] == x.data_ptr()
    b2 = flashkmeans.KMeans(40, init="k-means||", random_state=3, max_iter=0).fit(x)
    assert torch.equal(a.cluster_centers_, b2.cluster_centers_)
    c = a.cluster_centers_
    assert bool((c[:, None, :] == x[None]).all(-1).any(-1).all())  # data rows
    assert torch.unique(c, dim=0).shape[0] == 40  # distinct
    nearest = ((c[:, None, :].double() - torch.as_tensor(C, device="cuda")[None].double()) ** 2).sum(-1).argmin(1)
    assert torch.unique(nearest).shape[0] == 40  # one centre per blob
    xb = _cuda(X)
    labels, centroids, iters = flashkmeans.batch_kmeans(xb, 40, init="k-means||", seed=3, max_iter=0)
    assert centroids.is_cuda
    for i in range(2):  # each problem's centres: distinct rows of that problem
        assert bool((centroids[i][:, None, :] == xb[i][None]).all(-1).any(-1).all())
        assert torch.unique(centroids[i], dim=0).shape[0] == 40


def test_faiss_front_end_on_device():
    X, _, _ = blobs(n=20000, d=64, k=32, seed=4)
    x = _cuda(X)
    km = flashkmeans.Kmeans(64, 32, niter=20, seed=1234, gpu=True)
    km.train(x)
    assert km.centroids.is_cuda and km.centroids.shape == (32, 64)
    D, I = km.assign(x)
    assert _torch.last_call["data"] == x.data_ptr()
    assert D.is_cuda and I.is_cuda and I.dtype == torch.int64 and D.shape == (20000,)
    ref = ((x - km.centroids[I]) ** 2).sum(1)
    torch.testing.assert_close(D, ref, rtol=1e-3, atol=1e-2)


def test_stream_and_strided():
    X, _, _ = blobs(n=5000, d=16, k=5, seed=6)
    x = _cuda(X)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        l1, c1, _ = flashkmeans.batch_kmeans(x[None], 5, init="random", seed=1)
    s.synchronize()
    xt = _cuda(np.ascontiguousarray(X.T)).T  # not contiguous: one device copy, still no host copy
    assert not xt.is_contiguous()
    l2, c2, _ = flashkmeans.batch_kmeans(xt[None], 5, init="random", seed=1)
    assert _torch.last_call["data"] != xt.data_ptr()
    assert torch.equal(l1, l2) and torch.equal(c1, c2)


def test_host_data_on_gpu():
    X, C = _problems(1, 20000, 32, 16, seed=7)
    X = X[0]
    km = flashkmeans.KMeans(16, init=C, device="cuda").fit(X)
    assert km.device_ == "cuda" and isinstance(km.cluster_centers_, np.ndarray)
    cpu = flashkmeans.KMeans(16, init=C, device="cpu").fit(X)
    assert np.array_equal(km.labels_, cpu.labels_)


def test_device_errors():
    x = _cuda(np.random.rand(100, 4))
    with pytest.raises(ValueError):
        flashkmeans.batch_kmeans(x[None], 101, init="random")
    bad = x.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        flashkmeans.batch_kmeans(bad[None], 4, init="random")


def _fit_env(x, c0, cert, **kw):
    """batch_kmeans on CUDA tensors with the certified exact mode on (default) or off (SIMT)."""
    import os
    old = os.environ.get("FKM_CU_CERT")
    if cert:
        os.environ.pop("FKM_CU_CERT", None)
    else:
        os.environ["FKM_CU_CERT"] = "0"
    try:
        return flashkmeans.batch_kmeans(x, c0.shape[0], max_iter=4, stop="fixed", init=c0, **kw)
    finally:
        if old is None:
            os.environ.pop("FKM_CU_CERT", None)
        else:
            os.environ["FKM_CU_CERT"] = old


@pytest.mark.parametrize("metric,offset", [("l2", 0.0), ("l2", 300.0), ("cosine", 0.0), ("ip", 0.0)])
def test_float32_default_is_certified_exact(metric, offset):
    """float32 CUDA tensors with the default precision (exact; certified on tensor cores where the
    GPU has them, docs/certified.md) give the SIMT fp32 kernel's labels and centroids bit for bit,
    on random data with near-ties among 300 centroids, and on data far from the origin (where
    nearly every point is re-scored)."""
    g = torch.Generator(device="cuda").manual_seed(7)
    x = torch.randn(3, 40000, 48, device="cuda", generator=g) + offset
    c0 = x[0, torch.randperm(40000, device="cuda", generator=g)[:300]].clone()
    lc, cc, _ = _fit_env(x, c0, True, metric=metric)
    ls, cs, _ = _fit_env(x, c0, False, metric=metric)
    assert torch.equal(lc, ls)
    assert torch.equal(cc, cs)


def test_rescored_statistic_on_device():
    """iteration_stats_ carries 'rescored' (int, 0 <= rescored <= n); with certification off it
    is 0 in every iteration."""
    import os
    X, C = _problems(1, 20000, 32, 50, seed=3)
    km = flashkmeans.KMeans(n_clusters=50, init=C, n_init=1, max_iter=3, tol=0.0, device="cuda")
    km.fit(X[0])
    assert all(isinstance(s["rescored"], int) and 0 <= s["rescored"] <= 20000 for s in km.iteration_stats_)
    os.environ["FKM_CU_CERT"] = "0"
    try:
        km.fit(X[0])
    finally:
        os.environ.pop("FKM_CU_CERT", None)
    assert all(s["rescored"] == 0 for s in km.iteration_stats_)
