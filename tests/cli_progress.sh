#!/usr/bin/env bash
# tests/cli_progress.sh BUILD_DIR -- the CLI's progress line on a terminal (issue 24, item 4): run
# under a pseudo-terminal (util-linux `script`), a fit of a 40 MB gzip input shows the loading bar
# up to 100%, then the initialisation line, then the iteration bar, and clears it; with --quiet,
# or with stderr not a terminal, nothing of it is printed.
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
command -v script >/dev/null || { echo "SKIPPED: script (util-linux) not found"; exit 77; }
command -v gzip >/dev/null || { echo "SKIPPED: gzip not found"; exit 77; }
"$BIN" fit --help | grep -q . || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { local what=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what" >&2; fi; }
# zlib support is optional in the build: without it a gzip input is refused, nothing to show
head -c 1000 /dev/zero | gzip -1 > "$T/small.raw.gz"
if "$BIN" fit "$T/small.raw.gz" --dim 10 --dtype u8 -k 1 -q 2>&1 | grep -q zlib; then
    echo "SKIPPED: built without zlib"; exit 77
fi
# 400000 x 100 uint8 (40 MB inflated, 8 MiB steps: 5 updates), 2 values so that k = 2 is fine
{ head -c 20000000 /dev/zero; head -c 20000000 /dev/zero | tr '\0' '\7'; } | gzip -1 > "$T/x.raw.gz"
RUN="'$BIN' fit '$T/x.raw.gz' --dim 100 --dtype u8 -k 2 --iters 3 --stop fixed --init random"
script -qec "$RUN" /dev/null > "$T/tty.out" 2>&1
check "under a terminal: exit 0" test $? -eq 0
tr '\r' '\n' < "$T/tty.out" > "$T/lines"
check "the loading bar is drawn" grep -q "^\[#*\.*\] loading .*x.raw.gz: [0-9]*% (.* MB of gzip)" "$T/lines"
check "the loading bar reaches 100%" grep -q "^\[#\{30\}\] loading .*: 100% " "$T/lines"
check "several loading updates" test "$(grep -c ' loading ' "$T/lines")" -ge 3
check "the initialisation line" grep -q "^initialising: random, k = 2 of 400000 points" "$T/lines"
check "the iteration bar" grep -q "^\[#*\.*\] iter 3/3 " "$T/lines"
check "the summary follows" grep -q "^result   3 iterations" "$T/lines"
script -qec "$RUN --quiet" /dev/null > "$T/quiet.out" 2>&1
check "--quiet under a terminal: exit 0" test $? -eq 0
check "--quiet: nothing drawn" test ! -s "$T/quiet.out"
"$BIN" fit "$T/x.raw.gz" --dim 100 --dtype u8 -k 2 --iters 3 --stop fixed --init random > /dev/null 2> "$T/err"
check "stderr a file: exit 0" test $? -eq 0
check "stderr a file: nothing drawn" test ! -s "$T/err"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
