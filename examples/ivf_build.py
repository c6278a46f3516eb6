#!/usr/bin/env python3
"""Vector-index coarse quantiser: build the lists of an IVF index with flashkmeans, search it.

An IVF ("inverted file") index cuts a collection into nlist lists with k-means: every vector goes
to the list of its nearest centroid. A query is compared with the nlist centroids, then only with
the vectors of its nprobe nearest lists. The build is one flashkmeans.KMeans fit (k-means||
seeding, exact Lloyd iterations) on the whole collection; its labels_ are the lists.

Printed: the fit (time, iterations), the list sizes (min / median / max, empty lists and FAISS's
imbalance factor), then for nprobe in 1, 4, 16: recall@10 against an exact brute-force search
(done in numpy, float64), the share of the collection scanned, and the search time per query
(a plain numpy loop over queries: it shows the pruning, it is not a fast search engine).

Data: a synthetic clustered collection (clusters of uneven sizes and shapes), or Fashion-MNIST
(training images as the collection, test images as queries) when the Debian package
dataset-fashion-mnist is installed, the same files `make demo` uses.

Run:  python3 examples/ivf_build.py --help
      python3 examples/ivf_build.py --small --device cpu            # a few seconds on 2 cores
      python3 examples/ivf_build.py --device cuda --data synthetic  # full size: 1M x 64, nlist 4096
"""
import argparse
import glob
import gzip
import os
import subprocess
import sys
import time

import numpy as np

flashkmeans = None  # imported by main() after the arguments: --help works without the library


def import_flashkmeans():
    global flashkmeans
    try:
        import flashkmeans
    except ImportError:  # run from a source checkout: <repo>/python (it finds <repo>/build's library)
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
        import flashkmeans


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Build the coarse quantiser (lists) of an IVF index with flashkmeans.KMeans "
                    "(k-means|| init) and measure recall@10 of the IVF search for several nprobe.")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where k-means runs (auto: a GPU when flashkmeans sees one)")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true",
                      help="small collection, seconds on 2 CPU cores (the default without a GPU)")
    size.add_argument("--full", action="store_true", help="full size (the default on a GPU)")
    ap.add_argument("--data", default="auto", choices=("auto", "synthetic", "fashion-mnist"),
                    help="auto: Fashion-MNIST when its Debian package is installed, else synthetic")
    ap.add_argument("--n", type=int, help="synthetic collection size (small 20000, full 1000000)")
    ap.add_argument("--dim", type=int, help="synthetic dimension (small 32, full 64)")
    ap.add_argument("--nlist", type=int, help="number of lists (small 64; full 4096, Fashion-MNIST 1024)")
    ap.add_argument("--queries", type=int, help="number of queries (small 200, full 1000)")
    ap.add_argument("--nprobe", default="1,4,16", help="lists probed per query (1,4,16)")
    ap.add_argument("--max-iter", type=int, default=25, help="Lloyd iterations at most (25)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library's choice)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def resolve_device(name):
    gpus = flashkmeans.cuda_device_count()
    if name == "cuda" and gpus == 0:
        sys.exit("--device cuda: flashkmeans sees no GPU (library %s)" % flashkmeans.library_path)
    return "cuda" if name == "cuda" or (name == "auto" and gpus > 0) else "cpu"


# ------------------------------------------------------------------------- data

def fashion_mnist_file(name):
    """Where Debian's dataset-fashion-mnist put `name` (dpkg -L, then its usual directory)."""
    try:
        files = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True,
                               text=True).stdout.split()
    except OSError:
        files = []
    files += glob.glob("/usr/share/datasets/fashion-mnist/*")
    for f in files:
        if os.path.basename(f) in (name, name + ".gz") and os.path.isfile(f):
            return f
    return None


def read_idx_images(path, limit):
    """The first `limit` images of an IDX3 file (gzip or not) as float32 rows of 784 pixels."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        head = np.frombuffer(f.read(16), dtype=">u4")
        if head[0] != 0x803:
            sys.exit("%s: not an IDX3 image file" % path)
        n, rows, cols = (int(v) for v in head[1:])
        n = min(n, limit)
        pixels = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return pixels.reshape(n, rows * cols).astype(np.float32)


def synthetic(rng, n, d, clusters):
    """Clustered vectors: cluster sizes log-normal, each cluster a Gaussian with its own spread
    and per-axis shape, centres close enough that neighbouring clusters overlap."""
    sizes = rng.lognormal(0.0, 1.0, clusters)
    group = rng.choice(clusters, size=n, p=sizes / sizes.sum())
    centres = rng.standard_normal((clusters, d)) * 1.0
    spread = rng.lognormal(0.0, 0.3, clusters)[:, None] * rng.lognormal(0.0, 0.5, (clusters, d))
    x = centres[group] + spread[group] * rng.standard_normal((n, d))
    return x.astype(np.float32)


# ------------------------------------------------------------------------- search

def sq_dist(q, x, xn):
    """Squared distances (float64) of queries q (m, d) to rows x (n, d) with norms xn (n,)."""
    return np.maximum((q * q).sum(axis=1)[:, None] - 2.0 * (q @ x.T) + xn[None, :], 0.0)


def brute_force(q, x, xn, k):
    """Exact k nearest neighbours (indices, squared distances), in blocks of queries."""
    idx = np.empty((len(q), k), dtype=np.int64)
    dist = np.empty((len(q), k))
    block = max(1, int(2e7 // len(x)))
    for s in range(0, len(q), block):
        d2 = sq_dist(q[s:s + block], x, xn)
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        pd = np.take_along_axis(d2, part, axis=1)
        order = np.argsort(pd, axis=1, kind="stable")
        idx[s:s + block] = np.take_along_axis(part, order, axis=1)
        dist[s:s + block] = np.take_along_axis(pd, order, axis=1)
    return idx, dist


def ivf_search(q, x, xn, centroids, order, start, nprobe, k):
    """IVF search: for each query the nprobe nearest lists, then exact distances to their
    members. Returns (squared distances of the k found (m, k), mean candidates per query)."""
    cd = sq_dist(q, centroids, (centroids * centroids).sum(axis=1))
    probes = np.argpartition(cd, nprobe - 1, axis=1)[:, :nprobe] if nprobe < len(centroids) \
        else np.tile(np.arange(len(centroids)), (len(q), 1))
    found = np.full((len(q), k), np.inf)
    scanned = 0
    for i in range(len(q)):
        cand = np.concatenate([order[start[c]:start[c + 1]] for c in probes[i]])
        scanned += len(cand)
        d2 = sq_dist(q[i:i + 1], x[cand], xn[cand])[0]
        m = min(k, len(cand))
        found[i, :m] = np.sort(np.partition(d2, m - 1)[:m])
    return found, scanned / len(q)


def recall_at(found, true_dist, k):
    """recall@k counted by distance, so that exact ties (duplicate vectors) do not count as
    misses: a found neighbour is a hit when it is no farther than the true k-th neighbour."""
    limit = true_dist[:, k - 1:k] * (1 + 1e-9) + 1e-9
    return float(np.minimum((found[:, :k] <= limit).sum(axis=1), k).mean() / k)


# ------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    import_flashkmeans()
    device = resolve_device(args.device)
    small = args.small or (not args.full and device == "cpu")
    rng = np.random.default_rng(args.seed)
    nprobes = [int(v) for v in args.nprobe.split(",")]
    nq = args.queries or (200 if small else 1000)

    data = args.data
    train_f = test_f = None
    if data in ("auto", "fashion-mnist"):
        train_f = fashion_mnist_file("train-images-idx3-ubyte")
        test_f = fashion_mnist_file("t10k-images-idx3-ubyte")
        if train_f is None or test_f is None:
            if data == "fashion-mnist":
                sys.exit("Fashion-MNIST not found: install the Debian package dataset-fashion-mnist")
            data = "synthetic"
        else:
            data = "fashion-mnist"
    t0 = time.perf_counter()
    if data == "fashion-mnist":
        x = read_idx_images(train_f, 10000 if small else 60000)
        q = read_idx_images(test_f, nq)
        nlist = args.nlist or (64 if small else 1024)
        what = "Fashion-MNIST (%s; queries from %s)" % (train_f, os.path.basename(test_f))
    else:
        n = args.n or (20000 if small else 1000000)
        d = args.dim or (32 if small else 64)
        nlist = args.nlist or (64 if small else 4096)
        allx = synthetic(rng, n + nq, d, clusters=2 * nlist)
        perm = rng.permutation(n + nq)
        x, q = allx[perm[:n]], allx[perm[n:]]
        what = "synthetic: %d Gaussian clusters of uneven sizes and shapes" % (2 * nlist)
    n, d = x.shape
    print("IVF coarse quantiser: %s collection of %s vectors of %d dimensions, %d queries, %s size"
          % (data, format(n, ","), d, len(q), "small" if small else "full"))
    print("  data: %s (%.2f s)" % (what, time.perf_counter() - t0))

    # -------------------------------------------------------------- build: k-means into nlist lists
    t0 = time.perf_counter()
    km = flashkmeans.KMeans(nlist, init="k-means||", max_iter=args.max_iter, random_state=args.seed,
                            device=device, n_threads=args.threads).fit(x)
    fit_s = time.perf_counter() - t0
    labels = np.asarray(km.labels_)
    centroids = np.asarray(km.cluster_centers_, dtype=np.float64)
    print("\nbuild: KMeans(%d, init='k-means||') on %s: %.3f s, %d iterations (%s), inertia %.6e"
          % (nlist, km.device_, fit_s, km.n_iter_, km.stop_reason_, km.inertia_))
    sizes = np.bincount(labels, minlength=nlist)
    imbalance = nlist * float((sizes.astype(np.float64) ** 2).sum()) / float(n) ** 2
    print("  list sizes: min %d, median %d, max %d (mean %.1f); empty lists %d; imbalance factor %.3f"
          % (sizes.min(), int(np.median(sizes)), sizes.max(), n / nlist, int((sizes == 0).sum()), imbalance))

    # -------------------------------------------------------------- search
    x64, q64 = x.astype(np.float64), q.astype(np.float64)
    xn = (x64 * x64).sum(axis=1)
    order = np.argsort(labels, kind="stable")                 # the lists, one after the other
    start = np.concatenate([[0], np.cumsum(sizes)])
    t0 = time.perf_counter()
    _, true_dist = brute_force(q64, x64, xn, 10)
    bf_ms = 1e3 * (time.perf_counter() - t0) / len(q)
    print("\nsearch: top 10 of %d queries; exact brute force %.3f ms per query (numpy, float64)" % (len(q), bf_ms))
    print("  %6s  %9s  %8s  %12s" % ("nprobe", "recall@10", "scanned", "ms per query"))
    for p in nprobes:
        p = min(p, nlist)
        t0 = time.perf_counter()
        found, cand = ivf_search(q64, x64, xn, centroids, order, start, p, 10)
        ms = 1e3 * (time.perf_counter() - t0) / len(q)
        print("  %6d  %9.4f  %7.2f%%  %12.3f" % (p, recall_at(found, true_dist, 10), 100 * cand / n, ms))


if __name__ == "__main__":
    main()
