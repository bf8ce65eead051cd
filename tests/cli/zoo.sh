#!/usr/bin/env bash
# The model zoo's one-command check (scripts/zoo.sh, share/zoo.md) as part of make test: each
# pretrained network here matches its reference outputs and, exported to ONNX, runs in ONNX
# Runtime with the same outputs. A check that fails makes scripts/zoo.sh exit 1.
# usage: zoo.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data "$src/../shared/data/squeezenet1.1" "$src/../shared/data/onnx-mnist"
if ! /usr/bin/python3 -c "import onnx" 2> /dev/null; then
  echo "SKIPPED: python3-onnx is absent (scripts/install-deps.sh installs it)" >&2
  exit 77
fi
BIN=$bin DATA="$src/../shared/data" "$src/scripts/zoo.sh" -o "$work/zoo" > "$work/log" 2>&1 ||
  fail "scripts/zoo.sh: $(cat "$work/log")"
cat "$work/log"
grep -q "runs in ONNX Runtime" "$work/log" || echo "zoo: ONNX Runtime checks skipped" >&2
# The check can fail: a reference output changed by 1% is caught.
/usr/bin/python3 - "$src/../shared/data/squeezenet1.1/test_data_set/0/output_0.npy" "$work/off.npy" <<'PY'
import sys
import numpy as np
y = np.load(sys.argv[1])
y[0, int(np.argmax(y))] *= 1.01
np.save(sys.argv[2], y)
PY
! /usr/bin/python3 "$src/scripts/zoo_check.py" compare "$work/zoo/squeezenet1_1.ref.npy" 1e-5 \
  "$work/off.npy" "$src/../shared/data/squeezenet1.1/test_data_set/1/output_0.npy" \
  "$src/../shared/data/squeezenet1.1/test_data_set/2/output_0.npy" > /dev/null ||
  fail "zoo_check.py accepted a reference output changed by 1%"
