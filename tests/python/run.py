"""ctest entry point for the Python tests: exits 77 (ctest SKIPPED) when this interpreter lacks
pytest or numpy, else runs pytest on this folder (extra arguments are passed on)."""
import os
import sys

try:
    import numpy  # noqa: F401
    import pytest
except ImportError as e:
    print("SKIPPED: %s cannot run the Python tests: %s" % (sys.executable, e))
    sys.exit(77)

sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", os.path.dirname(os.path.abspath(__file__))]
                     + sys.argv[1:]))
