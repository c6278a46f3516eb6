"""DLPack import: arrays from any producer with `__dlpack__` / `__dlpack_device__` (JAX, CuPy,
numpy >= 1.22, PyTorch, ...), consumed as the DLPack protocol says, with no copy when the data is
C-contiguous.

Protocol, as implemented here (https://dmlc.github.io/dlpack/latest/python_spec.html):
  * `x.__dlpack_device__()` first, to learn the device; then `x.__dlpack__(...)`: with
    `max_version=(1, 0)` when the producer accepts it (a "dltensor_versioned" capsule, DLPack 1.0),
    else the classic "dltensor" capsule. For CUDA data `stream=` is the stream the library will run
    on (torch's current stream of that device; the legacy default stream is passed as 1, since 0
    is not allowed), so the producer makes the data ready on it. CPU data gets no stream.
  * The capsule is renamed to "used_dltensor" / "used_dltensor_versioned" at once (from then on
    its destructor leaves the tensor alone), and the tensor's deleter is called exactly once, when
    the last array viewing the memory is gone (or at once, after a copy or an error).

What comes out:
  * CPU (kDLCPU, kDLCUDAHost) -> a HostMatrix (numpy view of the producer's memory, or one copy
    when the strides are not C-contiguous). float32/64/16, bfloat16 and uint8 are passed to the
    library as they are; other integer/bool types are converted once to float32, as for numpy.
  * CUDA (kDLCUDA, kDLCUDAManaged) -> a torch tensor over the same device memory, made through
    `__cuda_array_interface__` (no copy), so the torch CUDA path (_torch.py: device pointers,
    results allocated by torch on the same device) runs it. PyTorch is needed for that path.
"""
import ctypes

import numpy as np

from . import _lib
from ._arrays import HostMatrix, is_torch

# DLDeviceType
kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged = 1, 2, 3, 13
_DEVICE_NAMES = {1: "cpu", 2: "cuda", 3: "cuda_host", 4: "opencl", 7: "vulkan", 8: "metal",
                 9: "vpi", 10: "rocm", 11: "rocm_host", 12: "ext_dev", 13: "cuda_managed",
                 14: "oneapi", 15: "webgpu", 16: "hexagon", 17: "maia"}
_HOST_DEVICES = (kDLCPU, kDLCUDAHost)
_CUDA_DEVICES = (kDLCUDA, kDLCUDAManaged)
# DLDataTypeCode
kDLInt, kDLUInt, kDLFloat, kDLBfloat, kDLComplex, kDLBool = 0, 1, 2, 4, 5, 6
FLAG_READ_ONLY = 1

# (type code, bits) -> (numpy dtype of the memory, fkm_dtype or None = convert to float32)
_TYPES = {(kDLFloat, 32): ("f4", _lib.FKM_F32), (kDLFloat, 64): ("f8", _lib.FKM_F64),
          (kDLFloat, 16): ("f2", _lib.FKM_F16), (kDLBfloat, 16): ("u2", _lib.FKM_BF16),
          (kDLUInt, 8): ("u1", _lib.FKM_U8),
          (kDLInt, 8): ("i1", None), (kDLInt, 16): ("i2", None), (kDLInt, 32): ("i4", None),
          (kDLInt, 64): ("i8", None), (kDLUInt, 16): ("u2", None), (kDLUInt, 32): ("u4", None),
          (kDLUInt, 64): ("u8", None), (kDLBool, 8): ("?", None),
          (kDLComplex, 64): ("c8", None), (kDLComplex, 128): ("c16", None)}
# Types torch's __cuda_array_interface__ reader may lack (unsigned wider than 8 bits) or that
# k-means cannot use (complex): refused on the GPU path.
_NOT_ON_GPU = {(kDLUInt, 16), (kDLUInt, 32), (kDLUInt, 64), (kDLComplex, 64), (kDLComplex, 128)}
_CODE_NAMES = {kDLInt: "int", kDLUInt: "uint", kDLFloat: "float", kDLBfloat: "bfloat",
               kDLComplex: "complex", kDLBool: "bool"}


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


class DLManagedTensor(ctypes.Structure):
    pass


# The deleter is called with the GIL held (PYFUNCTYPE): numpy's deleter needs it.
DLDeleter = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)
DLManagedTensor._fields_ = [("dl_tensor", DLTensor), ("manager_ctx", ctypes.c_void_p),
                            ("deleter", ctypes.c_void_p)]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", DLTensor)]


_api = ctypes.pythonapi
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.py_object, ctypes.c_char_p]
# PyCapsule_SetName keeps the pointer it is given: these buffers live as long as the module.
_USED = ctypes.create_string_buffer(b"used_dltensor")
_USED_V = ctypes.create_string_buffer(b"used_dltensor_versioned")
_MAX_VERSION = (1, 0)


def is_dlpack(x):
    """A DLPack producer that the binding does not read natively (numpy arrays and torch tensors
    keep their own paths)."""
    return (hasattr(x, "__dlpack__") and hasattr(x, "__dlpack_device__")
            and not isinstance(x, (np.ndarray, HostMatrix)) and not is_torch(x))


class _Owner:
    """Owns one consumed DLManagedTensor(Versioned): calls its deleter once, when collected."""

    __slots__ = ("addr", "deleter", "__weakref__")

    def __init__(self, addr, deleter):
        self.addr, self.deleter = addr, deleter

    def release(self):
        fn, self.deleter = self.deleter, None
        if fn:
            DLDeleter(fn)(self.addr)

    def __del__(self):
        try:
            self.release()
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass


class _Tensor:
    """What a capsule described, plus the owner that frees it."""

    def __init__(self, owner, t, readonly):
        self.owner = owner
        self.device_type, self.device_id = t.device.device_type, t.device.device_id
        self.code, self.bits, self.lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
        self.shape = tuple(t.shape[i] for i in range(t.ndim))
        self.strides = tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None
        self.ptr = (t.data or 0) + t.byte_offset
        self.readonly = readonly

    def type_name(self):
        return "%s%d%s" % (_CODE_NAMES.get(self.code, "code%d" % self.code), self.bits,
                           "x%d" % self.lanes if self.lanes != 1 else "")

    def c_contiguous(self):
        if self.strides is None:
            return True
        want = 1
        for size, stride in zip(reversed(self.shape), reversed(self.strides)):
            if size != 1 and stride != want:
                return False
            want *= size
        return True


def consume(capsule):
    """Take a DLPack capsule over: rename it as used, return a _Tensor whose owner calls the
    producer's deleter when the data is no longer needed."""
    for name, used, struct in ((b"dltensor_versioned", _USED_V, DLManagedTensorVersioned),
                               (b"dltensor", _USED, DLManagedTensor)):
        if _api.PyCapsule_IsValid(capsule, name):
            break
    else:
        raise TypeError("__dlpack__ returned %r, not an unused DLPack capsule "
                        "(\"dltensor\" or \"dltensor_versioned\")" % (capsule,))
    addr = _api.PyCapsule_GetPointer(capsule, name)
    if _api.PyCapsule_SetName(capsule, used) != 0:
        raise RuntimeError("cannot mark the DLPack capsule as used")
    m = struct.from_address(addr)
    owner = _Owner(addr, m.deleter)
    readonly = False
    if struct is DLManagedTensorVersioned:
        if m.version.major > _MAX_VERSION[0]:
            owner.release()
            raise BufferError("DLPack version %d.%d is newer than this consumer's %d.%d"
                              % (m.version.major, m.version.minor, *_MAX_VERSION))
        readonly = bool(m.flags & FLAG_READ_ONLY)
    return _Tensor(owner, m.dl_tensor, readonly)


def _call_dlpack(x, **kw):
    """x.__dlpack__ with max_version when the producer takes it (DLPack 1.0 capsule), else the
    classic call (numpy < 2, older producers reject the keyword with a TypeError)."""
    try:
        return x.__dlpack__(max_version=_MAX_VERSION, **kw)
    except TypeError:
        return x.__dlpack__(**kw)


def device_of(x):
    dev_type, dev_id = x.__dlpack_device__()
    return int(dev_type), int(dev_id)


def _check_device(dev_type, dev_id, name):
    if dev_type not in _HOST_DEVICES + _CUDA_DEVICES:
        raise ValueError("%s is on DLPack device %s:%d; flashkmeans reads CPU (kDLCPU) and CUDA "
                         "(kDLCUDA) memory only" % (name, _DEVICE_NAMES.get(dev_type, dev_type),
                                                     dev_id))


class _View:
    """numpy's array interface over the producer's memory; keeps the owner alive."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, t, typestr, itemsize):
        strides = None if t.strides is None else tuple(s * itemsize for s in t.strides)
        self.__array_interface__ = {"data": (t.ptr, True), "shape": t.shape, "strides": strides,
                                    "typestr": typestr, "version": 3}
        self.owner = t.owner


def _numpy_view(t, name):
    """A read-only numpy array over a host _Tensor (bfloat16 as its uint16 bits) and the fkm
    dtype to pass, or None when the values must be converted to float32."""
    if t.lanes != 1 or (t.code, t.bits) not in _TYPES:
        t.owner.release()
        raise TypeError("%s has DLPack dtype %s, which flashkmeans cannot read (float32, float64, "
                        "float16, bfloat16, uint8; other integer types are converted)"
                        % (name, t.type_name()))
    typestr, code = _TYPES[(t.code, t.bits)]
    dtype = np.dtype(typestr)
    if 0 in t.shape or not t.ptr:
        t.owner.release()
        return np.empty(t.shape, dtype), code
    return np.asarray(_View(t, dtype.str, dtype.itemsize)), code


def host_import(x, name="X"):
    """Consume a CPU DLPack producer -> HostMatrix (any rank; host_matrix checks the rank).
    No copy when C-contiguous; one copy otherwise (the producer's tensor is then freed at once)."""
    dev_type, dev_id = device_of(x)
    _check_device(dev_type, dev_id, name)
    if dev_type not in _HOST_DEVICES:
        raise TypeError("%s is a CUDA array; use cuda_import" % name)
    t = consume(_call_dlpack(x))
    a, code = _numpy_view(t, name)
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
    if code is None:
        if a.dtype.kind == "c":
            raise ValueError("Complex data not supported: %s has DLPack dtype %s"
                             % (name, t.type_name()))
        a, code = a.astype(np.float32), _lib.FKM_F32
    return HostMatrix(a, code, a.dtype if code != _lib.FKM_BF16 else "bfloat16")


def host_values(x, name="array"):
    """A CPU DLPack producer -> a numpy array of its values (bfloat16 widened to float32): for
    small inputs such as weights and initial centroids, which travel as float32 anyway."""
    hm = host_import(x, name)
    if hm.code == _lib.FKM_BF16:
        return (hm.array.astype(np.uint32) << 16).view(np.float32)
    return hm.array


def _stream_arg(torch, dev_id):
    """The value of __dlpack__'s stream= for torch's current stream on that device: its handle,
    or 1 for the legacy default stream (handle 0, which the protocol forbids for CUDA)."""
    s = torch.cuda.current_stream(dev_id).cuda_stream
    return s if s else 1


class _CudaView:
    """__cuda_array_interface__ over the producer's device memory; keeps the owner alive while
    the torch tensor made from it lives (torch holds a reference to this object)."""

    __slots__ = ("__cuda_array_interface__", "owner")

    def __init__(self, t, typestr, itemsize):
        strides = None if t.strides is None else tuple(s * itemsize for s in t.strides)
        # torch rejects read-only CUDA array interfaces; the library only reads the data anyway.
        self.__cuda_array_interface__ = {"data": (t.ptr, False), "shape": t.shape,
                                         "strides": strides, "typestr": typestr, "version": 2}
        self.owner = t.owner


def cuda_import(x, name="X"):
    """Consume a CUDA DLPack producer -> a torch CUDA tensor over the same memory (no copy).
    bfloat16 travels as int16 through the array interface and is viewed back as bfloat16."""
    dev_type, dev_id = device_of(x)
    _check_device(dev_type, dev_id, name)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():  # absent, CPU-only, or sees no GPU
        why = ("which is not installed here" if torch is None else
               "and the PyTorch here cannot use a CUDA GPU (a CPU-only build, or no GPU it sees)")
        raise TypeError("%s is a CUDA array (DLPack device cuda:%d): flashkmeans's device path "
                        "allocates its results with PyTorch, %s; install a CUDA build of it, or "
                        "copy the data to the host first" % (name, dev_id, why))
    t = consume(_call_dlpack(x, stream=_stream_arg(torch, dev_id)))
    if t.lanes != 1 or (t.code, t.bits) not in _TYPES or (t.code, t.bits) in _NOT_ON_GPU:
        t.owner.release()
        raise TypeError("%s has DLPack dtype %s, which flashkmeans cannot read on the GPU "
                        "(float32, float64, float16, bfloat16, uint8; int8..int64 and bool are "
                        "converted)" % (name, t.type_name()))
    if 0 in t.shape or not t.ptr:
        t.owner.release()
        raise ValueError("%s has shape %s: need at least 1 sample and 1 feature" % (name, t.shape))
    typestr, code = _TYPES[(t.code, t.bits)]
    dtype = np.dtype("i2" if code == _lib.FKM_BF16 else typestr)
    with torch.cuda.device(dev_id):
        out = torch.as_tensor(_CudaView(t, dtype.str, dtype.itemsize), device="cuda:%d" % dev_id)
    return out.view(torch.bfloat16) if code == _lib.FKM_BF16 else out


def imported(x, name="X"):
    """The binding's entry hook: a foreign DLPack producer becomes a HostMatrix (CPU) or a torch
    CUDA tensor (GPU); anything else is returned unchanged."""
    if not is_dlpack(x):
        return x
    dev_type, dev_id = device_of(x)
    _check_device(dev_type, dev_id, name)
    return cuda_import(x, name) if dev_type in _CUDA_DEVICES else host_import(x, name)


def values(x, name="array"):
    """Like `imported` for auxiliary arrays (weights, initial centroids): CPU producers become
    numpy arrays of their values, CUDA producers torch tensors."""
    if not is_dlpack(x):
        return x
    dev_type, dev_id = device_of(x)
    _check_device(dev_type, dev_id, name)
    return cuda_import(x, name) if dev_type in _CUDA_DEVICES else host_values(x, name)
