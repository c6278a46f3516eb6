#!/usr/bin/env bash
# make demo: cluster Fashion-MNIST (60000 x 784, Debian package dataset-fashion-mnist) into 10
# clusters on the best device present, print how well the clusters match the true classes and
# draw the fit (BUILD_DIR/fashion-mnist.svg: convergence, cluster sizes, a PCA projection, the
# centroids as images).
# Usage: bash scripts/demo.sh [BUILD_DIR]   (make demo installs the package and builds first)
set -euo pipefail
BUILD=${1:-build}
BIN="$BUILD/flashkmeans"
[ -x "$BIN" ] || { echo "demo: $BIN not found; run 'make' first" >&2; exit 1; }

# Where the package put the files (dpkg -L), falling back to its usual directory.
find_file() {
    local name=$1 f
    f=$(dpkg -L dataset-fashion-mnist 2>/dev/null | grep -E "/$name(\.gz)?\$" | head -n1 || true)
    [ -n "$f" ] || f=$(ls /usr/share/datasets/fashion-mnist/"$name"* 2>/dev/null | head -n1 || true)
    [ -n "$f" ] || { echo "demo: $name not found: install the Debian package dataset-fashion-mnist (make deps)" >&2; exit 1; }
    echo "$f"
}
IMAGES=$(find_file train-images-idx3-ubyte)
LABELS=$(find_file train-labels-idx1-ubyte)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
REPORT="$TMP/report.json"

echo "flashkmeans demo: Fashion-MNIST training set, k = 10"
echo "  images: $IMAGES"
echo "  labels: $LABELS"
PLOT="$(cd "$BUILD" && pwd)/fashion-mnist.svg"
"$BIN" fit "$IMAGES" -k 10 --truth "$LABELS" --report "$REPORT" --plot "$PLOT" --device auto --seed 0 --quiet

# One top-level key per line in report.json: "key": value,
field() { sed -n "s/^  \"$1\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$REPORT" | head -n1; }
n=$(field n); d=$(field d); k=$(field k)
printf '  data:       %s points x %s features (%s), %s clusters\n' "$n" "$d" "$(field dtype)" "$k"
threads=$(field threads)
[ "$threads" = 0 ] && threads="CPU threads chosen by size and load" || threads="$threads CPU threads"
printf '  device:     %s (precision %s, %s)\n' "$(field device)" "$(field precision)" "$threads"
printf '  iterations: %s (%s)\n' "$(field n_iter)" "$(field stop_reason)"
LC_ALL=C printf '  inertia:    %.6e\n' "$(field inertia)"
LC_ALL=C printf '  time:       %.2f ms per iteration (%.0f ms fit, %.0f ms loading)\n' "$(field ms_per_iter)" "$(field fit_ms)" "$(field load_ms)"
LC_ALL=C printf '  agreement with the 10 true classes: NMI %.4f, ARI %.4f\n' "$(field nmi)" "$(field ari)"
echo "  (NMI/ARI: 1 = the clusters are exactly the classes, 0 = no better than chance)"
echo "  plot:       $PLOT (open it in a browser)"
