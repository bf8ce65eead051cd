#!/usr/bin/env bash
# cnn-import keras against an independent implementation of Keras: TensorFlow.js (npm, pure
# JavaScript; scripts/install-deps.sh puts it in build-npm/) builds models with random weights
# (tests/keras/tfjs_models.js) and predicts a batch; the models come in as TensorFlow.js
# model.json files, as Keras 2 to_json() text with save_weights() HDF5 and as Keras 2
# whole-model HDF5 (tests/keras/tfjs_to_h5.py), and in Keras 3's JSON form
# (tests/keras/keras3_form.py); cnn-extract-features' outputs must
# equal TensorFlow.js's within 1e-5. Then bad files: one sentence, exit 3, nothing written.
# usage: keras.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
py=/usr/bin/python3
kt="$src/tests/keras"
cd "$work"

expect_bad() {  # expect_bad OUT_DIR TEXT -- COMMAND...
  local out=$1 text=$2 rc=0
  shift 3
  "$@" > stdout 2> stderr || rc=$?
  [[ $rc -eq 3 ]] || fail "$*: exit $rc, expected 3: $(cat stderr)"
  [[ $(wc -l < stderr) -eq 1 ]] || fail "$*: not one line: $(cat stderr)"
  grep -qF -- "$text" stderr || fail "$*: '$text' not in: $(cat stderr)"
  [[ ! -e "$out" ]] || fail "$*: left $out behind"
}

# --- bad files (no TensorFlow.js needed) ---
seq() {  # a Sequential to_json() with one layer of class $1 and config $2
  printf '{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "%s", "config": %s}]}}' "$1" "$2"
}
seq SeparableConv2D '{"name": "sep", "batch_input_shape": [null, 8, 8, 3], "filters": 4, "kernel_size": 3}' > sep.json
expect_bad o1 "layer 'sep'" -- "$bin/cnn-import" keras sep.json --weights x.h5 -o o1
grep -qF "SeparableConv2D has no equivalent" stderr || fail "sep: $(cat stderr)"
seq Conv2D '{"name": "c", "batch_input_shape": [null, 3, 8, 8], "filters": 4, "kernel_size": 3, "data_format": "channels_first"}' > cf.json
expect_bad o2 "channels_first" -- "$bin/cnn-import" keras cf.json --weights x.h5 -o o2
seq Dense '{"name": "d", "batch_input_shape": [null, 4], "units": 2, "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}}}' > reg.json
expect_bad o3 "/config/layers/0/config/kernel_regularizer" -- "$bin/cnn-import" keras reg.json --weights x.h5 -o o3
seq Dense '{"name": "d", "batch_input_shape": [null, 4], "units": 2}' > arch.json
expect_bad o4 "holds only the architecture" -- "$bin/cnn-import" keras arch.json -o o4
seq Dense '{"name": "d", "batch_input_shape": [null, null, 4], "units": 2}' > var.json
expect_bad o5 "fixed input size" -- "$bin/cnn-import" keras var.json --weights x.h5 -o o5
echo '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Sequential", "config": {"name": "inner", "layers": []}}]}}' > nested.json
expect_bad o6 "nested" -- "$bin/cnn-import" keras nested.json --weights x.h5 -o o6
echo 'not json' > m.h5
expect_bad o7 "not an HDF5 file" -- "$bin/cnn-import" keras m.h5 -o o7
echo 'PK' > m.keras
expect_bad o7 "not a zip archive" -- "$bin/cnn-import" keras m.keras -o o7
$py -c "import zipfile; zipfile.ZipFile('other.keras', 'w').writestr('readme.txt', 'hello')"
expect_bad o7 "the archive has no config.json" -- "$bin/cnn-import" keras other.keras -o o7

# --- against TensorFlow.js ---
npm_dir="$src/build-npm/node_modules"
if ! command -v node > /dev/null || [[ ! -f "$npm_dir/@tensorflow/tfjs/package.json" ]]; then
  echo "SKIPPED: TensorFlow.js is absent ($npm_dir; scripts/install-deps.sh installs it with npm)" >&2
  exit 77
fi
export NODE_PATH="$npm_dir"
node "$kt/tfjs_models.js" models > node.log 2>&1 || fail "tfjs_models.js: $(tail -5 node.log)"
for m in seq_convnet functional vector_head; do
  d=models/$m
  layer=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['output_layer'])" "$d/expected.json")
  # 1. the TensorFlow.js model.json with its weights
  "$bin/cnn-import" keras "$d/model.json" -o "imp_$m" -q
  "$bin/cnn-extract-features" "imp_$m" --layer "$layer" --pool none --data "$d/x.cnnrec" -o "$m.csv" -q
  node "$kt/tfjs_models.js" --compare "$d/expected.json" "$m.csv" 2> /dev/null || fail "$m: outputs differ from TensorFlow.js"
  # 2. Keras 2 to_json() + save_weights() HDF5: the same model, bit for bit
  $py "$kt/tfjs_to_h5.py" "$d" "$d/w.h5"
  "$bin/cnn-import" keras "$d/keras.json" --weights "$d/w.h5" -o "h5_$m" -q
  cmp -s "imp_$m/weights.safetensors" "h5_$m/weights.safetensors" || fail "$m: the HDF5 route gives other weights"
  # 2b. Keras 2's whole-model file (model.save('m.h5')): model_config and /model_weights
  $py "$kt/tfjs_to_h5.py" "$d" "$d/m.h5" --whole
  "$bin/cnn-import" keras "$d/m.h5" -o "whole_$m" -q
  cmp -s "imp_$m/weights.safetensors" "whole_$m/weights.safetensors" || fail "$m: the whole-model file gives other weights"
  # 3. the same in Keras 3's JSON form
  $py "$kt/keras3_form.py" "$d/keras.json" "$d/k3.json"
  "$bin/cnn-import" keras "$d/k3.json" --weights "$d/w.h5" -o "k3_$m" -q
  cmp -s "imp_$m/weights.safetensors" "k3_$m/weights.safetensors" || fail "$m: the Keras 3 form gives other weights"
  "$bin/cnn-extract-features" "k3_$m" --layer "$layer" --pool none --data "$d/x.cnnrec" -o "k3_$m.csv" -q
  cmp -s "$m.csv" "k3_$m.csv" || fail "$m: the Keras 3 form computes otherwise"
  # 4. a Keras 3 .keras archive: config.json and model.weights.h5 in Keras 3's layout
  $py "$kt/keras3_archive.py" "$d" "$d/k3.json" "$d/m.keras"
  "$bin/cnn-import" keras "$d/m.keras" -o "zip_$m" -q
  cmp -s "imp_$m/weights.safetensors" "zip_$m/weights.safetensors" || fail "$m: the .keras archive gives other weights"
done
# A .keras archive cut short, and one whose weights miss a layer.
head -c 3000 models/functional/m.keras > cut.keras
expect_bad o11 "cut.keras" -- "$bin/cnn-import" keras cut.keras -o o11
$py - models/functional/m.keras gap.keras <<'PY'
import io, sys, zipfile
import h5py
z = zipfile.ZipFile(sys.argv[1])
buf = io.BytesIO(z.read("model.weights.h5"))
with h5py.File(buf, "a") as f:
    del f["layers/conv2d_1"]
with zipfile.ZipFile(sys.argv[2], "w") as out:
    for n in ("metadata.json", "config.json"):
        out.writestr(n, z.read(n))
    out.writestr("model.weights.h5", buf.getvalue())
PY
expect_bad o12 "gap.keras/model.weights.h5: layer 'b'" -- "$bin/cnn-import" keras gap.keras -o o12

# A truncated weight shard and a manifest naming a file outside the model's folder.
cp -r models/functional trunc
head -c 100 models/functional/weights.bin > trunc/weights.bin
expect_bad o8 "end inside weight" -- "$bin/cnn-import" keras trunc/model.json -o o8
$py - models/functional/model.json > escape.json <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["weightsManifest"][0]["paths"] = ["../secret.bin"]
print(json.dumps(m))
PY
expect_bad o9 "not a file name beside model.json" -- "$bin/cnn-import" keras escape.json -o o9
# A weights file cut short: libhdf5 (in its child process) finds it damaged.
head -c 2000 models/functional/w.h5 > short.h5
expect_bad o13 "short.h5" -- "$bin/cnn-import" keras models/functional/keras.json --weights short.h5 -o o13
# A save_weights() file where a whole model was expected.
expect_bad o10 "no model_config" -- "$bin/cnn-import" keras models/functional/w.h5 -o o10
echo "keras: TensorFlow.js models imported five ways and matched"
