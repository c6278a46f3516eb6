"""A capped fit (max_cluster_size) against the uncapped fit on the same data and start, CPU.

    FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 bench/capped_cpu.py [N D K ITERS THREADS SLACK]

Data: N points in D dimensions around 2K centres of unequal sizes (a Zipf-like mix, so the
uncapped clusters are unbalanced and the cap binds). Both fits run exactly ITERS iterations
(stop="fixed") from the same random initial centroids with THREADS threads; the cap is
ceil(N / K) * SLACK (rounded up). Three alternating runs; prints each and the medians (ms per
iteration = fit time / ITERS), both inertias, the largest clusters. Then one run of each to
convergence (default stop rule) for the iteration counts.
"""
import math
import statistics
import sys
import time

import numpy as np

import flashkmeans


def main():
    args = sys.argv[1:] + ["200000", "32", "64", "20", "2", "1.1"][len(sys.argv) - 1:]
    n, d, k, iters, threads = (int(a) for a in args[:5])
    slack = float(args[5])
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2 * k, d)) * 3
    p = 1.0 / np.arange(1, 2 * k + 1)
    which = rng.choice(2 * k, n, p=p / p.sum())
    x = (centres[which] + rng.standard_normal((n, d))).astype(np.float32)
    cap = math.ceil(math.ceil(n / k) * slack)
    kw = dict(init="random", random_state=1, n_threads=threads, device="cpu")
    t_plain, t_cap = [], []
    for r in range(3):
        t0 = time.perf_counter()
        plain = flashkmeans.KMeans(k, stop="fixed", max_iter=iters, **kw).fit(x)
        t_plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        capped = flashkmeans.KMeans(k, stop="fixed", max_iter=iters, max_cluster_size=cap, **kw).fit(x)
        t_cap.append(time.perf_counter() - t0)
        print("run %d: uncapped %.3f s, capped (cap %d) %.3f s" % (r, t_plain[-1], cap, t_cap[-1]))
    big = lambda km: int(np.bincount(km.labels_, minlength=k).max())  # noqa: E731
    print("N=%d D=%d K=%d, %d iterations, %d threads, cap %d (= ceil(N/K) x %.2f)" % (n, d, k, iters, threads, cap, slack))
    print("uncapped: median %.3f s = %.1f ms/iteration, inertia %.6g, largest cluster %d"
          % (statistics.median(t_plain), 1e3 * statistics.median(t_plain) / iters, plain.inertia_, big(plain)))
    print("capped:   median %.3f s = %.1f ms/iteration, inertia %.6g (unconstrained %.6g), largest cluster %d"
          % (statistics.median(t_cap), 1e3 * statistics.median(t_cap) / iters, capped.inertia_,
             capped.inertia_unconstrained_, big(capped)))
    print("ratio capped / uncapped: %.2f" % (statistics.median(t_cap) / statistics.median(t_plain)))
    for name, extra in (("uncapped", {}), ("capped", {"max_cluster_size": cap})):
        t0 = time.perf_counter()
        km = flashkmeans.KMeans(k, **kw, **extra).fit(x)
        print("to convergence, %s: %d iterations (%s), %.3f s, inertia %.6g, largest cluster %d"
              % (name, km.n_iter_, km.stop_reason_, time.perf_counter() - t0, km.inertia_, big(km)))


if __name__ == "__main__":
    main()
