"""Hierarchical initialisation (init="hierarchical") against k-means|| for large k (issue 22,
item 1): time of the initialisation alone and its potential, then the whole fit (initialisation
plus Lloyd to convergence, at most --iters iterations) and its inertia, through the Python API on
the given device, same data and seed. Data: Gaussian blobs (k / 4 centres), float32.

Run: FKM_LIBRARY=build/libflashkmeans.so PYTHONPATH=python /usr/bin/python3 bench/init_hier.py \
         --cases 200000,32,2048 200000,32,8192 --out bench/results/init-hier-DATE.md"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import time

import numpy as np

import flashkmeans


def blobs(n, d, k, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=10.0, size=(max(1, k // 4), d))
    return (centres[rng.randint(0, centres.shape[0], size=n)] + rng.normal(size=(n, d))).astype(np.float32)


def timed_fit(X, k, init, iters, device, seed):
    t0 = time.perf_counter()
    km = flashkmeans.KMeans(k, init=init, max_iter=iters, random_state=seed, device=device).fit(X)
    return time.perf_counter() - t0, km


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", nargs="+", default=["200000,32,2048", "200000,32,8192"], help="N,D,K")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    rows = []
    for case in a.cases:
        n, d, k = (int(v) for v in case.split(","))
        X = blobs(n, d, k)
        row = dict(n=n, d=d, k=k, device=a.device, cpu=cpu, cpus=os.cpu_count(), date=str(datetime.date.today()),
                   commit=commit, iters_cap=a.iters)
        for init in ("hierarchical", "k-means||"):
            t0, k0 = timed_fit(X, k, init, 0, a.device, 0)
            t1, k1 = timed_fit(X, k, init, a.iters, a.device, 0)
            row[init] = dict(init_s=t0, potential=float(k0.inertia_), fit_s=t1, inertia=float(k1.inertia_),
                             iterations=int(k1.n_iter_))
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("# Hierarchical initialisation vs k-means|| (large k)\n\n")
            f.write("Device: %s (%s, %d CPUs). Date %s, commit %s. bench/init_hier.py: Gaussian blobs (k/4 "
                    "centres), float32, seed 0, through flashkmeans.KMeans; fit = initialisation + Lloyd (shift "
                    "rule, tol 1e-4, at most %d iterations); seconds.\n\n"
                    % (a.device, cpu, os.cpu_count(), rows[0]["date"], commit, a.iters))
            f.write("| N | D | K | hierarchical init s | k-means\\|\\| init s | init speed-up | potential "
                    "hier / k-means\\|\\| | fit s hier | fit s k-means\\|\\| | fit speed-up | inertia hier / "
                    "k-means\\|\\| | iterations hier / k-means\\|\\| |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
            for r in rows:
                h, p = r["hierarchical"], r["k-means||"]
                f.write("| %d | %d | %d | %.2f | %.2f | %.1fx | %.4f | %.2f | %.2f | %.1fx | %.4f | %d / %d |\n" % (
                    r["n"], r["d"], r["k"], h["init_s"], p["init_s"], p["init_s"] / h["init_s"],
                    h["potential"] / p["potential"], h["fit_s"], p["fit_s"], p["fit_s"] / h["fit_s"],
                    h["inertia"] / p["inertia"], h["iterations"], p["iterations"]))


if __name__ == "__main__":
    main()
