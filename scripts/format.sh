#!/usr/bin/env bash
# The C++ sources in the project's style (.clang-format: Google's, 100 columns), by clang-format
# 14 (Debian: clang-format-14). With --check, changes nothing and exits 1 naming the files that
# are not formatted (what .ci/run does); without it, formats them in place.
# usage: scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
tool=$(command -v clang-format-14 || command -v clang-format || true)
[[ -n $tool ]] || { echo "format: clang-format-14 is not installed (make deps)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [[ ${1:-} == --check ]]; then
  bad=()
  for f in "${files[@]}"; do
    "$tool" --dry-run --Werror "$f" > /dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format: ${#bad[@]} file(s) differ from .clang-format; run scripts/format.sh:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files formatted" >&2
else
  "$tool" -i "${files[@]}"
fi
