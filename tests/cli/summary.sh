#!/usr/bin/env bash
# cnn-summary end to end: golden summaries of every config, --json, exit codes for bad input.
# usage: summary.sh BIN_DIR SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Golden text: the lecture's own Keras output for the MNIST convnets; ours for the rest.
for golden in "$src"/tests/golden/summary/*.txt; do
  name=$(basename "$golden" .txt)
  "$bin/cnn-summary" "$src/configs/models/$name.json" > "$work/$name.txt"
  diff -u "$golden" "$work/$name.txt" || fail "summary of $name differs from $golden"
done

# --json: valid JSON, nothing else on stdout, the same totals.
"$bin/cnn-summary" --json "$src/configs/models/cats_dogs.json" > "$work/s.json"
python3 - "$work/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["total_params"] == 3453121, s["total_params"]
assert s["trainable_params"] == 3453121
assert s["layers"][0]["output_shape"] == [None, 148, 148, 32]
PY

# Exit codes: --help 0, bad flag 2, missing or malformed input 3 with the path on stderr.
"$bin/cnn-summary" --help > /dev/null || fail "--help"
"$bin/cnn-summary" --version | grep -q "cnn-summary" || fail "--version"
set +e
"$bin/cnn-summary" --no-such-flag x.json 2> "$work/err"; rc=$?
[[ $rc -eq 2 ]] || fail "bad flag exit $rc"
"$bin/cnn-summary" "$work/missing.json" 2> "$work/err"; rc=$?
[[ $rc -eq 3 ]] || fail "missing file exit $rc"
grep -q "missing.json" "$work/err" || fail "missing file not named"
echo '{"name": "m", "input_shape": [4, 4, 1], "layers": [{"type": "Dens", "units": 3}]}' > "$work/bad.json"
"$bin/cnn-summary" "$work/bad.json" > "$work/out" 2> "$work/err"; rc=$?
[[ $rc -eq 3 ]] || fail "bad layer exit $rc"
grep -q "bad.json: /layers/0/type: unknown layer type 'Dens'" "$work/err" || fail "bad layer message: $(cat "$work/err")"
[[ $(wc -l < "$work/err") -eq 1 ]] || fail "error is not one line"
[[ ! -s "$work/out" ]] || fail "stdout not empty on error"
set -e
echo "summary: ok"
