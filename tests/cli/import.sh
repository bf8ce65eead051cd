#!/usr/bin/env bash
# cnn-import end to end: the ONNX MNIST model (and cnn-eval of it on MNIST), SqueezeNet 1.1 from
# its .npy folder, Keras HDF5 weights in Keras 1 and 2 layouts (files made with h5py here), and
# bad inputs: each gets one sentence naming the file and the node/layer/tensor, exit 3, and
# leaves no output directory behind.
# usage: import.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
# Debian's python3 with numpy and h5py (a pyenv shim on PATH may lack them).
py=/usr/bin/python3
data="$src/../shared/data"
need_data "$data/onnx-mnist" "$data/squeezenet1.1" "$data/coral-imagenet-test"

# expect_bad OUT_DIR TEXT... -- COMMAND...: exit 3, one line on stderr containing every TEXT,
# nothing on stdout, and OUT_DIR not created.
expect_bad() {
  local out=$1 rc=0
  shift
  local texts=()
  while [[ $1 != -- ]]; do texts+=("$1"); shift; done
  shift
  "$@" > "$work/stdout" 2> "$work/stderr" || rc=$?
  [[ $rc -eq 3 ]] || fail "$*: exit $rc, expected 3: $(cat "$work/stderr")"
  [[ $(wc -l < "$work/stderr") -eq 1 ]] || fail "$*: not one line: $(cat "$work/stderr")"
  for t in "${texts[@]}"; do
    grep -qF -- "$t" "$work/stderr" || fail "$*: '$t' not in: $(cat "$work/stderr")"
  done
  [[ ! -s "$work/stdout" ]] || fail "$*: output on stdout"
  [[ ! -e "$out" ]] || fail "$*: left $out behind"
}

# --- usage ---
"$bin/cnn-import" --help > /dev/null || fail "--help"
"$bin/cnn-import" onnx --help > /dev/null || fail "onnx --help"
rc=0; "$bin/cnn-import" 2> /dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "no subcommand: exit $rc, expected 2"
rc=0; "$bin/cnn-import" onnx "$data/onnx-mnist/model.onnx" --bogus -o "$work/x" 2> /dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "bad flag: exit $rc, expected 2"

# --- ONNX: the model zoo MNIST CNN ---
"$bin/cnn-import" onnx "$data/onnx-mnist/model.onnx" -o "$work/mnist" --softmax --json -q \
  > "$work/mnist.json"
"$py" - "$work/mnist.json" "$work/mnist/model.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["params"] == 5994 and r["model"] == "CNTKGraph", r
m = json.load(open(sys.argv[2]))
types = [l["type"] for l in m["layers"]]
assert types == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense",
                 "Activation"], types
assert m["input_shape"] == [28, 28, 1] and m["preprocessing"]["rescale"] == 1, m
EOF
"$bin/cnn-summary" "$work/mnist/model.json" --weights "$work/mnist/weights.safetensors" \
  > /dev/null || fail "imported MNIST weights do not fit"
# The raw 0..255 pixels the model expects come from its preprocessing block.
"$bin/cnn-eval" "$work/mnist" --data mnist:test --min-accuracy 0.985 -q > /dev/null \
  || fail "imported ONNX MNIST below 0.985 on mnist:test"
# An output directory with files is refused without --overwrite.
expect_bad "$work/nonexistent" "$work/mnist" "--overwrite" -- \
  "$bin/cnn-import" onnx "$data/onnx-mnist/model.onnx" -o "$work/mnist"
"$bin/cnn-import" onnx "$data/onnx-mnist/model.onnx" -o "$work/mnist" --overwrite -q \
  || fail "--overwrite"

# An unsupported operator: the op_type "Relu" of node ReLU32 renamed in the protobuf bytes
# (field 4, length 4).
"$py" - "$data/onnx-mnist/model.onnx" "$work/elux.onnx" <<'EOF'
import sys
b = open(sys.argv[1], "rb").read()
assert b.count(b"\x22\x04Relu") == 2
open(sys.argv[2], "wb").write(b.replace(b"\x22\x04Relu", b"\x22\x04Elux", 1))
EOF
expect_bad "$work/out" "elux.onnx" "node 'ReLU32' (Elux)" "operator 'Elux' is not supported" -- \
  "$bin/cnn-import" onnx "$work/elux.onnx" -o "$work/out"
head -c 9000 "$data/onnx-mnist/model.onnx" > "$work/cut.onnx"
expect_bad "$work/out" "cut.onnx" -- "$bin/cnn-import" onnx "$work/cut.onnx" -o "$work/out"
expect_bad "$work/out" "missing.onnx" "no such file" -- \
  "$bin/cnn-import" onnx "$work/missing.onnx" -o "$work/out"

# --- .npy folder: SqueezeNet 1.1 ---
sq="$src/configs/models/squeezenet1_1.json"
map="$src/configs/import/squeezenet1_1_npy_map.json"
"$bin/cnn-import" npy "$data/squeezenet1.1/weights" --model "$sq" --map "$map" -o "$work/sq" -q
"$bin/cnn-summary" "$work/sq/model.json" --weights "$work/sq/weights.safetensors" --json \
  > "$work/sq_summary.json" || fail "imported SqueezeNet weights do not fit"
"$py" - "$work/sq_summary.json" "$work/sq/weights.safetensors" "$data/squeezenet1.1/weights" <<'EOF'
import json, struct, sys
import numpy as np
s = json.load(open(sys.argv[1]))
assert s["total_params"] == 1235496, s["total_params"]
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    h = json.loads(f.read(n))
    data = f.read()
def get(name):
    t = h[name]
    return np.frombuffer(data[t["data_offsets"][0]:t["data_offsets"][1]], "<f4").reshape(t["shape"])
w = np.load(sys.argv[3] + "/squeezenet0_conv2_weight.npy")  # fire2 expand1x1, OIHW
assert np.array_equal(get("fire2_expand1x1.kernel"), w.transpose(2, 3, 1, 0))
w = np.load(sys.argv[3] + "/squeezenet0_conv3_weight.npy")  # fire2 expand3x3
assert np.array_equal(get("fire2_expand3x3.kernel"), w.transpose(2, 3, 1, 0))
EOF
# A truncated .npy names the file.
mkdir "$work/npy"
cp "$data"/squeezenet1.1/weights/*.npy "$work/npy/"
chmod u+w "$work"/npy/*.npy
head -c 1000 "$data/squeezenet1.1/weights/squeezenet0_conv5_weight.npy" \
  > "$work/npy/squeezenet0_conv5_weight.npy"
expect_bad "$work/out" "squeezenet0_conv5_weight.npy" -- \
  "$bin/cnn-import" npy "$work/npy" --model "$sq" --map "$map" -o "$work/out"
# A wrong shape names the file, the tensor and the parameter.
"$py" -c "import numpy as np; np.save('$work/npy/squeezenet0_conv5_weight.npy', np.zeros((64, 16, 3, 3), 'f4'))"
expect_bad "$work/out" "squeezenet0_conv5_weight.npy" "'fire3_expand1x1.kernel'" "[64, 16, 3, 3]" -- \
  "$bin/cnn-import" npy "$work/npy" --model "$sq" --map "$map" -o "$work/out"

# --- Keras HDF5: Keras 2 (fixed and variable-length names) and Keras 1 layouts ---
tiny="$src/tests/data/tiny_vgg.json"
for mode in keras2 keras2-vlen keras1; do
  "$py" "$src/tests/cli/make_keras_h5.py" write "$work/$mode.h5" "$mode"
  "$bin/cnn-import" keras-h5 "$work/$mode.h5" --model "$tiny" -o "$work/$mode" -q \
    || fail "keras-h5 $mode"
  "$py" "$src/tests/cli/make_keras_h5.py" check "$work/$mode.h5" "$mode" \
    "$work/$mode/weights.safetensors" > /dev/null || fail "keras-h5 $mode: values differ"
done
# A layer missing from the file: exit 3, or initialised with --allow-missing (and listed).
"$py" "$src/tests/cli/make_keras_h5.py" write "$work/missing.h5" missing
expect_bad "$work/out" "missing.h5" "layer 'block2_conv1'" "--allow-missing" -- \
  "$bin/cnn-import" keras-h5 "$work/missing.h5" --model "$tiny" -o "$work/out"
"$bin/cnn-import" keras-h5 "$work/missing.h5" --model "$tiny" -o "$work/partial" --allow-missing \
  --json 2> "$work/stderr" > "$work/partial.json"
grep -qF "block2_conv1.kernel" "$work/stderr" || fail "--allow-missing does not list what it left"
"$py" - "$work/partial.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["initialised"] == ["block2_conv1.kernel", "block2_conv1.bias"], r
EOF
"$py" "$src/tests/cli/make_keras_h5.py" check "$work/missing.h5" missing \
  "$work/partial/weights.safetensors" > /dev/null || fail "partial import values"
# A weight of the wrong shape names the layer, the dataset and both shapes.
"$py" "$src/tests/cli/make_keras_h5.py" write "$work/wrong_shape.h5" wrong_shape
expect_bad "$work/out" "wrong_shape.h5" "layer 'fc1'" "/fc1/fc1/kernel:0" "[96, 6]" "[96, 5]" -- \
  "$bin/cnn-import" keras-h5 "$work/wrong_shape.h5" --model "$tiny" -o "$work/out"
# Not HDF5 at all.
expect_bad "$work/out" "tiny_vgg.json" "not an HDF5 file" -- \
  "$bin/cnn-import" keras-h5 "$tiny" --model "$tiny" -o "$work/out"

# Class names: the imported SqueezeNet names the coral photos' classes (SOURCE.md's top-1s).
"$bin/cnn-import" npy "$data/squeezenet1.1/weights" --model "$sq" --map "$map" \
  --classes "$data/squeezenet1.1/synset.txt" -o "$work/sqc" -q
"$bin/cnn-eval" "$work/sqc" --images "$data/coral-imagenet-test/cat.bmp" \
  "$data/coral-imagenet-test/parrot.jpg" "$data/coral-imagenet-test/hot_dog.jpg" --json > "$work/coral.json"
"$py" - "$work/coral.json" "$work/sqc/class_indices.json" <<'EOF' || fail "coral predictions"
import json, sys
p = [x["predicted"] for x in json.load(open(sys.argv[1]))["predictions"]]
assert p == ["Egyptian cat", "macaw", "hotdog, hot dog, red hot"], p
ci = json.load(open(sys.argv[2]))
assert len(ci) == 1000 and ci["crane (n03126707)"] == 517 and ci["tench, Tinca tinca"] == 0
EOF
printf 'cat\ndog\n' > "$work/two.txt"
expect_bad "$work/out" "two.txt" "2 class names" "1000 outputs" -- \
  "$bin/cnn-import" npy "$data/squeezenet1.1/weights" --model "$sq" --map "$map" \
  --classes "$work/two.txt" -o "$work/out"

echo "import: ok"
