"""pytest setup for the Python package tests.

Run by ctest (test `python`) with PYTHONPATH=<repo>/python and FKM_BUILD_DIR=<build dir>, or by
hand: `FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 -m pytest -q tests/python`.
When the package cannot be imported here (no numpy, no built library) the whole run exits with
77, which ctest reports as SKIPPED."""
import os
import pathlib
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
if str(REPO / "python") not in sys.path:
    sys.path.insert(0, str(REPO / "python"))


def pytest_configure(config):
    try:
        import numpy  # noqa: F401
        import flashkmeans  # noqa: F401
    except ImportError as e:
        print("cannot import flashkmeans here: %s" % e)
        pytest.exit("SKIPPED: %s" % e, returncode=77)
    try:  # scikit-learn's own KMeans tests (test_sklearn_suite.py): its fixtures, the deselections
        import sklearn  # noqa: F401
    except ImportError:
        return
    import sklearn_suite

    config.pluginmanager.register(sklearn_suite, "sklearn_suite")


@pytest.fixture(scope="session")
def build_dir():
    """The build directory holding libflashkmeans.so (and the CLI, when it exists)."""
    import flashkmeans

    return pathlib.Path(os.environ.get("FKM_BUILD_DIR") or
                        os.path.dirname(os.path.abspath(flashkmeans.library_path)))


@pytest.fixture(scope="session")
def repo():
    return REPO


def blobs(n=600, d=8, k=5, seed=0, dtype="float32", spread=0.3):
    """Well separated Gaussian blobs: (X, true labels, true centres)."""
    import numpy as np

    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10, 10, size=(k, d))
    y = rng.randint(0, k, size=n)
    X = centres[y] + spread * rng.randn(n, d)
    return X.astype(dtype), y, centres


def cuda_torch():
    """torch, when both it and libflashkmeans can use a CUDA GPU; otherwise the calling test module
    is skipped (called at module level by the GPU test files)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU", allow_module_level=True)
    import flashkmeans
    from flashkmeans import _lib
    if flashkmeans.cuda_device_count() == 0:
        pytest.skip("libflashkmeans was built without CUDA or sees no GPU", allow_module_level=True)
    if not _lib.HAVE_CUDA_API:
        pytest.skip("libflashkmeans has no device-pointer API", allow_module_level=True)
    return torch
