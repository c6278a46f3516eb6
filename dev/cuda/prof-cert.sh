#!/usr/bin/env bash
# prof-cert.sh -- on the GPU machine: per-kernel times (ncu) of the certified exact mode on the two
# float32 rows of the targets table, through dev/cuda/bench_fit (prebuilt in .devbin), at the
# clocks the GPU runs at (ncu's default locks them to base: the kernels read 10-20% slow) and with
# the caches flushed before each kernel (so kernels that re-read L2-resident data read high).
# Arguments: environment settings for this profile (e.g. FKM_CU_CERT_FUSE=0).
B=.devbin; export LD_LIBRARY_PATH=$PWD/$B/lib
OUTD=${OUT:-/tmp/out}; mkdir -p "$OUTD"
for c in "1 1048576 1024 128 f32 exact 3" "1 4194304 256 64 f32 exact 3"; do
  env "$@" timeout 200 /usr/local/cuda/bin/ncu --clock-control none --metrics gpu__time_duration.sum --csv \
    $B/bench_fit $c > "$OUTD/ncu.csv" 2>/dev/null
  echo "== ncu: $c $*"
  python3 - "$OUTD/ncu.csv" <<'PY'
import csv, collections, sys
rows = list(csv.reader(open(sys.argv[1])))
h = [i for i, r in enumerate(rows) if r and r[0] == "ID"]
if not h:
    print("no ncu output"); raise SystemExit
hdr = rows[h[0]]; ki, vi, ui = hdr.index("Kernel Name"), hdr.index("Metric Value"), hdr.index("Metric Unit")
t = collections.defaultdict(list)
for r in rows[h[0] + 1:]:
    if len(r) > vi: t[r[ki][:70]].append(float(r[vi].replace(",", "")))
print("unit", rows[h[0] + 1][ui])
for k, v in sorted(t.items(), key=lambda kv: -sorted(kv[1])[len(kv[1]) // 2])[:9]:
    v.sort(); print("%-70s n=%3d median %10.1f" % (k, len(v), v[len(v) // 2]))
PY
done
