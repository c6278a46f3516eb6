"""Without scikit-learn the package still imports and KMeans keeps its interface (fallback
base classes and the binding's own input checks). Runs in a subprocess with sklearn blocked."""
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(r"""
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "sklearn" or name.startswith("sklearn."):
                raise ImportError("blocked for this test")
    sys.meta_path.insert(0, Block())
    import numpy as np
    import flashkmeans
    from flashkmeans import _compat
    assert not _compat.HAVE_SKLEARN
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.randn(100, 3), rng.randn(100, 3) + 20]).astype(np.float32)
    km = flashkmeans.KMeans(2, random_state=0)
    try:
        km.predict(X)
        raise SystemExit("predict before fit did not raise")
    except _compat.NotFittedError:
        pass
    assert km.fit_predict(X).shape == (200,)
    assert len(set(km.labels_[:100])) == 1 and km.labels_[0] != km.labels_[150]
    assert km.n_features_in_ == 3
    assert km.get_params()["n_clusters"] == 2 and km.set_params(n_clusters=3).n_clusters == 3
    assert "KMeans(" in repr(km)
    assert km.fit_transform(X).shape == (200, 3)
    assert list(km.get_feature_names_out()) == ["kmeans0", "kmeans1", "kmeans2"]
    assert km.set_output(transform="default") is km
    try:
        km.set_output(transform="pandas")
        raise SystemExit("set_output(transform='pandas') did not raise without scikit-learn")
    except ValueError:
        pass
    import warnings
    import contextlib, io
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as rec, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        flashkmeans.KMeans(4, random_state=0, verbose=True, copy_x=False).fit(
            np.asarray([[0, 0], [0, 1], [1, 0], [1, 0]], dtype=np.float32))
    assert out.getvalue().startswith("Initialization complete\nIteration 0, inertia"), out.getvalue()
    assert [w.category for w in rec] == [_compat.ConvergenceWarning], rec
    assert rec[0].filename == "<string>", rec[0].filename
    for bad, msg in [(np.zeros(5), "Reshape your data"), (np.zeros((3, 0)), "0 feature(s)"),
                     (np.zeros((0, 3)), "0 sample(s)")]:
        try:
            flashkmeans.KMeans(1).fit(bad)
            raise SystemExit("no error for %r" % (bad.shape,))
        except ValueError as e:
            assert msg in str(e), e
    Y = X.copy(); Y[3, 1] = np.inf
    try:
        flashkmeans.KMeans(2).fit(Y)
        raise SystemExit("no error for inf")
    except ValueError as e:
        assert "data[3][1] is +Inf" in str(e) and "infinity" in str(e), e
    try:
        km.predict(np.zeros((2, 4)))
        raise SystemExit("no error for wrong feature count")
    except ValueError as e:
        assert "X has 4 features" in str(e)
    print("OK")
""")


def test_without_sklearn(repo):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo / "python"), env.get("PYTHONPATH")]))
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.strip() == "OK", res.stdout + res.stderr
