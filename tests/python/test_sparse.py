"""scipy sparse input to flashkmeans.KMeans (issue 20, item 2): fkm_*_csr, never a dense copy.
The C side (tests/test_sparse.c) checks labels against the float64 oracle and the dense engine;
here the binding: CSR and CSC, float32/float64, fit/predict/transform/score equal to the dense
fit on data whose sums are exact, cosine and inner product against the dense fit, weights, the
CPU-only rule and bad input."""
import numpy as np
import pytest

sp = pytest.importorskip("scipy.sparse")

import flashkmeans  # noqa: E402


def _ints(n=600, d=40, density=0.1, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    X = (rng.randint(1, 4, size=(n, d)) * (rng.rand(n, d) < density)).astype(dtype)
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("init", ["k-means++", "k-means||", "random", "array"])
def test_sparse_equals_dense_on_exact_data(fmt, init):
    X = _ints()
    S = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    kw = dict(n_clusters=7, random_state=3, n_init=2 if init != "array" else 1,
              init=X[:7] if init == "array" else init, device="cpu")
    a = flashkmeans.KMeans(**kw).fit(S)
    b = flashkmeans.KMeans(**kw).fit(X)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.cluster_centers_.dtype == np.float64 and a.n_iter_ == b.n_iter_
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-12)
    assert np.array_equal(a.predict(S), b.predict(X))
    assert a.score(S) == pytest.approx(b.score(X), rel=1e-12)
    assert np.allclose(a.transform(S), b.transform(X), rtol=1e-5, atol=1e-5)


def test_sparse_weights_float32_and_canonical_form():
    X = _ints(dtype=np.float32, seed=1)
    w = np.random.RandomState(2).randint(1, 4, size=X.shape[0]).astype(np.float64)
    a = flashkmeans.KMeans(5, random_state=0, device="cpu").fit(sp.csr_matrix(X), sample_weight=w)
    b = flashkmeans.KMeans(5, random_state=0, device="cpu").fit(X, sample_weight=w)
    assert np.array_equal(a.labels_, b.labels_) and a.cluster_centers_.dtype == np.float32
    # duplicates and unsorted columns: summed and sorted on a copy, the caller's matrix untouched
    coo = sp.coo_matrix(X)
    dup = sp.csr_matrix((np.r_[coo.data / 2, coo.data / 2], (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])),
                        shape=X.shape)
    dup.has_canonical_format = False
    nnz = dup.nnz
    c = flashkmeans.KMeans(5, random_state=0, device="cpu").fit(dup, sample_weight=w)
    assert np.array_equal(c.labels_, b.labels_) and dup.nnz == nnz


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_sparse_cosine_ip_match_dense(metric):
    # TF-IDF-like: non-negative, no empty row. Both engines see the same unit rows (cosine); the
    # sparse one sums in float64, the dense one scores in float32: labels equal but at near-ties.
    rng = np.random.RandomState(4)
    X = (rng.rand(800, 60) * (rng.rand(800, 60) < 0.15)).astype(np.float32)
    X[np.arange(800), rng.randint(0, 60, size=800)] += 1.0
    S = sp.csr_matrix(X)
    kw = dict(n_clusters=8, random_state=1, metric=metric, device="cpu", init=X[:8])
    a = flashkmeans.KMeans(**kw).fit(S)
    b = flashkmeans.KMeans(**kw).fit(X)
    assert np.mean(a.labels_ == b.labels_) >= 0.99
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-4)
    if metric == "cosine":
        assert np.allclose(np.linalg.norm(a.cluster_centers_, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a.predict(S), a.labels_)
    assert a.score(S) == pytest.approx(-a.inertia_, rel=1e-9)
    assert np.allclose(a.transform(S), b.transform(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_sparse_kmeans_parallel(metric):
    # k-means|| on CSR rows (src/cpu/sparse_par.c): on small-integer data the dense k-means||
    # centroids bit for bit (initial: max_iter=0, and the fit), the same for any thread count.
    X = _ints(n=2500, d=50, density=0.1, seed=5)
    X[:, 0] += 1  # no empty row: cosine needs a direction
    S = sp.csr_matrix(X)
    kw = dict(n_clusters=600, init="k-means||", random_state=2, metric=metric, device="cpu")
    init = [flashkmeans.KMeans(max_iter=0, n_threads=t, **kw).fit(S).cluster_centers_ for t in (1, 2, 4)]
    assert np.array_equal(init[0], init[1]) and np.array_equal(init[0], init[2])
    assert np.array_equal(init[0], flashkmeans.KMeans(max_iter=0, **kw).fit(X).cluster_centers_)
    a = flashkmeans.KMeans(max_iter=20, **kw).fit(S)
    b = flashkmeans.KMeans(max_iter=20, **kw).fit(X)
    if metric == "l2":  # cosine: unit rows, no longer small integers; the labels at near-ties may differ
        assert np.array_equal(a.labels_, b.labels_) and np.array_equal(a.cluster_centers_, b.cluster_centers_)
    else:
        assert np.mean(a.labels_ == b.labels_) >= 0.99


def test_sparse_errors():
    S = sp.csr_matrix(_ints(n=50, d=6, density=0.5))
    with pytest.raises(flashkmeans.InvalidArgumentError, match="CPU only"):
        flashkmeans.KMeans(3, device="cuda").fit(S)
    with pytest.raises(flashkmeans.BadInputError, match="all zeros"):  # a row with no entry: no direction
        flashkmeans.KMeans(3, metric="cosine", device="cpu").fit(sp.csr_matrix(np.r_[S.toarray(), np.zeros((1, 6))]))
    bad = S.copy()
    bad.data[4] = np.nan
    with pytest.raises(flashkmeans.BadInputError, match=r"is NaN"):
        flashkmeans.KMeans(3, device="cpu").fit(bad)
    km = flashkmeans.KMeans(3, random_state=0, device="cpu").fit(S)
    with pytest.raises(ValueError, match="features"):
        km.predict(sp.csr_matrix(np.zeros((2, 5))))


def test_sparse_hierarchical_init():
    """init="hierarchical" on CSR input (never made dense): below 256 centroids it is k-means||,
    bit for bit; above, k distinct finite centroids, the same for any thread count."""
    S = sp.csr_matrix(_ints(n=400, d=6, density=0.5))
    a = flashkmeans.KMeans(3, init="hierarchical", n_init=1, random_state=4, max_iter=0, device="cpu").fit(S)
    b = flashkmeans.KMeans(3, init="k-means||", n_init=1, random_state=4, max_iter=0, device="cpu").fit(S)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    X = np.random.default_rng(5).normal(size=(6000, 12)).astype(np.float32)
    X[np.abs(X) < 0.6] = 0
    S = sp.csr_matrix(X)
    fits = [flashkmeans.KMeans(300, init="hierarchical", n_init=1, random_state=2, max_iter=0, device="cpu",
                               n_threads=t).fit(S) for t in (1, 2)]
    c = fits[0].cluster_centers_
    assert c.shape == (300, 12) and np.isfinite(c).all()
    assert len(np.unique(c, axis=0)) == 300
    assert np.array_equal(c, fits[1].cluster_centers_)
