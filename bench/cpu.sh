#!/usr/bin/env bash
# bench/cpu.sh BUILD_DIR -- `make bench-cpu`: flashkmeans (CPU engine, public C API) vs FAISS and
# scikit-learn on the same data, the same initial centroids and a fixed iteration count.
#   cases: gauss 200000x128 K=1024 float32 (fixed seed); Fashion-MNIST train 60000x784 K=256.
#   env:   FKM_BENCH_ITERS (default 10), FKM_BENCH_REPEATS (default 3), FKM_BENCH_CASES
#          ("gauss fmnist"), FKM_BENCH_TOOLS ("flashkmeans faiss sklearn").
# The tools run interleaved, repeat after repeat, so load from other processes hits them alike;
# the report gives the best and the median over repeats, and the load average seen.
set -euo pipefail
BUILD=${1:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
ITERS=${FKM_BENCH_ITERS:-10}
REPEATS=${FKM_BENCH_REPEATS:-3}
CASES=${FKM_BENCH_CASES:-gauss fmnist}
TOOLS=${FKM_BENCH_TOOLS:-flashkmeans faiss sklearn}
cd "$ROOT"

FKM_BENCH_DEPS=1 bash scripts/deps.sh
# Debian's python3-faiss and numpy link the reference BLAS unless an optimised one is present;
# with it FAISS runs ~10x slower than it can. Compare against OpenBLAS, as FAISS is meant to run.
if ! dpkg -s libopenblas0-pthread >/dev/null 2>&1 && ! dpkg -s libopenblas0-openmp >/dev/null 2>&1; then
    echo "installing libopenblas0-pthread (optimised BLAS for FAISS / scikit-learn)" >&2
    SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas0-pthread >/dev/null
fi

cmake --build "$BUILD" --target fkm_bench_cpu -j "$(nproc)" >/dev/null
DATA="$BUILD/bench-data"
if [ ! -f "$DATA/gauss.json" ]; then
    echo "generating benchmark data in $DATA" >&2
    "$PY" bench/cpu_bench.py gen "$DATA" >/dev/null
fi
RUNS="$BUILD/bench-cpu-runs.jsonl"
: > "$RUNS"

load() { cut -d' ' -f1 /proc/loadavg; }
run_one() { # tool case rep
    local tool=$1 name=$2 rep=$3 out l0 l1
    [ -f "$DATA/$name.json" ] || return 0
    l0=$(load)
    case $tool in
    flashkmeans)
        read -r n d k < <("$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['n'], m['d'], m['k'])" "$DATA/$name.json")
        out=$("$BUILD/fkm_bench_cpu" "$DATA/$name.x.f32" "$n" "$d" "$DATA/$name.c0.f32" "$k" "$ITERS" 0) ;;
    faiss | sklearn)
        out=$("$PY" bench/cpu_bench.py "$tool" "$DATA" "$name" "$ITERS") ;;
    esac
    l1=$(load)
    "$PY" -c "import json,sys; r=json.loads(sys.argv[1]); r.update(case=sys.argv[2], repeat=int(sys.argv[3]), load_before=float(sys.argv[4]), load_after=float(sys.argv[5])); print(json.dumps(r))" \
        "$out" "$name" "$rep" "$l0" "$l1" >> "$RUNS"
    printf '  %-5s %-11s repeat %d: %9.1f ms/iter (load %s -> %s)\n' "$name" "$tool" "$rep" \
        "$("$PY" -c "import json,sys; print(json.loads(sys.argv[1])['median_ms'])" "$out")" "$l0" "$l1" >&2
}

echo "bench-cpu: $ITERS iterations, $REPEATS repeats, cases: $CASES" >&2
for rep in $(seq 1 "$REPEATS"); do
    for name in $CASES; do
        for tool in $TOOLS; do run_one "$tool" "$name" "$rep"; done
    done
done
mkdir -p bench/results
"$PY" bench/cpu_report.py "$RUNS" bench/results "$ITERS"
