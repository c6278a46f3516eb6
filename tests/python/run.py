"""ctest entry point for the Python tests: exits 77 (ctest SKIPPED) when this interpreter lacks
pytest or numpy, else runs pytest on this folder (extra arguments are passed on)."""
import os
import sys


def main():
    try:
        import numpy  # noqa: F401
        import pytest
    except ImportError as e:
        print("SKIPPED: %s cannot run the Python tests: %s" % (sys.executable, e))
        return 77
    return pytest.main(["-q", "-p", "no:cacheprovider", os.path.dirname(os.path.abspath(__file__))]
                       + sys.argv[1:])


# Guarded: processes started with multiprocessing's "spawn" (Dask's worker processes in
# test_dask.py) import the parent's __main__ again, which must not start the suite once more.
if __name__ == "__main__":
    sys.exit(main())
