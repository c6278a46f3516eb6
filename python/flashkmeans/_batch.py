"""flashkmeans.batch_kmeans: many independent k-means problems of the same shape in one call."""
import numpy as np

from . import _core, _progress
from ._arrays import HostMatrix, dlpack_values, float32_matrix, host_matrix, host_values, is_cuda_tensor, is_torch
from ._dlpack import imported as _imported


def batch_kmeans(x, k, *, max_iter=300, tol=1e-4, stop="shift", init="k-means++", n_init=1,
                 seed=0, metric="l2", precision="auto", device="auto", weights=None,
                 n_threads=None, verbose=0, return_inertia=False, gpu_mem_limit=None, progress=None,
                 offsets=None):
    """Fit k-means separately to each of the B problems in x, shape (B, N, D).

    Ragged batches: with offsets (B + 1 non-decreasing ints, offsets[0] = 0, offsets[B] = N), x
    has shape (N, D) and problem i is rows offsets[i]:offsets[i+1] (weights: shape (N,)); labels
    come back flat, shape (N,), each in its own problem's 0..K-1. A problem with fewer rows than
    K makes every row its own cluster (centroid j = row j mod n; none: the init array's rows, or
    zeros). CUDA tensors go through the host API (copied once).

    Problem i uses seed `seed + i` (the C API's rule), so problem i gives the same result as a
    single fit of x[i] with that seed. init: "k-means++", "k-means||", "random", one (K, D)
    array that starts every problem, or a (B, K, D) array that starts problem i from init[i] (the
    warm start of a loop: the previous call's centroids; on CUDA tensors no host round trip). Returns (labels (B, N) int32, centroids (B, K, D) float32,
    iterations (B,) int32) -- plus inertia (B,) float64 when return_inertia=True. numpy in, numpy
    out; a torch tensor in gives torch tensors on the same device. gpu_mem_limit: cap on the GPU
    memory (bytes or "4G"-style, None = no cap), see KMeans. progress: as KMeans's (None: shown
    from verbose=1), over all the problems' iterations.
    """
    _progress.check(progress)
    x = _imported(x, "x")
    if offsets is not None:
        return _ragged(x, k, offsets, init, progress, max_iter=max_iter, tol=tol, stop=stop, n_init=n_init,
                       seed=seed, metric=metric, precision=precision, device=device, weights=weights,
                       n_threads=n_threads, verbose=verbose, return_inertia=return_inertia,
                       gpu_mem_limit=gpu_mem_limit)
    init_array = None
    if not isinstance(init, str):
        init_array, init = dlpack_values(init, "init"), "random"
    b = x.shape[0] if getattr(x, "ndim", None) == 3 else len(x) if isinstance(x, (list, tuple)) else 1
    restarts = n_init if isinstance(n_init, int) and n_init > 0 else 1  # the library checks n_init
    rep = _progress.reporter(progress, verbose, "batch_kmeans", max_iter, runs=b * restarts,
                             run_name="problem" if restarts == 1 else "run")
    with _progress.closing(rep):
        out = _fit(x, k, init, init_array, rep, max_iter=max_iter, tol=tol, stop=stop, n_init=n_init,
                   seed=seed, metric=metric, precision=precision, device=device, weights=weights,
                   n_threads=n_threads, verbose=verbose, return_inertia=return_inertia,
                   gpu_mem_limit=gpu_mem_limit)
        if rep is not None:
            if is_cuda_tensor(x):  # the device API reports no iterations: only the total
                rep.skip_to(int(out[2].sum()))
            rep.close("done")
    return out


def _fit(x, k, init, init_array, rep, *, max_iter, tol, stop, n_init, seed, metric, precision, device,
         weights, n_threads, verbose, return_inertia, gpu_mem_limit):
    if is_cuda_tensor(x):
        from ._torch import batch_kmeans_cuda

        return batch_kmeans_cuda(x, k, max_iter=max_iter, tol=tol, stop=stop, init=init,
                                 n_init=n_init, seed=seed, metric=metric, precision=precision,
                                 device=device, weights=weights, verbose=verbose,
                                 return_inertia=return_inertia, init_centroids=init_array,
                                 gpu_mem_limit=gpu_mem_limit)
    hm = host_matrix(x, ndim=3, name="x")
    b, n, d = hm.shape
    w = None if weights is None else float32_matrix(weights, (b, n), "weights")
    if init_array is not None:  # float32_matrix brings a tensor's values to the host
        if np.ndim(init_array) == 3:  # one start per problem: problem i alone, from init[i]
            init_array = float32_matrix(init_array, (b, k, d), "init")
            return _per_problem(x, hm, w, init_array, k, max_iter=max_iter, tol=tol, stop=stop,
                                n_init=n_init, seed=seed, metric=metric, precision=precision, device=device,
                                threads=n_threads, verbose=verbose, gpu_mem_limit=gpu_mem_limit,
                                return_inertia=return_inertia, on_iter=rep)
        init_array = float32_matrix(init_array, (k, d), "init")
    p = _core.make_params(k, max_iter=max_iter, tol=tol, stop=stop, init=init, n_init=n_init,
                          init_centroids=init_array,
                          seed=seed, metric=metric, precision=precision, device=device,
                          threads=n_threads, verbose=verbose, gpu_mem_limit=gpu_mem_limit)
    return _outputs(x, _core.fit_batch(p, hm, w, on_iter=rep), return_inertia)


def _per_problem(x, hm, w, init3, k, *, return_inertia, seed, on_iter=None, **opts):
    """Problem i fitted alone from init3[i] with seed + i: what the batch rule promises."""
    res = []
    for i in range(hm.shape[0]):
        p = _core.make_params(k, init="random", init_centroids=init3[i], seed=seed + i, **opts)
        one = HostMatrix(hm.array[i:i + 1], hm.code, hm.source_dtype)
        try:
            res += _core.fit_batch(p, one, None if w is None else w[i:i + 1], on_iter=on_iter)
        except ValueError as e:  # name the problem, as a batch fit does
            raise ValueError("problem %d: %s" % (i, e)) from None
    return _outputs(x, res, return_inertia)


def _outputs(x, res, return_inertia):
    labels = np.stack([r.labels for r in res])
    centroids = np.stack([r.centroids for r in res])
    iters = np.array([r.iterations for r in res], dtype=np.int32)
    out = [labels, centroids, iters]
    if return_inertia:
        out.append(np.array([r.inertia for r in res], dtype=np.float64))
    if is_torch(x):
        import torch

        out = [torch.from_numpy(a) for a in out]
    return tuple(out)


class _NoRows:
    """fkm_fit_ragged's result for a problem without rows, started from `centroids`."""

    def __init__(self, centroids):
        self.centroids, self.labels = centroids.copy(), np.empty(0, np.int32)
        self.iterations, self.inertia = 0, 0.0


def _ragged(x, k, offsets, init, progress, *, weights, return_inertia, seed, verbose, max_iter, n_init, **opts):
    """batch_kmeans with offsets: fkm_fit_ragged (per-problem starts: one call per problem)."""
    like = x
    if is_cuda_tensor(x):
        x = x.detach().cpu()
    hm = host_matrix(x, ndim=2, name="x")
    n, d = hm.shape
    off = np.asarray(host_values(offsets, "offsets"))
    if off.ndim != 1 or off.shape[0] < 2 or off.dtype.kind not in "iu":
        raise ValueError("offsets must be a 1-D integer array of B + 1 >= 2 entries, got %s %s"
                         % (off.dtype, off.shape))
    off = off.astype(np.int64)
    b = off.shape[0] - 1
    w = None if weights is None else float32_matrix(weights, (n,), "weights")
    init_array = None
    if not isinstance(init, str):
        init_array, init = host_values(init, "init"), "random"
        init_array = float32_matrix(init_array, (b, k, d) if np.ndim(init_array) == 3 else (k, d), "init")
    opts["threads"] = opts.pop("n_threads")
    restarts = n_init if isinstance(n_init, int) and n_init > 0 else 1
    rep = _progress.reporter(progress, verbose, "batch_kmeans", max_iter, runs=b * restarts,
                             run_name="problem" if restarts == 1 else "run")
    with _progress.closing(rep):
        if init_array is not None and init_array.ndim == 3:  # problem i alone from init[i], seed + i
            res = []
            for i in range(b):
                if not 0 <= off[i] <= off[i + 1] <= n:
                    break  # the library names the bad offsets below
                if off[i + 1] == off[i]:  # no rows: its start kept (the library's rule; it takes no empty matrix)
                    res.append(_NoRows(init_array[i]))
                    continue
                p = _core.make_params(k, init=init, init_centroids=init_array[i], seed=seed + i, verbose=verbose,
                                      max_iter=max_iter, n_init=n_init, **opts)
                one = HostMatrix(hm.array[off[i]:off[i + 1]], hm.code, hm.source_dtype)
                res += _core.fit_ragged(p, one, np.array([0, off[i + 1] - off[i]], dtype=np.int64),
                                        None if w is None else w[off[i]:off[i + 1]], on_iter=rep)
            if len(res) < b:
                p = _core.make_params(k, init=init, seed=seed, verbose=verbose, max_iter=max_iter, n_init=n_init,
                                      init_centroids=init_array[0], **opts)
                _core.fit_ragged(p, hm, off, w)  # raises the library's error for the offsets
        else:
            p = _core.make_params(k, init=init, init_centroids=init_array, seed=seed, verbose=verbose,
                                  max_iter=max_iter, n_init=n_init, **opts)
            res = _core.fit_ragged(p, hm, off, w, on_iter=rep)
        if rep is not None:
            rep.close("done")
    labels = np.concatenate([r.labels for r in res]) if res else np.empty(0, np.int32)
    out = [labels.astype(np.int32, copy=False), np.stack([r.centroids for r in res]),
           np.array([r.iterations for r in res], dtype=np.int32)]
    if return_inertia:
        out.append(np.array([r.inertia for r in res], dtype=np.float64))
    if is_torch(like):
        import torch

        out = [torch.from_numpy(a).to(like.device) for a in out]
    return tuple(out)
