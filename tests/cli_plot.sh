#!/usr/bin/env bash
# tests/cli_plot.sh BUILD_DIR -- `flashkmeans fit --plot FILE.svg` (issue 24, item 1). The SVG is
# read back with Python's xml.etree and checked against the fit's own outputs: the convergence
# dots are the report's per-iteration inertia and changed counts, the size bars the label counts
# (largest first), the projection holds every sampled point in its cluster's group and each
# centroid at the mean of its cluster's projected points (the projection is linear and the fit
# stopped with no label changed), and 28x28 centroids are drawn pixel for pixel from -o's values.
# The plot follows the output rules: refused when it names an input or another output or has
# another extension, nothing written on failure (an old plot stays), no temporary left. When
# rsvg-convert (Debian librsvg2-bin) is installed the SVG is also rendered.
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3) || { echo "SKIPPED: no python3"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else no "$what"; fi; }

# fixtures: blobs (300 x 3 float32 .npy), 1-D data, 28x28 uint8 images (IDX, 90 x 28 x 28)
"$PY" - "$T" <<'PY'
import random, struct, sys
t = sys.argv[1]
def npy(path, rows, d):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), d)
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
        for r in rows:
            f.write(struct.pack("<%df" % d, *r))
rng = random.Random(5)
centres = [(0, 0, 0), (8, 1, -3), (-6, 7, 2), (3, -8, 6)]
npy(f"{t}/blobs.npy", [[c + rng.gauss(0, 1) for c in centres[i % 4]] for i in range(300)], 3)
npy(f"{t}/line.npy", [[float(i % 3) * 10 + rng.random()] for i in range(60)], 1)
with open(f"{t}/img-idx3-ubyte", "wb") as f:  # three shapes: a bar, a square, a cross
    f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 90, 28, 28))
    for i in range(90):
        s = i % 3
        px = []
        for y in range(28):
            for x in range(28):
                on = (s == 0 and 12 <= x < 16) or (s == 1 and 6 <= x < 22 and 6 <= y < 22) or \
                     (s == 2 and (abs(x - y) < 2 or abs(x + y - 27) < 2))
                px.append(max(0, min(255, (200 if on else 0) + rng.randint(-20, 20))))
        f.write(bytes(px))
PY

# ---------------------------------------------------------------- the plot read back
"$BIN" fit "$T/blobs.npy" -k 4 --seed 1 --stop labels -q -o "$T/c.npy" --labels "$T/l.npy" --report "$T/r.json" \
    --plot "$T/p.svg"
check "fit --plot: exit 0" test $? -eq 0
"$BIN" fit "$T/img-idx3-ubyte" -k 3 --seed 2 --stop labels -q -o "$T/ic.npy" --labels "$T/il.npy" --plot "$T/ip"
check "fit --plot (no extension, 28x28 images): exit 0" test $? -eq 0
"$BIN" fit "$T/line.npy" -k 3 -q --plot "$T/lp.svg" --report "$T/lr.json"
check "fit --plot (d = 1): exit 0" test $? -eq 0
"$BIN" fit "$T/blobs.npy" -k 4 --iters 0 -q --plot "$T/p0.svg"
check "fit --plot --iters 0: exit 0" test $? -eq 0

"$PY" - "$T" <<'PY' > "$T/svg.out"
import json, struct, sys
import xml.etree.ElementTree as ET
t = sys.argv[1]
NS = "{http://www.w3.org/2000/svg}"
checks = fails = 0
def check(ok, what):
    global checks, fails
    checks += 1
    if not ok:
        fails += 1
        print("FAIL:", what)

def load_npy(path):
    b = open(path, "rb").read()
    hl = struct.unpack("<H", b[8:10])[0]
    hdr = b[10:10 + hl].decode()
    body = b[10 + hl:]
    code = "f" if "<f4" in hdr else "i"
    v = struct.unpack("<%d%s" % (len(body) // 4, code), body)
    shape = eval(hdr)["shape"]
    return v, shape

def by_class(root, cls, tag=None):
    return [e for e in root.iter() if e.get("class") == cls and (tag is None or e.tag == NS + tag)]

def by_id(root, i):
    found = [e for e in root.iter() if e.get("id") == i]
    return found[0] if found else None

def parse(path):
    try:
        return ET.parse(path).getroot()
    except Exception as e:  # a broken file fails every check below
        check(False, f"{path}: not well-formed XML: {e}")
        return None

# --- blobs: convergence, sizes, projection
root = parse(f"{t}/p.svg")
rep = json.load(open(f"{t}/r.json"))
labels, _ = load_npy(f"{t}/l.npy")
cents, cshape = load_npy(f"{t}/c.npy")
if root is not None:
    check(root.tag == NS + "svg", "root element is svg")
    check(root.get("data-k") == "4" and root.get("data-n") == "300", "svg data-k / data-n")
    check(int(root.get("data-iterations")) == rep["n_iter"], "svg data-iterations = report n_iter")
    check(not [e for e in root.iter() if e.tag in (NS + "script", NS + "image", NS + "use")], "self-contained: no script, image or use")
    for key, pid in (("inertia", "convergence-inertia"), ("changed", "convergence-changed")):
        g = by_id(root, pid)
        check(g is not None, f"group #{pid}")
        if g is None:
            continue
        dots = by_class(g, "point", "circle")
        want = [it[key] for it in rep["iterations"]]
        got = [float(d.get("data-value")) for d in dots]
        check(len(got) == len(want) and all(abs(a - b) <= 1e-8 * max(1.0, abs(b)) for a, b in zip(got, want)),
              f"{pid}: the dots are the report's {key} per iteration ({got[:3]}... vs {want[:3]}...)")
        check([int(d.get("data-iteration")) for d in dots] == list(range(1, len(want) + 1)), f"{pid}: iterations 1..n")
        lines = [e for e in g.iter(NS + "polyline")]
        check(len(lines) == 1 and len(lines[0].get("points").split()) == len(want), f"{pid}: one line through every dot")
    g = by_id(root, "sizes")
    bars = by_class(g, "bar", "rect") if g is not None else []
    counts = [labels.count(c) for c in range(4)]
    sizes = [int(b.get("data-size")) for b in bars]
    check(len(bars) == 4, "sizes: one bar per cluster")
    check(sizes == sorted(sizes, reverse=True), "sizes: largest first")
    check(all(counts[int(b.get("data-cluster"))] == int(b.get("data-size")) for b in bars), "sizes: bars are the label counts")
    heights = [float(b.get("height")) for b in bars]
    check(all(heights[i] >= heights[i + 1] for i in range(len(heights) - 1)) and heights[0] > 0, "sizes: bar heights follow the sizes")
    g = by_id(root, "projection")
    check(g is not None, "group #projection for d = 3")
    if g is not None:
        groups = by_class(g, "points", "g")
        pts = {int(e.get("data-cluster")): [(float(c.get("cx")), float(c.get("cy"))) for c in e.iter(NS + "circle")] for e in groups}
        check(sum(len(v) for v in pts.values()) == 300, "projection: every point of a 300-point input drawn")
        check(all(len(pts.get(c, [])) == counts[c] for c in range(4)), "projection: each cluster's group holds its points")
        check(len({e.get("fill") for e in groups}) == 4, "projection: one colour per cluster")
        cen = {int(e.get("data-cluster")): (float(e.get("cx")), float(e.get("cy"))) for e in by_class(g, "centroid", "circle")}
        check(sorted(cen) == [0, 1, 2, 3], "projection: the 4 centroids")
        for c in cen:
            if pts.get(c):
                mx = sum(p[0] for p in pts[c]) / len(pts[c])
                my = sum(p[1] for p in pts[c]) / len(pts[c])
                check(abs(mx - cen[c][0]) < 1.0 and abs(my - cen[c][1]) < 1.0,
                      f"projection: centroid {c} at the mean of its points ({cen[c]} vs {mx:.1f},{my:.1f})")
        # the clusters are far apart: the projection must separate them (centroids > 30 px apart)
        cs = list(cen.values())
        check(min(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 for i, a in enumerate(cs) for b in cs[i + 1:]) > 30,
              "projection: the blobs' centroids apart")
    check(by_id(root, "centroid-images") is None, "no centroid images for d = 3")

# --- 28x28 images
root = parse(f"{t}/ip")
ic, ishape = load_npy(f"{t}/ic.npy")
il, _ = load_npy(f"{t}/il.npy")
if root is not None:
    g = by_id(root, "centroid-images")
    check(g is not None, "group #centroid-images for 28x28 input")
    imgs = by_class(g, "centroid-image", "g") if g is not None else []
    check(len(imgs) == 3, "one image per centroid")
    lo, hi = min(ic), max(ic)
    for im in imgs:
        c = int(im.get("data-cluster"))
        check(int(im.get("data-size")) == il.count(c), f"image {c}: its cluster's size")
        px = {}
        for r in im.iter(NS + "rect"):
            if r.get("width") == "1":
                px[(int(r.get("x")), int(r.get("y")))] = r.get("fill")
        want = {}
        for j in range(784):
            grey = round(255 * (ic[c * 784 + j] - lo) / (hi - lo))
            if grey > 0:
                want[(j % 28, j // 28)] = "#%02x%02x%02x" % (grey, grey, grey)
        bad = sum(1 for k in set(px) | set(want) if px.get(k) != want.get(k))
        # lround in C and round in Python differ only at exact halves: allow a handful
        check(bad <= 3 and len(px) > 50, f"image {c}: pixels are the centroid's values ({bad} differ, {len(px)} drawn)")

# --- d = 1, no iteration
root = parse(f"{t}/lp.svg")
if root is not None:
    check(by_id(root, "projection") is None and by_id(root, "no-projection") is not None, "d = 1: no projection, said so")
    check(len(by_class(by_id(root, "sizes"), "bar", "rect")) == 3, "d = 1: sizes drawn")
root = parse(f"{t}/p0.svg")
if root is not None:
    check(len(by_class(by_id(root, "convergence-inertia"), "point", "circle")) == 0, "--iters 0: no dot")
print(checks, fails)
PY
sed '$d' "$T/svg.out" >&2
read -r nc nf < <(tail -n1 "$T/svg.out")
if [ -n "${nc:-}" ] && [ "${nf:-1}" -eq 0 ]; then pass=$((pass + nc)); else no "SVG checks (${nf:-?} of ${nc:-?} failed)"; pass=$((pass + ${nc:-0} - ${nf:-0})); fi

# ---------------------------------------------------------------- output rules
bad() { # bad WHAT MESSAGE-PART ARGS...: exit 2, one error line naming it, nothing new written
    local what=$1 msg=$2
    shift 2
    local before
    before=$(ls -A "$T/o" | sort | cksum)
    "$BIN" "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    check "$what: exit 2 (got $rc)" test $rc -eq 2
    check "$what: one error line" test "$(wc -l < "$T/err")" -eq 1
    check "$what: the message says '$msg' ($(cat "$T/err"))" grep -qF -- "$msg" "$T/err"
    check "$what: nothing written" test "$(ls -A "$T/o" | sort | cksum)" = "$before"
}
mkdir "$T/o"
cp "$T/blobs.npy" "$T/o/in.npy"
ln -s in.npy "$T/o/link.svg"
INSUM=$(cksum < "$T/o/in.npy")
bad "--plot naming the input through a link" "is the input data file" fit "$T/o/in.npy" -k 4 -q --plot "$T/o/link.svg"
check "the input is untouched" test "$(cksum < "$T/o/in.npy")" = "$INSUM"
bad "--plot naming the input" "refusing to overwrite an input" fit "$T/o/in.npy" -k 4 -q --plot "$T/o/in.npy"
bad "--plot p.png" "the plot is SVG: name it .svg" fit "$T/o/in.npy" -k 4 -q --plot "$T/o/p.png"
bad "--plot = --report" "are the same file" fit "$T/o/in.npy" -k 4 -q --report "$T/o/x.json" --plot "$T/o/x.json"
bad "--plot in a missing directory" "cannot" fit "$T/o/in.npy" -k 4 -q --plot "$T/o/nodir/p.svg"
printf 'old plot' > "$T/o/old.svg"
bad "a failing fit (k > n)" "" fit "$T/o/in.npy" -k 1000 -q --plot "$T/o/old.svg"
check "a failing fit leaves the old plot as it was" test "$(cat "$T/o/old.svg")" = "old plot"
"$BIN" fit "$T/o/in.npy" -k 4 -q --plot "$T/o/old.svg" -o "$T/o/c.npy"
check "a good fit replaces the old plot" test "$(tail -n1 "$T/o/old.svg")" = "</svg>"
check "no temporary file left" test -z "$(ls -A "$T/o" | grep '^\.')"

# ---------------------------------------------------------------- rendered
if command -v rsvg-convert > /dev/null; then
    for f in p.svg ip lp.svg; do
        rsvg-convert "$T/$f" -o "$T/$f.png" 2> "$T/rsvg.err"
        check "rsvg-convert renders $f ($(head -c 200 "$T/rsvg.err"))" test $? -eq 0 -a -s "$T/$f.png"
        # a PNG of the SVG's width, with more than a blank page's bytes
        check "$f renders 960 pixels wide, not blank" "$PY" -c "
import struct, sys; b = open('$T/$f.png', 'rb').read()
sys.exit(0 if b[:8] == b'\x89PNG\r\n\x1a\n' and struct.unpack('>I', b[16:20])[0] == 960 and len(b) > 20000 else 1)"
    done
else
    echo "rsvg-convert not installed (Debian librsvg2-bin): the SVG was parsed, not rendered"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
