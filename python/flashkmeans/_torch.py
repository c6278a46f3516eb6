"""PyTorch CUDA tensors through the device-pointer API (include/flashkmeans_cuda.h).

The tensor's device pointer goes to the library as it is: no host copy and no device copy when
the tensor is contiguous and of a type the library reads (float32/64/16, bfloat16, uint8).
Results are written by the library straight into tensors allocated here on the input's device,
and the work is ordered on torch's current stream of that device. `last_call` records the
pointers of the latest call so tests can verify zero-copy by pointer identity.

k-means++ and k-means|| initialisation run on the GPU (src/cuda/init/kmeanspp.cu, kmeans_par.cu). What the device API does not
do (yet): n_init > 1, per-iteration statistics and progress callbacks (so Ctrl-C is honoured only when the
call returns).
"""
import ctypes

import numpy as np

from . import _core, _dlpack, _lib

last_call = {}


def _torch():
    import torch

    return torch


def _codes():
    torch = _torch()
    return {torch.float32: _lib.FKM_F32, torch.float64: _lib.FKM_F64, torch.float16: _lib.FKM_F16,
            torch.bfloat16: _lib.FKM_BF16, torch.uint8: _lib.FKM_U8}


def _require_api():
    if not _lib.HAVE_CUDA_API:
        raise RuntimeError("flashkmeans: the library at %s has no device-pointer API "
                           "(fkm_cuda_fit): rebuild it from a tree with include/flashkmeans_cuda.h"
                           % _lib.library_path)


def _device_input(x, ndim, name="x"):
    """detach, check rank, keep the dtype when the library reads it (else float32 on the
    device), make contiguous only when it is not."""
    x = x.detach()
    if x.dim() != ndim:
        raise ValueError("Expected %dD tensor, got %dD tensor instead (%s has shape %s)"
                         % (ndim, x.dim(), name, tuple(x.shape)))
    if x.shape[-2] < 1 or x.shape[-1] < 1:
        raise ValueError("%s has shape %s: need at least 1 sample and 1 feature" % (name, tuple(x.shape)))
    code = _codes().get(x.dtype)
    if code is None:
        x, code = x.float(), _lib.FKM_F32
    if not x.is_contiguous():
        x = x.contiguous()
    return x, code


def _stream(dev):
    return ctypes.c_void_p(_torch().cuda.current_stream(dev).cuda_stream)


def _matrix(x, code, weights=None):
    b, n, d = x.shape
    m = _lib.fkm_cuda_matrix()
    m.data, m.dtype, m.b, m.n, m.d = x.data_ptr(), code, b, n, d
    m.weights = weights.data_ptr() if weights is not None else None
    return m


def _workspace(size_fn, p, m, dev, *extra):
    """The library's workspace as a torch uint8 tensor on dev, or None. From torch's caching
    allocator, a repeated call finds its block free and skips the cudaMalloc and the cudaFree
    (which waits for the whole GPU) that the library would make on its own; torch keeps the
    block for its next allocations (torch.cuda.empty_cache() gives it back). With a
    gpu_mem_limit the library allocates itself, so that the cap counts the workspace."""
    if p.gpu_mem_limit:
        return None
    size = ctypes.c_size_t(0)
    if size_fn(ctypes.byref(p), ctypes.byref(m), *extra, ctypes.byref(size)) != _lib.FKM_OK:
        return None  # the call itself reports the problem
    if size.value == 0:
        return None
    try:
        return _torch().empty(size.value, dtype=_torch().uint8, device=dev)
    except RuntimeError:  # out of memory in torch's allocator: the library's own check reports it
        return None


def _weights(w, b, n, dev):
    if w is None:
        return None
    torch = _torch()
    w = _dlpack.values(w, "weights")
    w = torch.as_tensor(w, dtype=torch.float32, device=dev).reshape(-1).contiguous()
    if w.numel() != b * n:
        raise ValueError("weights must have %d entries (b * n), got %d" % (b * n, w.numel()))
    return w


def cuda_fit(x3, k, *, max_iter=300, tol=1e-4, stop="shift", init="random", init_centroids=None,
             n_init=1, seed=0, metric="l2", precision="auto", verbose=0, weights=None,
             freeze_init=False, gpu_mem_limit=None):
    """fkm_cuda_fit on a (b, n, d) CUDA tensor -> (centroids (b,k,d) float32 tensor, labels (b,n)
    int32 tensor, iterations np (b,), inertia np (b,), info dict)."""
    torch = _torch()
    _require_api()
    x, code = _device_input(x3, 3)
    b, n, d = x.shape
    dev = x.device
    centroids = torch.empty((b, k, d), dtype=torch.float32, device=dev)
    labels = torch.empty((b, n), dtype=torch.int32, device=dev)
    host_init, device_init = None, False
    if init_centroids is not None:
        init_centroids = _dlpack.values(init_centroids, "init_centroids")
        if not isinstance(init_centroids, torch.Tensor) and np.ndim(init_centroids) == 3:
            init_centroids = torch.from_numpy(np.ascontiguousarray(init_centroids, dtype=np.float32))
        if isinstance(init_centroids, torch.Tensor):
            c = init_centroids.detach().to(device=dev, dtype=torch.float32)
            if tuple(c.shape) not in ((k, d), (b, k, d)):
                raise ValueError("init_centroids must have shape (%d, %d) or (%d, %d, %d), got %s"
                                 % (k, d, b, k, d, tuple(c.shape)))
            centroids.copy_(c.expand(b, k, d))  # the in/out buffer carries the initial centroids
            device_init = True
        else:
            host_init = np.ascontiguousarray(init_centroids, dtype=np.float32)
            if host_init.shape != (k, d):
                raise ValueError("init_centroids must have shape (%d, %d) or (%d, %d, %d), got %s"
                                 % (k, d, b, k, d, host_init.shape))
    p = _core.make_params(k, max_iter=max_iter, tol=tol, stop=stop, init=init, n_init=n_init,
                          init_centroids=host_init, seed=seed, metric=metric, precision=precision,
                          device="cuda:%d" % dev.index, verbose=verbose, freeze_init=freeze_init,
                          gpu_mem_limit=gpu_mem_limit)
    if device_init:
        p.init, p.init_centroids = _lib.FKM_INIT_ARRAY, None
    w = _weights(weights, b, n, dev)
    m = _matrix(x, code, w)
    iters, inertia = (ctypes.c_int * b)(), (ctypes.c_double * b)()
    info = _lib.fkm_cuda_fit_info()
    with torch.cuda.device(dev), _core._Call(p, progress=False) as call:
        ws = _workspace(_lib.lib.fkm_cuda_fit_workspace_size, p, m, dev)
        st = _lib.lib.fkm_cuda_fit(ctypes.byref(p), ctypes.byref(m), centroids.data_ptr(),
                                   labels.data_ptr(), iters, inertia, ctypes.byref(info),
                                   ws.data_ptr() if ws is not None else None,
                                   ws.numel() if ws is not None else 0, _stream(dev))
    call.finish(st, "cuda fit")
    last_call.clear()
    last_call.update(op="fit", input=x3.data_ptr(), data=m.data, centroids=centroids.data_ptr(),
                     labels=labels.data_ptr())
    meta = {"ms_iterations": info.ms_iterations, "ms_total": info.ms_total,
            "ms_assign": info.ms_assign,
            "kernel": (info.kernel or b"").decode(), "precision": _core._PREC_NAMES.get(info.precision)}
    return centroids, labels, np.array(iters[:], dtype=np.int32), np.array(inertia[:]), meta


def cuda_predict(x, centroids, *, metric="l2", precision="auto", want_dist=False,
                 want_inertia=False, weights=None):
    """fkm_cuda_predict. x: (n, d) or (b, n, d) CUDA tensor; centroids (k, d) or (b, k, d).
    Returns (labels int32, dist float32 or None, inertia np (b,) or None), shaped like x's rows."""
    torch = _torch()
    _require_api()
    squeeze = x.dim() == 2
    x, code = _device_input(x[None] if squeeze else x, 3)
    b, n, d = x.shape
    dev = x.device
    c = torch.as_tensor(centroids).detach().to(device=dev, dtype=torch.float32)
    if c.dim() == 2:
        c = c.expand(b, *c.shape)
    c = c.contiguous()
    if c.shape[0] != b or c.shape[2] != d:
        raise ValueError("centroids of shape %s do not fit data of shape %s" % (tuple(c.shape), (b, n, d)))
    k = c.shape[1]
    labels = torch.empty((b, n), dtype=torch.int32, device=dev)
    dist = torch.empty((b, n), dtype=torch.float32, device=dev) if want_dist else None
    inertia = (ctypes.c_double * b)() if want_inertia else None
    p = _core.make_params(1, metric=metric, precision=precision, device="cuda:%d" % dev.index)
    m = _matrix(x, code, _weights(weights, b, n, dev))
    with torch.cuda.device(dev), _core._Call(p, progress=False) as call:
        ws = _workspace(_lib.lib.fkm_cuda_predict_workspace_size, p, m, dev, ctypes.c_int64(k))
        st = _lib.lib.fkm_cuda_predict(ctypes.byref(p), ctypes.byref(m), c.data_ptr(), k,
                                       labels.data_ptr(), dist.data_ptr() if want_dist else None,
                                       inertia, ws.data_ptr() if ws is not None else None,
                                       ws.numel() if ws is not None else 0, _stream(dev))
    call.finish(st, "cuda predict")
    last_call.clear()
    last_call.update(op="predict", data=m.data, labels=labels.data_ptr(),
                     dist=dist.data_ptr() if want_dist else None)
    if squeeze:
        labels = labels[0]
        dist = dist[0] if want_dist else None
    return labels, dist, (np.array(inertia[:]) if want_inertia else None)


def distances(x, c, metric):
    """All n x k distances on the device with torch (the C API has no device transform): squared
    L2 / 1 - cos / -x.c, as fkm_transform reports them."""
    torch = _torch()
    x = x.detach().float()
    c = torch.as_tensor(c).detach().to(device=x.device, dtype=torch.float32)
    kind = _core._choice(_core._METRICS, metric, "metric")
    if kind == _lib.FKM_METRIC_COSINE:
        xn = x / x.norm(dim=1, keepdim=True)
        return 1 - xn @ (c / c.norm(dim=1, keepdim=True)).T
    if kind == _lib.FKM_METRIC_IP:
        return -(x @ c.T)
    d2 = (x * x).sum(1, keepdim=True) - 2 * (x @ c.T) + (c * c).sum(1)[None]
    return d2.clamp_min_(0)


# ---------------------------------------------------------------- front ends
def batch_kmeans_cuda(x, k, *, max_iter, tol, stop, init, n_init, seed, metric, precision, device,
                      weights, verbose, return_inertia, init_centroids=None, gpu_mem_limit=None):
    torch = _torch()
    if str(device) == "cpu":
        raise ValueError("device='cpu' with a CUDA tensor: move it with x.cpu() first")
    c, l, it, inertia, _ = cuda_fit(x, k, max_iter=max_iter, tol=tol, stop=stop, init=init,
                                    init_centroids=init_centroids, n_init=n_init, seed=seed,
                                    metric=metric, precision=precision, verbose=verbose,
                                    weights=weights, gpu_mem_limit=gpu_mem_limit)
    out = [l, c, torch.from_numpy(it).to(x.device)]
    if return_inertia:
        out.append(torch.from_numpy(inertia).to(x.device))
    return tuple(out)


def faiss_train_cuda(km, x, weights, init_centroids):
    if x.dim() != 2 or x.shape[1] != km.d:
        raise ValueError("x must have shape (n, %d), got %s" % (km.d, tuple(x.shape)))
    c, l, it, inertia, meta = cuda_fit(
        x[None], km.k, max_iter=km.niter, tol=km.tol, stop=km.stop, init=km.init,
        init_centroids=init_centroids, n_init=km.nredo, seed=km.seed, metric=km._metric(),
        precision=km.precision, verbose=2 if km.verbose else 0, weights=weights,
        freeze_init=km.frozen_centroids, gpu_mem_limit=km.gpu_mem_limit)
    km.centroids, km.labels = c[0], l[0].long()
    km.inertia = float(inertia[0])
    # The device API reports no per-iteration statistics: obj holds the final objective only.
    km.obj = np.array([km.inertia])
    km.iteration_stats = []
    km.device_info = dict(meta, iterations=int(it[0]))
    return km.inertia


def faiss_assign_cuda(km, x):
    labels, dist, _ = cuda_predict(x, km.centroids, metric=km._metric(), precision=km.precision,
                                   want_dist=True)
    if km.spherical:
        dist = 1 - dist
    return dist, labels.long()


def kmeans_fit_cuda(est, X, k, max_iter, seed, init, init_array, n_init, sample_weight):
    c, l, it, inertia, meta = cuda_fit(
        X[None], k, max_iter=max_iter, tol=est.tol, stop=est.stop, init=init or "random",
        init_centroids=init_array, n_init=n_init, seed=seed, metric=est.metric,
        precision=est.precision, verbose=est.verbose, weights=sample_weight,
        gpu_mem_limit=est.gpu_mem_limit)
    est.cluster_centers_, est.labels_ = c[0], l[0]
    est.inertia_, est.n_iter_ = float(inertia[0]), int(it[0])
    est.iteration_stats_ = []  # not reported by the device API
    est.device_, est.precision_ = "cuda", meta["precision"]
    est.stop_reason_ = "max_iter" if est.n_iter_ >= max_iter else "converged"
    return est
