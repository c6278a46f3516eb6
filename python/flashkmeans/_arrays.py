"""Host arrays for the C API: numpy (and CPU torch tensors) without needless copies.

The library reads float32, float64, float16, bfloat16 and uint8 directly (fkm_dtype), so those
are passed as they are. A C-ordered array is passed by pointer; an F-ordered or strided one is
copied once with np.ascontiguousarray. Any other numeric type (int, bool, ...) is converted once
to float32, the type the engines compute in.
"""
import numpy as np

from . import _lib

_NUMPY_CODES = {
    np.dtype(np.float32): _lib.FKM_F32,
    np.dtype(np.float64): _lib.FKM_F64,
    np.dtype(np.float16): _lib.FKM_F16,
    np.dtype(np.uint8): _lib.FKM_U8,
}


def is_bfloat16(dtype):
    """bfloat16 from ml_dtypes (or any numpy extension type of that name): 2 bytes, bf16 bits."""
    return getattr(dtype, "name", "") == "bfloat16" and dtype.itemsize == 2


def is_torch(x):
    t = type(x)
    return t.__module__.startswith("torch") and t.__name__ in ("Tensor", "Parameter")


def is_cuda_tensor(x):
    return is_torch(x) and x.is_cuda


def is_sparse(x):
    return hasattr(x, "tocsr") or (is_torch(x) and x.layout != __import__("torch").strided)


def is_scipy_sparse(x):
    mod = type(x).__module__
    if not mod.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sp

    return sp.issparse(x)


class CsrMatrix:
    """A scipy sparse matrix as fkm_csr's arrays (canonical CSR: int64 indptr, int32 sorted unique
    column indices, float32 values): no dense copy. The arrays keep the memory alive."""

    __slots__ = ("indptr", "indices", "data", "shape", "source_dtype")

    def __init__(self, X):
        if X.format != "csr":
            X = X.tocsr()  # CSC, COO, ...: a conversion of the entries, never dense
        if not X.has_canonical_format:  # duplicates summed, columns sorted, on a copy
            X = X.copy()
            X.sum_duplicates()
        self.source_dtype = X.dtype
        self.shape = X.shape
        self.indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(X.indices, dtype=np.int32)
        self.data = np.ascontiguousarray(X.data, dtype=np.float32)


class HostMatrix:
    """A C-contiguous host array plus its fkm_dtype. `array` keeps the memory alive."""

    __slots__ = ("array", "code", "source_dtype")

    def __init__(self, array, code, source_dtype):
        self.array, self.code, self.source_dtype = array, code, source_dtype

    @property
    def shape(self):
        return self.array.shape

    @property
    def ptr(self):
        return self.array.__array_interface__["data"][0]


def _torch_to_numpy(t):
    """CPU tensor -> numpy view (no copy for contiguous tensors). bfloat16 has no numpy type,
    so its bits travel as uint16 and the dtype code says BF16."""
    import torch

    if t.is_cuda:
        raise TypeError("a CUDA tensor reached the host path (internal error)")
    t = t.detach()
    if t.dtype == torch.bfloat16:
        return t.contiguous().view(torch.int16).numpy().view(np.uint16), _lib.FKM_BF16
    if t.dtype not in (torch.float32, torch.float64, torch.float16, torch.uint8):
        t = t.to(torch.float32)
    return t.numpy(), None


def host_matrix(x, ndim=2, name="X"):
    """Any array-like -> HostMatrix with x.ndim == ndim (2 for n x d, 3 for b x n x d). DLPack
    producers (objects with __dlpack__ that are neither numpy arrays nor torch tensors) are read
    through the DLPack protocol (_dlpack.py)."""
    from . import _dlpack  # imports this module

    x = _dlpack.imported(x, name)
    if isinstance(x, HostMatrix):
        return _checked(x.array, x.code, x.source_dtype, ndim, name)
    code = None
    if is_torch(x):
        x, code = _torch_to_numpy(x)
    elif is_sparse(x):
        raise TypeError("%s is a sparse matrix: flashkmeans needs dense data "
                        "(convert with X.toarray())" % name)
    a = np.asarray(x)
    src = a.dtype
    if code is None and is_bfloat16(a.dtype):
        code = _lib.FKM_BF16
    if code is None:
        if np.iscomplexobj(a):
            raise ValueError("Complex data not supported: %s has dtype %s" % (name, a.dtype))
        code = _NUMPY_CODES.get(a.dtype)
        if code is None:
            if a.dtype.kind not in "biuf" and a.dtype != object:
                raise ValueError("%s has dtype %s: flashkmeans needs numbers" % (name, a.dtype))
            a = a.astype(np.float32)
            code = _lib.FKM_F32
    return _checked(a, code, src, ndim, name)


def _checked(a, code, src, ndim, name):
    """Rank and size checks; one copy when a is not C-contiguous."""
    if a.ndim != ndim:
        hint = " Reshape your data either using array.reshape(-1, 1) if your data has a single " \
               "feature or array.reshape(1, -1) if it contains a single sample." if a.ndim == 1 else ""
        raise ValueError("Expected %dD array, got %dD array instead (%s has shape %s).%s"
                         % (ndim, a.ndim, name, a.shape, hint))
    if a.shape[-2] < 1:
        raise ValueError("Found array with 0 sample(s) (shape=%s) while a minimum of 1 is required."
                         % (a.shape,))
    if a.shape[-1] < 1:
        raise ValueError("Found array with 0 feature(s) (shape=%s) while a minimum of 1 is required."
                         % (a.shape,))
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    return HostMatrix(a, code, src)


def host_values(x, name="array"):
    """x's values on the host: a DLPack producer's or a torch tensor's (copied from a GPU) as
    numpy; anything else unchanged."""
    x = dlpack_values(x, name)
    return x.detach().cpu().numpy() if is_torch(x) else x


def float32_matrix(c, shape, name):
    """Centroids and weights travel as float32 (the C API's type for them)."""
    c = host_values(c, name)
    a = np.ascontiguousarray(np.asarray(c, dtype=np.float32))
    if a.shape != shape:
        raise ValueError("%s must have shape %s, got %s" % (name, shape, a.shape))
    return a


def weights_vector(w, n, name="sample_weight"):
    if w is None:
        return None
    a = np.asarray(host_values(w, name), dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError("%s.shape == %s, expected (%d,)!" % (name, a.shape, n))
    return np.ascontiguousarray(a, dtype=np.float32)


def dlpack_values(x, name="array"):
    """A DLPack producer's values as numpy (CPU) or a torch tensor (CUDA); others unchanged."""
    from . import _dlpack

    return _dlpack.values(x, name)


def like(a, ref):
    """numpy result -> the array type of the caller's input: a torch tensor on ref's device when
    ref is a tensor, else a numpy array."""
    if is_torch(ref):
        import torch

        return torch.from_numpy(a).to(ref.device)
    return a
