"""Hierarchical initialisation on sparse input (scipy CSR, never made dense) against sparse
k-means||, CPU, through flashkmeans.KMeans: time of the initialisation alone (max_iter=0) and the
potential it leaves, then a fit of 10 Lloyd iterations from each and its inertia. Same data and
seed for both. Data: N rows over D columns from 400 topics, each a random support of density x D
columns; a row keeps each of its topic's columns with probability 0.7, values uniform in [0.5, 1.5).

Run: FKM_LIBRARY=build/libflashkmeans.so PYTHONPATH=python /usr/bin/python3 bench/init_hier_sparse.py \
         N D K DENSITY          (e.g. 100000 10000 2048 0.005)"""
import sys
import time

import numpy as np
import scipy.sparse as sp

import flashkmeans


def topics_csr(n, d, density, seed=7):
    rng = np.random.default_rng(seed)
    topics = [rng.choice(d, size=max(1, int(density * d)), replace=False) for _ in range(400)]
    rows, cols, vals = [], [], []
    for i in range(n):
        t = topics[rng.integers(400)]
        keep = t[rng.random(t.size) < 0.7]
        rows.append(np.full(keep.size, i))
        cols.append(keep)
        vals.append(rng.random(keep.size).astype(np.float32) + 0.5)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, d),
                         dtype=np.float32)


def main():
    n, d, k, density = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    S = topics_csr(n, d, density)
    print("n=%d d=%d nnz=%d (%.2f%%) k=%d" % (n, d, S.nnz, 100.0 * S.nnz / n / d, k))
    for init in ("hierarchical", "k-means||"):
        t = time.perf_counter()
        m = flashkmeans.KMeans(k, init=init, n_init=1, max_iter=0, random_state=1, device="cpu").fit(S)
        t0 = time.perf_counter() - t
        t = time.perf_counter()
        m10 = flashkmeans.KMeans(k, init=init, n_init=1, max_iter=10, tol=0, random_state=1, device="cpu").fit(S)
        t1 = time.perf_counter() - t
        print("%-13s init %.2f s potential %.6g | 10 iterations: whole fit %.2f s inertia %.6g"
              % (init, t0, m.inertia_, t1, m10.inertia_))


if __name__ == "__main__":
    main()
