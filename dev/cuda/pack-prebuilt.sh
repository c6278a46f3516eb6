#!/usr/bin/env bash
# pack-prebuilt.sh BUILD_DIR -- the GPU test programs, the shared library and bench_fit of a CUDA
# build (sm_90a) into .devbin/, stripped, and .devbin/ into .devpack/devbin.tar.xz (both
# git-ignored). Every test program links the whole engine (~17 MB each), so .devbin/ alone is past
# the device tool's 64 MiB carry limit; the archive is ~18 MB. Carry ".devpack" and
# dev/cuda/run-prebuilt.sh unpacks it when .devbin/ is missing.
# Build first:  cmake -S . -B build-dev -DFKM_CUDA=ON -DFKM_CUDA_ARCHS=90a -DCMAKE_BUILD_TYPE=Release
#               make -C build-dev flashkmeans test_cuda test_cuda_cert test_cuda_fit ...
set -eu
cd "$(dirname "$0")/../.."
B=${1:?usage: dev/cuda/pack-prebuilt.sh BUILD_DIR}
rm -rf .devbin && mkdir -p .devbin/lib .devpack
for t in "$B"/tests/test_cuda* "$B"/tests/test_soak; do [ -x "$t" ] && cp "$t" .devbin/; done
cp -P "$B"/libflashkmeans.so* .devbin/lib/
nvcc -O2 -std=c++17 -Iinclude -gencode=arch=compute_90a,code=sm_90a dev/cuda/bench_fit.cu -L"$B" -lflashkmeans \
  -o .devbin/bench_fit
nvcc -O2 -std=c++17 -Iinclude -Itests -gencode=arch=compute_90a,code=sm_90a dev/cuda/lab/assign_lab.cu tests/ref/ref.c \
  -L"$B" -lflashkmeans -o .devbin/assign_lab
nvcc -O3 -std=c++17 -gencode=arch=compute_90a,code=sm_90a dev/cuda/lab/late_lab.cu -o .devbin/late_lab
strip .devbin/test_cuda* .devbin/test_soak .devbin/bench_fit .devbin/assign_lab .devbin/late_lab "$(readlink -f .devbin/lib/libflashkmeans.so)"
tar cf - .devbin | xz -6 -T2 > .devpack/devbin.tar.xz
echo "$(ls .devbin | wc -l) programs, $(du -sh .devbin | cut -f1) -> $(du -h .devpack/devbin.tar.xz | cut -f1) .devpack/devbin.tar.xz"
