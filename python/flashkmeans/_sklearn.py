"""flashkmeans.KMeans: a scikit-learn estimator over libflashkmeans.

Differences from sklearn.cluster.KMeans that users may notice (see docs/python.md):
  * n_init defaults to 1 (sklearn 1.2: 10) -- one exact run is usually what GPU users want;
    n_init="auto" follows scikit-learn 1.4 (10 for init="random", else 1; a callable init is
    called once, so "auto" gives it 1 where scikit-learn gives 10);
  * an int random_state is the library seed itself, so the C API / CLI with that seed agrees;
  * tol compares the largest squared centroid move (sklearn: the sum of them) with
    tol * mean feature variance; stop="inertia" | "labels" | "fixed" are also available;
  * computations run in float32 (exact fp32 contract), whatever the input type; attributes and
    transform() come back in float64 for float64 input, else float32.
"""
import numbers

import numpy as np

from . import _core
from ._arrays import (HostMatrix, dlpack_values, host_matrix, is_bfloat16, is_cuda_tensor,
                      is_torch, like as _like, weights_vector)
from ._dlpack import imported as _imported
from ._compat import (HAVE_SKLEARN, BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                      ClusterMixin, ConvergenceWarning, TransformerMixin, check_is_fitted,
                      seed_from, warn)
from ._errors import InvalidArgumentError

_SKLEARN_DTYPES = [np.float64, np.float32, np.float16, np.uint8]
_FAST_DTYPES = tuple(np.dtype(t) for t in _SKLEARN_DTYPES)
try:  # scikit-learn >= 1.6 moved BaseEstimator._validate_data to a function
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:
    _validate_data = None


def _check_int(value, name, low):
    if not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, low, value))
    return int(value)


def _check_verbose(value):
    """verbose: an int >= 0 or a bool (True = 1), as scikit-learn accepts."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return _check_int(value, "verbose", 0)


class KMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Exact k-means (Lloyd) on the CPU or a GPU, with scikit-learn's interface.

    Parameters: n_clusters, init ("k-means++", "k-means||" (oversampled candidates, then
    k-means++ on them: faster for large k), "random", an (n_clusters, n_features)
    array or a callable(X, n_clusters, random_state) returning one), n_init (an int >= 1, or
    "auto": 10 for "random", else 1, as in scikit-learn 1.4 -- except that a callable init,
    which flashkmeans calls once, also gets 1), max_iter, tol, random_state,
    metric ("l2", "cosine", "ip"), precision ("auto", "exact", "tf32", "fp16", "bf16"),
    device ("auto", "cpu", "cuda", "cuda:N"), stop ("shift", "inertia", "labels", "fixed"),
    n_threads (CPU threads; None = chosen by the library from the problem's size and the idle
    CPUs, docs/threads.md), verbose (0 silent .. 3 debug, to stderr; True = 1;
    library warnings are Python RuntimeWarnings at every level),
    gpu_mem_limit (cap on the GPU memory a fit may use: bytes or "4G"-style; None = no cap; a
    fit whose working set does not fit runs on the CPU with device="auto", else raises
    MemoryError; data larger than the cap is streamed from host memory), gpus (GPUs a CUDA fit
    uses from device's on, rows split among them, NCCL all-reduce; 0 = all; default 1),
    copy_x (scikit-learn's; accepted for compatibility: fit never modifies X, whether True or
    False -- there is no in-place centring to undo).

    Attributes after fit: cluster_centers_, labels_, inertia_, n_iter_, n_features_in_,
    iteration_stats_ (per-iteration dicts: inertia, shift, empty, changed, rescored, ms; rescored:
    points re-scored in exact fp32 because the GPU's certified tensor-core pass could not prove
    their label, 0 on the CPU and for non-exact precisions), device_, precision_, stop_reason_.
    get_feature_names_out() gives "kmeans0".."kmeans{k-1}" and set_output() configures
    transform's output, as in scikit-learn. A fit whose labels use fewer than n_clusters
    clusters (duplicate points) warns with scikit-learn's ConvergenceWarning.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=300, tol=1e-4,
                 random_state=None, metric="l2", precision="auto", device="auto", stop="shift",
                 n_threads=None, verbose=0, gpu_mem_limit=None, gpus=1, copy_x=True):
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
            kw = dict(reset=reset, accept_sparse=False, dtype=_SKLEARN_DTYPES, order="C")
            if _validate_data is not None:  # scikit-learn >= 1.6
                X = _validate_data(self, X, ensure_all_finite=False, **kw)
            else:
                X = self._validate_data(X, force_all_finite=False, **kw)
            return host_matrix(X)
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
        return np.float64 if hm.array.dtype == np.float64 else np.float32

    def _initial(self, data, d, k, seed):
        """-> (init string or None, float32 init array or None, n_init)."""
        init = self.init
        if isinstance(self.n_init, str) and self.n_init == "auto":
            # scikit-learn 1.4: one run for a greedy seeding or given centres, 10 for "random".
            # A callable is called once here (its centres are then given centres): one run.
            n_init = 10 if isinstance(init, str) and init == "random" else 1
        else:
            n_init = _check_int(self.n_init, "n_init", 1)
        self._n_init = n_init  # scikit-learn's private attribute, which its tests read
        if isinstance(init, str):
            if init not in _core._INITS:
                raise ValueError("init must be 'k-means++', 'k-means||', 'random', an array or a callable, got %r"
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
        init, init_array, n_init = self._initial(hm.array, hm.shape[1], k, seed)
        w = weights_vector(sample_weight, n)
        p = self._params(k, max_iter=max_iter, tol=self.tol, stop=self.stop,
                         init=init or "k-means++", init_centroids=init_array, n_init=n_init,
                         seed=seed)
        r = _core.fit(p, hm, w)
        self.cluster_centers_ = _like(r.centroids.astype(self._out_dtype(hm), copy=False), X)
        self.labels_ = _like(r.labels, X)
        self.inertia_ = r.inertia
        self.n_iter_ = r.iterations
        self.iteration_stats_ = r.stats_dicts()
        self.device_ = r.device
        self.precision_ = r.precision
        self.stop_reason_ = r.stop_reason
        self._n_features_out = k
        self._warn_distinct(np.unique(r.labels).size, k)
        return self

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
        self.n_features_in_ = d
        k, max_iter, seed = self._checked_params(n)
        init, init_array, n_init = self._initial(X, d, k, seed)
        kmeans_fit_cuda(self, X, k, max_iter, seed, init, init_array, n_init, sample_weight)
        self._n_features_out = k
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
        out = _core.transform(self._params(1), hm, self._centroids32())
        if l2:
            np.sqrt(out, out=out)
        return _like(out.astype(self._out_dtype(hm), copy=False), X)

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
