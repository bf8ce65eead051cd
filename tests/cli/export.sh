#!/usr/bin/env bash
# cnn-export onnx against an independent runtime: ONNX Runtime (onnxruntime-node from npm;
# scripts/install-deps.sh puts it in build-npm/). Models with random weights
# (tests/onnx/random_weights.py) and SqueezeNet 1.1 with its ImageNet weights are exported;
# ONNX Runtime's outputs, for a batch of 7 and for each sample alone, must equal
# cnn-extract-features' within 1e-5 (1e-4 for SqueezeNet); the exported files must pass the
# ONNX checker (python3-onnx, with shape inference); and cnn-import onnx must bring each one
# back with bit-identical weights computing the same outputs. Then bad input: one sentence and
# nothing written.
# usage: export.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
py=/usr/bin/python3
ot="$src/tests/onnx"
cd "$work"

expect_bad() {  # expect_bad CODE OUT TEXT -- COMMAND...
  local code=$1 out=$2 text=$3 rc=0
  shift 4
  "$@" > stdout 2> stderr || rc=$?
  [[ $rc -eq $code ]] || fail "$*: exit $rc, expected $code: $(cat stderr)"
  [[ $code -ne 3 || $(wc -l < stderr) -eq 1 ]] || fail "$*: not one line: $(cat stderr)"
  grep -qF -- "$text" stderr || fail "$*: '$text' not in: $(cat stderr)"
  [[ ! -e "$out" ]] || fail "$*: left $out behind"
}

# A model directory (model.json + weights.safetensors + class_indices.json) with random weights.
make_model() {  # make_model ARCH DIR
  mkdir -p "$2"
  cp "$1" "$2/model.json"
  "$bin/cnn-summary" --json "$1" > "$2/summary.json"
  $py "$ot/random_weights.py" "$2/summary.json" "$2/weights.safetensors"
}

# --- bad input (no ONNX Runtime needed) ---
make_model "$src/configs/models/mnist_convnet.json" mnist
expect_bad 3 none.onnx "no such run directory" -- "$bin/cnn-export" onnx missing_run -o none.onnx
mkdir noweights && cp "$src/configs/models/mnist_convnet.json" noweights/model.json
expect_bad 3 none.onnx "weights" -- "$bin/cnn-export" onnx noweights -o none.onnx
expect_bad 2 none.onnx "--opset" -- "$bin/cnn-export" onnx mnist -o none.onnx --opset 12
head -c 1000 mnist/weights.safetensors > short.safetensors
expect_bad 3 none.onnx "short.safetensors" -- "$bin/cnn-export" onnx mnist --weights short.safetensors -o none.onnx
# A failed export leaves an existing file as it was.
echo keep > kept.onnx
"$bin/cnn-export" onnx mnist --weights short.safetensors -o kept.onnx 2> /dev/null && fail "short weights exported"
[[ $(cat kept.onnx) == keep ]] || fail "a failed export changed the existing file"

# --- the ONNX checker (python3-onnx) ---
"$bin/cnn-export" onnx mnist -o mnist.onnx -q
$py - mnist.onnx <<'PY' || fail "the ONNX checker refused the export"
import sys
import onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
i, o = m.graph.input[0], m.graph.output[0]
dims = [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
assert dims == ["N", 28, 28, 1], dims
assert m.opset_import[0].version == 13
PY

# Hostile metadata (300,000 levels of JSON) is read through parse_json's depth limit: ignored
# with a note, and the import goes on.
$py - mnist.onnx deep.onnx <<'PY'
import sys
import onnx
m = onnx.load(sys.argv[1])
p = m.metadata_props.add()
p.key, p.value = "class_names", "[" * 300000 + "]" * 300000
q = m.metadata_props.add()
q.key, q.value = "preprocessing", '{"a":' * 300000 + "1" + "}" * 300000
onnx.save(m, sys.argv[2])
PY
"$bin/cnn-import" onnx deep.onnx -o deep 2> deep.log || fail "deep metadata: $(cat deep.log)"
grep -q "metadata class_names ignored" deep.log || fail "deep metadata: $(cat deep.log)"

# --- cnn-export keras-h5: back through cnn-import keras, and rebuilt in TensorFlow.js ---
npm_dir="$src/build-npm/node_modules"
kt="$src/tests/keras"
# What Keras cannot express is refused naming the file, the key and the layer; nothing written.
make_model "$ot/every_layer.json" every_bgr
expect_bad 3 k.h5 "/preprocessing/channel_order" -- "$bin/cnn-export" keras-h5 every_bgr -o k.h5 \
  --model-json k.json
[[ ! -e k.json ]] || fail "a refused Keras export left k.json"
$py - every_bgr/model.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["preprocessing"]["channel_order"] = "rgb"
json.dump(m, open(sys.argv[1], "w"))
PY
expect_bad 3 k.h5 "layer 'max_explicit'" -- "$bin/cnn-export" keras-h5 every_bgr -o k.h5
grep -qF "explicit pooling padding" stderr || fail "keras-h5: $(cat stderr)"
if command -v node > /dev/null && [[ -f "$npm_dir/@tensorflow/tfjs/package.json" ]]; then
  node "$ot/ort_check.js" inputs '[28,28,1]' 7 0 1 k28.cnnrec
  keras_check() {  # keras_check NAME DIR X.cnnrec
    local name=$1 dir=$2 x=$3 out
    out=$("$bin/cnn-summary" --json "$dir/model.json" | $py -c "import json,sys; print(json.load(sys.stdin)['layers'][-1]['name'])")
    "$bin/cnn-export" keras-h5 "$dir" -o "$name.h5" --model-json "$name.json" -q
    "$bin/cnn-import" keras "$name.json" --weights "$name.h5" -o "kback_$name" -q
    $py "$ot/same_weights.py" "$dir/weights.safetensors" "kback_$name/weights.safetensors" ||
      fail "$name: the Keras files give other weights"
    "$bin/cnn-extract-features" "$dir" --layer "$out" --pool none --data "$x" -o "k_$name.csv" -q
    $py "$kt/h5_weights.py" "$name.h5" "kw_$name"
    NODE_PATH="$npm_dir" node "$kt/keras_rebuild.js" "$name.json" "kw_$name" "$x" "k_$name.csv" 1e-5 2> /dev/null |
      grep "max |" || fail "$name: TensorFlow.js rebuilt from the Keras files computes otherwise"
  }
  keras_check mnist_convnet mnist k28.cnnrec
  make_model "$src/configs/models/resnet_small.json" k_resnet
  keras_check resnet_small k_resnet k28.cnnrec
  make_model "$src/configs/models/features_head_512.json" k_head  # a vector input
  node "$ot/ort_check.js" inputs '[512]' 7 0 1 k512.cnnrec
  keras_check features_head_512 k_head k512.cnnrec
  # Every layer Keras has, with the preprocessing as a Rescaling layer, leaky_relu split out
  make_model "$kt/every_layer.json" k_every
  node "$ot/ort_check.js" inputs '[17,15,3]' 7 0 255 k_every.cnnrec
  keras_check keras_every_layer k_every k_every.cnnrec
else
  echo "export: TensorFlow.js is absent; the Keras export is not rebuilt there" >&2
fi

# --- against ONNX Runtime ---
if ! command -v node > /dev/null || [[ ! -f "$npm_dir/onnxruntime-node/package.json" ]]; then
  echo "SKIPPED: onnxruntime-node is absent ($npm_dir; scripts/install-deps.sh installs it with npm)" >&2
  exit 77
fi
export NODE_PATH="$npm_dir"

# check NAME DIR INPUTS.cnnrec TOL [EXPORT FLAGS...]: export, compare with ONNX Runtime, import
# back and compare weights and outputs.
check() {
  local name=$1 dir=$2 x=$3 tol=$4
  shift 4
  local out
  out=$("$bin/cnn-summary" --json "$dir/model.json" | $py -c "import json,sys; print(json.load(sys.stdin)['layers'][-1]['name'])")
  "$bin/cnn-export" onnx "$dir" -o "$name.onnx" -q "$@"
  if [[ " $* " != *" --opset "* ]]; then  # python3-onnx 1.12's checker knows IR versions up to 8
    $py -c "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)" \
      "$name.onnx" || fail "$name: the ONNX checker refused the export"
  fi
  "$bin/cnn-extract-features" "$dir" --layer "$out" --pool none --data "$x" -o "$name.csv" -q
  node "$ot/ort_check.js" compare "$name.onnx" "$x" "$name.csv" "$tol" || fail "$name: ONNX Runtime computes otherwise"
  [[ $# -eq 0 ]] || return 0  # folded BatchNormalization: other weights by design
  "$bin/cnn-import" onnx "$name.onnx" -o "back_$name" -q
  $py "$ot/same_weights.py" "$dir/weights.safetensors" "back_$name/weights.safetensors" || fail "$name: the round trip changed the weights"
  local back_out
  back_out=$("$bin/cnn-summary" --json "back_$name/model.json" | $py -c "import json,sys; print(json.load(sys.stdin)['layers'][-1]['name'])")
  "$bin/cnn-extract-features" "back_$name" --layer "$back_out" --pool none --data "$x" -o "back_$name.csv" -q
  $py - "$name.csv" "back_$name.csv" <<'PY' || fail "$name: the model imported back computes otherwise"
import csv, sys
a, b = (list(csv.reader(open(f)))[1:] for f in sys.argv[1:])
assert len(a) == len(b)
k = sum(1 for h in open(sys.argv[1]).readline().split(",") if h.startswith("f"))
worst = max(abs(float(x) - float(y)) for r, s in zip(a, b) for x, y in zip(r[:k], s[:k]))
assert worst <= 1e-6, worst
PY
}

node "$ot/ort_check.js" inputs '[28,28,1]' 7 0 1 x28.cnnrec
check mnist_convnet mnist x28.cnnrec 1e-5
make_model "$src/configs/models/mnist_convnet_base.json" base
check mnist_convnet_base base x28.cnnrec 1e-5  # an image output: NHWC, as here
for m in cats_dogs resnet_small inception_small features_head_512; do
  make_model "$src/configs/models/$m.json" "$m"
  shape=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['input_shape'])" "$m/model.json")
  node "$ot/ort_check.js" inputs "$shape" 7 0 1 "x_$m.cnnrec"
  check "$m" "$m" "x_$m.cnnrec" 1e-5
done
# Every layer type and option, and the declared preprocessing (BGR, mean, std) on raw pixels.
make_model "$ot/every_layer.json" every
node "$ot/ort_check.js" inputs '[17,15,3]' 7 0 255 x_every.cnnrec
check every_layer every x_every.cnnrec 1e-5
check every_layer_folded every x_every.cnnrec 1e-5 --fold-batch-norm
check every_layer_opset21 every x_every.cnnrec 1e-5 --opset 21
grep -q "bn_conv" every_layer.onnx && ! grep -q "bn_conv" every_layer_folded.onnx ||
  fail "--fold-batch-norm left the BatchNormalization in"

# SqueezeNet 1.1 with its ImageNet weights, on noise and on photos.
data="$src/../shared/data"
if [[ -d "$data/squeezenet1.1" && -d "$data/coral-imagenet-test" ]]; then
  "$bin/cnn-import" npy "$data/squeezenet1.1/weights" --model "$src/configs/models/squeezenet1_1.json" \
    --map "$src/configs/import/squeezenet1_1_npy_map.json" --classes "$data/squeezenet1.1/synset.txt" -o sq -q
  node "$ot/ort_check.js" inputs '[224,224,3]' 7 0 255 x_sq.cnnrec
  check squeezenet sq x_sq.cnnrec 1e-4
  mkdir -p photos/x && cp "$data"/coral-imagenet-test/*.jpg photos/x/
  "$bin/cnn-augment" photos --target-size 224 224 --stream --epochs 1 -q > photos.cnnrec
  check squeezenet_photos sq photos.cnnrec 1e-4
  # The class names travel in the file's metadata and come back.
  cmp -s sq/class_indices.json back_squeezenet/class_indices.json || fail "class names lost in the round trip"
else
  echo "export: ../shared/data/squeezenet1.1 absent; SqueezeNet not checked" >&2
fi
echo "export: ONNX Runtime agrees; round trips bit-identical"
