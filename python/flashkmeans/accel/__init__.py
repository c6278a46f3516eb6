"""Zero code change: sklearn.cluster.KMeans and MiniBatchKMeans routed to flashkmeans where the
call is supported.

    python3 -m flashkmeans.accel [-v | -q] script.py [args ...]   # runs script.py patched
    python3 -m flashkmeans.accel [-v | -q] -m module [args ...]

    import flashkmeans
    flashkmeans.patch_sklearn()      # from here on sklearn.cluster.KMeans is the class below
    flashkmeans.unpatch_sklearn()    # scikit-learn's own classes again

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

MiniBatchKMeans (this module's) does the same for sklearn.cluster.MiniBatchKMeans with
flashkmeans.MiniBatchKMeans, which has scikit-learn 1.2's parameters with their meaning (all are
passed as they are; tol has the same meaning there). fit decides afresh each time (it resets
the state). partial_fit keeps state between calls (centres, counts, the RandomState, the
reassignment counter), so only the call that starts a state decides: the first partial_fit (and
every fit) goes where `unsupported_minibatch()` says, and the later partial_fit calls go to the
library that holds the state, whatever they pass. One exception, in one direction: a later call
that flashkmeans cannot take (say negative weights) on a flashkmeans state hands that state
(centres, counts, RandomState, counter, step count) over to scikit-learn's attributes and runs
scikit-learn's partial_fit; scikit-learn holds the state from then on (an INFO line says so).
The first partial_fit's decision and every hand-over are INFO lines, the later calls DEBUG.
"""
import logging
import numbers

import numpy as np

log = logging.getLogger("flashkmeans.accel")

try:
    import sklearn.cluster as _skc
    import sklearn.cluster._kmeans as _skk
    _SkKMeans = _skk.KMeans
    _SkMiniBatchKMeans = _skk.MiniBatchKMeans
except ImportError as _e:  # pragma: no cover - the module is for scikit-learn users
    raise ImportError("flashkmeans.accel needs scikit-learn: %s" % _e) from None

from .. import _sklearn as _fk
from .. import _minibatch as _fkmb

_FLT_MAX = float(np.finfo(np.float32).max)
# The parameters of scikit-learn's KMeans that the routed fit maps (all of 1.2's). A parameter of
# another version's KMeans that is not here is supported only at its default value.
_KNOWN = ("n_clusters", "init", "n_init", "max_iter", "tol", "verbose", "random_state", "copy_x",
          "algorithm")
_INITS = ("k-means++", "random")
_ALGORITHMS = ("lloyd", "elkan", "auto", "full")
# The same for MiniBatchKMeans (all of 1.2's; flashkmeans.MiniBatchKMeans takes each of them
# with the same meaning).
_KNOWN_MB = ("n_clusters", "init", "max_iter", "batch_size", "verbose", "compute_labels",
             "random_state", "tol", "max_no_improvement", "init_size", "n_init",
             "reassignment_ratio")


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


def _unsupported_params(est, base, known):
    """None, or why the parameters keep the call from flashkmeans: values scikit-learn's
    validation refuses (not ours to judge: its own fit raises its error), or a parameter of
    another scikit-learn that is not mapped and not at its default."""
    params = est.get_params(deep=False)
    if hasattr(est, "_validate_params"):
        try:
            est._validate_params()
        except Exception as e:  # scikit-learn's InvalidParameterError and words
            return "invalid parameters for scikit-learn (%s)" % str(e).split("\n")[0]
    defaults = base().get_params(deep=False)
    for name, value in params.items():
        if name not in known and value is not defaults.get(name) and value != defaults.get(name):
            return "parameter %s=%r (not mapped to flashkmeans)" % (name, value)
    return None


def _unsupported_weights(sample_weight):
    if sample_weight is not None:
        w = np.asarray(sample_weight)
        if w.dtype.kind in "fiu" and w.size and np.any(w < 0):
            return "negative sample_weight (flashkmeans refuses them)"
    return None


def unsupported(est, X, sample_weight=None):
    """None when flashkmeans can fit this call as scikit-learn would, else the reason (a string).
    Invalid parameter values are not ours to judge: scikit-learn's own fit raises its error."""
    reason = _unsupported_params(est, _SkKMeans, _KNOWN)
    if reason:
        return reason
    params = est.get_params(deep=False)
    init = params["init"]
    if isinstance(init, str) and init not in _INITS:
        return "init=%r" % (init,)
    if isinstance(params["algorithm"], str) and params["algorithm"] not in _ALGORITHMS:
        return "algorithm=%r" % (params["algorithm"],)
    if not isinstance(params["n_clusters"], numbers.Integral):
        return "n_clusters=%r" % (params["n_clusters"],)
    return unsupported_input(X) or _unsupported_weights(sample_weight)


def unsupported_minibatch(est, X, sample_weight=None, params=True):
    """unsupported() for MiniBatchKMeans: None when flashkmeans.MiniBatchKMeans can take this
    fit / partial_fit as scikit-learn would, else the reason. params=False: a partial_fit that
    goes on from a state, whose parameters scikit-learn does not check again."""
    if params:
        reason = _unsupported_params(est, _SkMiniBatchKMeans, _KNOWN_MB)
        if reason:
            return reason
        p = est.get_params(deep=False)
        if isinstance(p["init"], str) and p["init"] not in _INITS:
            return "init=%r" % (p["init"],)
        if not isinstance(p["n_clusters"], numbers.Integral):
            return "n_clusters=%r" % (p["n_clusters"],)
    if type(X).__module__.startswith("torch") and getattr(X, "is_cuda", False):
        return "X is a CUDA tensor (flashkmeans.MiniBatchKMeans fits on the CPU)"
    return unsupported_input(X) or _unsupported_weights(sample_weight)


def _adopt(est, fk, names):
    """est takes flashkmeans estimator fk's fitted attributes `names` (feature_names_in_ removed
    when fk has none), the thread count scikit-learn's own predict path reads, and fk itself
    (where predict/transform/score then go)."""
    for name in names:
        if hasattr(fk, name):
            setattr(est, name, getattr(fk, name))
        elif name == "feature_names_in_" and hasattr(est, name):
            delattr(est, name)
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
    est._n_threads = _openmp_effective_n_threads()
    est._flashkmeans = fk


class _Routed:
    """predict, transform and score of a routing class: to flashkmeans when flashkmeans fitted the
    estimator (and its cluster_centers_ are still the fitted ones), else scikit-learn's own (the
    next class in the MRO)."""

    def _to_sklearn(self, method, reason, X, y, sample_weight):
        """A fitting call (fit, or the partial_fit that starts a state) that scikit-learn takes:
        say why, drop any flashkmeans state, run scikit-learn's own method."""
        log.info("%s.%s: scikit-learn (%s)", type(self).__name__, method, reason)
        self._flashkmeans = None
        return getattr(super(), method)(X, y=y, sample_weight=sample_weight)

    def _route(self, method, X):
        name = type(self).__name__
        fk = getattr(self, "_flashkmeans", None)
        if fk is None:
            log.debug("%s.%s: scikit-learn (fitted by scikit-learn)", name, method)
            return None
        if getattr(self, "cluster_centers_", None) is not fk.cluster_centers_:
            log.debug("%s.%s: scikit-learn (cluster_centers_ set since flashkmeans fitted)", name, method)
            return None
        reason = unsupported_input(X)
        if reason:
            log.debug("%s.%s: scikit-learn (%s)", name, method, reason)
            return None
        log.debug("%s.%s: flashkmeans (%s)", name, method, _describe(X))
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


class KMeans(_Routed, _SkKMeans):
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
            return self._to_sklearn("fit", reason, X, y, sample_weight)
        fk = self._flashkmeans_estimator()
        fk.fit(X, sample_weight=sample_weight)
        _adopt(self, fk, ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_",
                          "feature_names_in_", "_n_features_out", "_n_init", "_algorithm"))
        self._tol = fk.tol
        log.info("KMeans.fit: flashkmeans (%s, k=%d, %s, %d iterations)", _describe(X),
                 fk.n_clusters, fk.device_, fk.n_iter_)
        return self



KMeans.__module__ = __name__
KMeans.__qualname__ = KMeans.__name__ = "KMeans"

# scikit-learn's private attributes that a flashkmeans fit / partial_fit sets under the same
# names and meanings (scikit-learn's own methods read some: partial_fit after fit, _counts).
_MB_STATE = ("_n_init", "_batch_size", "_init_size", "_tol", "_n_since_last_reassign",
             "_ewa_inertia", "_ewa_inertia_min", "_no_improvement", "_random_state")


class MiniBatchKMeans(_Routed, _SkMiniBatchKMeans):
    """scikit-learn's MiniBatchKMeans (same parameters, attributes and errors), fitted by
    flashkmeans.MiniBatchKMeans when `unsupported_minibatch()` finds nothing against the call,
    else by scikit-learn; a partial_fit that goes on from a state goes to the library holding it.
    See the module doc."""


    def _flashkmeans_params(self):
        p = self.get_params(deep=False)
        kw = {name: p[name] for name in _KNOWN_MB}
        kw["compute_labels"] = bool(kw["compute_labels"])  # scikit-learn 1.2 takes an int (deprecated)
        return kw

    def _copy_from(self, fk):
        _adopt(self, fk, ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_steps_",
                          "n_features_in_", "feature_names_in_", "_n_features_out") + _MB_STATE)
        self._counts = fk.counts_

    def fit(self, X, y=None, sample_weight=None):
        reason = unsupported_minibatch(self, X, sample_weight)
        if reason:
            return self._to_sklearn("fit", reason, X, y, sample_weight)
        fk = _fkmb.MiniBatchKMeans(**self._flashkmeans_params())
        if hasattr(self, "_random_state"):  # fit leaves an earlier partial_fit's RandomState to later ones
            fk._random_state = self._random_state
        fk.fit(X, sample_weight=sample_weight)
        self._copy_from(fk)
        log.info("MiniBatchKMeans.fit: flashkmeans (%s, k=%d, cpu, %d steps, n_iter_=%d)",
                 _describe(X), fk.n_clusters, fk.n_steps_, fk.n_iter_)
        return self

    def partial_fit(self, X, y=None, sample_weight=None):
        if not hasattr(self, "cluster_centers_"):  # the call that starts the state decides
            reason = unsupported_minibatch(self, X, sample_weight)
            if reason:
                return self._to_sklearn("partial_fit", reason, X, y, sample_weight)
            fk = _fkmb.MiniBatchKMeans(**self._flashkmeans_params())
            fk.partial_fit(X, sample_weight=sample_weight)
            self._copy_from(fk)
            log.info("MiniBatchKMeans.partial_fit: flashkmeans (%s, k=%d, cpu; later partial_fit "
                     "calls stay with flashkmeans)", _describe(X), fk.n_clusters)
            return self
        fk = getattr(self, "_flashkmeans", None)
        if fk is None:
            log.debug("MiniBatchKMeans.partial_fit: scikit-learn (its state)")
            return super().partial_fit(X, y=y, sample_weight=sample_weight)
        reason = unsupported_minibatch(self, X, sample_weight, params=False)
        if reason:
            log.info("MiniBatchKMeans.partial_fit: scikit-learn (%s; flashkmeans's state handed "
                     "over, later partial_fit calls stay with scikit-learn)", reason)
            self._hand_over(fk, X)
            return super().partial_fit(X, y=y, sample_weight=sample_weight)
        fk.set_params(**self._flashkmeans_params())  # set_params between calls: as scikit-learn
        if self.cluster_centers_ is not fk.cluster_centers_:  # centres set by hand: go on from them
            fk.cluster_centers_ = self.cluster_centers_
        fk.partial_fit(X, sample_weight=sample_weight)
        self._copy_from(fk)
        log.debug("MiniBatchKMeans.partial_fit: flashkmeans (%s, step %d)", _describe(X), fk.n_steps_)
        return self

    def _hand_over(self, fk, X):
        """flashkmeans's state as scikit-learn's partial_fit reads it: centres and counts in the
        dtype scikit-learn gives X (float32 stays, else float64), the same RandomState."""
        dt = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
        centers = (fk.cluster_centers_ if self.cluster_centers_ is not fk.cluster_centers_
                   else _fkmb.centers_state(fk))
        self.cluster_centers_ = np.array(centers, dtype=dt, order="C")
        self._counts = np.array(fk.counts_, dtype=dt)
        if hasattr(fk, "_random_state"):  # else (a fit, no partial_fit) scikit-learn draws one
            self._random_state = fk._random_state
        self._n_since_last_reassign = fk._n_since_last_reassign
        self._batch_size = fk._batch_size
        self.n_steps_ = fk.n_steps_
        self._flashkmeans = None


MiniBatchKMeans.__module__ = __name__
MiniBatchKMeans.__qualname__ = MiniBatchKMeans.__name__ = "MiniBatchKMeans"
_ORIGINAL = {}


def patch_sklearn():
    """Route sklearn.cluster.KMeans and MiniBatchKMeans to flashkmeans where supported (module
    doc). Idempotent. Code that took scikit-learn's classes before the call (`from
    sklearn.cluster import KMeans` already run) keeps them: patch first, or run the program with
    `python3 -m flashkmeans.accel`."""
    if not _ORIGINAL:
        _ORIGINAL["cluster"] = _skc.KMeans
        _ORIGINAL["_kmeans"] = _skk.KMeans
        _ORIGINAL["cluster.mb"] = _skc.MiniBatchKMeans
        _ORIGINAL["_kmeans.mb"] = _skk.MiniBatchKMeans
    _skc.KMeans = KMeans
    _skk.KMeans = KMeans
    _skc.MiniBatchKMeans = MiniBatchKMeans
    _skk.MiniBatchKMeans = MiniBatchKMeans
    log.debug("sklearn.cluster.KMeans, MiniBatchKMeans -> flashkmeans.accel.KMeans, MiniBatchKMeans")


def unpatch_sklearn():
    """scikit-learn's own KMeans and MiniBatchKMeans back in sklearn.cluster (no-op when not
    patched)."""
    if _ORIGINAL:
        _skc.KMeans = _ORIGINAL.pop("cluster")
        _skk.KMeans = _ORIGINAL.pop("_kmeans")
        _skc.MiniBatchKMeans = _ORIGINAL.pop("cluster.mb")
        _skk.MiniBatchKMeans = _ORIGINAL.pop("_kmeans.mb")
        log.debug("sklearn.cluster.KMeans, MiniBatchKMeans restored")


def is_patched():
    return _skc.KMeans is KMeans and _skc.MiniBatchKMeans is MiniBatchKMeans
