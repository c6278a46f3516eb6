"""pip's build of the Python package (pyproject.toml names setuptools as the backend).

The package is pure Python over libflashkmeans.so (ctypes), so "building" it means building the C
library with the project's own CMake and putting the library inside the package: the wheel holds
flashkmeans/libflashkmeans.so, which python/flashkmeans/_lib.py loads from next to itself.
The CMake build is the one `make` runs, with the same choices: the CUDA engine is compiled when
nvcc is found (FKM_CUDA=AUTO), the CPU engine always. Only two things differ, both so that the
library stands alone inside a wheel: MPI is off (the binding never calls fkm_mpi_fit, and a
library linked to libmpi would need Open MPI to import), and only the shared library is built.

    python3 -m venv --system-site-packages venv && venv/bin/pip install --no-build-isolation .
    python3 -m build --wheel --no-isolation

FKM_CMAKE_ARGS adds CMake arguments (e.g. "-DFKM_CUDA=OFF" or "-DFKM_CUDA_ARCHS=90a").
The CMake trees are kept in build-pip/, one per set of arguments and nvcc (found or not), so a
second build (the wheel after pip install) only relinks what changed, and neither an argument of
an earlier build (CMake caches them) nor its "no nvcc" outlives a change.
"""
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover - setuptools' PEP 517 backend asks for wheel itself
    bdist_wheel = None

ROOT = pathlib.Path(__file__).resolve().parent
LIBRARY = "libflashkmeans.so"  # the name _lib.py looks for next to the package


def _version():
    """The version of the C library (CMakeLists.txt's project()), which is the package's."""
    text = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"project\(\s*flashkmeans\s+VERSION\s+([0-9][0-9.]*)", text)
    if not m:
        raise RuntimeError("cannot find project(flashkmeans VERSION x.y.z) in CMakeLists.txt")
    return m.group(1)


def _run(cmd):
    print("flashkmeans:", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True)


class BuildPyWithLibrary(build_py):
    """build_py, then the C library through CMake, copied into the built package."""

    def run(self):
        super().run()
        lib = self._build_library()
        if getattr(self, "editable_mode", False):  # pip install -e: the source package is used
            dest = ROOT / "python" / "flashkmeans" / LIBRARY
        else:
            dest = pathlib.Path(self.build_lib) / "flashkmeans" / LIBRARY
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(lib, dest)  # the real file, not the .so -> .so.0 links (wheels hold none)
        os.chmod(dest, 0o755)

    def _build_library(self):
        cmake = shutil.which("cmake")
        if not cmake:
            raise RuntimeError("flashkmeans: building the package needs CMake "
                               "(Debian: apt-get install cmake)")
        args = ["-DCMAKE_BUILD_TYPE=Release", "-DFKM_CUDA=AUTO", "-DFKM_MPI=OFF"]
        args += shlex.split(os.environ.get("FKM_CMAKE_ARGS", ""))
        key = repr((args, shutil.which("nvcc"), os.environ.get("CUDACXX")))
        build_base = pathlib.Path(self.get_finalized_command("build").build_base)
        tree = (build_base / ("cmake-" + hashlib.sha1(key.encode()).hexdigest()[:12])).resolve()
        _run([cmake, "-S", ROOT, "-B", tree] + args)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        _run([cmake, "--build", tree, "--target", "flashkmeans", "-j", jobs])
        lib = tree / LIBRARY
        if not lib.exists():
            raise RuntimeError("flashkmeans: the CMake build made no %s" % lib)
        return lib.resolve()


class PlatformDistribution(Distribution):
    """The package holds a native library: install it as platform code (platlib, the wheel's
    root), as a package with extension modules would be."""

    def has_ext_modules(self):
        return True


cmdclass = {"build_py": BuildPyWithLibrary}

if bdist_wheel is not None:
    class BdistWheelPlatform(bdist_wheel):
        """The wheel holds a native library but no Python extension: it is tied to the platform
        (linux_x86_64, ...) and to no Python version or ABI, hence the tag py3-none-<platform>."""

        def get_tag(self):
            return ("py3", "none") + tuple(super().get_tag()[2:])

    cmdclass["bdist_wheel"] = BdistWheelPlatform

setup(
    version=_version(),
    distclass=PlatformDistribution,
    cmdclass=cmdclass,
    # setuptools' own build folder, away from CMake's build/ that `make` uses.
    options={"build": {"build_base": "build-pip"}},
)
