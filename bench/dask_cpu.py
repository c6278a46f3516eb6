"""Dask fit on a local cluster against flashkmeans.KMeans on the same data and start.

    FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 bench/dask_cpu.py [N D K ITERS WORKERS]

Both run exactly ITERS iterations (stop="fixed") from the same random initial centroids (the
Dask front end draws fkm_fit's random rows), the library KMeans with WORKERS threads, the Dask
fit on a LocalCluster of WORKERS single-threaded worker processes. Prints one line per run
(3 alternating runs each) and the medians; checks that both reach the same inertia to 1e-6.
"""
import statistics
import sys
import time

import numpy as np

import dask.array as da
from distributed import Client, LocalCluster

import flashkmeans
import flashkmeans.dask as fkd


def main():
    n, d, k, iters, workers = (int(a) for a in (sys.argv[1:] + ["200000", "32", "64", "20", "2"][len(sys.argv) - 1:]))
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, d)) + rng.integers(0, 2 * k, (n, 1)) * 0.5).astype(np.float32)
    kw = dict(init="random", random_state=1, stop="fixed", max_iter=iters)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cl, \
            Client(cl) as client:
        X = da.from_array(x, chunks=(-(-n // (2 * workers)), -1)).persist()  # 2 blocks per worker
        client.wait_for_workers(workers)
        t_lib, t_dask = [], []
        for r in range(3):
            t0 = time.perf_counter()
            ref = flashkmeans.KMeans(k, n_threads=workers, **kw).fit(x)
            t_lib.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            km = fkd.KMeans(k, n_threads=1, **kw).fit(X)
            t_dask.append(time.perf_counter() - t0)
            print("run %d: flashkmeans.KMeans %.3f s, flashkmeans.dask.KMeans %.3f s (%d blocks on %d workers)"
                  % (r, t_lib[-1], t_dask[-1], X.numblocks[0], workers))
        assert km.n_iter_ == ref.n_iter_ == iters
        assert abs(km.inertia_ - ref.inertia_) <= 1e-6 * ref.inertia_, (km.inertia_, ref.inertia_)
        ml, md = statistics.median(t_lib), statistics.median(t_dask)
        print("N=%d D=%d K=%d, %d iterations: median %.3f s (%.1f ms/iter) vs %.3f s (%.1f ms/iter): "
              "Dask/library = %.2f; inertia %.9g vs %.9g"
              % (n, d, k, iters, ml, 1e3 * ml / iters, md, 1e3 * md / iters, md / ml, ref.inertia_, km.inertia_))


if __name__ == "__main__":
    main()
