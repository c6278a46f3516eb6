#!/usr/bin/env bash
# pip-check.sh -- the Python package as a pip user gets it (pyproject.toml + setup.py):
#   1. a fresh virtual environment (--system-site-packages: numpy etc. come from Debian);
#   2. `pip install --no-build-isolation --no-index .` of this tree, which builds libflashkmeans.so
#      with CMake (the CUDA engine too when nvcc is found) and puts it inside the package;
#   3. a fit from outside the source tree, with no FKM_* or PYTHONPATH: the venv's package and the
#      library inside it are what gets loaded;
#   4. `python3 -m build --wheel --no-isolation`: the wheel carries flashkmeans/libflashkmeans.so,
#      and installed alone into a second venv it passes the same fit.
# Needs cmake, a C compiler and Debian's python3-venv, python3-pip, python3-setuptools,
# python3-wheel and python3-build (.ci/run installs them). Not a ctest test (tests/*.sh are): it
# builds the library again, the CUDA engine included (minutes), which would also run beside the
# timing-sensitive tests. Run by .ci/run, or by hand: bash scripts/pip-check.sh
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
unset PYTHONPATH FKM_LIBRARY FKM_BUILD_DIR
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }

# The venv's own package and library, a tiny fit with a known answer, the version pip recorded.
cat > "$tmp/smoke.py" <<'PY'
import importlib.metadata, os, sys
import numpy as np
import flashkmeans
pkg = os.path.dirname(os.path.abspath(flashkmeans.__file__))
assert pkg.startswith(sys.prefix + os.sep), "package %s is not the venv's (%s)" % (pkg, sys.prefix)
assert flashkmeans.library_path == os.path.join(pkg, "libflashkmeans.so"), flashkmeans.library_path
assert importlib.metadata.version("flashkmeans") == flashkmeans.__version__
X = np.array([[0, 0], [0, 1], [5, 5], [5, 6]], np.float32)
km = flashkmeans.KMeans(2, random_state=0).fit(X)
lab = km.labels_.tolist()
assert km.inertia_ == 1.0 and lab[0] == lab[1] != lab[2] == lab[3], (km.inertia_, lab)
print("flashkmeans %s, %s: inertia %g, labels %s, %d CUDA device(s)" % (
    flashkmeans.__version__, flashkmeans.library_path, km.inertia_, lab,
    flashkmeans.cuda_device_count()))
PY
smoke() { (cd "$tmp" && "$1/bin/python" smoke.py); }

echo "-- pip install --no-build-isolation --no-index . (fresh venv)"
check "$py" -m venv --system-site-packages "$tmp/venv"
check "$tmp/venv/bin/pip" install -q --no-cache-dir --no-build-isolation --no-index "$src"
check smoke "$tmp/venv"

echo "-- python3 -m build --wheel --no-isolation"
wheel() {
    "$py" -m build --wheel --no-isolation --outdir "$tmp/dist" "$src" >"$tmp/build.log" 2>&1 ||
        { tail -20 "$tmp/build.log"; return 1; }
}
check wheel
whl=("$tmp"/dist/flashkmeans-*-py3-none-linux_*.whl)
check test -f "${whl[0]}"
"$py" -m zipfile -l "${whl[0]}" >"$tmp/wheel.txt" 2>&1 || true
has() { grep -q "^flashkmeans/$1 " "$tmp/wheel.txt"; }
check has libflashkmeans.so
check has __init__.py
check "$py" -m venv --system-site-packages "$tmp/venv2"
check "$tmp/venv2/bin/pip" install -q --no-cache-dir --no-index "${whl[0]}"
check smoke "$tmp/venv2"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
