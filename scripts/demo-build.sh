#!/usr/bin/env bash
# make demo's build: the command-line tool alone (no tests, no MPI) in its own directory, quietly.
# The CUDA engine is compiled only where a GPU can run it (an NVIDIA device node or nvidia-smi
# listing a GPU, and nvcc found) or when asked (DEMO_CUDA=ON); `make`, `make test` and CI keep
# building it wherever nvcc is found. The compiler's output goes to BUILD_DIR/build.log: shown
# when the build fails, otherwise summarised in one line (warnings counted, ptxas's notes too).
# Usage: bash scripts/demo-build.sh BUILD_DIR [AUTO|ON|OFF]
set -euo pipefail
BUILD=${1:-build-demo}
CUDA=${2:-AUTO}
gpu_present() {
    compgen -G '/dev/nvidia[0-9]*' >/dev/null || { command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }
}
case "$CUDA" in
AUTO) if gpu_present; then why="a GPU is present"; else CUDA=OFF why="no GPU here; DEMO_CUDA=ON builds it"; fi ;;
ON) why="asked for" ;;
OFF) why="DEMO_CUDA=OFF" ;;
*) echo "demo: DEMO_CUDA must be AUTO, ON or OFF (got '$CUDA')" >&2; exit 2 ;;
esac
mkdir -p "$BUILD"
LOG="$BUILD/build.log"
t0=$SECONDS
if ! { cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFKM_CUDA="$CUDA" -DFKM_MPI=OFF &&
       cmake --build "$BUILD" -j "$(nproc)" --target flashkmeans_cli; } > "$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    echo "demo: the build failed (the last 40 lines above; all of it in $LOG)" >&2
    exit 1
fi
engine=$(grep -q 'CUDA engine ON' "$LOG" && echo "CPU + CUDA" || echo "CPU")
notes=$(grep -c -E 'warning|ptxas info' "$LOG" || true)
msg="built $BUILD/flashkmeans in $((SECONDS - t0)) s (engines: $engine; CUDA: $why)"
[ "$notes" -gt 0 ] && msg="$msg; $notes compiler warnings/notes, listed in $LOG"
echo "$msg"
