"""The ctypes mirror in flashkmeans/_lib.py must match include/flashkmeans.h exactly: sizes,
field offsets and enum values are compared with what a C compiler says (skipped without one)."""
import ctypes
import re
import shutil
import subprocess

import pytest

from flashkmeans import _lib

STRUCTS = ["fkm_iter_stats", "fkm_params", "fkm_matrix", "fkm_result", "fkm_csr"]
CUDA_STRUCTS = ["fkm_cuda_matrix", "fkm_cuda_fit_info"]  # include/flashkmeans_cuda.h


def _structs(repo):
    cuda = (repo / "include" / "flashkmeans_cuda.h").exists()
    return STRUCTS + (CUDA_STRUCTS if cuda else []), cuda


def _compiler():
    for cc in ("cc", "gcc", "clang"):
        if shutil.which(cc):
            return cc
    return None


@pytest.fixture(scope="module")
def c_layout(tmp_path_factory, repo):
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler: cannot compare the ctypes layout with the header")
    structs, cuda = _structs(repo)
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "flashkmeans.h"']
    if cuda:
        lines.append('#include "flashkmeans_cuda.h"')
    lines.append("int main(void) {")
    for s in structs:
        lines.append('printf("sizeof %s %%zu\\n", sizeof(%s));' % (s, s))
        for name, _ in getattr(_lib, s)._fields_:
            lines.append('printf("offsetof %s.%s %%zu\\n", offsetof(%s, %s));' % (s, name, s, name))
    enums = [n for n in dir(_lib) if re.match(r"FKM_[A-Z0-9_]+$", n) and isinstance(getattr(_lib, n), int)]
    for e in enums:
        lines.append('printf("enum %s %%d\\n", (int)%s);' % (e, e))
    lines.append('printf("sizeof enum %zu\\n", sizeof(fkm_status));')
    lines.append("return 0; }")
    d = tmp_path_factory.mktemp("abi")
    src, exe = d / "abi.c", d / "abi"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([cc, "-std=c11", "-I", str(repo / "include"), str(src), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    table = {}
    for line in out.splitlines():
        kind, name, value = line.split()
        table[(kind, name)] = int(value)
    return table


@pytest.mark.parametrize("name", STRUCTS + CUDA_STRUCTS)
def test_struct_size_and_offsets(c_layout, name):
    if ("sizeof", name) not in c_layout:
        pytest.skip("%s: include/flashkmeans_cuda.h is not in this tree" % name)
    cls = getattr(_lib, name)
    assert ctypes.sizeof(cls) == c_layout[("sizeof", name)]
    for field, _ in cls._fields_:
        assert getattr(cls, field).offset == c_layout[("offsetof", "%s.%s" % (name, field))], field


def test_struct_fields_complete(repo):
    """Every field declared in the header's typedef structs is mirrored (same order)."""
    structs, cuda = _structs(repo)
    text = (repo / "include" / "flashkmeans.h").read_text()
    if cuda:
        text += (repo / "include" / "flashkmeans_cuda.h").read_text()
    for name in structs:
        m = re.search(r"typedef struct \{([^{}]*)\}\s*%s;" % name, text)
        assert m, name
        body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:  # "int64_t n, d" -> n, d ; "const float *weights" -> weights
                parts = decl.split(",")
                names = [parts[0].replace("*", " ").split()[-1]] + parts[1:]
                fields += [re.sub(r"[\s*]|\[.*?\]", "", v) for v in names]
        assert fields == [f for f, _ in getattr(_lib, name)._fields_], name


def test_enum_values(c_layout):
    assert c_layout[("sizeof", "enum")] == ctypes.sizeof(_lib.c_enum)
    for (kind, name), value in c_layout.items():
        if kind == "enum":
            assert getattr(_lib, name) == value, name


def test_dtype_sizes():
    for code, size in ((_lib.FKM_F32, 4), (_lib.FKM_F64, 8), (_lib.FKM_F16, 2),
                       (_lib.FKM_BF16, 2), (_lib.FKM_U8, 1)):
        assert _lib.lib.fkm_dtype_size(code) == size


def test_defaults_roundtrip():
    """fkm_params_default through the mirror reads back the documented defaults."""
    p = _lib.fkm_params()
    _lib.lib.fkm_params_default(ctypes.byref(p))
    assert (p.k, p.max_iter, p.tol, p.n_init, p.seed) == (8, 300, 1e-4, 1, 0)
    assert (p.stop, p.init, p.metric, p.device, p.precision) == (0, _lib.FKM_INIT_AUTO, 0, 0, 0)
    assert not p.log_fn and not p.progress_fn
