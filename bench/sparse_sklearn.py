"""flashkmeans.KMeans on scipy sparse input (fkm_fit_csr) beside scikit-learn's KMeans, on a real
sparse matrix: TF-IDF (sklearn's TfidfVectorizer, default settings) of the Debian copyright files
/usr/share/doc/*/copyright (or the files given). Same float64 CSR matrix, the same k-means++ start
(scikit-learn's kmeans_plusplus, given to both as init), n_init=1, tol=0 (scikit-learn then stops
when no label changes; flashkmeans with stop="labels", the same rule) and at most ITERS
iterations; time per fit (best of REPS), per iteration, iterations and labels compared. Threads: both use every CPU (scikit-learn's OpenMP, flashkmeans's auto).
Also flashkmeans with metric="cosine" (spherical k-means, same start): time per iteration only.

    FKM_LIBRARY=build/libflashkmeans.so PYTHONPATH=python /usr/bin/python3 bench/sparse_sklearn.py [--k 20,100] [--iters 20] [--reps 3] [--json out.jsonl]
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import time

import numpy as np


def corpus(paths):
    docs = []
    for p in paths:
        try:
            with open(p, encoding="utf-8", errors="replace") as f:
                docs.append(f.read())
        except OSError:
            pass
    return docs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", default="20,100")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    from sklearn.cluster import KMeans as SkKMeans, kmeans_plusplus
    from sklearn.feature_extraction.text import TfidfVectorizer
    import flashkmeans

    docs = corpus(a.files or sorted(glob.glob("/usr/share/doc/*/copyright")))
    X = TfidfVectorizer().fit_transform(docs).tocsr()  # float64 CSR, rows unit L2
    n, d = X.shape
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    info = dict(date=time.strftime("%Y-%m-%d"), commit=commit, cpu=platform.processor() or platform.machine(),
                cpus=os.cpu_count(), n=n, d=d, nnz=int(X.nnz), density=X.nnz / (n * d))
    try:
        info["cpu"] = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    print(json.dumps(info))
    rows = []
    for k in [int(v) for v in a.k.split(",")]:
        C0, _ = kmeans_plusplus(X, k, random_state=0)
        res = {}
        for name, make in [("sklearn", lambda: SkKMeans(k, init=C0, n_init=1, max_iter=a.iters, tol=0)),
                           ("flashkmeans", lambda: flashkmeans.KMeans(k, init=C0, n_init=1, max_iter=a.iters,
                                                                       tol=0, stop="labels", device="cpu")),
                           # spherical k-means (cosine): the usual choice for TF-IDF; scikit-learn has
                           # none, so only its own time per iteration is comparable
                           ("flashkmeans_cosine", lambda: flashkmeans.KMeans(k, init=C0, n_init=1, max_iter=a.iters,
                                                                              tol=0, stop="labels", device="cpu",
                                                                              metric="cosine"))]:
            best, km = None, None
            for _ in range(a.reps):
                est = make()
                t0 = time.perf_counter()
                est.fit(X)
                t = time.perf_counter() - t0
                if best is None or t < best:
                    best, km = t, est
            res[name] = dict(s=best, iters=int(km.n_iter_), ms_per_iter=1e3 * best / max(1, km.n_iter_),
                             inertia=float(km.inertia_), labels=km.labels_)
        same = float(np.mean(res["sklearn"]["labels"] == res["flashkmeans"]["labels"]))
        row = dict(info, k=k, max_iter=a.iters, same_labels=same,
                   **{"%s_%s" % (e, f): v for e in res for f, v in res[e].items() if f != "labels"},
                   speedup=res["sklearn"]["s"] / res["flashkmeans"]["s"])
        rows.append(row)
        print(json.dumps({f: v for f, v in row.items() if f not in info}))
    if a.json:
        with open(a.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
