# flashkmeans -- top-level entry points. The real build is CMake (build/).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
PY ?= /usr/bin/python3

.PHONY: all build configure demo test test-asan soak bench-cpu gpu-check bench-gpu bench-side install clean deps fuzz-smoke fuzz-long

all: build

configure:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null || cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Debian packages the demo, tests and CPU benchmarks use (installed only if missing).
deps:
	@bash scripts/deps.sh

# make demo: only what the demo needs (scripts/deps.sh demo), the CLI alone in $(DEMO_BUILD)
# with the CUDA engine only where a GPU is present (DEMO_CUDA=ON|OFF to choose; scripts/demo-build.sh),
# the compiler's output in $(DEMO_BUILD)/build.log; then the demo, which draws $(DEMO_BUILD)/fashion-mnist.svg.
DEMO_BUILD ?= build-demo
DEMO_CUDA ?= AUTO
demo:
	@bash scripts/deps.sh demo
	@bash scripts/demo-build.sh $(DEMO_BUILD) $(DEMO_CUDA)
	@bash scripts/demo.sh $(DEMO_BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DFKM_SANITIZE=ON -DFKM_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug"

# Differential soak test (tests/test_soak.c; ctest runs it for 20 s): random cases for SOAK_SECONDS
# on the CPU engine and, when a GPU is present, the CUDA engine, against the float64 oracle.
# SOAK_ARGS adds options: --big (wider shapes, for a GPU), --seed S, --json FILE.
SOAK_SECONDS ?= 600
soak: build
	@FKM_SOURCE_DIR=$(CURDIR) $(BUILD)/tests/test_soak --seconds $(SOAK_SECONDS) --quiet $(SOAK_ARGS)

# libFuzzer targets (clang): 60 s per target / 10 min per target; see fuzz/Makefile.
fuzz-smoke:
	@$(MAKE) --no-print-directory -C fuzz smoke

fuzz-long:
	@$(MAKE) --no-print-directory -C fuzz long

bench-cpu: deps build
	@bash bench/cpu.sh $(BUILD)

gpu-check:
	@bash scripts/gpu-check.sh

bench-gpu:
	@bash scripts/bench-gpu.sh

# The Python API side by side with the Flash-KMeans reference (cloned into third_party/flash-kmeans)
# and the C engine, one process, on a GPU machine with torch and triton (bench/README.md).
# SIDE_ARGS="--quick --rows b8,n1m" passes options on; SIDE_PY names the interpreter.
SIDE_PY ?= python3
bench-side: build
	@FKM_BUILD_DIR=$(abspath $(BUILD)) $(SIDE_PY) bench/side.py $(SIDE_ARGS)

install: build
	@cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX),)

clean:
	rm -rf $(BUILD) build-asan $(DEMO_BUILD)
