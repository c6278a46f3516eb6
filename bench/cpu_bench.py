#!/usr/bin/python3
"""cpu_bench.py -- data and baselines for `make bench-cpu` (driven by bench/cpu.sh).

  gen DIR                  write the benchmark inputs into DIR: for each case NAME,
                           NAME.x.f32 (n x d), NAME.c0.f32 (k x d initial centroids), NAME.json
  faiss DIR NAME ITERS     time faiss.Kmeans from the same initial centroids (no subsampling)
  sklearn DIR NAME ITERS   time sklearn KMeans(algorithm="lloyd", tol=0) from the same centroids
  report OUT_JSON OUT_MD RESULTS...   merge the runs into a table

Every case uses fixed seeds, so every tool sees exactly the same float32 data and centroids.
"""
import gzip
import json
import os
import sys
import time

import numpy as np

FMNIST_DIRS = ["/usr/share/datasets/fashion-mnist", "/usr/share/dataset-fashion-mnist",
               "/usr/share/datasets/fashion_mnist"]


def read_idx_images(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        buf = f.read()
    magic, n, rows, cols = np.frombuffer(buf[:16], dtype=">u4")
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX image file (magic {magic})")
    return np.frombuffer(buf[16:], dtype=np.uint8, count=n * rows * cols).reshape(n, rows * cols)


def find_fmnist():
    for d in FMNIST_DIRS:
        for name in ("train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                return p
    return None


def write_case(out, name, x, k, seed):
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(x.shape[0], size=k, replace=False))
    c0 = np.ascontiguousarray(x[idx])
    x.astype(np.float32).tofile(os.path.join(out, name + ".x.f32"))
    c0.astype(np.float32).tofile(os.path.join(out, name + ".c0.f32"))
    meta = {"name": name, "n": int(x.shape[0]), "d": int(x.shape[1]), "k": int(k), "seed": seed}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(meta, f)
    return meta


def cmd_gen(out):
    os.makedirs(out, exist_ok=True)
    cases = []
    rng = np.random.default_rng(20261122)
    x = rng.standard_normal((200000, 128), dtype=np.float32)
    cases.append(write_case(out, "gauss", x, 1024, 1))
    p = find_fmnist()
    if p:
        x = read_idx_images(p).astype(np.float32)
        cases.append(write_case(out, "fmnist", x, 256, 2))
    else:
        print("Fashion-MNIST not found (Debian package dataset-fashion-mnist); skipping it", file=sys.stderr)
    print(json.dumps(cases))


def load_case(out, name):
    with open(os.path.join(out, name + ".json")) as f:
        meta = json.load(f)
    n, d, k = meta["n"], meta["d"], meta["k"]
    x = np.fromfile(os.path.join(out, name + ".x.f32"), dtype=np.float32).reshape(n, d)
    c0 = np.fromfile(os.path.join(out, name + ".c0.f32"), dtype=np.float32).reshape(k, d)
    return meta, x, c0


def cmd_faiss(out, name, iters):
    import faiss
    meta, x, c0 = load_case(out, name)
    km = faiss.Kmeans(meta["d"], meta["k"], niter=iters, seed=1, verbose=False,
                      max_points_per_centroid=10 ** 9, min_points_per_centroid=1)
    t0 = time.perf_counter()
    km.train(x, init_centroids=c0)
    wall = (time.perf_counter() - t0) * 1e3
    stats = km.iteration_stats
    # iteration_stats' "time" is cumulative seconds since the start of training
    cum = [s["time"] * 1e3 for s in stats]
    per = [cum[0]] + [cum[i] - cum[i - 1] for i in range(1, len(cum))]
    after = sorted(per[1:]) if len(per) > 1 else per
    res = {"tool": "faiss", "version": faiss.__version__, "case": name, "iterations": len(per),
           "ms": per, "median_ms": after[len(after) // 2], "min_ms": after[0], "wall_ms": wall,
           "threads": faiss.omp_get_max_threads(), "inertia": float(stats[-1]["obj"])}
    print(json.dumps(res))


def cmd_sklearn(out, name, iters):
    import sklearn
    from sklearn.cluster import KMeans
    meta, x, c0 = load_case(out, name)
    km = KMeans(n_clusters=meta["k"], init=c0, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd")
    t0 = time.perf_counter()
    km.fit(x)
    wall = (time.perf_counter() - t0) * 1e3
    # sklearn reports no per-iteration times: wall / iterations run (this includes its input
    # checks and the final label pass, so it slightly overstates the per-iteration cost).
    res = {"tool": "sklearn", "version": sklearn.__version__, "case": name, "iterations": int(km.n_iter_),
           "median_ms": wall / max(km.n_iter_, 1), "min_ms": wall / max(km.n_iter_, 1), "wall_ms": wall,
           "inertia": float(km.inertia_)}
    print(json.dumps(res))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "gen":
        cmd_gen(sys.argv[2])
    elif cmd == "faiss":
        cmd_faiss(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "sklearn":
        cmd_sklearn(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
