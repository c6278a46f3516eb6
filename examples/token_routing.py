#!/usr/bin/env python3
"""Token routing: re-cluster drifting token embeddings every step, warm-started.

A window of T tokens is routed to K groups (experts, KV-cache clusters, ...) by k-means on their
embeddings, once per step. Between steps the embeddings drift a little (the group centres move,
each token's own offset follows a slow random walk, and a few tokens switch group), as hidden
states do from one decoding step to the next. Each step is one flashkmeans.batch_kmeans call
started from the previous step's centroids (init=<the (K, D) centroids of the last call>): it
needs fewer iterations than a fresh k-means++ start, and the cluster numbering stays the same, so
only the tokens that really moved change label. The same step from a fresh start is timed beside
it (its numbering is arbitrary, so most labels "change").

On a GPU with torch the whole loop runs on CUDA tensors: the embeddings are generated on the
device, the previous centroids are a CUDA tensor handed back as init (no host round trip), and the
labels-changed count is computed on the device. Capturing this loop in a CUDA graph
(torch.cuda.graph) is NOT supported yet (issue 21, item 2): a call allocates its outputs and reads
the iteration counts and inertia back to the host.

Run:  python3 examples/token_routing.py --help
      python3 examples/token_routing.py --small --device cpu      # a few seconds on 2 cores
      python3 examples/token_routing.py --device cuda             # full size, torch CUDA tensors
"""
import argparse
import math
import os
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
        description="Cluster drifting token embeddings every step with flashkmeans.batch_kmeans, "
                    "warm-started from the previous step's centroids (CUDA tensors on a GPU).")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where k-means runs (auto: a GPU when flashkmeans sees one)")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true",
                      help="small problem, seconds on 2 CPU cores (the default without a GPU)")
    size.add_argument("--full", action="store_true", help="full size (the default on a GPU)")
    ap.add_argument("--tokens", type=int, help="tokens per step T (small 4096, full 65536)")
    ap.add_argument("--dim", type=int, help="embedding width D (small 32, full 256)")
    ap.add_argument("--k", type=int, help="number of groups K (small 16, full 64)")
    ap.add_argument("--steps", type=int, default=20, help="steps (20)")
    ap.add_argument("--max-iter", type=int, default=50, help="Lloyd iterations per step at most (50)")
    ap.add_argument("--switch", type=float, default=0.005,
                    help="probability that a token switches group at a step (0.005)")
    ap.add_argument("--dtype", default=None, choices=("float32", "float16", "bfloat16"),
                    help="embedding type (float32 on the CPU, float16 on a GPU)")
    ap.add_argument("--no-cold", action="store_true",
                    help="skip the fresh-start (k-means++) fit of every step")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library's choice)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def resolve_device(name):
    gpus = flashkmeans.cuda_device_count()
    if name == "cuda" and gpus == 0:
        sys.exit("--device cuda: flashkmeans sees no GPU (library %s)" % flashkmeans.library_path)
    device = "cuda" if name == "cuda" or (name == "auto" and gpus > 0) else "cpu"
    torch = None
    if device == "cuda":
        try:
            import torch
            if not torch.cuda.is_available():
                torch = None
        except ImportError:
            torch = None
    return device, torch


class NumpyOps:
    """The few array operations the simulation needs, on the host."""

    def __init__(self, seed, dtype):
        self.rng, self.dtype = np.random.default_rng(seed), np.dtype(dtype)

    def randn(self, *shape):
        return self.rng.standard_normal(shape, dtype=np.float32)

    def rand(self, n):
        return self.rng.random(n, dtype=np.float32)

    def randint(self, high, n):
        return self.rng.integers(0, high, n)

    where = staticmethod(np.where)

    def cast(self, x):
        return x.astype(self.dtype)

    def count(self, mask):
        return int(mask.sum())

    def sync(self):
        pass


class TorchOps(NumpyOps):
    """The same on a CUDA device: everything stays in device memory."""

    def __init__(self, seed, dtype, torch):
        self.torch, self.dtype = torch, getattr(torch, dtype)
        self.gen = torch.Generator(device="cuda").manual_seed(seed)

    def randn(self, *shape):
        return self.torch.randn(shape, generator=self.gen, device="cuda")

    def rand(self, n):
        return self.torch.rand(n, generator=self.gen, device="cuda")

    def randint(self, high, n):
        return self.torch.randint(0, high, (n,), generator=self.gen, device="cuda")

    def where(self, c, a, b):
        return self.torch.where(c, a, b)

    def cast(self, x):
        return x.to(self.dtype)

    def count(self, mask):
        return int(mask.sum().item())

    def sync(self):
        self.torch.cuda.synchronize()


class Tokens:
    """T tokens in K groups: x = centre[group] + offset. Each step the centres drift, offsets
    follow an AR(1) walk (they stay of the same size) and a few tokens switch group."""

    def __init__(self, ops, t, d, k, switch):
        self.ops, self.k, self.switch = ops, k, switch
        # Centres about 5 offset standard deviations apart (any two of them, whatever D), so the
        # groups overlap a little at their edges.
        self.spread = 5.0 / math.sqrt(2.0 * d)   # a float: also scales torch tensors
        self.centres = ops.randn(k, d) * self.spread
        self.group = ops.randint(k, t)
        self.offset = ops.randn(t, d)
        self.switched = 0

    def step(self):
        ops = self.ops
        self.centres = self.centres + 0.1 * self.spread * ops.randn(*self.centres.shape)
        self.offset = 0.95 * self.offset + math.sqrt(1 - 0.95 ** 2) * ops.randn(*self.offset.shape)
        moves = ops.rand(self.group.shape[0]) < self.switch
        self.switched = ops.count(moves)
        self.group = ops.where(moves, ops.randint(self.k, self.group.shape[0]), self.group)

    def embeddings(self):
        return self.ops.cast(self.centres[self.group] + self.offset)


def main(argv=None):
    args = parse_args(argv)
    import_flashkmeans()
    device, torch = resolve_device(args.device)
    small = args.small or (not args.full and device == "cpu")
    t = args.tokens or (4096 if small else 65536)
    d = args.dim or (32 if small else 256)
    k = args.k or (16 if small else 64)
    on_tensors = torch is not None
    dtype = args.dtype or ("float16" if on_tensors else "float32")
    ops = TorchOps(args.seed, dtype, torch) if on_tensors else NumpyOps(args.seed, dtype)
    tokens = Tokens(ops, t, d, k, args.switch)
    how = ("torch CUDA tensors, the loop stays on the GPU" if on_tensors
           else "numpy arrays, the library copies them to the GPU" if device == "cuda" else "numpy arrays")
    print("token routing: T = %d tokens of D = %d (%s) into K = %d groups, %d steps, %s size"
          % (t, d, dtype, k, args.steps, "small" if small else "full"))
    print("  device %s (%s); each step: a warm start from the previous centroids%s"
          % (device, how, "" if args.no_cold else ", and a fresh k-means++ start for comparison"))
    if device == "cuda":
        print("  (capture inside a CUDA graph is not supported yet: issue 21, item 2)")
        x0 = tokens.embeddings()
        flashkmeans.batch_kmeans(x0[None], k, max_iter=2, device="cuda")  # start the GPU, untimed
        ops.sync()

    def fit(x, init, seed):
        ops.sync()
        t0 = time.perf_counter()
        labels, cents, iters, inertia = flashkmeans.batch_kmeans(
            x[None], k, init=init, max_iter=args.max_iter, seed=seed, device=device,
            n_threads=args.threads, return_inertia=True)
        ops.sync()
        ms = 1e3 * (time.perf_counter() - t0)
        return labels[0], cents[0], int(iters[0]), float(inertia[0]), ms

    cols = "%4s  %8s  %5s  %12s  %8s  %8s" % ("step", "switched", "iters", "inertia", "changed", "ms")
    print("\n      %-46s%s" % ("warm start (init = previous centroids)", "" if args.no_cold else "| fresh k-means++ start"))
    print("  " + cols + ("" if args.no_cold else "  | %5s  %12s  %8s  %8s" % ("iters", "inertia", "changed", "ms")))
    warm = {"iters": [], "changed": [], "ms": [], "inertia": []}
    cold = {"iters": [], "changed": [], "ms": [], "inertia": []}
    prev_w = prev_c = cents = None
    for step in range(args.steps):
        if step:
            tokens.step()
        x = tokens.embeddings()
        init = "k-means++" if cents is None else cents        # warm start: last step's centroids
        lw, cents, it, inertia, ms = fit(x, init, args.seed)
        changed = "-" if prev_w is None else ops.count(lw != prev_w)
        line = "  %4d  %8s  %5d  %12.5e  %8s  %8.2f" % (step, tokens.switched if step else "-",
                                                        it, inertia, changed, ms)
        if step:
            for key, v in zip(("iters", "changed", "ms", "inertia"), (it, changed, ms, inertia)):
                warm[key].append(v)
        prev_w = lw
        if not args.no_cold:
            lc, _, cit, cinertia, cms = fit(x, "k-means++", args.seed + step)
            cchanged = "-" if prev_c is None else ops.count(lc != prev_c)
            line += "  | %5d  %12.5e  %8s  %8.2f" % (cit, cinertia, cchanged, cms)
            if step:
                for key, v in zip(("iters", "changed", "ms", "inertia"), (cit, cchanged, cms, cinertia)):
                    cold[key].append(v)
            prev_c = lc
        print(line)

    if args.steps > 1:
        print("\nmeans over steps 1-%d (step 0 starts from k-means++ in both):" % (args.steps - 1))
        print("  %-16s %5.1f iterations, %8.1f labels changed (%.2f%% of tokens), %8.2f ms per step"
              % ("warm start:", np.mean(warm["iters"]), np.mean(warm["changed"]), 100 * np.mean(warm["changed"]) / t,
                 np.mean(warm["ms"])))
        if not args.no_cold:
            print("  %-16s %5.1f iterations, %8.1f labels changed (%.2f%% of tokens), %8.2f ms per step"
                  % ("fresh k-means++:", np.mean(cold["iters"]), np.mean(cold["changed"]), 100 * np.mean(cold["changed"]) / t,
                     np.mean(cold["ms"])))
            print("  inertia, warm / fresh: %.4f (mean of the per-step ratios)"
                  % np.mean(np.array(warm["inertia"]) / np.array(cold["inertia"])))


if __name__ == "__main__":
    main()
