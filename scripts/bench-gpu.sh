#!/usr/bin/env bash
# bench-gpu.sh -- `make bench-gpu`: ms per Lloyd iteration on the GPU for every row of
# docs/targets.md (dev/cuda/bench_fit.cu, through the device-pointer API) and the plain
# PyTorch materialising baseline (dev/cuda/torch_baseline.py) in the same run. Needs a GPU, nvcc,
# and python3 with torch for the baseline (skipped without it).
#
# Usage: scripts/bench-gpu.sh [BUILD_DIR]   (default build-gpu; built with CUDA if missing)
# Writes $OUT (default BUILD_DIR/bench) /gpu-bench.json, gpu-bench.md, logs; table last on stdout.
set -u -o pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build-gpu}}
OUTDIR=${OUT:-$BUILD/bench}
mkdir -p "$OUTDIR"
JOBS=$(nproc)

if [ ! -f "$BUILD/libflashkmeans.a" ]; then
  cmake -S . -B "$BUILD" -DFKM_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$BUILD" -j "$JOBS" || exit 1
fi
BIN=${BENCH_BIN:-$BUILD/bench_fit}
if [ ! -x "$BIN" ] || [ dev/cuda/bench_fit.cu -nt "$BIN" ] || [ "$BUILD/libflashkmeans.a" -nt "$BIN" ]; then
  nvcc -O2 -std=c++17 -Iinclude dev/cuda/bench_fit.cu "$BUILD/libflashkmeans.a" -Xcompiler -fopenmp -o "$BIN" || exit 1
fi

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv,noheader \
  > "$OUTDIR/gpu-device.txt" 2>&1 || true
# ms per iteration from a plain run (no timing events inside the iteration); the assignment
# kernel's time from a second run with its events on (FKM_CU_PROFILE=1, a few us per iteration)
FKM_CU_PROFILE=0 "$BIN" > "$OUTDIR/gpu-bench-fkm.jsonl" 2> "$OUTDIR/gpu-bench-fkm.log"
rc=$?
FKM_CU_PROFILE=1 "$BIN" > "$OUTDIR/gpu-bench-fkm-prof.jsonl" 2> "$OUTDIR/gpu-bench-fkm-prof.log" || rc=$?
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  PYTHONUNBUFFERED=1 python3 dev/cuda/torch_baseline.py > "$OUTDIR/gpu-bench-torch.jsonl" 2> "$OUTDIR/gpu-bench-torch.log"
else
  : > "$OUTDIR/gpu-bench-torch.jsonl"
fi

python3 - "$OUTDIR" <<'EOF'
import json, subprocess, sys, datetime, os
out = sys.argv[1]
def rows(p):
    try:
        return [json.loads(l) for l in open(p) if l.strip().startswith("{")]
    except FileNotFoundError:
        return []
fkm = rows(f"{out}/gpu-bench-fkm.jsonl")
prof = {r["case"]: r for r in rows(f"{out}/gpu-bench-fkm-prof.jsonl") if "error" not in r}
for r in fkm:  # the assignment figures come from the profiled run
    if "error" not in r and r["case"] in prof:
        r["ms_assign"] = prof[r["case"]]["ms_assign"]
        r["assign_tflops"] = prof[r["case"]]["assign_tflops"]
torch = {r["case"]: r for r in rows(f"{out}/gpu-bench-torch.jsonl")}
published = {"B=32 N=65536 K=1024 D=128 fp16": 2.56, "B=1 N=8M K=1024 D=128 fp16": 7.46,
             "B=1 N=1M K=1024 D=128 fp16": 1.32, "B=1 N=1M K=65536 D=128 fp16": 49.7,
             "B=1 N=1M K=1024 D=128 fp32 tf32": 1.85, "B=1 N=1M K=1024 D=512 fp16": 4.19,
             "B=1 N=4M K=256 D=64 fp32 tf32": 1.69, "B=8 N=16384 K=100 D=128 fp16": 1.03}
target = {"B=32 N=65536 K=1024 D=128 fp16": 1.28, "B=1 N=8M K=1024 D=128 fp16": 3.7,
          "B=1 N=1M K=1024 D=128 fp16": 0.66, "B=1 N=1M K=65536 D=128 fp16": 28,
          "B=1 N=1M K=1024 D=128 fp32 tf32": 0.92, "B=1 N=1M K=1024 D=512 fp16": 2.1,
          "B=1 N=4M K=256 D=64 fp32 tf32": 0.85, "B=8 N=16384 K=100 D=128 fp16": 0.10}
try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except Exception:
    commit = "?"
dev = open(f"{out}/gpu-device.txt").read().strip() if os.path.exists(f"{out}/gpu-device.txt") else "?"
date = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
res = {"date": date, "commit": commit, "device": dev, "rows": []}
lines = [f"GPU benchmark, {date}, commit {commit}, device {dev}", "",
         "| case | kernel | flashkmeans ms/iter | assign ms | assign TFLOP/s | update+rest ms | torch ms/iter | published ms | speed-up vs published | target ms |",
         "|---|---|---|---|---|---|---|---|---|---|"]
import math
ratios = []
for r in fkm:
    name = r["case"]
    t = torch.get(name, {}).get("torch_ms_per_iter")
    pub = published.get(name)
    row = dict(r)
    row["torch_ms_per_iter"] = t
    row["published_ms_per_iter"] = pub
    res["rows"].append(row)
    if "error" in r:
        lines.append(f"| {name} | error: {r['error']} | | | | | {t} | {pub} | | |")
        continue
    ms = r["ms_per_iter"]
    sp = pub / ms if pub else None
    if sp: ratios.append(sp)
    lines.append(f"| {name} | {r['kernel']} | {ms:.3f} | {r['ms_assign']:.3f} | {r['assign_tflops']:.0f} | "
                 f"{ms - r['ms_assign']:.3f} | {t if t is not None else 'oom/none'} | {pub if pub else '-'} | "
                 f"{(f'{sp:.2f}x') if sp else '-'} | {target.get(name, '-')} |")
if ratios:
    g = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
    res["geomean_speedup_vs_published"] = g
    lines += ["", f"geometric mean speed-up vs published over {len(ratios)} rows: {g:.2f}x (target >= 2x, each row >= 1.3x)"]
json.dump(res, open(f"{out}/gpu-bench.json", "w"), indent=1)
open(f"{out}/gpu-bench.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
exit $rc
