#!/usr/bin/env bash
# The model zoo, checked in one command (share/zoo.md): every pretrained network available
# offline here is imported, checked against its reference outputs, exported to ONNX and run in
# ONNX Runtime. A CI job runs it on the models a team ships; it exits 1 on the first model that
# fails and prints one line per check.
#   scripts/zoo.sh [-o DIR]    (DIR keeps the imported models and .onnx files; default: a
#                               temporary folder, removed)
# Environment: BIN (default build/bin), DATA (default ../shared/data next to the checkout).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BIN:-$root/build/bin}
data=${DATA:-$root/../shared/data}
py=/usr/bin/python3
out=""
while getopts "o:" opt; do
  case $opt in
    o) out=$OPTARG ;;
    *) echo "usage: scripts/zoo.sh [-o DIR]" >&2; exit 2 ;;
  esac
done
if [[ -z $out ]]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"
[[ -x $bin/cnn-import ]] || { echo "zoo: $bin/cnn-import is missing; build first (make)" >&2; exit 2; }
ort=0
if command -v node > /dev/null && [[ -f $root/build-npm/node_modules/onnxruntime-node/package.json ]]; then
  ort=1
  export NODE_PATH=$root/build-npm/node_modules
else
  echo "zoo: onnxruntime-node is absent (scripts/install-deps.sh); the ONNX Runtime checks are skipped" >&2
fi

# check NAME REF_LAYER RTOL TOL REF_INPUTS... -- REF_OUTPUTS...: the model in $out/NAME
# against its reference outputs at REF_LAYER (the logits); then exported to ONNX whole, and up to
# REF_LAYER, and both files run in ONNX Runtime on the same inputs (TOL: the logits' bound, as
# ort_check.js takes it: rel:R is R times the largest |logit|).
check() {
  local name=$1 ref_layer=$2 rtol=$3 tol=$4 ins=() outs=()
  shift 4
  while [[ $1 != -- ]]; do ins+=("$1"); shift; done
  shift
  outs=("$@")
  local m=$out/$name
  $py "$root/scripts/zoo_check.py" inputs "$m" "$m.ref.cnnrec" "${ins[@]}"
  "$bin/cnn-extract-features" "$m" --layer "$ref_layer" --pool none --data "$m.ref.cnnrec" \
    -o "$m.ref.npy" -q
  echo -n "zoo: $name: reference outputs ($ref_layer): "
  $py "$root/scripts/zoo_check.py" compare "$m.ref.npy" "$rtol" "${outs[@]}"
  "$bin/cnn-export" onnx "$m" -o "$m.onnx" -q
  "$bin/cnn-export" onnx "$m" --layer "$ref_layer" -o "$m.logits.onnx" -q
  if ((ort)); then
    local out_layer
    out_layer=$("$bin/cnn-summary" --json "$m/model.json" |
      $py -c "import json,sys; print(json.load(sys.stdin)['layers'][-1]['name'])")
    "$bin/cnn-extract-features" "$m" --layer "$out_layer" --pool none --data "$m.ref.cnnrec" \
      -o "$m.out.csv" -q
    "$bin/cnn-extract-features" "$m" --layer "$ref_layer" --pool none --data "$m.ref.cnnrec" \
      -o "$m.logits.csv" -q
    echo -n "zoo: $name: in ONNX Runtime, probabilities: "
    node "$root/tests/onnx/ort_check.js" compare "$m.onnx" "$m.ref.cnnrec" "$m.out.csv" 1e-6
    echo -n "zoo: $name: in ONNX Runtime, up to $ref_layer: "
    node "$root/tests/onnx/ort_check.js" compare "$m.logits.onnx" "$m.ref.cnnrec" "$m.logits.csv" "$tol"
  fi
}

# SqueezeNet 1.1 (ImageNet), from its .npy weights, with the ImageNet preprocessing declared;
# references: three NCHW inputs and their logits (before the softmax).
sq=$data/squeezenet1.1
"$bin/cnn-import" npy "$sq/weights" --model "$root/configs/models/squeezenet1_1.json" \
  --map "$root/configs/import/squeezenet1_1_npy_map.json" --classes "$sq/synset.txt" \
  -o "$out/squeezenet1_1" --overwrite -q
check squeezenet1_1 pool10 1e-5 rel:1e-5 "$sq"/test_data_set/{0,1,2}/input_0.npy -- \
  "$sq"/test_data_set/{0,1,2}/output_0.npy

# The ONNX model zoo's MNIST CNN, as the README imports it (inputs 0..1: --rescale 1/255, a
# softmax after its logits); references: three inputs and their logits.
mn=$data/onnx-mnist
"$bin/cnn-import" onnx "$mn/model.onnx" --softmax --rescale 0.00392156862745098 \
  -o "$out/onnx_mnist" --overwrite -q
logits=$("$bin/cnn-summary" --json "$out/onnx_mnist/model.json" |
  $py -c "import json,sys; print(json.load(sys.stdin)['layers'][-2]['name'])")
check onnx_mnist "$logits" 1e-5 rel:1e-5 "$mn"/test_data_set_{0,1,2}/input_0.pb -- \
  "$mn"/test_data_set_{0,1,2}/output_0.pb
echo "zoo: every model matches its references$( ((ort)) && echo " and runs in ONNX Runtime")"
