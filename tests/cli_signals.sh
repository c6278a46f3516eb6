#!/usr/bin/env bash
# tests/cli_signals.sh BUILD_DIR -- SIGINT and SIGTERM at every moment of a CLI fit (and of a
# predict), the outputs' writing included (issue 23, item 2). The signal is sent after delays that sweep the whole run
# (reading, fitting, staging the four outputs, committing them); whenever it lands, either the
# command finished first (exit 0, every output complete) or it exits 130 with one message and the
# old outputs exactly as they were, no new file and no temporary left (or, sent before the CLI has
# installed its handler, the signal's default action kills it with nothing touched). FKM_STRESS_SECONDS=N runs
# more delays.
set -u
B=$(cd "${1:-build}" && pwd)
BIN="$B/flashkmeans"
[ -x "$BIN" ] || { echo "SKIPPED: $BIN not built"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
check() { local what=$1; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $what" >&2; fi; }

# 300k points of 8 uint8 values: labels of 1.2 MB and a report are written after a short fit
head -c $((300000 * 8)) /dev/urandom > "$T/x.raw"
O="$T/out"
mkdir "$O"
RUN=("$BIN" fit "$T/x.raw" --dim 8 --dtype u8 -k 16 --init random --stop fixed --iters 3 --threads 1 --quiet
     -o "$O/c.npy" --labels "$O/l.npy" --report "$O/r.json" --plot "$O/p.svg")
reset_old() { rm -f "$O"/* "$O"/.[!.]*; printf 'old centroids' > "$O/c.npy"; printf 'old labels' > "$O/l.npy"; }

# a run without signals: its outputs and duration
reset_old
t0=$(date +%s%N)
"${RUN[@]}" 2> "$T/err"
check "clean run: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
CSUM=$(cksum < "$O/c.npy")
LSUM=$(cksum < "$O/l.npy")
echo "clean run: ${ms} ms"

finished=0
stopped=0
early=0
steps=10
[ -n "${FKM_STRESS_SECONDS:-}" ] && steps=$(( FKM_STRESS_SECONDS * 1000 / (ms + 50) + 1 ))
# signal_run SIG I MS CMD...: run CMD (stderr to $T/err), send SIG after step I of $steps delays
# spread from 0 to 1.2x a clean run of MS ms (every moment of the run covered), reap it. Sets
# delay, rc and signum.
signal_run() {
    local sig=$1 i=$2 ms=$3 pid
    shift 3
    delay=$(awk -v i=$i -v n=$steps -v ms=$ms 'BEGIN { printf "%.3f", (i + 0.5) / n * ms * 1.2 / 1000 }')
    "$@" 2> "$T/err" &
    pid=$!
    sleep "$delay"
    kill -s $sig $pid 2>/dev/null
    wait $pid
    rc=$?
    signum=$(kill -l $sig)
}

for sig in INT TERM; do
    for i in $(seq 0 $((steps - 1))); do
        reset_old
        signal_run $sig $i $ms "${RUN[@]}"
        what="SIG$sig after ${delay}s"
        if [ $rc -eq $((128 + signum)) ] && [ ! -s "$T/err" ]; then
            # killed by the signal's default action before the CLI installed its handler (process
            # start-up, reading: on a loaded machine up to ~30 ms in): nothing may have been touched
            early=$((early + 1))
            check "$what: killed early: old centroids untouched" test "$(cat "$O/c.npy")" = "old centroids"
            check "$what: killed early: old labels untouched" test "$(cat "$O/l.npy")" = "old labels"
            check "$what: killed early: no new file ($(ls -A "$O" | tr '\n' ' '))" test "$(ls -A "$O" | wc -l)" -eq 2
        elif [ $rc -eq 0 ]; then
            finished=$((finished + 1))
            check "$what: finished first: centroids complete" test "$(cksum < "$O/c.npy")" = "$CSUM"
            check "$what: finished first: labels complete" test "$(cksum < "$O/l.npy")" = "$LSUM"
            check "$what: finished first: four outputs, no temporary" test "$(ls -A "$O" | wc -l)" -eq 4
            check "$what: finished first: the plot complete" test "$(tail -n1 "$O/p.svg")" = "</svg>"
        else
            stopped=$((stopped + 1))
            check "$what: exit 130 (got $rc; $(head -c 200 "$T/err"))" test $rc -eq 130
            check "$what: one message" test "$(cat "$T/err")" = "flashkmeans: interrupted, no output written"
            check "$what: old centroids untouched" test "$(cat "$O/c.npy")" = "old centroids"
            check "$what: old labels untouched" test "$(cat "$O/l.npy")" = "old labels"
            check "$what: no report, no plot, no temporary ($(ls -A "$O" | tr '\n' ' '))" test "$(ls -A "$O" | wc -l)" -eq 2
        fi
    done
done
echo "signals: $((2 * steps)) sent, $stopped stopped the command (nothing written), $early killed it before its handler was installed, $finished after it had finished"
check "some signals stopped the command" test $stopped -gt 0

# predict: the same sweep (its handler goes in before the outputs are staged; a signal while the
# output paths are probed waits until the probe file is gone)
reset_old
"${RUN[@]}" 2> "$T/err"
cp "$O/c.npy" "$T/cent.npy"
PRED=("$BIN" predict "$T/x.raw" --dim 8 --dtype u8 --centroids "$T/cent.npy" --threads 1 --quiet
      --labels "$O/l.npy" --distances "$O/d.npy")
reset_old
t0=$(date +%s%N)
"${PRED[@]}" 2> "$T/err"
check "predict clean run: exit 0 ($(head -c 200 "$T/err"))" test $? -eq 0
pms=$(( ($(date +%s%N) - t0) / 1000000 ))
pstopped=0
for sig in INT TERM; do
    for i in $(seq 0 $((steps - 1))); do
        reset_old
        signal_run $sig $i $pms "${PRED[@]}"
        what="predict SIG$sig after ${delay}s"
        if [ $rc -eq 0 ]; then
            check "$what: finished first: three files, no temporary ($(ls -A "$O" | tr '\n' ' '))" test "$(ls -A "$O" | wc -l)" -eq 3
        else
            if [ $rc -eq 130 ]; then
                pstopped=$((pstopped + 1))
                check "$what: one message" test "$(cat "$T/err")" = "flashkmeans: interrupted, no output written"
            else
                check "$what: killed by the signal with nothing said (got $rc)" test $rc -eq $((128 + signum)) -a ! -s "$T/err"
            fi
            check "$what: old labels untouched" test "$(cat "$O/l.npy")" = "old labels"
            check "$what: no new file, no temporary ($(ls -A "$O" | tr '\n' ' '))" test "$(ls -A "$O" | wc -l)" -eq 2
        fi
    done
done
echo "predict: clean run ${pms} ms; $((2 * steps)) signals, $pstopped stopped it at exit 130"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
