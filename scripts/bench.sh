#!/usr/bin/env bash
# make bench: installs what the comparison needs (scripts/install-deps.sh --bench: PyTorch,
# OpenBLAS), builds the benchmark programs in Release mode, then runs scripts/bench.py, which
# prints the table. Arguments go to bench.py (--quick, --threads N, --only 1,5, ...).
#   BUILD=DIR  the build folder (default build); one configured otherwise than plain Release
#              (Debug, sanitizers) is left alone and build-bench is used instead
#   JOBS=N     parallel compile jobs (default: all cores)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --check --bench >/dev/null 2>&1 || scripts/install-deps.sh --bench

build=${BUILD:-build}
cache="$build/CMakeCache.txt"
if [[ -f "$cache" ]]; then
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
  if [[ "$type" != "Release" ]] || grep -q '^CNN_SANITIZE:BOOL=ON' "$cache"; then
    echo "bench: $build is a ${type:-default} build; building Release in build-bench instead" >&2
    build=build-bench
  fi
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCNN_BENCH=ON >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target bench_model bench_gemm bench_peak cnn-quantize
# Debian's python3: it sees python3-torch, which a pyenv or venv python3 on PATH may not.
exec /usr/bin/python3 scripts/bench.py --build "$build" "$@"
