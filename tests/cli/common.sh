# The start every tests/cli/*.sh shares, sourced right after `set -euo pipefail`:
#   source "$(dirname "$0")/common.sh"
# $1 and $2 of the script are the programs' folder and the source tree; `work` is a fresh
# directory removed when the script ends however it ends; `fail MESSAGE` ends the test; and
# `need_data PATH...` ends it as skipped (exit 77, which ctest reports as a skip) with one line
# naming what is absent, for a test that cannot run without data from outside the tree
# (../shared/data, or a Debian dataset package).
bin=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
need_data() {
  local path
  for path; do
    if [[ ! -e $path ]]; then
      echo "SKIPPED: $path is absent (../shared/data, or a Debian dataset package)" >&2
      exit 77
    fi
  done
}
