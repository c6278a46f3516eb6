#!/usr/bin/env bash
# run-prebuilt.sh -- run GPU test/bench binaries built elsewhere (same nvcc, sm_90a) and carried to
# the device machine in .devbin/ (git-ignored), so no device time goes to compiling.
# Build here:  cmake -S . -B build-dev -DFKM_CUDA=ON -DFKM_CUDA_ARCHS=90a -DCMAKE_BUILD_TYPE=Release
#              cmake --build build-dev --target flashkmeans test_cuda test_cuda_fit ...
#              dev/cuda/pack-prebuilt.sh build-dev   (.devbin/ and its archive .devpack/devbin.tar.xz;
#              carry ".devpack": .devbin/ is unpacked from it here when missing)
# Usage: dev/cuda/run-prebuilt.sh MODE...   modes run in order:
#   tests[:ENV=V;...]   every GPU test program present with the given environment (e.g. tests:FKM_CU_KERNEL=wgmma-f16-128x128-s4-g);
#                       ONLY="test_a test_b" in the script's environment runs only those
#   bench[:ENV=V;...]   all rows of docs/targets.md, plain, then with stage timers (FKM_CU_PROFILE=2)
#   case:B,N,K,D,dtype,prec,iters[:ENV=V;...]   one bench case
#   host[:n,k,d,iters]  dev/cuda/bench_host (host data, device=cuda, uploaded once)
#   init[:n,k,d,host]   dev/cuda/bench_init (k-means++ and k-means|| on the GPU, k-means|| on the host)
#   stream:N,K,D,ITERS,CAP_GIB,GPUS,PREC[,SCALE]   dev/cuda/bench_stream (streaming / several GPUs)
#   triton              dev/cuda/triton_reference.py (third_party/flash-kmeans, carried)
#   torch               dev/cuda/torch_baseline.py (plain PyTorch, materialises N x K)
#   cert                bench/cert_side.py (float32: certified exact vs SIMT vs tf32 vs the reference)
#   side[:ARGS]         bench/side.py: every row through the Python API beside the reference and the
#                       C engine (.devbin/bench_fit); ARGS are side.py's, e.g. "side:--quick --rows 1-12"
#                       (FKM_COMMIT=<hash> names the commit when the tree has no .git; SIDE_TIMEOUT, default 560 s)
#   lab[:V[,N,K,D]]     dev/cuda/lab/assign_lab: every assignment kernel (or variant V) checked against the
#                       float64 reference on fresh data, then timed (default N=262144 K=1024 D=128)
#   late[:N,K,D]        dev/cuda/lab/late_lab: where the certified mode's exact scores should be computed
#                       (the sums kernel's pattern with chains, against the exact step), checked then timed
#   soak[:SECONDS[,SEED]]  tests/test_soak (.devbin/test_soak): the regression cases of
#                       tests/soak_regressions.txt, then random cases on the CPU and the GPU (default 120 s)
#   py[:FILES]          pytest (default tests/python) with FKM_LIBRARY=.devbin/lib/libflashkmeans.so
#   san:TOOL[,TEST]     compute-sanitizer TOOL (memcheck with the leak check, racecheck, initcheck, synccheck)
#                       on every GPU test program but test_cuda_large, or on TEST (FKM_TEST_SMALL=1, racecheck 2)
# Logs go to $OUT; one summary line per step on stdout.
set -u
cd "$(dirname "$0")/../.."
B=.devbin
OUTD=${OUT:-/tmp/out}
if [ ! -d $B ] && [ -f .devpack/devbin.tar.xz ]; then tar xJf .devpack/devbin.tar.xz || exit 2; fi
mkdir -p "$OUTD"
export LD_LIBRARY_PATH=$PWD/$B/lib:${LD_LIBRARY_PATH:-}
n=0
for m in "$@"; do
  n=$((n + 1))
  kind=${m%%:*}
  rest=${m#*:}; [ "$rest" = "$m" ] && rest=""
  case $kind in
  tests)
    for t in ${ONLY:-test_cuda_cert test_cuda test_cuda_fit test_cuda_init test_cuda_par test_cuda_mem test_cuda_scale \
             test_cuda_large test_cuda_faults test_cuda_concurrency test_cuda_tiny test_cuda_half test_cuda_host}; do
      [ -x $B/$t ] || continue
      log=$OUTD/$n-$t.log
      env $(echo "$rest" | tr ';' ' ') timeout 240 $B/$t > "$log" 2>&1
      echo "[$n] $t ${rest:-default}: rc=$? $(tail -1 "$log")"
      grep -m5 FAIL "$log" | cut -c1-220
    done ;;
  bench)
    # twice: plain (the ms per iteration reported: no timing events inside the iteration), then
    # with the stage timers (FKM_CU_PROFILE=2: assignment TFLOP/s and the stage split; the events
    # themselves add a few microseconds per iteration)
    log=$OUTD/$n-bench
    env FKM_CU_PROFILE=0 $(echo "$rest" | tr ';' ' ') timeout 300 $B/bench_fit > "$log.jsonl" 2> "$log.log"
    echo "[$n] bench ${rest:-default} (plain): rc=$?"; grep -v "stages ms" "$log.log" | sed 's/assign .*update+rest .*//'
    env FKM_CU_PROFILE=2 $(echo "$rest" | tr ';' ' ') timeout 300 $B/bench_fit > "$log-prof.jsonl" 2> "$log-prof.log"
    echo "[$n] bench ${rest:-default} (stage timers): rc=$?"; cat "$log-prof.log" ;;
  case)
    a=${rest%%:*}; e=${rest#*:}; [ "$e" = "$rest" ] && e=""
    log=$OUTD/$n-case
    env FKM_CU_PROFILE=2 $(echo "$e" | tr ';' ' ') timeout 120 $B/bench_fit $(echo "$a" | tr ',' ' ') > "$log.jsonl" 2> "$log.log"
    echo "[$n] case $a ${e:-default}: rc=$?"; tail -3 "$log.log" ;;
  host)
    # the host-resident row (dev/cuda/bench_host.c): args n,k,d,iters (defaults: the docs/targets.md row)
    log=$OUTD/$n-host
    timeout 400 $B/bench_host $(echo "$rest" | tr ',' ' ') > "$log.jsonl" 2> "$log.log"
    echo "[$n] host-resident: rc=$?"; cat "$log.jsonl" ;;
  init)
    log=$OUTD/$n-init
    timeout 500 $B/bench_init $(echo "$rest" | tr ',' ' ') > "$log.jsonl" 2> "$log.log"
    echo "[$n] init: rc=$?"; cat "$log.log" ;;
  stream)
    # dev/cuda/bench_stream: args N,K,D,ITERS,CAP_GIB,GPUS,PREC[,SCALE] (issue 5's benchmarks)
    log=$OUTD/$n-stream
    FKM_CU_PROFILE=1 timeout 500 $B/bench_stream $(echo "$rest" | tr ',' ' ') > "$log.jsonl" 2> "$log.log"
    echo "[$n] stream $rest: rc=$?"; cat "$log.jsonl"; grep -m4 "fkm scale" "$log.log"; tail -2 "$log.log" | grep -v "fkm scale" ;;
  torch)
    # the plain PyTorch materialising baseline on the docs/targets.md rows
    log=$OUTD/$n-torch
    PYTHONUNBUFFERED=1 timeout 300 python3 dev/cuda/torch_baseline.py > "$log.jsonl" 2> "$log.log"
    echo "[$n] torch baseline: rc=$?"; cat "$log.jsonl" ;;
  triton)
    # the published Triton implementation (fetched into the git-ignored third_party/flash-kmeans)
    log=$OUTD/$n-triton
    PYTHONUNBUFFERED=1 timeout 400 python3 dev/cuda/triton_reference.py > "$log.jsonl" 2> "$log.log"
    echo "[$n] triton reference: rc=$?"; cat "$log.jsonl"; tail -3 "$log.log" ;;
  cert)
    # bench/cert_side.py: float32 through the Python API (default = certified exact, SIMT, tf32)
    # beside the reference (third_party/flash-kmeans, carried), labels checked bit for bit
    log=$OUTD/$n-cert
    FKM_LIBRARY=$PWD/$B/lib/libflashkmeans.so PYTHONUNBUFFERED=1 timeout 500 python3 bench/cert_side.py > "$log.jsonl" 2> "$log.log"
    echo "[$n] cert side by side: rc=$?"; tail -6 "$log.log" ;;
  side)
    # bench/side.py: the Python API (torch CUDA tensors, numpy, host data) beside the reference
    # (third_party/flash-kmeans, carried) and the prebuilt C bench, inertia of both; its results
    # file goes to $OUT with the logs
    log=$OUTD/$n-side
    FKM_LIBRARY=$PWD/$B/lib/libflashkmeans.so FKM_BENCH_FIT=$PWD/$B/bench_fit PYTHONUNBUFFERED=1 \
      timeout "${SIDE_TIMEOUT:-560}" python3 bench/side.py --out-dir "$OUTD" $rest > "$log.jsonl" 2> "$log.log"
    echo "[$n] side by side ${rest:-all rows}: rc=$?"; sed -n '/^row  /,$p' "$log.log"; grep -m3 "^side.py:" "$log.log" ;;
  late)
    log=$OUTD/$n-late.log
    timeout 200 $B/late_lab $(echo "$rest" | tr ',' ' ') > "$log" 2>&1
    echo "[$n] late lab ${rest:-default}: rc=$?"; tail -6 "$log" ;;
  lab)
    log=$OUTD/$n-lab.log
    timeout 300 $B/assign_lab $(echo "$rest" | tr ',' ' ') > "$log" 2>&1
    echo "[$n] lab ${rest:-all}: rc=$?"; grep -v "^  " "$log" | tail -30 ;;
  soak)
    secs=${rest%%,*}; seed=${rest#*,}; [ "$seed" = "$rest" ] && seed=""
    log=$OUTD/$n-soak.log
    FKM_SOURCE_DIR=$PWD timeout $(( ${secs:-120} + 120 )) $B/test_soak --seconds "${secs:-120}" ${seed:+--seed $seed} --quiet \
      --json "$OUTD/$n-soak.json" > "$log" 2>&1
    echo "[$n] soak ${secs:-120} s: rc=$?"; grep -E "replay:|^soak:" "$log" | tail -8 ;;
  py)
    # the Python GPU tests against the carried library (torch from the machine's python3)
    log=$OUTD/$n-py.log
    FKM_LIBRARY=$PWD/$B/lib/libflashkmeans.so PYTHONPATH=python timeout 300 python3 -m pytest -q -x ${rest:-tests/python} > "$log" 2>&1
    echo "[$n] pytest ${rest:-tests/python}: rc=$? $(tail -1 "$log")"; grep -E "FAILED|Error" "$log" | head -8 ;;
  san)
    # san:TOOL on the four test programs, san:TOOL,test_x on one
    tool=${rest%%,*}; only=${rest#*,}; [ "$only" = "$rest" ] && only=""
    # default: every carried GPU test program but test_cuda_large (as scripts/gpu-check.sh)
    for t in ${only:-$(cd $B && ls test_cuda* | grep -v -e '^test_cuda_large$' -e '\.')}; do
      small=1; [ "$tool" = racecheck ] && small=2
      extra=""; [ "$tool" = memcheck ] && extra="--leak-check full"
      log=$OUTD/$n-san-$tool-$t.log
      FKM_TEST_SMALL=$small FKM_FAULT_MAX=${FKM_FAULT_MAX:-8} FKM_STRESS_THREADS=${FKM_STRESS_THREADS:-2} \
        timeout 400 compute-sanitizer --tool "$tool" $extra --error-exitcode 3 $B/$t > "$log" 2>&1
      echo "[$n] $tool $t: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)"
      # where: each distinct kernel/API site once, with the first host frame of the library
      grep -E "^=========     at |Host API memory" "$log" | sed 's/0x[0-9a-f]*//g' | sort | uniq -c | sort -rn | head -6
    done ;;
  *) echo "unknown mode $m" ;;
  esac
done
