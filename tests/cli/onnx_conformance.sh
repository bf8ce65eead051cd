#!/usr/bin/env bash
# ONNX's own conformance tests through cnn-import onnx: the node tests of python3-onnx (generated
# with their reference outputs) for the operators this project imports, whose data input is an
# NCHW image batch or an [N, K] matrix (tests/onnx/conformance.py says which and why).
# usage: onnx_conformance.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
py=/usr/bin/python3
if ! $py -c "import onnx" 2> /dev/null; then
  echo "SKIPPED: python3-onnx is absent (scripts/install-deps.sh installs it)" >&2
  exit 77
fi
$py "$src/tests/onnx/conformance.py" "$bin" "$work" > "$work/log" || {
  grep -v "^pass" "$work/log" >&2
  fail "ONNX conformance tests failed"
}
grep -v "^pass" "$work/log"
