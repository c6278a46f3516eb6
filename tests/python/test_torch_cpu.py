"""CPU torch tensors: same answers as numpy, torch results back (skipped where torch is absent)."""
import numpy as np
import pytest

import flashkmeans
from flashkmeans import _arrays
from conftest import blobs

torch = pytest.importorskip("torch")


def test_cpu_tensor_zero_copy_and_results():
    X, _, _ = blobs(n=500, d=6, k=4)
    t = torch.from_numpy(X)
    hm = _arrays.host_matrix(t)
    assert hm.ptr == t.data_ptr()  # no copy for a contiguous float32 tensor
    km = flashkmeans.KMeans(4, random_state=0).fit(t)
    ref = flashkmeans.KMeans(4, random_state=0).fit(X)
    assert isinstance(km.cluster_centers_, torch.Tensor) and isinstance(km.labels_, torch.Tensor)
    assert np.array_equal(km.cluster_centers_.numpy(), ref.cluster_centers_)
    assert np.array_equal(km.predict(t).numpy(), ref.labels_)
    assert isinstance(km.transform(t), torch.Tensor)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "uint8"])
def test_cpu_tensor_dtypes(dtype):
    X, _, _ = blobs(n=300, d=4, k=3)
    X = np.abs(X) * 5
    t = torch.from_numpy(X).to(getattr(torch, dtype))
    km = flashkmeans.KMeans(3, random_state=1).fit(t)
    ref = flashkmeans.KMeans(3, random_state=1).fit(t.float().numpy())
    assert np.array_equal(km.labels_.numpy(), ref.labels_)


def test_cpu_tensor_faiss_and_batch():
    X, _, _ = blobs(n=400, d=5, k=3)
    t = torch.from_numpy(X)
    km = flashkmeans.Kmeans(5, 3, niter=5)
    km.train(t)
    D, I = km.assign(t)
    assert isinstance(D, torch.Tensor) and I.dtype == torch.int64
    l, c, it = flashkmeans.batch_kmeans(torch.stack([t, t]), 3)
    assert l.shape == (2, 400) and isinstance(c, torch.Tensor)


def test_requires_grad_and_strided():
    X, _, _ = blobs(n=200, d=4, k=2)
    t = torch.from_numpy(X).requires_grad_(True)
    flashkmeans.KMeans(2, random_state=0).fit(t)
    s = torch.from_numpy(np.ascontiguousarray(X.T)).T  # F-ordered view
    assert np.array_equal(flashkmeans.KMeans(2, random_state=0).fit(s).labels_.numpy(),
                          flashkmeans.KMeans(2, random_state=0).fit(X).labels_)
