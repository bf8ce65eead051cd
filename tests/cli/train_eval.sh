#!/usr/bin/env bash
# cnn-train and cnn-eval end to end on small slices of real data: a pipeline, reproducibility,
# resume, SIGINT, the accuracy gate, --json, and bad inputs (exit 3, path named, no run dir).
# usage: train_eval.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data "$src/../shared/data/cats_and_dogs_filtered" /usr/share/datasets/fashion-mnist
tiny="$src/tests/data/tiny_convnet.json"
train=("$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32
       --steps-per-epoch 8 --seed 3 --threads 2 -q)

# A pipeline: train (--json on stdout names the run), then evaluate that run.
"${train[@]}" --epochs 2 -o "$work/a" --json > "$work/a.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['epochs']==2 and j['loss']>0" "$work/a.json" \
  || fail "--json output: $(cat "$work/a.json")"
for f in model.json weights.safetensors history.json history.csv train.json class_indices.json checkpoint/latest; do
  [[ -e "$work/a/$f" ]] || fail "run directory lacks $f"
done
# The version every --version prints is the one model.json and the weights file record.
version=$("$bin/cnn-train" --version | cut -d' ' -f2)
python3 - "$work/a" "$version" <<'PY' || fail "model.json or the weights do not record cnn_version $version"
import json, struct, sys
run, version = sys.argv[1:]
assert json.load(open(run + "/model.json"))["cnn_version"] == version
with open(run + "/weights.safetensors", "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
assert header["__metadata__"]["cnn_version"] == version, header["__metadata__"]
PY
python3 -c "import json,sys; h=json.load(open(sys.argv[1])); assert len(h)==2 and h[1]['loss']<h[0]['loss'], h" \
  "$work/a/history.json" || fail "the loss did not go down"
run=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['run_dir'])" "$work/a.json")
"$bin/cnn-eval" "$run" --data fashion-mnist:test --json > "$work/eval.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['samples']==10000 and 0<=j['accuracy']<=1; assert len(j['confusion_matrix']['labels'])==10" \
  "$work/eval.json" || fail "cnn-eval --json: $(head -c 300 "$work/eval.json")"

# Same seed, same threads: bit-identical weights.
"${train[@]}" --epochs 2 -o "$work/b"
cmp -s "$work/a/weights.safetensors" "$work/b/weights.safetensors" || fail "same seed, different weights"

# 2 epochs == 1 epoch + --resume to 2 (identical weights).
"${train[@]}" --epochs 1 -o "$work/c"
"$bin/cnn-train" --resume "$work/c" --epochs 2 --threads 2 -q
cmp -s "$work/a/weights.safetensors" "$work/c/weights.safetensors" || fail "resume differs from an uninterrupted run"

# Mixed precision (--precision bf16): the loss goes down, the run records it, the log says how
# the products run, the same seed gives the same weights, and they are not fp32's.
"$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32 --steps-per-epoch 8 \
  --seed 3 --threads 2 --epochs 2 --precision bf16 -o "$work/bf" 2> "$work/bf.err" \
  || fail "--precision bf16: $(cat "$work/bf.err")"
grep -q "Mixed precision: the training steps' matrix products in bfloat16" "$work/bf.err" \
  || fail "no mixed-precision line in: $(cat "$work/bf.err")"
python3 -c "import json,sys; assert json.load(open(sys.argv[1]))['precision']=='bf16'" "$work/bf/train.json" \
  || fail "train.json does not record precision bf16"
python3 -c "import json,sys; h=json.load(open(sys.argv[1])); assert h[1]['loss']<h[0]['loss'], h" \
  "$work/bf/history.json" || fail "bf16: the loss did not go down"
"${train[@]}" --epochs 2 --precision bf16 -o "$work/bf2"
cmp -s "$work/bf/weights.safetensors" "$work/bf2/weights.safetensors" || fail "bf16: same seed, different weights"
! cmp -s "$work/a/weights.safetensors" "$work/bf/weights.safetensors" || fail "bf16 gave fp32's weights"

# The accuracy gate: exit 4 below the bar, 0 above it.
rc=0; "$bin/cnn-eval" "$work/a" --data fashion-mnist:test --min-accuracy 0.999 -q > /dev/null || rc=$?
[[ $rc -eq 4 ]] || fail "--min-accuracy 0.999 exited $rc, expected 4"
"$bin/cnn-eval" "$work/a" --data fashion-mnist:test --min-accuracy 0.05 -q > /dev/null || fail "gate 0.05"

# SIGINT: finish the step, write a checkpoint, exit 130; the checkpoint resumes.
"$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32 --epochs 50 \
  --seed 3 -q -o "$work/int" & pid=$!
for _ in $(seq 100); do [[ -e "$work/int/train.json" ]] && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
rc=0; wait $pid || rc=$?
[[ $rc -eq 130 ]] || fail "SIGINT exited $rc, expected 130"
[[ -e "$work/int/checkpoint/latest" ]] || fail "no checkpoint after SIGINT"
"$bin/cnn-summary" --weights "$work/int/checkpoint/$(cat "$work/int/checkpoint/latest")/weights.safetensors" \
  "$work/int/model.json" > /dev/null || fail "the SIGINT checkpoint does not load"

# Bad inputs: exit 3, one sentence naming the path, no run directory left behind.
expect_bad() {  # NAME TEXT ARGS...
  local name=$1 text=$2 rc=0; shift 2
  "$bin/cnn-train" --seed 1 -q -o "$work/bad-$name" --steps-per-epoch 1 "$@" > "$work/out" 2> "$work/err" || rc=$?
  [[ $rc -eq 3 ]] || fail "$name: exit $rc, expected 3: $(cat "$work/err")"
  grep -qF -- "$text" "$work/err" || fail "$name: '$text' not in: $(cat "$work/err")"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$name: not one line: $(cat "$work/err")"
  [[ ! -e "$work/bad-$name" ]] || fail "$name: left a run directory"
  [[ ! -s "$work/out" ]] || fail "$name: wrote to stdout"
}
expect_bad missing-model "$work/nope.json" --model "$work/nope.json"
expect_bad unknown-loss "/loss: unknown value 'sparse_crossentropy'" --model "$tiny" --loss sparse_crossentropy
expect_bad bad-precision "/precision: unknown value 'fp16'" --model "$tiny" --precision fp16
expect_bad bad-monitor "/early_stopping/monitor" --model "$tiny" --early-stopping '{"monitor": "val_loss"}'
expect_bad missing-data "$work/nodata" --model "$tiny" --data "$work/nodata"
mkdir -p "$work/idx"
printf 'not an idx file at all' > "$work/idx/images"
python3 - "$work/idx" <<'PY'
import struct, sys, os
d = sys.argv[1]
open(os.path.join(d, "img3"), "wb").write(struct.pack(">IIII", 0x803, 3, 28, 28) + bytes(3 * 784))
open(os.path.join(d, "lab2"), "wb").write(struct.pack(">II", 0x801, 2) + bytes(2))
PY
expect_bad corrupt-idx "$work/idx/images" --model "$tiny" --data "idx:$work/idx/images,$work/idx/lab2"
expect_bad count-mismatch "$work/idx/lab2" --model "$tiny" --data "idx:$work/idx/img3,$work/idx/lab2"
photos="$src/../shared/data/cats_and_dogs_filtered/train"
mkdir -p "$work/photos/cats" "$work/photos/dogs"
cp "$photos"/cats/cat.{0,1,2}.jpg "$work/photos/cats/"
cp "$photos"/dogs/dog.{0,1,2}.jpg "$work/photos/dogs/"
echo "a text file" > "$work/photos/dogs/dog.99.jpg"
expect_bad non-image "dog.99.jpg" --model "$src/tests/data/tiny_photos.json" --data "$work/photos"
rm "$work/photos/dogs/dog.99.jpg"
head -c 3000 "$photos/cats/cat.3.jpg" > "$work/photos/cats/cat.3.jpg"
expect_bad truncated-jpeg "cat.3.jpg" --model "$src/tests/data/tiny_photos.json" --data "$work/photos"
rm "$work/photos/cats/cat.3.jpg"
mv "$work/photos/dogs" "$work/dogs.saved" && mkdir "$work/photos/dogs"
expect_bad empty-class "photos/dogs" --model "$src/tests/data/tiny_photos.json" --data "$work/photos"
rmdir "$work/photos/dogs" && mv "$work/dogs.saved" "$work/photos/dogs"
expect_bad shape-mismatch "expects (28, 28, 1)" --model "$tiny" --data "$work/photos" --target-size 24 24

# The photo folder trains (binary, sigmoid) and skips bad images when asked.
echo "a text file" > "$work/photos/dogs/dog.99.jpg"
"$bin/cnn-train" --model "$src/tests/data/tiny_photos.json" --data "$work/photos" --on-bad-image skip \
  --rescale 0.00392156862745098 --batch-size 2 --epochs 1 --seed 1 -q -o "$work/photo-run" --json > "$work/p.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert len(j['skipped_images'])==1, j" "$work/p.json" \
  || fail "skipped image not reported: $(cat "$work/p.json")"
python3 -c "import json,sys; h=json.load(open(sys.argv[1])); assert h[0]['skipped_images']==1, h" \
  "$work/photo-run/history.json" || fail "skipped images not counted in the history"
"$bin/cnn-eval" "$work/photo-run" --images "$photos/cats/cat.5.jpg" "$photos/dogs/dog.5.jpg" > "$work/pred.csv"
[[ $(wc -l < "$work/pred.csv") -eq 3 ]] || fail "predictions: $(cat "$work/pred.csv")"
head -1 "$work/pred.csv" | grep -q "^file,label,predicted,cats,dogs$" || fail "predictions header: $(head -1 "$work/pred.csv")"
# --recalibrate-bn: BatchNormalization's moving statistics become the plain average of N
# training batches' statistics for the epoch's final weights, and nothing else changes. On 128
# images in 4 batches of 32, the input layer's moving mean is then the data's mean pixel.
export PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1  # tests/cli/rd.py
python3 -c "import sys, rd; rd.fashion_test_slice(sys.argv[1] + '/bn_img', sys.argv[1] + '/bn_lab', 128)" "$work"
cat > "$work/bn_model.json" <<'JSON'
{"name": "bn_first", "input_shape": [28, 28, 1], "layers": [
  {"type": "BatchNormalization"},
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "strides": 2, "activation": "relu"},
  {"type": "BatchNormalization", "name": "bn_conv"},
  {"type": "Dropout", "rate": 0.25},
  {"type": "Flatten"},
  {"type": "Dense", "units": 10, "activation": "softmax"}]}
JSON
bn_train=("$bin/cnn-train" --model "$work/bn_model.json" --data "idx:$work/bn_img,$work/bn_lab"
          --batch-size 32 --epochs 2 --seed 5 --threads 2 -q)
"${bn_train[@]}" -o "$work/bn_plain"
"${bn_train[@]}" --recalibrate-bn 4 -o "$work/bn_recal"
"${bn_train[@]}" --recalibrate-bn 4 -o "$work/bn_recal2"
cmp -s "$work/bn_recal/weights.safetensors" "$work/bn_recal2/weights.safetensors" \
  || fail "--recalibrate-bn: same seed, different weights"
python3 - "$work" <<'PY' || fail "--recalibrate-bn statistics"
import sys
from rd import tensors, floats
w = sys.argv[1]
plain = {k: floats(v[1]) for k, v in tensors(w + "/bn_plain/weights.safetensors").items()}
recal = {k: floats(v[1]) for k, v in tensors(w + "/bn_recal/weights.safetensors").items()}
assert plain.keys() == recal.keys()
for k in plain:  # training is untouched: only the moving statistics differ
    if "moving_" not in k:
        assert plain[k] == recal[k], k
pix = open(w + "/bn_img", "rb").read()[16:]
mean = sum(pix) / len(pix) / 255.0
got = recal["batch_normalization.moving_mean"][0]
assert abs(got - mean) < 1e-5, (got, mean)
before = plain["batch_normalization.moving_mean"][0]
assert abs(before - mean) > 0.1 * mean, (before, mean)  # momentum 0.99 over 8 steps: far below
var = sum((p / 255.0 - mean) ** 2 for p in pix) / (len(pix) - 1)
v = recal["batch_normalization.moving_variance"][0]
assert 0.8 * var < v < 1.2 * var, (v, var)  # the average of 4 unbiased batch variances
PY

echo "train_eval: ok"
