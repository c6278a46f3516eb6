"""Library failures arrive as the Python exception a user expects, carrying fkm_last_error()."""
import numpy as np
import pytest

import flashkmeans
from flashkmeans import _core, _errors, _lib
from conftest import blobs

EXPECTED = {
    _lib.FKM_ERR_INVALID_ARG: ValueError, _lib.FKM_ERR_BAD_INPUT: ValueError,
    _lib.FKM_ERR_FORMAT: ValueError, _lib.FKM_ERR_NO_MEMORY: MemoryError,
    _lib.FKM_ERR_IO: OSError, _lib.FKM_ERR_NO_CUDA: RuntimeError, _lib.FKM_ERR_CUDA: RuntimeError,
    _lib.FKM_ERR_CANCELLED: RuntimeError, _lib.FKM_ERR_INTERNAL: RuntimeError,
}


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_status_mapping(status):
    e = _errors.error_for(status, "fit")
    assert isinstance(e, EXPECTED[status]) and isinstance(e, flashkmeans.FlashKMeansError)
    assert e.status == status
    assert _lib.status_str(status) in str(e)


def test_unknown_status_is_internal():
    assert isinstance(_errors.error_for(1234), flashkmeans.InternalError)


def _faiss_train(x, k=3):
    """FAISS front end: no scikit-learn validation in front, so the library's checks speak."""
    return flashkmeans.Kmeans(x.shape[1], k, niter=3).train(x)


def test_nan_inf_detected_by_library_with_position():
    x = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    x[12, 3] = np.nan
    with pytest.raises(flashkmeans.BadInputError, match=r"data\[12\]\[3\] is NaN") as ei:
        _faiss_train(x)
    assert isinstance(ei.value, ValueError) and ei.value.detail == "data[12][3] is NaN"
    x[12, 3] = -np.inf
    with pytest.raises(ValueError, match=r"data\[12\]\[3\] is -Inf"):
        _faiss_train(x)


def test_nan_in_sklearn_front_end_and_predict():
    X, _, _ = blobs(n=50, d=3, k=3)
    bad = X.copy()
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="inf"):
        flashkmeans.KMeans(3).fit(bad)
    km = flashkmeans.KMeans(3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="inf"):
        km.predict(bad)


def test_invalid_argument_text_from_library():
    x = np.random.RandomState(0).rand(5, 2).astype(np.float32)
    with pytest.raises(flashkmeans.InvalidArgumentError,
                       match="k = 10 is larger than the number of points n = 5"):
        _faiss_train(x, k=10)
    with pytest.raises(ValueError, match="n_samples=5 should be >= n_clusters=10"):
        flashkmeans.KMeans(10).fit(x)


def test_bad_weights():
    X, _, _ = blobs(n=30, d=2, k=2)
    w = np.ones(30)
    w[7] = -1
    with pytest.raises(flashkmeans.BadInputError, match=r"weights\[7\] = -1 is negative"):
        flashkmeans.KMeans(2).fit(X, sample_weight=w)
    with pytest.raises(ValueError, match="all 30 weights are zero"):
        flashkmeans.KMeans(2).fit(X, sample_weight=np.zeros(30))
    with pytest.raises(ValueError):
        flashkmeans.KMeans(2).fit(X, sample_weight=np.ones(29))


def test_too_large_values():
    x = np.full((10, 4), 1e30, dtype=np.float64)
    with pytest.raises(flashkmeans.BadInputError, match="too large"):
        _faiss_train(x)


def test_precision_needs_gpu_when_cpu_forced():
    X, _, _ = blobs(n=50, d=3, k=3)
    with pytest.raises(flashkmeans.InvalidArgumentError, match="precision tf32 needs the cuda device"):
        flashkmeans.KMeans(3, device="cpu", precision="tf32").fit(X)


def test_no_cuda():
    if flashkmeans.cuda_device_count() > 0:
        pytest.skip("a GPU is present")
    X, _, _ = blobs(n=50, d=3, k=3)
    with pytest.raises(flashkmeans.NoCudaError, match="device=cuda requested") as ei:
        flashkmeans.KMeans(3, device="cuda").fit(X)
    assert isinstance(ei.value, RuntimeError)


def test_shapes_and_types():
    with pytest.raises(ValueError, match="Reshape your data"):
        flashkmeans.KMeans(1).fit(np.zeros(5))
    km = flashkmeans.KMeans(1, random_state=0).fit(np.ones((4, 2)))
    with pytest.raises(ValueError, match="Reshape your data"):
        km.predict(np.ones(2))
    with pytest.raises(ValueError, match="X has 3 features, but KMeans is expecting 2"):
        km.predict(np.ones((4, 3)))
    with pytest.raises(ValueError, match="0 sample"):
        flashkmeans.KMeans(1).fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"0 feature\(s\)"):
        flashkmeans.KMeans(1).fit(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="Complex data not supported"):
        flashkmeans.KMeans(1).fit(np.ones((3, 2), dtype=complex))
    with pytest.raises(ValueError, match="Expected 2D array"):
        _faiss_train(np.zeros((2, 3, 4), np.float32))


def test_sparse_rejected_with_message():
    """KMeans takes scipy sparse input (test_sparse.py); the FAISS-style and batched front ends
    do not, and say so."""
    sparse = pytest.importorskip("scipy.sparse")
    X = sparse.random(20, 4, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match="sparse"):
        flashkmeans.Kmeans(4, 2).train(X)
    with pytest.raises(TypeError, match="sparse"):
        flashkmeans.batch_kmeans(X, 2)


def test_error_leaves_library_usable():
    X, _, _ = blobs(n=50, d=3, k=3)
    with pytest.raises(ValueError):
        _faiss_train(np.full((5, 3), np.nan, np.float32))
    assert flashkmeans.KMeans(3, random_state=0).fit(X).n_iter_ >= 1


def test_enum_strings_rejected_early():
    with pytest.raises(ValueError, match="device must be"):
        _core.parse_device("gpu0")
    assert _core.parse_device("cuda:3") == (_lib.FKM_DEVICE_CUDA, 3)
    assert _core.parse_device(1) == (_lib.FKM_DEVICE_CUDA, 1)
