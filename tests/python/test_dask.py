"""flashkmeans.dask.KMeans: the same bits for every row chunking and worker count, equal to
fkm_mpi_fit (mpirun ... flashkmeans fit) where the build has MPI (l2 and cosine), close to a
float64 reference.
Skipped when dask / distributed are missing (Debian: python3-dask python3-distributed)."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

dask = pytest.importorskip("dask", reason="dask is not installed (Debian: apt-get install python3-dask)")
da = pytest.importorskip("dask.array", reason="dask.array is not installed (Debian: python3-dask)")
distributed = pytest.importorskip("distributed", reason="distributed is not installed (Debian: "
                                  "apt-get install python3-distributed)")

import flashkmeans  # noqa: E402
import flashkmeans.dask as fkd  # noqa: E402


def _data(n=3000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) + rng.integers(0, 7, (n, 1)) * 2.0 + np.arange(d) * 0.1
    w = rng.uniform(0.2, 3.0, n).astype(np.float32)
    w[::13] = 0.0
    return x.astype(np.float32), w


# rows in 1, 2 and 3 blocks, uneven blocks, a 1-row block and an empty one
CHUNKINGS = [(3000,), (1500, 1500), (1000, 1000, 1000), (1, 1998, 1001), (700, 0, 2300)]


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _fit(x, chunks, w=None, **kw):
    X = da.from_array(x, chunks=(chunks, -1))
    W = None if w is None else da.from_array(w, chunks=(chunks,))
    return fkd.KMeans(**kw).fit(X, sample_weight=W)


def _same(a, b):
    assert np.array_equal(a.cluster_centers_, b.cluster_centers_)
    assert np.array_equal(a.labels_.compute(), b.labels_.compute())
    assert a.inertia_ == b.inertia_ and a.n_iter_ == b.n_iter_ and a.stop_reason_ == b.stop_reason_
    strip = [{k: v for k, v in s.items() if k != "ms"} for s in a.iteration_stats_]
    assert strip == [{k: v for k, v in s.items() if k != "ms"} for s in b.iteration_stats_]


def _reference_inertia(x, w, c, labels):
    diff = x.astype(np.float64) - c.astype(np.float64)[labels]
    return float(np.sum((1.0 if w is None else w.astype(np.float64)) * np.sum(diff * diff, axis=1)))


@pytest.mark.parametrize("init", ["random", "k-means++"])
def test_bitwise_over_chunkings_and_workers(client, init):
    x, w = _data()
    kw = dict(n_clusters=9, init=init, random_state=5, init_max_samples=1200, max_iter=12)
    base = _fit(x, CHUNKINGS[0], w, **kw)
    assert base.n_iter_ > 2
    for ch in CHUNKINGS[1:]:
        _same(base, _fit(x, ch, w, **kw))
    # float64 reference: inertia of the returned centroids and labels, labels at the nearest centre
    ref = _reference_inertia(x, w, base.cluster_centers_, base.labels_.compute())
    assert abs(base.inertia_ - ref) <= 1e-6 * ref
    d2 = ((x[:, None, :].astype(np.float64) - base.cluster_centers_[None].astype(np.float64)) ** 2).sum(-1)
    assert np.mean(np.argmin(d2, axis=1) == base.labels_.compute()) > 0.999
    assert not np.array_equal(base.cluster_centers_,
                              _fit(x, CHUNKINGS[2], w, **dict(kw, random_state=6)).cluster_centers_)


def test_cosine_bitwise_over_chunkings(client):
    """metric="cosine": unit rows and re-normalised centroids, the same bits for any chunking, the
    centroids unit, the inertia sum(w (1 - cos)) of the float64 reference."""
    x, w = _data()
    kw = dict(n_clusters=9, init="k-means++", random_state=5, init_max_samples=1200, max_iter=12, metric="cosine")
    base = _fit(x, CHUNKINGS[0], w, **kw)
    for ch in CHUNKINGS[1:]:
        _same(base, _fit(x, ch, w, **kw))
    c = base.cluster_centers_.astype(np.float64)
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0, atol=1e-6)
    u = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1)[:, None]
    lab = base.labels_.compute()
    ref = float(np.sum(w.astype(np.float64) * (1.0 - np.sum(u * c[lab], axis=1))))
    assert abs(base.inertia_ - ref) <= 1e-5 * ref
    assert np.mean(np.argmax(u @ c.T, axis=1) == lab) > 0.999


def test_without_distributed_scheduler():
    """The threaded scheduler (no Client) gives the same bits as the cluster."""
    x, _ = _data(seed=1)
    with dask.config.set(scheduler="threads"):
        a = _fit(x, (1000, 1000, 1000), n_clusters=6, init="random", random_state=2)
    with dask.config.set(scheduler="sync"):
        b = _fit(x, (3000,), n_clusters=6, init="random", random_state=2)
    _same(a, b)


def test_options_bitwise():
    """Stop rules, the keep policy, inner product, n_init, an empty cluster to fill (on the
    synchronous scheduler, for time: the arithmetic is the same on any)."""
    with dask.config.set(scheduler="sync"):
        _options()


def _options():
    x, w = _data(n=3000, seed=2)
    far = x[[1, 50, 900, 2000, 2500]].copy()
    far[4] = 500.0  # receives no point: filled with the farthest row (farthest) or kept (keep)
    cases = [dict(stop="inertia", tol=1e-6), dict(stop="labels"), dict(stop="fixed", max_iter=4),
             dict(init=far), dict(init=far, empty="keep", max_iter=5), dict(metric="ip", max_iter=6),
             dict(n_init=2, init="random")]
    for kw in cases:
        kw = dict(dict(n_clusters=5, random_state=11), **kw)
        base = _fit(x, (3000,), w, **kw)
        _same(base, _fit(x, (1, 1499, 1500), w, **kw))
        _same(base, _fit(x, (999, 1001, 1000), w, **kw))
    filled = _fit(x, (3000,), w, n_clusters=5, init=far, random_state=0)
    assert filled.iteration_stats_[0]["empty"] == 1 and np.all(np.abs(filled.cluster_centers_) < 100)
    kept = _fit(x, (3000,), w, n_clusters=5, init=far, empty="keep", random_state=0)
    assert np.array_equal(kept.cluster_centers_[4], far[4])


def test_kmeanspp_on_all_rows_is_the_library_init(client):
    """With every row in the k-means++ sample, the start is flashkmeans.KMeans's own."""
    x, _ = _data(seed=3)
    km = _fit(x, (1000, 2000), n_clusters=7, random_state=9, max_iter=0)
    ref = flashkmeans.KMeans(7, random_state=9, max_iter=0).fit(x)
    assert np.array_equal(km.cluster_centers_, ref.cluster_centers_)
    assert np.array_equal(km.labels_.compute(), ref.labels_) and km.n_iter_ == 0


def test_random_init_and_fit_match_kmeans(client):
    """Random init draws fkm_fit's rows; the fit agrees with flashkmeans.KMeans to rounding."""
    x, _ = _data(seed=4)
    km = _fit(x, (1200, 1800), n_clusters=8, init="random", random_state=4)
    ref = flashkmeans.KMeans(8, init="random", random_state=4).fit(x)
    assert np.array_equal(km.init_centers_, flashkmeans.KMeans(8, init="random", random_state=4,
                                                                max_iter=0).fit(x).cluster_centers_)
    assert np.allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-4, atol=1e-4)
    assert abs(km.inertia_ - ref.inertia_) <= 1e-5 * ref.inertia_


def _mpi_cli():
    build = os.environ.get("FKM_BUILD_DIR", "build")
    exe = os.path.join(build, "flashkmeans")
    if not (os.path.exists(exe) and shutil.which("mpirun")):
        return None
    return exe


def test_equals_mpi_fit(client, tmp_path):
    """Dask = mpirun -np 2 flashkmeans fit (fkm_mpi_fit), bit for bit: centroids, labels, inertia
    and every iteration's statistics; random init and given centres with an empty cluster, l2 and
    cosine (unit rows, centroids re-normalised: the same float64 sums in the same order)."""
    exe = _mpi_cli()
    if exe is None:
        pytest.skip("needs the CLI in FKM_BUILD_DIR and mpirun")
    x, _ = _data(n=2000, d=5, seed=5)
    np.save(tmp_path / "x.npy", x)
    c0 = x[[5, 17, 33, 400, 401, 402, 1999, 1000, 999, 3]].copy()
    c0[9] = 1e3
    np.save(tmp_path / "c0.npy", c0)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMP_WAIT_POLICY="passive",
               OMPI_MCA_mpi_yield_when_idle="1")
    env.pop("LD_PRELOAD", None)  # sanitizer builds: the CLI carries its own runtime, mpirun needs none
    for init, kw in (("random", {}), (str(tmp_path / "c0.npy"), dict(init=c0, stop="inertia", tol=1e-7)),
                     ("random", dict(metric="cosine")), (str(tmp_path / "c0.npy"), dict(init=c0, metric="cosine"))):
        out = [str(tmp_path / f) for f in ("c.npy", "l.npy", "r.json")]
        p = subprocess.run(["mpirun", "-np", "2", exe, "fit", str(tmp_path / "x.npy"), "-k", "10", "--seed", "7",
                            "--threads", "1", "-q", "--init", init, "--stop", kw.get("stop", "shift"),
                            "--metric", kw.get("metric", "l2"),
                            "--tol", repr(kw.get("tol", 1e-4)), "-o", out[0], "--labels", out[1], "--report", out[2]],
                           env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        rep = json.load(open(out[2]))
        if rep.get("mpi_ranks") != 2:
            pytest.skip("this build has no MPI (the CLI ran one process)")
        km = _fit(x, (700, 650, 650), **dict(dict(n_clusters=10, init="random", random_state=7), **kw))
        assert np.array_equal(np.load(out[0]), km.cluster_centers_)
        assert np.array_equal(np.load(out[1]), km.labels_.compute())
        assert rep["inertia"] == km.inertia_ and rep["n_iter"] == km.n_iter_
        for it, s in zip(rep["iterations"], km.iteration_stats_):
            assert it["inertia"] == s["inertia"] and it["shift"] == s["shift"]
            assert it["changed"] == s["changed"] and it["empty"] == s["empty"]
        if init != "random" and "metric" not in kw:
            assert km.iteration_stats_[0]["empty"] == 1


def test_predict(client):
    x, _ = _data(seed=6)
    X = da.from_array(x, chunks=(1000, 3))  # column chunks are merged
    km = fkd.KMeans(5, random_state=0).fit(X)
    p = km.predict(X)
    assert isinstance(p, da.Array) and p.dtype == np.int32
    assert np.array_equal(p.compute(), km.labels_.compute())
    assert np.array_equal(km.predict(x), km.labels_.compute())
    assert np.array_equal(fkd.KMeans(5, random_state=0).fit_predict(X).compute(), km.labels_.compute())
    with pytest.raises(ValueError, match="features"):
        km.predict(X[:, :2])


def test_two_worker_processes():
    """Blocks computed in two worker processes: the same bits as in-process."""
    from distributed import Client, LocalCluster

    x, w = _data(n=2000, seed=7)
    base = _fit(x, (2000,), w, n_clusters=6, init="random", random_state=1, max_iter=8)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            Client(cl):
        _same(base, _fit(x, (600, 700, 700), w, n_clusters=6, init="random", random_state=1, max_iter=8))


def test_errors(client):
    x, w = _data(n=500, seed=8)
    X = da.from_array(x, chunks=(200, -1))
    with pytest.raises(TypeError, match="dask array"):
        fkd.KMeans(3).fit(x)
    zero = x.copy()
    zero[77] = 0.0
    with pytest.raises(flashkmeans.BadInputError, match="row 77 is all zeros"):  # cosine: no direction
        fkd.KMeans(3, metric="cosine").fit(da.from_array(zero, chunks=(200, -1)))
    with pytest.raises(flashkmeans.InvalidArgumentError, match="n_clusters"):
        fkd.KMeans(501).fit(X)
    bad = x.copy()
    bad[321, 2] = np.nan
    with pytest.raises(flashkmeans.BadInputError, match=r"X\[321\]\[2\] is NaN"):
        fkd.KMeans(3, random_state=0).fit(da.from_array(bad, chunks=(200, -1)))
    big = x.astype(np.float64)
    big[410, 1] = 1e39
    with pytest.raises(flashkmeans.BadInputError, match=r"X\[410\]\[1\].*float32"):
        fkd.KMeans(3, random_state=0).fit(da.from_array(big, chunks=(200, -1)))
    wn = w.copy()
    wn[250] = -1
    with pytest.raises(flashkmeans.BadInputError, match=r"sample_weight\[250\].*negative"):
        fkd.KMeans(3, random_state=0).fit(X, sample_weight=wn)
    with pytest.raises(flashkmeans.BadInputError, match="all 500 weights are zero"):
        fkd.KMeans(3, random_state=0).fit(X, sample_weight=np.zeros(500, np.float32))
    with pytest.raises(ValueError, match="sample_weight.shape"):
        fkd.KMeans(3).fit(X, sample_weight=w[:10])
    with pytest.raises(ValueError, match="initial centers"):
        fkd.KMeans(3, init=x[:2]).fit(X)
    with pytest.raises(ValueError, match="init must be"):
        fkd.KMeans(3, init="k-means||").fit(X)
    with pytest.raises(AttributeError, match="not fitted"):
        fkd.KMeans(3).predict(X)
    with pytest.raises(ValueError, match="2D"):
        fkd.KMeans(3).fit(da.from_array(x[:, 0], chunks=100))


_NO_DASK = """
import sys
sys.modules["dask"] = None          # import dask fails, as on a machine without it
import flashkmeans
assert "distributed" not in sys.modules
try:
    import flashkmeans.dask
except ImportError as e:
    assert "python3-dask" in str(e), e
    print("ok")
"""


def test_import_without_dask():
    """import flashkmeans never needs dask; flashkmeans.dask says what to install."""
    p = subprocess.run([sys.executable, "-c", _NO_DASK], capture_output=True, text=True, env=dict(os.environ),
                       timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr
