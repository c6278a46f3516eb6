"""Thin calls into libflashkmeans: parameters, callbacks, Ctrl-C, results.

Every public front end (KMeans, Kmeans, batch_kmeans) goes through `fit`, `fit_batch`,
`predict`, `transform` and `score` here, so option names, errors and cancellation behave the
same everywhere.

Ctrl-C: ctypes releases the GIL while the library runs, so SIGINT only sets CPython's pending
flag. While a fit runs (on the main thread) a SIGINT handler of ours records the interrupt; the
library calls our progress callback after every iteration, the callback sees the flag and returns
1 (cancel); the library stops cleanly and we raise KeyboardInterrupt after it returned. An
exception raised in the callback itself (a user hook) is treated the same way: caught, the fit is
cancelled, and the exception is re-raised once the C call is over.
"""
import ctypes
import math
import numbers
import re
import signal
import sys
import threading
from fractions import Fraction

import numpy as np

from . import _lib
from ._arrays import CsrMatrix
from ._compat import warn as _warn
from ._errors import check, error_for

# Test hook: called as hook(iteration, max_iter, stats_dict) after every iteration. An exception
# it raises cancels the fit and is re-raised to the caller (tests use it to simulate Ctrl-C).
_progress_hook = None

_METRICS = {"l2": _lib.FKM_METRIC_L2, "euclidean": _lib.FKM_METRIC_L2,
            "sqeuclidean": _lib.FKM_METRIC_L2, "cosine": _lib.FKM_METRIC_COSINE,
            "ip": _lib.FKM_METRIC_IP, "inner_product": _lib.FKM_METRIC_IP}
_PRECISIONS = {"auto": _lib.FKM_PREC_AUTO, "exact": _lib.FKM_PREC_EXACT,
               "tf32": _lib.FKM_PREC_TF32, "fp16": _lib.FKM_PREC_FP16, "bf16": _lib.FKM_PREC_BF16}
_STOPS = {"shift": _lib.FKM_STOP_SHIFT, "inertia": _lib.FKM_STOP_INERTIA,
          "labels": _lib.FKM_STOP_LABELS, "fixed": _lib.FKM_STOP_FIXED}
_INITS = {"k-means++": _lib.FKM_INIT_KMEANSPP, "kmeans++": _lib.FKM_INIT_KMEANSPP,
          "random": _lib.FKM_INIT_RANDOM,
          "k-means||": _lib.FKM_INIT_KMEANS_PARALLEL, "hierarchical": _lib.FKM_INIT_HIERARCHICAL,
          "auto": _lib.FKM_INIT_AUTO}
_ALGORITHMS = {"lloyd": _lib.FKM_ALGO_LLOYD, "elkan": _lib.FKM_ALGO_ELKAN,
               "hamerly": _lib.FKM_ALGO_HAMERLY}
_EMPTY = {"farthest": _lib.FKM_EMPTY_FARTHEST, "keep": _lib.FKM_EMPTY_KEEP}
_DEVICE_NAMES = {_lib.FKM_DEVICE_CPU: "cpu", _lib.FKM_DEVICE_CUDA: "cuda"}
_PREC_NAMES = {v: k for k, v in _PRECISIONS.items()}
_STOP_REASONS = {0: "converged", 1: "max_iter", 2: "cancelled"}
# numpy twin of fkm_iter_stats (same fields, offsets and size), so stats copy with one memcpy.
STATS_DTYPE = np.dtype({"names": [f for f, _ in _lib.fkm_iter_stats._fields_],
                        "formats": [np.dtype(t) for _, t in _lib.fkm_iter_stats._fields_],
                        "offsets": [getattr(_lib.fkm_iter_stats, f).offset
                                    for f, _ in _lib.fkm_iter_stats._fields_],
                        "itemsize": ctypes.sizeof(_lib.fkm_iter_stats)})


def _choice(table, value, what):
    key = value.lower() if isinstance(value, str) else value
    if key not in table:
        raise ValueError("%s must be one of %s, got %r" % (what, sorted(table), value))
    return table[key]


def parse_device(device):
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' | int N (GPU N) -> (fkm_device, ordinal)."""
    if isinstance(device, (int, np.integer)) and not isinstance(device, bool):
        return _lib.FKM_DEVICE_CUDA, int(device)
    s = str(device).lower()
    if s in ("auto", "cpu", "cuda"):
        return {"auto": _lib.FKM_DEVICE_AUTO, "cpu": _lib.FKM_DEVICE_CPU, "cuda": _lib.FKM_DEVICE_CUDA}[s], 0
    if s.startswith("cuda:") and s[5:].isdigit():
        return _lib.FKM_DEVICE_CUDA, int(s[5:])
    raise ValueError("device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got %r" % (device,))


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_gpu_mem(value):
    """gpu_mem_limit -> bytes (0: no cap). None, an int of bytes >= 0, or a string like the CLI's
    --gpu-mem: "4G", "512M", "1.5G", "4GiB", "1000" (K/M/G/T are powers of 1024; a fraction needs a
    unit and is rounded down to whole bytes; "0.5" alone and sizes below one byte are errors)."""
    if value is None:
        return 0
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        v = int(value)
    elif isinstance(value, str):
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?:([kmgt])(?:ib|b)?|b)?\s*", value.lower())
        if not m:
            raise ValueError("gpu_mem_limit must be bytes (an int >= 0) or a size like '4G', '512M', "
                             "'1.5G', got %r" % (value,))
        number, unit = m.group(1), m.group(2) or ""
        # as the CLI's --gpu-mem (issue 23, item 8): "0.5" is not 0 bytes (= no cap), nor "1.5" one
        if "." in number and not unit:
            raise ValueError("gpu_mem_limit %r: a number without a unit is a count of bytes, written without "
                             "a decimal point (for gibibytes write '%sG')" % (value, number))
        exact = Fraction(number) * _SIZE_UNITS[unit]  # exact: no float rounding of 1.1G or 2**60
        v = math.floor(exact)
        if exact > 0 and v == 0:
            raise ValueError("gpu_mem_limit %r is less than one byte (0 alone means no cap)" % (value,))
    else:
        raise ValueError("gpu_mem_limit must be bytes (an int >= 0) or a size like '4G', got %r" % (value,))
    if v < 0 or v >= 1 << 64:
        raise ValueError("gpu_mem_limit must be in [0, 2**64) bytes, got %r" % (value,))
    return v


def make_params(k, max_iter=300, tol=1e-4, stop="shift", init="k-means++", init_centroids=None,
                n_init=1, seed=0, metric="l2", device="auto", precision="auto", threads=None,
                verbose=0, freeze_init=False, empty="farthest", gpu_mem_limit=None, gpus=None,
                algorithm="lloyd", max_cluster_size=None):
    """fkm_params from Python values. init_centroids (a C-contiguous float32 k x d array) must
    stay alive while the params are used: the caller keeps it."""
    p = _lib.fkm_params()
    _lib.lib.fkm_params_default(ctypes.byref(p))
    p.k = int(k)
    p.max_iter = int(max_iter)
    p.tol = float(tol)
    p.stop = _choice(_STOPS, stop, "stop")
    if init_centroids is not None:
        p.init = _lib.FKM_INIT_ARRAY
        p.init_centroids = init_centroids.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    else:
        p.init = _choice(_INITS, init, "init")
    p.freeze_init = 1 if freeze_init else 0
    p.n_init = int(n_init)
    p.seed = int(seed) & 0xFFFFFFFFFFFFFFFF
    p.metric = _choice(_METRICS, metric, "metric")
    p.empty = _choice(_EMPTY, empty, "empty")
    p.device, p.cuda_device = parse_device(device)
    p.precision = _choice(_PRECISIONS, precision, "precision")
    p.threads = 0 if threads is None or threads < 0 else int(threads)
    p.verbose = int(verbose)
    p.gpu_mem_limit = parse_gpu_mem(gpu_mem_limit)
    p.algorithm = _choice(_ALGORITHMS, algorithm, "algorithm")
    if max_cluster_size is not None:  # None and 0: no cap
        if isinstance(max_cluster_size, bool) or not isinstance(max_cluster_size, numbers.Integral) \
                or not 0 <= max_cluster_size < 1 << 63:
            raise ValueError("max_cluster_size must be None or an int >= 0 (0 = no cap), got %r"
                             % (max_cluster_size,))
        p.max_cluster_size = int(max_cluster_size)
    if gpus is not None:  # GPUs from cuda_device on (0: all); None keeps the default, 1
        if isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 64:
            raise ValueError("gpus must be an int in [0, 64] (0 = every GPU), got %r" % (gpus,))
        p.gpu_count = gpus
    return p


class _Call:
    """Callbacks (progress, log) and the SIGINT guard around one library call."""

    def __init__(self, params, progress=True, on_iter=None):
        self.params = params
        self.on_iter = on_iter
        self.exc = None
        self.interrupted = False
        self.warnings = []
        self.user_verbose = params.verbose
        self._progress = _lib.fkm_progress_fn(self._on_progress)
        self._log = _lib.fkm_log_fn(self._on_log)
        if progress:
            params.progress_fn = self._progress
        params.log_fn = self._log
        params.verbose = max(params.verbose, _lib.FKM_LOG_WARN)  # warnings become Python warnings
        self._old_handler = None

    def _on_progress(self, it, max_iter, stats, user):
        try:
            if self.interrupted or self.exc is not None:
                return 1
            hook = _progress_hook
            if hook is not None:
                s = stats.contents
                hook(it, max_iter, {"inertia": s.inertia, "shift": s.shift, "empty": s.empty,
                                    "changed": s.changed, "rescored": s.rescored, "ms": s.ms})
            if self.on_iter is not None:
                s = stats.contents
                self.on_iter(it, max_iter, {"inertia": s.inertia, "shift": s.shift,
                                            "empty": s.empty, "changed": s.changed, "ms": s.ms})
            return 0
        except BaseException as e:  # noqa: B902 -- KeyboardInterrupt included, on purpose
            self.exc = e
            return 1

    def _on_log(self, level, msg, user):
        try:
            text = msg.decode(errors="replace")
            if level <= _lib.FKM_LOG_WARN:  # at every verbose level: a Python warning
                self.warnings.append(text)
            elif level <= self.user_verbose:
                sys.stderr.write("[flashkmeans] %s\n" % text)
        except BaseException:  # never let an exception escape into C
            pass

    def _on_sigint(self, signum, frame):
        self.interrupted = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc):
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)
        for w in self.warnings:
            _warn("flashkmeans: " + w, RuntimeWarning)
        return False

    def finish(self, status, what):
        """Raise what the call ended with: a Ctrl-C, a hook's exception, or a library error."""
        if self.interrupted:
            raise KeyboardInterrupt
        if self.exc is not None:
            raise self.exc
        check(status, what)


def _matrix(hm, weights=None):
    m = _lib.fkm_matrix()
    m.data = hm.ptr
    m.dtype = hm.code
    m.n, m.d = hm.shape[-2], hm.shape[-1]
    if weights is not None:
        m.weights = weights.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    return m


def _csr(cm, weights=None):
    from ctypes import POINTER, c_float, c_int32, c_int64

    m = _lib.fkm_csr()
    m.n, m.d = cm.shape
    m.indptr = cm.indptr.ctypes.data_as(POINTER(c_int64))
    m.indices = cm.indices.ctypes.data_as(POINTER(c_int32))
    m.data = cm.data.ctypes.data_as(POINTER(c_float))
    if weights is not None:
        m.weights = weights.ctypes.data_as(POINTER(c_float))
    return m


def _args(hm, weights=None):
    """(the C matrix struct, the entry point's suffix): dense fkm_matrix or sparse fkm_csr."""
    if isinstance(hm, CsrMatrix):
        return _csr(hm, weights), "_csr"
    return _matrix(hm, weights), ""


def _copy_out(ptr, dtype, shape):
    """Copy library-owned memory into a new numpy array (one memcpy)."""
    a = np.empty(shape, dtype)
    if a.nbytes:
        ctypes.memmove(a.ctypes.data, ptr, a.nbytes)
    return a


class _View:
    """numpy's array interface over memory owned by `owner` (kept alive as the array's base)."""

    __slots__ = ("__array_interface__", "owner")

    def __init__(self, ptr, dtype, shape, owner):
        self.__array_interface__ = {"data": (ptr, False), "shape": shape,
                                    "typestr": np.dtype(dtype).str, "version": 3}
        self.owner = owner


class _OwnedResult:
    """Takes over one fkm_result: numpy arrays view its library-owned arrays without a copy, and
    fkm_result_free runs when the last of those arrays is gone."""

    def __init__(self, r):
        self.r = _lib.fkm_result.from_buffer_copy(r)
        ctypes.memset(ctypes.addressof(r), 0, ctypes.sizeof(r))  # r no longer owns the arrays

    def array(self, ptr, dtype, shape):
        addr = ctypes.cast(ptr, ctypes.c_void_p).value
        if not addr or 0 in shape:
            return np.empty(shape, dtype)
        return np.asarray(_View(addr, dtype, shape, self))

    def __del__(self):
        try:
            _lib.lib.fkm_result_free(ctypes.byref(self.r))
        except Exception:  # interpreter shutdown: the process is ending anyway
            pass


class FitResult:
    """A fit's outputs as numpy arrays. With `own=True` the centroids and labels are views of the
    library's result arrays (no copy; freed when unused), else copies (the caller frees r)."""

    def __init__(self, r, own=False):
        k, n, d, it = r.k, r.n, r.d, r.iterations
        self.inertia = float(r.inertia)
        self.inertia_unconstrained = float(r.inertia_unconstrained)
        self.iterations = int(it)
        self.stop_reason = _STOP_REASONS.get(r.stop_reason, str(r.stop_reason))
        self.best_init = int(r.best_init)
        self.device = _DEVICE_NAMES.get(r.device, str(r.device))
        self.precision = _PREC_NAMES.get(r.precision, str(r.precision))
        self.stats = _copy_out(r.stats, STATS_DTYPE, (it,))
        if own:
            o = _OwnedResult(r)
            self.centroids = o.array(o.r.centroids, np.float32, (k, d))
            self.labels = o.array(o.r.labels, np.int32, (n,))
        else:
            self.centroids = _copy_out(r.centroids, np.float32, (k, d))
            self.labels = _copy_out(r.labels, np.int32, (n,))

    def stats_dicts(self):
        return [{"obj": float(s["inertia"]), "inertia": float(s["inertia"]),
                 "shift": float(s["shift"]), "empty": int(s["empty"]),
                 "changed": int(s["changed"]), "rescored": int(s["rescored"]),
                 "ms": float(s["ms"])} for s in self.stats]


def _want_progress(params):
    """Whether to install the per-iteration progress callback. On the CPU it costs microseconds
    per iteration and makes Ctrl-C stop the fit at the next iteration. On a GPU the library runs
    its device-resident loop only when no callback is installed (a callback needs a host round
    trip per iteration), so there we leave it out unless a hook asks for it: Ctrl-C is then
    honoured when the call returns."""
    if _progress_hook is not None:
        return True
    gpu = params.device == _lib.FKM_DEVICE_CUDA or (
        params.device == _lib.FKM_DEVICE_AUTO and cuda_device_count() > params.cuda_device)
    return not gpu


def fit(params, hm, weights=None, on_iter=None):
    """fkm_fit on a HostMatrix -> FitResult. on_iter(iteration, max_iter, stats dict), if given,
    runs after every iteration (installing the progress callback, on a GPU too)."""
    m, sfx = _args(hm, weights)
    r = _lib.fkm_result()
    with _Call(params, on_iter is not None or _want_progress(params), on_iter) as call:
        st = getattr(_lib.lib, "fkm_fit" + sfx)(ctypes.byref(params), ctypes.byref(m), ctypes.byref(r))
    try:
        call.finish(st, "fit")
        return FitResult(r, own=True)
    finally:  # a no-op when FitResult took the arrays over
        _lib.lib.fkm_result_free(ctypes.byref(r))


def fit_batch(params, hm, weights=None, on_iter=None):
    """fkm_fit_batch on a b x n x d HostMatrix -> list of FitResult. on_iter: as fit's (the
    iteration count starts from 0 again for each restart and each problem)."""
    b = hm.shape[0]
    m = _matrix(hm, weights)
    out = (_lib.fkm_result * b)()
    with _Call(params, on_iter is not None or _want_progress(params), on_iter) as call:
        st = _lib.lib.fkm_fit_batch(ctypes.byref(params), ctypes.byref(m), b, out)
    try:
        call.finish(st, "batch fit")
        return [FitResult(out[i]) for i in range(b)]
    finally:
        for i in range(b):
            _lib.lib.fkm_result_free(ctypes.byref(out[i]))


def fit_ragged(params, hm, offsets, weights=None, on_iter=None):
    """fkm_fit_ragged on an (N, d) HostMatrix split by offsets (int64, B + 1) -> list of FitResult."""
    b = offsets.shape[0] - 1
    m = _matrix(hm, weights)
    out = (_lib.fkm_result * b)()
    op = offsets.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))
    with _Call(params, on_iter is not None or _want_progress(params), on_iter) as call:
        st = _lib.lib.fkm_fit_ragged(ctypes.byref(params), ctypes.byref(m), op, b, out)
    try:
        call.finish(st, "ragged batch fit")
        return [FitResult(out[i]) for i in range(b)]
    finally:
        for i in range(b):
            _lib.lib.fkm_result_free(ctypes.byref(out[i]))


def _centroid_args(centroids):
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    return c, c.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), c.shape[0]


def predict(params, hm, centroids, want_dist=False):
    """fkm_predict -> (labels int32 (n,), distances float32 (n,) or None)."""
    c, cp, k = _centroid_args(centroids)
    m, sfx = _args(hm)
    labels = np.empty(hm.shape[0], dtype=np.int32)
    dist = np.empty(hm.shape[0], dtype=np.float32) if want_dist else None
    dp = dist.ctypes.data_as(ctypes.POINTER(ctypes.c_float)) if want_dist else None
    with _Call(params) as call:
        st = getattr(_lib.lib, "fkm_predict" + sfx)(ctypes.byref(params), ctypes.byref(m), cp, k,
                                  labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), dp)
    call.finish(st, "predict")
    return labels, dist


def partial_sums(params, hm, centroids, col_scale, weight_scale, weights=None):
    """fkm_partial_sums on one block -> (labels int32 (n,), the assignment's distances float32
    (n,), fixed-point sums int64 (2 k d + 2 k,)). Used by flashkmeans.dask on the workers."""
    from ctypes import POINTER, c_double, c_float, c_int32, c_int64

    c, cp, k = _centroid_args(centroids)
    m = _matrix(hm, weights)
    n, d = hm.shape
    cs = np.ascontiguousarray(col_scale, dtype=np.float64)
    if cs.shape != (d,):
        raise ValueError("col_scale must have shape (%d,), got %s" % (d, cs.shape))
    labels = np.empty(n, dtype=np.int32)
    dist = np.empty(n, dtype=np.float32)
    sums = np.empty(2 * k * d + 2 * k, dtype=np.int64)
    with _Call(params) as call:
        st = _lib.lib.fkm_partial_sums(ctypes.byref(params), ctypes.byref(m), cp, k,
                                       cs.ctypes.data_as(POINTER(c_double)), float(weight_scale),
                                       labels.ctypes.data_as(POINTER(c_int32)),
                                       dist.ctypes.data_as(POINTER(c_float)),
                                       sums.ctypes.data_as(POINTER(c_int64)))
    call.finish(st, "partial sums")
    return labels, dist, sums


def transform(params, hm, centroids):
    """fkm_transform -> n x k float32 distances (squared L2 / 1 - cos / -x.c)."""
    c, cp, k = _centroid_args(centroids)
    m, sfx = _args(hm)
    out = np.empty((hm.shape[0], k), dtype=np.float32)
    with _Call(params) as call:
        st = getattr(_lib.lib, "fkm_transform" + sfx)(ctypes.byref(params), ctypes.byref(m), cp, k,
                                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
    call.finish(st, "transform")
    return out


def score(params, hm, centroids, weights=None):
    """fkm_score -> float64 (weighted) inertia."""
    c, cp, k = _centroid_args(centroids)
    m, sfx = _args(hm, weights)
    inertia = ctypes.c_double(0.0)
    with _Call(params) as call:
        st = getattr(_lib.lib, "fkm_score" + sfx)(ctypes.byref(params), ctypes.byref(m), cp, k, ctypes.byref(inertia))
    call.finish(st, "score")
    return inertia.value


_device_count = None


def cuda_device_count():
    """Usable CUDA devices seen by the library (asked once per process)."""
    global _device_count
    if _device_count is None:
        _device_count = int(_lib.lib.fkm_cuda_device_count())
    return _device_count


__all__ = ["make_params", "fit", "fit_batch", "predict", "transform", "score", "error_for"]
