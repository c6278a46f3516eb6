#!/usr/bin/env bash
# valgrind.sh BUILD_DIR -- the CLI under valgrind memcheck: fit, predict and a bad-input run must
# show no memory error and no definite/indirect leak (libgomp's thread pool is "possibly lost"
# by design and not counted). Exits 77 (SKIPPED) without valgrind or in sanitizer builds.
set -uo pipefail
build=$(realpath "$1")
cli=$build/flashkmeans
command -v valgrind >/dev/null || { echo "SKIPPED: valgrind not installed"; exit 77; }
grep -q '^FKM_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && { echo "SKIPPED: sanitizer build"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
perl -e 'srand(7); print pack("f<*", map { int(rand(4)) * 10 + rand() } 1 .. (500 * 6))' > "$tmp/x.raw"
vg() { valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect "$@"; }
pass=0 fail=0
expect() { # expect CODE what... : run under valgrind, compare the exit code
    local want=$1; shift
    vg "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL (exit $rc, want $want): $*"; cat "$tmp/err"; fi
}
expect 0 "$cli" fit "$tmp/x.raw" --dim 6 --dtype f32 -k 4 --iters 5 --threads 2 -o "$tmp/c.npy" --labels "$tmp/l.npy" --report "$tmp/r.json" --quiet
expect 0 "$cli" predict "$tmp/x.raw" --dim 6 --dtype f32 --centroids "$tmp/c.npy" --labels "$tmp/p.npy"
expect 2 "$cli" fit "$tmp/x.raw" --dim 6 --dtype f32 -k 100000 -o "$tmp/bad.npy"
expect 2 "$cli" fit "$tmp/missing.npy" -k 2
cmp -s "$tmp/l.npy" "$tmp/p.npy" && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: predict labels differ from fit labels"; }
[ ! -e "$tmp/bad.npy" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: output written on bad input"; }
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
