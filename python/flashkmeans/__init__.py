"""flashkmeans: exact k-means (Lloyd) on CPUs and GPUs -- Python binding over libflashkmeans.

    import flashkmeans
    km = flashkmeans.KMeans(n_clusters=256, random_state=0).fit(X)      # scikit-learn style
    km = flashkmeans.Kmeans(d, 256, niter=25); km.train(x)               # FAISS style
    labels, centroids, iters = flashkmeans.batch_kmeans(xb, 16)          # b x n x d problems

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

__version__ = _lib.version()
library_path = _lib.library_path

__all__ = ["KMeans", "Kmeans", "batch_kmeans", "cuda_device_count", "library_path", "FlashKMeansError", "InvalidArgumentError",
           "BadInputError", "FormatError", "OutOfMemoryError", "IOFailure", "NoCudaError",
           "CudaError", "CancelledError", "InternalError"]
