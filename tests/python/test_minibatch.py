"""flashkmeans.MiniBatchKMeans and KMeans.partial_fit (issue 22, item 3): the mini-batch update
against a naive float64 reference of the same rule (scikit-learn's), step by step; same seed and
input order => the same bits; partial_fit streaming as documented (docs/python.md, "Incremental
updates"); warm-start refits. scikit-learn's own MiniBatchKMeans tests run in
test_sklearn_suite.py."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import flashkmeans
from conftest import blobs

MARGIN = 1e-5  # the exact contract's near-tie margin (docs/contract.md, section 2)


# ---------------------------------------------------------------- the reference (naive, float64)
def ref_labels(C, X):
    """float64 argmin, ties to the lowest index, and each point's distances."""
    X = np.asarray(X, dtype=np.float64)
    D = np.array([[sum((X[i, j] - C[c, j]) ** 2 for j in range(X.shape[1]))
                   for c in range(C.shape[0])] for i in range(X.shape[0])])
    return D.argmin(axis=1), D


def check_exact(labels, C, X):
    """The library's labels equal the float64 argmin except at near-ties (contract.md)."""
    best, D = ref_labels(C, X)
    X = np.asarray(X, dtype=np.float64)
    for i in np.flatnonzero(labels != best):
        scale = X[i] @ X[i] + C[labels[i]] @ C[labels[i]]
        assert D[i, labels[i]] - D[i, best[i]] <= MARGIN * scale, (i, labels[i], best[i])


def ref_update(C, N, X, w, labels):
    """c_j <- (N_j c_j + sum_{label i = j} w_i x_i) / (N_j + W_j) where W_j > 0; N_j += W_j.
    Plain loops in float64, points in batch order."""
    C, N = C.copy(), N.copy()
    X = np.asarray(X, dtype=np.float64)
    for j in range(C.shape[0]):
        S = np.zeros(C.shape[1])
        W = 0.0
        for i in range(X.shape[0]):
            if labels[i] == j:
                S = S + w[i] * X[i]
                W += w[i]
        if W > 0:
            C[j] = (N[j] * C[j] + S) / (N[j] + W)
            N[j] += W
    return C, N


def ref_reassign(C, N, X, ratio, rs):
    """scikit-learn's random reassignment, written out."""
    b = X.shape[0]
    to = N < ratio * N.max()
    if to.sum() > 0.5 * b:
        to[np.argsort(N, kind="stable")[int(0.5 * b):]] = False
    n = int(to.sum())
    if n:
        picked = rs.choice(b, replace=False, size=n)
        C[to] = np.asarray(X, dtype=np.float64)[picked]
        N[to] = N[~to].min()
    return C, N


class RefSchedule:
    """scikit-learn's reassignment schedule: every 10 k samples, or when a count is 0."""

    def __init__(self, batch_size, k):
        self.b, self.k, self.since = batch_size, k, 0

    def __call__(self, N):
        self.since += self.b
        if (N == 0).any() or self.since >= 10 * self.k:
            self.since = 0
            return True
        return False


def predictor(C, d):
    """The library's labels under centres C (the step's assignment: C rounded to float32)."""
    h = flashkmeans.KMeans(C.shape[0])
    h.cluster_centers_, h.n_features_in_ = np.asarray(C, dtype=np.float64), d
    return h.predict


def dense(X):
    return X.toarray() if hasattr(X, "toarray") else np.asarray(X)


# ---------------------------------------------------------------- (a) step by step
@pytest.mark.parametrize("kind", ["dense", "weights", "sparse", "reassign"])
def test_steps_match_float64_reference(kind):
    """Each partial_fit is one step; after each, the centres and counts equal the reference's
    from the same starting state and the library's labels (checked against the float64 argmin)."""
    rng = np.random.RandomState(1)
    k, d, b = 6, 5, 40
    X, _, _ = blobs(n=b * 12, d=d, k=k, seed=3, dtype="float64", spread=2.0)
    if kind == "sparse":
        sp = pytest.importorskip("scipy.sparse")
        X[rng.rand(*X.shape) < 0.5] = 0.0
    w = rng.uniform(0.1, 3.0, size=X.shape[0]) if kind == "weights" else np.ones(X.shape[0])
    C = X[rng.choice(X.shape[0], k, replace=False)].copy()
    C[1] = C[0]  # a duplicate centre: only the first ever gets points
    ratio = 0.2 if kind == "reassign" else 0.0
    seed = 7
    est = flashkmeans.MiniBatchKMeans(k, init=C, n_init=1, batch_size=b, random_state=seed,
                                      reassignment_ratio=ratio)
    Cr, Nr = C.copy(), np.zeros(k)
    rs, schedule = np.random.RandomState(seed), RefSchedule(b, k)
    for s in range(12):
        Xb = X[s * b:(s + 1) * b]
        wb = w[s * b:(s + 1) * b]
        batch = sp.csr_matrix(Xb) if kind == "sparse" else Xb
        # the step's own assignment: the library's, under the state rounded to float32
        labels = (est.predict if s else predictor(C, d))(batch)
        check_exact(labels, Cr, Xb)
        reassign_now = schedule(Nr)
        est.partial_fit(batch, sample_weight=wb if kind == "weights" else None)
        Cr, Nr = ref_update(Cr, Nr, Xb, wb, labels)
        if reassign_now and ratio > 0:
            Cr, Nr = ref_reassign(Cr, Nr, Xb, ratio, rs)
        assert est.cluster_centers_.dtype == np.float64
        np.testing.assert_allclose(est.cluster_centers_, Cr, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(est.counts_, Nr, rtol=1e-13)
        assert est.n_steps_ == s + 1
        # labels_ / inertia_: the batch's, under the new centres
        np.testing.assert_array_equal(est.labels_, est.predict(batch))
        assert est.inertia_ == -est.score(batch, sample_weight=wb if kind == "weights" else None)
    if kind == "reassign":
        assert np.abs(Cr[1] - C[1]).max() > 0  # the duplicate centre was reassigned


def test_float32_steps_match_reference():
    """float32 data: cluster_centers_ come back float32, the state (and the reference) float64."""
    k, d, b = 4, 3, 50
    X, _, _ = blobs(n=b * 6, d=d, k=k, seed=5, dtype="float32")
    C = X[:k].astype(np.float64)
    est = flashkmeans.MiniBatchKMeans(k, init=C, n_init=1, batch_size=b, reassignment_ratio=0)
    Cr, Nr = C.copy(), np.zeros(k)
    for s in range(6):
        Xb = X[s * b:(s + 1) * b]
        labels = predictor(Cr, d)(Xb)
        check_exact(labels, Cr, Xb)
        est.partial_fit(Xb)
        Cr, Nr = ref_update(Cr, Nr, Xb, np.ones(b), labels)
        assert est.cluster_centers_.dtype == np.float32
        np.testing.assert_array_equal(est.cluster_centers_, Cr.astype(np.float32))
        np.testing.assert_array_equal(est.counts_, Nr)


def test_fit_matches_reference_loop():
    """fit = scikit-learn's loop: validation rows, init rows, then n_steps batches drawn with
    replacement by the one RandomState, each one step (with the reassignment schedule)."""
    n, d, k, b, max_iter, seed = 600, 4, 5, 32, 2, 11
    X, _, _ = blobs(n=n, d=d, k=k, seed=2, dtype="float64", spread=1.5)
    C0 = X[:k].copy()
    est = flashkmeans.MiniBatchKMeans(k, init=C0, n_init=1, batch_size=b, max_iter=max_iter,
                                      tol=0, max_no_improvement=None, random_state=seed).fit(X)
    rs = np.random.RandomState(seed)
    init_size = 3 * b
    rs.randint(0, n, init_size)  # validation rows
    rs.randint(0, n, init_size)  # init rows (drawn for an array init too)
    Cr, Nr, schedule = C0.copy(), np.zeros(k), RefSchedule(b, k)
    n_steps = max_iter * n // b
    for _ in range(n_steps):
        idx = rs.randint(0, n, b)
        Xb = X[idx]
        labels = predictor(Cr, d)(Xb)
        reassign_now = schedule(Nr)
        Cr, Nr = ref_update(Cr, Nr, Xb, np.ones(b), labels)
        if reassign_now:
            Cr, Nr = ref_reassign(Cr, Nr, Xb, 0.01, rs)
    np.testing.assert_allclose(est.cluster_centers_, Cr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.counts_, Nr, rtol=1e-13)
    assert est.n_steps_ == n_steps and est.n_iter_ == max_iter
    np.testing.assert_array_equal(est.labels_, est.predict(X))
    assert est.inertia_ == -est.score(X)


def test_same_draws_as_scikit_learn():
    """With an array init scikit-learn 1.2's MiniBatchKMeans makes the same RandomState draws in
    the same order (validation rows, init rows, batches, reassignment choices); on float64 data,
    where its state is float64 too, it then gives the same centres (to rounding), counts and
    labels: the same rule on the same rows."""
    sklearn = pytest.importorskip("sklearn")
    if not sklearn.__version__.startswith("1.2."):
        pytest.skip("the draw order is compared with scikit-learn 1.2's")
    from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans

    X, _, _ = blobs(n=3000, d=6, k=8, seed=13, dtype="float64", spread=2.0)
    w = np.random.RandomState(3).uniform(0.5, 2, size=X.shape[0])
    kw = dict(n_clusters=8, init=X[:8].copy(), n_init=1, batch_size=64, max_iter=4, tol=0.0,
              max_no_improvement=None, random_state=0, reassignment_ratio=0.05)
    ours = flashkmeans.MiniBatchKMeans(**kw).fit(X, sample_weight=w)
    theirs = SkMiniBatchKMeans(**kw).fit(X, sample_weight=w)
    assert ours.n_steps_ == theirs.n_steps_ == 4 * 3000 // 64
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.counts_, theirs._counts, rtol=1e-12)
    np.testing.assert_array_equal(ours.labels_, theirs.labels_)
    # partial_fit streams too
    ours = flashkmeans.MiniBatchKMeans(**kw)
    theirs = SkMiniBatchKMeans(**kw)
    for i in range(0, 3000, 300):
        ours.partial_fit(X[i:i + 300])
        theirs.partial_fit(X[i:i + 300])
    np.testing.assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.counts_, theirs._counts, rtol=1e-12)


# ---------------------------------------------------------------- (b) same seed, same bits
def _bits(est):
    return (est.cluster_centers_.tobytes(), est.counts_.tobytes(), est.labels_.tobytes(),
            float(est.inertia_), est.n_steps_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_bits(dtype):
    X, _, _ = blobs(n=3000, d=6, k=12, seed=4, dtype=dtype, spread=1.0)
    w = np.random.RandomState(0).uniform(0.5, 2, size=X.shape[0])
    kw = dict(n_clusters=12, batch_size=100, random_state=123, n_init=3, tol=1e-4)
    a = flashkmeans.MiniBatchKMeans(**kw).fit(X, sample_weight=w)
    for threads in (None, 1, 2):
        b = flashkmeans.MiniBatchKMeans(n_threads=threads, **kw).fit(X, sample_weight=w)
        assert _bits(a) == _bits(b)
    c = flashkmeans.MiniBatchKMeans(**dict(kw, random_state=124)).fit(X, sample_weight=w)
    assert _bits(a) != _bits(c)
    # a stream of partial_fit calls, twice
    runs = []
    for _ in range(2):
        s = flashkmeans.MiniBatchKMeans(12, random_state=5, n_init=1)
        for i in range(0, X.shape[0], 250):
            s.partial_fit(X[i:i + 250], sample_weight=w[i:i + 250])
        runs.append(_bits(s))
    assert runs[0] == runs[1]
    # KMeans.partial_fit too
    runs = []
    for _ in range(2):
        km = flashkmeans.KMeans(12, random_state=5)
        for i in range(0, X.shape[0], 500):
            km.partial_fit(X[i:i + 500])
        runs.append(_bits(km))
    assert runs[0] == runs[1]


# ---------------------------------------------------------------- (c) partial_fit semantics
def test_kmeans_partial_fit_semantics():
    X, _, _ = blobs(n=1500, d=5, k=6, seed=8, dtype="float64", spread=1.0)
    X1, X2, X3 = X[:1000], X[1000:1250], X[1250:]
    w2 = np.random.RandomState(2).uniform(0.5, 2, size=X2.shape[0])
    # unfitted: partial_fit is fit (exact), with counts_ the weight of each cluster
    a = flashkmeans.KMeans(6, random_state=3).partial_fit(X1)
    f = flashkmeans.KMeans(6, random_state=3).fit(X1)
    np.testing.assert_array_equal(a.cluster_centers_, f.cluster_centers_)
    np.testing.assert_array_equal(a.labels_, f.labels_)
    np.testing.assert_array_equal(a.counts_, np.bincount(f.labels_, minlength=6))
    assert a.n_steps_ == 1 and f.n_steps_ == 0
    # fitted: one mini-batch step from the current centres, no reassignment
    C, N = f.cluster_centers_.copy(), f.counts_.copy()
    labels = f.predict(X2)
    check_exact(labels, C, X2)
    f.partial_fit(X2, sample_weight=w2)
    Cr, Nr = ref_update(C, N, X2, w2, labels)
    np.testing.assert_allclose(f.cluster_centers_, Cr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f.counts_, Nr, rtol=1e-13)
    np.testing.assert_array_equal(f.labels_, f.predict(X2))
    assert f.inertia_ == -f.score(X2, sample_weight=w2)
    assert f.n_steps_ == 1
    f.partial_fit(X3)
    assert f.n_steps_ == 2 and f.counts_.sum() == pytest.approx(1000 + w2.sum() + 250)
    f.fit(X1)
    assert f.n_steps_ == 0


def test_kmeans_partial_fit_is_running_mean():
    """After an exact fit that has converged (no label changes), each centre is the mean of its
    points; after partial_fit it is the mean of its points and the batch's points given to it."""
    X, _, _ = blobs(n=1200, d=4, k=5, seed=9, dtype="float64", spread=1.0)
    X1, X2 = X[:1000], X[1000:]
    km = flashkmeans.KMeans(5, random_state=1, stop="labels", max_iter=300).fit(X1)
    assert km.stop_reason_ == "converged"
    l1, l2 = km.labels_.copy(), km.predict(X2)
    km.partial_fit(X2)
    for j in range(5):
        pts = np.concatenate([X1[l1 == j], X2[l2 == j]])
        np.testing.assert_allclose(km.cluster_centers_[j], pts.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_minibatch_partial_fit_after_fit_continues():
    """partial_fit after fit starts from fit's centres and counts_ (scikit-learn's semantics)."""
    X, _, _ = blobs(n=2000, d=4, k=5, seed=6, dtype="float64")
    est = flashkmeans.MiniBatchKMeans(5, random_state=0, n_init=1, batch_size=200,
                                      reassignment_ratio=0).fit(X[:1500])
    C, N, steps = est.cluster_centers_.copy(), est.counts_.copy(), est.n_steps_
    labels = est.predict(X[1500:])
    est.partial_fit(X[1500:])
    Cr, Nr = ref_update(C, N, X[1500:], np.ones(500), labels)
    np.testing.assert_allclose(est.cluster_centers_, Cr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(est.counts_, Nr)
    assert est.n_steps_ == steps + 1
    # a published array is never changed afterwards; assigning cluster_centers_ restarts from it
    before = est.cluster_centers_
    snapshot = before.copy()
    est.partial_fit(X[:100])
    np.testing.assert_array_equal(before, snapshot)
    est.cluster_centers_ = C.copy()
    labels = est.predict(X[:100])
    N2 = est.counts_.copy()
    est.partial_fit(X[:100])
    Cr, _ = ref_update(C, N2, X[:100], np.ones(100), labels)
    np.testing.assert_allclose(est.cluster_centers_, Cr, rtol=1e-12, atol=1e-12)


def test_warm_start_refit_refreshes_the_index():
    """The documented refresh: partial_fit for cheap updates as data arrives, then an exact refit
    from the current centres (init=cluster_centers_, n_init=1): exact Lloyd, few iterations."""
    X, _, _ = blobs(n=4000, d=8, k=10, seed=12, dtype="float32", spread=1.0)
    old, new = X[:3000], X[3000:]
    km = flashkmeans.KMeans(10, random_state=0).fit(old)
    for i in range(0, new.shape[0], 250):
        km.partial_fit(new[i:i + 250])
    refit = flashkmeans.KMeans(10, init=km.cluster_centers_, n_init=1).fit(X)
    assert refit.stop_reason_ == "converged" and refit.n_iter_ <= 10
    assert refit.inertia_ <= -km.score(X) * (1 + 1e-9)  # Lloyd from there never does worse
    again = flashkmeans.KMeans(10, init=km.cluster_centers_, n_init=1).fit(X)
    np.testing.assert_array_equal(refit.cluster_centers_, again.cluster_centers_)
    np.testing.assert_array_equal(refit.predict(X), refit.labels_)


# ---------------------------------------------------------------- interface details
def test_attributes_and_dtypes():
    X, _, _ = blobs(n=500, d=3, k=4, seed=1, dtype="float32")
    est = flashkmeans.MiniBatchKMeans(4, random_state=0, n_init=1, batch_size=64).fit(X)
    assert est.cluster_centers_.dtype == np.float32 and est.cluster_centers_.shape == (4, 3)
    assert est.counts_.dtype == np.float64 and est._counts is est.counts_
    assert est.labels_.dtype == np.int32 and est.labels_.shape == (500,)
    assert est.n_features_in_ == 3 and isinstance(est.n_iter_, int) and isinstance(est.n_steps_, int)
    assert est.transform(X).shape == (500, 4)
    assert list(est.get_feature_names_out()) == ["minibatchkmeans%d" % i for i in range(4)]
    nolab = flashkmeans.MiniBatchKMeans(4, random_state=0, n_init=1, batch_size=64,
                                        compute_labels=False).fit(X)
    assert not hasattr(nolab, "labels_") and nolab.inertia_ > 0
    np.testing.assert_array_equal(nolab.cluster_centers_, est.cluster_centers_)
    with pytest.raises(ValueError, match="X has 5 features"):
        est.partial_fit(np.zeros((3, 5)))
    Y = X.copy()
    Y[17, 2] = np.inf
    with pytest.raises(flashkmeans.BadInputError, match=r"data\[17\]\[2\] is \+Inf"):
        flashkmeans.MiniBatchKMeans(4, n_init=1).fit(Y)
    with pytest.raises(ValueError, match="metric 'l2'"):
        flashkmeans.KMeans(4, metric="cosine", random_state=0).fit(X).partial_fit(X)


def test_pickle_keeps_the_state():
    import pickle

    X, _, _ = blobs(n=600, d=3, k=4, seed=2, dtype="float32")
    a = flashkmeans.MiniBatchKMeans(4, random_state=0, n_init=1).partial_fit(X[:300])
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X[300:])
    b.partial_fit(X[300:])
    assert _bits(a) == _bits(b)


def test_cuda_tensors_refused():
    """fit / partial_fit run on the CPU: CUDA tensors get a TypeError that names the way out."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch sees no CUDA GPU")
    X = torch.randn(500, 4, device="cuda")
    for est in (flashkmeans.MiniBatchKMeans(3, n_init=1), flashkmeans.KMeans(3)):
        with pytest.raises(TypeError, match="runs on the CPU"):
            est.partial_fit(X)
    with pytest.raises(TypeError, match="runs on the CPU"):
        flashkmeans.MiniBatchKMeans(3, n_init=1).fit(X)


def test_without_sklearn(repo):
    script = textwrap.dedent(r"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "sklearn" or name.startswith("sklearn."):
                    raise ImportError("blocked for this test")
        sys.meta_path.insert(0, Block())
        import numpy as np
        import flashkmeans
        rng = np.random.RandomState(0)
        X = np.concatenate([rng.randn(300, 3), rng.randn(300, 3) + 20]).astype(np.float32)
        est = flashkmeans.MiniBatchKMeans(2, random_state=0, batch_size=50).fit(X)
        assert est.get_params()["n_init"] == "auto" and est._n_init == 1
        assert len(set(est.labels_[:300])) == 1 and est.labels_[0] != est.labels_[450]
        est.partial_fit(X[:50])
        km = flashkmeans.KMeans(2, random_state=0).partial_fit(X).partial_fit(X[:50])
        assert km.n_steps_ == 2
        print("OK")
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo / "python"), env.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "OK", res.stdout + res.stderr


def test_sklearn_estimator_checks():
    """scikit-learn's estimator checks (as test_estimator_checks.py runs them for KMeans)."""
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    for est in (flashkmeans.MiniBatchKMeans(n_init=1),
                flashkmeans.MiniBatchKMeans(3, init="random", n_init=2, batch_size=10, tol=1e-3)):
        check_estimator(est)


@pytest.mark.parametrize("cls", ["MiniBatchKMeans", "KMeans"])
@pytest.mark.parametrize("bad", ["negative", "zero"])
def test_failed_partial_fit_changes_nothing(cls, bad):
    """A partial_fit refused for its weights leaves the estimator as it was (centres, counts,
    step count, labels, random state): nothing half-written."""
    x = np.random.RandomState(0).normal(size=(200, 3)).astype(np.float32)
    est = getattr(flashkmeans, cls)(4, random_state=0, n_init=1)
    est.partial_fit(x[:100])
    before = dict(c=est.cluster_centers_.copy(), n=est.counts_.copy(), s=est.n_steps_, l=est.labels_.copy(),
                  i=est.inertia_)
    rng = est._random_state.get_state()[1].copy() if hasattr(est, "_random_state") else None
    w = np.ones(100) if bad == "negative" else np.zeros(100)
    w[5] = -1.0 if bad == "negative" else 0.0
    with pytest.raises(flashkmeans.BadInputError, match="negative" if bad == "negative" else "zero"):
        est.partial_fit(x[100:], sample_weight=w)
    assert np.array_equal(before["c"], est.cluster_centers_) and np.array_equal(before["n"], est.counts_)
    assert before["s"] == est.n_steps_ and np.array_equal(before["l"], est.labels_) and before["i"] == est.inertia_
    if rng is not None:
        assert np.array_equal(rng, est._random_state.get_state()[1])
