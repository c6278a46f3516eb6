"""How the package finds libflashkmeans.so, and `make install` (cmake --install) of the package."""
import os
import shutil
import subprocess
import sys

import pytest

import flashkmeans


def _run(code, env, cwd):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=cwd)


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("FKM_BUILD_DIR", "FKM_LIBRARY", "PYTHONPATH")}
    env.update(extra)
    return env


def test_fkm_library_wins_and_is_strict(repo, tmp_path):
    lib = os.path.abspath(flashkmeans.library_path)
    code = "import flashkmeans; print(flashkmeans.library_path)"
    res = _run(code, _clean_env(PYTHONPATH=str(repo / "python"), FKM_LIBRARY=lib,
                                FKM_BUILD_DIR="/nonexistent"), tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == lib, res.stderr
    res = _run(code, _clean_env(PYTHONPATH=str(repo / "python"),
                                FKM_LIBRARY=str(tmp_path / "nope.so")), tmp_path)
    assert res.returncode != 0 and "cannot find libflashkmeans.so" in res.stderr
    assert "nope.so (missing)" in res.stderr  # no silent fallback to another library


def test_build_dir_variable(repo, tmp_path, build_dir):
    if not (build_dir / "libflashkmeans.so").exists():
        pytest.skip("no libflashkmeans.so in %s" % build_dir)
    res = _run("import flashkmeans; print(flashkmeans.library_path)",
               _clean_env(PYTHONPATH=str(repo / "python"), FKM_BUILD_DIR=str(build_dir.resolve())),
               tmp_path)
    assert res.returncode == 0 and res.stdout.strip().startswith(str(build_dir.resolve())), res.stderr


def test_cmake_install_package(tmp_path, build_dir):
    """cmake --install puts the package where Debian's python3 looks for that prefix and records
    the installed library, which the installed package then loads (from any directory)."""
    if not shutil.which("cmake") or not (build_dir / "cmake_install.cmake").exists():
        pytest.skip("no cmake build directory to install from")
    prefix = tmp_path / "prefix"
    res = subprocess.run(["cmake", "--install", str(build_dir), "--prefix", str(prefix)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    pkgs = list(prefix.glob("lib/python3*/dist-packages/flashkmeans/__init__.py"))
    assert len(pkgs) == 1, list(prefix.rglob("*.py"))
    site = pkgs[0].parent.parent
    code = ("import numpy as np, flashkmeans; "
            "km = flashkmeans.KMeans(2, random_state=0).fit(np.arange(20.).reshape(10, 2)); "
            "print(flashkmeans.library_path, flashkmeans.__file__)")
    res = _run(code, _clean_env(PYTHONPATH=str(site)), tmp_path)
    assert res.returncode == 0, res.stderr
    libpath, pkgfile = res.stdout.split()
    assert libpath.startswith(str(prefix)) and pkgfile.startswith(str(site))


def test_library_inside_the_package(tmp_path, build_dir):
    """pip install / wheels (setup.py) put libflashkmeans.so inside the package: a copy of the
    package holding one loads it, with no FKM_* variable, from any directory."""
    lib = build_dir / "libflashkmeans.so"
    if not lib.exists():
        pytest.skip("no libflashkmeans.so in %s" % build_dir)
    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(flashkmeans.__file__), site / "flashkmeans",
                    ignore=shutil.ignore_patterns("__pycache__", "_installed.py", "*.so"))
    shutil.copyfile(lib.resolve(), site / "flashkmeans" / "libflashkmeans.so")
    code = ("import numpy as np, flashkmeans; "
            "km = flashkmeans.KMeans(2, random_state=0).fit(np.arange(20.).reshape(10, 2)); "
            "print(flashkmeans.library_path)")
    res = _run(code, _clean_env(PYTHONPATH=str(site)), tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(site / "flashkmeans" / "libflashkmeans.so")
