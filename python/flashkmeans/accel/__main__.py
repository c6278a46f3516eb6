"""python3 -m flashkmeans.accel [-v | -q] (script.py | -m module) [args ...]

Runs a Python program with sklearn.cluster.KMeans and MiniBatchKMeans routed to flashkmeans
where the call is supported (flashkmeans.accel's doc). The routing decisions are logged on
stderr: one line per fit and per first partial_fit (-v: later partial_fit calls, predict,
transform and score too; -q: none)."""
import logging
import os
import runpy
import sys

USAGE = "usage: python3 -m flashkmeans.accel [-v | -q] (script.py | -m module) [args ...]"


def main(argv):
    level = logging.INFO
    while argv and argv[0] in ("-v", "-q", "-h", "--help"):
        opt = argv.pop(0)
        if opt in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        level = logging.DEBUG if opt == "-v" else logging.CRITICAL + 1
    module = len(argv) >= 2 and argv[0] == "-m"
    if not argv or (argv[0] == "-m" and not module) or (argv[0].startswith("-") and not module):
        print(USAGE, file=sys.stderr)
        return 2
    import flashkmeans.accel as accel

    if not accel.log.handlers:  # our lines, whatever the program does with the root logger
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        accel.log.addHandler(h)
        accel.log.propagate = False
    accel.log.setLevel(level)
    accel.patch_sklearn()
    if module:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))  # as `python3 script.py` does
        runpy.run_path(argv[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
