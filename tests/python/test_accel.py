"""Zero code change (issue 20, item 4): `python3 -m flashkmeans.accel script.py` and
flashkmeans.patch_sklearn() route sklearn.cluster.KMeans to flashkmeans where the call is
supported and to scikit-learn's own class otherwise, one log line per decision.

The script below imports scikit-learn as any program does; it runs in a fresh interpreter under
`python3 -m flashkmeans.accel`, and its results are compared with flashkmeans.KMeans and
scikit-learn's own KMeans run here on the same data and parameters: a routed fit must give
flashkmeans's bits, a fallback fit scikit-learn's."""
import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
import sklearn.exceptions  # noqa: E402
sp = pytest.importorskip("scipy.sparse")

import flashkmeans  # noqa: E402
from flashkmeans import accel  # noqa: E402

SCRIPT = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import scipy.sparse as sp
    from sklearn.cluster import KMeans

    assert __name__ == "__main__"
    out = {"argv": sys.argv[1:], "module": KMeans.__module__}
    X = np.load(sys.argv[1])
    km = KMeans(n_clusters=4, n_init=1, random_state=3).fit(X)
    out["dense"] = dict(labels=km.labels_.tolist(), centres=km.cluster_centers_.tolist(),
                        inertia=km.inertia_, n_iter=km.n_iter_,
                        predict=km.predict(X[:50]).tolist(), score=km.score(X),
                        transform=km.transform(X[:5]).tolist())
    # float64 values beyond float32's range: scikit-learn's own fit
    big = KMeans(n_clusters=4, n_init=1, random_state=3).fit(X * 1e39)
    out["big"] = dict(labels=big.labels_.tolist(), inertia=big.inertia_)
    # a value scikit-learn refuses: its own error
    try:
        KMeans(n_clusters=4, init="k-means||").fit(X)
        out["bad"] = "no error"
    except ValueError as e:
        out["bad"] = type(e).__name__ + ": " + str(e)
    # sparse input
    S = sp.csr_matrix(np.where(X > 0.5, X, 0))
    ks = KMeans(n_clusters=4, n_init=1, random_state=3).fit(S)
    out["sparse"] = dict(labels=ks.labels_.tolist(), inertia=ks.inertia_)
    json.dump(out, open(sys.argv[2], "w"))
""")


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [os.path.dirname(os.path.dirname(flashkmeans.__file__)),
                                                    env.get("PYTHONPATH")] if p)
    env["FKM_LIBRARY"] = flashkmeans.library_path
    return env


def _data():
    rng = np.random.RandomState(7)
    return np.concatenate([rng.randn(300, 5) + c for c in (0, 6, -6, 12)])  # float64


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accel")
    (tmp / "script.py").write_text(SCRIPT)
    np.save(tmp / "x.npy", _data())
    res = subprocess.run([sys.executable, "-m", "flashkmeans.accel", "script.py", "x.npy", "out.json"],
                         cwd=str(tmp), env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads((tmp / "out.json").read_text()), res.stderr.splitlines()


def test_script_sees_the_routing_class_and_its_arguments(ran):
    out, _ = ran
    assert out["argv"] == ["x.npy", "out.json"]
    assert out["module"] == "flashkmeans.accel"


def test_one_log_line_per_fit_decision(ran):
    _, lines = ran
    fits = [line for line in lines if "KMeans.fit:" in line]
    assert len(fits) == 4, lines
    assert fits[0].startswith("flashkmeans.accel: KMeans.fit: flashkmeans (float64 1200x5, k=4,"), fits
    assert "scikit-learn (X has float64 values beyond float32's range" in fits[1], fits
    assert "scikit-learn (invalid parameters for scikit-learn (The 'init' parameter" in fits[2], fits
    expect = "flashkmeans (float64 csr 1200x5" if getattr(flashkmeans._sklearn, "SPARSE_INPUT", False) \
        else "scikit-learn (X is a scipy sparse matrix"
    assert expect in fits[3], fits
    # INFO only by default: predict/transform/score decisions are DEBUG lines
    assert not [line for line in lines if "KMeans.predict" in line], lines


def test_routed_fit_is_flashkmeans(ran):
    out, _ = ran
    X = _data()
    fk = flashkmeans.KMeans(n_clusters=4, n_init=1, random_state=3, tol=1e-4 / 4).fit(X)
    d = out["dense"]
    assert d["labels"] == fk.labels_.tolist()
    assert np.array_equal(np.asarray(d["centres"]), fk.cluster_centers_)
    assert d["inertia"] == fk.inertia_ and d["n_iter"] == fk.n_iter_
    assert d["predict"] == fk.predict(X[:50]).tolist()
    assert d["score"] == fk.score(X)
    assert np.array_equal(np.asarray(d["transform"]), fk.transform(X[:5]))


def test_fallback_fits_are_scikit_learns(ran):
    out, _ = ran
    X = _data()
    sk = accel._SkKMeans(n_clusters=4, n_init=1, random_state=3).fit(X * 1e39)
    assert out["big"]["labels"] == sk.labels_.tolist()
    # scikit-learn's float64 sums: last bits vary with its OpenMP threads' chunks, run to run
    assert out["big"]["inertia"] == pytest.approx(sk.inertia_, rel=1e-12)
    assert out["bad"].startswith("InvalidParameterError: The 'init' parameter of KMeans"), out["bad"]


def test_sparse_fit(ran):
    out, _ = ran
    X = _data()
    S = sp.csr_matrix(np.where(X > 0.5, X, 0))
    if getattr(flashkmeans._sklearn, "SPARSE_INPUT", False):
        ref = flashkmeans.KMeans(n_clusters=4, n_init=1, random_state=3, tol=1e-4 / 4).fit(S)
    else:
        ref = accel._SkKMeans(n_clusters=4, n_init=1, random_state=3).fit(S)
    assert out["sparse"]["labels"] == ref.labels_.tolist()
    assert out["sparse"]["inertia"] == pytest.approx(ref.inertia_, rel=1e-12)


def test_usage_and_quiet(tmp_path):
    res = subprocess.run([sys.executable, "-m", "flashkmeans.accel"], env=_env(), capture_output=True, text=True)
    assert res.returncode == 2 and "usage: python3 -m flashkmeans.accel" in res.stderr
    (tmp_path / "s.py").write_text("import numpy as np\nfrom sklearn.cluster import KMeans\n"
                                   "KMeans(2, n_init=1).fit(np.random.rand(50, 2))\n")
    res = subprocess.run([sys.executable, "-m", "flashkmeans.accel", "-q", "s.py"], cwd=str(tmp_path),
                         env=_env(), capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    res = subprocess.run([sys.executable, "-m", "flashkmeans.accel", "-v", "s.py"], cwd=str(tmp_path),
                         env=_env(), capture_output=True, text=True)
    assert "KMeans.fit: flashkmeans" in res.stderr, res.stderr


def test_patch_and_unpatch_in_process(caplog):
    import sklearn.cluster

    original = sklearn.cluster.KMeans
    assert original is accel._SkKMeans
    flashkmeans.patch_sklearn()
    try:
        flashkmeans.patch_sklearn()  # idempotent
        K = sklearn.cluster.KMeans
        assert K is accel.KMeans and issubclass(K, original) and accel.is_patched()
        assert K().get_params() == original().get_params()
        X = _data().astype(np.float32)
        with caplog.at_level(logging.DEBUG, logger="flashkmeans.accel"):
            km = K(n_clusters=4, n_init=1, random_state=0).fit(X)
            labels = km.predict(X)
            with pytest.warns(sklearn.exceptions.ConvergenceWarning):  # scikit-learn's, as for it
                fb = K(n_clusters=4, n_init=1, random_state=0).fit(X, sample_weight=-np.ones(len(X)))
        msgs = [r.getMessage() for r in caplog.records if r.name == "flashkmeans.accel"]
        assert msgs[0].startswith("KMeans.fit: flashkmeans (float32 1200x5"), msgs
        assert msgs[1] == "KMeans.predict: flashkmeans (float32 1200x5)", msgs
        assert msgs[2] == "KMeans.fit: scikit-learn (negative sample_weight (flashkmeans refuses them))", msgs
        assert len(msgs) == 3, msgs
        assert [r.levelname for r in caplog.records if r.name == "flashkmeans.accel"] == ["INFO", "DEBUG", "INFO"]
        assert np.array_equal(labels, km.labels_) and labels.dtype == np.int32
        assert fb._flashkmeans is None and fb.cluster_centers_.shape == (4, 5)
        back = pickle.loads(pickle.dumps(km))
        assert type(back) is accel.KMeans and np.array_equal(back.predict(X), labels)
        assert type(sklearn.base.clone(km)) is accel.KMeans
    finally:
        flashkmeans.unpatch_sklearn()
    assert sklearn.cluster.KMeans is original and not accel.is_patched()
    import sklearn.cluster._kmeans

    assert sklearn.cluster._kmeans.KMeans is original
    flashkmeans.unpatch_sklearn()  # no-op
    assert sklearn.cluster.KMeans is original
