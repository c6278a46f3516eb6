"""algorithm="elkan": flashkmeans (CPU engine) beside scikit-learn's elkan on the same data and the
same initial centres, time to convergence (issue 20, item 1).

Both run in this process on float32 data with the same k-means++ centres (scikit-learn's
kmeans_plusplus, seed 0), n_init=1, tol=0 (both run until the labels stop changing: scikit-learn's
"strict convergence", flashkmeans's shift rule with tol 0, one iteration later at most), max_iter
300, the library's default threads (2 here for both). Best of --repeat wall-clock fits. Checks:
flashkmeans's elkan (KMeans(algorithm="elkan") runs the engine's Hamerly bounds) gives its
lloyd's labels, centres and iterations bit for bit; the
share of labels equal to scikit-learn's is printed for information (float32 sums in another
order may part at near-ties). Writes a JSON line per case to stdout; --out FILE.md also writes a
table. --baseline LIB also times flashkmeans's lloyd and elkan with another build of the library
(an earlier commit, A/B), in a child process per case, interleaved with the rest.
Run: FKM_LIBRARY=build/libflashkmeans.so PYTHONPATH=python /usr/bin/python3 bench/elkan_sklearn.py"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
from sklearn.cluster import KMeans as SkKMeans, kmeans_plusplus
from sklearn.datasets import make_blobs

import flashkmeans

CASES = [  # name, n, d, k, kind
    ("blobs", 100000, 16, 32, "blobs"),
    ("blobs", 200000, 8, 64, "blobs"),
    ("blobs", 50000, 64, 128, "blobs"),
    ("normal", 50000, 16, 32, "normal"),
    ("normal", 20000, 64, 100, "normal"),
]


def data(n, d, k, kind):
    if kind == "blobs":
        X, _ = make_blobs(n_samples=n, n_features=d, centers=k, cluster_std=2.0, random_state=0)
    else:
        X = np.random.RandomState(0).normal(size=(n, d))
    return np.ascontiguousarray(X, dtype=np.float32)


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def fkm_times(X, C0, k, repeat):
    """flashkmeans's lloyd and elkan fits: {algo: (best seconds, estimator)}."""
    fk = {}
    for algo in ("lloyd", "elkan"):
        fk[algo] = best_of(lambda: flashkmeans.KMeans(k, init=C0, n_init=1, tol=0, max_iter=300,
                                                      algorithm=algo, device="cpu").fit(X), repeat)
    return fk


def baseline_times(lib, case, repeat):
    """The same two fits with library `lib`, in a child process (one library per process)."""
    env = dict(os.environ, FKM_LIBRARY=lib)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(case),
                          "--repeat", str(repeat)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(case, repeat):
    name, n, d, k, kind = case
    X = data(n, d, k, kind)
    C0 = np.ascontiguousarray(kmeans_plusplus(X, k, random_state=0)[0], dtype=np.float32)
    fk = fkm_times(X, C0, k, repeat)
    print(json.dumps({algo: [t, int(km.n_iter_)] for algo, (t, km) in fk.items()}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None, help="another libflashkmeans.so to time beside (A/B)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--quick", action="store_true", help="the first two cases only")
    a = ap.parse_args()
    if a.child:
        return child(json.loads(a.child), a.repeat)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    rows = []
    for name, n, d, k, kind in CASES[:2] if a.quick else CASES:
        X = data(n, d, k, kind)
        C0, _ = kmeans_plusplus(X, k, random_state=0)
        C0 = np.ascontiguousarray(C0, dtype=np.float32)
        fk = fkm_times(X, C0, k, a.repeat)
        base = baseline_times(a.baseline, (name, n, d, k, kind), a.repeat) if a.baseline else None
        sk = {}
        for algo in ("elkan", "lloyd"):
            t, km = best_of(lambda: SkKMeans(k, init=C0, n_init=1, tol=0, max_iter=300,
                                             algorithm=algo).fit(X), a.repeat)
            sk[algo] = (t, km)
        ref = fk["lloyd"][1]
        same = {algo: bool(np.array_equal(fk[algo][1].labels_, ref.labels_)
                           and np.array_equal(fk[algo][1].cluster_centers_, ref.cluster_centers_)
                           and fk[algo][1].n_iter_ == ref.n_iter_) for algo in ("elkan",)}
        row = dict(case="%s n=%d d=%d k=%d" % (name, n, d, k), device=cpu, date=str(datetime.date.today()),
                   commit=commit, threads="library default (2 CPUs)",
                   fkm_lloyd_s=fk["lloyd"][0], fkm_elkan_s=fk["elkan"][0],
                   fkm_iters=ref.n_iter_, sk_elkan_s=sk["elkan"][0], sk_lloyd_s=sk["lloyd"][0],
                   sk_iters=int(sk["elkan"][1].n_iter_),
                   speedup_elkan_vs_sk_elkan=sk["elkan"][0] / fk["elkan"][0],
                   same_bits_as_lloyd=same,
                   labels_equal_to_sklearn=float(np.mean(fk["elkan"][1].labels_ == sk["elkan"][1].labels_)))
        if base:
            row.update(baseline_lloyd_s=base["lloyd"][0], baseline_elkan_s=base["elkan"][0],
                       baseline_iters=base["elkan"][1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    if a.out:
        with open(a.out, "w") as f:
            f.write("# algorithm=elkan: flashkmeans vs scikit-learn %s\n\n" % __import__("sklearn").__version__)
            f.write("Device: %s (2 cores). Date %s, commit %s. bench/elkan_sklearn.py, float32, same "
                    "k-means++ centres, n_init=1, tol=0, best of %d; seconds to convergence.\n\n"
                    % (cpu, rows[0]["date"], commit, a.repeat))
            f.write("| case | fkm lloyd | fkm elkan | iters | sklearn elkan | sklearn lloyd | "
                    "iters | fkm elkan speed-up vs sklearn elkan | fkm elkan bits = fkm lloyd | labels = sklearn |\n")
            f.write("|---|---|---|---|---|---|---|---|---|---|\n")
            for r in rows:
                f.write("| %s | %.3f | %.3f | %d | %.3f | %.3f | %d | %.2fx | %s | %.4f |\n" % (
                    r["case"], r["fkm_lloyd_s"], r["fkm_elkan_s"], r["fkm_iters"],
                    r["sk_elkan_s"], r["sk_lloyd_s"], r["sk_iters"], r["speedup_elkan_vs_sk_elkan"],
                    r["same_bits_as_lloyd"]["elkan"], r["labels_equal_to_sklearn"]))
            if a.baseline:
                f.write("\nA/B in the same run, flashkmeans elkan with the baseline library (%s) and with this "
                        "one, seconds:\n\n| case | baseline lloyd | baseline elkan | lloyd | elkan | elkan speed-up |\n"
                        "|---|---|---|---|---|---|\n" % a.baseline)
                for r in rows:
                    f.write("| %s | %.3f | %.3f | %.3f | %.3f | %.2fx |\n" % (
                        r["case"], r["baseline_lloyd_s"], r["baseline_elkan_s"], r["fkm_lloyd_s"],
                        r["fkm_elkan_s"], r["baseline_elkan_s"] / r["fkm_elkan_s"]))


if __name__ == "__main__":
    main()
