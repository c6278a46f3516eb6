"""A hand-made DLPack producer for the tests: builds DLManagedTensor(Versioned) structs with
ctypes over memory it is given, hands them out in capsules, and records what the consumer did
(calls of __dlpack__ and their keywords, deleter calls, the capsules' names afterwards)."""
import ctypes

import numpy as np

from flashkmeans import _dlpack

_new = ctypes.pythonapi.PyCapsule_New
_new.restype = ctypes.py_object
_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_name = ctypes.pythonapi.PyCapsule_GetName
_name.restype = ctypes.c_char_p
_name.argtypes = [ctypes.py_object]
# The capsule keeps a pointer to its name: module-level constants live as long as the process.
_DLTENSOR, _DLTENSOR_V = b"dltensor", b"dltensor_versioned"
_Deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def capsule_name(c):
    return _name(c).decode()


class Producer:
    """data: int address (or a numpy array, whose memory is used and kept alive); shape and
    strides in elements (strides None = C-contiguous); dtype (code, bits, lanes); device
    (type, id). versioned: answer max_version with a DLPack 1.0 capsule of that version."""

    def __init__(self, data, shape, dtype, strides=None, device=(1, 0), byte_offset=0,
                 versioned=False, version=(1, 0), readonly=False):
        self.keep = data
        self.addr = data.ctypes.data if isinstance(data, np.ndarray) else int(data)
        self.shape, self.strides, self.dtype = tuple(shape), strides, dtype
        self.device, self.byte_offset = device, byte_offset
        self.versioned, self.version, self.readonly = versioned, version, readonly
        self.calls = []       # keyword arguments of each __dlpack__ call
        self.capsules = []    # every capsule handed out
        self.deleted = []     # addresses passed to the deleter
        self._structs = {}    # address -> (struct, shape array, strides array): kept alive
        self._deleter = _Deleter(self._on_delete)

    def _on_delete(self, addr):
        self.deleted.append(addr)

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None, max_version=None, **kw):
        kw = dict(kw)
        if stream is not None:
            kw["stream"] = stream
        if max_version is not None:
            kw["max_version"] = max_version
        self.calls.append(kw)
        versioned = self.versioned and max_version is not None and max_version[0] >= 1
        m = (_dlpack.DLManagedTensorVersioned if versioned else _dlpack.DLManagedTensor)()
        shape = (ctypes.c_int64 * len(self.shape))(*self.shape)
        strides = (ctypes.c_int64 * len(self.shape))(*self.strides) if self.strides else None
        t = m.dl_tensor
        t.data = self.addr
        t.device.device_type, t.device.device_id = self.device
        t.ndim = len(self.shape)
        t.dtype.code, t.dtype.bits, t.dtype.lanes = self.dtype
        t.shape = shape
        t.strides = strides
        t.byte_offset = self.byte_offset
        m.deleter = ctypes.cast(self._deleter, ctypes.c_void_p).value
        if versioned:
            m.version.major, m.version.minor = self.version
            m.flags = _dlpack.FLAG_READ_ONLY if self.readonly else 0
        addr = ctypes.addressof(m)
        self._structs[addr] = (m, shape, strides)
        c = _new(addr, _DLTENSOR_V if versioned else _DLTENSOR, None)
        self.capsules.append(c)
        return c

    def struct_addresses(self):
        return sorted(self._structs)


class Forward:
    """Only the DLPack methods of another array (numpy here, a torch tensor on the GPU), so the
    binding must take the DLPack path; records the keywords of every __dlpack__ call."""

    def __init__(self, a):
        self.a = a
        self.calls = []

    def __dlpack__(self, **kw):
        self.calls.append(kw)
        return self.a.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


def bf16_bits(values):
    """float32 values -> (bfloat16 bits as uint16, the float32 values those bits stand for)."""
    bits = (np.ascontiguousarray(values, np.float32).view(np.uint32) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32)
