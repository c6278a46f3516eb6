#!/usr/bin/env bash
# tests/cli_capped.sh BUILD_DIR -- `fit --max-cluster-size N`: no cluster of the written labels
# holds more than N points (exactly N each when N x K = n), report.json gives max_cluster_size,
# both inertias and the largest cluster, 1 and 2 threads write the same bytes, predict is not
# capped, and impossible or malformed caps fail with exit 2 and one line, writing nothing.
# Fixtures are raw float32 written by perl (no numpy needed).
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
command -v perl >/dev/null || { echo "SKIPPED: perl not found"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
check() { local what=$1; shift; if "$@"; then ok; else no "$what"; fi; }

# N points in 3 dimensions, 2 tight blobs of unequal size (so a cap must move points): raw f32
perl -e 'srand(5); my $b = ""; for my $i (0 .. $ARGV[0] - 1) { my $c = $i % 5 ? 0 : 10;
    $b .= pack("f<3", map { $c + rand() } 1 .. 3) } open(my $h, ">:raw", $ARGV[1]) or die; print $h $b' 600 "$T/x.raw"
# the largest cluster of an .ivecs labels file (rows of one int32)
largest() { perl -e 'local $/; open(my $h, "<:raw", $ARGV[0]) or die; my $s = <$h>; my %n;
    while (length $s) { my (undef, $l) = unpack("l<l<", substr($s, 0, 8, "")); $n{$l}++ }
    my ($m) = sort { $b <=> $a } values %n; print "$m ", scalar(keys %n), "\n"' "$1"; }
key() { sed -n "s/^  \"$1\": \(.*\),\$/\1/p" "$2"; }
F=(fit "$T/x.raw" --dim 3 --dtype f32 -q --seed 3)

# a binding cap: the labels hold it, the report gives both inertias
"$BIN" "${F[@]}" -k 4 --max-cluster-size 160 --labels "$T/l.ivecs" --report "$T/r.json" -o "$T/c.npy"
check "capped fit runs" test $? -eq 0
read -r most used < <(largest "$T/l.ivecs")
check "largest cluster $most <= 160" test "$most" -le 160
check "report max_cluster_size" test "$(key max_cluster_size "$T/r.json")" = 160
check "report largest_cluster = the labels' ($most)" test "$(key largest_cluster "$T/r.json")" = "$most"
ic=$(key inertia "$T/r.json"); iu=$(key inertia_unconstrained "$T/r.json")
check "unconstrained ($iu) < capped ($ic) when the cap binds" perl -e "exit !($iu < $ic)"

# cap x k == n: every cluster exactly full
"$BIN" "${F[@]}" -k 4 --max-cluster-size 150 --labels "$T/l2.ivecs" --report "$T/r2.json"
check "cap*k == n runs" test $? -eq 0
read -r most used < <(largest "$T/l2.ivecs")
check "cap*k == n: largest $most = 150 over $used clusters = 4" test "$most" = 150 -a "$used" = 4

# the same bytes on 1 and 2 threads
"$BIN" "${F[@]}" -k 6 --max-cluster-size 100 --threads 1 --labels "$T/t1.ivecs" -o "$T/t1.npy"
"$BIN" "${F[@]}" -k 6 --max-cluster-size 100 --threads 2 --labels "$T/t2.ivecs" -o "$T/t2.npy"
check "1 and 2 threads: same labels" cmp -s "$T/t1.ivecs" "$T/t2.ivecs"
check "1 and 2 threads: same centroids" cmp -s "$T/t1.npy" "$T/t2.npy"

# no cap: max_cluster_size 0 and the two inertias equal
"$BIN" "${F[@]}" -k 4 --report "$T/r0.json"
check "uncapped report: max_cluster_size 0" test "$(key max_cluster_size "$T/r0.json")" = 0
check "uncapped report: inertia_unconstrained = inertia" \
    test "$(key inertia "$T/r0.json")" = "$(key inertia_unconstrained "$T/r0.json")"

# predict is not capped: the nearest centroids of the capped fit's centroids
"$BIN" predict "$T/x.raw" --dim 3 --dtype f32 -q --centroids "$T/c.npy" --labels "$T/p.ivecs"
check "predict runs" test $? -eq 0
check "predict labels differ from the capped labels (nearest centroids)" bash -c "! cmp -s '$T/p.ivecs' '$T/l.ivecs'"

# refusals: exit 2, one line on stderr, nothing written
bad() { # WHAT EXPECTED-TEXT ARGS...
    local what=$1 want=$2; shift 2
    rm -f "$T/out.npy"
    "$BIN" "$@" -o "$T/out.npy" > "$T/so" 2> "$T/se"
    local rc=$?
    check "$what: exit 2 (got $rc)" test $rc -eq 2
    check "$what: one line on stderr" test "$(wc -l < "$T/se")" -eq 1
    check "$what: says '$want' ($(cat "$T/se"))" grep -qF -- "$want" "$T/se"
    check "$what: no output" test ! -e "$T/out.npy"
}
bad "impossible cap" "max_cluster_size = 149 is impossible: k = 4 clusters of at most 149 points hold 596 points, fewer than n = 600; the smallest cap is ceil(n / k) = 150" "${F[@]}" -k 4 --max-cluster-size 149
bad "negative cap" "--max-cluster-size" "${F[@]}" -k 4 --max-cluster-size -1
bad "fractional cap" "--max-cluster-size" "${F[@]}" -k 4 --max-cluster-size 1.5
bad "cap with device cuda" "CPU engine only" "${F[@]}" -k 4 --max-cluster-size 200 --device cuda

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
