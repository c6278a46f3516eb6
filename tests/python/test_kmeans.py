"""flashkmeans.KMeans: results, dtypes, memory layout, parameters, sklearn agreement."""
import pickle
import warnings

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _arrays, _core, _lib
from conftest import blobs


def ari(a, b):
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(a, b)


def test_recovers_blobs():
    X, y, _ = blobs(n=2000, d=16, k=7)
    km = flashkmeans.KMeans(7, random_state=3).fit(X)
    pytest.importorskip("sklearn")
    assert ari(km.labels_, y) == 1.0
    assert km.cluster_centers_.shape == (7, 16) and km.cluster_centers_.dtype == np.float32
    assert km.labels_.dtype == np.int32 and km.labels_.shape == (2000,)
    assert 1 <= km.n_iter_ <= 300 and km.n_features_in_ == 16
    assert km.stop_reason_ == "converged" and km.device_ in ("cpu", "cuda")
    assert len(km.iteration_stats_) == km.n_iter_
    # inertia_ describes the final centres and labels, within the fp32 contract's margin
    # (|x|^2 - 2 x.c + |c|^2 in fp32: error ~1e-6 * (|x|^2 + |c|^2) per point)
    C = km.cluster_centers_[km.labels_].astype(np.float64)
    d2 = ((X - C) ** 2).sum()
    margin = 2e-6 * ((X.astype(np.float64) ** 2).sum() + (C ** 2).sum())
    assert km.inertia_ == pytest.approx(d2, abs=margin)


def test_iteration_stats_keys_and_rescored_zero_on_cpu():
    """Every per-iteration dict carries the same keys; `rescored` (GPU certified-pass fallbacks)
    is an int and always 0 on the CPU engine (exact fp32 scoring: nothing to re-score)."""
    X, _, _ = blobs(n=1500, d=8, k=5)
    keys = {"obj", "inertia", "shift", "empty", "changed", "rescored", "ms"}
    for stop in ("shift", "fixed"):
        km = flashkmeans.KMeans(5, random_state=1, device="cpu", stop=stop, max_iter=12).fit(X)
        assert km.device_ == "cpu" and len(km.iteration_stats_) == km.n_iter_ >= 1
        for s in km.iteration_stats_:
            assert set(s) == keys
            assert type(s["rescored"]) is int and s["rescored"] == 0
        assert km.iteration_stats_[0]["changed"] == 1500
    km = flashkmeans.Kmeans(8, 5, niter=4, seed=2)
    km.train(X)
    assert [s["rescored"] for s in km.iteration_stats] == [0, 0, 0, 0]
    assert all(type(s["rescored"]) is int for s in km.iteration_stats)


def test_same_fixed_point_as_sklearn():
    """From the same initial centres, Lloyd in flashkmeans and in scikit-learn converge to the
    same partition and (to float32 accuracy) the same centres."""
    sk = pytest.importorskip("sklearn.cluster")
    X, _, _ = blobs(n=3000, d=10, k=12, spread=2.0, dtype="float64")
    c0 = X[np.random.RandomState(1).choice(len(X), 12, replace=False)]
    ours = flashkmeans.KMeans(12, init=c0, tol=0, max_iter=1000).fit(X)
    ref = sk.KMeans(12, init=c0, n_init=1, tol=0, max_iter=1000, algorithm="lloyd").fit(X)
    assert np.array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-5, atol=1e-5)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-6)
    np.testing.assert_allclose(ours.transform(X), ref.transform(X), rtol=1e-4, atol=1e-4)
    assert ours.score(X) == pytest.approx(ref.score(X), rel=1e-6)


def test_methods_agree():
    X, _, _ = blobs(n=500, d=6, k=4)
    km = flashkmeans.KMeans(4, random_state=0)
    labels = km.fit_predict(X)
    assert np.array_equal(labels, km.labels_)
    assert np.array_equal(km.predict(X), km.labels_)
    T = km.transform(X)
    ref = np.sqrt(((X[:, None, :].astype(np.float64) - km.cluster_centers_[None]) ** 2).sum(-1))
    np.testing.assert_allclose(T, ref, rtol=1e-4, atol=1e-3)
    assert np.array_equal(T.argmin(1), km.labels_)
    np.testing.assert_allclose(km.fit_transform(X), T)
    assert km.score(X) == pytest.approx(-km.inertia_, rel=1e-6)
    w = np.linspace(0.5, 2, len(X))
    assert km.score(X, sample_weight=w) == pytest.approx(
        -(w * (ref[np.arange(len(X)), km.labels_] ** 2)).sum(), rel=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "uint8"])
def test_input_dtypes_pass_through(dtype):
    """The four numpy types the C API reads are handed over without conversion (same buffer)."""
    X, _, _ = blobs(n=400, d=5, k=3)
    X = (X - X.min()) * (10 if dtype == "uint8" else 1)
    Xt = X.astype(dtype)
    hm = _arrays.host_matrix(Xt)
    assert hm.array is Xt and hm.ptr == Xt.__array_interface__["data"][0]
    km = flashkmeans.KMeans(3, random_state=1).fit(Xt)
    # the same values given as float32 give the same clustering, bit for bit
    ref = flashkmeans.KMeans(3, random_state=1).fit(Xt.astype(np.float32))
    assert np.array_equal(km.labels_, ref.labels_)
    assert np.array_equal(km.cluster_centers_.astype(np.float32), ref.cluster_centers_)
    out = np.float64 if dtype == "float64" else np.float32
    assert km.cluster_centers_.dtype == out and km.transform(Xt).dtype == out


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_other_numeric_types_are_converted(dtype):
    X = (np.random.RandomState(0).rand(100, 3) * 50).astype(dtype)
    km = flashkmeans.KMeans(3, random_state=0).fit(X)
    assert km.cluster_centers_.shape == (3, 3)


def test_bfloat16_bits():
    """bfloat16 travels as its bits (uint16 + FKM_BF16): values exactly representable in bf16
    must cluster exactly as the same values in float32."""
    X, _, _ = blobs(n=300, d=4, k=3)
    bits = (X.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    exact = (bits.astype(np.uint32) << 16).view(np.float32)
    hm = _arrays.HostMatrix(np.ascontiguousarray(bits), _lib.FKM_BF16, None)
    p = _core.make_params(3, seed=2)
    r = _core.fit(p, hm)
    ref = flashkmeans.KMeans(3, random_state=2).fit(exact)
    assert np.array_equal(r.labels, ref.labels_) and np.array_equal(r.centroids, ref.cluster_centers_)


def test_bfloat16_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    X, _, _ = blobs(n=300, d=4, k=3)
    Xb = X.astype(ml_dtypes.bfloat16)
    km = flashkmeans.KMeans(3, random_state=2).fit(Xb)
    ref = flashkmeans.KMeans(3, random_state=2).fit(Xb.astype(np.float32))
    assert np.array_equal(km.labels_, ref.labels_)


def test_layouts_f_order_and_strided():
    X, _, _ = blobs(n=500, d=7, k=4)
    ref = flashkmeans.KMeans(4, random_state=5).fit(X)
    F = np.asfortranarray(X)
    strided = np.zeros((500, 14), np.float32)[:, ::2]
    strided[:] = X
    for Y in (F, strided, X.tolist()):
        km = flashkmeans.KMeans(4, random_state=5).fit(Y)
        assert np.array_equal(km.labels_, ref.labels_)
        assert np.array_equal(km.cluster_centers_, ref.cluster_centers_)
    hm = _arrays.host_matrix(F)
    assert hm.array.flags.c_contiguous and not np.shares_memory(hm.array, F)


def test_readonly_and_memmap(tmp_path):
    X, _, _ = blobs(n=300, d=3, k=3)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    km = flashkmeans.KMeans(3, random_state=0).fit(mm)
    assert np.array_equal(km.labels_, flashkmeans.KMeans(3, random_state=0).fit(X).labels_)


def test_random_state():
    X, _, _ = blobs(n=1000, d=4, k=10, spread=3.0)
    a = flashkmeans.KMeans(10, random_state=7).fit(X)
    b = flashkmeans.KMeans(10, random_state=7).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)  # bitwise reproducible
    rs = np.random.RandomState(0)
    c = flashkmeans.KMeans(10, random_state=rs).fit(X)
    d = flashkmeans.KMeans(10, random_state=rs).fit(X)  # generator advanced: another seed
    assert not np.array_equal(c.cluster_centers_, d.cluster_centers_)
    seeds = {flashkmeans._compat.seed_from(None) for _ in range(5)}
    assert len(seeds) == 5
    with pytest.raises(ValueError):
        flashkmeans.KMeans(10, random_state=-1).fit(X)


def test_thread_count_does_not_change_results():
    X, _, _ = blobs(n=3000, d=9, k=20, spread=4.0)
    r1 = flashkmeans.KMeans(20, random_state=1, n_threads=1).fit(X)
    r2 = flashkmeans.KMeans(20, random_state=1, n_threads=2).fit(X)
    assert np.array_equal(r1.cluster_centers_, r2.cluster_centers_)
    assert np.array_equal(r1.labels_, r2.labels_)


def test_init_array_callable_and_restarts():
    X, _, _ = blobs(n=600, d=3, k=4, spread=2.0, dtype="float64")
    c0 = X[:4].copy()
    keep = c0.copy()
    km = flashkmeans.KMeans(4, init=c0, max_iter=0).fit(X)
    assert np.array_equal(c0, keep)  # the user's array is not modified
    np.testing.assert_array_equal(km.cluster_centers_, c0.astype(np.float32))
    assert km.n_iter_ == 0
    with pytest.warns(RuntimeWarning, match="only one init"):
        flashkmeans.KMeans(4, init=c0, n_init=3).fit(X)
    with pytest.raises(ValueError, match="shape of the initial centers"):
        flashkmeans.KMeans(5, init=c0).fit(X)
    calls = []

    def my_init(data, k, rs):
        calls.append((data.shape, k))
        return data[-k:]

    km = flashkmeans.KMeans(4, init=my_init, max_iter=0).fit(X)
    assert calls == [((600, 3), 4)]
    np.testing.assert_array_equal(km.cluster_centers_, X[-4:].astype(np.float32))
    best = flashkmeans.KMeans(4, n_init=5, init="random", random_state=3).fit(X)
    singles = [flashkmeans.KMeans(4, n_init=1, init="random", random_state=3).fit(X).inertia_]
    assert best.inertia_ <= singles[0] + 1e-9


@pytest.mark.parametrize("stop", ["shift", "inertia", "labels", "fixed"])
def test_stop_rules(stop):
    X, _, _ = blobs(n=500, d=4, k=5, spread=3.0)
    km = flashkmeans.KMeans(5, random_state=0, stop=stop, max_iter=40).fit(X)
    if stop == "fixed":
        assert km.n_iter_ == 40 and km.stop_reason_ == "max_iter"
    else:
        assert km.n_iter_ < 40 and km.stop_reason_ == "converged"


def test_unit_weights_equal_no_weights():
    X, _, _ = blobs(n=800, d=5, k=6, spread=3.0)
    a = flashkmeans.KMeans(6, random_state=4).fit(X)
    b = flashkmeans.KMeans(6, random_state=4).fit(X, sample_weight=np.ones(len(X)))
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_, b.labels_)


def test_integer_weights_equal_repeated_rows():
    X, _, _ = blobs(n=300, d=3, k=3, spread=2.0, dtype="float64")
    w = np.random.RandomState(0).randint(1, 4, size=len(X))
    c0 = X[:3]
    a = flashkmeans.KMeans(3, init=c0, tol=0).fit(X, sample_weight=w)
    b = flashkmeans.KMeans(3, init=c0, tol=0).fit(np.repeat(X, w, axis=0))
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-5, atol=1e-6)
    assert a.inertia_ == pytest.approx(b.inertia_, rel=1e-5)


def test_metrics():
    X, _, _ = blobs(n=500, d=6, k=4)
    cos = flashkmeans.KMeans(4, metric="cosine", random_state=0).fit(X)
    np.testing.assert_allclose(np.linalg.norm(cos.cluster_centers_, axis=1), 1, rtol=1e-5)
    T = cos.transform(X)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_allclose(T, 1 - Xn @ cos.cluster_centers_.T, atol=1e-5)
    ip = flashkmeans.KMeans(4, metric="ip", random_state=0).fit(X)
    np.testing.assert_allclose(ip.transform(X), -X @ ip.cluster_centers_.T, rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError, match="metric must be one of"):
        flashkmeans.KMeans(4, metric="manhattan").fit(X)


def test_pickle_and_params():
    X, _, _ = blobs(n=300, d=3, k=3)
    km = flashkmeans.KMeans(3, random_state=0, device="cpu", n_threads=1).fit(X)
    km2 = pickle.loads(pickle.dumps(km))
    assert np.array_equal(km2.predict(X), km.predict(X))
    assert km.get_params()["device"] == "cpu"
    km.set_params(n_clusters=2)
    assert km.n_clusters == 2


def test_verbose_logs_to_stderr(capsys):
    X, _, _ = blobs(n=300, d=3, k=3)
    flashkmeans.KMeans(3, random_state=0, verbose=3, max_iter=2, stop="fixed", device="cpu").fit(X)
    err = capsys.readouterr().err
    assert "[flashkmeans]" in err and "iter 1" in err
    flashkmeans.KMeans(3, random_state=0).fit(X)
    assert capsys.readouterr().err == ""


def test_library_warning_becomes_python_warning():
    if flashkmeans.cuda_device_count() > 0:
        pytest.skip("a GPU is present: tf32 runs there without a warning")
    X, _, _ = blobs(n=300, d=3, k=3)
    with pytest.warns(RuntimeWarning, match="tf32"):
        km = flashkmeans.KMeans(3, random_state=0, precision="tf32").fit(X)
    assert km.precision_ == "exact"


def test_parameters_are_validated_at_fit():
    X, _, _ = blobs(n=50, d=3, k=3)
    bad = [dict(n_clusters=0), dict(n_clusters=2.5), dict(max_iter=-1), dict(tol=-1.0),
           dict(n_init=0), dict(init="kmeans||"), dict(precision="fp8"), dict(device="tpu"),
           dict(stop="never"), dict(n_threads=-2), dict(n_clusters=51)]
    for kw in bad:
        with pytest.raises(ValueError):
            flashkmeans.KMeans(**dict(dict(n_clusters=3), **kw)).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flashkmeans.KMeans(3, random_state=0).fit(X)  # no warning on the normal path


def test_not_fitted():
    from flashkmeans._compat import NotFittedError

    with pytest.raises(NotFittedError):
        flashkmeans.KMeans(3).predict(np.zeros((3, 2)))


def test_results_are_views_of_library_memory_and_freed():
    """fit's labels and centroids are the library's own arrays (no copy); they stay valid while
    referenced and are freed (fkm_result_free) when the last reference goes."""
    import gc
    import weakref

    from flashkmeans import _core

    X, _, _ = blobs(n=1000, d=4, k=3)
    r = _core.fit(_core.make_params(3, seed=1), _arrays.host_matrix(X))
    owner = r.labels.base.owner
    assert isinstance(owner, _core._OwnedResult) and r.centroids.base.owner is owner
    assert r.labels.ctypes.data == _core.ctypes.cast(owner.r.labels, _core.ctypes.c_void_p).value
    labels = r.labels.copy()
    ref = weakref.ref(owner)
    del owner
    km = flashkmeans.KMeans(3, random_state=1).fit(X)
    assert np.array_equal(km.labels_, labels)
    del r
    gc.collect()
    assert ref() is None  # freed once no array refers to it


def test_pipeline_and_grid_search():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, _ = blobs(n=600, d=4, k=4, spread=1.0)
    pipe = make_pipeline(StandardScaler(), flashkmeans.KMeans(random_state=0))
    gs = GridSearchCV(pipe, {"kmeans__n_clusters": [2, 4, 8]}, cv=3).fit(X)
    assert gs.best_params_["kmeans__n_clusters"] == 8  # -inertia only grows with k
    assert gs.predict(X).shape == (600,)
