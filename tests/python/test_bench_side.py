"""bench/side.py without a GPU: the row table, option parsing, the figures' arithmetic, the summary
and table, the no-CUDA exit, and one small pass over every kind of row on the CPU (torch.cuda's
events and syncs replaced by stand-ins, a torch Lloyd in place of the reference, a shell script
in place of the C bench)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO

SIDE = REPO / "bench" / "side.py"


@pytest.fixture(scope="module")
def side():
    spec = importlib.util.spec_from_file_location("bench_side", str(SIDE))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_rows_cover_the_table(side):
    ids = [r.id for r in side.ROWS]
    assert len(ids) == len(set(ids)) == 15
    assert [r.kind for r in side.ROWS].count("iter") == 12
    assert {r.kind for r in side.ROWS} == {"iter", "whole", "host", "first"}
    for r in side.ROWS:
        assert r.dtype in side.C_DTYPE and r.dtype in side.C_PREC and r.kind in side.UNIT
        assert (r.iters > 0) == (r.kind in ("whole", "first"))
        b, n, k, d = side.shape(r, quick=True)
        assert (b, k, d) == (r.b, r.k, r.d) and n <= r.n and n >= min(r.n, 4 * k)
        assert b * n <= side.QUICK_POINTS or n == r.n or n == 4 * k
        assert side.shape(r, quick=False) == (r.b, r.n, r.k, r.d)
    host = [r for r in side.ROWS if r.kind in ("host", "first")]
    assert all((r.n, r.k, r.d, r.dtype) == (1 << 24, 4096, 128, "fp32") for r in host)
    assert {(r.b, r.n, r.k, r.d, r.dtype) for r in side.ROWS if r.kind == "iter"} >= {
        (32, 65536, 1024, 128, "fp16"), (1, 1 << 23, 1024, 128, "fp16"), (1, 1 << 20, 65536, 128, "fp16"),
        (1024, 4096, 16, 8, "fp16"), (1, 1 << 22, 16384, 96, "bf16"), (1, 262144, 64, 4096, "bf16")}


def test_select_rows(side):
    assert [r.id for r in side.select_rows("b8,1")] == ["b32", "b8"]
    assert [r.id for r in side.select_rows(" host-first , host ")] == ["host", "host-first"]
    assert len(side.select_rows(None)) == len(side.select_rows("all")) == 15
    assert [r.id for r in side.select_rows("13-15,whole-b8")] == ["whole-b8", "host", "host-first"]
    assert len(side.select_rows("1-12")) == 12
    with pytest.raises(ValueError, match="unknown row.*zz.*16"):
        side.select_rows("b8,zz,16")
    with pytest.raises(ValueError, match="unknown row.*12-3"):
        side.select_rows("12-3")


def test_parse_args(side):
    a = side.parse_args(["--rows", "n1m,fp32", "--quick", "--no-c", "--reps", "5"])
    assert [r.id for r in a.selected] == ["n1m", "fp32"] and a.quick and a.no_c and a.reps == 5
    assert a.reference.endswith(os.path.join("third_party", "flash-kmeans"))
    for bad in (["--rows", "nope"], ["--reps", "0"]):
        with pytest.raises(SystemExit) as e:
            side.parse_args(bad)
        assert e.value.code == 2


def test_per_iteration_arithmetic(side):
    # three repetitions: (13-iteration time - 3-iteration time) / 10, median
    assert side.per_iter_ms([14.0, 13.0, 20.0], [4.0, 3.0, 4.0]) == pytest.approx(1.0)
    assert side.median([3, 1, 2]) == 2 and side.median([4, 1, 2, 3]) == 2.5
    line = lambda it, ms: json.dumps({"case": "custom", "iters": it, "ms_per_iter": ms,  # noqa: E731
                                      "ms_setup_and_final": 0.25, "kernel": "k"})
    hi = side.parse_c_output("noise\n" + line(13, 0.5) + "\n")
    lo = side.parse_c_output(line(3, 0.5))
    assert side.c_total_ms(hi) == pytest.approx(6.75)
    assert side.c_per_iter_ms(hi, lo) == pytest.approx(0.5)
    with pytest.raises(RuntimeError, match="out of memory"):
        side.parse_c_output('{"case":"custom","error":"out of memory for the data"}')
    with pytest.raises(RuntimeError, match="no JSON"):
        side.parse_c_output("device: X\n")


def test_chunk_plan(side):
    budget = 1 << 27
    for b, n, k, d in [(1, 1 << 24, 4096, 128), (1024, 4096, 16, 8), (1, 262144, 64, 4096),
                       (1, 1 << 20, 65536, 128), (32, 65536, 1024, 128), (1, 10, 1 << 28, 4)]:
        g, rows = side.chunk_plan(b, n, k, d, budget)
        assert 1 <= g <= b and 1 <= rows <= n
        assert g * rows * max(k, d) <= budget or (g, rows) == (1, 1)
    assert side.chunk_plan(1024, 4096, 16, 8) == (1024, 4096)  # the codebook row in one step


def _row(side, row, **kw):
    r = {"row": row, "case": row, "kind": "iter", "unit": "ms/iter"}
    r.update(kw)
    return r


def test_summary_and_table(side):
    rows = [_row(side, "a", reference=3.0, ours=1.0, ratio=3.0, c=0.95, py_over_c=1.0 / 0.95,
                 inertia_ours=10.0, inertia_reference=10.0, inertia_rel_diff=0.0),
            _row(side, "b", reference=2.0, ours=1.0, ratio=2.0, c_note="n/a", ours_numpy=1.5),
            _row(side, "c", reference=None, ours=1.0, ratio=None, errors={"reference": "OutOfMemoryError: x"}),
            dict(_row(side, "host-first", reference=0.17, ours=0.4, ratio=0.425, c_note="n/a (host data)"),
                 kind="first", unit="s")]
    s = side.summarize(rows)
    assert s["rows_with_ratio"] == 3 and s["rows_with_error"] == 1
    assert s["geomean_ratio"] == pytest.approx((3.0 * 2.0 * 0.425) ** (1 / 3))
    assert (s["min_ratio_row"], s["min_ratio"]) == ("host-first", 0.425) and not s["meets_ratio_targets"]
    assert s["worst_py_over_c_row"] == "a" and s["meets_py_over_c"] is False
    assert s["first_call_s"] == 0.4 and s["meets_first_call"]
    json.dumps(s)
    t = side.format_table(rows, s)
    lines = t.splitlines()
    assert lines[0].split()[:4] == ["row", "unit", "reference", "ours"]
    assert "3.00x" in lines[1] and "0.95" in lines[1] and "1.053" in lines[1]
    assert "n/a" in lines[2] and "1.5" in lines[2]
    assert lines[3].split()[2] == "err" and "c reference: OutOfMemoryError" in lines[4]
    assert lines[5].split()[7] == "n/a"
    assert "geometric mean 1.37x" in t and "minimum 0.42x at host-first" in t and "misses" in t
    assert "Python / C: worst 1.053 at a" in t and "host first call: 0.400 s" in t
    assert "no row with both figures" in side.format_table([], side.summarize([]))


def test_names(side):
    assert side.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert side.results_name("NVIDIA H200", "2026-12-06-1405") == "side-nvidia-h200-2026-12-06-1405.jsonl"
    assert side.results_name("NVIDIA H200", "2026-12-06-1405", quick=True).endswith("-1405-quick.jsonl")
    assert side.git_commit("/", "FKM_SIDE_TEST_NO_SUCH_VAR") in ("unknown",)


def _run(args, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, str(SIDE)] + args, capture_output=True, text=True, env=e, timeout=300)


def test_help_list_and_bad_options():
    p = _run(["--help"])
    assert p.returncode == 0 and "--rows" in p.stdout and "--quick" in p.stdout
    p = _run(["--list", "--quick"])
    assert p.returncode == 0 and "host-first" in p.stdout and "N=262144" in p.stdout
    p = _run(["--rows", "nope"])
    assert p.returncode == 2 and "unknown row(s) nope" in p.stderr


def test_no_cuda_exits_2():
    p = _run(["--rows", "b8"], CUDA_VISIBLE_DEVICES="")
    assert p.returncode == 2, p.stderr
    assert "no CUDA device" in p.stderr or "needs python3 with torch" in p.stderr
    assert p.stdout == ""


# ------------------------------------------------------------------ one pass on the CPU
CLOCK = [0.0]  # ms of the stand-in GPU clock: each fit below advances it per iteration


class _Event:
    def __init__(self, enable_timing=False):
        self.t = None

    def record(self, stream=None):
        self.t = CLOCK[0] / 1e3

    def elapsed_time(self, end):
        return (end.t - self.t) * 1e3


def _lloyd(torch, x, c, iters):
    """float64 Lloyd for the stand-in reference: (B, N, D), (B, K, D)."""
    x64, c = x.double(), c.double().clone()
    for _ in range(iters):
        lab = torch.cdist(x64, c).argmin(-1)
        for q in range(x.shape[0]):
            s = torch.zeros_like(c[q]).index_add_(0, lab[q], x64[q])
            cnt = torch.bincount(lab[q], minlength=c.shape[1]).double()
            c[q] = torch.where(cnt[:, None] > 0, s / cnt.clamp(min=1)[:, None], c[q])
    return lab, c


class _Ours:
    """flashkmeans, with the stand-in clock advanced 1 ms per iteration (numpy 1.5 ms)."""

    @staticmethod
    def batch_kmeans(x, k, **kw):
        import flashkmeans

        CLOCK[0] += kw["max_iter"] * (1.5 if type(x).__module__ == "numpy" else 1.0)
        return flashkmeans.batch_kmeans(x, k, **kw)


@pytest.mark.filterwarnings("ignore:flashkmeans. no GPU")
def test_cpu_pass_over_every_kind_of_row(side, monkeypatch, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    fk = _Ours

    monkeypatch.setattr(side, "DEVICE", "cpu")
    for name, fn in [("Event", _Event), ("synchronize", lambda: None), ("empty_cache", lambda: None),
                     ("current_device", lambda: 0)]:
        monkeypatch.setattr(torch.cuda, name, fn)
    calls = []

    def ref_fit(x, k, max_iters=100, tol=0.0, init_centroids=None):
        calls.append(("fit", tuple(x.shape), tuple(init_centroids.shape), max_iters))
        CLOCK[0] += 2.0 * max_iters
        lab, c = _lloyd(torch, x, init_centroids, max_iters)
        return lab, c.to(x.dtype), max_iters

    def ref_large(x, k, max_iters=100, tol=0.0, init_centroids=None, device=None):
        calls.append(("large", tuple(x.shape), tuple(init_centroids.shape), max_iters))
        CLOCK[0] += 2.0 * max_iters
        lab, c = _lloyd(torch, x[None], init_centroids[None], max_iters)
        return lab[0], c[0].float()

    cbench = tmp_path / "bench_fit"
    cbench.write_text('#!/bin/sh\necho "device: fake" >&2\n'
                      'echo \'{"case":"custom","iters":\'$7\',"ms_per_iter":0.5,"ms_setup_and_final":0.25,'
                      '"kernel":"fake-\'$6\'"}\'\n')
    cbench.chmod(0o755)
    rows = [side.Row("t32", "tiny fp32", "iter", 2, 600, 8, 4, "fp32", 0),
            side.Row("tw", "tiny whole fp32", "whole", 2, 600, 8, 4, "fp32", 4),
            side.Row("th", "tiny host", "host", 1, 700, 8, 4, "fp32", 0),
            side.Row("tf", "tiny host first", "first", 1, 700, 8, 4, "fp32", 1)]
    args = side.parse_args(["--c-bench", str(cbench), "--reps", "1"])
    args.selected = rows
    out = tmp_path / "results" / "side.jsonl"
    meta = {"device": "cpu stand-in", "date": "2026-12-06", "commit": "abc1234"}
    results, summary = side.run_all(torch, fk, (ref_fit, ref_large), args, meta, str(out))

    lines = [json.loads(s) for s in out.read_text().splitlines()]
    assert lines[:-1] == results and lines[-1]["summary"] == json.loads(json.dumps(summary))
    assert capsys.readouterr().out.splitlines() == out.read_text().splitlines()
    r = {x["row"]: x for x in results}
    for x in results:
        assert x["device"] == "cpu stand-in" and x["commit"] == "abc1234" and x["date"] == "2026-12-06"
        assert x["ours"] > 0 and x["reference"] > 0 and x["ratio"] == pytest.approx(x["reference"] / x["ours"])
        assert x["ours_numpy"] > 0 and not x.get("errors", {}).keys() - {"ours_tf32"}, x
    for key in ("t32", "th"):  # per iteration from the stand-in clock: exactly 1, 1.5 and 2 ms
        assert (r[key]["ours"], r[key]["ours_numpy"], r[key]["reference"], r[key]["ratio"]) == (1.0, 1.5, 2.0, 2.0)
        # same data, same initial centroids, exact arithmetic on both sides: the same clustering
        assert x["inertia_ours"] == pytest.approx(x["inertia_reference"], rel=1e-6), x
        assert abs(x["inertia_rel_diff"]) < 1e-6
    assert r["t32"]["c"] == pytest.approx(0.5) and r["t32"]["c_kernel"] == "fake-exact"
    assert r["t32"]["c_tf32"] == pytest.approx(0.5)
    assert r["t32"]["py_over_c"] == pytest.approx(r["t32"]["ours"] / 0.5)
    assert r["tw"]["c"] == pytest.approx(0.25 + 0.5 * 4) and r["tw"]["unit"] == "ms"
    assert r["th"]["c_note"] == r["tf"]["c_note"] == "n/a (host data)" and r["tf"]["unit"] == "s"
    # tf32 has no CPU engine: recorded as the row's error, the rest of the row went on
    assert "ours_tf32" in r["t32"].get("errors", {}) or r["t32"].get("ours_tf32")
    # the reference got (B, K, D) initial centroids, its streaming entry point (N, D) host data;
    # timed calls ran 13 and 3 iterations after a 2-iteration warm-up
    assert ("fit", (2, 600, 4), (2, 8, 4), side.HI) in calls and ("fit", (2, 600, 4), (2, 8, 4), 2) in calls
    assert ("large", (700, 4), (8, 4), side.LO) in calls and ("large", (700, 4), (8, 4), 1) in calls
    assert summary["rows_with_ratio"] == 4 and summary["first_call_s"] == r["tf"]["ours"]
    text = side.format_table(results, summary)
    assert "t32" in text and "geometric mean" in text

    # no C bench: 'n/a'
    args.c_bench = str(tmp_path / "missing")
    args.selected = rows[:1]
    res, _ = side.run_all(torch, fk, None, args, meta, str(out))
    assert res[0]["c_note"] == "n/a" and res[0]["ratio"] is None and "reference" not in res[0]


def test_shape_rows(side):
    a = side.parse_args(["--shape", "10000,256,16,4,fp16", "--shape", "2,64,8,3,bf16"])
    assert [r.id for r in a.selected] == ["shape-10000-256-16-4-fp16", "shape-2-64-8-3-bf16"]
    assert a.selected[0][2:] == ("iter", 10000, 256, 16, 4, "fp16", 0)
    a = side.parse_args(["--rows", "codebooks", "--shape", "1,8,2,1,fp32"])
    assert [r.id for r in a.selected] == ["codebooks", "shape-1-8-2-1-fp32"]
    for bad in ("1,2,3", "1,8,2,1,int8", "1,x,2,1,fp16", "1,4,8,1,fp16", "0,8,2,1,fp16"):
        with pytest.raises(SystemExit):
            side.parse_args(["--shape", bad])
