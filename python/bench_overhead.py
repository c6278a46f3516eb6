#!/usr/bin/python3
"""Overhead of the Python binding over the C API, same problem, same process-free conditions.

    FKM_BUILD_DIR=build PYTHONPATH=python /usr/bin/python3 python/bench_overhead.py \
        [--n 200000 --d 128 --k 1024 --iters 5 --repeats 3]

A small C program (compiled here against include/flashkmeans.h and the same libflashkmeans.so)
times fkm_fit on the data written to a file; Python times flashkmeans.KMeans(...).fit on the same
numpy float32 array. Both use init="random" (k-means++ for K=1024 costs far more than the
iterations and is the same C code either way) and stop="fixed". Runs alternate C / Python to
spread the noise of a shared machine evenly; medians are reported:
  * ms/iteration as the library measures it (stats[i].ms) in each path;
  * whole-call wall time in each path, and the Python extra per iteration
    = (wall_py - wall_c) / iters, as a fraction of the C ms/iteration.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import flashkmeans
from flashkmeans import _lib

C_PROG = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "flashkmeans.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(int argc, char **argv) {
    long long n = atoll(argv[2]), d = atoll(argv[3]);
    float *x = malloc(sizeof(float) * n * d);
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(x, sizeof(float), n * d, f) != (size_t)(n * d)) return 3;
    fclose(f);
    fkm_params p; fkm_params_default(&p);
    p.k = atoll(argv[4]); p.max_iter = atoi(argv[5]); p.stop = FKM_STOP_FIXED;
    p.init = FKM_INIT_RANDOM; p.seed = 0; p.device = FKM_DEVICE_CPU;
    if (argc > 6) p.threads = atoi(argv[6]);
    if (argc > 7) p.device = (fkm_device)atoi(argv[7]);
    fkm_matrix m = {x, FKM_F32, n, d, NULL};
    fkm_result r;
    double t0 = now();
    if (fkm_fit(&p, &m, &r) != FKM_OK) { fprintf(stderr, "%s\n", fkm_last_error()); return 4; }
    double wall = now() - t0, ms = 0;
    for (int i = 0; i < r.iterations; i++) ms += r.stats[i].ms;
    printf("%.3f %.3f %d\n", wall, ms / r.iterations, r.iterations);
    fkm_result_free(&r); free(x);
    return 0;
}
"""


def build_c(tmp):
    cc = shutil.which("cc") or shutil.which("gcc")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    lib = os.path.abspath(flashkmeans.library_path)
    src, exe = os.path.join(tmp, "fit.c"), os.path.join(tmp, "fit")
    with open(src, "w") as fh:
        fh.write(C_PROG)
    subprocess.run([cc, "-O2", "-std=c11", "-I", os.path.join(repo, "include"), src, "-o", exe, lib,
                    "-Wl,-rpath," + os.path.dirname(lib)], check=True)
    return exe


class CallTimer:
    """Times the ctypes call to fkm_fit made inside KMeans.fit (what is left of the fit's wall
    time is the binding's own work: input checks, parameter set-up, copying results out)."""

    def __init__(self):
        self.fn = _lib.lib.fkm_fit
        self.ms = []

    def __call__(self, *args):
        t0 = time.perf_counter()
        st = self.fn(*args)
        self.ms.append((time.perf_counter() - t0) * 1e3)
        return st

    def __enter__(self):
        _lib.lib.fkm_fit = self
        return self

    def __exit__(self, *exc):
        _lib.lib.fkm_fit = self.fn


DEVICES = {"auto": 0, "cpu": 1, "cuda": 2}


def run_c(exe, path, n, d, k, iters, threads=0, device="cpu"):
    out = subprocess.run([exe, path, str(n), str(d), str(k), str(iters), str(threads),
                          str(DEVICES[device])], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def run_py(X, k, iters, threads=None, device="cpu"):
    km = flashkmeans.KMeans(k, init="random", random_state=0, max_iter=iters, stop="fixed",
                            device=device, n_threads=threads)
    with CallTimer() as ct:
        t0 = time.perf_counter()
        km.fit(X)
        wall = (time.perf_counter() - t0) * 1e3
    return wall, statistics.mean(s["ms"] for s in km.iteration_stats_), wall - ct.ms[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", choices=sorted(DEVICES))
    a = ap.parse_args()
    med = statistics.median
    X = np.random.RandomState(0).standard_normal((a.n, a.d)).astype(np.float32)
    small = np.random.RandomState(1).standard_normal((256, 2)).astype(np.float32)
    tiny_iters = 2000
    with tempfile.TemporaryDirectory() as tmp:
        exe = build_c(tmp)
        path, spath = os.path.join(tmp, "x.f32"), os.path.join(tmp, "s.f32")
        X.tofile(path)
        small.tofile(spath)
        c_wall, c_ms, py_wall, py_ms, py_own = [], [], [], [], []
        for rep in range(a.repeats):  # A + B: the full problem, C and Python alternating
            w, m = run_c(exe, path, a.n, a.d, a.k, a.iters, device=a.device)
            c_wall.append(w)
            c_ms.append(m)
            w, m, own = run_py(X, a.k, a.iters, device=a.device)
            py_wall.append(w)
            py_ms.append(m)
            py_own.append(own)
            print("run %d: C wall %.1f ms (%.1f ms/iter)  Python wall %.1f ms (%.1f ms/iter, "
                  "%.2f ms outside the C call)" % (rep, c_wall[-1], c_ms[-1], py_wall[-1],
                                                    py_ms[-1], own), flush=True)
        tc, tp = [], []
        for rep in range(5 if a.device == "cpu" else 0):  # C: per-iteration cost of the progress callback, tiny problem
            tc.append(run_c(exe, spath, 256, 2, 2, tiny_iters, threads=1)[0])
            tp.append(run_py(small, 2, tiny_iters, threads=1)[0])
    per_iter_us = (min(tp) - min(tc)) / tiny_iters * 1e3 if tc else 0.0  # GPU: no callback
    print()
    print("N=%d D=%d K=%d iters=%d float32, init=random, stop=fixed, device=%s; library %s; %s"
          % (a.n, a.d, a.k, a.iters, a.device, flashkmeans.__version__,
             time.strftime("%Y-%m-%d %H:%M")))
    print("A  end to end, ms/iteration from stats: C min %.1f median %.1f | Python min %.1f "
          "median %.1f" % (min(c_ms), med(c_ms), min(py_ms), med(py_ms)))
    print("   whole call: C min %.1f median %.1f ms | Python min %.1f median %.1f ms"
          % (min(c_wall), med(c_wall), min(py_wall), med(py_wall)))
    print("B  binding work outside the C call, per fit: median %.2f ms = %.3f%% of %d iterations "
          "at the C min ms/iteration" % (med(py_own), 100 * med(py_own) / (a.iters * min(c_ms)), a.iters))
    print("C  per-iteration callback cost (256x2, K=2, 1 thread, %d iterations, min of 5): %.2f us/iteration"
          " = %.5f%% of the C min ms/iteration" % (tiny_iters, per_iter_us,
                                                   100 * per_iter_us / 1e3 / min(c_ms)))
    total = med(py_own) / a.iters + per_iter_us / 1e3
    print("=> binding overhead per iteration %.3f ms = %.3f%% of %.1f ms/iteration"
          % (total, 100 * total / min(c_ms), min(c_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
