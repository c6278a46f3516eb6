"""DLPack import of CUDA arrays: a producer that only has __dlpack__/__dlpack_device__ (a torch
CUDA tensor behind a wrapper, and the hand-made producer over torch-allocated device memory)
goes to the device-pointer API with no copy (pointer identity), gets the consumer's stream, and
has its deleter called once. Skipped without torch, a GPU, or a library built with CUDA. Run on
the GPU machine by `make gpu-check` (the ctest `python`), or alone:
  FKM_BUILD_DIR=build PYTHONPATH=python python3 -m pytest -q tests/python/test_dlpack_cuda.py"""
import gc

import numpy as np
import pytest

import flashkmeans
from conftest import blobs, cuda_torch
from dlpack_producer import Forward, Producer, capsule_name

torch = cuda_torch()

from flashkmeans import _torch  # noqa: E402


def _data(dtype=torch.float32, n=4000, d=32, k=8):
    X, _, C = blobs(n=n, d=d, k=k)
    return torch.as_tensor(X).to("cuda", dtype), torch.as_tensor(C, dtype=torch.float32)


def _expected_stream():
    s = torch.cuda.current_stream().cuda_stream
    return s if s else 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_zero_copy_and_same_result(dtype):
    x, C = _data(dtype)
    f = Forward(x)
    km = flashkmeans.KMeans(8, init=C).fit(f)
    assert _torch.last_call["data"] == x.data_ptr()  # the library read the producer's memory
    assert f.calls and all(kw.get("stream") == _expected_stream() for kw in f.calls)
    assert km.labels_.device == x.device and km.cluster_centers_.device == x.device
    ref = flashkmeans.KMeans(8, init=C).fit(x)
    assert torch.equal(km.labels_, ref.labels_)
    assert torch.equal(km.cluster_centers_, ref.cluster_centers_)
    assert torch.equal(km.predict(Forward(x)), ref.predict(x))
    assert torch.allclose(km.transform(Forward(x)), ref.transform(x))


def test_stream_is_the_current_one():
    x, C = _data()
    s = torch.cuda.Stream()
    f, fb = Forward(x), Forward(x[None])
    with torch.cuda.stream(s):
        labels, _, _ = flashkmeans.batch_kmeans(fb, 8, init=C, max_iter=5)
        flashkmeans.KMeans(8, init=C, max_iter=5).fit(f)
    torch.cuda.synchronize()
    assert s.cuda_stream != 0
    assert f.calls[-1]["stream"] == s.cuda_stream and fb.calls[-1]["stream"] == s.cuda_stream
    assert labels.shape == (1, x.shape[0])


def test_strided_is_copied_on_the_device():
    x, C = _data(d=64)
    v = x[:, ::2]
    km = flashkmeans.KMeans(8, init=C[:, ::2].contiguous()).fit(Forward(v))
    assert _torch.last_call["data"] != x.data_ptr()  # made contiguous (a device copy)
    ref = flashkmeans.KMeans(8, init=C[:, ::2].contiguous()).fit(v.contiguous())
    assert torch.equal(km.labels_, ref.labels_)


def test_handmade_device_producer_deleter():
    x, C = _data()
    p = Producer(x.data_ptr(), tuple(x.shape), (2, 32, 1), device=(2, x.device.index or 0))
    km = flashkmeans.KMeans(8, init=C).fit(p)
    assert _torch.last_call["data"] == x.data_ptr()
    assert p.calls[0]["stream"] == _expected_stream()
    gc.collect()
    assert [capsule_name(c) for c in p.capsules] == ["used_dltensor"]
    assert p.deleted == p.struct_addresses()  # once, after the device view was dropped
    assert torch.equal(km.labels_, flashkmeans.KMeans(8, init=C).fit(x).labels_)


def test_bad_dtype_on_device():
    x, _ = _data()
    p = Producer(x.data_ptr(), tuple(x.shape), (1, 32, 1), device=(2, x.device.index or 0))
    with pytest.raises(TypeError, match="uint32"):
        flashkmeans.KMeans(8).fit(p)
    gc.collect()
    assert p.deleted == p.struct_addresses()


def test_numpy_results_stay_numpy():
    X, _, C = blobs()
    km = flashkmeans.KMeans(5, init=C, device="cuda").fit(Forward(X))
    assert isinstance(km.labels_, np.ndarray)
