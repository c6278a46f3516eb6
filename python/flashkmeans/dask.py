"""flashkmeans.dask: exact k-means of a dask array whose rows are spread over a Dask cluster.

    import dask.array as da
    from dask.distributed import Client
    import flashkmeans.dask

    client = Client()                                   # or any scheduler dask.compute uses
    X = da.from_array(x, chunks=(100_000, -1))          # rows in blocks; any row chunking
    km = flashkmeans.dask.KMeans(n_clusters=64, random_state=0).fit(X)
    km.cluster_centers_, km.labels_ (a dask array), km.inertia_, km.n_iter_
    km.predict(X)                                       # a dask array of int32 labels

Every worker runs the flashkmeans CPU engine on its blocks (fkm_partial_sums: the assignment,
then per-cluster sums in 64-bit fixed point with global power-of-two scales) and the client adds
the blocks' integers. Integer addition is associative, so the centroids, labels, inertia,
iteration count and per-iteration statistics are the same bits for any row chunking and any
number of workers, and equal to fkm_mpi_fit's (docs/mpi.md) from the same initial centroids: the
client repeats its arithmetic step for step (docs/python.md, "Dask").

Needs dask (and, for a cluster, distributed): Debian's python3-dask python3-distributed. The rest
of flashkmeans never imports dask.
"""
import math
import time

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as _e:  # pragma: no cover - exercised by the no-dask test
    raise ImportError("flashkmeans.dask needs dask (Debian: apt-get install python3-dask "
                      "python3-distributed; pip: pip install 'dask[array]' distributed): %s" % _e) from _e

from . import _core, _lib
from ._arrays import host_matrix
from ._compat import BaseEstimator, seed_from
from ._errors import BadInputError, FlashKMeansError, InvalidArgumentError

if not _lib.HAVE_PARTIAL_SUMS:  # pragma: no cover
    raise ImportError("flashkmeans.dask needs fkm_partial_sums, which the loaded library %s lacks: "
                      "rebuild it from this tree (make)" % _lib.library_path)

__all__ = ["KMeans"]

_MASK32 = 0xFFFFFFFF
_U64 = (1 << 64) - 1
_METRICS = {"l2": "l2", "euclidean": "l2", "sqeuclidean": "l2", "ip": "ip", "inner_product": "ip", "cosine": "cosine"}
_STOPS = ("shift", "inertia", "labels", "fixed")


# ---------------------------------------------------------------- fixed point (src/fixed.h)
def _fx_scale(maxabs):
    """2^(52 - e) for max|v| < 2^e, elementwise; 1 for 0 or a non-finite max (fkm_fx_scale)."""
    m = np.asarray(maxabs, dtype=np.float64)
    ok = (m > 0) & np.isfinite(m)
    _, e = np.frexp(np.where(ok, m, 1.0))
    return np.where(ok, np.ldexp(1.0, 52 - e), 1.0)


def _limbs(q):
    """(sum of q >> 32, sum of q & (2^32 - 1)) over axis 0 of an int64 array: exact."""
    return np.sum(q >> 32, axis=0, dtype=np.int64), np.sum(q & _MASK32, axis=0, dtype=np.int64)


def _to_double(hi, lo):
    """The value hi 2^32 + lo of int64 limb arrays as float64, correctly rounded (as C's
    (double) of the __int128). Carries lo into hi first; exact while |hi| < 2^53."""
    hi = np.asarray(hi, dtype=np.int64) + (np.asarray(lo, dtype=np.int64) >> 32)
    lo = np.asarray(lo, dtype=np.int64) & _MASK32
    if hi.size and np.max(np.abs(hi)) >= 1 << 53:  # beyond 2^33 rows: Python integers
        return np.array([float(int(h) * 4294967296 + int(x)) for h, x in zip(hi.ravel(), lo.ravel())],
                        dtype=np.float64).reshape(hi.shape)
    return hi.astype(np.float64) * 4294967296.0 + lo.astype(np.float64)  # one rounding


def _int128(hi, lo):
    return int(hi) * 4294967296 + int(lo)


# ---------------------------------------------------------------- worker side (one block each)
def _unit(x32, row0=0, what="row"):
    """Cosine: rows to unit length as the library does (src/core/convert.c): |x|^2 summed in
    float64 in feature order, then each value (float)(x / |x|); an all-zero row is refused."""
    v = x32.astype(np.float64)
    n2 = np.cumsum(v * v, axis=1)[:, -1] if v.shape[1] else np.zeros(v.shape[0])  # sequential, as C
    if (n2 == 0).any():
        i = int(np.argmax(n2 == 0))
        raise _bad("%s %d is all zeros: cosine distance is undefined for it" % (what, row0 + i))
    return (v / np.sqrt(n2)[:, None]).astype(np.float32)


def _working(xb, unit=False, row0=0):
    """The block as the library reads it (HostMatrix) and its float32 working values (cosine:
    the unit rows)."""
    hm = host_matrix(np.asarray(xb), name="X")
    a = hm.array
    if hm.code == _lib.FKM_BF16:
        x32 = (a.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    else:
        with np.errstate(over="ignore"):  # float64 beyond float32's range: reported by _scan
            x32 = a.astype(np.float32, copy=False)
    if unit and np.isfinite(x32).all():  # non-finite values: _scan names them first
        x32 = _unit(x32, row0)
    return hm, x32


def _block_weights(wb, n):
    return None if wb is None else np.ascontiguousarray(np.asarray(wb), dtype=np.float32).reshape(n)


def _bad(msg):
    return BadInputError("fit: %s [flashkmeans: bad input]" % msg, _lib.FKM_ERR_BAD_INPUT, msg)


def _scan(xb, wb, row0, unit=False):
    """Setup pass: per-column max |w x| and max |x|, the largest weight; checks the values."""
    hm, x32 = _working(xb, unit, row0)
    n = x32.shape[0]
    w = _block_weights(wb, n)
    if not np.isfinite(x32).all():
        i, j = map(int, np.argwhere(~np.isfinite(x32))[0])
        v = np.asarray(xb)[i, j]
        what = "NaN" if np.isnan(v) else ("%s (beyond float32's range)" % v if np.isfinite(v) else
                                         ("+Inf" if v > 0 else "-Inf"))
        raise _bad("X[%d][%d] is %s (input contains NaN or infinity)" % (row0 + i, j, what))
    if w is not None:
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            i = int(np.argmax(bad))
            raise _bad("sample_weight[%d] = %r is %s" % (row0 + i, float(w[i]),
                                                        "negative" if np.isfinite(w[i]) else "not finite"))
    w64 = np.ones(n) if w is None else w.astype(np.float64)
    return (np.max(np.abs(w64[:, None] * x32), axis=0), float(w64.max()) if w is not None else 1.0,
            np.max(np.abs(x32.astype(np.float64)), axis=0))


def _colsums(xb, s1, s2, unit=False):
    """Limbs of the fixed-point column sums of x and x^2 (the shift rule's variance)."""
    _, x32 = _working(xb, unit)
    v = x32.astype(np.float64)
    h1, l1 = _limbs((v * s1).astype(np.int64))
    h2, l2 = _limbs((v * v * s2).astype(np.int64))
    return np.stack([h1, l1, h2, l2])


def _params(metric, threads):
    return _core.make_params(1, metric=metric, device="cpu", threads=threads)


def _rows_note(e, row0, n):
    if isinstance(e, FlashKMeansError):
        return type(e)("%s (in rows %d..%d of X)" % (e, row0, row0 + n - 1), e.status, e.detail)
    return e


def _step(xb, wb, prev, cen, cs, ws, metric, threads, row0, prev_scale):
    """One iteration on a block: labels, the assignment's distances, and the small parts the
    client adds up: fixed-point sums, weighted-row counts per cluster, changed labels (against
    the previous step's labels), the largest |w d| (the inertia's scale) and, when prev_scale is
    given, the limbs of the previous step's inertia (saves the client a round trip)."""
    hm = host_matrix(np.asarray(xb), name="X")
    n = hm.shape[0]
    w = _block_weights(wb, n)
    k = cen.shape[0]
    try:
        labels, dist, sums = _core.partial_sums(_params(metric, threads), hm, cen, cs, ws, w)
    except FlashKMeansError as e:
        raise _rows_note(e, row0, n) from None
    counts = np.bincount(labels if w is None else labels[w > 0], minlength=k).astype(np.int64)
    changed = n if prev is None else int(np.count_nonzero(labels != prev[0]))
    wd = dist.astype(np.float64) if w is None else dist.astype(np.float64) * w.astype(np.float64)
    last = None if prev_scale is None else _fx_dist(prev, wb, prev_scale)
    return labels, dist, (sums, counts, changed, float(np.max(np.abs(wd))), last)


def _final(xb, cen, metric, threads, row0):
    """The returned labels and distances (L2: recomputed in float64, as fkm_predict)."""
    hm = host_matrix(np.asarray(xb), name="X")
    try:
        labels, dist = _core.predict(_params(metric, threads), hm, cen, want_dist=True)
    except FlashKMeansError as e:
        raise _rows_note(e, row0, hm.shape[0]) from None
    return labels, dist


def _wd_max(step, wb, prev=None, prev_scale=None):
    """The largest |w d| of a step; with prev: also the limbs of prev's inertia at prev_scale."""
    dist = step[1]
    w = _block_weights(wb, dist.shape[0])
    wd = dist.astype(np.float64) if w is None else dist.astype(np.float64) * w.astype(np.float64)
    return float(np.max(np.abs(wd))), (None if prev is None else _fx_dist(prev, wb, prev_scale))


def _fx_dist(step, wb, s):
    """Limbs of the fixed-point sum of w_i d_i (the inertia; fkm_mpi_exact_sum's terms)."""
    dist = step[1]
    w = _block_weights(wb, dist.shape[0])
    v = dist.astype(np.float64) if w is None else dist.astype(np.float64) * w.astype(np.float64)
    h, lo = _limbs((v * s).astype(np.int64))
    return int(h), int(lo)


def _offer(step, xb, wb, counts, taken, row0, unit=False):
    """FKM_EMPTY_FARTHEST: this block's donor with the largest distance (lowest row on ties):
    a row with weight whose cluster keeps another weighted row and that has not moved yet."""
    labels, dist = step[0], step[1]
    n = labels.shape[0]
    w = _block_weights(wb, n)
    ok = counts[labels] > 1
    if w is not None:
        ok &= w > 0
    for g in taken:
        if row0 <= g < row0 + n:
            ok[g - row0] = False
    if not ok.any():
        return None
    cand = np.where(ok, dist, -np.inf)
    i = int(np.argmax(cand))  # the first of equal maxima: the lowest row
    _, x32 = _working(xb[i:i + 1], unit)
    return row0 + i, float(dist[i]), int(labels[i]), x32[0].copy(), 1.0 if w is None else float(w[i])


def _renormalise(cen, old, has):
    """Cosine: each centroid that got weight back to unit length, as fkm_mpi_fit does (|c|^2 in
    float64 in feature order; a sum that cancels to zero keeps the previous direction)."""
    for c in np.flatnonzero(has):
        v = cen[c].astype(np.float64)
        s2 = float(np.cumsum(v * v)[-1])
        cen[c] = old[c] if s2 == 0.0 else (v * (1.0 / math.sqrt(s2))).astype(np.float32)


def _predict_block(xb, cen, metric, threads):
    hm = host_matrix(np.asarray(xb), name="X")
    return _core.predict(_params(metric, threads), hm, cen)[0]


# ---------------------------------------------------------------- the core's RNG (src/base/clock_rng.c)
def _rng_init(seed, stream):
    return ((seed * 0x9E3779B97F4A7C15) ^ ((stream + 0x632BE59BD9B4E019) * 0xD1B54A32D192ED03)) & _U64


def _rng_next(s):
    s = (s + 0x9E3779B97F4A7C15) & _U64
    z = ((s ^ (s >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    return s, z ^ (z >> 31)


def _random_indices(seed, n, k):
    """fkm_init_random's draw: index = next % n, walking forward past taken ones (stream 2)."""
    s, taken, out = _rng_init(seed, 2), set(), []
    for _ in range(k):
        s, r = _rng_next(s)
        i = r % n
        while i in taken:
            i = (i + 1) % n
        taken.add(i)
        out.append(i)
    return np.array(out, dtype=np.int64)


def _stop_met(rule, tol, it, shift, inertia, changed, prev, var):
    """fkm_stop_rule_met (src/stop.h)."""
    if rule == "shift":
        return shift * shift <= tol * var
    if rule == "inertia":
        if it == 0:
            return False
        if prev == 0:
            return True
        return prev - inertia <= tol * abs(prev)
    if rule == "labels":
        return it > 0 and changed == 0
    return False


def _max_shift(c, old):
    """fkm_cpu_max_shift: sqrt(max_c sum_j (c - old)^2), float64 sums in feature order."""
    t = c.astype(np.float64) - old.astype(np.float64)
    m = np.zeros(c.shape[0])
    for j in range(c.shape[1]):
        m = m + t[:, j] * t[:, j]
    return math.sqrt(float(m.max())) if m.size else 0.0


# ---------------------------------------------------------------- the estimator
class KMeans(BaseEstimator):
    """Exact k-means (Lloyd) of a dask array across a Dask cluster, scikit-learn / dask-ml style.

    Parameters as flashkmeans.KMeans where they exist: n_clusters, init ("k-means++", "random"
    or an (n_clusters, n_features) array), n_init, max_iter, tol, random_state (an int is the
    library seed), metric ("l2", "ip" or "cosine"), stop ("shift", "inertia", "labels", "fixed"), empty
    ("farthest" or "keep"), n_threads (CPU threads per block and call; None: the library's
    choice). init_max_samples: rows k-means++ runs on, drawn uniformly (without replacement, from
    the seed) and gathered to the client; None: max(65536, 32 n_clusters). With at least n rows
    it runs on all of them (the same initial centroids as flashkmeans.KMeans).

    fit(X, sample_weight=None): X a 2-D dask array (rows in any chunks; column chunks are
    merged), sample_weight None or a 1-D dask or numpy array. Attributes: cluster_centers_
    (float32 numpy), labels_ (int32 dask array, persisted), inertia_, n_iter_, iteration_stats_,
    stop_reason_, best_init_, n_features_in_, init_centers_ (the kept restart's start).
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init=1, max_iter=300, tol=1e-4,
                 random_state=None, metric="l2", stop="shift", empty="farthest",
                 init_max_samples=None, n_threads=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.metric = metric
        self.stop = stop
        self.empty = empty
        self.init_max_samples = init_max_samples
        self.n_threads = n_threads

    # ---- checks
    def _check_params(self, n, d):
        k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError("n_clusters must be an int >= 1, got %r" % (k,))
        if k > n:
            raise InvalidArgumentError("n_samples=%d should be >= n_clusters=%d. [flashkmeans: invalid argument]"
                                       % (n, k), _lib.FKM_ERR_INVALID_ARG)
        if isinstance(self.n_init, bool) or not isinstance(self.n_init, (int, np.integer)) or self.n_init < 1:
            raise ValueError("n_init must be an int >= 1, got %r" % (self.n_init,))
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 0:
            raise ValueError("max_iter must be an int >= 0, got %r" % (self.max_iter,))
        if not (isinstance(self.tol, (int, float, np.floating)) and math.isfinite(self.tol) and self.tol >= 0):
            raise ValueError("tol must be a finite number >= 0, got %r" % (self.tol,))
        metric = self.metric.lower() if isinstance(self.metric, str) else self.metric
        if metric not in _METRICS:
            raise ValueError("metric must be one of %s, got %r" % (sorted(_METRICS), self.metric))
        if self.stop not in _STOPS:
            raise ValueError("stop must be one of %s, got %r" % (list(_STOPS), self.stop))
        if self.empty not in ("farthest", "keep"):
            raise ValueError("empty must be 'farthest' or 'keep', got %r" % (self.empty,))
        if self.n_threads is not None and (isinstance(self.n_threads, bool) or not isinstance(self.n_threads, int)
                                           or self.n_threads < 1):
            raise ValueError("n_threads must be None or an int >= 1, got %r" % (self.n_threads,))
        ims = self.init_max_samples
        if ims is not None and (isinstance(ims, bool) or not isinstance(ims, (int, np.integer)) or ims < k):
            raise ValueError("init_max_samples must be None or an int >= n_clusters, got %r" % (ims,))
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "kmeans++", "random"):
                raise ValueError("init must be 'k-means++', 'random' or an array of shape (n_clusters, n_features), "
                                 "got %r" % (self.init,))
        else:
            c = np.asarray(self.init)
            if c.shape != (k, d):
                raise ValueError("The shape of the initial centers %s does not match the number of clusters %d "
                                 "and features %d" % (c.shape, k, d))
        return _METRICS[metric]

    @staticmethod
    def _dask_matrix(X, what):
        if not isinstance(X, da.Array):
            raise TypeError("flashkmeans.dask.KMeans.%s needs a dask array, got %s: wrap it with "
                            "dask.array.from_array(X, chunks=(rows, -1)), or use flashkmeans.KMeans for data in "
                            "memory" % (what, type(X).__name__))
        if X.ndim != 2:
            raise ValueError("Expected 2D array, got %dD array instead (X has shape %s)" % (X.ndim, X.shape))
        if any(math.isnan(c) for c in X.chunks[0]):
            raise ValueError("X has unknown chunk sizes (%s): call X.compute_chunk_sizes() first" % (X.shape,))
        if np.iscomplexobj(np.empty(0, X.dtype)) or X.dtype.kind not in "biuf":
            raise ValueError("X has dtype %s: flashkmeans needs real numbers" % X.dtype)
        if X.shape[0] < 1 or X.shape[1] < 1:
            raise ValueError("Found array with shape %s: at least 1 sample and 1 feature are required" % (X.shape,))
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        return X

    # ---- fit
    def fit(self, X, y=None, sample_weight=None):
        X = self._dask_matrix(X, "fit")
        n, d = map(int, X.shape)
        metric = self._check_params(n, d)
        k = int(self.n_clusters)
        w = None
        if sample_weight is not None:
            w = sample_weight if isinstance(sample_weight, da.Array) else da.from_array(np.asarray(sample_weight))
            if w.ndim == 0:
                w = da.full((n,), w, chunks=(X.chunks[0],))
            if w.shape != (n,):
                raise ValueError("sample_weight.shape == %s, expected (%d,)!" % (w.shape, n))
            w = w.astype(np.float32).rechunk((X.chunks[0],))
        seed = seed_from(self.random_state)
        X, w = dask.persist(X, w)  # every iteration reads the blocks: compute them once
        xb = list(X.to_delayed().ravel())
        wbs = list(w.to_delayed().ravel()) if w is not None else [None] * len(xb)
        rows = [int(c) for c in X.chunks[0]]
        row0 = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int).tolist()
        live = [b for b in range(len(xb)) if rows[b] > 0]
        thr = self.n_threads
        pairs = [(xb[b], wbs[b], row0[b]) for b in live]

        # global fixed-point scales: one pass of maxima (exact in any order)
        unit = metric == "cosine"
        scans = dask.compute(*[dask.delayed(_scan)(x, wb, r, unit) for x, wb, r in pairs])
        colmax = np.max([s[0] for s in scans], axis=0)
        wmax = max(s[1] for s in scans)
        if not wmax > 0:
            raise _bad("all %d weights are zero" % n)
        cs, ws = _fx_scale(colmax), float(_fx_scale(wmax))
        var = 0.0
        if self.stop == "shift":  # the mean per-feature variance from exact column sums
            xmax = np.max([s[2] for s in scans], axis=0)
            s1, s2 = _fx_scale(xmax), _fx_scale(xmax * xmax)
            limbs = dask.compute(*[dask.delayed(_colsums)(x, s1, s2, unit) for x, _, _ in pairs])
            tot = np.sum(limbs, axis=0)
            m1 = _to_double(tot[0], tot[1]) / s1
            m2 = _to_double(tot[2], tot[3]) / s2
            for j in range(d):  # as setup.c: sequential over the features
                m = float(m1[j]) / n
                v = float(m2[j]) / n - m * m
                var += v if v > 0 else 0.0
            var /= d

        ctx = dict(X=X, w=w, pairs=pairs, live=live, rows=rows, row0=row0, metric=metric, threads=thr, unit=unit,
                   cs=cs, ws=ws, var=var, n=n, d=d, k=k)
        best = None
        for r in range(int(self.n_init)):
            rs = (seed + r * 0x9E3779B9) & _U64
            c0 = self._initial(ctx, rs)
            res = self._run(ctx, c0)
            res["init"] = c0
            if best is None or res["inertia"] < best["inertia"]:
                best = res
                best["best_init"] = r
        self.cluster_centers_ = best["centroids"]
        self.init_centers_ = best["init"]
        self.inertia_ = best["inertia"]
        self.n_iter_ = best["iterations"]
        self.iteration_stats_ = best["stats"]
        self.stop_reason_ = best["stop_reason"]
        self.best_init_ = best["best_init"]
        self.labels_ = best["labels"]
        self.n_features_in_ = d
        return self

    def _initial(self, ctx, seed):
        X, k, d, n = ctx["X"], ctx["k"], ctx["d"], ctx["n"]
        if not isinstance(self.init, str):
            c = np.ascontiguousarray(np.asarray(self.init, dtype=np.float32))
            if not np.isfinite(c).all():
                raise _bad("init contains NaN or infinity")
            if ctx["unit"]:  # as fkm_check_centroids: rows already unit to float32 rounding kept
                v = c.astype(np.float64)
                n2 = np.cumsum(v * v, axis=1)[:, -1]
                far = np.abs(n2 - 1.0) > 4.0 * float(np.finfo(np.float32).eps)
                for i in np.flatnonzero(far):
                    c[i] = _unit(c[i:i + 1], i, what="init row")[0]
            return c
        if self.init == "random":  # fkm_init_random's indices, rows fetched from the workers
            idx = _random_indices(seed, n, k)
            order = np.argsort(idx)
            rows = np.empty((k, d), np.float32)
            rows[order] = _working(X[idx[order]].compute(), ctx["unit"])[1]
            return rows
        m = self.init_max_samples or max(65536, 32 * k)
        if m >= n:
            sample, ws = X, ctx["w"]
        else:
            idx = np.sort(np.random.default_rng(seed).choice(n, size=int(m), replace=False))
            sample, ws = X[idx], (ctx["w"][idx] if ctx["w"] is not None else None)
        sample, ws = dask.compute(sample, ws)
        p = _core.make_params(k, max_iter=0, init="k-means++", seed=seed, metric=ctx["metric"], device="cpu",
                              threads=ctx["threads"])
        wv = None if ws is None else np.ascontiguousarray(ws, dtype=np.float32)
        return np.array(_core.fit(p, host_matrix(np.asarray(sample), name="X"), wv).centroids)

    @staticmethod
    def _limbs_sum(lim):
        return _int128(sum(h for h, _ in lim), sum(lo for _, lo in lim))

    def _exact_sum(self, ctx, steps, prev=None, prev_scale=None):
        """fkm_mpi_exact_sum over the blocks' w d: max, then fixed-point limbs. With prev (the
        previous steps) also finishes their inertia at prev_scale in the first round."""
        pairs = ctx["pairs"]
        prev = prev or [None] * len(steps)
        got = dask.compute(*[dask.delayed(_wd_max)(s, wb, p, prev_scale)
                             for s, p, (_, wb, _) in zip(steps, prev, pairs)])
        last = self._limbs_sum([g[1] for g in got]) / prev_scale if prev_scale is not None else None
        s = float(_fx_scale(max(g[0] for g in got)))
        lim = dask.compute(*[dask.delayed(_fx_dist)(st, wb, s) for st, (_, wb, _) in zip(steps, pairs)])
        return float(self._limbs_sum(lim)) / s, last

    def _run(self, ctx, cen):
        pairs, k, d, cs, ws = ctx["pairs"], ctx["k"], ctx["d"], ctx["cs"], ctx["ws"]
        metric, thr = ctx["metric"], ctx["threads"]
        kd = k * d
        # The inertia of iteration t needs the global max |w d| first. Unless the stop rule reads
        # it, its fixed-point sum rides along with iteration t + 1's step (one round trip per
        # iteration instead of two); the last one with the final assignment.
        defer = self.stop != "inertia"
        stats, prev_inertia, prev, pending = [], 0.0, [None] * len(pairs), None
        stop_reason = "max_iter"
        for it in range(int(self.max_iter)):
            t0 = time.perf_counter()
            cd = dask.delayed(cen)
            steps = [dask.delayed(_step, pure=True)(x, wb, pl, cd, cs, ws, metric, thr, r, pending)
                     for (x, wb, r), pl in zip(pairs, prev)]
            steps = list(dask.persist(*steps))  # labels and distances stay on the workers
            small = dask.compute(*[s[2] for s in steps])
            if pending is not None:
                stats[-1]["inertia"] = stats[-1]["obj"] = float(self._limbs_sum([s[4] for s in small])) / pending
            sums = np.sum([s[0] for s in small], axis=0)
            counts = np.sum([s[1] for s in small], axis=0)
            changed = int(sum(s[2] for s in small))
            sc = float(_fx_scale(max(s[3] for s in small)))
            inertia = None
            if not defer:
                lim = dask.compute(*[dask.delayed(_fx_dist)(st, wb, sc) for st, (_, wb, _) in zip(steps, pairs)])
                inertia = float(self._limbs_sum(lim)) / sc
            hi = sums[:kd].reshape(k, d) + (sums[kd:2 * kd].reshape(k, d) >> 32)
            lo = sums[kd:2 * kd].reshape(k, d) & _MASK32
            whi = sums[2 * kd:2 * kd + k] + (sums[2 * kd + k:] >> 32)
            wlo = sums[2 * kd + k:] & _MASK32
            empty = int(np.count_nonzero(counts == 0))
            if self.empty == "farthest" and empty > 0:
                self._fill_empty(ctx, steps, counts, cs, ws, hi, lo, whi, wlo)
            old = cen
            cen = cen.copy()
            wq = _to_double(whi, wlo)
            has = wq > 0
            if has.any():
                wsum = wq[has] / ws
                cen[has] = ((_to_double(hi[has], lo[has]) / cs[None, :]) / wsum[:, None]).astype(np.float32)
                if ctx["unit"]:
                    _renormalise(cen, old, has)
            shift = _max_shift(cen, old)
            stats.append({"inertia": inertia, "obj": inertia, "shift": shift, "empty": empty, "changed": changed,
                          "rescored": 0, "ms": (time.perf_counter() - t0) * 1e3})
            prev, pending = steps, (sc if defer else None)
            if _stop_met(self.stop, float(self.tol), it, shift, inertia, changed, prev_inertia, ctx["var"]):
                stop_reason = "converged"
                break
            prev_inertia = inertia
        # the returned labels and inertia belong to the returned centroids
        cd = dask.delayed(cen)
        fin = list(dask.persist(*[dask.delayed(_final, pure=True)(x, cd, metric, thr, r) for x, _, r in pairs]))
        inertia, last = self._exact_sum(ctx, fin, prev if pending is not None else None, pending)
        if last is not None:
            stats[-1]["inertia"] = stats[-1]["obj"] = last
        parts, j = [], 0
        for b, nb in enumerate(ctx["rows"]):
            if nb == 0:
                parts.append(da.zeros((0,), dtype=np.int32))
            else:
                parts.append(da.from_delayed(fin[j][0], shape=(nb,), dtype=np.int32))
                j += 1
        return {"centroids": cen, "labels": da.concatenate(parts), "inertia": inertia, "iterations": len(stats),
                "stats": stats, "stop_reason": stop_reason}

    def _fill_empty(self, ctx, steps, counts, cs, ws, hi, lo, whi, wlo):
        """Each empty cluster, in index order, takes the donor with the largest distance over all
        blocks (lowest global row on ties); its fixed-point terms move between the two clusters'
        sums exactly (so the sums are those of the relabelled rows, as fkm_mpi_fit's)."""
        counts = counts.copy()
        taken = []
        pairs = ctx["pairs"]
        for ci in np.flatnonzero(counts == 0):
            offers = dask.compute(*[dask.delayed(_offer)(st, x, wb, counts, list(taken), r, ctx["unit"])
                                    for st, (x, wb, r) in zip(steps, pairs)])
            win = None
            for o in offers:
                if o is not None and (win is None or o[1] > win[1] or (o[1] == win[1] and o[0] < win[0])):
                    win = o
            if win is None:
                break  # no donor left anywhere: the rest keep their centroids
            g, _, frm, row, wi = win
            counts[frm] -= 1
            counts[ci] = 1
            taken.append(g)
            q = (wi * row.astype(np.float64) * cs).astype(np.int64)
            qw = np.int64(int(wi * ws))
            for c, sign in ((frm, -1), (ci, 1)):
                hi[c] += sign * (q >> 32)
                lo[c] += sign * (q & _MASK32)
                whi[c] += sign * (qw >> 32)
                wlo[c] += sign * (qw & _MASK32)
            hi[:] += lo >> 32
            lo[:] &= _MASK32
            whi[:] += wlo >> 32
            wlo[:] &= _MASK32

    # ---- predict
    def predict(self, X):
        """Nearest-centre labels: a dask array (int32) for a dask array, numpy for numpy data."""
        if not hasattr(self, "cluster_centers_"):
            raise AttributeError("This flashkmeans.dask.KMeans instance is not fitted yet: call fit first")
        metric = _METRICS[self.metric.lower()]
        c = self.cluster_centers_
        if not isinstance(X, da.Array):
            hm = host_matrix(X, name="X")
            if hm.shape[1] != c.shape[1]:
                raise ValueError("X has %d features, but KMeans is expecting %d features as input"
                                 % (hm.shape[1], c.shape[1]))
            return _core.predict(_params(metric, self.n_threads), hm, c)[0]
        X = self._dask_matrix(X, "predict")
        if X.shape[1] != c.shape[1]:
            raise ValueError("X has %d features, but KMeans is expecting %d features as input"
                             % (X.shape[1], c.shape[1]))
        return X.map_blocks(_predict_block, c, metric, self.n_threads, drop_axis=1, dtype=np.int32)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_
