#!/usr/bin/env bash
# tests/cli.sh BUILD_DIR -- the flashkmeans command line: fit/predict/bench on small generated
# files in every input format, report.json contents, and every bad input: exit code 2, exactly one
# line on stderr starting "flashkmeans: error:", nothing on stdout, no output file created and a
# pre-existing output file unmodified (checksum). Fixtures are written by an embedded perl script
# (perl-base is part of every Debian system), so numpy is not needed.
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
command -v perl >/dev/null || { echo "SKIPPED: perl not found"; exit 77; }
T=$(mktemp -d)
MNT=
trap '[ -n "$MNT" ] && umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else no "$what"; fi; }

# ---------------------------------------------------------------- fixture writer
cat > "$T/mk.pl" <<'PERL'
use strict; use warnings;
my $cmd = shift @ARGV;
sub vals { local $/; my $s = <STDIN>; $s =~ s/^\s+//; return split /\s+/, $s; }
sub out { my ($f, $b) = @_; open(my $h, '>:raw', $f) or die "$f: $!"; print $h $b; close $h; }
my %code = ('<f4' => 'f<', '<f8' => 'd<', '<i4' => 'l<', '<i8' => 'q<', '|u1' => 'C', '>f4' => 'f>', '<c8' => 'f<', '|O' => 'C');
if ($cmd eq 'npy') {            # npy FILE DESCR SHAPE FORTRAN(True|False) < values
    my ($f, $descr, $shape, $fo) = @ARGV;
    my $dict = "{'descr': '$descr', 'fortran_order': $fo, 'shape': $shape, }";
    my $len = 10 + length($dict) + 1; my $pad = (64 - $len % 64) % 64;
    my $hdr = $dict . (' ' x $pad) . "\n";
    my $c = $code{$descr} // 'C';
    out($f, "\x93NUMPY\x01\x00" . pack('v', length $hdr) . $hdr . pack("$c*", vals()));
} elsif ($cmd eq 'vecs') {      # vecs FILE f|b|i D < values (rows of D)
    my ($f, $k, $d) = @ARGV; my @v = vals(); my $b = '';
    my $c = $k eq 'f' ? 'f<' : $k eq 'b' ? 'C' : 'l<';
    while (@v) { $b .= pack('l<', $d) . pack("$c*", splice(@v, 0, $d)); }
    out($f, $b);
} elsif ($cmd eq 'raw') {       # raw FILE PACKCODE < values
    my ($f, $c) = @ARGV; out($f, pack("$c*", vals()));
} elsif ($cmd eq 'idx') {       # idx FILE DIM... < ubyte values
    my ($f, @dims) = @ARGV;
    out($f, pack('C4', 0, 0, 8, scalar @dims) . pack('N*', @dims) . pack('C*', vals()));
} elsif ($cmd eq 'blobs') {     # blobs N D K SEED: float32-exact values, one row per line
    my ($n, $d, $k, $seed) = @ARGV; srand($seed);
    my @c = map { [map { rand(20) - 10 } 1 .. $d] } 1 .. $k;
    for my $i (0 .. $n - 1) {
        my $ctr = $c[$i % $k];
        my @row = map { my $g = sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand());
                        unpack('f', pack('f', $ctr->[$_] + $g)) } 0 .. $d - 1;
        print join(' ', map { sprintf('%.9g', $_) } @row), "\n";
    }
} elsif ($cmd eq 'transpose') { # transpose N D < row-major values -> column-major values
    my ($n, $d) = @ARGV; my @v = vals();
    print join(' ', map { my $j = $_; map { $v[$_ * $d + $j] } 0 .. $n - 1 } 0 .. $d - 1), "\n";
}
PERL
mk() { perl "$T/mk.pl" "$@"; }

N=300; D=3; K=4
mk blobs $N $D $K 7 > "$T/vals.txt"
mk npy "$T/d.npy" '<f4' "($N, $D)" False < "$T/vals.txt"
mk npy "$T/d64.npy" '<f8' "($N, $D)" False < "$T/vals.txt"
mk transpose $N $D < "$T/vals.txt" | mk npy "$T/dF.npy" '<f4' "($N, $D)" True
mk vecs "$T/d.fvecs" f $D < "$T/vals.txt"
mk raw "$T/d.raw" 'f<' < "$T/vals.txt"
mk raw "$T/d.dat" 'f<' < "$T/vals.txt"
gzip -c "$T/d.npy" > "$T/dz.npy.gz"

# ---------------------------------------------------------------- good paths
FIT=(fit "$T/d.npy" -k $K --seed 3 --quiet)
"$BIN" "${FIT[@]}" --iters 7 --stop fixed -o "$T/c.npy" --labels "$T/l.npy" --report "$T/r.json" > "$T/out" 2> "$T/err"
check "fit exits 0" test $? -eq 0
check "fit --quiet prints nothing" test ! -s "$T/out" -a ! -s "$T/err"
check "centroids written" test -s "$T/c.npy"
check "centroids header: <f4 ($K, $D)" grep -q "'descr': '<f4', 'fortran_order': False, 'shape': ($K, $D)" "$T/c.npy"
check "labels header: <i4 ($N,)" grep -q "'descr': '<i4', 'fortran_order': False, 'shape': ($N,)" "$T/l.npy"
for key in k n d iterations inertia ms_per_iter stop_reason device precision threads input n_iter seed metric; do
    check "report.json has \"$key\"" grep -q "^  \"$key\": " "$T/r.json"
done
check "report: k" grep -q '^  "k": 4,' "$T/r.json"
check "report: n" grep -q "^  \"n\": $N," "$T/r.json"
check "report: d" grep -q "^  \"d\": $D," "$T/r.json"
check "report: n_iter == --iters with --stop fixed" grep -q '^  "n_iter": 7,' "$T/r.json"
check "report: 7 iteration entries" test "$(grep -c '^    {"inertia": ' "$T/r.json")" -eq 7
check "report: iteration entries have shift/empty/ms" grep -q '"shift": .*"empty": [0-9]*, "changed": [0-9]*, "rescored": [0-9]*, "ms": ' "$T/r.json"
check "report: every iteration entry has \"rescored\"" test "$(grep -c '"rescored": [0-9]*, "ms": ' "$T/r.json")" -eq 7
if grep -q '^  "device": "cpu",' "$T/r.json"; then
    check "report: rescored 0 on the CPU" test "$(grep -c '"rescored": 0, "ms": ' "$T/r.json")" -eq 7
fi
check "report: stop_reason max_iter" grep -q '^  "stop_reason": "max_iter",' "$T/r.json"
check "report: device cpu or cuda" grep -Eq '^  "device": "(cpu|cuda)",' "$T/r.json"
if command -v python3 >/dev/null && python3 -c 'import json' 2>/dev/null; then
    check "report.json is valid JSON with 7 iterations" python3 -c "
import json,sys; r=json.load(open('$T/r.json')); sys.exit(0 if len(r['iterations'])==7 and r['k']==4 else 1)"
fi

if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then # interoperability only; the suite does not need numpy
    check "numpy.load reads the outputs" /usr/bin/python3 -c "
import numpy as np, sys
c = np.load('$T/c.npy'); l = np.load('$T/l.npy')
sys.exit(0 if c.shape == ($K, $D) and c.dtype == np.float32 and l.shape == ($N,) and l.dtype == np.int32 and l.max() < $K else 1)"
fi

# predict gives the fit's labels
"$BIN" predict "$T/d.npy" --centroids "$T/c.npy" --labels "$T/p.npy" --quiet
check "predict exits 0" test $? -eq 0
check "predict labels == fit labels" cmp -s "$T/l.npy" "$T/p.npy"
"$BIN" predict "$T/d.npy" --centroids "$T/c.npy" --distances "$T/dist.npy" > "$T/out"
check "predict --distances header" grep -q "'descr': '<f4', 'fortran_order': False, 'shape': ($N,)" "$T/dist.npy"
check "predict summary on stdout" grep -q '^predict ' "$T/out"

# outputs in the format their names ask for (issue 23 item 8: -o c.fvecs used to hold .npy bytes):
# .fvecs/.ivecs rows are the int32 d then the values; their values are the .npy outputs' values
# (a row that does not fit what is left ends the walk with "bad": not a vecs file)
vecs_payload() { perl -e 'local $/; my $b = <STDIN>; my $o = ""; while (length $b) { my $d = unpack("l<", $b);
    if ($d < 1 || 4 + 4 * $d > length $b) { $o .= "bad"; last } $o .= substr($b, 4, 4 * $d);
    substr($b, 0, 4 + 4 * $d) = ""; } print $o' < "$1"; }
vecs_dims() { perl -e 'local $/; my $b = <STDIN>; my %d; while (length $b) { my $d = unpack("l<", $b);
    if ($d < 1 || 4 + 4 * $d > length $b) { $d{bad}++; last } $d{$d}++; substr($b, 0, 4 + 4 * $d) = ""; }
    print join(",", map { "${_}x$d{$_}" } sort keys %d)' < "$1"; }
"$BIN" "${FIT[@]}" --iters 7 --stop fixed -o "$T/c.fvecs" --labels "$T/l.ivecs" 2> "$T/err"
check "fit -o .fvecs --labels .ivecs: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
check "-o .fvecs: $K rows of d = $D (got $(vecs_dims "$T/c.fvecs"))" test "$(vecs_dims "$T/c.fvecs")" = "${D}x$K"
check "-o .fvecs: the size of $K rows of 4 + 4 x $D bytes" test "$(wc -c < "$T/c.fvecs")" -eq $((K * (4 + 4 * D)))
check "-o .fvecs: the .npy centroids' values" cmp -s <(vecs_payload "$T/c.fvecs") <(tail -c $((K * D * 4)) "$T/c.npy")
check "--labels .ivecs: $N rows of d = 1 (got $(vecs_dims "$T/l.ivecs"))" test "$(vecs_dims "$T/l.ivecs")" = "1x$N"
check "--labels .ivecs: the .npy labels' values" cmp -s <(vecs_payload "$T/l.ivecs") <(tail -c $((N * 4)) "$T/l.npy")
"$BIN" predict "$T/d.npy" --centroids "$T/c.fvecs" --labels "$T/pv.ivecs" --distances "$T/dist.fvecs" --quiet
check "predict --centroids .fvecs --labels .ivecs: the fit's labels" cmp -s "$T/l.ivecs" "$T/pv.ivecs"
"$BIN" predict "$T/d.npy" --centroids "$T/c.npy" --distances "$T/dist.npy" --quiet
check "predict --distances .fvecs: the .npy distances' values" \
    cmp -s <(vecs_payload "$T/dist.fvecs") <(tail -c $((N * 4)) "$T/dist.npy")
"$BIN" fit "$T/d.npy" --init "$T/c.fvecs" --iters 0 --truth "$T/l.ivecs" --report "$T/rv.json" --quiet
check "--init .fvecs and --truth .ivecs read the written files (NMI 1)" grep -Eq '^  "nmi": 1(\.0*)?,' "$T/rv.json"
"$BIN" "${FIT[@]}" --iters 7 --stop fixed -o "$T/c_noext" --labels "$T/l.NPY" --report "$T/r_noext" 2> "$T/err"
check "outputs without an extension: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
check "-o without an extension is .npy" cmp -s "$T/c.npy" "$T/c_noext"
check "--labels .NPY (any case) is .npy" cmp -s "$T/l.npy" "$T/l.NPY"
check "--report without an extension is JSON" grep -q '^  "n_iter": 7,' "$T/r_noext"

# same run twice, and with 1 vs 2 threads: identical bytes
"$BIN" "${FIT[@]}" --iters 7 --stop fixed -o "$T/c2.npy" --labels "$T/l2.npy" --threads 1
check "deterministic centroids (threads 1 vs all)" cmp -s "$T/c.npy" "$T/c2.npy"
check "deterministic labels (threads 1 vs all)" cmp -s "$T/l.npy" "$T/l2.npy"

# every input format of the same data gives the same result
fmt_same() {
    local name=$1; shift
    rm -f "$T/fc.npy" "$T/fl.npy"
    "$BIN" fit "$@" -k $K --seed 3 --quiet --iters 7 --stop fixed -o "$T/fc.npy" --labels "$T/fl.npy" 2> "$T/err"
    local rc=$?
    check "$name: exit 0 (got $rc: $(head -c 300 "$T/err"))" test $rc -eq 0
    check "$name: same labels as .npy f4" cmp -s "$T/l.npy" "$T/fl.npy"
    check "$name: same centroids as .npy f4" cmp -s "$T/c.npy" "$T/fc.npy"
}
fmt_same "npy f8" "$T/d64.npy"
fmt_same "npy Fortran order" "$T/dF.npy"
fmt_same "fvecs" "$T/d.fvecs"
fmt_same "raw --dim --dtype f32" "$T/d.raw" --dim $D --dtype f32
fmt_same "unknown extension with --dim/--dtype is raw" "$T/d.dat" --dim $D --dtype f32
if gzip -t "$T/dz.npy.gz" 2>/dev/null && "$BIN" fit "$T/dz.npy.gz" -k 2 --quiet 2>&1 | grep -q zlib; then
    echo "(built without zlib: .gz input not tested)"
else
    fmt_same "npy.gz" "$T/dz.npy.gz"
fi

# u8 inputs: bvecs, IDX (uncompressed and gzip) and raw u8 agree
perl -e 'srand(11); print join(" ", map { int(rand(256)) } 1 .. 200 * 16), "\n"' > "$T/u8.txt"
mk vecs "$T/u.bvecs" b 16 < "$T/u8.txt"
mk idx "$T/u-idx3-ubyte" 200 4 4 < "$T/u8.txt"
gzip -c "$T/u-idx3-ubyte" > "$T/u-idx3-ubyte.gz"
mk raw "$T/u.bin" C < "$T/u8.txt"
for f in "$T/u.bvecs" "$T/u-idx3-ubyte" "$T/u-idx3-ubyte.gz" "$T/u.bin"; do
    extra=(); case $f in *.bin) extra=(--dim 16 --dtype u8) ;; esac
    rm -f "$T/ul.npy"
    "$BIN" fit "$f" "${extra[@]}" -k 5 --seed 1 --quiet --labels "$T/ul.npy" 2> "$T/err"
    check "u8 input $(basename "$f"): exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
    if [ -e "$T/ul_ref.npy" ]; then check "u8 input $(basename "$f"): same labels" cmp -s "$T/ul_ref.npy" "$T/ul.npy"
    else mv "$T/ul.npy" "$T/ul_ref.npy"; fi
done

# --init FILE with --iters 0: labels are the assignment to that file's centroids = predict
"$BIN" fit "$T/d.npy" --init "$T/c.npy" --iters 0 --labels "$T/li.npy" --quiet
check "--init FILE (k from the file), --iters 0 == predict" cmp -s "$T/li.npy" "$T/p.npy"
"$BIN" fit "$T/d.npy" -k $K --init "$T/c.npy" --iters 0 --labels "$T/li2.npy" --quiet
check "--init FILE with matching -k" cmp -s "$T/li2.npy" "$T/p.npy"

# --truth against its own labels: NMI = ARI = 1
"$BIN" fit "$T/d.npy" --init "$T/c.npy" --iters 0 --truth "$T/l.npy" --report "$T/rt.json" --quiet
check "--truth: nmi 1" grep -Eq '^  "nmi": 1(\.0*)?,' "$T/rt.json"
check "--truth: ari 1" grep -Eq '^  "ari": 1(\.0*)?,' "$T/rt.json"
"$BIN" fit "$T/d.npy" -k $K --truth "$T/l.npy" > "$T/out"
check "summary prints NMI and ARI" grep -q '^quality  NMI [0-9.]*  ARI ' "$T/out"
check "summary prints the result line" grep -q '^result   [0-9]* iterations' "$T/out"

# every stop rule, metric, init and the empty policy run
for s in shift inertia labels fixed; do
    "$BIN" fit "$T/d.npy" -k $K --stop $s --iters 50 --report "$T/rs.json" --quiet
    check "--stop $s runs" test $? -eq 0
done
"$BIN" fit "$T/d.npy" -k $K --stop labels --iters 100 --report "$T/rs.json" --quiet
check "--stop labels converges on blobs" grep -q '"stop_reason": "converged"' "$T/rs.json"
for m in l2 cosine ip; do "$BIN" fit "$T/d.npy" -k $K --metric $m --quiet; check "--metric $m runs" test $? -eq 0; done
for i in kmeans++ k-means++ 'k-means||' random; do "$BIN" fit "$T/d.npy" -k $K --init "$i" --n-init 3 --quiet; check "--init $i --n-init 3" test $? -eq 0; done
# k-means||: named in the report; same centroids for 1 and 2 threads
"$BIN" fit "$T/d.npy" -k $K --init 'k-means||' --seed 5 --threads 1 -o "$T/kp1.npy" --report "$T/kp.json" --quiet
check "--init k-means|| in the report" grep -q '"init": "k-means||"' "$T/kp.json"
"$BIN" fit "$T/d.npy" -k $K --init 'k-means||' --seed 5 --threads 2 -o "$T/kp2.npy" --quiet
check "--init k-means|| same centroids for 1 and 2 threads" cmp -s "$T/kp1.npy" "$T/kp2.npy"
# hierarchical (k >= 256 splits coarse clusters): named in the report; same centroids for 1 and 2 threads
"$BIN" fit "$T/d.npy" -k 300 --init hierarchical --seed 5 --threads 1 -o "$T/kh1.npy" --report "$T/kh.json" --quiet
check "--init hierarchical in the report" grep -q '"init": "hierarchical"' "$T/kh.json"
"$BIN" fit "$T/d.npy" -k 300 --init hierarchical --seed 5 --threads 2 -o "$T/kh2.npy" --quiet
check "--init hierarchical same centroids for 1 and 2 threads" cmp -s "$T/kh1.npy" "$T/kh2.npy"
"$BIN" fit "$T/d.npy" -k $K --empty keep --device cpu --precision exact --threads 1 --tol 0 --quiet
check "--empty keep --device cpu --precision exact --threads 1 --tol 0" test $? -eq 0
"$BIN" fit "$T/d.npy" -k $N --iters 3 --quiet
check "k = n runs" test $? -eq 0
# denormal values are data, not an error; all-identical points end cleanly (0 or 2, never a signal)
printf '1e-40 %.0s' $(seq 1 60) | mk npy "$T/den.npy" '<f4' '(20, 3)' False
"$BIN" fit "$T/den.npy" -k 2 --quiet 2> "$T/err"; rc=$?
check "denormal data: exit 0 or 2, no signal (rc $rc)" test $rc -eq 0 -o $rc -eq 2
printf '2.5 %.0s' $(seq 1 60) | mk npy "$T/same.npy" '<f4' '(20, 3)' False
"$BIN" fit "$T/same.npy" -k 3 --quiet 2> "$T/err"; rc=$?
check "all-identical points: exit 0 or 2, no signal (rc $rc)" test $rc -eq 0 -o $rc -eq 2

"$BIN" bench -n 2000 -d 8 -k 4 --iters 3 > "$T/out"
check "bench runs" test $? -eq 0
check "bench prints ms/iter" grep -q 'ms/iter: median' "$T/out"
"$BIN" bench -n 500 -d 8 -k 4 --iters 2 --dtype f16 > /dev/null
check "bench --dtype f16" test $? -eq 0
for c in "" fit predict bench; do
    "$BIN" $c --help > "$T/out" 2> "$T/err"
    check "'$c --help' exits 0 with usage on stdout" test $? -eq 0 -a -s "$T/out" -a ! -s "$T/err"
done

# ---------------------------------------------------------------- bad inputs
O="$T/o"
reset_outs() { rm -rf "$O"; mkdir -p "$O"; printf 'precious old centroids' > "$O/c.npy"; }
OUTS=(-o "$O/c.npy" --labels "$O/l.npy" --report "$O/r.json")
PRED_OUTS=(--labels "$O/l.npy" --distances "$O/dist.npy")
SUM_BEFORE=$(printf 'precious old centroids' | cksum)
# bad NAME ARGS...: exit 2, one stderr line "flashkmeans: error: ...", nothing on stdout,
# c.npy unchanged, nothing else in the output directory.
bad() {
    local name=$1; shift
    reset_outs
    "$BIN" "$@" > "$T/out" 2> "$T/err"
    local rc=$? lines
    lines=$(wc -l < "$T/err")
    if [ $rc -ne 2 ]; then no "$name: exit $rc, expected 2 ($(head -c 300 "$T/err"))"; return; fi
    if [ "$lines" -ne 1 ] || ! grep -q '^flashkmeans: error: .' "$T/err"; then
        no "$name: stderr must be one 'flashkmeans: error:' line, got $lines: $(head -c 400 "$T/err")"; return; fi
    if [ -s "$T/out" ]; then no "$name: printed on stdout"; return; fi
    if [ "$(cksum < "$O/c.npy")" != "$SUM_BEFORE" ]; then no "$name: existing output modified"; return; fi
    if [ "$(ls -A "$O" | wc -l)" -ne 1 ]; then no "$name: left files: $(ls -A "$O" | tr '\n' ' ')"; return; fi
    [ -n "${VERBOSE:-}" ] && printf '%-40s %s\n' "$name" "$(cat "$T/err")"
    ok
}
F=(fit "$T/d.npy")

bad "no command"
bad "unknown command" frobnicate "$T/d.npy"
bad "unknown option" "${F[@]}" -k 3 --bogus "${OUTS[@]}"
bad "unknown short option" "${F[@]}" -k 3 -Z "${OUTS[@]}"
bad "missing option value" "${F[@]}" "${OUTS[@]}" -k
bad "value given to a flag" "${F[@]}" -k 3 --quiet=yes "${OUTS[@]}"
bad "-k missing" "${F[@]}" "${OUTS[@]}"
bad "-k 0" "${F[@]}" -k 0 "${OUTS[@]}"
bad "-k -1" "${F[@]}" -k -1 "${OUTS[@]}"
bad "-k abc" "${F[@]}" -k abc "${OUTS[@]}"
bad "-k 1.5" "${F[@]}" -k 1.5 "${OUTS[@]}"
bad "-k empty" "${F[@]}" -k '' "${OUTS[@]}"
bad "-k > n" "${F[@]}" -k $((N + 1)) "${OUTS[@]}"
bad "-k huge" "${F[@]}" -k 99999999999999999999 "${OUTS[@]}"
bad "--iters -1" "${F[@]}" -k 3 --iters -1 "${OUTS[@]}"
bad "--iters x" "${F[@]}" -k 3 --iters x "${OUTS[@]}"
bad "--tol -1" "${F[@]}" -k 3 --tol -1 "${OUTS[@]}"
bad "--tol nan" "${F[@]}" -k 3 --tol nan "${OUTS[@]}"
bad "--tol inf" "${F[@]}" -k 3 --tol inf "${OUTS[@]}"
bad "--stop bogus" "${F[@]}" -k 3 --stop bogus "${OUTS[@]}"
bad "--init bogus" "${F[@]}" -k 3 --init bogus "${OUTS[@]}"
bad "--metric bogus" "${F[@]}" -k 3 --metric manhattan "${OUTS[@]}"
bad "--device bogus" "${F[@]}" -k 3 --device tpu "${OUTS[@]}"
bad "--precision bogus" "${F[@]}" -k 3 --precision fp8 "${OUTS[@]}"
bad "--n-init 0" "${F[@]}" -k 3 --n-init 0 "${OUTS[@]}"
bad "--threads -1" "${F[@]}" -k 3 --threads -1 "${OUTS[@]}"
bad "--seed -1" "${F[@]}" -k 3 --seed -1 "${OUTS[@]}"
bad "--empty bogus" "${F[@]}" -k 3 --empty drop "${OUTS[@]}"
bad "--dtype bogus" fit "$T/d.raw" --dim 3 --dtype f128 -k 3 "${OUTS[@]}"
bad "--precision tf32 on --device cpu" "${F[@]}" -k 3 --device cpu --precision tf32 "${OUTS[@]}"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    bad "--device cuda without a GPU" "${F[@]}" -k 3 --device cuda "${OUTS[@]}"
fi
# issue 23 item 8: a fraction without a unit used to be taken as bytes and truncated ('0.5' = 0 =
# no cap, '1.5' = one byte); a non-zero size below one byte, or 2^64 bytes, are refused as well
for v in x -1 4X '' 1.5.5G 1e9 ' 4G' 4GG 0x10 inf 99999999999T 0.5 1.5 1.5B 1. 0.0 0.0000000001G \
         18446744073709551616 16777216T . .G 4G5; do
    bad "--gpu-mem '$v'" "${F[@]}" -k 3 --gpu-mem "$v" "${OUTS[@]}"
done
bad "--gpu-mem 0.5 (no unit)" "${F[@]}" -k 3 --gpu-mem 0.5 "${OUTS[@]}"
check "--gpu-mem 0.5: the message says bytes need no decimal point and names 0.5G ($(cat "$T/err"))" \
    grep -q "^flashkmeans: error: invalid value '0.5' for --gpu-mem: a number without a unit is a count of bytes, written without a decimal point (for gibibytes write 0.5G)$" "$T/err"
bad "--gpu-mem below one byte" "${F[@]}" -k 3 --gpu-mem 0.0000000001G "${OUTS[@]}"
check "--gpu-mem below one byte: the message says so ($(cat "$T/err"))" grep -q "less than one byte (0 alone means no cap)" "$T/err"
bad "no input" fit -k 3 "${OUTS[@]}"
bad "two inputs" "${F[@]}" "$T/d.npy" -k 3 "${OUTS[@]}"
bad "missing input file" fit "$T/nope.npy" -k 3 "${OUTS[@]}"
mkdir -p "$T/dir.npy"
bad "directory as input" fit "$T/dir.npy" -k 3 "${OUTS[@]}"
if [ "$(id -u)" -ne 0 ]; then
    cp "$T/d.npy" "$T/noread.npy"; chmod 000 "$T/noread.npy"
    bad "unreadable input" fit "$T/noread.npy" -k 3 "${OUTS[@]}"
fi
: > "$T/empty.npy"; : > "$T/empty.fvecs"; : > "$T/empty-idx3-ubyte"
bad "empty .npy" fit "$T/empty.npy" -k 3 "${OUTS[@]}"
bad "empty .fvecs" fit "$T/empty.fvecs" -k 3 "${OUTS[@]}"
bad "empty IDX" fit "$T/empty-idx3-ubyte" -k 3 "${OUTS[@]}"
head -c 200 "$T/d.npy" > "$T/trunc.npy"
bad "truncated .npy (data)" fit "$T/trunc.npy" -k 3 "${OUTS[@]}"
head -c 40 "$T/d.npy" > "$T/trunc2.npy"
bad "truncated .npy (header)" fit "$T/trunc2.npy" -k 3 "${OUTS[@]}"
head -c 100 "$T/d.fvecs" > "$T/trunc.fvecs"
bad "truncated .fvecs" fit "$T/trunc.fvecs" -k 3 "${OUTS[@]}"
head -c 101 "$T/u.bvecs" > "$T/trunc.bvecs"
bad "truncated .bvecs" fit "$T/trunc.bvecs" -k 3 "${OUTS[@]}"
printf '1 2 3 4 5 6 7 8 9\n' | mk vecs "$T/trunc.ivecs" i 3; head -c 30 "$T/trunc.ivecs" > "$T/t2.ivecs"
bad "truncated .ivecs" fit "$T/t2.ivecs" -k 1 "${OUTS[@]}"
head -c 1000 "$T/u-idx3-ubyte" > "$T/trunc-idx3-ubyte"
bad "truncated IDX" fit "$T/trunc-idx3-ubyte" -k 3 "${OUTS[@]}"
head -c 300 "$T/u-idx3-ubyte.gz" > "$T/trunc-idx3-ubyte.gz"
bad "truncated IDX .gz" fit "$T/trunc-idx3-ubyte.gz" -k 3 "${OUTS[@]}"
{ printf 'XNUMPY'; tail -c +7 "$T/d.npy"; } > "$T/magic.npy"
bad "wrong .npy magic" fit "$T/magic.npy" -k 3 "${OUTS[@]}"
{ printf '\001\000\010\003'; tail -c +5 "$T/u-idx3-ubyte"; } > "$T/magic-idx3-ubyte"
bad "wrong IDX magic" fit "$T/magic-idx3-ubyte" -k 3 "${OUTS[@]}"
mk npy "$T/lie.npy" '<f4' "($((N + 5)), $D)" False < "$T/vals.txt"
bad "npy header lies (too many rows)" fit "$T/lie.npy" -k 3 "${OUTS[@]}"
mk npy "$T/lie2.npy" '<f4' "(10, $D)" False < "$T/vals.txt"
bad "npy header lies (too few rows)" fit "$T/lie2.npy" -k 3 "${OUTS[@]}"
mk idx "$T/lie-idx3-ubyte" 201 4 4 < "$T/u8.txt"
bad "IDX header lies" fit "$T/lie-idx3-ubyte" -k 3 "${OUTS[@]}"
mk npy "$T/be.npy" '>f4' "($N, $D)" False < "$T/vals.txt"
bad "big-endian .npy" fit "$T/be.npy" -k 3 "${OUTS[@]}"
{ cat "$T/vals.txt"; cat "$T/vals.txt"; } | mk npy "$T/cplx.npy" '<c8' "($N, $D)" False
bad "complex .npy" fit "$T/cplx.npy" -k 3 "${OUTS[@]}"
printf '1 2 3 4\n' | mk npy "$T/obj.npy" '|O' "(2, 2)" False
bad "object .npy" fit "$T/obj.npy" -k 1 "${OUTS[@]}"
printf '1\n' | mk npy "$T/scalar.npy" '<f4' "()" False
bad "0-d .npy" fit "$T/scalar.npy" -k 1 "${OUTS[@]}"
perl -e 'print join(" ", 1 .. 24), "\n"' | mk npy "$T/f3.npy" '<f4' "(2, 3, 4)" True
bad "Fortran-order 3-D .npy" fit "$T/f3.npy" -k 1 "${OUTS[@]}"
printf '' | mk npy "$T/n0.npy" '<f4' "(0, 3)" False
bad "n = 0" fit "$T/n0.npy" -k 1 "${OUTS[@]}"
printf '' | mk npy "$T/d0.npy" '<f4' "(5, 0)" False
bad "d = 0" fit "$T/d0.npy" -k 1 "${OUTS[@]}"
perl -e 'print pack("l<f<3", 3, 1, 2, 3), pack("l<f<3", 2, 4, 5, 6)' > "$T/incons.fvecs"
bad "fvecs with inconsistent dimensions" fit "$T/incons.fvecs" -k 1 "${OUTS[@]}"
sed '5s/^[^ ]*/nan/' "$T/vals.txt" | mk npy "$T/nan.npy" '<f4' "($N, $D)" False
bad "NaN in data" fit "$T/nan.npy" -k 3 "${OUTS[@]}"
check "NaN message names row 4" grep -q '4' "$T/err"
sed '9s/ [^ ]*$/ inf/' "$T/vals.txt" | mk npy "$T/inf.npy" '<f4' "($N, $D)" False
bad "Inf in data" fit "$T/inf.npy" -k 3 "${OUTS[@]}"
sed '2s/^[^ ]*/1e38/' "$T/vals.txt" | mk npy "$T/huge.npy" '<f4' "($N, $D)" False
bad "1e38 (squared norm overflow)" fit "$T/huge.npy" -k 3 "${OUTS[@]}"
sed '3s/.*/0 0 0/' "$T/vals.txt" | mk npy "$T/zero.npy" '<f4' "($N, $D)" False
bad "cosine with an all-zero row" fit "$T/zero.npy" -k 3 --metric cosine "${OUTS[@]}"
echo "1 2 3" > "$T/data.txt"
bad "unknown input extension" fit "$T/data.txt" -k 1 "${OUTS[@]}"
bad "raw without --dim/--dtype" fit "$T/d.raw" -k 3 "${OUTS[@]}"
bad "raw with --dim only" fit "$T/d.raw" --dim 3 -k 3 "${OUTS[@]}"
bad "raw size not a multiple of the row" fit "$T/d.raw" --dim 7 --dtype f32 -k 3 "${OUTS[@]}"
bad "--dim with a .npy" fit "$T/d.npy" --dim 3 --dtype f32 -k 3 "${OUTS[@]}"
bad "--dim 0" fit "$T/d.raw" --dim 0 --dtype f32 -k 3 "${OUTS[@]}"
# init files
head -n 4 "$T/vals.txt" | cut -d' ' -f1-2 | mk npy "$T/init_d2.npy" '<f4' "(4, 2)" False
bad "init file with the wrong dimension" "${F[@]}" -k 4 --init "$T/init_d2.npy" "${OUTS[@]}"
head -n 3 "$T/vals.txt" | mk npy "$T/init3.npy" '<f4' "(3, $D)" False
bad "init file rows != -k" "${F[@]}" -k 4 --init "$T/init3.npy" "${OUTS[@]}"
{ head -n 3 "$T/vals.txt"; echo "nan 0 0"; } | mk npy "$T/init_nan.npy" '<f4' "(4, $D)" False
bad "init file with NaN" "${F[@]}" --init "$T/init_nan.npy" "${OUTS[@]}"
{ head -n 3 "$T/vals.txt"; sed -n 2p "$T/vals.txt"; } | mk npy "$T/init_dup.npy" '<f4' "(4, $D)" False
bad "init file with duplicate rows" "${F[@]}" --init "$T/init_dup.npy" "${OUTS[@]}"
bad "init file missing" "${F[@]}" --init "$T/nope.npy" "${OUTS[@]}"
bad "init file malformed" "${F[@]}" --init "$T/trunc.npy" "${OUTS[@]}"
# truth files
head -c 300 "$T/l.npy" > "$T/ltrunc.npy"
bad "--truth malformed" "${F[@]}" -k 3 --truth "$T/ltrunc.npy" "${OUTS[@]}"
printf '0 1 2\n' | mk npy "$T/l3.npy" '<i4' "(3,)" False
bad "--truth length != n" "${F[@]}" -k 3 --truth "$T/l3.npy" "${OUTS[@]}"
perl -e "print join(' ', map { \$_ % 3 + 0.5 } 1 .. $N), qq(\n)" | mk npy "$T/lfrac.npy" '<f4' "($N,)" False
bad "--truth with non-integer labels" "${F[@]}" -k 3 --truth "$T/lfrac.npy" "${OUTS[@]}"
bad "--truth missing" "${F[@]}" -k 3 --truth "$T/nope.npy" "${OUTS[@]}"
# output paths
bad "output directory missing" "${F[@]}" -k 3 -o "$T/nodir/c.npy" --labels "$O/l.npy" --report "$O/r.json"
bad "output is a directory" "${F[@]}" -k 3 -o "$O/c.npy" --labels "$O" --report "$O/r.json"
bad "two outputs, one path" "${F[@]}" -k 3 -o "$O/c.npy" --labels "$O/c.npy"
# output names that ask for a format the output cannot be written in (issue 23 item 8): refused
# before any work, nothing written, an existing output left as it was
out_name() { local name=$1 want=$2; shift 2; bad "$name" "$@"
    check "$name: the message ($(cat "$T/err"))" grep -q "^flashkmeans: error: $want" "$T/err"; }
out_name "-o .ivecs (int32)" "-o '$O/x.ivecs': a .ivecs file holds int32 values, and -o writes float32: name it .npy or .fvecs$" \
    "${F[@]}" -k 3 -o "$O/x.ivecs"
out_name "-o .bvecs (uint8)" "-o '$O/x.bvecs': a .bvecs file holds uint8 values" "${F[@]}" -k 3 -o "$O/x.bvecs"
out_name "-o .csv" "-o '$O/x.csv': '.csv' is not a format flashkmeans writes: name it .npy or .fvecs (no extension: .npy)$" \
    "${F[@]}" -k 3 -o "$O/x.csv"
out_name "-o .txt" "-o '$O/x.txt': '.txt' is not a format" "${F[@]}" -k 3 -o "$O/x.txt"
out_name "-o .json" "-o '$O/x.json': '.json' is not a format" "${F[@]}" -k 3 -o "$O/x.json"
out_name "-o .npy.gz" "-o '$O/x.npy.gz': outputs are not compressed: drop the .gz$" "${F[@]}" -k 3 -o "$O/x.npy.gz"
out_name "-o .fvecs.GZ" "-o '$O/x.fvecs.GZ': outputs are not compressed" "${F[@]}" -k 3 -o "$O/x.fvecs.GZ"
out_name "-o .raw" "-o '$O/x.raw': raw files are read, not written: name it .npy or .fvecs$" "${F[@]}" -k 3 -o "$O/x.raw"
out_name "-o .bin" "-o '$O/x.bin': raw files are read, not written" "${F[@]}" -k 3 -o "$O/x.bin"
out_name "-o an IDX name" "-o '$O/x-idx3-ubyte': idx files are read, not written" "${F[@]}" -k 3 -o "$O/x-idx3-ubyte"
out_name "--labels .fvecs (float32)" \
    "--labels '$O/l.fvecs': a .fvecs file holds float32 values, and --labels writes int32: name it .npy or .ivecs$" \
    "${F[@]}" -k 3 --labels "$O/l.fvecs"
out_name "--labels .csv" "--labels '$O/l.csv': '.csv' is not a format" "${F[@]}" -k 3 --labels "$O/l.csv"
out_name "--report .npy" "--report '$O/r.npy': the report is JSON: name it .json (or give it no extension)$" \
    "${F[@]}" -k 3 --report "$O/r.npy"
out_name "--report .txt" "--report '$O/r.txt': the report is JSON" "${F[@]}" -k 3 --report "$O/r.txt"
out_name "--report .json.gz" "--report '$O/r.json.gz': outputs are not compressed" "${F[@]}" -k 3 --report "$O/r.json.gz"
out_name "-o an existing .npy, --labels .fvecs" "--labels '$O/l.fvecs': a .fvecs file" \
    "${F[@]}" -k 3 -o "$O/c.npy" --labels "$O/l.fvecs" --report "$O/r.json"
out_name "predict --labels .fvecs" "--labels '$O/l.fvecs': a .fvecs file holds float32 values" \
    predict "$T/d.npy" --centroids "$T/c.npy" --labels "$O/l.fvecs"
out_name "predict --distances .ivecs" "--distances '$O/d.ivecs': a .ivecs file holds int32 values, and --distances writes float32" \
    predict "$T/d.npy" --centroids "$T/c.npy" --labels "$O/l.npy" --distances "$O/d.ivecs"
out_name "predict --distances .json" "--distances '$O/d.json': '.json' is not a format" \
    predict "$T/d.npy" --centroids "$T/c.npy" --distances "$O/d.json"
# predict
P=(predict "$T/d.npy")
bad "predict without --centroids" "${P[@]}" "${PRED_OUTS[@]}"
bad "predict: centroids missing" "${P[@]}" --centroids "$T/nope.npy" "${PRED_OUTS[@]}"
bad "predict: centroids dimension mismatch" "${P[@]}" --centroids "$T/init_d2.npy" "${PRED_OUTS[@]}"
bad "predict: centroids with NaN" "${P[@]}" --centroids "$T/init_nan.npy" "${PRED_OUTS[@]}"
bad "predict: centroids malformed" "${P[@]}" --centroids "$T/be.npy" "${PRED_OUTS[@]}"
bad "predict: input malformed" predict "$T/lie.npy" --centroids "$T/c.npy" "${PRED_OUTS[@]}"
bad "predict: input missing" predict "$T/nope.npy" --centroids "$T/c.npy" "${PRED_OUTS[@]}"
bad "predict: NaN in input" predict "$T/nan.npy" --centroids "$T/c.npy" "${PRED_OUTS[@]}"
bad "predict: unknown option" "${P[@]}" --centroids "$T/c.npy" -k 3 "${PRED_OUTS[@]}"
# bench
bad "bench -n 0" bench -n 0
bad "bench k > n" bench -n 5 -k 10
bad "bench --dtype u8" bench --dtype u8
bad "bench positional" bench extra

# ---------------------------------------------------------------- outputs never overwrite inputs
# Inputs live in $I with a symbolic and a hard link to the data; each case runs in $I (relative
# paths) with fd 3 open on the data (/proc/self/fd/3).
I="$T/in"
mkdir -p "$I"
cp "$T/d.npy" "$I/d.npy"
cp "$T/c.npy" "$I/init.npy"
cp "$T/l.npy" "$I/truth.npy"
ln -s d.npy "$I/sym.npy"
ln "$I/d.npy" "$I/hard.npy"
snap() { (cd "$I" && ls -A && cksum d.npy init.npy truth.npy); }
# refused NAME PATTERN ARGS...: exit 2, one error line matching PATTERN, nothing on stdout, and
# $I as it was (every input byte for byte, no file created).
refused() {
    local name=$1 want=$2 before; shift 2
    before=$(snap)
    (cd "$I" && exec "$BIN" "$@" 3< "$I/d.npy") > "$T/out" 2> "$T/err"
    local rc=$?
    if [ $rc -ne 2 ]; then no "$name: exit $rc, expected 2 ($(head -c 300 "$T/err"))"; return; fi
    if [ "$(wc -l < "$T/err")" -ne 1 ] || ! grep -q "^flashkmeans: error: $want" "$T/err"; then
        no "$name: expected one line 'flashkmeans: error: $want', got: $(head -c 400 "$T/err")"; return; fi
    if [ -s "$T/out" ]; then no "$name: printed on stdout"; return; fi
    if [ "$(snap)" != "$before" ]; then no "$name: an input changed or a file was created"; return; fi
    [ -n "${VERBOSE:-}" ] && printf '%-40s %s\n' "$name" "$(cat "$T/err")"
    ok
}
IN="is the input data file 'd.npy' (same file); refusing to overwrite an input"
refused "-o the input" "output -o 'd.npy' $IN" fit d.npy -k $K -o d.npy
refused "-o ./input" "output -o './d.npy' $IN" fit d.npy -k $K -o ./d.npy
refused "--labels ../dir/input" "output --labels '../in/d.npy' $IN" fit d.npy -k $K --labels ../in/d.npy
refused "--report absolute input" "output --report '$I/d.npy' $IN" fit d.npy -k $K --report "$I/d.npy"
refused "-o symbolic link to the input" "output -o 'sym.npy' $IN" fit d.npy -k $K -o sym.npy
refused "-o hard link to the input" "output -o 'hard.npy' $IN" fit d.npy -k $K -o hard.npy
refused "input through a link, -o the file" "output -o 'd.npy' is the input data file 'sym.npy' (same file)" \
    fit sym.npy -k $K -o d.npy
if [ -e /proc/self/fd/0 ]; then
    refused "--labels /proc/self/fd/3 (the input)" "output --labels '/proc/self/fd/3' $IN" fit d.npy -k $K --labels /proc/self/fd/3
fi
refused "--labels the --init file" "output --labels 'init.npy' is the --init file 'init.npy' (same file)" \
    fit d.npy --init init.npy -o c.npy --labels init.npy
refused "--report the --truth file" "output --report './truth.npy' is the --truth file 'truth.npy' (same file)" \
    fit d.npy -k $K --truth truth.npy --report ./truth.npy
refused "predict --distances the --centroids file" \
    "output --distances 'init.npy' is the --centroids file 'init.npy' (same file)" \
    predict d.npy --centroids init.npy --labels l.npy --distances init.npy
refused "predict --labels link to the input" "output --labels 'hard.npy' $IN" predict d.npy --centroids init.npy --labels hard.npy
refused "two outputs, one new file" "outputs -o 'x.npy' and --labels './x.npy' are the same file; one would overwrite the other" \
    fit d.npy -k $K -o x.npy --labels ./x.npy
refused "two outputs, one existing file" "outputs --labels 'init.npy' and --distances '../in/init.npy' are the same file" \
    predict d.npy --centroids "$T/c.npy" --labels init.npy --distances ../in/init.npy
refused "-o a new file, --labels the input" "output --labels 'sym.npy' $IN" fit d.npy -k $K -o new.npy --labels sym.npy
# distinct outputs next to the inputs still work, and leave the inputs alone
before=$(snap)
(cd "$I" && exec "$BIN" fit sym.npy --init init.npy --truth truth.npy --quiet -o c2.npy --labels ./l2.npy --report ../in/r2.json) 2> "$T/err"
check "outputs next to the inputs: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
check "outputs next to the inputs: all written" test -s "$I/c2.npy" -a -s "$I/l2.npy" -a -s "$I/r2.json"
rm -f "$I/c2.npy" "$I/l2.npy" "$I/r2.json"
check "outputs next to the inputs: inputs unchanged" test "$(snap)" = "$before"

# ---------------------------------------------------------------- failures while writing: exit 1
reset_outs
printf 'precious old labels' > "$O/l.npy"
LSUM=$(cksum < "$O/l.npy")
# a labels file of n=300 int32 (1.3 KB) cannot be written under a 1 KB file-size limit
(ulimit -f 1; exec "$BIN" fit "$T/d.npy" -k 3 --quiet -o "$O/c.npy" --labels "$O/l.npy" --report "$O/r.json") 2> "$T/err"
rc=$?
check "write failure (file size limit): exit 1 (got $rc)" test $rc -eq 1
check "write failure: one error line ($(cat "$T/err"))" test "$(grep -c '^flashkmeans: error: ' "$T/err")" -eq 1 -a "$(wc -l < "$T/err")" -eq 1
check "write failure: old centroids untouched" test "$(cksum < "$O/c.npy")" = "$SUM_BEFORE"
check "write failure: old labels untouched" test "$(cksum < "$O/l.npy")" = "$LSUM"
check "write failure: no report, no temp files" test "$(ls -A "$O" | wc -l)" -eq 2

# a full disk: a one-page tmpfs (root only; skipped where mounting is not allowed)
if [ "$(id -u)" -eq 0 ] && mkdir -p "$T/full" && mount -t tmpfs -o size=4k tmpfs "$T/full" 2>/dev/null; then
    MNT="$T/full"
    printf 'precious old centroids' > "$MNT/c.npy"
    "$BIN" fit "$T/d.npy" -k 3 --quiet -o "$MNT/c.npy" --labels "$MNT/l.npy" 2> "$T/err"
    rc=$?
    check "disk full: exit 1 (got $rc)" test $rc -eq 1
    check "disk full: one error line naming ENOSPC ($(cat "$T/err"))" grep -q '^flashkmeans: error: .*No space left on device' "$T/err"
    check "disk full: old centroids untouched" test "$(cksum < "$MNT/c.npy")" = "$SUM_BEFORE"
    check "disk full: no labels, no temp files" test "$(ls -A "$MNT" | wc -l)" -eq 1
    umount "$MNT" && MNT=
else
    echo "(not root or no tmpfs mount here: full-disk case not run)"
fi

# ---------------------------------------------------------------- --gpu-mem: the GPU-memory cap
for v in 4G:4294967296 512M:536870912 1.5G:1610612736 64KiB:65536 1000:1000 0:0 0.5G:536870912 .5G:536870912 \
         1.5K:1536 0.3K:307 0G:0 1.G:1073741824 1000B:1000 18446744073709551615:18446744073709551615 \
         16777215T:18446742974197923840; do
    "$BIN" "${F[@]}" -k 3 --device cpu --gpu-mem "${v%%:*}" --quiet --report "$T/g.json" 2> "$T/err"
    check "--gpu-mem ${v%%:*}: exit 0 on the CPU ($(head -c 200 "$T/err"))" test $? -eq 0
    check "--gpu-mem ${v%%:*}: report gpu_mem_limit ${v##*:}" grep -q "^  \"gpu_mem_limit\": ${v##*:},$" "$T/g.json"
    check "--gpu-mem ${v%%:*}: no estimate on the CPU" test "$(grep -c gpu_mem_estimate "$T/g.json")" -eq 0
done
# device auto with a cap no problem fits: the CPU runs it (with or without a GPU here)
"$BIN" "${F[@]}" -k 3 --gpu-mem 1 --quiet --report "$T/g.json" 2> "$T/err"
check "--gpu-mem 1 --device auto: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
check "--gpu-mem 1 --device auto: ran on the CPU" grep -q '^  "device": "cpu",' "$T/g.json"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    reset_outs
    "$BIN" "${F[@]}" -k 3 --device cuda --gpu-mem 1 "${OUTS[@]}" > "$T/out" 2> "$T/err"
    rc=$?
    check "--gpu-mem 1 --device cuda: exit 1 (got $rc)" test $rc -eq 1
    check "--gpu-mem 1 --device cuda: one error line naming the cap and device=cpu ($(head -c 300 "$T/err"))" \
        test "$(wc -l < "$T/err")" -eq 1 -a "$(grep -c '^flashkmeans: error: .*cap (gpu_mem_limit) is 1 bytes.*device=cpu' "$T/err")" -eq 1
    check "--gpu-mem 1 --device cuda: nothing written" test "$(ls -A "$O" | wc -l)" -eq 1
    "$BIN" "${F[@]}" -k 3 --device cuda --gpu-mem 64G --quiet --report "$T/g.json" 2> "$T/err"
    check "--gpu-mem 64G --device cuda: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
    check "--device cuda: report has a non-zero gpu_mem_estimate" grep -Eq '^  "gpu_mem_estimate": [1-9][0-9]*,$' "$T/g.json"
fi

# ---------------------------------------------------------------- SIGINT: exit 130, nothing written
reset_outs
head -c $((400000 * 16)) /dev/urandom > "$T/big.raw"
# -v logs "fit: ..." once the fit has started (the SIGINT handler is installed before it)
"$BIN" fit "$T/big.raw" --dim 16 --dtype u8 -k 64 --init random --stop fixed --iters 1000000 --quiet -v "${OUTS[@]}" 2> "$T/err" &
pid=$!
for _ in $(seq 1 300); do grep -q 'fit: ' "$T/err" 2>/dev/null && break; sleep 0.1; done
sleep 0.3
kill -INT $pid 2>/dev/null
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then kill -KILL $pid; no "SIGINT: still running 10 s after ^C"; fi
wait $pid
rc=$?
check "SIGINT: the CLI handled it (says so on stderr: $(tail -n 1 "$T/err"))" grep -q '^flashkmeans: interrupted, no output written$' "$T/err"
check "SIGINT: exit 130 (got $rc)" test $rc -eq 130
check "SIGINT: old output untouched" test "$(cksum < "$O/c.npy")" = "$SUM_BEFORE"
check "SIGINT: nothing written" test "$(ls -A "$O" | wc -l)" -eq 1

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
