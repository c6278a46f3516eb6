"""triton_reference.py -- the published Flash-KMeans (Triton) on the rows of
docs/targets.md, timed in the same run as ours (side by side).

The reference is fetched (github svg-project/flash-kmeans) into the git-ignored third_party/
folder and carried to the GPU machine; it is never committed. Run on a GPU machine:
    python3 dev/cuda/triton_reference.py [path to the repo, default third_party/flash-kmeans]
Per row: random normal data on the GPU (fp16, or fp32 for the tf32 rows: Triton's tl.dot on fp32
uses tf32), random initial rows, batch_kmeans_Euclid with max_iters=2 as warm-up (compiles), then
3 timed calls of `iters` iterations (tol=0: fixed count; its per-iteration shift test syncs with
the host, as published); median ms per iteration. One JSON object per line on stdout.
"""
import json
import os
import sys

import torch

ROWS = [
    ("B=32 N=65536 K=1024 D=128 fp16", 32, 65536, 1024, 128, torch.float16, 20),
    ("B=1 N=8M K=1024 D=128 fp16", 1, 8388608, 1024, 128, torch.float16, 10),
    ("B=1 N=1M K=1024 D=128 fp16", 1, 1048576, 1024, 128, torch.float16, 20),
    ("B=1 N=1M K=65536 D=128 fp16", 1, 1048576, 65536, 128, torch.float16, 5),
    ("B=1 N=1M K=1024 D=128 fp32 tf32", 1, 1048576, 1024, 128, torch.float32, 20),
    ("B=1 N=1M K=1024 D=512 fp16", 1, 1048576, 1024, 512, torch.float16, 20),
    ("B=1 N=4M K=256 D=64 fp32 tf32", 1, 4194304, 256, 64, torch.float32, 20),
    ("B=8 N=16384 K=100 D=128 fp16", 8, 16384, 100, 128, torch.float16, 50),
]


def load_reference(repo):
    sys.path.insert(0, os.path.abspath(repo))
    try:  # the reference imports tqdm for progress bars only: a stand-in when it is missing
        import tqdm  # noqa: F401
    except ImportError:
        import types
        stub = types.ModuleType("tqdm")
        stub.tqdm = lambda it=None, *a, **k: it
        stub.trange = lambda *a, **k: range(*a)
        sys.modules["tqdm"] = stub
    from flash_kmeans import batch_kmeans_Euclid
    return batch_kmeans_Euclid


def time_row(fit, b, n, k, d, dt, iters):
    torch.manual_seed(0)
    x = torch.randn(b, n, d, device="cuda", dtype=dt)
    idx = torch.randint(0, n, (b, k), device="cuda")
    c0 = torch.gather(x, 1, idx[..., None].expand(-1, -1, d)).clone()
    fit(x, k, max_iters=2, tol=0.0, init_centroids=c0.clone())  # warm-up: Triton compiles here
    torch.cuda.synchronize()
    times = []
    for _ in range(3):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        _, _, ran = fit(x, k, max_iters=iters, tol=0.0, init_centroids=c0.clone())
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) / ran)
    times.sort()
    return times[1]


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "third_party", "flash-kmeans")
    fit = load_reference(repo)
    torch.backends.cuda.matmul.allow_tf32 = True
    for name, b, n, k, d, dt, iters in ROWS:
        try:
            ms = time_row(fit, b, n, k, d, dt, iters)
            print(json.dumps({"case": name, "triton_ms_per_iter": round(ms, 4), "iters": iters}), flush=True)
        except Exception as ex:  # out of memory, compile failure: report and go on
            print(json.dumps({"case": name, "triton_ms_per_iter": None, "error": str(ex)[:200]}), flush=True)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
