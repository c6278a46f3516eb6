"""flashkmeans.MiniBatchKMeans against scikit-learn's MiniBatchKMeans on the same data, the same
initial centres and the same number of mini-batch steps (tol=0, max_no_improvement=None: exactly
max_iter * n // batch_size steps), CPU.

    FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 bench/minibatch_sklearn.py \
        [--n 200000 --d 32 --k 64 --batch 1024 --epochs 5 --repeats 5] [--json out.jsonl]

Times fit() with compute_labels=False (the steps alone; the init is given) and the full-data
labelling afterwards (predict), alternating the two libraries, and reports min and median. Also
reports each result's inertia on the whole data (score), so that equal work is visible."""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()

    import sklearn
    from sklearn.cluster import MiniBatchKMeans as SkMB
    from sklearn.datasets import make_blobs

    import flashkmeans

    X, _ = make_blobs(a.n, n_features=a.d, centers=a.k, cluster_std=4.0, random_state=0)
    X = X.astype(np.float32)
    C0 = X[np.random.RandomState(1).choice(a.n, a.k, replace=False)].astype(np.float64)
    kw = dict(n_clusters=a.k, init=C0, n_init=1, batch_size=a.batch, max_iter=a.epochs, tol=0.0,
              max_no_improvement=None, compute_labels=False, random_state=0)
    steps = a.epochs * a.n // a.batch
    impls = {"flashkmeans": flashkmeans.MiniBatchKMeans, "scikit-learn": SkMB}
    times = {name: [] for name in impls}
    pred = {name: [] for name in impls}
    models = {}
    for _ in range(a.repeats):
        for name, cls in impls.items():
            t0 = time.perf_counter()
            m = cls(**kw).fit(X)
            t1 = time.perf_counter()
            m.predict(X)
            t2 = time.perf_counter()
            assert m.n_steps_ == steps, (name, m.n_steps_, steps)
            times[name].append(t1 - t0)
            pred[name].append(t2 - t1)
            models[name] = m
    rows = []
    for name in impls:
        r = {"impl": name, "n": a.n, "d": a.d, "k": a.k, "batch": a.batch, "steps": steps,
             "fit_s_min": min(times[name]), "fit_s_median": statistics.median(times[name]),
             "ms_per_step_min": 1e3 * min(times[name]) / steps,
             "predict_s_min": min(pred[name]), "predict_s_median": statistics.median(pred[name]),
             "inertia": float(-models[name].score(X)), "sklearn": sklearn.__version__,
             "load": os.getloadavg()[0], "machine": platform.node(), "cpus": os.cpu_count()}
        rows.append(r)
        print("%-12s fit %d steps: min %.3f s  median %.3f s  (%.3f ms/step)   predict all: min %.3f s"
              "   inertia %.6g" % (name, steps, r["fit_s_min"], r["fit_s_median"],
                                   r["ms_per_step_min"], r["predict_s_min"], r["inertia"]))
    f, s = rows
    print("flashkmeans / scikit-learn time, fit: %.2fx faster (min), %.2fx (median); predict: %.2fx"
          % (s["fit_s_min"] / f["fit_s_min"], s["fit_s_median"] / f["fit_s_median"],
             s["predict_s_min"] / f["predict_s_min"]))
    if a.json:
        with open(a.json, "a") as out:
            for r in rows:
                out.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
