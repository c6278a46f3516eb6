#!/usr/bin/env bash
# Install the Debian packages flashkmeans' demo, tests and CPU benchmarks use, if missing.
# Usage: bash scripts/deps.sh [demo]
set -euo pipefail
# `deps.sh demo` (make demo): only what the demo builds and reads; the rest is for the tests.
pkgs=(cmake gcc make zlib1g-dev dataset-fashion-mnist)
if [ "${1:-}" != demo ]; then
    pkgs+=(pkg-config valgrind python3-numpy python3-pytest)
    # Open MPI: fkm_mpi_fit and `mpirun ... flashkmeans fit` (docs/mpi.md); FKM_MPI=AUTO builds them when found.
    pkgs+=(openmpi-bin libopenmpi-dev)
fi
# OpenBLAS: without it Debian's FAISS and numpy fall back to the reference BLAS (20x slower).
[ "${FKM_BENCH_DEPS:-0}" = 1 ] && pkgs+=(python3-faiss python3-sklearn libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
