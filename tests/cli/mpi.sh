#!/usr/bin/env bash
# More than one process (issue #14's foundation): tests/mpi/mpi_check under mpirun with 2 and 3
# processes on this machine (--oversubscribe: more processes than cores), and alone without a
# launcher. Skipped when the build has no MPI or mpirun is absent.
# usage: mpi.sh BIN_DIR SOURCE_DIR BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
build=$3
check=$build/tests/mpi_check
if ! grep -q "^CNN_MPI:BOOL=ON" "$build/CMakeCache.txt" || ! command -v mpirun > /dev/null; then
  echo "SKIPPED: this build has no MPI (CNN_MPI) or mpirun is absent (scripts/install-deps.sh installs Open MPI)" >&2
  exit 77
fi
"$check" | grep -q "1 processes" || fail "mpi_check without a launcher"
# Root may run mpirun only when it says so (CI runs as root); shared memory between the ranks.
mpirun=(mpirun --oversubscribe --allow-run-as-root --mca btl self,vader)
for np in 2 3; do
  timeout 120 "${mpirun[@]}" -np "$np" "$check" > "$work/out" 2> "$work/err" ||
    fail "mpirun -np $np mpi_check: $(cat "$work/err")"
  grep -q "^mpi_check: $np processes" "$work/out" || fail "mpirun -np $np: $(cat "$work/out")"
done
echo "mpi: the sums are the rank-order sums on 1, 2 and 3 processes"
