"""DLPack import (python/flashkmeans/_dlpack.py) on the CPU: numpy's own __dlpack__ behind a
wrapper, and a hand-made producer (dlpack_producer.py) for what numpy cannot make: bfloat16,
arbitrary strides and byte offsets, DLPack 1.0 capsules, foreign devices, bad types. Checks the
protocol (capsule renamed, deleter called exactly once, no stream for CPU data), zero copies for
C-contiguous data, and results equal to the numpy path."""
import ctypes
import gc
import sys

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _arrays, _dlpack, _lib
from conftest import blobs
from dlpack_producer import Forward, Producer, bf16_bits, capsule_name

F32, F16, BF16, U8 = (2, 32, 1), (2, 16, 1), (4, 16, 1), (1, 8, 1)


def _fit(X, **kw):
    return flashkmeans.KMeans(5, random_state=3, **kw).fit(X)


def test_numpy_dlpack_zero_copy_and_same_result():
    X, _, _ = blobs()
    f = Forward(X)
    hm = _arrays.host_matrix(f)
    assert hm.ptr == X.ctypes.data and hm.code == _lib.FKM_F32  # the producer's memory itself
    assert not hm.array.flags.writeable  # the binding only reads it
    assert all("stream" not in kw or kw["stream"] is None for kw in f.calls)  # CPU: no stream
    a, b = _fit(Forward(X)), _fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_, b.labels_) and a.inertia_ == b.inertia_
    assert type(a.labels_) is np.ndarray


def test_numpy_deleter_releases_the_array():
    """numpy's capsule holds a reference to the array until its deleter runs: the count must
    go up while the import lives and back down once it is gone (deleter called once)."""
    X, _, _ = blobs()
    before = sys.getrefcount(X)
    hm = _arrays.host_matrix(Forward(X))
    assert sys.getrefcount(X) == before + 1
    del hm
    gc.collect()
    assert sys.getrefcount(X) == before
    _fit(Forward(X)).predict(Forward(X))
    gc.collect()
    assert sys.getrefcount(X) == before


@pytest.mark.parametrize("view", ["fortran", "columns", "rows"])
def test_numpy_strided_copies_once(view):
    X, _, _ = blobs(d=12)
    V = {"fortran": np.asfortranarray(X), "columns": X[:, ::2], "rows": X[::2]}[view]
    hm = _arrays.host_matrix(Forward(V))
    assert hm.array.flags.c_contiguous and np.array_equal(hm.array, V)
    assert hm.ptr != X.ctypes.data  # a copy, since the strides are not C-contiguous
    a, b = _fit(Forward(V)), _fit(np.ascontiguousarray(V))
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.uint8, np.int32])
def test_numpy_dtypes(dtype):
    X, _, _ = blobs()
    X = (X * 10 if dtype in (np.uint8, np.int32) else X).astype(dtype)
    hm = _arrays.host_matrix(Forward(X))
    native = dtype != np.int32
    assert (hm.ptr == X.ctypes.data) == native  # read in place, or converted to float32 once
    a, b = _fit(Forward(X)), _fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    if native:  # scikit-learn's validation turns int into float64, the DLPack path into float32
        assert a.cluster_centers_.dtype == b.cluster_centers_.dtype
        assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_bool_converted():
    """numpy 1.24 cannot export bool; the hand-made producer can (kDLBool, 8 bits)."""
    X, _, _ = blobs()
    B = X > 0
    hm = _arrays.host_matrix(Producer(B, B.shape, (6, 8, 1)))
    assert hm.code == _lib.FKM_F32 and np.array_equal(hm.array, B.astype(np.float32))


def test_handmade_protocol():
    X, _, _ = blobs()
    p = Producer(X, X.shape, F32)
    hm = _arrays.host_matrix(p)
    assert hm.ptr == X.ctypes.data
    assert [capsule_name(c) for c in p.capsules] == ["used_dltensor"]
    assert p.deleted == []  # still in use: the view is alive
    del hm
    gc.collect()
    assert p.deleted == p.struct_addresses()  # exactly once, with the managed tensor's address
    assert p.calls == [{"max_version": (1, 0)}]  # no stream for CPU data


def test_handmade_versioned_capsule():
    X, _, _ = blobs()
    p = Producer(X, X.shape, F32, versioned=True, readonly=True)
    a = _fit(p)
    gc.collect()
    assert [capsule_name(c) for c in p.capsules] == ["used_dltensor_versioned"]
    assert p.deleted == p.struct_addresses()
    assert np.array_equal(a.cluster_centers_, _fit(X).cluster_centers_)


def test_handmade_newer_major_version_refused():
    X, _, _ = blobs()
    p = Producer(X, X.shape, F32, versioned=True, version=(2, 0))
    with pytest.raises(BufferError, match="DLPack version 2.0"):
        _arrays.host_matrix(p)
    assert p.deleted == p.struct_addresses()  # freed even though it was refused


def test_handmade_bfloat16():
    X, _, _ = blobs()
    bits, values = bf16_bits(X)
    p = Producer(bits, bits.shape, BF16)
    hm = _arrays.host_matrix(p)
    assert hm.code == _lib.FKM_BF16 and hm.ptr == bits.ctypes.data
    del hm
    a, b = _fit(p), _fit(values)  # bf16 widens exactly: the same fit bit for bit
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.cluster_centers_.dtype == np.float32


def test_handmade_strides_and_offset():
    """A transposed float16 view with a byte offset: copied once, values exact."""
    X, _, _ = blobs(n=300, d=6)
    base = np.zeros(8 + X.size, np.float16)
    base[8:] = X.astype(np.float16).T.ravel()  # column-major storage after 8 padding elements
    n, d = X.shape
    p = Producer(base, (n, d), F16, strides=(1, n), byte_offset=16)
    hm = _arrays.host_matrix(p)
    assert np.array_equal(hm.array, X.astype(np.float16)) and hm.code == _lib.FKM_F16
    gc.collect()
    assert p.deleted == p.struct_addresses()  # copied, so the producer's tensor is freed already
    a, b = _fit(p), _fit(X.astype(np.float16))
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)


def test_handmade_contiguous_strides_are_not_copied():
    """Explicit strides equal to the C-contiguous ones (size-1 dimensions may have any stride)."""
    X, _, _ = blobs(d=1)
    p = Producer(X, X.shape, F32, strides=(1, 12345))
    assert _arrays.host_matrix(p).ptr == X.ctypes.data


@pytest.mark.parametrize("device,name", [((10, 0), "rocm"), ((4, 1), "opencl"), ((8, 0), "metal")])
def test_bad_device(device, name):
    X, _, _ = blobs()
    p = Producer(X, X.shape, F32, device=device)
    with pytest.raises(ValueError, match=name):
        _fit(p)
    assert p.calls == []  # refused before any capsule was taken


@pytest.mark.parametrize("dtype,what", [((2, 8, 1), "float8"), ((2, 32, 4), "float32x4"),
                                        ((4, 32, 1), "bfloat32")])
def test_bad_dtype(dtype, what):
    X, _, _ = blobs()
    p = Producer(X, X.shape, dtype)
    with pytest.raises(TypeError, match=what):
        _fit(p)
    assert p.deleted == p.struct_addresses()


def test_complex_refused():
    X = np.ones((10, 2), np.complex64)
    with pytest.raises(ValueError, match="Complex"):
        _fit(Producer(X, X.shape, (5, 64, 1)))


def test_not_a_capsule():
    class Bad:
        def __dlpack__(self, **kw):
            return object()

        def __dlpack_device__(self):
            return (1, 0)

    with pytest.raises(TypeError, match="DLPack capsule"):
        _fit(Bad())


def test_capsule_used_twice_refused():
    X, _, _ = blobs()
    p = Producer(X, X.shape, F32)
    c = p.__dlpack__()
    _dlpack.consume(c).owner.release()

    class Again:
        def __dlpack__(self, **kw):
            return c

        def __dlpack_device__(self):
            return (1, 0)

    with pytest.raises(TypeError, match="unused DLPack capsule"):
        _fit(Again())
    assert len(p.deleted) == 1


def test_wrong_rank_and_empty():
    X = np.ones(10, np.float32)
    with pytest.raises(ValueError, match="Expected 2D array"):
        _fit(Producer(X, X.shape, F32))
    E = np.ones((0, 3), np.float32)
    with pytest.raises(ValueError, match="0 sample"):
        _fit(Forward(E))


def test_cuda_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` fails, installed or not
    p = Producer(0x10000, (10, 2), F32, device=(2, 0))
    with pytest.raises(TypeError, match="PyTorch, which is not installed here"):
        _fit(p)
    assert p.calls == []  # nothing consumed


def test_cuda_with_torch_that_has_no_gpu():
    """A CUDA producer where torch exists but cannot use a GPU (Debian's CPU-only python3-torch):
    the same clear TypeError, nothing consumed (it was torch's AssertionError 'Torch not compiled
    with CUDA enabled')."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("torch sees a GPU: tests/python/test_dlpack_cuda.py covers CUDA producers")
    p = Producer(0x10000, (10, 2), F32, device=(2, 0))
    with pytest.raises(TypeError, match="PyTorch here cannot use a CUDA GPU"):
        _fit(p)
    assert p.calls == []


def test_weights_init_and_front_ends():
    X, _, C = blobs()
    w = np.random.RandomState(1).uniform(0.5, 2, len(X)).astype(np.float32)
    C = np.ascontiguousarray(C, np.float32)
    bits, cb = bf16_bits(C)
    a = flashkmeans.KMeans(5, init=Producer(bits, bits.shape, BF16)).fit(
        Forward(X), sample_weight=Forward(w))
    b = flashkmeans.KMeans(5, init=cb).fit(X, sample_weight=w)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.score(Forward(X), sample_weight=Forward(w)) == b.score(X, sample_weight=w)
    np.testing.assert_array_equal(a.transform(Forward(X)), b.transform(X))
    np.testing.assert_array_equal(a.fit_predict(Forward(X)), b.fit_predict(X))
    km1, km2 = flashkmeans.Kmeans(X.shape[1], 5, niter=5), flashkmeans.Kmeans(X.shape[1], 5, niter=5)
    km1.train(Forward(X), weights=Forward(w), init_centroids=Forward(C))
    km2.train(X, weights=w, init_centroids=C)
    assert np.array_equal(km1.centroids, km2.centroids)
    D1, I1 = km1.assign(Forward(X[:50]))
    D2, I2 = km2.assign(X[:50])
    assert np.array_equal(D1, D2) and np.array_equal(I1, I2)
    xb = np.stack([X, X[::-1].copy()])
    l1, c1, i1 = flashkmeans.batch_kmeans(Forward(xb), 5, seed=2, weights=Forward(np.stack([w, w])))
    l2, c2, i2 = flashkmeans.batch_kmeans(xb, 5, seed=2, weights=np.stack([w, w]))
    assert np.array_equal(c1, c2) and np.array_equal(l1, l2) and type(l1) is np.ndarray


def test_structs_match_dlpack_h():
    """The ctypes layout of dlpack.h (v1.0) on a 64-bit ABI."""
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("offsets below are for 64-bit pointers")
    assert ctypes.sizeof(_dlpack.DLTensor) == 48
    assert _dlpack.DLTensor.shape.offset == 24 and _dlpack.DLTensor.byte_offset.offset == 40
    assert ctypes.sizeof(_dlpack.DLManagedTensor) == 64
    assert _dlpack.DLManagedTensor.deleter.offset == 56
    assert _dlpack.DLManagedTensorVersioned.flags.offset == 24
    assert _dlpack.DLManagedTensorVersioned.dl_tensor.offset == 32
