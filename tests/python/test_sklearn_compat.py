"""scikit-learn compatibility of flashkmeans.KMeans and the FAISS-style Kmeans's rough edges
(issue 20, items 1 and 7): copy_x, scikit-learn's warnings and error messages where its own tests
pin them, get_feature_names_out / set_output, verbose=True, n_init="auto", k > n, and warnings
that point at the caller's line."""
import warnings

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _compat
from conftest import blobs


def _convergence_warning():
    return _compat.ConvergenceWarning


# ------------------------------------------------------------------ copy_x
@pytest.mark.parametrize("copy_x", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_copy_x_accepted_and_X_unchanged(copy_x, dtype):
    X, _, _ = blobs(n=400, d=5, k=4, dtype=dtype)
    X += 100.0  # far from the origin: an in-place centring would show
    before = X.copy()
    km = flashkmeans.KMeans(4, random_state=0, copy_x=copy_x).fit(X)
    assert np.array_equal(X, before) and X.dtype == np.dtype(dtype)
    assert km.get_params()["copy_x"] is copy_x
    km.fit_transform(X)
    km.fit_predict(X)
    assert np.array_equal(X, before)
    # the same centres either way (copy_x changes nothing in the computation)
    other = flashkmeans.KMeans(4, random_state=0, copy_x=not copy_x).fit(X)
    assert np.array_equal(km.cluster_centers_, other.cluster_centers_)


# ------------------------------------------------------------------ warnings and messages
def test_convergence_warning_on_duplicate_points():
    """scikit-learn's test_kmeans_warns_less_centers_than_unique_points, same message."""
    X = np.asarray([[0, 0], [0, 1], [1, 0], [1, 0]])  # last point is duplicated
    msg = (r"Number of distinct clusters \(3\) found smaller than "
           r"n_clusters \(4\). Possibly due to duplicate points in X.")
    for seed in (0, 1, 42):
        with pytest.warns(_convergence_warning(), match=msg):
            km = flashkmeans.KMeans(n_clusters=4, random_state=seed).fit(X)
        assert set(km.labels_) == set(range(3))


def test_convergence_warning_is_sklearns_class():
    sk = pytest.importorskip("sklearn.exceptions")
    assert _compat.ConvergenceWarning is sk.ConvergenceWarning


def test_no_convergence_warning_with_enough_distinct_points():
    X, _, _ = blobs(n=300, d=3, k=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flashkmeans.KMeans(3, random_state=0).fit(X)


@pytest.mark.parametrize("init_of, match", [
    (lambda X: X[:2], r"The shape of the initial centers .* does not match the number of clusters"),
    (lambda X: (lambda X_, k, random_state: X_[:2]),
     r"The shape of the initial centers .* does not match the number of clusters"),
    (lambda X: X[:8, :2],
     r"The shape of the initial centers .* does not match the number of features of the data"),
    (lambda X: (lambda X_, k, random_state: X_[:8, :2]),
     r"The shape of the initial centers .* does not match the number of features of the data"),
])
def test_wrong_init_shape_messages(init_of, match):
    """The patterns of scikit-learn's test_wrong_params."""
    X, _, _ = blobs(n=100, d=5, k=8, dtype="float64")
    with pytest.raises(ValueError, match=match):
        flashkmeans.KMeans(8, n_init=1, init=init_of(X)).fit(X)


def test_explicit_init_with_n_init_warns_sklearns_message():
    X, _, _ = blobs(n=100, d=3, k=3)
    with pytest.warns(RuntimeWarning, match="Explicit initial center position passed: performing "
                                            "only one init") as rec:
        km = flashkmeans.KMeans(3, init=X[:3], n_init=5).fit(X)
    assert km._n_init == 1
    assert [w.filename for w in rec if w.category is RuntimeWarning] == [__file__]


def test_k_larger_than_n_is_invalid_argument_error():
    X, _, _ = blobs(n=5, d=3, k=2)
    with pytest.raises(flashkmeans.InvalidArgumentError,
                       match=r"n_samples.* should be >= n_clusters") as e:
        flashkmeans.KMeans(10).fit(X)
    assert isinstance(e.value, ValueError) and isinstance(e.value, flashkmeans.FlashKMeansError)
    assert "k = 10 is larger than the number of points n = 5" in str(e.value)
    assert e.value.status == flashkmeans._lib.FKM_ERR_INVALID_ARG
    km = flashkmeans.KMeans(10)
    with pytest.raises(ValueError):  # scikit-learn's tests catch ValueError
        km.fit(X)
    assert not hasattr(km, "cluster_centers_")  # nothing half-written


# ------------------------------------------------------------------ feature names, set_output
def test_get_feature_names_out():
    """scikit-learn's test_feature_names_out: class-name prefix, one name per cluster."""
    X, _, _ = blobs(n=200, d=4, k=3)
    km = flashkmeans.KMeans(3, random_state=0).fit(X)
    names = km.get_feature_names_out()
    assert names.dtype == object
    assert list(names) == ["kmeans0", "kmeans1", "kmeans2"]
    km.fit_transform(X)
    assert list(km.get_feature_names_out()) == ["kmeans%d" % i for i in range(3)]
    pytest.importorskip("sklearn")
    from sklearn.cluster import KMeans as SkKMeans

    sk = SkKMeans(3, n_init=1, random_state=0).fit(X)
    assert list(sk.get_feature_names_out()) == list(names)
    with pytest.raises(_compat.NotFittedError):
        flashkmeans.KMeans(3).get_feature_names_out()


def test_set_output():
    X, _, _ = blobs(n=200, d=4, k=3)
    km = flashkmeans.KMeans(3, random_state=0)
    assert km.set_output(transform="default") is km
    T = km.fit_transform(X)
    assert isinstance(T, np.ndarray) and T.shape == (200, 3)
    pytest.importorskip("sklearn")
    try:
        import pandas as pd
    except ImportError:
        pd = None
    # Like scikit-learn 1.2's estimators: configuring pandas output needs no pandas; producing it
    # does.
    assert km.set_output(transform="pandas") is km
    if pd is None:
        with pytest.raises(ImportError, match="pandas"):
            km.transform(X)
    else:
        out = km.transform(X)
        assert isinstance(out, pd.DataFrame) and list(out.columns) == ["kmeans0", "kmeans1",
                                                                      "kmeans2"]
    km.set_output(transform="default")
    assert isinstance(km.transform(X), np.ndarray)


# ------------------------------------------------------------------ item 7: rough edges
@pytest.mark.parametrize("verbose", [True, False, np.bool_(True)])
def test_verbose_bool_accepted(verbose, capsys):
    X, _, _ = blobs(n=200, d=3, k=3)
    km = flashkmeans.KMeans(3, random_state=0, verbose=verbose, device="cpu").fit(X)
    assert km.cluster_centers_.shape == (3, 3)
    capsys.readouterr()
    with pytest.raises(ValueError, match="verbose"):
        flashkmeans.KMeans(3, verbose=-1).fit(X)


@pytest.mark.parametrize("init, expected", [("k-means++", 1), ("k-means||", 1), ("random", 10),
                                            ("array", 1), ("callable", 1)])
def test_n_init_auto(init, expected):
    """scikit-learn 1.4's n_init="auto": 1 for k-means++ (and k-means||) or given centres,
    10 for random; checked through _n_init, as scikit-learn's own test does. A callable init is
    called once by flashkmeans (its result is given centres), so "auto" gives it 1 run where
    scikit-learn 1.4 gives 10."""
    X, _, _ = blobs(n=300, d=3, k=3, spread=2.0)
    if init == "array":
        init = X[:3]
    elif init == "callable":
        init = lambda X_, k, random_state: X_[:k]  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Explicit initial center" warning with "auto"
        km = flashkmeans.KMeans(3, n_init="auto", init=init, random_state=0).fit(X)
    assert km._n_init == expected
    assert flashkmeans.KMeans(3, n_init=4, random_state=0).fit(X)._n_init == 4


def test_n_init_auto_random_runs_ten_restarts():
    """n_init="auto" with init="random" is the same fit as n_init=10."""
    X, _, _ = blobs(n=500, d=4, k=6, spread=3.0)
    a = flashkmeans.KMeans(6, n_init="auto", init="random", random_state=5).fit(X)
    b = flashkmeans.KMeans(6, n_init=10, init="random", random_state=5).fit(X)
    c = flashkmeans.KMeans(6, n_init=1, init="random", random_state=5).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_) and a.inertia_ == b.inertia_
    assert a.inertia_ <= c.inertia_


def test_library_warning_points_at_caller_at_every_verbose_level(capsys):
    """A library warning is a Python warning (not only a stderr line) at every verbose level,
    and its filename/lineno are the caller's, not _sklearn.py's or _core.py's."""
    if flashkmeans.cuda_device_count() > 0:
        pytest.skip("a GPU is present: tf32 runs there without a warning")
    X, _, _ = blobs(n=300, d=3, k=3)
    for verbose in (0, 1, 2, True):
        for call in ("fit", "fit_predict", "fit_transform"):
            km = flashkmeans.KMeans(3, random_state=0, precision="tf32", verbose=verbose)
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                getattr(km, call)(X); line = __import__("sys")._getframe().f_lineno  # noqa: E702
            # one from fit (fit_transform: and one from its transform, which also runs in tf32)
            tf32 = [w for w in rec if "tf32" in str(w.message)]
            assert len(tf32) == (2 if call == "fit_transform" else 1), (verbose, call)
            for w in tf32:
                assert w.category is RuntimeWarning
                assert w.filename == __file__ and w.lineno == line, (verbose, call)
        err = capsys.readouterr().err
        assert "tf32" not in err  # the warning is not also printed as a library log line


def test_convergence_warning_points_at_caller():
    X = np.asarray([[0, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    for call in ("fit", "fit_predict", "fit_transform"):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            getattr(flashkmeans.KMeans(4, random_state=0), call)(X)
        conv = [w for w in rec if issubclass(w.category, _compat.ConvergenceWarning)]
        assert len(conv) == 1 and conv[0].filename == __file__, call


def test_faiss_subsample_warning_points_at_caller():
    x, _, _ = blobs(n=2000, d=4, k=4)
    km = flashkmeans.Kmeans(4, 4, niter=3, max_points_per_centroid=50)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        km.train(x)
    sub = [w for w in rec if "sampling" in str(w.message)]
    assert len(sub) == 1 and sub[0].filename == __file__


def test_faiss_verbose_prints_per_iteration_lines(capsys):
    x, _, _ = blobs(n=500, d=4, k=4)
    km = flashkmeans.Kmeans(4, 4, niter=5, verbose=True, seed=3)
    km.train(x)
    out = capsys.readouterr().out
    assert out.startswith("Clustering 500 points in 4D to 4 clusters, redo 1 times, 5 iterations\n")
    lines = [s.strip() for s in out.split("\n")[1].split("\r") if s.strip()]
    assert len(lines) == 5
    for i, (line, obj) in enumerate(zip(lines, km.obj)):
        assert line.startswith("Iteration %d (" % i)
        assert ("objective=%g" % obj) in line and "nsplit=" in line
    quiet = flashkmeans.Kmeans(4, 4, niter=5, seed=3)
    quiet.train(x)
    assert capsys.readouterr().out == ""
    assert np.array_equal(quiet.centroids, km.centroids)  # printing changes nothing


def _int_reference(x, c, niter):
    """FAISS's int_centroids loop in numpy: assign, mean, round (no empty clusters here)."""
    c = np.rint(c.astype(np.float64))
    objs = []
    for _ in range(niter):
        d2 = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
        lab = d2.argmin(1)
        objs.append(d2.min(1).sum())
        c = np.rint(np.stack([x[lab == j].mean(0) for j in range(len(c))]))
    return c, np.array(objs)


def test_faiss_int_centroids():
    x, _, centres = blobs(n=1200, d=3, k=4, spread=1.5)
    x = x * 10
    c0 = x[[0, 1, 2, 3]] + 0.3
    km = flashkmeans.Kmeans(3, 4, niter=6, int_centroids=True)
    obj = km.train(x, init_centroids=c0)
    assert np.array_equal(km.centroids, np.rint(km.centroids))  # integers
    ref_c, ref_obj = _int_reference(x, c0, 6)
    np.testing.assert_array_equal(km.centroids, ref_c.astype(np.float32))
    np.testing.assert_allclose(km.obj, ref_obj, rtol=1e-5)
    assert obj == km.obj[-1] and km.obj.shape == (6,) and len(km.iteration_stats) == 6
    D, I = km.assign(x)
    assert np.array_equal(I, km.labels)
    np.testing.assert_allclose(D, ((x - km.centroids[I]) ** 2).sum(1), rtol=1e-4, atol=1e-2)
    # seeded (no init_centroids) with restarts: integer centroids too, reproducible
    a = flashkmeans.Kmeans(3, 4, niter=5, seed=7, nredo=3, int_centroids=True)
    b = flashkmeans.Kmeans(3, 4, niter=5, seed=7, nredo=3, int_centroids=True)
    a.train(x)
    b.train(x)
    assert np.array_equal(a.centroids, np.rint(a.centroids))
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.obj, b.obj)
    # int_centroids=False is the default and changes nothing
    plain = flashkmeans.Kmeans(3, 4, niter=6, int_centroids=False)
    plain.train(x, init_centroids=c0)
    assert not np.array_equal(plain.centroids, np.rint(plain.centroids))


def test_faiss_int_centroids_refusals():
    x, _, _ = blobs(n=200, d=3, k=3)
    with pytest.raises(ValueError, match="frozen_centroids"):
        flashkmeans.Kmeans(3, 3, int_centroids=True, frozen_centroids=True).train(x, init_centroids=x[:3])
    with pytest.raises(ValueError, match="stop='fixed'"):
        flashkmeans.Kmeans(3, 3, int_centroids=True, stop="shift").train(x)
    with pytest.raises(TypeError, match="unexpected keyword"):
        flashkmeans.Kmeans(3, 3, not_a_faiss_option=1)


def test_faiss_int_centroids_verbose(capsys):
    x, _, _ = blobs(n=300, d=3, k=3)
    km = flashkmeans.Kmeans(3, 3, niter=4, int_centroids=True, verbose=True)
    km.train(x)
    out = capsys.readouterr().out
    lines = [s.strip() for s in out.split("\n")[1].split("\r") if s.strip()]
    assert [line.split(" (")[0] for line in lines] == ["Iteration %d" % i for i in range(4)]
