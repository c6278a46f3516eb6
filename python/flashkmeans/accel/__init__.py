"""Zero code change: sklearn.cluster.KMeans routed to flashkmeans where the call is supported.

    python3 -m flashkmeans.accel [-v | -q] script.py [args ...]   # runs script.py patched
    python3 -m flashkmeans.accel [-v | -q] -m module [args ...]

    import flashkmeans
    flashkmeans.patch_sklearn()      # from here on sklearn.cluster.KMeans is the class below
    flashkmeans.unpatch_sklearn()    # scikit-learn's own class again

patch_sklearn() puts `KMeans` (this module's), a subclass of scikit-learn's own KMeans with the
same parameters, in place of sklearn.cluster.KMeans (and sklearn.cluster._kmeans.KMeans, which
scikit-learn's k_means() function uses). Its fit() asks `unsupported()` whether flashkmeans can
take the call as given (parameters, input, weights); if so flashkmeans.KMeans fits and the
scikit-learn attributes are copied over, else scikit-learn's own fit runs. predict, transform
and score of an estimator that flashkmeans fitted go to flashkmeans the same way. Every decision
is one line on the `logging` logger "flashkmeans.accel": fit decisions at INFO, the others at
DEBUG. `python3 -m flashkmeans.accel` shows the INFO lines on stderr (-v: DEBUG too, -q: none);
patch_sklearn() alone configures no handler (the application's logging config decides).

What flashkmeans computes differs from scikit-learn's as docs/python.md says (float32
arithmetic with its exact contract, an int random_state is the library seed, k-means++ draws).
scikit-learn's tol bounds the *sum* of the squared centre moves, flashkmeans's the largest: the
routed fit passes tol / n_clusters, so it stops only where scikit-learn's rule holds too.
"""
import logging
import numbers

import numpy as np

log = logging.getLogger("flashkmeans.accel")

try:
    import sklearn.cluster as _skc
    import sklearn.cluster._kmeans as _skk
    _SkKMeans = _skk.KMeans
except ImportError as _e:  # pragma: no cover - the module is for scikit-learn users
    raise ImportError("flashkmeans.accel needs scikit-learn: %s" % _e) from None

from .. import _sklearn as _fk

_FLT_MAX = float(np.finfo(np.float32).max)
# The parameters of scikit-learn's KMeans that the routed fit maps (all of 1.2's). A parameter of
# another version's KMeans that is not here is supported only at its default value.
_KNOWN = ("n_clusters", "init", "n_init", "max_iter", "tol", "verbose", "random_state", "copy_x",
          "algorithm")
_INITS = ("k-means++", "random")
_ALGORITHMS = ("lloyd", "elkan", "auto", "full")


def _is_sparse(X):
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover
        return False
    return sp.issparse(X)


def _describe(X):
    if _is_sparse(X):
        return "%s %s %dx%d nnz=%d" % (X.dtype, X.format, X.shape[0], X.shape[1], X.nnz)
    shape = getattr(X, "shape", None)
    return "%s %s" % (getattr(X, "dtype", type(X).__name__), "x".join(map(str, shape)) if shape else "")


def _sparse_supported():
    """Whether this flashkmeans.KMeans takes scipy sparse input (issue 20, item 2)."""
    return getattr(_fk, "SPARSE_INPUT", False)


def unsupported_input(X, what="X"):
    """None when flashkmeans takes X as scikit-learn would, else the reason it does not."""
    if _is_sparse(X):
        if not _sparse_supported():
            return "%s is a scipy sparse matrix (not supported by this flashkmeans)" % what
        if X.format not in ("csr", "csc"):
            return "%s is a scipy sparse %s matrix (flashkmeans takes CSR and CSC)" % (what, X.format)
        data = X.data
    else:
        if type(X).__module__.startswith("torch"):
            return None
        data = X
    dtype = getattr(data, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize > 4:
        a = np.asarray(data)
        # float64 values that float32 cannot hold: scikit-learn computes in float64. (Inf and
        # NaN are bad input either way: flashkmeans names the first one.)
        big = max(abs(float(a.max())), abs(float(a.min()))) if a.size else 0.0
        if np.isfinite(big) and big > _FLT_MAX:
            return "%s has float64 values beyond float32's range (%.3g)" % (what, big)
    elif dtype is not None and dtype.kind == "c":
        return "%s is complex" % what
    return None


def unsupported(est, X, sample_weight=None):
    """None when flashkmeans can fit this call as scikit-learn would, else the reason (a string).
    Invalid parameter values are not ours to judge: scikit-learn's own fit raises its error."""
    params = est.get_params(deep=False)
    if hasattr(est, "_validate_params"):
        try:
            est._validate_params()
        except Exception as e:  # scikit-learn's InvalidParameterError and words
            return "invalid parameters for scikit-learn (%s)" % str(e).split("\n")[0]
    defaults = _SkKMeans().get_params(deep=False)
    for name, value in params.items():
        if name not in _KNOWN and value is not defaults.get(name) and value != defaults.get(name):
            return "parameter %s=%r (not mapped to flashkmeans)" % (name, value)
    init = params["init"]
    if isinstance(init, str) and init not in _INITS:
        return "init=%r" % (init,)
    if isinstance(params["algorithm"], str) and params["algorithm"] not in _ALGORITHMS:
        return "algorithm=%r" % (params["algorithm"],)
    if not isinstance(params["n_clusters"], numbers.Integral):
        return "n_clusters=%r" % (params["n_clusters"],)
    reason = unsupported_input(X)
    if reason:
        return reason
    if sample_weight is not None:
        w = np.asarray(sample_weight)
        if w.dtype.kind in "fiu" and w.size and np.any(w < 0):
            return "negative sample_weight (flashkmeans refuses them)"
    return None


class KMeans(_SkKMeans):
    """scikit-learn's KMeans (same parameters, attributes and errors), fitted by flashkmeans when
    `unsupported()` finds nothing against the call, else by scikit-learn. See the module doc."""

    def _flashkmeans_estimator(self):
        p = self.get_params(deep=False)
        return _fk.KMeans(n_clusters=p["n_clusters"], init=p["init"], n_init=p["n_init"],
                          max_iter=p["max_iter"], tol=p["tol"] / max(1, p["n_clusters"]),
                          random_state=p["random_state"], verbose=p["verbose"],
                          copy_x=p["copy_x"], algorithm=p["algorithm"])

    def fit(self, X, y=None, sample_weight=None):
        reason = unsupported(self, X, sample_weight)
        if reason:
            log.info("KMeans.fit: scikit-learn (%s)", reason)
            self._flashkmeans = None
            return super().fit(X, y=y, sample_weight=sample_weight)
        fk = self._flashkmeans_estimator()
        fk.fit(X, sample_weight=sample_weight)
        for name in ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_",
                     "feature_names_in_", "_n_features_out", "_n_init", "_algorithm"):
            if hasattr(fk, name):
                setattr(self, name, getattr(fk, name))
            elif name == "feature_names_in_" and hasattr(self, name):
                delattr(self, name)
        self._tol = fk.tol
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
        self._n_threads = _openmp_effective_n_threads()  # scikit-learn's predict path reads it
        self._flashkmeans = fk
        log.info("KMeans.fit: flashkmeans (%s, k=%d, %s, %d iterations)", _describe(X),
                 fk.n_clusters, fk.device_, fk.n_iter_)
        return self

    def _route(self, method, X):
        fk = getattr(self, "_flashkmeans", None)
        if fk is None:
            log.debug("KMeans.%s: scikit-learn (fitted by scikit-learn)", method)
            return None
        reason = unsupported_input(X)
        if reason:
            log.debug("KMeans.%s: scikit-learn (%s)", method, reason)
            return None
        log.debug("KMeans.%s: flashkmeans (%s)", method, _describe(X))
        return fk

    def predict(self, X, sample_weight=None):
        fk = self._route("predict", X)
        if fk is None:
            return super().predict(X, sample_weight=sample_weight)
        return fk.predict(X).astype(np.int32, copy=False)

    def transform(self, X):
        fk = self._route("transform", X)
        if fk is None:
            return super().transform(X)
        return fk.transform(X)

    def score(self, X, y=None, sample_weight=None):
        fk = self._route("score", X)
        if fk is None:
            return super().score(X, y=y, sample_weight=sample_weight)
        return fk.score(X, sample_weight=sample_weight)


KMeans.__module__ = __name__
KMeans.__qualname__ = KMeans.__name__ = "KMeans"
_ORIGINAL = {}


def patch_sklearn():
    """Route sklearn.cluster.KMeans to flashkmeans where supported (module doc). Idempotent.
    Code that took scikit-learn's class before the call (`from sklearn.cluster import KMeans`
    already run) keeps it: patch first, or run the program with `python3 -m flashkmeans.accel`."""
    if not _ORIGINAL:
        _ORIGINAL["cluster"] = _skc.KMeans
        _ORIGINAL["_kmeans"] = _skk.KMeans
    _skc.KMeans = KMeans
    _skk.KMeans = KMeans
    log.debug("sklearn.cluster.KMeans -> flashkmeans.accel.KMeans")


def unpatch_sklearn():
    """scikit-learn's own KMeans back in sklearn.cluster (no-op when not patched)."""
    if _ORIGINAL:
        _skc.KMeans = _ORIGINAL.pop("cluster")
        _skk.KMeans = _ORIGINAL.pop("_kmeans")
        log.debug("sklearn.cluster.KMeans restored")


def is_patched():
    return _skc.KMeans is KMeans
