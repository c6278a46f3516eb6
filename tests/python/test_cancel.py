"""Ctrl-C and exceptions raised during a fit: the fit stops at the next iteration boundary,
the library cleans up, and the exception reaches the caller."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import flashkmeans
from flashkmeans import _core
from conftest import blobs


@pytest.fixture
def hook():
    calls = []

    def install(fn):
        def wrapped(it, max_iter, stats):
            calls.append((it, max_iter, stats))
            fn(it, max_iter, stats)
        _core._progress_hook = wrapped
        return calls

    yield install
    _core._progress_hook = None


def _raise_at(n, exc):
    def fn(it, max_iter, stats):
        if it == n:
            raise exc
    return fn


def test_keyboard_interrupt_in_callback_cancels(hook):
    X, _, _ = blobs(n=2000, d=8, k=16, spread=5.0)
    calls = hook(_raise_at(2, KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        flashkmeans.KMeans(16, random_state=0, device="cpu", stop="fixed", max_iter=100).fit(X)
    assert [c[0] for c in calls] == [0, 1, 2]  # stopped right after the iteration that raised
    assert calls[0][1] == 100
    assert set(calls[0][2]) == {"inertia", "shift", "empty", "changed", "rescored", "ms"}
    _core._progress_hook = None
    km = flashkmeans.KMeans(16, random_state=0, device="cpu", stop="fixed", max_iter=5).fit(X)
    assert km.n_iter_ == 5 and not hasattr(flashkmeans.KMeans(16), "labels_")


@pytest.mark.parametrize("front", ["sklearn", "faiss", "batch"])
def test_other_exception_is_reraised(hook, front):
    X, _, _ = blobs(n=500, d=4, k=4)
    calls = hook(_raise_at(1, ZeroDivisionError("from the hook")))
    with pytest.raises(ZeroDivisionError, match="from the hook"):
        if front == "sklearn":
            flashkmeans.KMeans(4, random_state=0, device="cpu", stop="fixed", max_iter=50).fit(X)
        elif front == "faiss":
            flashkmeans.Kmeans(4, 4, niter=50, device="cpu").train(X)
        else:
            flashkmeans.batch_kmeans(np.stack([X, X]), 4, stop="fixed", max_iter=50, device="cpu")
    assert len(calls) == 2


def test_hook_sees_the_iterations():
    X, _, _ = blobs(n=500, d=4, k=4)
    seen = []
    _core._progress_hook = lambda it, mx, s: seen.append(s["inertia"])
    try:
        km = flashkmeans.KMeans(4, random_state=0, device="cpu", stop="fixed", max_iter=7).fit(X)
    finally:
        _core._progress_hook = None
    assert seen == [s["inertia"] for s in km.iteration_stats_]


def test_real_sigint_stops_a_long_fit():
    """SIGINT delivered while the C library runs (GIL released): the fit ends at the next
    iteration boundary with KeyboardInterrupt, long before it would have finished."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    X = np.random.RandomState(0).rand(20000, 32).astype(np.float32)
    t0 = time.perf_counter()
    flashkmeans.KMeans(64, random_state=0, device="cpu", stop="fixed", max_iter=3).fit(X)
    per_iter = (time.perf_counter() - t0) / 3
    # ~30 s if nothing stops it (CPU engine: a callback per iteration). The floor keeps the fit
    # long when the timed fit above ran slow (a loaded CI machine, ctest -j): then 30 / per_iter
    # alone gave a fit that could end before the signal at 0.5 s (CI, 2026-11-23: DID NOT RAISE).
    iters = max(int(30 / per_iter) + 10, 2000)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            flashkmeans.KMeans(64, random_state=0, device="cpu", stop="fixed", max_iter=iters).fit(X)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - t0
    assert elapsed < 0.5 + 10 * per_iter + 2.0, (elapsed, per_iter)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_user_sigint_handler_is_left_alone():
    """A program with its own SIGINT handler keeps it during fits."""
    got = []
    old = signal.signal(signal.SIGINT, lambda s, f: got.append(s))
    try:
        X, _, _ = blobs(n=300, d=3, k=3)
        flashkmeans.KMeans(3, random_state=0).fit(X)
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, old)
