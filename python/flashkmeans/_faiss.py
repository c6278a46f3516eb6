"""flashkmeans.Kmeans: the interface of faiss.Kmeans over libflashkmeans.

    km = flashkmeans.Kmeans(d, k, niter=25, seed=1234, spherical=False, gpu=False)
    km.train(x)                 # -> last iteration's objective, like FAISS
    D, I = km.assign(x)         # squared L2 distances (float32) and labels (int64), 1-D
    km.centroids, km.obj, km.iteration_stats

Like FAISS, the initial centroids are k distinct random points (init="random"; "k-means++" on
request) and exactly `niter` iterations run (stop="fixed") unless `tol`/`stop` say otherwise.
Unlike FAISS, the data is not subsampled to 256 points per centroid unless
max_points_per_centroid is given explicitly: flashkmeans is exact on all the points by default.
"""
import sys
import time

import numpy as np

from . import _core, _progress
from ._compat import warn
from ._arrays import (dlpack_values, float32_matrix, host_matrix, is_cuda_tensor, is_torch,
                      weights_vector)
from ._arrays import like as _like
from ._dlpack import imported as _imported

# faiss.ClusteringParameters fields that are accepted and have no effect here (they tune FAISS's
# own search index or its warnings).
_IGNORED = ("min_points_per_centroid", "update_index", "decode_block_size",
            "check_input_data_for_NaNs", "use_faster_subsampling")
# FAISS options that are implemented (popped from **faiss_kwargs before the check above).
_HANDLED = ("int_centroids",)


class Kmeans:
    def __init__(self, d, k, niter=25, seed=1234, spherical=False, gpu=False, verbose=False,
                 nredo=1, frozen_centroids=False, max_points_per_centroid=None, tol=0.0,
                 stop="fixed", precision="auto", device=None, n_threads=None, init="random",
                 gpu_mem_limit=None, progress=None, **faiss_kwargs):
        for key in faiss_kwargs:
            if key not in _IGNORED and key not in _HANDLED:
                raise TypeError("Kmeans got an unexpected keyword argument %r" % key)
        self.int_centroids = bool(faiss_kwargs.pop("int_centroids", False))
        self.d, self.k = int(d), int(k)
        self.niter, self.seed, self.nredo = int(niter), int(seed), int(nredo)
        self.spherical, self.verbose = bool(spherical), bool(verbose)
        _progress.check(progress)
        # None is off: verbose=True already rewrites one line per iteration, as FAISS does
        self.progress = False if progress is None else progress
        self.frozen_centroids = bool(frozen_centroids)
        self.max_points_per_centroid = max_points_per_centroid
        self.tol, self.stop, self.precision, self.n_threads = tol, stop, precision, n_threads
        self.init = init  # FAISS seeds with k random points; "k-means++" is available too
        self.gpu_mem_limit = _core.parse_gpu_mem(gpu_mem_limit)  # bytes; 0: no cap
        self.gpu = gpu
        if device is None:  # FAISS: gpu=False -> CPU, True/-1 -> GPU(s), int n -> n GPUs
            device = "cpu" if gpu is False or gpu == 0 else "cuda"
        self.device = device
        self.centroids = None
        self.obj = np.zeros(0)
        self.iteration_stats = []
        self.inertia = None  # of the final centroids (FAISS has no such field)

    def _metric(self):
        return "cosine" if self.spherical else "l2"

    def _params(self, **kw):
        return _core.make_params(self.k, metric=self._metric(), precision=self.precision,
                                 device=self.device, threads=self.n_threads,
                                 verbose=2 if self.verbose else 0,
                                 gpu_mem_limit=self.gpu_mem_limit, **kw)

    def _subsample(self, hm, w):
        """FAISS's max_points_per_centroid, only when asked for (seeded, without replacement)."""
        mp = self.max_points_per_centroid
        n = hm.shape[0]
        if mp is None or n <= self.k * mp:
            return hm, w
        keep = np.sort(np.random.RandomState(self.seed % 2**32).permutation(n)[: self.k * mp])
        warn("Kmeans: sampling %d points out of %d (max_points_per_centroid=%d)"
             % (keep.size, n, mp), RuntimeWarning)
        hm.array = np.ascontiguousarray(hm.array[keep])
        return hm, (None if w is None else np.ascontiguousarray(w[keep]))

    def train(self, x, weights=None, init_centroids=None):
        """Run k-means on x (n x d); returns the objective of the last iteration."""
        x = _imported(x, "x")
        runs = 1 if init_centroids is not None else self.nredo
        rep = _progress.reporter(self.progress, 0, type(self).__name__, self.niter, runs=max(runs, 1))
        with _progress.closing(rep):
            obj = self._train(x, weights, init_centroids, rep)
            if rep is not None:
                if is_cuda_tensor(x):  # the device API reports no iterations
                    rep.skip_to(self.device_info["iterations"])
                rep.close("done", inertia=self.inertia)
        return obj

    def _train(self, x, weights, init_centroids, rep):
        if is_cuda_tensor(x):
            if self.int_centroids:
                raise ValueError("int_centroids is not supported for CUDA tensors: train on a "
                                 "host array (with gpu=True to run the iterations on the GPU)")
            from ._torch import faiss_train_cuda

            return faiss_train_cuda(self, x, weights, init_centroids)
        hm = host_matrix(x, name="x")
        if hm.shape[1] != self.d:
            raise ValueError("x has dimension %d, Kmeans was created for d=%d" % (hm.shape[1], self.d))
        w = weights_vector(weights, hm.shape[0], "weights")
        hm, w = self._subsample(hm, w)
        c0 = None
        if init_centroids is not None:
            init_centroids = dlpack_values(init_centroids, "init_centroids")
            if is_torch(init_centroids):
                init_centroids = init_centroids.detach().cpu().numpy()
            c0 = float32_matrix(init_centroids, (self.k, self.d), "init_centroids")
        elif self.frozen_centroids:
            raise ValueError("frozen_centroids needs init_centroids")
        if self.int_centroids:
            return self._train_int(hm, w, c0, x, rep)
        p = self._params(max_iter=self.niter, tol=self.tol, stop=self.stop, seed=self.seed, init=self.init,
                         n_init=self.nredo, init_centroids=c0,
                         freeze_init=self.frozen_centroids)
        on_iter = rep
        if self.verbose:  # FAISS's lines, on stdout; its imbalance factor is not computed here
            print("Clustering %d points in %dD to %d clusters, redo %d times, %d iterations"
                  % (hm.shape[0], self.d, self.k, self.nredo, self.niter))
            sys.stdout.flush()
            on_iter = self._print_iteration if rep is None else self._both(rep)
            self._verbose_t = 0.0
        t0 = time.perf_counter()
        try:
            r = _core.fit(p, hm, w, on_iter=on_iter)
        finally:
            if self.verbose:
                print()
                sys.stdout.flush()
        self._store(r, time.perf_counter() - t0, x)
        return float(self.obj[-1]) if self.obj.size else 0.0

    def _round(self, c):
        """FAISS's post_process_centroids: unit norm for spherical, then round to integers."""
        c = np.array(c, dtype=np.float32)
        if self.spherical:
            norms = np.linalg.norm(c, axis=1, keepdims=True)
            np.divide(c, norms, out=c, where=norms > 0)
        return np.ascontiguousarray(np.rint(c), dtype=np.float32)

    def _both(self, rep):
        def both(it, max_iter, st):
            self._print_iteration(it, max_iter, st)
            rep(it, max_iter, st)
        return both

    def _train_int(self, hm, w, c0, like, rep=None):
        """int_centroids=True (FAISS): the centroids are rounded to integers after the seeding and
        after every iteration, so each assignment uses integer centroids. The library has no such
        step: one single-iteration fit per iteration, rounding in between (slower than a plain
        fit). Restarts (nredo) use seeds seed, seed+1, ...; the lowest last objective is kept."""
        if self.frozen_centroids:
            raise ValueError("int_centroids cannot be combined with frozen_centroids")
        if self.stop != "fixed":
            raise ValueError("int_centroids runs exactly niter iterations: use stop='fixed', got %r"
                             % (self.stop,))
        if self.verbose:
            print("Clustering %d points in %dD to %d clusters, redo %d times, %d iterations"
                  % (hm.shape[0], self.d, self.k, self.nredo, self.niter))
        t0 = time.perf_counter()
        best = None
        for redo in range(self.nredo if c0 is None else 1):
            seed = self.seed + redo
            if c0 is None:  # the library's seeding alone (zero iterations)
                c = _core.fit(self._params(max_iter=0, stop="fixed", seed=seed, init=self.init),
                              hm, w).centroids
            else:
                c = c0
            c = self._round(c)
            stats = []
            self._verbose_t = 0.0
            for it in range(self.niter):
                p = self._params(max_iter=1, stop="fixed", seed=seed, init=self.init,
                                 init_centroids=c)
                r = _core.fit(p, hm, w)
                stats.append(r.stats)
                if self.verbose:
                    self._print_iteration(it, self.niter, r.stats_dicts()[0])
                if rep is not None:  # each iteration is a fresh fit: its "changed" counts all points
                    rep.update(it, {"inertia": float(r.stats["inertia"][0])})
                c = self._round(r.centroids)
            if self.verbose:
                print()
                sys.stdout.flush()
            stats = np.concatenate(stats) if stats else np.zeros(0, _core.STATS_DTYPE)
            last = stats["inertia"][-1] if stats.size else np.inf
            if best is None or last < best[0]:
                best = (last, c, stats)
        _, c, stats = best
        pp = self._params()
        res = _IntResult()
        res.centroids, res.stats = c, stats
        res.labels, _ = _core.predict(pp, hm, c)
        res.inertia = _core.score(pp, hm, c, w)
        self._store(res, time.perf_counter() - t0, like)
        return float(self.obj[-1]) if self.obj.size else 0.0

    def _print_iteration(self, it, max_iter, st):
        """One FAISS-style progress line per iteration (carriage return, as FAISS does; no
        separate search time, which the library does not report)."""
        self._verbose_t += st["ms"] / 1e3
        sys.stdout.write("  Iteration %d (%.2f s): objective=%g nsplit=%d       \r"
                         % (it, self._verbose_t, st["inertia"], st["empty"]))
        sys.stdout.flush()

    def _store(self, r, seconds, like):
        self.centroids = _like(r.centroids, like)
        self.obj = np.asarray(r.stats["inertia"], dtype=np.float64)
        t = np.cumsum(r.stats["ms"]) / 1e3
        self.iteration_stats = [dict(d, time=float(ti), nsplit=d["empty"])
                                for d, ti in zip(r.stats_dicts(), t)]
        self.inertia = r.inertia
        self.labels = _like(r.labels.astype(np.int64), like)
        self.train_seconds = seconds

    def assign(self, x):
        """Nearest centroid of each row of x -> (D float32 (n,), I int64 (n,)). D is the squared
        L2 distance, or for spherical=True the cosine similarity (FAISS: the inner product)."""
        if self.centroids is None:
            raise RuntimeError("should train before assigning")
        x = _imported(x, "x")
        if is_cuda_tensor(x):
            from ._torch import faiss_assign_cuda

            return faiss_assign_cuda(self, x)
        c = self.centroids
        if is_torch(c):
            c = c.detach().cpu().numpy()
        hm = host_matrix(x, name="x")
        labels, dist = _core.predict(self._params(), hm, c, want_dist=True)
        if self.spherical:
            dist = 1.0 - dist
        return _like(dist, x), _like(labels.astype(np.int64), x)


class _IntResult:
    """What Kmeans._store reads from a FitResult, assembled by the int_centroids loop."""

    stats_dicts = _core.FitResult.stats_dicts
