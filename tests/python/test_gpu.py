"""PyTorch CUDA tensors through the device-pointer API: zero copies (pointer identity), results
on the input's device, parity with the CPU engine. Skipped without torch, a GPU, or a library
built with CUDA. Run on the GPU machine by `make gpu-check`."""
import numpy as np
import pytest

import flashkmeans
from flashkmeans import _lib
from conftest import blobs

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("torch sees no CUDA GPU", allow_module_level=True)
if flashkmeans.cuda_device_count() == 0:
    pytest.skip("libflashkmeans was built without CUDA or sees no GPU", allow_module_level=True)
if not _lib.HAVE_CUDA_API:
    pytest.skip("libflashkmeans has no device-pointer API", allow_module_level=True)

from flashkmeans import _torch  # noqa: E402


def _cuda(a, dtype=torch.float32):
    return torch.as_tensor(np.ascontiguousarray(a)).to(device="cuda", dtype=dtype)


def test_zero_copy_batch():
    X = np.stack([blobs(n=4096, d=64, k=16, seed=s)[0] for s in range(3)])
    x = _cuda(X)
    labels, centroids, iters = flashkmeans.batch_kmeans(x, 16, init="random", seed=5)
    assert _torch.last_call["data"] == x.data_ptr()  # the library read the tensor itself
    assert labels.data_ptr() == _torch.last_call["labels"]  # and wrote the returned tensors
    assert centroids.data_ptr() == _torch.last_call["centroids"]
    assert labels.device == x.device and centroids.device == x.device and iters.device == x.device
    assert labels.dtype == torch.int32 and centroids.shape == (3, 16, 64)
    # same problems on the CPU engine (host API): same partition (well separated blobs)
    l_cpu, c_cpu, _ = flashkmeans.batch_kmeans(X, 16, init="random", seed=5, device="cpu")
    assert np.array_equal(labels.cpu().numpy(), l_cpu)
    np.testing.assert_allclose(centroids.cpu().numpy(), c_cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64", "uint8"])
def test_dtypes_no_copy(dtype):
    X, y, _ = blobs(n=8192, d=32, k=8, seed=1)
    X = (X - X.min()) * (8 if dtype == "uint8" else 1)
    x = _cuda(X, getattr(torch, dtype))
    km = flashkmeans.KMeans(8, init="random", random_state=0).fit(x)
    assert _torch.last_call["data"] == x.data_ptr()
    assert km.cluster_centers_.is_cuda and km.labels_.is_cuda and km.device_ == "cuda"
    ref = flashkmeans.KMeans(8, init="random", random_state=0, device="cpu").fit(
        x.float().cpu().numpy())
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(km.labels_.cpu().numpy(), ref.labels_) == 1.0


def test_sklearn_front_end_on_device():
    X, _, _ = blobs(n=10000, d=48, k=10, seed=2)
    x = _cuda(X)
    km = flashkmeans.KMeans(10, init="random", random_state=3, precision="exact").fit(x)
    pred = km.predict(x)
    assert pred.is_cuda and torch.equal(pred, km.labels_)
    T = km.transform(x)
    assert T.is_cuda and torch.equal(T.argmin(1).int(), km.labels_)
    assert km.score(x) == pytest.approx(-km.inertia_, rel=1e-5)
    cpu = flashkmeans.KMeans(10, init="random", random_state=3, device="cpu").fit(X)
    assert np.array_equal(km.labels_.cpu().numpy(), cpu.labels_)
    assert km.inertia_ == pytest.approx(cpu.inertia_, rel=1e-5)


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
    l2, c2, _ = flashkmeans.batch_kmeans(xt[None], 5, init="random", seed=1)
    assert torch.equal(l1, l2) and torch.equal(c1, c2)


def test_host_data_on_gpu():
    X, _, _ = blobs(n=20000, d=32, k=16, seed=7)
    km = flashkmeans.KMeans(16, random_state=0, device="cuda").fit(X)
    assert km.device_ == "cuda" and isinstance(km.cluster_centers_, np.ndarray)
    cpu = flashkmeans.KMeans(16, random_state=0, device="cpu").fit(X)
    assert np.array_equal(km.labels_, cpu.labels_)


def test_device_errors():
    x = _cuda(np.random.rand(100, 4))
    with pytest.raises(ValueError):
        flashkmeans.batch_kmeans(x[None], 101, init="random")
    bad = x.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        flashkmeans.batch_kmeans(bad[None], 4, init="random")
