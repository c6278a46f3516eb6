"""flashkmeans: exact k-means (Lloyd) on CPUs and GPUs -- Python binding over libflashkmeans.

    import flashkmeans
    km = flashkmeans.KMeans(n_clusters=256, random_state=0).fit(X)      # scikit-learn style
    mb = flashkmeans.MiniBatchKMeans(256).partial_fit(batch)            # approximate, incremental
    km = flashkmeans.Kmeans(d, 256, niter=25); km.train(x)               # FAISS style
    labels, centroids, iters = flashkmeans.batch_kmeans(xb, 16)          # b x n x d problems
    flashkmeans.patch_sklearn()        # sklearn.cluster.KMeans, MiniBatchKMeans -> flashkmeans where supported
    python3 -m flashkmeans.accel script.py                               # the same, no code change

The binding is pure Python over the public C header (ctypes); see docs/python.md.
"""
from . import _lib
from ._core import cuda_device_count
from ._errors import (BadInputError, CancelledError, CudaError, FlashKMeansError, FormatError,
                      InternalError, InvalidArgumentError, IOFailure, NoCudaError,
                      OutOfMemoryError)
from ._batch import batch_kmeans
from ._faiss import Kmeans
from ._sklearn import KMeans
from ._minibatch import MiniBatchKMeans



def patch_sklearn():
    """Route sklearn.cluster.KMeans and MiniBatchKMeans to flashkmeans where the call is supported,
    scikit-learn's own classes otherwise; each decision logged on the "flashkmeans.accel" logger (flashkmeans.accel,
    docs/python.md). Needs scikit-learn."""
    from . import accel

    accel.patch_sklearn()


def unpatch_sklearn():
    """Undo patch_sklearn(): sklearn.cluster.KMeans and MiniBatchKMeans are scikit-learn's own again."""
    from . import accel

    accel.unpatch_sklearn()


__version__ = _lib.version()
library_path = _lib.library_path

__all__ = ["KMeans", "MiniBatchKMeans", "Kmeans", "batch_kmeans", "cuda_device_count", "library_path", "patch_sklearn", "unpatch_sklearn", "FlashKMeansError", "InvalidArgumentError",
           "BadInputError", "FormatError", "OutOfMemoryError", "IOFailure", "NoCudaError",
           "CudaError", "CancelledError", "InternalError"]
