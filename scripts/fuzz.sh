#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets of tests/fuzz with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer on), then runs each for a while from seeds made by
# tests/fuzz/seeds.py plus tests/corpus/<target>/.
#   scripts/fuzz.sh [-t SECONDS] [TARGET...]      (default: 60 s each, every target)
# Environment: BUILD (default build-sanitize, the build of make test-sanitize), JOBS (build jobs).
# The growing corpus stays in $BUILD/fuzz-corpus/<target>/ between runs; an input that crashes,
# leaks, times out (10 s; keras_h5, 25 s) or allocates past 2 GiB is saved in $BUILD/fuzz-findings/<target>/
# and the script exits 1. Reduce a finding with `fuzz_<target> -minimize_crash=1 FILE`, fix the
# cause, and add the input to tests/corpus/<target>/ so that ctest's fuzz_corpus replays it.
# Prints one line per target: executions, edges covered (cov), features (ft), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."
source tests/fuzz/target_options.sh

seconds=60
while getopts "t:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    *) echo "usage: scripts/fuzz.sh [-t SECONDS] [TARGET...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
all=(architecture recipe safetensors idx record_stream image npy onnx keras_h5 keras_json
     keras_archive)
targets=("$@")
((${#targets[@]})) || targets=("${all[@]}")

build=${BUILD:-build-sanitize}
jobs=${JOBS:-$(nproc)}
cxx=${CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found (make deps installs clang-14)" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCNN_FUZZ=ON -DCNN_SANITIZE=ON -DCNN_BENCH=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"

seeds="$build/fuzz-seeds"
rm -rf "$seeds"
/usr/bin/python3 tests/fuzz/seeds.py "$PWD" "$seeds"

status=0
for t in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$t" findings="$build/fuzz-findings/$t"
  mkdir -p "$corpus" "$findings" "tests/corpus/$t"
  log="$build/fuzz-$t.log"
  target_options "$t"
  timeout=10 extra=("${target_flags[@]}") asan=$target_asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}
  asan=${asan#:}
  # keras_h5: HDF5 keeps library-wide caches between files, which the per-input leak check would
  # take for leaks. The child's own CPU-time limit (10 s) bounds an input that keeps libhdf5
  # busy; the fuzzer's timeout and slow-input report are set above it.
  if [[ $t == keras_h5 ]]; then
    timeout=25 extra+=(-detect_leaks=0 -report_slow_units=25)
  fi
  rc=0
  (cd "$build" && ASAN_OPTIONS=$asan TMPDIR=${TMPDIR:-/tmp} ./fuzz/fuzz_"$t" "fuzz-corpus/$t" "fuzz-seeds/$t" "$OLDPWD/tests/corpus/$t" \
      -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 "${extra[@]}" \
      -artifact_prefix="fuzz-findings/$t/" -print_final_stats=1) >"$log" 2>&1 || rc=$?
  stats=$(grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "$log" | tail -1 | sed -E 's/^#([0-9]+)\s+\S+\s+/\1 execs  /')
  printf '%-14s %3ss  %s\n' "$t" "$seconds" "$stats" >&2
  if ((rc != 0)) || compgen -G "$findings/*" >/dev/null; then
    echo "fuzz: $t: finding(s) in $findings (log: $log):" >&2
    grep -E "ERROR: |SUMMARY: |terminate called|what\(\)" "$log" | head -5 >&2 || true
    status=1
  fi
done
exit $status
