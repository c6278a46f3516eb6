"""Mini-batch k-means: flashkmeans.MiniBatchKMeans and the step behind KMeans.partial_fit.

An explicit approximate option (exact Lloyd, flashkmeans.KMeans, stays the default): each step
looks at one mini-batch only. What is exact is the assignment: each batch's labels come from
the library (fkm_predict / fkm_predict_csr, the same exact fp32 contract as a fit). The update is
scikit-learn's mini-batch rule (sklearn/cluster/_kmeans.py, _mini_batch_step, 1.2), written here
in numpy and computed in float64:

    for each centre j given points in the batch (total weight W_j = sum of their weights > 0):
        c_j <- (N_j * c_j + sum_{label_i = j} w_i x_i) / (N_j + W_j),    N_j <- N_j + W_j

N_j (counts_) is the total weight the centre has been given so far, so each centre is the
running weighted mean of every point ever assigned to it. Centres with no point (or zero weight)
in the batch do not move. MiniBatchKMeans then applies scikit-learn's random reassignment of
centres whose count is below reassignment_ratio * max(counts). KMeans.partial_fit does not.

Determinism: the state (centres, counts) is float64; each cluster's sum is numpy's
add.reduceat over its points in batch order (weights: bincount, in batch order); all random
draws come from one numpy RandomState. The same data, order, parameters and random_state give
the same bits, for any thread count (the library's assignment is thread-count invariant).
CPU only: fit / partial_fit of a CUDA tensor raise TypeError (predict, transform and score of a
fitted model take CUDA tensors as KMeans does).
"""
import numbers

import numpy as np

from . import _core, _progress
from ._arrays import (CsrMatrix, HostMatrix, dlpack_values, host_values, is_cuda_tensor, is_scipy_sparse,
                      is_torch, like as _like)
from ._compat import (HAVE_SKLEARN, BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                      ClusterMixin, TransformerMixin, warn)
from ._dlpack import imported as _imported
from ._errors import BadInputError
from . import _lib
from ._sklearn import KMeans, _check_int, _check_verbose, _sklearn_n_init_default, _validate_data

_SPARSE_DTYPES = [np.float64, np.float32]


# ---------------------------------------------------------------- data
def refuse_cuda(est, X, what):
    cc = getattr(est, "cluster_centers_", None)
    if is_cuda_tensor(X) or (is_torch(cc) and cc.is_cuda):
        raise TypeError("%s.%s runs on the CPU: the mini-batch update has no GPU path yet. Pass "
                        "host data (X.cpu()), or refit exactly on the GPU with "
                        "KMeans(device='cuda', init=previous_centers)" % (type(est).__name__, what))


def validated(est, X, reset, what):
    """X -> a HostMatrix (dense; the library's dtypes kept, as KMeans keeps them) or a canonical
    scipy CSR matrix (float32/float64: its values are summed in the update as they are)."""
    if is_scipy_sparse(X):
        if HAVE_SKLEARN:
            kw = dict(reset=reset, accept_sparse=["csr", "csc"], dtype=_SPARSE_DTYPES)
            if _validate_data is not None:  # scikit-learn >= 1.6
                X = _validate_data(est, X, ensure_all_finite=False, **kw)
            else:
                X = est._validate_data(X, force_all_finite=False, **kw)
        X = X.tocsr()
        if X.dtype not in _SPARSE_DTYPES:
            X = X.astype(np.float64)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError("Found array with shape %s: need at least 1 sample and 1 feature"
                             % (X.shape,))
        est._check_hm(X, reset)
        _check_finite(X, what)
        return X
    hm = est._check_X(X, reset)
    _check_finite(hm, what)
    return hm


def _check_finite(data, what):
    """NaN / Inf anywhere in X, named at its position in X (the library checks each batch, whose
    positions would not be the caller's), with the library's words."""
    if isinstance(data, HostMatrix):
        a = data.array
        if a.dtype.kind != "f":
            return  # uint8, and bfloat16's bits: checked by the library (no NaN in uint8)
        bad = ~np.isfinite(a)
        if not bad.any():
            return
        i, j = (int(v) for v in np.argwhere(bad)[0])
        v = a[i, j]
    else:
        bad = ~np.isfinite(data.data)
        if not bad.any():
            return
        e = int(np.argmax(bad))
        i = int(np.searchsorted(data.indptr, e, side="right") - 1)
        j, v = int(data.indices[e]), data.data[e]
    raise BadInputError("%s: data[%d][%d] is %s (input contains NaN or infinity) "
                        "[flashkmeans: bad input data]"
                        % (what, i, j, "NaN" if np.isnan(v) else ("+Inf" if v > 0 else "-Inf")))


def _rows(data, idx):
    """The rows idx of the data (all of it for None), in the same form."""
    if idx is None:
        return data
    if isinstance(data, HostMatrix):
        return HostMatrix(data.array[idx], data.code, data.source_dtype)
    return data[idx]


def _for_library(batch):
    return batch if isinstance(batch, HostMatrix) else CsrMatrix(batch)


def _float64(batch):
    """A dense batch as float64 values (bfloat16 travels as its uint16 bits)."""
    a = batch.array
    if batch.code == _lib.FKM_BF16 and a.dtype == np.uint16:
        a = (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float64)


def out_dtype(data):
    dt = data.source_dtype if isinstance(data, HostMatrix) else data.dtype
    return np.float64 if dt == np.float64 else np.float32


def user_array(data):
    """What a callable init receives: the numpy array or the scipy matrix."""
    return data.array if isinstance(data, HostMatrix) else data


def weights64(sample_weight, n):
    """None (unit weights) or a float64 (n,) copy."""
    if sample_weight is None:
        return None
    a = np.asarray(host_values(sample_weight, "sample_weight"), dtype=np.float64)
    if a.ndim == 0:
        a = np.full(n, float(a))
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError("sample_weight.shape == %s, expected (%d,)!" % (a.shape, n))
    if not np.all(np.isfinite(a)):
        raise ValueError("sample_weight contains NaN or infinity")
    if (a < 0).any():  # refused here, before a step changes any state (the library refuses them too)
        i = int(np.argmax(a < 0))
        raise BadInputError("partial_fit: weights[%d] = %r is negative [flashkmeans: bad input data]" % (i, a[i]))
    if n > 0 and not (a > 0).any():
        raise BadInputError("partial_fit: all %d weights are zero [flashkmeans: bad input data]" % n)
    return a.copy()


def _w32(w):
    return None if w is None else np.ascontiguousarray(w, dtype=np.float32)


# ---------------------------------------------------------------- state
def centers_state(est):
    """The float64 centres a step starts from (a copy): the running state kept by the last step
    when cluster_centers_ is still the array it published, else cluster_centers_ itself."""
    c = est.cluster_centers_
    if getattr(est, "_published", None) is c and getattr(est, "_centers64", None) is not None:
        return est._centers64.copy()
    if is_torch(c):
        c = c.detach().cpu().numpy()
    return np.array(c, dtype=np.float64, order="C")


def publish(est, centers, dtype, ref):
    """centres (float64, owned by est from now on) -> cluster_centers_ in the output dtype."""
    est._centers64 = centers
    out = centers if dtype == np.float64 else centers.astype(dtype)
    est.cluster_centers_ = _like(out, ref)
    est._published = est.cluster_centers_
    est._n_features_out = centers.shape[0]


# ---------------------------------------------------------------- the step
def assign(params, batch, centers):
    """Exact labels (int32) and squared distances (float32) of a batch: fkm_predict(_csr)."""
    return _core.predict(params, _for_library(batch), np.ascontiguousarray(centers, np.float32),
                         want_dist=True)


def update(centers, counts, batch, labels, w):
    """scikit-learn's mini-batch update, in float64, in place: each centre j with batch weight
    W_j > 0 becomes (N_j c_j + sum w_i x_i) / (N_j + W_j) and N_j grows by W_j. batch: HostMatrix
    or scipy CSR; w: float64 weights or None (unit)."""
    k = centers.shape[0]
    b = labels.shape[0]
    order = np.argsort(labels, kind="stable")  # grouped by label, batch order within a group
    sl = labels[order]
    starts = np.flatnonzero(np.concatenate(([True], sl[1:] != sl[:-1])))
    u = sl[starts].astype(np.intp)
    W = (np.bincount(labels, minlength=k).astype(np.float64) if w is None
         else np.bincount(labels, weights=w, minlength=k))[u]
    if isinstance(batch, HostMatrix):
        xs = _float64(HostMatrix(batch.array[order], batch.code, batch.source_dtype))
        if w is not None:
            xs *= w[order][:, None]
        S = np.add.reduceat(xs, starts, axis=0)
    else:  # scipy CSR: an indicator matrix (cluster x point, the weights as values) times it
        from scipy.sparse import csr_matrix

        vals = np.ones(b) if w is None else w[order]
        M = csr_matrix((vals, order, np.append(starts, b)), shape=(u.size, b))
        S = (M @ batch).toarray().astype(np.float64, copy=False)
    keep = W > 0
    if not keep.all():
        u, W, S = u[keep], W[keep], S[keep]
    N = counts[u]
    total = N + W
    centers[u] = (centers[u] * N[:, None] + S) / total[:, None]
    counts[u] = total


def reassign(centers, counts, batch, ratio, rs, verbose, say=print):
    """scikit-learn's random reassignment: centres whose count is below ratio * max(counts) (at
    most half the batch: the smallest counts) move to distinct batch points drawn uniformly by rs;
    their counts become the smallest count of the others."""
    b = batch.shape[0]
    to = counts < ratio * counts.max()
    if to.sum() > 0.5 * b:
        to[np.argsort(counts, kind="stable")[int(0.5 * b):]] = False
    n = int(to.sum())
    if n:
        picked = rs.choice(b, replace=False, size=n)
        if verbose:
            say("[MiniBatchKMeans] Reassigning %d cluster centers." % n)
        if isinstance(batch, HostMatrix):
            rows = _float64(HostMatrix(batch.array[picked], batch.code, batch.source_dtype))
        else:
            rows = batch[picked].toarray().astype(np.float64)
        centers[to] = rows
    if n and (~to).any():
        counts[to] = np.min(counts[~to])


def step(params, batch, w, centers, counts, rs=None, reassign_now=False, ratio=0.0, verbose=0, say=print):
    """One mini-batch step in place on centers / counts. Returns the batch's inertia under the
    centres it started from (float64 sum of w_i * d_i, in batch order)."""
    labels, dist = assign(params, batch, centers)
    d64 = dist.astype(np.float64)
    inertia = float(np.sum(d64 if w is None else d64 * w))
    update(centers, counts, batch, labels, w)
    if reassign_now and ratio > 0:
        reassign(centers, counts, batch, ratio, rs, verbose, say)
    return inertia


def labels_inertia(params, data, centers, w):
    """Exact labels of all the data under the centres, and the inertia as KMeans.score gives it."""
    hm = _for_library(data)
    c32 = np.ascontiguousarray(centers, np.float32)
    labels, _ = _core.predict(params, hm, c32)
    return labels, _core.score(params, hm, c32, _w32(w))


# ---------------------------------------------------------------- the estimator
def _random_state(random_state):
    """scikit-learn's check_random_state: None -> numpy's global RandomState, an int -> a new
    RandomState(int), a RandomState -> itself (also a Generator -> a RandomState it seeds)."""
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, (numbers.Integral, np.integer)) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(int(random_state.integers(0, 2**32)))
    raise ValueError("%r cannot be used to seed a numpy.random.RandomState instance"
                     % (random_state,))


_N_INIT_DEFAULT = _sklearn_n_init_default("MiniBatchKMeans")


class MiniBatchKMeans(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Mini-batch k-means with scikit-learn's interface and update rule; exact batch assignment.

    An explicit approximate option: flashkmeans.KMeans (exact Lloyd on all the data) is the
    default and the better answer whenever a full pass per iteration is affordable. Each step
    here draws batch_size rows (with replacement, from random_state), labels them exactly with
    the library (fkm_predict), and moves each centre that got points to the running weighted mean
    c <- (N c + sum w x) / (N + W) (counts_ N in float64), then reassigns centres with tiny counts
    (reassignment_ratio) to random batch points, as scikit-learn 1.2's MiniBatchKMeans does.

    Parameters (scikit-learn's): n_clusters, init ("k-means++", "random", "k-means||" (the
    library's seedings, run on init_size rows), an (n_clusters, n_features) array, or a callable
    (X, n_clusters, random_state=RandomState) -> array), max_iter (passes over the data),
    batch_size, verbose, compute_labels, random_state (seeds one numpy RandomState that draws the
    validation rows, the init rows, the library seed of each init, the batches and the
    reassignments), tol, max_no_improvement, init_size, n_init (inits tried, the best by inertia
    on init_size validation rows; "auto": 3 for "random", else 1; the default is the installed
    scikit-learn's: "warn" in 1.2 = 3 with its FutureWarning), reassignment_ratio; and
    flashkmeans's n_threads (library threads for each batch's assignment; None = the library's
    choice; results do not depend on it).

    Attributes: cluster_centers_ (float64 for float64 input, else float32; the running state is
    kept in float64), counts_ (float64 per-centre weight sums N), labels_ and inertia_ (of all of
    X after fit with compute_labels=True, of the batch after partial_fit; without compute_labels
    fit's inertia_ is scikit-learn's smoothed batch estimate), n_iter_ (passes started), n_steps_
    (mini-batches processed), n_features_in_, feature_names_in_ (pandas input).
    """

    metric = "l2"         # for the methods shared with KMeans (predict/transform/score)
    precision = "exact"

    def __init__(self, n_clusters=8, *, init="k-means++", max_iter=100, batch_size=1024,
                 verbose=0, compute_labels=True, random_state=None, tol=0.0,
                 max_no_improvement=10, init_size=None, n_init=_N_INIT_DEFAULT,
                 reassignment_ratio=0.01, n_threads=None, progress=None):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio
        self.n_threads = n_threads
        self.progress = progress

    # shared with KMeans: input checks, predict, transform, score, fit_predict, fit_transform
    _check_X = KMeans._check_X
    _check_hm = KMeans._check_hm
    _centroids32 = KMeans._centroids32
    _check_cuda_X = KMeans._check_cuda_X
    _transform64 = KMeans._transform64
    _out_dtype = KMeans._out_dtype
    predict = KMeans.predict
    transform = KMeans.transform
    score = KMeans.score
    fit_predict = KMeans.fit_predict
    fit_transform = KMeans.fit_transform
    _more_tags = KMeans._more_tags
    __sklearn_tags__ = KMeans.__sklearn_tags__

    def _params(self, k, **extra):
        threads = self.n_threads
        if threads is not None:
            threads = _check_int(threads, "n_threads", 0)
        return _core.make_params(k, device="cpu", threads=threads, verbose=0, **extra)

    _say = print  # fit sets it to the progress bar's writer while a bar is shown

    # ------------------------------------------------------------ checks (scikit-learn's)
    def _check_params(self, n, data):
        k = _check_int(self.n_clusters, "n_clusters", 1)
        if n < k:
            raise ValueError("n_samples=%d should be >= n_clusters=%d." % (n, k))
        _check_int(self.max_iter, "max_iter", 1)
        bs = _check_int(self.batch_size, "batch_size", 1)
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError("tol must be a number >= 0, got %r" % (self.tol,))
        if not isinstance(self.reassignment_ratio, numbers.Real) or not self.reassignment_ratio >= 0:
            raise ValueError("reassignment_ratio should be >= 0, got %r instead."
                             % (self.reassignment_ratio,))
        if self.max_no_improvement is not None:
            _check_int(self.max_no_improvement, "max_no_improvement", 0)
        if not isinstance(self.compute_labels, (bool, np.bool_)):
            raise ValueError("compute_labels must be a bool, got %r" % (self.compute_labels,))
        _check_verbose(self.verbose)
        init = self.init
        if isinstance(init, str):
            if init not in ("k-means++", "random", "k-means||"):
                raise ValueError("init must be 'k-means++', 'random', 'k-means||', an array or a "
                                 "callable, got %r" % (init,))
        elif not callable(init):
            init = dlpack_values(init, "init")
            if is_torch(init):
                init = init.detach().cpu().numpy()
            init = np.array(init, dtype=np.float64, order="C")  # a copy: the user's stays as it is
        # n_init, as scikit-learn 1.2 (default 3) with 1.4's "auto" (3 for "random", else 1)
        n_init = self.n_init
        if isinstance(n_init, str) and n_init == "warn":
            warn("The default value of `n_init` will change from 3 to 'auto' in 1.4. Set the "
                 "value of `n_init` explicitly to suppress the warning", FutureWarning)
            n_init = 3
        elif isinstance(n_init, str) and n_init == "auto":
            n_init = 3 if isinstance(init, str) and init == "random" else 1
        else:
            n_init = _check_int(n_init, "n_init", 1)
        if isinstance(init, np.ndarray) and n_init != 1:
            warn("Explicit initial center position passed: performing only one init in %s "
                 "instead of n_init=%d." % (type(self).__name__, n_init), RuntimeWarning)
            n_init = 1
        self._n_init = n_init
        self._batch_size = min(bs, n)
        if self.init_size is None:
            size = 3 * self._batch_size
            if size < k:
                size = 3 * k
        else:
            size = _check_int(self.init_size, "init_size", 1)
            if size < k:
                warn("init_size=%d should be larger than n_clusters=%d. Setting it to "
                     "min(3*n_clusters, n_samples)" % (size, k), RuntimeWarning)
                size = 3 * k
        self._init_size = min(size, n)
        self._tol = self._tolerance(data) if self.tol else 0.0
        if isinstance(init, np.ndarray):
            self._check_center_shape(init, k, data.shape[1])
        return k, init

    def _tolerance(self, data):
        """scikit-learn's: tol x the mean variance of the features."""
        if isinstance(data, HostMatrix):
            var = np.var(_float64(data), axis=0)
        else:
            mean = np.asarray(data.mean(axis=0), dtype=np.float64).ravel()
            sq = np.asarray(data.multiply(data).mean(axis=0), dtype=np.float64).ravel()
            var = sq - mean * mean
        return float(np.mean(var)) * self.tol

    @staticmethod
    def _check_center_shape(c, k, d):
        if c.ndim != 2 or c.shape[0] != k:
            raise ValueError("The shape of the initial centers %s does not match the number of "
                             "clusters %d." % (c.shape, k))
        if c.shape[1] != d:
            raise ValueError("The shape of the initial centers %s does not match the number of "
                             "features of the data %d." % (c.shape, d))

    def _init_centers(self, data, k, init, rs, init_size):
        """Initial float64 centres, as scikit-learn draws them: init_size rows (with replacement)
        when that is fewer than the data, then the seeding on them."""
        n = data.shape[0]
        if init_size is not None and init_size < n:
            data = _rows(data, rs.randint(0, n, init_size))
        if isinstance(init, str):
            seed = int(rs.randint(0, 2**63 - 1, dtype=np.int64))
            p = self._params(k, max_iter=0, init=init, n_init=1, seed=seed, stop="fixed")
            r = _core.fit(p, _for_library(data))
            return np.array(r.centroids, dtype=np.float64, order="C")
        if isinstance(init, np.ndarray):
            return init.copy()
        c = init(user_array(data), k, random_state=rs)
        c = dlpack_values(c, "init")
        if is_torch(c):
            c = c.detach().cpu().numpy()
        c = np.array(c, dtype=np.float64, order="C")
        self._check_center_shape(c, k, data.shape[1])
        return c

    def _random_reassign(self, counts):
        """scikit-learn's schedule: every 10 * n_clusters samples, or whenever a count is 0."""
        self._n_since_last_reassign += self._batch_size
        if (counts == 0).any() or self._n_since_last_reassign >= 10 * self.n_clusters:
            self._n_since_last_reassign = 0
            return True
        return False

    def _converged(self, step_i, n_steps, n, diff, batch_inertia):
        """scikit-learn's early stopping: centre change <= tol (scaled), or max_no_improvement
        steps without a new minimum of the smoothed (EWA) mean batch inertia."""
        batch_inertia /= self._batch_size
        step_i += 1
        if step_i == 1:  # the first batch's inertia is that of the init
            if self.verbose:
                self._say("Minibatch step %d/%d: mean batch inertia: %s" % (step_i, n_steps, batch_inertia))
            return False
        if self._ewa_inertia is None:
            self._ewa_inertia = batch_inertia
        else:
            alpha = min(self._batch_size * 2.0 / (n + 1), 1)
            self._ewa_inertia = self._ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.verbose:
            self._say("Minibatch step %d/%d: mean batch inertia: %s, ewa inertia: %s"
                  % (step_i, n_steps, batch_inertia, self._ewa_inertia))
        if self._tol > 0.0 and diff <= self._tol:
            if self.verbose:
                self._say("Converged (small centers change) at step %d/%d" % (step_i, n_steps))
            return True
        if self._ewa_inertia_min is None or self._ewa_inertia < self._ewa_inertia_min:
            self._no_improvement = 0
            self._ewa_inertia_min = self._ewa_inertia
        else:
            self._no_improvement += 1
        if self.max_no_improvement is not None and self._no_improvement >= self.max_no_improvement:
            if self.verbose:
                self._say("Converged (lack of improvement in inertia) at step %d/%d" % (step_i, n_steps))
            return True
        return False

    # ------------------------------------------------------------ estimator API
    def fit(self, X, y=None, sample_weight=None):
        """Compute the centres from mini-batches of X (scikit-learn's MiniBatchKMeans.fit)."""
        X = _imported(X)
        refuse_cuda(self, X, "fit")
        data = validated(self, X, True, "fit")
        n = data.shape[0]
        k, init = self._check_params(n, data)
        rs = _random_state(self.random_state)
        w = weights64(sample_weight, n)
        verbose = _check_verbose(self.verbose)
        params = self._params(1)
        n_steps = (self.max_iter * n) // self._batch_size
        rep = _progress.reporter(self.progress, verbose, type(self).__name__, n_steps, unit="step")
        with _progress.closing(rep):
            self._say = print if rep is None else rep.write  # scikit-learn's lines, above a bar
            try:
                self._fit_steps(X, data, n, k, init, rs, w, verbose, params, n_steps, rep)
            finally:
                del self._say
        return self

    def _fit_steps(self, X, data, n, k, init, rs, w, verbose, params, n_steps, rep):
        say = self._say
        # the inits, each judged by its inertia on the same init_size validation rows
        valid = rs.randint(0, n, self._init_size)
        data_valid = _rows(data, valid)
        w_valid = None if w is None else w[valid]
        best = None
        for i in range(self._n_init):
            if verbose:
                say("Init %d/%d with method %s" % (i + 1, self._n_init, init))
            c = self._init_centers(data, k, init, rs, self._init_size)
            inertia = _core.score(params, _for_library(data_valid),
                                  np.ascontiguousarray(c, np.float32), _w32(w_valid))
            if verbose:
                say("Inertia for init %d/%d: %s" % (i + 1, self._n_init, inertia))
            if best is None or inertia < best:
                centers, best = c, inertia

        counts = np.zeros(k)
        self._ewa_inertia = None
        self._ewa_inertia_min = None
        self._no_improvement = 0
        self._n_since_last_reassign = 0
        want_diff = self._tol > 0.0
        last = None
        converged = False
        for i in range(n_steps):
            idx = rs.randint(0, n, self._batch_size)
            old = centers.copy() if want_diff else None
            last = step(params, _rows(data, idx), None if w is None else w[idx], centers, counts,
                        rs, self._random_reassign(counts), self.reassignment_ratio, verbose, say)
            diff = float(np.sum((centers - old) ** 2)) if want_diff else 0.0
            if rep is not None:
                rep.update(i, {"batch inertia": last / self._batch_size})
            if self._converged(i, n_steps, n, diff, last):
                converged = True
                break

        publish(self, centers, out_dtype(data), X)
        self.counts_ = counts
        self.n_steps_ = i + 1
        self.n_iter_ = int(np.ceil(((i + 1) * self._batch_size) / n))
        if self.compute_labels:
            labels, self.inertia_ = labels_inertia(params, data, centers, w)
            self.labels_ = _like(labels, X)
        else:
            ewa = self._ewa_inertia if self._ewa_inertia is not None else last / self._batch_size
            self.inertia_ = ewa * n
        if rep is not None:
            rep.close("converged" if converged else "max_iter", inertia=self.inertia_)

    def partial_fit(self, X, y=None, sample_weight=None):
        """One mini-batch step on X (the whole of X is the batch), as scikit-learn's partial_fit:
        the first call initialises the centres from X (init, on init_size rows of it) first."""
        X = _imported(X)
        refuse_cuda(self, X, "partial_fit")
        has_centers = hasattr(self, "cluster_centers_")
        data = validated(self, X, not has_centers, "partial_fit")
        n = data.shape[0]
        if not hasattr(self, "_random_state"):
            self._random_state = _random_state(self.random_state)
        rs = self._random_state
        w = weights64(sample_weight, n)
        verbose = _check_verbose(self.verbose)
        params = self._params(1)
        self.n_steps_ = getattr(self, "n_steps_", 0)
        if not has_centers:
            k, init = self._check_params(n, data)
            centers = self._init_centers(data, k, init, rs, self._init_size)
            counts = np.zeros(k)
            self._n_since_last_reassign = 0
        else:
            centers = centers_state(self)
            counts = np.array(getattr(self, "counts_", np.zeros(centers.shape[0])), dtype=np.float64)
            if not hasattr(self, "_batch_size"):  # centres set by hand: scikit-learn's defaults
                self._batch_size = min(_check_int(self.batch_size, "batch_size", 1), n)
                self._n_since_last_reassign = 0
        rs_state = rs.get_state()
        try:  # everything that can fail before the estimator changes: nothing half-written
            step(params, data, w, centers, counts, rs, self._random_reassign(counts),
                 self.reassignment_ratio, verbose)
            labels, inertia = labels_inertia(params, data, centers, w) if self.compute_labels else (None, None)
        except BaseException:
            rs.set_state(rs_state)
            raise
        publish(self, centers, out_dtype(data), X)
        self.counts_ = counts
        if self.compute_labels:
            self.labels_, self.inertia_ = _like(labels, X), inertia
        self.n_steps_ += 1
        return self

    @property
    def _counts(self):  # scikit-learn's private name for counts_
        return self.counts_


def kmeans_partial_fit(est, X, sample_weight):
    """KMeans.partial_fit: see its docstring."""
    X = _imported(X)
    refuse_cuda(est, X, "partial_fit")
    if not hasattr(est, "cluster_centers_"):
        est.fit(X, sample_weight=sample_weight)
        est.n_steps_ = 1
        return est
    if getattr(est, "max_cluster_size", None):  # a step of means cannot keep a cap: refuse, never ignore
        raise ValueError("KMeans.partial_fit: max_cluster_size = %r is a constraint of fit; a mini-batch "
                         "step does not keep it (refit with init=cluster_centers_)" % (est.max_cluster_size,))
    if str(getattr(est, "metric", "l2")) not in ("l2", "euclidean", "sqeuclidean"):
        raise ValueError("KMeans.partial_fit: the mini-batch update is for metric 'l2', got %r"
                         % (est.metric,))
    data = validated(est, X, False, "partial_fit")
    n = data.shape[0]
    w = weights64(sample_weight, n)
    threads = None if est.n_threads is None else _check_int(est.n_threads, "n_threads", 0)
    params = _core.make_params(1, device="cpu", threads=threads)  # the step runs on the CPU
    centers = centers_state(est)
    counts = getattr(est, "counts_", None)
    if counts is None:
        raise ValueError("KMeans.partial_fit: this estimator has no counts_ (per-centre weights); "
                         "fit it on host data first")
    counts = np.array(counts, dtype=np.float64)
    step(params, data, w, centers, counts)  # on copies: the estimator changes only after both succeed
    labels, inertia = labels_inertia(params, data, centers, w)
    publish(est, centers, out_dtype(data), X)
    est.counts_ = counts
    est.labels_, est.inertia_ = _like(labels, X), inertia
    est.n_steps_ = getattr(est, "n_steps_", 0) + 1
    return est
