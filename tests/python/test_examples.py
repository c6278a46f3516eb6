"""examples/: each script runs with --small on the CPU and prints what it promises.

weight_codebooks.py: weighted codebooks beat the uniform scalar quantiser where vectors pay off,
more codewords give less error, the library's inertia is the recomputed weighted error.
token_routing.py: warm-started steps change few labels and need fewer iterations than fresh
starts, at no worse inertia. ivf_build.py: recall@10 rises with nprobe, no empty list.
About 10 s in all on 2 cores."""
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

EXAMPLES = REPO / "examples"
FLOAT = r"[-+]?\d+(?:\.\d*)?(?:e[-+]?\d+)?"


def run(script, *args, check=True):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO / "python"), env.get("PYTHONPATH")) if p)
    r = subprocess.run([sys.executable, str(EXAMPLES / script)] + list(args), env=env,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (script, r.returncode, r.stdout, r.stderr)
    return r


def test_help_and_device_choice():
    for script in ("weight_codebooks.py", "token_routing.py", "ivf_build.py"):
        r = run(script, "--help")
        assert "--small" in r.stdout and "--device" in r.stdout, r.stdout
        r = run(script, "--device", "tpu", check=False)
        assert r.returncode == 2 and "invalid choice" in r.stderr


def test_cuda_refused_without_gpu():
    import flashkmeans

    if flashkmeans.cuda_device_count():
        pytest.skip("a GPU is present")
    r = run("token_routing.py", "--device", "cuda", "--steps", "1", check=False)
    assert r.returncode != 0 and "sees no GPU" in r.stderr


def test_weight_codebooks():
    out = run("weight_codebooks.py", "--small", "--device", "cpu").stdout
    assert "device cpu" in out and "2 layers" in out, out
    # per layer: weighted error, relative error, and the time of the call per layer
    assert len(re.findall(r"one call %s s = %s s per layer" % (FLOAT, FLOAT), out)) == 8, out
    layer_rows = re.findall(r"^\s+[01]\s+(\d\.\d{4}e[-+]\d+)\s+(\d\.\d{3}e[-+]\d+)", out, re.M)
    assert len(layer_rows) == 16, out
    assert all(0 < float(rel) < 1 for _, rel in layer_rows), out
    rows = {}
    for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+(%s)\s+(%s)\s+(%s)\s+(\S+)\s+(\S+)\s+(\S+)\s+(%s)\s+(%s)"
                         % (FLOAT, FLOAT, FLOAT, FLOAT, FLOAT), out, re.M):
        dim, k = int(m.group(1)), int(m.group(2))
        rows[dim, k] = {"bits": float(m.group(3)), "codebook": float(m.group(5)),
                        "uniform": None if m.group(6) == "-" else float(m.group(6)),
                        "ratio": None if m.group(8) == "-" else float(m.group(8))}
    assert set(rows) == {(dim, k) for dim in (1, 2, 4, 8) for k in (16, 256)}, out
    # vectors pay off at low bits: 1 bit/weight from 16 codewords of 4 beats 1-bit rounding
    assert rows[4, 16]["ratio"] < 0.75, out
    for dim in (2, 4, 8):
        assert rows[dim, 256]["ratio"] < 0.5, out
    # more codewords, less error; at the same bits, longer vectors (more codewords) do better
    for dim in (1, 2, 4, 8):
        assert rows[dim, 256]["codebook"] < rows[dim, 16]["codebook"], out
    assert rows[2, 256]["codebook"] < rows[1, 16]["codebook"], out     # both 4 bits
    assert rows[4, 256]["codebook"] < rows[2, 16]["codebook"], out     # both 2 bits
    assert rows[8, 16]["uniform"] is None, out                         # 0.5 bits: no scalar one
    m = re.search(r"below the uniform scalar quantiser at no more bits per weight: (\d+) of (\d+)", out)
    assert m and int(m.group(2)) == 3 and int(m.group(1)) >= 2, out
    m = re.search(r"library inertia = recomputed weighted error \(largest relative difference (%s)\)" % FLOAT, out)
    assert m and float(m.group(1)) < 1e-4, out


def test_token_routing():
    out = run("token_routing.py", "--small", "--device", "cpu").stdout
    assert "T = 4096 tokens of D = 32" in out and "20 steps" in out, out
    steps = re.findall(r"^\s+(\d+)\s+(\S+)\s+(\d+)\s+(%s)\s+(\S+)\s+(%s)\s+\|\s+(\d+)\s+(%s)\s+(\S+)\s+(%s)$"
                       % (FLOAT, FLOAT, FLOAT, FLOAT), out, re.M)
    assert [int(s[0]) for s in steps] == list(range(20)), out
    t = 4096
    for s in steps[1:]:
        switched, warm_changed, cold_changed = int(s[1]), int(s[4]), int(s[8])
        assert switched <= warm_changed < 0.15 * t, out   # switched tokens change label, few others
        assert float(s[5]) > 0 and float(s[9]) > 0, out
        assert float(s[3]) <= 1.02 * float(s[7]), out      # warm inertia no worse than a fresh start's
    warm_iters = sum(int(s[2]) for s in steps[1:])
    cold_iters = sum(int(s[6]) for s in steps[1:])
    assert warm_iters < 0.7 * cold_iters, out
    m = re.search(r"warm start:\s+(%s) iterations,\s+(%s) labels changed" % (FLOAT, FLOAT), out)
    c = re.search(r"fresh k-means\+\+:\s+(%s) iterations,\s+(%s) labels changed" % (FLOAT, FLOAT), out)
    assert m and c and float(m.group(2)) < 0.2 * float(c.group(2)), out


def test_ivf_build():
    out = run("ivf_build.py", "--small", "--device", "cpu", "--data", "synthetic").stdout
    assert "synthetic collection of 20,000 vectors of 32 dimensions, 200 queries" in out, out
    assert re.search(r"KMeans\(64, init='k-means\|\|'\) on cpu", out), out
    m = re.search(r"list sizes: min (\d+), median (\d+), max (\d+) \(mean (%s)\); empty lists (\d+)" % FLOAT, out)
    assert m, out
    lo, med, hi, empty = int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(5))
    assert 1 <= lo <= med <= hi and empty == 0, out
    rec = {int(p): float(r) for p, r in re.findall(r"^\s+(\d+)\s+(%s)\s+%s%%\s+%s$" % (FLOAT, FLOAT, FLOAT),
                                                   out, re.M)}
    assert sorted(rec) == [1, 4, 16], out
    assert rec[1] < rec[4] < rec[16] and rec[16] > 0.9 and rec[1] > 0.3, out
