"""flashkmeans.KMeans: a scikit-learn estimator over libflashkmeans.

Differences from sklearn.cluster.KMeans that users may notice (see docs/python.md):
  * n_init's default is the installed scikit-learn's: "warn" up to 1.3 (10 runs and its
    FutureWarning), "auto" from 1.4 and without scikit-learn (1 run for k-means++, 10 for random);
    n_init="auto" follows scikit-learn 1.4 (a callable init is called once, so "auto" gives it 1
    where scikit-learn gives 10);
  * algorithm="elkan" gives exactly the labels, centres and iterations of "lloyd" (bounds skip
    only the distances that cannot change the result under flashkmeans's own float32 rounding);
    CPU only -- a GPU fit runs Lloyd for it;
  * an int random_state is the library seed itself, so the C API / CLI with that seed agrees;
  * tol compares the largest squared centroid move (sklearn: the sum of them) with
    tol * mean feature variance; stop="inertia" | "labels" | "fixed" are also available;
  * computations run in float32 (exact fp32 contract), whatever the input type; attributes and
    transform() come back in float64 for float64 input, else float32.
"""
import numbers

import numpy as np

from . import _core, _progress
from ._arrays import (CsrMatrix, HostMatrix, dlpack_values, is_scipy_sparse, host_matrix, is_bfloat16, is_cuda_tensor,
                      is_torch, like as _like, weights_vector)
from ._dlpack import imported as _imported
from ._compat import (HAVE_SKLEARN, BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                      ClusterMixin, ConvergenceWarning, TransformerMixin, check_is_fitted,
                      seed_from, warn)
from ._errors import BadInputError, InvalidArgumentError

_SKLEARN_DTYPES = [np.float64, np.float32, np.float16, np.uint8]
SPARSE_INPUT = True  # scipy CSR/CSC (and other formats, converted to CSR) on the CPU: fkm_*_csr
_FAST_DTYPES = tuple(np.dtype(t) for t in _SKLEARN_DTYPES)
try:  # scikit-learn >= 1.6 moved BaseEstimator._validate_data to a function
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:
    _validate_data = None


def _check_int(value, name, low):
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, low, value))
    return int(value)


def _sklearn_n_init_default(estimator="KMeans"):
    """The installed scikit-learn's default n_init of sklearn.cluster.<estimator> ("warn" in 1.2
    and 1.3, "auto" from 1.4), or "auto" without scikit-learn."""
    if not HAVE_SKLEARN:
        return "auto"
    try:
        import inspect
        import sklearn.cluster

        value = inspect.signature(getattr(sklearn.cluster, estimator).__init__).parameters["n_init"].default
    except Exception:  # pragma: no cover - a scikit-learn we do not know
        return "auto"
    return value if value in ("warn", "auto") or isinstance(value, int) else "auto"


_N_INIT_DEFAULT = _sklearn_n_init_default()
# algorithm= values: scikit-learn 1.2's, plus flashkmeans's "hamerly". "elkan" runs the bounds
# measured fastest here: Hamerly's, 4-8x faster to convergence than the engine's Elkan bounds
# (whose n x k bound updates cost more than the scores they save) on blobs n=1e5-2e5, d=8-16,
# k=32-64 (bench/results/elkan-*.md). Every choice gives Lloyd's results bit for bit.
_ALGORITHM_ENGINE = {"lloyd": "lloyd", "elkan": "hamerly", "hamerly": "hamerly"}


def _check_verbose(value):
    """verbose: an int >= 0 or a bool (True = 1), as scikit-learn accepts."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return _check_int(value, "verbose", 0)


class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Exact k-means (Lloyd) on the CPU or a GPU, with scikit-learn's interface.

    Parameters: n_clusters, init ("auto", the default: "k-means||" where the fit runs on a GPU,
    where it costs a fraction of the iterations, "k-means++" on the CPU; "k-means++",
    "k-means||" (oversampled candidates, then
    k-means++ on them: faster for large k), "hierarchical" (coarse clusters, each split: for
    very large k, host data), "random", an (n_clusters, n_features)
    array or a callable(X, n_clusters, random_state) returning one), n_init (an int >= 1, or
    "auto": 10 for "random", else 1, as in scikit-learn 1.4 -- except that a callable init,
    which flashkmeans calls once, also gets 1; or "warn": 10 with scikit-learn 1.2's
    FutureWarning; the default is the installed scikit-learn's), max_iter, tol, random_state,
    algorithm ("lloyd"; "elkan": the same results, bit for bit, with fewer distance computations
    on the CPU (exact bounds -- Hamerly's, measured the faster here -- docs/algorithm.md); a GPU
    fit runs Lloyd for it; "hamerly": the same as "elkan"; "auto" and "full" as in
    scikit-learn 1.2: "lloyd" with its FutureWarning; "elkan" with n_clusters=1 is "lloyd" with
    its RuntimeWarning; Euclidean metric only),
    metric ("l2", "cosine", "ip"), precision ("auto", "exact", "tf32", "fp16", "bf16"),
    device ("auto", "cpu", "cuda", "cuda:N"), stop ("shift", "inertia", "labels", "fixed"),
    n_threads (CPU threads; None = chosen by the library from the problem's size and the idle
    CPUs, docs/threads.md), verbose (0 silent .. 3 debug, to stderr; True = 1;
    library warnings are Python RuntimeWarnings at every level; 1 also prints scikit-learn's
    per-iteration lines on stdout), progress (None: shown from verbose=1; True: a tqdm bar on
    stderr when tqdm is installed and stderr is a terminal, else a line every second or more;
    "bar", "lines": that form; False: never; it never changes the results),
    gpu_mem_limit (cap on the GPU memory a fit may use: bytes or "4G"-style; None = no cap; a
    fit whose working set does not fit runs on the CPU with device="auto", else raises
    MemoryError; data larger than the cap is streamed from host memory), gpus (GPUs a CUDA fit
    uses from device's on, rows split among them, NCCL all-reduce; 0 = all; default 1),
    copy_x (scikit-learn's; accepted for compatibility: fit never modifies X, whether True or
    False -- there is no in-place centring to undo), max_cluster_size (None or 0: no cap; an int
    N: no cluster of the fit holds more than N points, whatever their weights -- the capped
    assignment of docs/algorithm.md, a regret-ordered greedy and a local search of moves and
    swaps, not an optimum; N * n_clusters must
    be >= n_samples; host data on the CPU only: device="cuda" and CUDA tensors are refused,
    device="auto" runs on the CPU; predict/transform/score are not capped).

    Attributes after fit: cluster_centers_, labels_, inertia_, inertia_unconstrained_ (inertia of
    cluster_centers_ with every point at its nearest centre, what predict gives; equals inertia_
    unless max_cluster_size moved points), n_iter_, n_features_in_,
    iteration_stats_ (per-iteration dicts: inertia, shift, empty, changed, rescored, ms; rescored:
    points re-scored in exact fp32 because the GPU's certified tensor-core pass could not prove
    their label, 0 on the CPU and for non-exact precisions), device_, precision_, stop_reason_,
    counts_ (float64 weight of each cluster in labels_; partial_fit's per-centre counts),
    n_steps_ (partial_fit steps since fit). partial_fit(X) on a fitted estimator is one
    mini-batch step (scikit-learn's rule, approximate; see partial_fit and docs/python.md).
    get_feature_names_out() gives "kmeans0".."kmeans{k-1}" and set_output() configures
    transform's output, as in scikit-learn. A fit whose labels use fewer than n_clusters
    clusters (duplicate points) warns with scikit-learn's ConvergenceWarning.
    """

    def __init__(self, n_clusters=8, *, init="auto", n_init=1, max_iter=300,
                 tol=1e-4, random_state=None, metric="l2", precision="auto", device="auto",
                 stop="shift", n_threads=None, verbose=0, gpu_mem_limit=None, gpus=1, copy_x=True,
                 algorithm="lloyd", max_cluster_size=None, progress=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.metric = metric
        self.precision = precision
        self.device = device
        self.stop = stop
        self.n_threads = n_threads
        self.verbose = verbose
        self.gpu_mem_limit = gpu_mem_limit
        self.gpus = gpus
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.max_cluster_size = max_cluster_size
        self.progress = progress

    # ------------------------------------------------------------ input checking
    def _check_X(self, X, reset):
        """Validated HostMatrix. scikit-learn's check_array handles lists, pandas, sparse and
        object input (and records feature names); torch tensors and bfloat16 arrays, which it
        does not know, go straight to the binding's own checks."""
        if (type(X) is np.ndarray and X.ndim == 2 and X.dtype in _FAST_DTYPES and X.size
                and X.flags.c_contiguous and not hasattr(self, "feature_names_in_")):
            # Fast path: an array the library takes as it is. scikit-learn's validation would
            # accept it unchanged too; skipping it saves ~0.3 ms per call on recent versions.
            return self._check_hm(host_matrix(X), reset)
        if HAVE_SKLEARN and not is_torch(X) and not isinstance(X, HostMatrix) \
                and not is_bfloat16(getattr(X, "dtype", None)):
            # NaN/Inf are left to the library, which checks them in its single conversion pass
            # and names the first bad position.
            kw = dict(reset=reset, accept_sparse=["csr", "csc"], dtype=_SKLEARN_DTYPES, order="C")
            if _validate_data is not None:  # scikit-learn >= 1.6
                X = _validate_data(self, X, ensure_all_finite=False, **kw)
            else:
                X = self._validate_data(X, force_all_finite=False, **kw)
            # sparse: the library's CSR arrays, never a dense copy (fkm_fit_csr, CPU only)
            return CsrMatrix(X) if is_scipy_sparse(X) else host_matrix(X)
        if is_scipy_sparse(X):
            return self._check_hm(CsrMatrix(X), reset)
        return self._check_hm(host_matrix(X), reset)

    def _check_hm(self, hm, reset):
        d = hm.shape[1]
        if reset:
            self.n_features_in_ = d
        elif d != self.n_features_in_:
            raise ValueError("X has %d features, but %s is expecting %d features as input."
                             % (d, type(self).__name__, self.n_features_in_))
        return hm

    def _params(self, k, **extra):
        threads = self.n_threads
        if threads is not None:
            threads = _check_int(threads, "n_threads", 0)
        return _core.make_params(k, metric=self.metric, precision=self.precision,
                                 device=self.device, threads=threads,
                                 verbose=_check_verbose(self.verbose),
                                 gpu_mem_limit=self.gpu_mem_limit, gpus=self.gpus, **extra)

    def _out_dtype(self, hm):
        dt = hm.source_dtype if isinstance(hm, CsrMatrix) else hm.array.dtype
        return np.float64 if dt == np.float64 else np.float32

    def _initial(self, data, d, k, seed):
        """-> (init string or None, float32 init array or None, n_init)."""
        init = self.init
        n_init = self.n_init
        if isinstance(n_init, str) and n_init == "warn":
            # scikit-learn 1.2's default and words (its tests match them): 10 runs, and a warning
            warn("The default value of `n_init` will change from 10 to 'auto' in 1.4. Set the "
                 "value of `n_init` explicitly to suppress the warning", FutureWarning)
            n_init = 10
        if isinstance(n_init, str) and n_init == "auto":
            # scikit-learn 1.4: one run for a greedy seeding or given centres, 10 for "random".
            # A callable is called once here (its centres are then given centres): one run.
            n_init = 10 if isinstance(init, str) and init == "random" else 1
        else:
            n_init = _check_int(n_init, "n_init", 1)
        self._n_init = n_init  # scikit-learn's private attribute, which its tests read
        if isinstance(init, str):
            if init not in _core._INITS:
                raise ValueError("init must be 'auto', 'k-means++', 'k-means||', 'hierarchical', 'random', an array or a "
                                 "callable, got %r"
                                 % (init,))
            return init, None, n_init
        if callable(init):
            init = init(data, k, np.random.RandomState(seed % 2**32))
        init = dlpack_values(init, "init")
        if is_torch(init):
            init = init.detach().cpu().numpy()
        c = np.array(init, dtype=np.float32, order="C")  # a copy: never touch the user's array
        # scikit-learn's messages (its tests match them)
        if c.ndim != 2 or c.shape[0] != k:
            raise ValueError("The shape of the initial centers %s does not match the number of "
                             "clusters %d." % (c.shape, k))
        if c.shape[1] != d:
            raise ValueError("The shape of the initial centers %s does not match the number of "
                             "features of the data %d." % (c.shape, d))
        if n_init != 1:
            warn("Explicit initial center position passed: performing only one init in "
                 "KMeans instead of n_init=%d." % n_init, RuntimeWarning)
        self._n_init = 1
        return None, c, 1

    def _checked_params(self, n):
        k = _check_int(self.n_clusters, "n_clusters", 1)
        if n < k:  # the library's error class and words, with scikit-learn's (its tests match them)
            raise InvalidArgumentError(
                "fit: k = %d is larger than the number of points n = %d (n_samples=%d should be "
                ">= n_clusters=%d.) [flashkmeans: invalid argument]" % (k, n, n, k))
        max_iter = _check_int(self.max_iter, "max_iter", 0)
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError("tol must be a number >= 0, got %r" % (self.tol,))
        return k, max_iter, seed_from(self.random_state)

    def _checked_algorithm(self, k):
        """The engine's algorithm for self.algorithm, with scikit-learn 1.2's warnings."""
        algo = self.algorithm
        if isinstance(algo, str) and algo in ("auto", "full"):
            warn("algorithm='%s' is deprecated, it will be removed in 1.3. Using 'lloyd' instead."
                 % algo, FutureWarning)
            algo = "lloyd"
        if not isinstance(algo, str) or algo not in _ALGORITHM_ENGINE:
            raise ValueError("The 'algorithm' parameter of %s must be a str among {'auto', 'elkan', "
                             "'full', 'hamerly', 'lloyd'}. Got %r instead."
                             % (type(self).__name__, algo))
        if algo != "lloyd" and k == 1:
            warn("algorithm='%s' doesn't make sense for a single cluster. Using 'lloyd' instead."
                 % algo, RuntimeWarning)
            algo = "lloyd"
        self._algorithm = algo  # scikit-learn's private attribute, which its tests read
        return _ALGORITHM_ENGINE[algo]

    # ------------------------------------------------------------ estimator API
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering of X (n_samples, n_features); returns self. A torch tensor
        gives torch attributes on its device; a CUDA tensor runs on that GPU with no copy. Any
        DLPack producer is read through the protocol (CPU: numpy results; CUDA: torch)."""
        X = _imported(X)
        if is_cuda_tensor(X):
            return self._fit_cuda(X, sample_weight)
        hm = self._check_X(X, reset=True)
        n = hm.shape[0]
        k, max_iter, seed = self._checked_params(n)
        algorithm = self._checked_algorithm(k)
        init, init_array, n_init = self._initial(X if isinstance(hm, CsrMatrix) else hm.array,
                                                 hm.shape[1], k, seed)
        w = weights_vector(sample_weight, n)
        p = self._params(k, max_iter=max_iter, tol=self.tol, stop=self.stop,
                         init=init or "auto", init_centroids=init_array, n_init=n_init,
                         seed=seed, algorithm=algorithm, max_cluster_size=self.max_cluster_size)
        verbose = _check_verbose(self.verbose)
        rep = _progress.reporter(self.progress, verbose, type(self).__name__, max_iter, runs=n_init)
        with _progress.closing(rep):
            r = _core.fit(p, hm, w, on_iter=self._on_iter(verbose, rep))
            if rep is not None:
                rep.close(r.stop_reason, inertia=r.inertia)
        if verbose:
            self._print_convergence(r, hm)
        self.cluster_centers_ = _like(r.centroids.astype(self._out_dtype(hm), copy=False), X)
        self.labels_ = _like(r.labels, X)
        self.inertia_ = r.inertia
        self.inertia_unconstrained_ = r.inertia_unconstrained
        self.n_iter_ = r.iterations
        self.iteration_stats_ = r.stats_dicts()
        self.device_ = r.device
        self.precision_ = r.precision
        self.stop_reason_ = r.stop_reason
        self._n_features_out = k
        # per-centre weight of labels_ (float64, in sample order): partial_fit's counts. One pass
        # over the labels also gives the distinct ones (np.unique sorted all n: 0.25 s at 2^24)
        sizes = np.bincount(r.labels, minlength=k)
        self.counts_ = (sizes if w is None else np.bincount(r.labels, weights=w, minlength=k)).astype(np.float64)
        self.n_steps_ = 0
        self._warn_distinct(int(np.count_nonzero(sizes)), k)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the fitted centres with one mini-batch X (host data; docs/python.md,
        "Incremental updates"). Unfitted: fit(X) (exact), counts_ = the weight of each cluster.
        Fitted: X is labelled exactly under cluster_centers_, then each centre j that got
        points moves to (N_j c_j + sum w_i x_i) / (N_j + W_j) and N_j += W_j (counts_ N,
        scikit-learn's mini-batch rule, float64; no random reassignment): every centre is the
        running mean of all the points it was given. labels_ and inertia_ become X's under the
        new centres; n_steps_ counts the steps since fit. Approximate: the result is not the
        exact k-means of all the data seen -- refit with init=cluster_centers_ for that."""
        from ._minibatch import kmeans_partial_fit

        return kmeans_partial_fit(self, X, sample_weight)

    @staticmethod
    def _print_iteration(it, max_iter, stats, say=print):
        # scikit-learn's verbose lines on stdout (its tests match them); the library's own
        # messages and the progress report go to stderr
        if it == 0:
            say("Initialization complete")
        say("Iteration %d, inertia %s." % (it, stats["inertia"]))

    def _on_iter(self, verbose, rep):
        """The fit's per-iteration callback: None when neither verbose nor progress asks (then a
        GPU fit keeps its device-resident loop)."""
        if rep is None:
            return self._print_iteration if verbose else None
        if not verbose:
            return rep

        def both(it, max_iter, stats):
            self._print_iteration(it, max_iter, stats, rep.write)  # above the bar, not through it
            rep(it, max_iter, stats)
        return both

    def _print_convergence(self, r, hm):
        if r.stop_reason != "converged" or not r.iterations:
            return
        last = r.stats_dicts()[-1]
        if last["changed"] == 0:
            print("Converged at iteration %d: strict convergence." % (r.iterations - 1))
        elif self.stop == "shift":
            if isinstance(hm, CsrMatrix):
                from scipy.sparse import csr_matrix

                S = csr_matrix((hm.data.astype(np.float64), hm.indices, hm.indptr), shape=hm.shape)
                mean = np.asarray(S.mean(axis=0)).ravel()
                var = float(np.mean(np.asarray(S.multiply(S).mean(axis=0)).ravel() - mean * mean))
            else:
                var = float(np.mean(np.var(np.asarray(hm.array, dtype=np.float64), axis=0)))
            print("Converged at iteration %d: center shift %s within tolerance %s."
                  % (r.iterations - 1, last["shift"] ** 2, self.tol * var))

    def _warn_distinct(self, distinct, k):
        # scikit-learn's warning and words, for its metric only: under cosine and inner product
        # clusters that end empty are common and not a sign of duplicate points
        if distinct < k and str(self.metric) in ("l2", "euclidean", "sqeuclidean"):
            warn("Number of distinct clusters ({}) found smaller than n_clusters ({}). Possibly "
                 "due to duplicate points in X.".format(distinct, k), ConvergenceWarning)

    def _fit_cuda(self, X, sample_weight):
        from ._torch import kmeans_fit_cuda

        if X.dim() != 2:
            raise ValueError("Expected 2D tensor, got %dD tensor instead" % X.dim())
        n, d = X.shape
        if self.max_cluster_size:  # never ignored: the capped step is the CPU engine's
            raise InvalidArgumentError(
                "fit: max_cluster_size = %r runs on the CPU engine only: pass host data (a CUDA "
                "tensor fits on the GPU) [flashkmeans: invalid argument]" % (self.max_cluster_size,))
        self.n_features_in_ = d
        k, max_iter, seed = self._checked_params(n)
        self._checked_algorithm(k)  # validated and warned as on the host; the GPU runs Lloyd
        init, init_array, n_init = self._initial(X, d, k, seed)
        # the device API reports no iterations: the report shows the start and the end
        rep = _progress.reporter(self.progress, _check_verbose(self.verbose), type(self).__name__, max_iter)
        with _progress.closing(rep):
            kmeans_fit_cuda(self, X, k, max_iter, seed, init, init_array, n_init, sample_weight)
            if rep is not None:
                rep.skip_to(self.n_iter_)
                rep.close(self.stop_reason_, inertia=self.inertia_)
        self._n_features_out = k
        self.counts_ = None  # partial_fit (CPU only) refuses a model fitted on the GPU
        self.n_steps_ = 0
        self._warn_distinct(int(self.labels_.unique().numel()), k)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        X = _imported(X)
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        X = _imported(X)  # once: fit and transform then share the imported array
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def _centroids32(self):
        c = self.cluster_centers_
        if is_torch(c):
            c = c.detach().cpu().numpy()
        return np.ascontiguousarray(c, dtype=np.float32)

    def _check_cuda_X(self, X):
        if X.dim() != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError("X has shape %s, but %s is expecting %d features as input."
                             % (tuple(X.shape), type(self).__name__, self.n_features_in_))
        return X

    def predict(self, X, sample_weight=None):
        """Index (int32) of the closest cluster centre for each sample."""
        check_is_fitted(self)
        X = _imported(X)
        if is_cuda_tensor(X):
            from ._torch import cuda_predict

            return cuda_predict(self._check_cuda_X(X), self.cluster_centers_, metric=self.metric,
                                precision=self.precision)[0]
        hm = self._check_X(X, reset=False)
        labels, _ = _core.predict(self._params(1), hm, self._centroids32())
        return _like(labels, X)

    def transform(self, X):
        """Distances to every centre, (n_samples, n_clusters): Euclidean (not squared) for l2 as
        in scikit-learn, 1 - cos for cosine, -x.c for ip."""
        check_is_fitted(self)
        X = _imported(X)
        l2 = _core._choice(_core._METRICS, self.metric, "metric") == 0
        if is_cuda_tensor(X):
            from ._torch import distances

            out = distances(self._check_cuda_X(X), self.cluster_centers_, self.metric)
            return out.sqrt_() if l2 else out
        hm = self._check_X(X, reset=False)
        if l2 and not isinstance(hm, CsrMatrix) and hm.array.dtype == np.float64:
            # float64 input: float64 distances, computed as scikit-learn's euclidean_distances
            # computes them (|x|^2 - 2 x.c + |c|^2 in float64, clipped at 0, a zero diagonal
            # when X is the centres array itself), so that they agree with its to ~1e-12
            # instead of the float32 expansion's ~1e-3 absolute near zero
            return self._transform64(hm.array, X is self.cluster_centers_)
        out = _core.transform(self._params(1), hm, self._centroids32())
        if l2:
            np.sqrt(out, out=out)
        return _like(out.astype(self._out_dtype(hm), copy=False), X)

    def _transform64(self, X, same):
        bad = ~np.isfinite(X)
        if bad.any():  # the library's error and words (it checks in its own conversion pass)
            i, j = np.argwhere(bad)[0]
            raise BadInputError("transform: data[%d][%d] is %s (input contains NaN or infinity) "
                                "[flashkmeans: bad input data]"
                                % (i, j, "NaN" if np.isnan(X[i, j]) else "Inf"))
        C = np.asarray(self.cluster_centers_, dtype=np.float64)
        out = np.empty((X.shape[0], C.shape[0]), dtype=np.float64)
        cc = np.einsum("ij,ij->i", C, C)
        step = max(1, (1 << 22) // max(1, C.shape[0]))  # rows per chunk: ~32 MB of distances
        for i in range(0, X.shape[0], step):
            xb = X[i:i + step]
            d = xb @ C.T
            d *= -2
            d += np.einsum("ij,ij->i", xb, xb)[:, None]
            d += cc[None, :]
            np.maximum(d, 0, out=d)
            out[i:i + step] = d
        if same:
            np.fill_diagonal(out, 0)
        return np.sqrt(out, out=out)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of X under the fitted centres."""
        check_is_fitted(self)
        X = _imported(X)
        if is_cuda_tensor(X):
            from ._torch import cuda_predict

            _, _, inertia = cuda_predict(self._check_cuda_X(X), self.cluster_centers_,
                                         metric=self.metric, precision=self.precision,
                                         want_inertia=True, weights=sample_weight)
            return -float(inertia[0])
        hm = self._check_X(X, reset=False)
        w = weights_vector(sample_weight, hm.shape[0])
        return -_core.score(self._params(1), hm, self._centroids32(), w)

    def __sklearn_tags__(self):  # scikit-learn >= 1.6 (older versions read _more_tags)
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _more_tags(self):
        return {
            "preserves_dtype": [np.float64, np.float32],
            "_xfail_checks": {
                # Same exemption, for the same reason, as sklearn.cluster.KMeans: k-means++ draws
                # its seeds from the (shuffled) sample order, so adding zero-weight rows changes
                # the random sequence and with it the numbering of the clusters.
                "check_sample_weights_invariance":
                    "zero sample_weight is not equivalent to removing samples",
            },
        }
