#!/bin/bash
# run.sh NAME SECONDS -- fuzz build-fuzz/fuzz_NAME for SECONDS from a scratch corpus seeded with
# fuzz/corpus/NAME and fuzz/regressions/NAME (both read only). The run does not stop at the first
# crash (-fork=1 -ignore_crashes=1); afterwards every crashing input is replayed and its failure
# line compared with fuzz/known/NAME/SIGNATURES (open bugs owned elsewhere, one fixed string a
# line). Exit 1 when any crash is not a known one; its input stays in $OUT/crashes/.
set -u
out=$(realpath -m "${OUT:-$(dirname "$0")/../build-fuzz}")
cd "$(dirname "$0")"
name=$1 secs=$2 bin=$out/fuzz_$1
mkdir -p "$out/work/$name" "$out/crashes" "corpus/$name" "regressions/$name"
rm -f "$out/crashes/$name-"*
echo "== fuzz_$name: $secs s"
"$bin" "$out/work/$name" "corpus/$name" "regressions/$name" -fork=1 -ignore_crashes=1 -rss_limit_mb=2048 \
    -timeout=20 -max_len=8192 -max_total_time="$secs" -artifact_prefix="$out/crashes/$name-" \
    >"$out/fuzz_$name.log" 2>&1
grep -E "^#[0-9]+: cov:" "$out/fuzz_$name.log" | tail -1
known=known/$name/SIGNATURES new=0 old=0
for f in "$out/crashes/$name-"crash-* "$out/crashes/$name-"leak-* "$out/crashes/$name-"timeout-* "$out/crashes/$name-"oom-*; do
    [ -e "$f" ] || continue
    sig=$("$bin" "$f" 2>&1 | grep -m1 -E "invariant violated|ERROR: AddressSanitizer|runtime error|ERROR: LeakSanitizer|ERROR: libFuzzer: (timeout|out-of-memory)")
    if [ -f "$known" ] && [ -n "$sig" ] && printf '%s\n' "$sig" | grep -qF -f <(grep -v '^#' "$known" | sed '/^$/d'); then
        old=$((old + 1))
    else
        new=$((new + 1))
        echo "NEW: $f: ${sig:-no failure line (see $out/fuzz_$name.log)}"
    fi
done
[ $old -gt 0 ] && echo "fuzz_$name: $old input(s) hit known open bugs (fuzz/known/$name/SIGNATURES)"
if [ $new -gt 0 ]; then
    echo "fuzz_$name FAILED: $new new crash(es); fix them, then copy the inputs into fuzz/regressions/$name/ (ctest replays them)"
    exit 1
fi
exit 0
