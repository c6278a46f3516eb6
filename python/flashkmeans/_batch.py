"""flashkmeans.batch_kmeans: many independent k-means problems of the same shape in one call."""
import numpy as np

from . import _core, _progress
from ._arrays import HostMatrix, dlpack_values, float32_matrix, host_matrix, is_cuda_tensor, is_torch
from ._dlpack import imported as _imported


def batch_kmeans(x, k, *, max_iter=300, tol=1e-4, stop="shift", init="k-means++", n_init=1,
                 seed=0, metric="l2", precision="auto", device="auto", weights=None,
                 n_threads=None, verbose=0, return_inertia=False, gpu_mem_limit=None, progress=None):
    """Fit k-means separately to each of the B problems in x, shape (B, N, D).

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
    w = None
    if weights is not None:
        weights = dlpack_values(weights, "weights")
        if is_torch(weights):
            weights = weights.detach().cpu().numpy()
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if w.shape != (b, n):
            raise ValueError("weights must have shape %s, got %s" % ((b, n), w.shape))
    if init_array is not None:
        if is_torch(init_array):
            init_array = init_array.detach().cpu().numpy()
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
