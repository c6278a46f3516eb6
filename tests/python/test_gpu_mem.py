"""gpu_mem_limit (fkm_params.gpu_mem_limit): parsed, range-checked and passed to the library by
every entry point; CPU-side checks that run on any machine (the GPU behaviour is tested in C by
tests/test_cuda_mem.c)."""
import ctypes

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _core, _lib
from conftest import blobs


@pytest.mark.parametrize("value,expect", [(None, 0), (0, 0), (12345, 12345), ("4G", 4 << 30),
                                          ("512M", 512 << 20), ("1.5G", 3 << 29), ("4GiB", 4 << 30),
                                          ("64k", 64 << 10), ("1000", 1000), (np.int64(7), 7),
                                          ("0.5G", 1 << 29), (".5G", 1 << 29), ("0.3K", 307), ("0G", 0),
                                          ("1000B", 1000), ("18446744073709551615", 2 ** 64 - 1),
                                          ("1.1G", 1181116006)])
def test_parse(value, expect):
    assert _core.make_params(3, gpu_mem_limit=value).gpu_mem_limit == expect


@pytest.mark.parametrize("bad", [-1, "-1", "lots", "4X", "", "1.5.5G", True, 1.5, 2 ** 64, [1],
                                 # issue 23 item 8: "0.5" was 0 bytes (no cap), "1.5" one byte
                                 "0.5", "1.5", "1.5b", "1.", "0.0", "0.0000000001G", "18446744073709551616"])
def test_bad_values_raise(bad):
    with pytest.raises(ValueError, match="gpu_mem_limit"):
        _core.make_params(3, gpu_mem_limit=bad)


def test_default_is_no_cap():
    p = _lib.fkm_params()
    _lib.lib.fkm_params_default(ctypes.byref(p))
    assert p.gpu_mem_limit == 0
    assert _core.make_params(3).gpu_mem_limit == 0


def test_estimators_pass_it_on(monkeypatch):
    x = blobs(n=300, d=4, k=3, seed=1)[0]
    seen = []
    real = _core.fit

    def spy(p, *a, **kw):
        seen.append(p.gpu_mem_limit)
        return real(p, *a, **kw)

    monkeypatch.setattr(_core, "fit", spy)
    flashkmeans.KMeans(3, device="cpu", gpu_mem_limit="2G").fit(x)
    assert seen == [2 << 30]
    assert flashkmeans.Kmeans(4, 3, gpu_mem_limit=1 << 20)._params().gpu_mem_limit == 1 << 20
    with pytest.raises(ValueError, match="gpu_mem_limit"):
        flashkmeans.KMeans(3, gpu_mem_limit="nope").fit(x)
    with pytest.raises(ValueError, match="gpu_mem_limit"):
        flashkmeans.Kmeans(4, 3, gpu_mem_limit=-5)


def test_batch_passes_it_on(monkeypatch):
    xb = np.stack([blobs(n=200, d=4, k=3, seed=s)[0] for s in range(2)])
    seen = []
    real = _core.fit_batch

    def spy(p, *a, **kw):
        seen.append(p.gpu_mem_limit)
        return real(p, *a, **kw)

    monkeypatch.setattr(_core, "fit_batch", spy)
    flashkmeans.batch_kmeans(xb, 3, device="cpu", gpu_mem_limit="3M")
    assert seen == [3 << 20]
    with pytest.raises(ValueError, match="gpu_mem_limit"):
        flashkmeans.batch_kmeans(xb, 3, gpu_mem_limit="3Q")


def test_auto_with_a_tiny_cap_runs_on_the_cpu():
    # With a GPU the 1-byte cap cannot hold the problem: device="auto" falls back to the CPU.
    x = blobs(n=500, d=8, k=4, seed=2)[0]
    km = flashkmeans.KMeans(4, device="auto", gpu_mem_limit=1, random_state=0).fit(x)
    assert km.device_ == "cpu"
    ref = flashkmeans.KMeans(4, device="cpu", random_state=0).fit(x)
    assert np.array_equal(km.labels_, ref.labels_)


def test_estimate_without_gpu():
    p = _core.make_params(4)
    x = np.zeros((100, 8), dtype=np.float32)
    m = _lib.fkm_matrix(x.ctypes.data, _lib.FKM_F32, 100, 8, None)
    out = ctypes.c_size_t(123)
    st = _lib.lib.fkm_gpu_memory_estimate(ctypes.byref(p), ctypes.byref(m), ctypes.byref(out))
    if _core.cuda_device_count() == 0:
        assert st == _lib.FKM_ERR_NO_CUDA and out.value == 0
    else:
        assert st == _lib.FKM_OK and out.value > 100 * 8 * 4
