"""torch_baseline.py -- the plain PyTorch k-means iteration that materialises the N x K distance
matrix (||x||^2 - 2 x.c + ||c||^2 by batched matmul, argmin, scatter-add update), timed with CUDA
events on the rows of docs/targets.md. One JSON object per line on stdout.

Run on a GPU machine:  python3 dev/cuda/torch_baseline.py [--quick]
"""
import json
import sys

import torch

CASES = [
    ("B=32 N=65536 K=1024 D=128 fp16", 32, 65536, 1024, 128, torch.float16, False),
    ("B=1 N=8M K=1024 D=128 fp16", 1, 8388608, 1024, 128, torch.float16, False),
    ("B=1 N=1M K=1024 D=128 fp16", 1, 1048576, 1024, 128, torch.float16, False),
    ("B=1 N=1M K=65536 D=128 fp16", 1, 1048576, 65536, 128, torch.float16, False),
    ("B=1 N=1M K=1024 D=128 fp32 tf32", 1, 1048576, 1024, 128, torch.float32, True),
    ("B=1 N=1M K=1024 D=512 fp16", 1, 1048576, 1024, 512, torch.float16, False),
    ("B=1 N=4M K=256 D=64 fp32 tf32", 1, 4194304, 256, 64, torch.float32, True),
    ("B=8 N=16384 K=100 D=128 fp16", 8, 16384, 100, 128, torch.float16, False),
]


def iteration(x, c, xn):
    b, n, d = x.shape
    k = c.shape[1]
    cn = (c.float() ** 2).sum(-1)
    dist = torch.baddbmm(cn.unsqueeze(1).to(x.dtype), x, c.transpose(1, 2), alpha=-2.0)
    dist = dist.float() + xn.unsqueeze(2)
    lab = dist.argmin(-1)
    flat = (lab + torch.arange(b, device=x.device).unsqueeze(1) * k).reshape(-1)
    sums = torch.zeros(b * k, d, device=x.device, dtype=torch.float32)
    sums.index_add_(0, flat, x.reshape(-1, d).float())
    cnt = torch.bincount(flat, minlength=b * k).float().unsqueeze(1)
    newc = torch.where(cnt > 0, sums / cnt.clamp(min=1), c.reshape(-1, d).float())
    return newc.reshape(b, k, d).to(x.dtype), lab


def run(name, b, n, k, d, dt, tf32, iters):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        g = torch.Generator(device="cuda").manual_seed(0)
        x = torch.randn(b, n, d, device="cuda", dtype=dt, generator=g)
        idx = torch.randperm(n, device="cuda", generator=g)[:k]
        c = x[:, idx].clone()
        xn = (x.float() ** 2).sum(-1)
        for _ in range(2):
            c, _ = iteration(x, c, xn)
        torch.cuda.synchronize()
        times = []
        for _ in range(iters):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            c, _ = iteration(x, c, xn)
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
        times.sort()
        out = {"case": name, "torch_ms_per_iter": round(times[len(times) // 2], 4)}
    except torch.OutOfMemoryError:
        out = {"case": name, "torch_ms_per_iter": None, "error": "out of memory"}
    finally:
        for v in ("x", "c", "xn"):
            locals().pop(v, None)
        torch.cuda.empty_cache()
    print(json.dumps(out), flush=True)
    print(f"{name:34s} torch {out['torch_ms_per_iter']}", file=sys.stderr, flush=True)


def main():
    quick = "--quick" in sys.argv
    for case in CASES:
        run(*case, iters=3 if quick else 10)


if __name__ == "__main__":
    main()
