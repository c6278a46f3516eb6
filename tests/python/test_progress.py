"""progress= on KMeans, MiniBatchKMeans, batch_kmeans and Kmeans (issue 24, item 4): a tqdm bar or
plain lines on stderr when asked (or from verbose=1), nothing by default, the same results with
and without it, scikit-learn's stdout lines unchanged, and the same behaviour without tqdm."""
import io
import re
import sys

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _core, _progress
from conftest import blobs


class Tty(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def every_line(monkeypatch):
    """Plain lines at every iteration (the default spaces them a second or more apart)."""
    monkeypatch.setattr(_progress, "MIN_INTERVAL", 0.0)
    monkeypatch.setattr(_progress, "MAX_INTERVAL", 0.0)


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` raises ImportError


@pytest.fixture
def calls(monkeypatch):
    """Records (progress callback installed, on_iter given) for every library fit."""
    seen = []

    class Spy(_core._Call):
        def __init__(self, params, progress=True, on_iter=None):
            seen.append((bool(progress), on_iter))
            super().__init__(params, progress, on_iter)

    monkeypatch.setattr(_core, "_Call", Spy)
    return seen


X = blobs(n=3000, d=6, k=5, spread=2.0)[0]


def _fit(**kw):
    return flashkmeans.KMeans(5, random_state=1, device="cpu", **kw).fit(X)


def _same(a, b):
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_, b.labels_)
    assert a.inertia_ == b.inertia_ and a.n_iter_ == b.n_iter_


# ------------------------------------------------------------------ off by default
def test_default_prints_nothing_and_installs_no_callback(capsys, calls):
    _fit()
    assert capsys.readouterr() == ("", "")
    # on_iter None: the callback is what _want_progress alone asks for (none on a GPU)
    assert calls == [(_core._want_progress(_core.make_params(5, device="cpu")), None)]
    flashkmeans.KMeans(5, random_state=1, device="cpu", progress=False, verbose=1).fit(X)
    assert capsys.readouterr().err == ""


def test_default_quiet_everywhere(capsys):
    flashkmeans.MiniBatchKMeans(5, random_state=0, n_init=1).fit(X)
    flashkmeans.batch_kmeans(np.stack([X, X]), 5, max_iter=5)
    flashkmeans.Kmeans(6, 5, niter=5).train(X)
    assert capsys.readouterr() == ("", "")
    flashkmeans.Kmeans(6, 5, niter=3, verbose=True).train(X)  # FAISS's own lines, no report
    out, err = capsys.readouterr()
    assert "Iteration 2 (" in out and "[flashkmeans] Kmeans" not in out + err


# ------------------------------------------------------------------ plain lines
def test_lines_when_asked(capsys, every_line):
    km = _fit(progress="lines", tol=0)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == km.n_iter_ + 1, err
    for i, line in enumerate(lines[:-1]):
        assert line.startswith("[flashkmeans] KMeans: iteration %d/300, inertia " % (i + 1)), line
        assert ", changed " in line and line.endswith(" s")
    assert re.fullmatch(r"\[flashkmeans\] KMeans: %d iterations? in \S+ s \(converged\), inertia %s"
                        % (km.n_iter_, re.escape("%.6g" % km.inertia_)), lines[-1]), lines[-1]


def test_lines_are_spaced_out(capsys):
    """The default spacing (a second or more): a quick fit gives only its last line."""
    km = _fit(progress="lines", tol=0)
    assert km.n_iter_ > 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "iterations in" in err


def test_lines_name_restarts_and_max_iter(capsys, every_line):
    _fit(progress="lines", n_init=3, max_iter=2, stop="fixed")
    err = capsys.readouterr().err
    for r in (1, 2, 3):
        assert "KMeans: run %d/3, iteration 1/2," % r in err
    assert "3 runs, 6 iterations in" in err and "(max_iter reached)" in err


def test_true_without_a_terminal_gives_lines(capsys):
    _fit(progress=True)
    err = capsys.readouterr().err
    assert err.startswith("[flashkmeans] KMeans: ") and "%|" not in err


def test_verbose_1_reports_and_keeps_sklearns_stdout(capsys, every_line):
    _fit(verbose=1, progress=False)
    quiet = capsys.readouterr()
    _fit(verbose=1)
    loud = capsys.readouterr()
    assert loud.out == quiet.out and loud.out.startswith("Initialization complete\nIteration 0, inertia")
    assert "[flashkmeans] KMeans: iteration 1/300" in loud.err and "(converged)" in loud.err


# ------------------------------------------------------------------ tqdm bar
def test_bar_when_asked(capsys):
    pytest.importorskip("tqdm")
    km = _fit(progress="bar", tol=0)
    out, err = capsys.readouterr()
    assert out == ""
    last = err.split("\r")[-1]
    assert re.search(r"KMeans: +\d+%%\|.*\| %d/300 \[" % km.n_iter_, last), last
    assert "converged, inertia %.6g" % km.inertia_ in last


def test_true_on_a_terminal_gives_the_bar(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    km = _fit(progress=True, n_init=2)
    text = tty.getvalue()
    assert "KMeans run 2/2:" in text and "%|" in text and "[flashkmeans]" not in text
    assert ("/%d [" % (2 * 300)) in text and "inertia %.6g" % km.inertia_ in text


def test_notebook_stderr_gives_the_bar(monkeypatch):
    pytest.importorskip("tqdm")
    OutStream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(sys, "stderr", OutStream())
    assert _progress.mode(True) == "bar"
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert _progress.mode(True) == "lines"


def test_bar_keeps_sklearns_stdout(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    _fit(verbose=1, progress=False)
    plain = capsys.readouterr().out
    tty = Tty()
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", tty)
        _fit(verbose=1)  # a terminal: the bar, with scikit-learn's lines written above it
    assert capsys.readouterr().out == plain
    assert "KMeans: " in tty.getvalue() and "%|" in tty.getvalue() and "[flashkmeans]" not in tty.getvalue()
    mb = dict(n_clusters=5, random_state=0, n_init=1, verbose=1, max_iter=2, batch_size=500)
    flashkmeans.MiniBatchKMeans(progress=False, **mb).fit(X)
    plain = capsys.readouterr().out
    assert "Minibatch step 2/" in plain
    flashkmeans.MiniBatchKMeans(progress="bar", **mb).fit(X)
    bar = capsys.readouterr()
    assert bar.out == plain and "MiniBatchKMeans:" in bar.err and "%|" in bar.err


# ------------------------------------------------------------------ without tqdm
def test_without_tqdm(no_tqdm, monkeypatch, capsys, every_line):
    assert _progress._tqdm() is None
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", Tty())
        assert _progress.mode(True) == "lines"  # even on a terminal
    with pytest.warns(RuntimeWarning, match="needs tqdm"):
        km = _fit(progress="bar")
    err = capsys.readouterr().err
    assert "[flashkmeans] KMeans: iteration 1/300" in err and "%|" not in err
    _same(km, _fit())


# ------------------------------------------------------------------ results unchanged
@pytest.mark.parametrize("progress", ["lines", "bar", True])
def test_results_identical(progress, capsys, every_line):
    if progress == "bar":
        pytest.importorskip("tqdm")
    for kw in ({}, {"n_init": 3, "init": "random"}, {"algorithm": "elkan"}, {"max_iter": 3}):
        _same(_fit(progress=progress, **kw), _fit(**kw))
    mb = dict(n_clusters=5, random_state=0, n_init=2, batch_size=256, max_iter=3)
    a = flashkmeans.MiniBatchKMeans(progress=progress, **mb).fit(X)
    b = flashkmeans.MiniBatchKMeans(**mb).fit(X)
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_) and a.n_steps_ == b.n_steps_
    xb = np.stack([X[:1000], X[1000:2000], X[2000:]])
    for init in ("k-means++", xb[:, :5]):
        r1 = flashkmeans.batch_kmeans(xb, 5, max_iter=20, init=init, progress=progress, return_inertia=True)
        r0 = flashkmeans.batch_kmeans(xb, 5, max_iter=20, init=init, return_inertia=True)
        assert all(np.array_equal(u, v) for u, v in zip(r1, r0))
    for kw in ({"nredo": 2}, {"int_centroids": True}):
        f1, f0 = flashkmeans.Kmeans(6, 5, niter=6, progress=progress, **kw), flashkmeans.Kmeans(6, 5, niter=6, **kw)
        assert f1.train(X) == f0.train(X)
        assert np.array_equal(f1.centroids, f0.centroids) and np.array_equal(f1.obj, f0.obj)
    assert "[flashkmeans]" in capsys.readouterr().err or progress != "lines"


# ------------------------------------------------------------------ other front ends
def test_minibatch_batch_faiss_lines(capsys, every_line):
    flashkmeans.MiniBatchKMeans(5, random_state=0, n_init=1, batch_size=1000, max_iter=1,
                                progress="lines").fit(X)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[flashkmeans] MiniBatchKMeans: step 1/3, batch inertia ")
    assert re.match(r"\[flashkmeans\] MiniBatchKMeans: 3 steps in \S+ s \(max_iter reached\), inertia ", err[-1])
    flashkmeans.batch_kmeans(np.stack([X, X]), 5, max_iter=4, stop="fixed", progress="lines")
    err = capsys.readouterr().err
    assert "batch_kmeans: problem 2/2, iteration 1/4," in err and "2 problems, 8 iterations in" in err
    flashkmeans.batch_kmeans(np.stack([X, X]), 5, max_iter=4, verbose=1)  # verbose=1: on
    assert "batch_kmeans: problem 1/2, iteration 1/4" in capsys.readouterr().err
    km = flashkmeans.Kmeans(6, 5, niter=4, progress="lines")
    km.train(X)
    err = capsys.readouterr().err
    assert "Kmeans: iteration 4/4, inertia %.6g" % km.obj[-1] in err and "4 iterations in" in err
    flashkmeans.Kmeans(6, 5, niter=3, int_centroids=True, progress="lines").train(X)
    err = capsys.readouterr().err
    assert "Kmeans: iteration 3/3, inertia " in err and "changed" not in err


def test_callback_only_when_reporting(calls, capsys):
    """progress installs the per-iteration callback (a GPU fit then leaves its device loop, as
    verbose=1 always did); without it the fit installs what it did before."""
    _fit(progress="lines")
    assert calls[-1][0] and calls[-1][1] is not None
    flashkmeans.batch_kmeans(np.stack([X, X]), 5, max_iter=3)
    assert calls[-1][1] is None
    flashkmeans.batch_kmeans(np.stack([X, X]), 5, max_iter=3, progress="lines")
    assert calls[-1][0] and calls[-1][1] is not None
    capsys.readouterr()


def test_interrupt_closes_the_report(monkeypatch, capsys, every_line):
    def hook(it, max_iter, stats):
        if it == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(_core, "_progress_hook", hook)
    with pytest.raises(KeyboardInterrupt):
        _fit(progress="lines", tol=0)
    err = capsys.readouterr().err
    # the hook runs before the report: it saw iterations 1 and 2
    assert err.splitlines()[-1].startswith("[flashkmeans] KMeans: 2 iterations in ")
    assert err.rstrip().endswith("(KeyboardInterrupt)")


@pytest.mark.parametrize("bad", ["yes", 1, 2.0, "Bar"])
def test_bad_values(bad):
    with pytest.raises(ValueError, match="progress must be None, True, False, 'bar' or 'lines'"):
        _fit(progress=bad)
    with pytest.raises(ValueError, match="progress must be"):
        flashkmeans.batch_kmeans(np.stack([X, X]), 5, progress=bad)
    with pytest.raises(ValueError, match="progress must be"):
        flashkmeans.Kmeans(6, 5, progress=bad)
    with pytest.raises(ValueError, match="progress must be"):
        flashkmeans.MiniBatchKMeans(5, progress=bad, n_init=1).fit(X)


def test_get_params_and_clone():
    km = flashkmeans.KMeans(5, progress="lines")
    assert km.get_params()["progress"] == "lines"
    assert flashkmeans.MiniBatchKMeans(5).get_params()["progress"] is None
    sk = pytest.importorskip("sklearn.base")
    assert sk.clone(km).progress == "lines"
