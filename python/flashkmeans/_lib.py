"""ctypes mirror of include/flashkmeans.h and the loader of libflashkmeans.so.

Everything here follows the public header field by field; tests/python/test_abi.py compiles a
tiny C program (when a C compiler exists) and checks every size and offset against these
definitions, so a change to the header that is not mirrored here fails the test suite.
"""
import ctypes
import ctypes.util
import os
import pathlib
import sysconfig

# ---------------------------------------------------------------- enums (plain ints, as in C)
FKM_OK, FKM_ERR_INVALID_ARG, FKM_ERR_BAD_INPUT, FKM_ERR_NO_MEMORY, FKM_ERR_IO = 0, 1, 2, 3, 4
FKM_ERR_FORMAT, FKM_ERR_NO_CUDA, FKM_ERR_CUDA, FKM_ERR_CANCELLED, FKM_ERR_INTERNAL = 5, 6, 7, 8, 9

FKM_F32, FKM_F64, FKM_F16, FKM_BF16, FKM_U8 = 0, 1, 2, 3, 4
FKM_METRIC_L2, FKM_METRIC_COSINE, FKM_METRIC_IP = 0, 1, 2
FKM_INIT_KMEANSPP, FKM_INIT_RANDOM, FKM_INIT_ARRAY, FKM_INIT_KMEANS_PARALLEL, FKM_INIT_HIERARCHICAL = 0, 1, 2, 3, 4
FKM_INIT_AUTO = 5  # k-means|| on a GPU, k-means++ elsewhere
FKM_STOP_SHIFT, FKM_STOP_INERTIA, FKM_STOP_LABELS, FKM_STOP_FIXED = 0, 1, 2, 3
FKM_ALGO_LLOYD, FKM_ALGO_ELKAN, FKM_ALGO_HAMERLY = 0, 1, 2
FKM_STOPPED_CONVERGED, FKM_STOPPED_MAX_ITER, FKM_STOPPED_CANCELLED = 0, 1, 2
FKM_EMPTY_FARTHEST, FKM_EMPTY_KEEP = 0, 1
FKM_DEVICE_AUTO, FKM_DEVICE_CPU, FKM_DEVICE_CUDA = 0, 1, 2
FKM_PREC_AUTO, FKM_PREC_EXACT, FKM_PREC_TF32, FKM_PREC_FP16, FKM_PREC_BF16 = 0, 1, 2, 3, 4
FKM_LOG_ERROR, FKM_LOG_WARN, FKM_LOG_INFO, FKM_LOG_DEBUG = 0, 1, 2, 3

# C enums are `int` on every ABI this library targets.
c_enum = ctypes.c_int


class fkm_iter_stats(ctypes.Structure):
    _fields_ = [
        ("inertia", ctypes.c_double),
        ("shift", ctypes.c_double),
        ("empty", ctypes.c_int64),
        ("changed", ctypes.c_int64),
        ("ms", ctypes.c_double),
        ("rescored", ctypes.c_int64),
    ]


fkm_log_fn = ctypes.CFUNCTYPE(None, c_enum, ctypes.c_char_p, ctypes.c_void_p)
fkm_progress_fn = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                   ctypes.POINTER(fkm_iter_stats), ctypes.c_void_p)


class fkm_params(ctypes.Structure):
    _fields_ = [
        ("k", ctypes.c_int64),
        ("max_iter", ctypes.c_int),
        ("tol", ctypes.c_double),
        ("stop", c_enum),
        ("init", c_enum),
        ("init_centroids", ctypes.POINTER(ctypes.c_float)),
        ("freeze_init", ctypes.c_int),
        ("n_init", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("metric", c_enum),
        ("empty", c_enum),
        ("device", c_enum),
        ("cuda_device", ctypes.c_int),
        ("precision", c_enum),
        ("threads", ctypes.c_int),
        ("verbose", ctypes.c_int),
        ("log_fn", fkm_log_fn),
        ("log_user", ctypes.c_void_p),
        ("progress_fn", fkm_progress_fn),
        ("progress_user", ctypes.c_void_p),
        ("gpu_mem_limit", ctypes.c_size_t),
        ("gpu_count", ctypes.c_int),
        ("algorithm", c_enum),
        ("max_cluster_size", ctypes.c_int64),
    ]


class fkm_matrix(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("dtype", c_enum),
        ("n", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("weights", ctypes.POINTER(ctypes.c_float)),
    ]


class fkm_csr(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("indptr", ctypes.POINTER(ctypes.c_int64)),
        ("indices", ctypes.POINTER(ctypes.c_int32)),
        ("data", ctypes.POINTER(ctypes.c_float)),
        ("weights", ctypes.POINTER(ctypes.c_float)),
    ]


class fkm_result(ctypes.Structure):
    _fields_ = [
        ("k", ctypes.c_int64),
        ("n", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("centroids", ctypes.POINTER(ctypes.c_float)),
        ("labels", ctypes.POINTER(ctypes.c_int32)),
        ("inertia", ctypes.c_double),
        ("iterations", ctypes.c_int),
        ("stop_reason", c_enum),
        ("stats", ctypes.POINTER(fkm_iter_stats)),
        ("best_init", ctypes.c_int),
        ("device", c_enum),
        ("precision", c_enum),
        ("inertia_unconstrained", ctypes.c_double),
    ]


# ---------------------------------------------------------------- locating the library
_SONAMES = ("libflashkmeans.so", "libflashkmeans.so.0")


def _candidates():
    """Where to look, in order: FKM_LIBRARY, FKM_BUILD_DIR, the library inside the package (pip
    install, wheels), the install record, <repo>/build, the installed prefix next to the package,
    then the system loader."""
    env = os.environ.get("FKM_LIBRARY")
    if env:
        yield env
        return  # an explicit choice must not silently fall back to another library
    build = os.environ.get("FKM_BUILD_DIR")
    if build:
        for name in _SONAMES:
            yield os.path.join(build, name)
    here = pathlib.Path(__file__).resolve().parent
    yield str(here / "libflashkmeans.so")  # put there by setup.py (pip install, wheels)
    try:  # written by `make install` (CMake install(CODE ...)): the installed library's path
        from . import _installed  # type: ignore
        yield _installed.LIBRARY
    except ImportError:
        pass
    for name in _SONAMES:  # source tree: <repo>/python/flashkmeans -> <repo>/build
        yield str(here.parent.parent / "build" / name)
    if len(here.parents) > 2:  # <prefix>/lib/python3*/dist-packages/flashkmeans -> <prefix>/lib
        libdir = here.parents[2]
        arch = sysconfig.get_config_var("MULTIARCH")
        for d in ([libdir, libdir / arch] if arch else [libdir]):
            for name in _SONAMES:
                yield str(d / name)
    found = ctypes.util.find_library("flashkmeans")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        is_file = os.path.sep in path
        if is_file and not os.path.exists(path):
            tried.append(path + " (missing)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("flashkmeans: cannot find libflashkmeans.so; build it with `make`, install "
                      "the package with `pip install .`, or set "
                      "FKM_LIBRARY=/path/to/libflashkmeans.so. Tried: " + "; ".join(tried))


lib, library_path = _load()


def _proto(name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)
    return fn


P = ctypes.POINTER
_proto("fkm_status_str", ctypes.c_char_p, c_enum)
_proto("fkm_last_error", ctypes.c_char_p)
_proto("fkm_version", ctypes.c_char_p)
_proto("fkm_dtype_size", ctypes.c_size_t, c_enum)
_proto("fkm_params_default", None, P(fkm_params))
_proto("fkm_params_validate", c_enum, P(fkm_params), ctypes.c_int64, ctypes.c_int64)
_proto("fkm_result_free", None, P(fkm_result))
_proto("fkm_fit", c_enum, P(fkm_params), P(fkm_matrix), P(fkm_result))
_proto("fkm_fit_batch", c_enum, P(fkm_params), P(fkm_matrix), ctypes.c_int64, P(fkm_result))
_proto("fkm_fit_ragged", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_int64), ctypes.c_int64, P(fkm_result))
_proto("fkm_predict", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_int32), P(ctypes.c_float))
_proto("fkm_transform", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_float))
_proto("fkm_score", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_double))
_proto("fkm_fit_csr", c_enum, P(fkm_params), P(fkm_csr), P(fkm_result))
_proto("fkm_predict_csr", c_enum, P(fkm_params), P(fkm_csr), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_int32), P(ctypes.c_float))
_proto("fkm_transform_csr", c_enum, P(fkm_params), P(fkm_csr), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_float))
_proto("fkm_score_csr", c_enum, P(fkm_params), P(fkm_csr), P(ctypes.c_float), ctypes.c_int64,
       P(ctypes.c_double))
_proto("fkm_cuda_device_count", ctypes.c_int)
# fkm_partial_sums (the Dask front end, flashkmeans.dask); absent from libraries built before it.
HAVE_PARTIAL_SUMS = hasattr(lib, "fkm_partial_sums")
if HAVE_PARTIAL_SUMS:
    _proto("fkm_partial_sums", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_float), ctypes.c_int64,
           P(ctypes.c_double), ctypes.c_double, P(ctypes.c_int32), P(ctypes.c_float), P(ctypes.c_int64))
_proto("fkm_gpu_memory_estimate", c_enum, P(fkm_params), P(fkm_matrix), P(ctypes.c_size_t))
for _n in ("fkm_device_str", "fkm_precision_str", "fkm_stop_reason_str", "fkm_metric_str"):
    _proto(_n, ctypes.c_char_p, c_enum)


def version():
    return lib.fkm_version().decode()


def status_str(st):
    return lib.fkm_status_str(st).decode()


def last_error():
    return lib.fkm_last_error().decode(errors="replace")


# ---------------------------------------------------------------- include/flashkmeans_cuda.h
class fkm_cuda_matrix(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),  # device
        ("dtype", c_enum),
        ("b", ctypes.c_int64),
        ("n", ctypes.c_int64),
        ("d", ctypes.c_int64),
        ("weights", ctypes.c_void_p),  # device float32 or NULL
    ]


class fkm_cuda_fit_info(ctypes.Structure):
    _fields_ = [
        ("iterations", ctypes.c_int),
        ("ms_iterations", ctypes.c_double),
        ("ms_total", ctypes.c_double),
        ("ms_assign", ctypes.c_double),
        ("kernel", ctypes.c_char_p),
        ("precision", c_enum),
        ("ms_stage", ctypes.c_double * 7),
        ("rescored", ctypes.c_int64),
    ]


# Libraries built before the device-pointer API existed lack these symbols; the torch CUDA path
# then says so instead of failing at import.
HAVE_CUDA_API = hasattr(lib, "fkm_cuda_fit") and hasattr(lib, "fkm_cuda_predict")
if HAVE_CUDA_API:
    V, SZ = ctypes.c_void_p, ctypes.c_size_t
    _proto("fkm_cuda_fit_workspace_size", c_enum, P(fkm_params), P(fkm_cuda_matrix), P(SZ))
    _proto("fkm_cuda_fit", c_enum, P(fkm_params), P(fkm_cuda_matrix), V, V, P(ctypes.c_int),
           P(ctypes.c_double), P(fkm_cuda_fit_info), V, SZ, V)
    _proto("fkm_cuda_predict_workspace_size", c_enum, P(fkm_params), P(fkm_cuda_matrix),
           ctypes.c_int64, P(SZ))
    _proto("fkm_cuda_predict", c_enum, P(fkm_params), P(fkm_cuda_matrix), V, ctypes.c_int64, V, V,
           P(ctypes.c_double), V, SZ, V)
