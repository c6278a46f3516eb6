#!/usr/bin/env bash
# tests/cli_help.sh BUILD_DIR -- what the help and the docs say is what the tool does (issue 24):
# every option of every command (read from the option tables in cli/*.c) appears in that
# command's --help, in the top-level --help and in that command's section of docs/cli.md; every
# option a --help names exists; the defaults `fit --help` states are the defaults docs/cli.md's
# table states; and the rough edges found with them (grouped flags, -v everywhere, report.json's
# format of an input recognised by content, --report to a pipe).
set -u
B=$(cd "${1:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
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

# ---------------------------------------------------------------- options: source, help, docs
for c in fit predict bench; do "$BIN" $c --help > "$T/help-$c.txt" 2>&1 || no "$c --help exits 0"; done
"$BIN" --help > "$T/help.txt" 2>&1 || no "--help exits 0"
"$PY" - "$SRC" "$T" <<'PY' > "$T/opts.out"
import re, sys
src, tmp = sys.argv[1], sys.argv[2]
checks = fails = 0
def check(ok, what):
    global checks, fails
    checks += 1
    if not ok:
        fails += 1
        print("FAIL:", what)

def options(cmd):
    """(long, short) of every entry of the cli_opt table in cli/<cmd>.c."""
    text = open(f"{src}/cli/{cmd}.c").read()
    m = re.search(r"static const cli_opt \w+\[\w+\] = \{(.*?)\n\};", text, re.S)
    check(m is not None, f"cli/{cmd}.c: option table not found")
    body = m.group(1) if m else ""
    found = re.findall(r"\{\"([a-z0-9-]+)\", (?:0|'(.)'), [01]\}", body)
    # every entry parsed: a table entry written another way must not slip past this test
    check(len(found) == body.count("{") and found, f"cli/{cmd}.c: {body.count('{')} table entries, {len(found)} parsed")
    return found

def has(text, opt):
    return re.search(r"(?<![\w-])" + re.escape(opt) + r"(?![\w-])", text) is not None

cli_md = open(f"{src}/docs/cli.md").read()
def section(cmd):
    m = re.search(r"^## `" + cmd + r"`\n(.*?)(?=^## )", cli_md, re.S | re.M)
    check(m is not None, f"docs/cli.md: no section ## `{cmd}`")
    return m.group(1) if m else ""

top = open(f"{tmp}/help.txt").read()
check("k-means|||" not in top, "top-level --help prints k-means|||")
# every help is plain text a terminal shows as it is: no escape written out, no overlong line
for name in ("help", "help-fit", "help-predict", "help-bench"):
    for i, line in enumerate(open(f"{tmp}/{name}.txt").read().splitlines()):
        check("\\" not in line, f"{name}.txt line {i + 1} holds a backslash: {line!r}")
        check(len(line) <= 110, f"{name}.txt line {i + 1} is {len(line)} columns long")
n_opts = 0
for cmd in ("fit", "predict", "bench"):
    helptext = open(f"{tmp}/help-{cmd}.txt").read()
    doc = section(cmd)
    opts = options(cmd)
    names = {"--" + l for l, _ in opts} | {"-" + s for _, s in opts if s}
    for long, short in opts:
        n_opts += 1
        # a one-letter name is its short option (-k; cli_parse also takes --k): named as -k
        spellings = (["--" + long] if len(long) > 1 else []) + (["-" + short] if short else [])
        for o in spellings:
            check(has(helptext, o), f"{cmd} --help does not name {o}")
            # --help / -h: once, at the top of docs/cli.md, for every command
            check(has(doc if long != "help" else cli_md, o), f"docs/cli.md's section on {cmd} does not name {o}")
            if long != "help":
                check(has(top, o), f"flashkmeans --help does not name {cmd}'s {o}")
    # the other way round: an option --help names is one the command takes
    for o in set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", helptext)):
        check(o in names, f"{cmd} --help names {o}, which {cmd} does not take")
    # short options in the option column (a line's first word) and in the usage line
    for line in helptext.splitlines():
        words = re.findall(r"^\s+(-[a-zA-Z])\b", line) + (re.findall(r"\[(-[a-zA-Z])\b", line) if line.startswith("usage") else [])
        for o in words:
            check(o in names, f"{cmd} --help names {o}, which {cmd} does not take")
    if cmd != "fit":
        continue
    # defaults: "(default X" in fit --help against the default column of docs/cli.md's table
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].startswith("`"):
            for o in re.findall(r"`(-[-\w]+)", cells[1]):
                rows[o] = cells[2]
    compared = 0
    for line in helptext.splitlines():
        m = re.match(r"\s+(-[-\w]+)(?:, (--[-\w]+))?.*?\(default ([^;:),]+)", line)
        if not m:
            continue
        opt = m.group(2) or m.group(1)
        opt = opt if opt in rows else m.group(1)
        check(opt in rows, f"docs/cli.md's fit table has no row for {opt}")
        if opt in rows:
            want = m.group(3).strip().strip("`'")
            got = rows[opt].split(" ")[0].strip("`'") if rows[opt] else ""
            check(want == got, f"default of {opt}: fit --help says {want!r}, docs/cli.md says {got!r}")
            compared += 1
    check(compared >= 12, f"only {compared} defaults compared")
print(f"{checks} {fails} {n_opts}")
PY
sed '$d' "$T/opts.out" >&2
read -r nc nf nopts < <(tail -n1 "$T/opts.out")
if [ -n "${nc:-}" ] && [ "${nf:-1}" -eq 0 ]; then pass=$((pass + nc)); else fail=$((fail + ${nf:-1})); no "option checks (${nf:-?} of ${nc:-?} failed)"; pass=$((pass + ${nc:-0} - ${nf:-0})); fi
echo "options of fit, predict, bench: ${nopts:-?} checked against their --help, the top-level --help and docs/cli.md"

# ---------------------------------------------------------------- rough edges
# an .npy without an extension (read by its content), 40 points in 2 clusters
"$PY" - "$T/data" <<'PY'
import struct, sys
rows = [(float(i % 2) * 10 + (i % 7) * 0.1, float(i % 3) * 0.2) for i in range(40)]
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (40, 2), }"
hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode())
    for r in rows:
        f.write(struct.pack("<2f", *r))
PY
"$BIN" fit "$T/data" -k5 -q -o "$T/c.npy"
check "-k5 accepted" test $? -eq 0
"$BIN" fit "$T/data" -k 2 -vv -q 2> "$T/err"
check "fit -vv accepted" test $? -eq 0
check "fit -vv prints debug lines" grep -q '^flashkmeans: \[debug\]' "$T/err"
"$BIN" fit "$T/data" -k 2 -qv 2> "$T/err" > "$T/out"
check "fit -qv: quiet and verbose" test $? -eq 0 -a ! -s "$T/out"
check "fit -qv: info lines" grep -q '^flashkmeans: \[info\]' "$T/err"
"$BIN" fit "$T/data" -vk2 -q 2> /dev/null
check "fit -vk2: a flag, then an option with its value" test $? -eq 0
"$BIN" fit "$T/data" -k 2 -vx 2> "$T/err"
check "fit -vx: exit 2" test $? -eq 2
check "fit -vx: names the unknown letter" grep -q "unknown option '-x' in '-vx'" "$T/err"
"$BIN" predict "$T/data" --centroids "$T/c.npy" -v 2> "$T/err" > /dev/null
check "predict -v accepted" test $? -eq 0
check "predict -v prints log lines" grep -q '^flashkmeans: \[info\]' "$T/err"
"$BIN" bench -n 200 -d 2 -k 3 --iters 2 --device cpu -v 2> "$T/err" > /dev/null
check "bench -v accepted" test $? -eq 0 -a -s "$T/err"
# the report through a pipe: all of it, valid JSON, the format the input was read as
"$BIN" fit "$T/data" -k 2 -q --report /dev/stdout | cat > "$T/r.json"
check "--report /dev/stdout on a pipe: exit 0" test "${PIPESTATUS[0]}" -eq 0
check "--report /dev/stdout on a pipe: the report, valid JSON, format npy" "$PY" -c "
import json, sys; r = json.load(open('$T/r.json')); sys.exit(0 if r['format'] == 'npy' and r['k'] == 2 else 1)"
check "no temporary file beside /dev/stdout's name in the working directory" test -z "$(ls -A "$T" | grep '^\.')"
# a failing fit sends nothing into the pipe
"$BIN" fit "$T/data" -k 99 -q --report /dev/stdout 2> /dev/null | cat > "$T/r2.json"
check "a failed fit writes nothing into the pipe" test ! -s "$T/r2.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
