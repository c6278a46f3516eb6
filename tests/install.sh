#!/usr/bin/env bash
# install.sh BUILD_DIR -- `cmake --install` into a temporary prefix, then build and run a small
# consumer through pkg-config and through the CMake package (find_package(flashkmeans)).
set -euo pipefail
build=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/t.c" <<'C'
#include <flashkmeans.h>
#include <stdio.h>
int main(void) {
    float x[8] = {0, 0, 0, 1, 5, 5, 5, 6};
    fkm_params p;
    fkm_params_default(&p);
    p.k = 2; p.device = FKM_DEVICE_CPU; p.init = FKM_INIT_RANDOM;
    fkm_matrix m = {x, FKM_F32, 4, 2, NULL};
    fkm_result r;
    if (fkm_fit(&p, &m, &r) != FKM_OK) { printf("fit failed: %s\n", fkm_last_error()); return 1; }
    int ok = r.inertia == 1.0 && r.labels[0] == r.labels[1] && r.labels[2] == r.labels[3] && r.labels[0] != r.labels[2];
    printf("inertia %g\n", r.inertia);
    fkm_result_free(&r);
    return ok ? 0 : 1;
}
C
# A sanitizer build's library needs its runtime in the consumer too.
san=
grep -q '^FKM_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
if command -v pkg-config >/dev/null; then
    check cc $san "$tmp/t.c" $(pkg-config --cflags --libs flashkmeans) -o "$tmp/t_pc"
    # found at run time through the rpath pkg-config gave, without LD_LIBRARY_PATH
    check env -u LD_LIBRARY_PATH "$tmp/t_pc"
    # static: libflashkmeans.a and what `pkg-config --static` lists (the CUDA runtime and
    # libstdc++ too in a CUDA build), no shared libflashkmeans
    check cc $san "$tmp/t.c" $(pkg-config --cflags flashkmeans) "$tmp/prefix/lib/libflashkmeans.a" \
        $(pkg-config --static --libs flashkmeans | sed 's/ -lflashkmeans / /') -o "$tmp/t_static"
    check env -u LD_LIBRARY_PATH "$tmp/t_static"
    no_shared() { readelf -d "$tmp/t_static" >"$tmp/dyn_static.txt" && ! grep -q 'NEEDED.*libflashkmeans' "$tmp/dyn_static.txt"; }
    check no_shared
fi
mkdir -p "$tmp/cm"
printf 'cmake_minimum_required(VERSION 3.18)\nproject(t C)\nfind_package(flashkmeans REQUIRED)\nadd_executable(t %s)\ntarget_link_libraries(t flashkmeans::flashkmeans)\n' "$tmp/t.c" > "$tmp/cm/CMakeLists.txt"
check cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$san"
check cmake --build "$tmp/cm/b"
check env -u LD_LIBRARY_PATH "$tmp/cm/b/t" # CMake puts the library's directory in the build rpath
check test -x "$tmp/prefix/bin/flashkmeans"
# The library reads no files: the readers (src/io, zlib) are the CLI's and the tests' static
# library flashkmeans_io: the shared library needs no libz, and no installed library holds them.
no_zlib() { readelf -d "$tmp/prefix/lib/libflashkmeans.so.0" >"$tmp/dyn.txt" && ! grep -q 'NEEDED.*libz\.' "$tmp/dyn.txt"; }
no_io() { nm --defined-only "$1" >"$tmp/syms.txt" 2>/dev/null && ! grep -q ' [A-Za-z] fkm_io_read$' "$tmp/syms.txt"; }
check no_zlib
check no_io "$tmp/prefix/lib/libflashkmeans.a"
check no_io "$tmp/prefix/lib/libflashkmeans.so.0"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
