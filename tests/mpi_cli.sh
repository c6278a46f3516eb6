#!/usr/bin/env bash
# tests/mpi_cli.sh BUILD_DIR -- `mpirun -np R flashkmeans fit` (docs/mpi.md): R = 1, 2, 3, 4 give
# byte-identical centroid and label files (cmp) and the same report apart from timings, for
# k-means++ and random init, an empty cluster (far init row), N not divisible by R, a 0-row and
# 1-row slice (N < R, N = R + 1), npy (mapped in place), float64 npy (decoded) and fvecs input;
# another seed changes the files (so cmp can fail). Failures on one rank: all ranks exit with the
# same code, one "flashkmeans: error:" line, no output file. SKIPPED (77) only when the build has
# no MPI. Runs as root with --allow-run-as-root, on any core count with --oversubscribe.
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
ldd "$BIN" 2>/dev/null | grep -q libmpi || { echo "SKIPPED: built without MPI (FKM_MPI=OFF or no MPI found)"; exit 77; }
command -v mpirun >/dev/null || { echo "FAIL: built with MPI but mpirun is missing (apt-get install openmpi-bin)"; exit 1; }
command -v perl >/dev/null || { echo "SKIPPED: perl not found"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else no "$what"; fi; }

# Containers forbid cross-memory attach; few cores: waiters must yield; ASan: Open MPI keeps
# allocations until exit.
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_mpi_yield_when_idle=1 OMP_WAIT_POLICY=passive
export OMPI_MCA_rmaps_base_oversubscribe=1 ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
run() { local np=$1; shift; mpirun -np "$np" --oversubscribe --allow-run-as-root "$BIN" "$@"; }

# ---------------------------------------------------------------- fixtures (perl: no numpy needed)
cat > "$T/mk.pl" <<'PERL'
use strict; use warnings;
my ($cmd, $f, $n, $d, $k, $seed, $descr) = @ARGV;
srand($seed);
my @c = map { [map { rand(20) - 10 } 1 .. $d] } 1 .. $k;
my @v;
for my $i (0 .. $n - 1) {
    my $ctr = $c[$i % $k];
    push @v, map { unpack('f', pack('f', $ctr->[$_] + sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand()))) } 0 .. $d - 1;
}
$v[-1] = 'nan' if $cmd eq 'npynan';
open(my $h, '>:raw', $f) or die "$f: $!";
if ($cmd eq 'fvecs') {
    while (@v) { print $h pack('l<', $d) . pack('f<*', splice(@v, 0, $d)); }
} else {
    $descr //= '<f4';
    my $dict = "{'descr': '$descr', 'fortran_order': False, 'shape': ($n, $d), }";
    my $len = 10 + length($dict) + 1; my $pad = (64 - $len % 64) % 64;
    my $hdr = $dict . (' ' x $pad) . "\n";
    print $h "\x93NUMPY\x01\x00" . pack('v', length $hdr) . $hdr . pack(($descr eq '<f8' ? 'd<' : 'f<') . '*', @v);
}
close $h;
PERL
mk() { perl "$T/mk.pl" "$@"; }
mk npy "$T/a.npy" 1001 6 7 1
mk npy "$T/a64.npy" 1001 6 7 1 '<f8'
mk fvecs "$T/a.fvecs" 1001 6 7 1
mk npy "$T/tiny3.npy" 3 2 2 5
mk npy "$T/tiny5.npy" 5 2 2 6
mk npynan "$T/nan.npy" 1001 6 7 1
# init rows: 6 data-like rows and one far away, which starts (and is refilled when) empty
perl -e 'my $d="{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': False, '"'"'shape'"'"': (7, 6), }"; my $l=10+length($d)+1; $d.=(" " x ((64-$l%64)%64))."\n";
  open(my $h,">:raw",$ARGV[0]); print $h "\x93NUMPY\x01\x00".pack("v",length $d).$d.pack("f<*", (map { ($_ * 7 % 11) - 5 } 0..35), (1000) x 6); close $h' "$T/init.npy"

# Fit with R = 1..4 ranks; every file must equal R = 1's. $1: name, then fit options.
same_at_any_scale() {
    local name=$1; shift
    local r
    for r in 1 2 3 4; do
        run $r fit "$@" --threads 1 -q -o "$T/$name.c$r.npy" --labels "$T/$name.l$r.npy" --report "$T/$name.r$r.json" \
            > "$T/$name.out$r" 2>&1 || { no "$name: $r ranks exit $? ($(head -c 300 "$T/$name.out$r"))"; continue; }
        ok
        if [ $r -gt 1 ]; then
            check "$name: centroids $r ranks vs 1" cmp -s "$T/$name.c1.npy" "$T/$name.c$r.npy"
            check "$name: labels $r ranks vs 1" cmp -s "$T/$name.l1.npy" "$T/$name.l$r.npy"
            # the report: same numbers apart from timings and the rank count
            check "$name: report $r ranks vs 1" diff <(grep -Ev '"(ms|load_ms|fit_ms|ms_per_iter|mpi_ranks)"' "$T/$name.r1.json" | sed 's/, "ms": [^}]*}/}/') \
                                                     <(grep -Ev '"(ms|load_ms|fit_ms|ms_per_iter|mpi_ranks)"' "$T/$name.r$r.json" | sed 's/, "ms": [^}]*}/}/')
            check "$name: report says $r ranks" grep -q "\"mpi_ranks\": $r," "$T/$name.r$r.json"
        fi
    done
}
same_at_any_scale kpp "$T/a.npy" -k 9 --seed 4
same_at_any_scale random "$T/a.fvecs" -k 9 --seed 4 --init random --stop labels
same_at_any_scale f64 "$T/a64.npy" -k 5 --seed 2 --stop inertia --n-init 2
same_at_any_scale empty "$T/a.npy" --init "$T/init.npy" --stop fixed --iters 5
check "empty: the far centroid started empty" grep -Eq '"empty": [1-9]' "$T/empty.r1.json"
same_at_any_scale keep "$T/a.npy" --init "$T/init.npy" --stop fixed --iters 5 --empty keep
same_at_any_scale tiny3 "$T/tiny3.npy" -k 2 --seed 1   # 4 ranks: one holds no row
same_at_any_scale tiny5 "$T/tiny5.npy" -k 3 --seed 1   # 4 ranks: 1, 1, 1, 2 rows

# The comparison can fail: another seed changes the centroids.
run 2 fit "$T/a.npy" -k 9 --seed 5 --threads 1 -q -o "$T/seed5.npy" >/dev/null 2>&1
check "seed 5 differs from seed 4" bash -c "! cmp -s '$T/kpp.c1.npy' '$T/seed5.npy'"

# Threads per rank do not change the answer either.
run 2 fit "$T/a.npy" -k 9 --seed 4 --threads 2 -q -o "$T/thr.npy" --labels "$T/thr.l.npy" >/dev/null 2>&1
check "2 ranks x 2 threads = 1 rank" cmp -s "$T/kpp.c1.npy" "$T/thr.npy"
check "2 ranks x 2 threads labels" cmp -s "$T/kpp.l1.npy" "$T/thr.l.npy"

# ---------------------------------------------------------------- failures
# $1: expected exit code, $2: what, then fit arguments. One error line, no output files.
fails() {
    local want=$1 what=$2; shift 2
    rm -f "$T/o.npy" "$T/ol.npy"
    run 3 fit "$@" -q -o "$T/o.npy" --labels "$T/ol.npy" > "$T/f.out" 2> "$T/f.err"
    local rc=$?
    check "$what: exit $rc, expected $want" [ $rc -eq "$want" ]
    local lines
    lines=$(grep -c '^flashkmeans: error:' "$T/f.err")
    check "$what: $lines error lines, expected 1 ($(grep '^flashkmeans' "$T/f.err" | head -3))" [ "$lines" -eq 1 ]
    check "$what: no output" test ! -e "$T/o.npy" -a ! -e "$T/ol.npy"
}
fails 2 "NaN in the last rank's rows" "$T/nan.npy" -k 4
check "NaN: the message names the rank" grep -q 'rank 2: .*NaN' "$T/f.err"
gzip -c "$T/a.npy" > "$T/a.npy.gz"
fails 2 "gzip input on 3 ranks" "$T/a.npy.gz" -k 4
check "gzip: says why" grep -q 'gzip' "$T/f.err"
run 1 fit "$T/a.npy.gz" -k 4 -q -o "$T/gz1.npy" > /dev/null 2>&1
check "gzip input on 1 rank works" [ -s "$T/gz1.npy" ]
fails 2 "k > N" "$T/tiny3.npy" -k 4
fails 2 "missing input" "$T/none.npy" -k 4
fails 2 "bad option" "$T/a.npy" -k 4 --stop sometimes
rm -f "$T/o.npy"
run 3 fit "$T/a.npy" -k 4 -q -o "$T/nodir/c.npy" > /dev/null 2> "$T/f.err"
rc=$?
check "unwritable output: exit $rc" [ $rc -eq 2 ]
check "unwritable output: one line" [ "$(grep -c '^flashkmeans: error:' "$T/f.err")" -eq 1 ]
run 2 predict "$T/a.npy" --centroids "$T/kpp.c1.npy" > /dev/null 2>&1
check "predict under mpirun is refused" [ $? -eq 2 ]

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
