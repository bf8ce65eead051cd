#!/usr/bin/env bash
# Replays tests/corpus/<target>/* through the fuzz target of the same name (ctest fuzz_corpus):
# every input that once crashed a parser or passed a bad file must now be refused cleanly.
# usage: replay.sh FUZZ_BIN_DIR CORPUS_DIR
set -euo pipefail
bin=$1 corpus=$2
source "$(dirname "$0")/target_options.sh"
status=0 total=0
for dir in "$corpus"/*/; do
  target=$(basename "$dir")
  exe="$bin/fuzz_$target"
  if [[ ! -x $exe ]]; then
    echo "FAIL: tests/corpus/$target has no fuzz target $exe" >&2
    status=1
    continue
  fi
  files=()
  for f in "$dir"*; do [[ -f $f && $(basename "$f") != README* ]] && files+=("$f"); done
  ((${#files[@]})) || continue
  total=$((total + ${#files[@]}))
  # As scripts/fuzz.sh runs it; libhdf5 keeps caches across files, which are no leaks.
  target_options "$target"
  if [[ $target == keras_h5 ]]; then target_asan+=:detect_leaks=0; fi
  flags=("${target_flags[@]}") asan=$target_asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}
  asan=${asan#:}
  if ! ASAN_OPTIONS=$asan timeout 300 "$exe" "${flags[@]}" "${files[@]}" >/dev/null 2>"$bin/replay_$target.log"; then
    echo "FAIL: fuzz_$target on tests/corpus/$target (log: $bin/replay_$target.log)" >&2
    tail -20 "$bin/replay_$target.log" >&2
    status=1
  fi
done
echo "replayed $total corpus inputs" >&2
exit $status
