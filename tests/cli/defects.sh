#!/usr/bin/env bash
# Defects a new user hit (issue #18 §3) and the JSON reader's limits (issue #17), each a case
# that failed before its fix: resume without --epochs, a finished run, --set on an augment
# settings file, --validation-steps on a class-sorted folder, .cnnrec permissions, usage errors
# (no arguments, range messages, --threads 2000), cnn-eval on an interrupted run, a class list
# one too long, recipe-relative data paths, and hostile JSON (deep nesting, 1e999).
# usage: defects.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data "$src/../shared/data/cats_and_dogs_filtered" /usr/share/datasets/fashion-mnist
cd "$work"
tiny="$src/tests/data/tiny_convnet.json"
train=("$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32
       --steps-per-epoch 4 --seed 3 --threads 2 -q)

# --resume without --epochs: the run's own epochs (here: one more than done after SIGINT-free
# runs means "finished", said in one sentence, exit 3, nothing changed).
"${train[@]}" --epochs 1 -o r1
cp r1/train.json train.before
rc=0; "$bin/cnn-train" --resume r1 -q 2> err || rc=$?
[[ $rc -eq 3 ]] || fail "resume of a finished run exited $rc: $(cat err)"
grep -q "already trained 1 of 1 epochs; give --epochs 2" err || fail "finished-run message: $(cat err)"
[[ $(wc -l < err) -eq 1 ]] || fail "not one line: $(cat err)"
cmp -s r1/train.json train.before || fail "a refused resume changed train.json"
"$bin/cnn-train" --resume r1 --epochs 2 -q || fail "resume with more epochs"
python3 -c "import json; assert len(json.load(open('r1/history.json'))) == 2" || fail "resumed history"

# An interrupted run (no weights.safetensors): cnn-eval uses the latest checkpoint, with a note.
cp -r r1 r2 && rm r2/weights.safetensors
"$bin/cnn-eval" r2 --data fashion-mnist:test --json > e.json 2> err || fail "eval of an interrupted run: $(cat err)"
grep -q "latest checkpoint" err || fail "no note about the checkpoint: $(cat err)"
rm -r r2/checkpoint
rc=0; "$bin/cnn-eval" r2 --data fashion-mnist:test -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "weights.safetensors" err || fail "no weights, no checkpoint: $rc $(cat err)"

# --set augment.KEY on a recipe that names a settings file changes one setting, keeps the rest.
mkdir -p rec/aug
cat > rec/aug/a.json <<'JSON'
{"rotation_range": 40, "horizontal_flip": true, "fill_mode": "nearest"}
JSON
cat > rec/r.json <<JSON
{"model": "$tiny", "data": {"train": "fashion-mnist:train"}, "augment": "aug/a.json",
 "batch_size": 16, "steps_per_epoch": 2, "epochs": 1}
JSON
"$bin/cnn-train" rec/r.json --set augment.shear_range=11.46 -o r3 2> err > /dev/null
python3 - <<'PY' || fail "--set augment.shear_range dropped the file's settings"
import json
a = json.load(open("r3/train.json"))["augment"]
assert a["rotation_range"] == 40 and a["horizontal_flip"] is True and a["shear_range"] == 11.46, a
PY
grep -q '"rotation_range":40' err || fail "the resolved augmentation is not printed: $(cat err)"

# Dataset paths in a recipe are relative to the recipe, as its model is.
mkdir -p rec/data && python3 - "$src" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/cli")
import rd
rd.fashion_test_slice("rec/data/img", "rec/data/lab", 64)
PY
cat > rec/rel.json <<JSON
{"model": "$tiny", "data": {"train": "idx:data/img,data/lab"}, "batch_size": 16, "epochs": 1}
JSON
"$bin/cnn-train" rec/rel.json -q -o r4 || fail "a recipe-relative idx: path"
grep -q "$work/rec/data/img" r4/train.json || fail "train.json does not record the absolute path"

# --validation-steps on a class-sorted folder: a seeded mix of classes, not the first class.
photos="$src/../shared/data/cats_and_dogs_filtered/train"
mkdir -p val/cats val/dogs
for i in 0 1 2 3 4 5 6 7; do cp "$photos/cats/cat.$i.jpg" val/cats/; cp "$photos/dogs/dog.$i.jpg" val/dogs/; done
cat > photo.json <<'JSON'
{"name": "photo", "input_shape": [16, 16, 3], "layers": [
  {"type": "Conv2D", "filters": 2, "kernel_size": 3, "activation": "relu"},
  {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1, "activation": "sigmoid",
   "kernel_initializer": "zeros", "bias_initializer": "zeros"}]}
JSON
# A model that always predicts 0.5 -> class 0 (cats): accuracy on cats-only batches is 1.0, on
# a mix below 1. With learning rate 0 nothing changes.
"$bin/cnn-train" --model photo.json --data val --validation val --validation-steps 2 --batch-size 4 \
  --epochs 1 --learning-rate 0 --rescale 0.00392156862745098 -q -o r5
python3 - <<'PY' || fail "--validation-steps read one class only"
import json
h = json.load(open("r5/history.json"))[0]
assert 0 < h["val_accuracy"] < 1, h
PY

# The text report's columns stay aligned with short class names ("macro avg" is longer).
"$bin/cnn-eval" r5 --data val > report.txt
python3 - <<'PY' || fail "the macro avg row is not aligned: $(cat report.txt)"
lines = open("report.txt").read().splitlines()
head = next(l for l in lines if l.strip().startswith("class"))
macro = next(l for l in lines if l.strip().startswith("macro avg"))
assert len(head) == len(macro), (head, macro)
PY

# Record streams follow the umask like every other output.
umask 022
"$bin/cnn-augment" val --target-size 8 8 --stream --epochs 1 -o s.cnnrec -q
[[ $(stat -c %a s.cnnrec) == 644 ]] || fail ".cnnrec mode $(stat -c %a s.cnnrec), expected 644"

# Usage errors: exit 2 and one plain sentence.
rc=0; "$bin/cnn-train" 2> err || rc=$?
[[ $rc -eq 2 ]] || fail "cnn-train with no arguments exited $rc"
rc=0; "${train[@]}" --epochs 0 -o r6 2> err || rc=$?
[[ $rc -eq 2 ]] && grep -q "must be at least 1, got 0" err || fail "--epochs 0: $rc $(cat err)"
grep -q "1797693" err && fail "the range message prints double's limit: $(cat err)"
for prog in cnn-train cnn-eval cnn-summary cnn-augment cnn-extract-features cnn-finetune cnn-import cnn-visualize; do
  rc=0; "$bin/$prog" --threads 2000 --help > /dev/null 2> err || rc=$?
  [[ $rc -eq 0 || $rc -eq 2 ]] || fail "$prog --threads 2000 exited $rc: $(cat err)"
done
rc=0; "$bin/cnn-summary" "$tiny" --threads 2000 > /dev/null 2> err || rc=$?
[[ $rc -eq 2 ]] || fail "cnn-summary --threads 2000 exited $rc: $(cat err)"

# Hostile JSON: deep nesting and a number beyond double, exit 3 with file:line:column.
python3 -c "print('[' * 100000 + ']' * 100000)" > deep.json
rc=0; "$bin/cnn-summary" deep.json > /dev/null 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "deep.json:1:257: not valid JSON: nested more than 256" err \
  || fail "deep JSON: $rc $(cat err)"
printf '{"name": "m",\n "input_shape": [1e999], "layers": []}\n' > big.json
rc=0; "$bin/cnn-summary" big.json > /dev/null 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "big.json:2:18: not valid JSON" err || fail "1e999: $rc $(cat err)"
rc=0; "$bin/cnn-train" rec/r.json --set 'augment.zoom_range=[[[[' -o r7 -q 2> err || rc=$?
[[ $rc -eq 3 ]] || fail "a --set value that is not JSON nor a setting: $rc $(cat err)"
# Names read from files or flags stay in their folder (issue #17).
printf '{"../../etc": 0, "cats": 1}' > r5/class_indices.json
rc=0; "$bin/cnn-eval" r5 --data val -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "not a sub-folder name" err || fail "class '../../etc': $rc $(cat err)"
rc=0; "$bin/cnn-augment" val --save-to-dir prev --save-prefix ../x --count 1 -q 2> err || rc=$?
[[ $rc -eq 2 && ! -e x_0_0.png ]] || fail "--save-prefix ../x: $rc $(cat err)"
mkdir -p ck && cp -r r1/checkpoint ck/ && cp r1/model.json ck/ && echo "../../r1" > ck/checkpoint/latest
rc=0; "$bin/cnn-eval" ck --data fashion-mnist:test -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "step-<number>" err || fail "checkpoint/latest outside: $rc $(cat err)"
# Shape arithmetic from a file is checked before anything is allocated (issue #17): exit 3 naming
# the layer, from every program that builds the model.
cat > pad.json <<'JSON'
{"name": "pad", "input_shape": [28, 28, 1], "layers": [
  {"type": "ZeroPadding2D", "name": "zp", "padding": [[4294967295, 4294967295], [4294967295, 4294967295]]},
  {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]}
JSON
cat > dense.json <<'JSON'
{"name": "big", "input_shape": [2147483648], "layers": [{"type": "Dense", "name": "huge", "units": 2147483648}]}
JSON
cat > kern.json <<'JSON'
{"name": "k", "input_shape": [28, 28, 1], "layers": [
  {"type": "Conv2D", "name": "c", "filters": 1, "kernel_size": 4611686018427387904, "padding": "same"}]}
JSON
for m in pad.json dense.json kern.json; do
  for cmd in "cnn-summary $m" "cnn-summary --time --iterations 1 --warmup 0 $m" "cnn-eval $m --weights x.safetensors --data fashion-mnist:test"; do
    rc=0; "$bin"/$cmd > out 2> err || rc=$?
    [[ $rc -eq 3 ]] || fail "$cmd: exit $rc: $(cat err)"
    grep -q "Total params" out && fail "$cmd printed a summary"
  done
done
grep -q "zp" <("$bin/cnn-summary" pad.json 2>&1) || fail "the padding error does not name the layer"
grep -q "huge" <("$bin/cnn-summary" dense.json 2>&1) || fail "the Dense error does not name the layer"
# Divergence is not silent (issue #17): a learning rate of 1e6 stops the run with exit 1 and one
# sentence naming the step and suggesting a lower rate; no NaN reaches weights or history; and
# cnn-eval refuses weights holding NaN (exit 3) instead of passing a gate.
rc=0; "$bin/cnn-train" --model "$src/configs/models/mnist_convnet.json" --data fashion-mnist:train \
  --batch-size 32 --steps-per-epoch 10 --epochs 2 --optimizer sgd --learning-rate 1e6 -q -o dv 2> err || rc=$?
[[ $rc -eq 1 ]] && grep -q "training diverged at epoch .*, step .*try a learning rate below" err \
  || fail "divergence: $rc $(cat err)"
[[ $(wc -l < err) -eq 1 && ! -e dv/weights.safetensors ]] || fail "divergence left weights or more lines: $(cat err)"
[[ ! -e dv/history.json ]] || ! grep -q null dv/history.json || fail "NaN in history.json"
python3 - <<'PY'
import json, struct
b = bytearray(open("r1/weights.safetensors", "rb").read())
n = struct.unpack("<Q", b[:8])[0]
b[8 + n:8 + n + 4] = struct.pack("<f", float("nan"))
open("nan.safetensors", "wb").write(b)
PY
rc=0; "$bin/cnn-eval" r1 --weights nan.safetensors --data fashion-mnist:test --min-accuracy 0.05 -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "NaN or infinite" err || fail "NaN weights: $rc $(cat err)"
# An empty dataset is refused (exit 3), not trained for "Epoch 1/0".
python3 -c "import struct; open('e-img','wb').write(struct.pack('>IIII',0x803,0,28,28)); open('e-lab','wb').write(struct.pack('>II',0x801,0))"
rc=0; "$bin/cnn-train" --model "$tiny" --data idx:e-img,e-lab -q -o empty 2> err || rc=$?
[[ $rc -eq 3 && ! -e empty ]] || fail "an empty dataset: $rc $(cat err)"
# One rule for outputs (issue #17): through a symlink the target is replaced and the link kept;
# a device is written in place, never replaced; a full stdout is an error, not exit 0.
echo old > real.csv && ln -s real.csv link.csv && ln -s /dev/null null.csv
"$bin/cnn-eval" r1 --data idx:rec/data/img,rec/data/lab --predictions link.csv -q > /dev/null
[[ -L link.csv ]] && grep -q "^file,label" real.csv || fail "a symlinked output replaced the link"
"$bin/cnn-eval" r1 --data idx:rec/data/img,rec/data/lab --predictions null.csv -q > /dev/null
[[ -L null.csv && -c /dev/null ]] || fail "an output linked to /dev/null was replaced"
rc=0; "$bin/cnn-summary" "$tiny" > /dev/full 2> err || rc=$?
[[ $rc -eq 1 ]] && grep -q "cannot write the output to stdout" err || fail "a full stdout: $rc $(cat err)"
# Class names with terminal escape sequences are not printed raw in the text report.
mkdir -p esc/$'\e[31mred' esc/blue
cp val/cats/cat.0.jpg esc/$'\e[31mred'/ && cp val/dogs/dog.0.jpg esc/blue/
"$bin/cnn-eval" r5 --data esc --classes <(printf 'blue\n\e[31mred\n') > esc.txt 2> err || fail "eval esc: $(cat err)"
! grep -q $'\e' esc.txt || fail "an escape sequence reached the terminal report"
# Dataset entries are regular files: a FIFO neither hangs nor /dev/zero fills memory (exit 3).
mkdir -p fifo/cats fifo/dogs && cp val/cats/cat.0.jpg fifo/cats/ && cp val/dogs/dog.0.jpg fifo/dogs/
mkfifo fifo/cats/pipe.jpg && ln -s /dev/zero fifo/dogs/zero.jpg
rc=0; timeout 60 "$bin/cnn-eval" r5 --data fifo --classes <(printf "cats\ndogs\n") -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "not a regular file" err || fail "a FIFO in a dataset: $rc $(cat err)"
rc=0; timeout 60 "$bin/cnn-eval" r1 --data idx:/dev/zero,rec/data/lab -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "not a regular file" err || fail "idx:/dev/zero: $rc $(cat err)"
echo "defects: ok"
