#!/usr/bin/env bash
# Weights files checked against an architecture (cnn-summary --weights): a file written by an
# independent writer loads; each kind of damage gets one sentence naming file and tensor, exit 3.
# usage: weights.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
model="$src/configs/models/mnist_convnet.json"
"$bin/cnn-summary" --json "$model" > "$work/summary.json"

python3 "$src/tests/cli/make_weights.py" "$work/summary.json" "$work/good.safetensors" good
"$bin/cnn-summary" --weights "$work/good.safetensors" "$model" > /dev/null || fail "good weights refused"

expect_bad() {  # MODE, text the message must contain
  local mode=$1 text=$2 rc=0
  python3 "$src/tests/cli/make_weights.py" "$work/summary.json" "$work/$mode.safetensors" "$mode"
  "$bin/cnn-summary" --weights "$work/$mode.safetensors" "$model" > "$work/out" 2> "$work/err" || rc=$?
  [[ $rc -eq 3 ]] || fail "$mode: exit $rc, expected 3"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$mode: not one line: $(cat "$work/err")"
  grep -q "$mode.safetensors" "$work/err" || fail "$mode: file not named: $(cat "$work/err")"
  grep -qF "$text" "$work/err" || fail "$mode: '$text' not in: $(cat "$work/err")"
  [[ ! -s "$work/out" ]] || fail "$mode: output on stdout"
}
expect_bad truncated "tensor 'dense_1.bias'"
expect_bad oversized_header "header length"
expect_bad out_of_range "tensor 'conv2d.kernel'"
expect_bad overlap "tensor 'conv2d.bias'"
expect_bad wrong_dtype "tensor 'conv2d.kernel'"
expect_bad missing "tensor 'conv2d.kernel' is missing"
expect_bad wrong_shape "tensor 'conv2d.kernel' has shape [3, 3, 1, 33]"
expect_bad extra "tensor 'ghost.kernel' is not a parameter"
echo "weights: ok"
