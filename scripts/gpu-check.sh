#!/usr/bin/env bash
# gpu-check.sh -- `make gpu-check`, run on a GPU machine (through the device tool here):
#   1. configure + build with CUDA (Release; FKM_CUDA_ARCHS, default "90a;80": sm_90a + sm_80 + PTX)
#   2. ctest: the CPU suite and the GPU tests (tests/test_cuda*.c)
#   3. compute-sanitizer memcheck (with the leak check), racecheck, initcheck and synccheck on every
#      GPU test program at small sizes (FKM_TEST_SMALL, FKM_FAULT_MAX; SAN_TESTS / SAN_TOOLS choose)
#   4. the benchmark table (scripts/bench-gpu.sh), short table last
# Logs and JSON go to $OUT (default BUILD/gpu-check). Exit status: non-zero if any step failed.
# SKIP_BUILD=1 uses an existing BUILD; SKIP_BENCH=1 stops after the sanitizers.
set -u -o pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
OUTDIR=${OUT:-$BUILD/gpu-check}
mkdir -p "$OUTDIR"
JOBS=$(nproc)
fail=0
step() { echo "== $*"; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step "build ($BUILD)"
  gen=""
  command -v ninja >/dev/null && gen="-G Ninja"
  cmake -S . -B "$BUILD" $gen -DFKM_CUDA=ON -DCMAKE_BUILD_TYPE=Release > "$OUTDIR/configure.log" 2>&1 &&
    cmake --build "$BUILD" -j "$JOBS" > "$OUTDIR/build.log" 2>&1 || { tail -40 "$OUTDIR/build.log"; exit 1; }
fi
nvidia-smi -L || true

step "ctest"
if [ -f "$BUILD/CTestTestfile.cmake" ]; then
  (cd "$BUILD" && ctest --output-on-failure -j 4 --timeout 900) > "$OUTDIR/ctest.log" 2>&1 || fail=1
else # a carried set of prebuilt GPU test binaries
  for t in "$BUILD"/tests/test_cuda*; do
    echo "-- $t" >> "$OUTDIR/ctest.log"
    "$t" >> "$OUTDIR/ctest.log" 2>&1 || { echo "*** $t Failed" >> "$OUTDIR/ctest.log"; fail=1; }
  done
fi
grep -E "tests passed|passed,|Failed|FAIL|SKIPPED|Skipped|\*\*\*" "$OUTDIR/ctest.log" | tail -30

SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
if [ -n "$SAN" ]; then
  # every GPU test program but test_cuda_large (its sizes are the point); the programs without a
  # small mode are short already, test_cuda_faults is cut to its first events per sweep
  tests=${SAN_TESTS:-$(cd "$BUILD/tests" && ls test_cuda* 2>/dev/null | grep -v -e '^test_cuda_large$' -e '\.' )}
  for tool in ${SAN_TOOLS:-memcheck racecheck initcheck synccheck}; do
    small=1
    [ $tool = racecheck ] && small=2
    extra=""
    [ $tool = memcheck ] && extra="--leak-check full"
    for t in $tests; do
      step "compute-sanitizer $tool $t (FKM_TEST_SMALL=$small)"
      FKM_TEST_SMALL=$small FKM_FAULT_MAX=${FKM_FAULT_MAX:-8} FKM_STRESS_THREADS=${FKM_STRESS_THREADS:-2} \
        timeout "${SAN_TIMEOUT:-600}" "$SAN" --tool $tool $extra --error-exitcode 3 "$BUILD/tests/$t" \
        > "$OUTDIR/sanitizer-$tool-$t.log" 2>&1
      rc=$?
      tail -3 "$OUTDIR/sanitizer-$tool-$t.log"
      [ $rc -ne 0 ] && { echo "   -> $tool $t exit $rc"; fail=1; }
    done
  done
else
  echo "compute-sanitizer not found: sanitizer step skipped"
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "benchmark"
  OUT="$OUTDIR" bash scripts/bench-gpu.sh "$BUILD" || fail=1
fi
echo "gpu-check: $([ $fail = 0 ] && echo PASSED || echo FAILED)"
exit $fail
