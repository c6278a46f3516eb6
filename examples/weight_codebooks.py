#!/usr/bin/env python3
"""Weight codebooks: vector-quantise the weight matrices of a transformer layer stack.

The stack is synthetic but shaped like a real one: every layer has q, k, v, o (d x d), an MLP up
projection (4d x d) and down projection (d x 4d), with heavy-tailed weights (Student-t, per-layer,
per-row and per-column scales, a few large outliers). Each matrix is cut into tiles (say 64 x 64
weights); each tile gets its own codebook of K codewords of D values, i.e. one k-means problem
per tile, and every tile of every layer goes to ONE flashkmeans.batch_kmeans call.

Importance weights. For a linear layer y = W x, the usual second-order proxy of the output error
(GPTQ, SqueezeLLM, ...) is  sum_ij H_jj (W_ij - Q_ij)^2  with H_jj = E[x_j^2], the diagonal of the
Hessian X^T X of the layer's input activations. Here the activations are synthetic calibration
tokens (heavy-tailed, with a few "massive" outlier features, as seen in LLMs). A codebook vector
is D consecutive *output rows of one input column*, so all its values share the same H_jj, and
with weights= H_jj per vector the weighted k-means objective IS that proxy loss.

Printed: for every (D, K) the weighted reconstruction error of each layer, relative to the
weighted norm of its weights, beside a uniform scalar quantiser with the same bits per weight
(round-to-nearest on a range per row of a tile, shrunk for the lowest weighted error as GPTQ's
quantiser does: a strong baseline), and the time of the call per layer. The side information is
counted too: an fp16 codebook per tile against an fp16 scale and zero point per tile row; the
final count compares only where the codebooks cost no more bits per weight than the ranges.

Run:  python3 examples/weight_codebooks.py --help
      python3 examples/weight_codebooks.py --small --device cpu      # a few seconds on 2 cores
      python3 examples/weight_codebooks.py --device cuda             # full size, torch CUDA tensors
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

MATRICES = ("q", "k", "v", "o", "up", "down")  # per layer; "down" reads the 4d-wide MLP hidden state


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Vector-quantise a synthetic transformer layer stack with importance-weighted "
                    "k-means codebooks (flashkmeans.batch_kmeans, one problem per tile, all "
                    "layers in one call) and compare with a uniform scalar quantiser.")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                    help="where k-means runs (auto: a GPU when flashkmeans sees one)")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--small", action="store_true",
                      help="small stack, seconds on 2 CPU cores (the default without a GPU)")
    size.add_argument("--full", action="store_true",
                      help="full-size stack (the default on a GPU)")
    ap.add_argument("--layers", type=int, help="number of layers (small 2, full 12)")
    ap.add_argument("--d-model", type=int, help="model width d (small 64, full 1024)")
    ap.add_argument("--tile", type=int,
                    help="tiles of TILE x TILE weights, one codebook each (small 64, full 256)")
    ap.add_argument("--dims", default="1,2,4,8", help="vector lengths D (default 1,2,4,8)")
    ap.add_argument("--ks", default="16,256", help="codebook sizes K (default 16,256)")
    ap.add_argument("--max-iter", type=int, default=50, help="Lloyd iterations at most (50)")
    ap.add_argument("--init", default="k-means++", choices=("k-means++", "k-means||", "random"),
                    help="seeding (k-means++; random seeds do badly on heavy tails)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"),
                    help="type of the vectors handed to k-means on a GPU with torch (float32)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: the library's choice)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def resolve_device(name):
    """'auto' -> 'cuda' when the library sees a GPU, else 'cpu'. Also returns torch when it can
    hand CUDA tensors to the library (None: numpy input, the library copies to the GPU itself)."""
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


# ------------------------------------------------------------------------- the synthetic model

def activation_importance(rng, width, tokens):
    """H_jj = E[x_j^2] over `tokens` synthetic calibration activations of `width` features:
    Student-t values with log-normal feature scales and a few massive outlier features."""
    scale = np.exp(0.5 * rng.standard_normal(width))
    outliers = rng.choice(width, size=max(1, width // 128), replace=False)
    scale[outliers] *= 20.0
    x = rng.standard_t(4, size=(tokens, width)) * scale
    return (x * x).mean(axis=0)


def make_layer(rng, d, layer, tokens):
    """One layer: {name: (W (out, in) float32, H_jj (in,) float64)}."""
    layer_scale = 0.02 * np.exp(0.3 * rng.standard_normal()) * (1.0 + 0.05 * layer)
    h_attn_in = activation_importance(rng, d, tokens)     # q, k, v read the same normed input
    h = {"q": h_attn_in, "k": h_attn_in, "v": h_attn_in,
         "o": activation_importance(rng, d, tokens),
         "up": activation_importance(rng, d, tokens),
         "down": activation_importance(rng, 4 * d, tokens)}
    shapes = {"q": (d, d), "k": (d, d), "v": (d, d), "o": (d, d), "up": (4 * d, d), "down": (d, 4 * d)}
    out = {}
    for name in MATRICES:
        rows, cols = shapes[name]
        w = rng.standard_t(5, size=(rows, cols))
        w *= np.exp(0.25 * rng.standard_normal(rows))[:, None]      # per output channel
        w *= np.exp(0.25 * rng.standard_normal(cols))[None, :]      # per input channel
        hot = rng.random((rows, cols)) < 1e-3                        # rare large weights
        w[hot] *= 8.0
        out[name] = ((layer_scale * w).astype(np.float32), h[name])
    return out


def tiles(w, h, t):
    """Cut W (rows, cols) into t x t tiles -> (tiles (m, t, t), H of each tile's columns (m, t))."""
    rows, cols = w.shape
    wt = w.reshape(rows // t, t, cols // t, t).transpose(0, 2, 1, 3).reshape(-1, t, t)
    ht = np.broadcast_to(h.reshape(1, cols // t, t), (rows // t, cols // t, t)).reshape(-1, t)
    return wt, ht


def to_vectors(wt, ht, dim):
    """Tiles (m, t, t) -> vectors of `dim` consecutive rows of one column (m, t*t/dim, dim) and
    their weights (m, t*t/dim): the column's H_jj."""
    m, t, _ = wt.shape
    x = wt.reshape(m, t // dim, dim, t).transpose(0, 1, 3, 2).reshape(m, (t // dim) * t, dim)
    w = np.broadcast_to(ht[:, None, :], (m, t // dim, t)).reshape(m, (t // dim) * t)
    return np.ascontiguousarray(x), np.ascontiguousarray(w, dtype=np.float32)


def uniform_error(wt, ht, bits, torch=None, grid=9):
    """Weighted squared error per tile of a uniform scalar quantiser with 2**bits levels per row
    of a tile: round to nearest on [p*min, p*max] with the shrink p in [1, 0.2] that gives the
    row the lowest weighted error (GPTQ's quantiser with its `mse` range search), values outside
    the range clamped. The range (scale and zero point) is per row of the tile. float64, on the
    GPU with torch when given (the full-size stack is large for numpy)."""
    if torch is not None:
        w = torch.from_numpy(wt).to("cuda", torch.float64)
        h = torch.from_numpy(ht).to("cuda", torch.float64)[:, None, :]
        lo = w.amin(dim=2, keepdim=True).clamp(max=0.0)
        hi = w.amax(dim=2, keepdim=True).clamp(min=0.0)
        rnd, clip = torch.round, torch.clamp
    else:
        w, h = wt.astype(np.float64), ht[:, None, :]
        lo = np.minimum(w.min(axis=2, keepdims=True), 0.0)
        hi = np.maximum(w.max(axis=2, keepdims=True), 0.0)
        rnd, clip = np.round, np.clip
    levels = 2 ** bits - 1
    best = None
    for p in np.linspace(1.0, 0.2, grid):
        a = float(p) * lo
        step = float(p) * (hi - lo) / levels
        step[step == 0] = 1.0
        q = a + clip(rnd((w - a) / step), 0, levels) * step
        e = (((w - q) ** 2) * h).sum(2)                 # per row of each tile
        best = e if best is None else (torch.minimum(best, e) if torch is not None else np.minimum(best, e))
    best = best.sum(1)
    return best.cpu().numpy() if torch is not None else best


# ------------------------------------------------------------------------- main

def main(argv=None):
    args = parse_args(argv)
    import_flashkmeans()
    device, torch = resolve_device(args.device)
    small = args.small or (not args.full and device == "cpu")
    layers = args.layers or (2 if small else 12)
    d = args.d_model or (64 if small else 1024)
    t = args.tile or (64 if small else 256)
    dims = [int(v) for v in args.dims.split(",")]
    ks = [int(v) for v in args.ks.split(",")]
    if d % t or any(t % dim for dim in dims):
        sys.exit("--d-model must be a multiple of --tile, and --tile of every D")
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    stack = [make_layer(rng, d, i, tokens=256 if small else 1024) for i in range(layers)]
    wt_all, ht_all, layer_of = [], [], []
    for i, layer in enumerate(stack):
        for name in MATRICES:
            wt, ht = tiles(*layer[name], t)
            wt_all.append(wt)
            ht_all.append(ht)
            layer_of += [i] * len(wt)
    wt_all = np.concatenate(wt_all)
    ht_all = np.concatenate(ht_all)
    layer_of = np.array(layer_of)
    # The weighted norm of each tile (sum of H_jj W_ij^2): what the errors are relative to.
    norm = ((wt_all.astype(np.float64) ** 2) * ht_all[:, None, :]).sum(axis=(1, 2))
    layer_norm = np.bincount(layer_of, norm, minlength=layers)
    nweights = wt_all.size
    how = ("torch %s CUDA tensors" % args.dtype if torch is not None
           else "numpy arrays, the library copies them to the GPU" if device == "cuda" else "numpy arrays")
    print("weight codebooks: %d layers, d_model %d, %s weights (%s per layer), %s size"
          % (layers, d, format(nweights, ","), format(nweights // layers, ","), "small" if small else "full"))
    print("  tiles of %d x %d weights, one codebook each: %d k-means problems per call, all layers at once"
          % (t, t, len(wt_all)))
    print("  importance H_jj = mean squared input activation of column j; vectors = D consecutive "
          "rows of one column")
    print("  device %s (%s), init %s, stop on inertia, at most %d iterations; model built in %.2f s"
          % (device, how, args.init, args.max_iter, time.perf_counter() - t0))
    if device == "cuda":  # start the GPU (context, workspace) before any timed call
        x0, w0 = to_vectors(wt_all[:1], ht_all[:1], dims[0])
        if torch is not None:
            x0, w0 = torch.from_numpy(x0).cuda(), torch.from_numpy(w0).cuda()
        flashkmeans.batch_kmeans(x0, 2, max_iter=2, device="cuda", weights=w0)

    summary = []
    uniform = {}                 # bits -> weighted error per tile of the uniform quantiser
    worst_check = 0.0
    uni_side = 32.0 / t          # the uniform quantiser's fp16 scale and zero point per tile row
    for k in ks:
        for dim in dims:
            x, w = to_vectors(wt_all, ht_all, dim)
            n = x.shape[1]
            if n < k:
                print("\nD=%d K=%d: skipped, a tile has only %d vectors" % (dim, k, n))
                continue
            xin, win = x, w
            if torch is not None:
                xin = torch.from_numpy(x).to("cuda", getattr(torch, args.dtype))
                win = torch.from_numpy(w).cuda()
                torch.cuda.synchronize()
            t1 = time.perf_counter()
            labels, cents, iters, inertia = flashkmeans.batch_kmeans(
                xin, k, weights=win, init=args.init, max_iter=args.max_iter, stop="inertia",
                tol=1e-5, seed=args.seed, device=device, n_threads=args.threads, return_inertia=True)
            if torch is not None:
                torch.cuda.synchronize()
            secs = time.perf_counter() - t1
            if torch is not None:
                labels, cents, iters, inertia = (a.cpu().numpy() for a in (labels, cents, iters, inertia))
            # With float32 vectors the library's inertia of each tile, sum of H_jj ||x - c||^2, IS
            # the proxy loss of the quantised tile: use it, and recompute it (float64) on up to 64
            # tiles as a check. fp16/bf16 vectors: the inertia is that of the rounded values, so
            # measure the error of the float32 weights against the codebooks on every tile.
            exact = torch is None or args.dtype == "float32"
            some = slice(0, min(len(x), 64)) if exact else slice(None)
            rec = np.take_along_axis(cents[some], labels[some, :, None].astype(np.int64), axis=1)
            mine = (((x[some].astype(np.float64) - rec) ** 2).sum(axis=2) * w[some]).sum(axis=1)
            if exact:
                err = inertia.astype(np.float64)
                worst_check = max(worst_check, float(np.max(np.abs(mine - err[some]) / np.maximum(mine, 1e-30))))
            else:
                err = mine
            layer_err = np.bincount(layer_of, err, minlength=layers)
            bits = math.log2(k) / dim
            total = bits + 16.0 * k * dim / (t * t)   # + an fp16 codebook per tile, spread over its weights
            sbits = int(round(bits)) if abs(bits - round(bits)) < 1e-9 and bits >= 1 else None
            if sbits is not None and sbits not in uniform:
                uniform[sbits] = uniform_error(wt_all, ht_all, sbits, torch)
            print("\nD=%d K=%d: %.2f bits/weight, %.3f with the fp16 codebooks; %d problems x %d vectors; "
                  "one call %.3f s = %.4f s per layer; iterations %d-%d (mean %.1f)"
                  % (dim, k, bits, total, len(x), n, secs, secs / layers,
                     iters.min(), iters.max(), iters.mean()))
            head = "  %5s  %14s  %10s" % ("layer", "weighted err", "rel err")
            if sbits is None:
                print("  (no uniform scalar quantiser has %.2f bits per weight: codebook only)" % bits)
                print(head)
            else:
                layer_uni = np.bincount(layer_of, uniform[sbits], minlength=layers)
                print("  uniform %d-bit: %.3f bits/weight with the per-row ranges%s"
                      % (sbits, sbits + uni_side,
                         "" if total <= sbits + uni_side else " (fewer than the codebook's)"))
                print(head + "  %17s  %16s" % ("uniform %d-bit rel" % sbits, "codebook/uniform"))
            for i in range(layers):
                rel = layer_err[i] / layer_norm[i]
                line = "  %5d  %14.4e  %10.3e" % (i, layer_err[i], rel)
                if sbits is not None:
                    urel = layer_uni[i] / layer_norm[i]
                    line += "  %17.3e  %16.3f" % (urel, rel / urel)
                print(line)
            rel_all = layer_err.sum() / layer_norm.sum()
            urel_all = layer_uni.sum() / layer_norm.sum() if sbits is not None else None
            utotal = sbits + uni_side if sbits is not None else None
            summary.append((dim, k, bits, total, rel_all, urel_all, utotal, secs / layers, iters.mean()))

    print("\nsummary: relative weighted error over all layers, sum H_jj (W_ij - Q_ij)^2 / sum H_jj W_ij^2")
    print("  %2s  %4s  %5s  %6s  %10s  %10s  %6s  %6s  %9s  %5s"
          % ("D", "K", "bits", "+book", "codebook", "uniform", "+range", "ratio", "s/layer", "iters"))
    wins = compared = 0
    for dim, k, bits, total, rel, urel, utotal, spl, it in summary:
        if urel is None:
            print("  %2d  %4d  %5.2f  %6.3f  %10.3e  %10s  %6s  %6s  %9.4f  %5.1f"
                  % (dim, k, bits, total, rel, "-", "-", "-", spl, it))
            continue
        fair = total <= utotal
        if fair:
            compared += 1
            wins += rel < urel
        print("  %2d  %4d  %5.2f  %6.3f  %10.3e  %10.3e  %6.3f  %6.3f  %9.4f  %5.1f%s"
              % (dim, k, bits, total, rel, urel, utotal, rel / urel, spl, it,
                 "" if fair else "   (codebooks cost more bits than the ranges here)"))
    print("  bits: index bits per weight; +book: with an fp16 codebook per tile; +range: the uniform "
          "quantiser's bits with an fp16 scale and zero per tile row")
    print("codebook error below the uniform scalar quantiser at no more bits per weight: %d of %d"
          % (wins, compared))
    print("library inertia = recomputed weighted error (largest relative difference %.1e)" % worst_check)
    if worst_check > 1e-3:
        sys.exit("inertia and the recomputed error disagree")


if __name__ == "__main__":
    main()
