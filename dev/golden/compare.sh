#!/bin/bash
# compare.sh OLD_BUILD NEW_BUILD [OUT]: the same CPU fits (dev/golden/fit_dump.c) through two builds'
# libflashkmeans.so, fkm_fit and, when both builds have MPI and mpirun exists, fkm_mpi_fit on 1, 2
# and 3 ranks; every output but the wall clock written to files and compared byte for byte.
# Exit 0 when every file is the same. For restructurings that must not change results (issue 19):
#   git archive BASE | tar -x -C /tmp/old && cmake -S /tmp/old -B /tmp/old/build -DFKM_MPI=ON ...
#   dev/golden/compare.sh /tmp/old/build build
# The MPI runs take minutes on 2 cores (oversubscribed ranks); GOLDEN_MPI=0 skips them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd); out=${3:-$(mktemp -d)}
mpi=${GOLDEN_MPI:-1}
command -v mpicc >/dev/null && command -v mpirun >/dev/null || mpi=0
for side in old new; do
  lib=${!side}
  mkdir -p "$out/$side/cpu"
  gcc -O2 -I"$root/include" -I"$root/tests" "$here/fit_dump.c" -o "$out/dump_$side" -L"$lib" -lflashkmeans \
      -Wl,-rpath,"$lib" -lm
  "$out/dump_$side" "$out/$side/cpu"
  if [ "$mpi" = 1 ] && nm -D "$lib/libflashkmeans.so" | grep -q fkm_mpi_fit; then
    mpicc -O2 -DWITH_MPI -I"$root/include" -I"$root/tests" "$here/fit_dump.c" -o "$out/dump_mpi_$side" \
          -L"$lib" -lflashkmeans -Wl,-rpath,"$lib" -lm
    for r in 1 2 3; do
      mkdir -p "$out/$side/mpi$r"
      mpirun --oversubscribe --allow-run-as-root -np $r "$out/dump_mpi_$side" "$out/$side/mpi$r"
    done
  fi
done
diff -r "$out/old" "$out/new" && echo "same bits: $(find "$out/new" -type f | wc -l) files in $out"
