"""Zero code change for MiniBatchKMeans (issue 20, item 4; issue 22, item 3):
`python3 -m flashkmeans.accel script.py` and flashkmeans.patch_sklearn() route
sklearn.cluster.MiniBatchKMeans to flashkmeans.MiniBatchKMeans where the call is supported and
to scikit-learn's own class otherwise, one log line per decision.

The script imports scikit-learn as any program does and runs in a fresh interpreter under
`python3 -m flashkmeans.accel`; its results are compared with flashkmeans.MiniBatchKMeans and
scikit-learn's own MiniBatchKMeans run here on the same data and parameters: a routed fit or
partial_fit sequence must give flashkmeans's bits, a fallback scikit-learn's. A partial_fit
sequence stays with the library its first call went to (the state lives there)."""
import json
import logging
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
sp = pytest.importorskip("scipy.sparse")

import flashkmeans  # noqa: E402
from flashkmeans import accel  # noqa: E402
from test_accel import _env  # noqa: E402

SCRIPT = textwrap.dedent(r"""
    import json, sys
    import numpy as np
    import scipy.sparse as sp
    from sklearn.cluster import MiniBatchKMeans

    out = {"module": MiniBatchKMeans.__module__}
    X = np.load(sys.argv[1])
    P = dict(n_clusters=4, n_init=1, random_state=3, batch_size=100)

    def res(m):
        return dict(labels=m.labels_.tolist(), centres=m.cluster_centers_.tolist(),
                    inertia=m.inertia_, n_steps=m.n_steps_, counts=m._counts.tolist())

    m = MiniBatchKMeans(**P).fit(X)
    out["fit"] = dict(res(m), n_iter=m.n_iter_, predict=m.predict(X[:50]).tolist(),
                      score=m.score(X), transform=m.transform(X[:5]).tolist())
    # a partial_fit sequence, routed: every call to flashkmeans
    m = MiniBatchKMeans(**P)
    for i in range(4):
        m.partial_fit(X[300 * i:300 * (i + 1)])
    out["partial"] = res(m)
    # a sequence whose first call scikit-learn takes (negative weights): it stays there
    m = MiniBatchKMeans(**P)
    m.partial_fit(X[:300], sample_weight=np.full(300, -1.0))
    for i in range(1, 4):
        m.partial_fit(X[300 * i:300 * (i + 1)])
    out["partial_sk"] = res(m)
    # float64 values beyond float32's range: scikit-learn's own fit
    big = MiniBatchKMeans(**P).fit(X * 1e39)
    out["big"] = dict(labels=big.labels_.tolist(), inertia=big.inertia_)
    # a value scikit-learn refuses: its own error
    try:
        MiniBatchKMeans(n_clusters=4, init="k-means||").fit(X)
        out["bad"] = "no error"
    except ValueError as e:
        out["bad"] = type(e).__name__ + ": " + str(e)
    # sparse input
    S = sp.csr_matrix(np.where(X > 0.5, X, 0))
    out["sparse"] = res(MiniBatchKMeans(**P).fit(S))
    json.dump(out, open(sys.argv[2], "w"))
""")

P = dict(n_clusters=4, n_init=1, random_state=3, batch_size=100)


def _data():
    rng = np.random.RandomState(7)
    return np.concatenate([rng.randn(300, 5) + c for c in (0, 6, -6, 12)])  # float64


def _res(m):
    return dict(labels=m.labels_.tolist(), centres=np.asarray(m.cluster_centers_),
                inertia=m.inertia_, n_steps=m.n_steps_,
                counts=np.asarray(getattr(m, "counts_", None) if hasattr(m, "counts_") else m._counts))


def _same(got, ref, exact=True):
    assert got["labels"] == ref["labels"]
    assert got["n_steps"] == ref["n_steps"]
    if exact:
        assert np.array_equal(np.asarray(got["centres"]), ref["centres"])
        assert np.array_equal(np.asarray(got["counts"]), ref["counts"])
        assert got["inertia"] == ref["inertia"]
    else:  # scikit-learn's float64 sums: last bits vary with its OpenMP threads' chunks
        assert np.allclose(np.asarray(got["centres"]), ref["centres"], rtol=1e-12, atol=0)
        assert np.allclose(np.asarray(got["counts"]), ref["counts"], rtol=1e-12, atol=0)
        assert got["inertia"] == pytest.approx(ref["inertia"], rel=1e-12)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("accel_mb")
    (tmp / "script.py").write_text(SCRIPT)
    np.save(tmp / "x.npy", _data())
    res = subprocess.run([sys.executable, "-m", "flashkmeans.accel", "script.py", "x.npy", "out.json"],
                         cwd=str(tmp), env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads((tmp / "out.json").read_text()), res.stderr.splitlines()


def test_script_sees_the_routing_class(ran):
    assert ran[0]["module"] == "flashkmeans.accel"


def test_log_lines(ran):
    _, lines = ran
    ours = [line for line in lines if line.startswith("flashkmeans.accel: MiniBatchKMeans.")]
    assert len(ours) == 6, lines  # fit, first partial_fit x2, big, bad, sparse: later calls are DEBUG
    assert ours[0].startswith("flashkmeans.accel: MiniBatchKMeans.fit: flashkmeans (float64 1200x5, k=4, cpu,"), ours
    assert ours[1] == ("flashkmeans.accel: MiniBatchKMeans.partial_fit: flashkmeans (float64 300x5, k=4, "
                       "cpu; later partial_fit calls stay with flashkmeans)"), ours
    assert ours[2] == ("flashkmeans.accel: MiniBatchKMeans.partial_fit: scikit-learn (negative "
                       "sample_weight (flashkmeans refuses them))"), ours
    assert "MiniBatchKMeans.fit: scikit-learn (X has float64 values beyond float32's range" in ours[3], ours
    assert "MiniBatchKMeans.fit: scikit-learn (invalid parameters for scikit-learn (The 'init' parameter" in ours[4], ours
    assert ours[5].startswith("flashkmeans.accel: MiniBatchKMeans.fit: flashkmeans (float64 csr 1200x5"), ours


def test_routed_fit_is_flashkmeans(ran):
    out, _ = ran
    X = _data()
    fk = flashkmeans.MiniBatchKMeans(**P).fit(X)
    d = out["fit"]
    _same(d, _res(fk))
    assert d["n_iter"] == fk.n_iter_
    assert d["predict"] == fk.predict(X[:50]).tolist()
    assert d["score"] == fk.score(X)
    assert np.array_equal(np.asarray(d["transform"]), fk.transform(X[:5]))
    S = sp.csr_matrix(np.where(X > 0.5, X, 0))
    _same(out["sparse"], _res(flashkmeans.MiniBatchKMeans(**P).fit(S)))


def test_partial_fit_sequences_stay_on_one_library(ran):
    out, _ = ran
    X = _data()
    fk = flashkmeans.MiniBatchKMeans(**P)
    for i in range(4):
        fk.partial_fit(X[300 * i:300 * (i + 1)])
    _same(out["partial"], _res(fk))
    sk = accel._SkMiniBatchKMeans(**P)
    sk.partial_fit(X[:300], sample_weight=np.full(300, -1.0))
    for i in range(1, 4):
        sk.partial_fit(X[300 * i:300 * (i + 1)])
    _same(out["partial_sk"], _res(sk), exact=False)


def test_fallback_fit_is_scikit_learns(ran):
    out, _ = ran
    sk = accel._SkMiniBatchKMeans(**P).fit(_data() * 1e39)
    assert out["big"]["labels"] == sk.labels_.tolist()
    assert out["big"]["inertia"] == pytest.approx(sk.inertia_, rel=1e-12)
    assert out["bad"].startswith("InvalidParameterError: The 'init' parameter of MiniBatchKMeans"), out["bad"]


def _msgs(caplog):
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "flashkmeans.accel"]


def test_patch_and_unpatch_in_process(caplog):
    import sklearn.cluster
    import sklearn.cluster._kmeans

    original = sklearn.cluster.MiniBatchKMeans, sklearn.cluster.KMeans
    assert original == (accel._SkMiniBatchKMeans, accel._SkKMeans)
    flashkmeans.patch_sklearn()
    try:
        flashkmeans.patch_sklearn()  # idempotent
        M = sklearn.cluster.MiniBatchKMeans
        assert M is accel.MiniBatchKMeans and sklearn.cluster._kmeans.MiniBatchKMeans is M
        assert sklearn.cluster.KMeans is accel.KMeans and accel.is_patched()
        assert issubclass(M, original[0]) and M().get_params() == original[0]().get_params()
        X = _data().astype(np.float32)
        with caplog.at_level(logging.DEBUG, logger="flashkmeans.accel"):
            m = M(**P).fit(X)
            labels = m.predict(X)
        assert _msgs(caplog)[0][0] == "INFO" and _msgs(caplog)[0][1].startswith(
            "MiniBatchKMeans.fit: flashkmeans (float32 1200x5, k=4, cpu,"), _msgs(caplog)
        assert _msgs(caplog)[1] == ("DEBUG", "MiniBatchKMeans.predict: flashkmeans (float32 1200x5)")
        assert np.array_equal(labels, m.labels_) and labels.dtype == np.int32
        back = pickle.loads(pickle.dumps(m))
        assert type(back) is accel.MiniBatchKMeans and np.array_equal(back.predict(X), labels)
        assert type(sklearn.base.clone(m)) is accel.MiniBatchKMeans
        # partial_fit after a flashkmeans fit goes on from its state, in flashkmeans
        ref = flashkmeans.MiniBatchKMeans(**P).fit(X).partial_fit(X[:200])
        m.partial_fit(X[:200])
        assert np.array_equal(m.cluster_centers_, ref.cluster_centers_) and m.n_steps_ == ref.n_steps_
        # centres set by hand: scikit-learn's predict on them
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="flashkmeans.accel"):
            m.cluster_centers_ = m.cluster_centers_[::-1].copy()
            assert np.array_equal(m.predict(X), 3 - ref.predict(X))
        assert _msgs(caplog) == [("DEBUG", "MiniBatchKMeans.predict: scikit-learn "
                                           "(cluster_centers_ set since flashkmeans fitted)")]
    finally:
        flashkmeans.unpatch_sklearn()
    assert (sklearn.cluster.MiniBatchKMeans, sklearn.cluster.KMeans) == original
    assert sklearn.cluster._kmeans.MiniBatchKMeans is original[0] and not accel.is_patched()
    flashkmeans.unpatch_sklearn()  # no-op
    assert sklearn.cluster.MiniBatchKMeans is original[0]


def test_partial_fit_hand_over(caplog):
    """A later partial_fit that flashkmeans cannot take hands the state to scikit-learn: the
    step is scikit-learn's from flashkmeans's centres, counts and RandomState, and the calls
    after it stay with scikit-learn."""
    X = _data()
    w = np.full(300, -1.0)
    fk = flashkmeans.MiniBatchKMeans(**P)
    fk.partial_fit(X[:300]).partial_fit(X[300:600])
    ref = accel._SkMiniBatchKMeans(**P)
    ref.cluster_centers_ = fk.cluster_centers_.copy()
    ref._counts = fk.counts_.copy()
    ref._random_state = fk._random_state
    ref._n_since_last_reassign, ref._batch_size = fk._n_since_last_reassign, fk._batch_size
    ref.n_steps_, ref.n_features_in_, ref._n_threads = fk.n_steps_, 5, 1
    ref.partial_fit(X[600:900], sample_weight=w).partial_fit(X[900:])
    m = accel.MiniBatchKMeans(**P)
    with caplog.at_level(logging.DEBUG, logger="flashkmeans.accel"):
        m.partial_fit(X[:300]).partial_fit(X[300:600])
        m.partial_fit(X[600:900], sample_weight=w).partial_fit(X[900:])
    msgs = _msgs(caplog)
    assert [lv for lv, _ in msgs] == ["INFO", "DEBUG", "INFO", "DEBUG"], msgs
    assert msgs[2][1] == ("MiniBatchKMeans.partial_fit: scikit-learn (negative sample_weight "
                          "(flashkmeans refuses them); flashkmeans's state handed over, later "
                          "partial_fit calls stay with scikit-learn)")
    assert msgs[3][1] == "MiniBatchKMeans.partial_fit: scikit-learn (its state)"
    assert m._flashkmeans is None and m.n_steps_ == 4 == ref.n_steps_
    assert np.allclose(m.cluster_centers_, ref.cluster_centers_, rtol=1e-12, atol=0)
    assert np.allclose(m._counts, ref._counts, rtol=1e-12, atol=0)
    assert m.labels_.tolist() == ref.labels_.tolist()


def test_cuda_tensor_is_scikit_learns():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    X = torch.rand(100, 3, device="cuda")
    assert "CUDA tensor" in accel.unsupported_minibatch(accel.MiniBatchKMeans(2, n_init=1), X)


PLUGIN = textwrap.dedent(r'''
    # patched before scikit-learn's test module imports KMeans and MiniBatchKMeans
    import collections, logging
    import flashkmeans
    from flashkmeans import accel

    flashkmeans.patch_sklearn()
    DECISIONS = collections.Counter()


    class _Count(logging.Handler):
        def emit(self, record):
            m = record.getMessage()
            DECISIONS[m.split(": ")[0] + ": " + m.split(": ")[1].split(" ")[0]] += 1


    accel.log.addHandler(_Count())
    accel.log.setLevel(logging.DEBUG)
    accel.log.propagate = False


    def pytest_collection_finish(session):
        import sys
        mod = sys.modules["sklearn.cluster.tests.test_k_means"]
        assert mod.KMeans is accel.KMeans and mod.MiniBatchKMeans is accel.MiniBatchKMeans


    def pytest_terminal_summary(terminalreporter):
        for k, v in sorted(DECISIONS.items()):
            terminalreporter.write_line("decision %s %d" % (k, v))
''')


def test_sklearn_suite_against_the_patched_classes(tmp_path):
    """scikit-learn's own test_k_means.py, unmodified and whole (nothing deselected: its tests
    of private helpers run too, on scikit-learn's code), with sklearn.cluster patched before it
    is imported: every test passes, and the estimators' fits go to flashkmeans."""
    import sklearn_suite

    if not sklearn_suite.supported():
        pytest.skip("scikit-learn %s: the suite is checked for %sx" % (sklearn.__version__, sklearn_suite.SUPPORTED))
    (tmp_path / "accel_patch_plugin.py").write_text(PLUGIN)
    env = _env()
    env["PYTHONPATH"] = str(tmp_path) + ":" + env["PYTHONPATH"]
    env["SKLEARN_RUN_FLOAT32_TESTS"] = "1"
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "accel_patch_plugin", "-p",
                          "no:cacheprovider", "--pyargs", "sklearn.cluster.tests.test_k_means"],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    tail = res.stdout.strip().splitlines()[-1]
    assert res.returncode == 0 and " passed" in tail and "failed" not in tail and "error" not in tail, res.stdout[-3000:]
    assert int(tail.split(" passed")[0].split()[-1]) >= 200, tail
    decisions = {}
    for line in res.stdout.splitlines():
        if line.startswith("decision "):
            name, _, count = line[len("decision "):].rpartition(" ")
            decisions[name] = int(count)
    assert decisions.get("MiniBatchKMeans.fit: flashkmeans", 0) >= 50, decisions
    assert decisions.get("MiniBatchKMeans.partial_fit: flashkmeans", 0) >= 50, decisions
    assert decisions.get("KMeans.fit: flashkmeans", 0) >= 100, decisions
    assert not decisions.get("MiniBatchKMeans.fit: scikit-learn"), decisions
