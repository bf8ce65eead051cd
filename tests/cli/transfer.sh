#!/usr/bin/env bash
# cnn-extract-features and cnn-finetune end to end on a tiny trained model: features equal the
# model's intermediate outputs (checked against the weights and cnn-eval), every output format,
# a Dense head trained on extracted features, frozen weights bit-identical after fine-tuning,
# resume, the two-stage flow, SIGINT, the VGG16 summary goldens, and bad inputs (exit 3, one
# line, nothing left behind).
# usage: transfer.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
tiny="$src/tests/data/tiny_convnet.json"
extract=("$bin/cnn-extract-features" --threads 2 -q)
finetune=("$bin/cnn-finetune" --threads 2 -q)

# Python helpers (no numpy): .npy, safetensors and record stream readers (tests/cli/rd.py).
export PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1
# 300 Fashion-MNIST test images as a plain IDX pair, and a tiny trained base.
python3 -c "import sys, rd; rd.fashion_test_slice(sys.argv[1] + '/img', sys.argv[1] + '/lab', 300)" "$work"
data="idx:$work/img,$work/lab"
"$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32 --steps-per-epoch 8 \
  --epochs 1 --seed 3 --threads 2 -q -o "$work/base"


# --- cnn-extract-features -------------------------------------------------------------------
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o "$work/flat.npy" --json > "$work/flat.json"
"${extract[@]}" "$work/base" --layer dense --data "$data" -o "$work/probs.npy" --batch-size 7
"${extract[@]}" "$work/base" --layer max_pooling2d --pool none --data "$data" -o "$work/pool.npy"
"${extract[@]}" "$work/base" --layer max_pooling2d --pool avg --data "$data" -o "$work/avg.npy"
"${extract[@]}" "$work/base" --layer max_pooling2d --pool flatten --data "$data" -o "$work/pflat.npy"
for f in flat.npy flat.labels.npy flat.meta.json; do [[ -s "$work/$f" ]] || fail "no $f"; done
"$bin/cnn-eval" "$work/base" --data "$data" --predictions "$work/pred.json" -q > /dev/null
python3 - "$work" <<'PY' || fail "extracted features differ from the model's outputs"
import json, math, sys
from rd import npy, tensors, floats
d = sys.argv[1]
j = json.load(open(d + "/flat.json"))
assert j["count"] == 300 and j["shape"] == [144] and j["layer"] == "flatten" and j["images_per_second"] > 0, j
shape, flat = npy(d + "/flat.npy")
assert shape == [300, 144], shape
lshape, labels = npy(d + "/flat.labels.npy")
raw = open(d + "/lab", "rb").read()[8:]
assert lshape == [300] and labels == list(raw), "labels differ from the IDX file"
meta = json.load(open(d + "/flat.meta.json"))
assert meta["classes"] == [str(k) for k in range(10)] and meta["layer"] == "flatten", meta["classes"]
assert len(meta["files"]) == 300 and meta["files"][2].endswith("/img[2]"), meta["files"][:3]
# dense = softmax(flatten @ kernel + bias), from the run's weights: the flatten features are the
# model's intermediate output.
t = tensors(d + "/base/weights.safetensors")
W, b = floats(t["dense.kernel"][1]), floats(t["dense.bias"][1])
_, probs = npy(d + "/probs.npy")
pred = json.load(open(d + "/pred.json"))
worst = 0.0
for i in range(300):
    x = flat[i * 144:(i + 1) * 144]
    z = [b[k] + sum(x[r] * W[r * 10 + k] for r in range(144)) for k in range(10)]
    m = max(z)
    e = [math.exp(v - m) for v in z]
    p = [v / sum(e) for v in e]
    q = list(pred[i]["probabilities"].values())
    for k in range(10):
        worst = max(worst, abs(p[k] - probs[i * 10 + k]), abs(q[k] - probs[i * 10 + k]))
assert worst < 2e-5, worst
# Pooling: avg and flatten of the max_pooling2d output [6, 6, 4].
_, pool = npy(d + "/pool.npy")
_, avg = npy(d + "/avg.npy")
_, pflat = npy(d + "/pflat.npy")
assert pflat == pool
for i in range(300):
    for c in range(4):
        a = sum(pool[i * 144 + k * 4 + c] for k in range(36)) / 36
        assert abs(a - avg[i * 4 + c]) < 1e-5, (i, c, a, avg[i * 4 + c])
print("features: max difference", worst)
PY

# The same features as CSV, as a record stream file and on stdout; deterministic.
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o "$work/flat.csv"
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o "$work/flat.cnnrec"
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o - > "$work/stdout.cnnrec"
cmp -s "$work/flat.cnnrec" "$work/stdout.cnnrec" || fail "-o - differs from the .cnnrec file"
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o "$work/flat2.npy"
cmp -s "$work/flat.npy" "$work/flat2.npy" || fail "two extractions differ"
python3 - "$work" <<'PY' || fail "CSV or record stream differ from the .npy"
import csv, struct, sys
from rd import npy, records
d = sys.argv[1]
_, flat = npy(d + "/flat.npy")
_, labels = npy(d + "/flat.labels.npy")
rows = list(csv.reader(open(d + "/flat.csv")))
assert rows[0][:2] == ["f0", "f1"] and rows[0][-4:] == ["f143", "label", "class", "file"], rows[0][-4:]
assert len(rows) == 301
for i, r in enumerate(rows[1:]):
    f32 = [struct.unpack("<f", struct.pack("<f", float(v)))[0] for v in r[:144]]
    assert f32 == flat[i * 144:(i + 1) * 144], i  # %.9g reads back as the same float32
    assert int(r[144]) == labels[i] and r[146].endswith("img[%d]" % i), r[144:]
assert rows[1][145] == "9", rows[1][145]  # test image 0 is an ankle boot; IDX classes are numbers
h, recs = records(d + "/flat.cnnrec")
assert h["shape"] == [144] and h["dtype"] == "float32" and h["count"] == 300 and len(h["classes"]) == 10, h
for i, (label, x) in enumerate(recs):
    assert label == labels[i] and list(x) == flat[i * 144:(i + 1) * 144], i
PY

# A Dense head trained on the extracted features (input_shape [144]), then evaluated on them.
cat > "$work/head.json" <<'JSON'
{"name": "head", "input_shape": [144], "layers": [{"type": "Dense", "units": 10, "activation": "softmax"}]}
JSON
"$bin/cnn-train" --model "$work/head.json" --data "$work/flat.cnnrec" --epochs 2 --batch-size 30 \
  --seed 1 -q -o "$work/head-run" || fail "cnn-train on extracted features"
"$bin/cnn-eval" "$work/head-run" --data "$work/flat.cnnrec" --json > "$work/head-eval.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['samples']==300, j" "$work/head-eval.json" \
  || fail "cnn-eval on extracted features"
# Through a pipe, as a stream on stdin.
"${extract[@]}" "$work/base" --layer flatten --data "$data" -o - |
  "$bin/cnn-train" --model "$work/head.json" --data - --epochs 1 --batch-size 30 --seed 1 -q -o "$work/head-pipe" \
  || fail "extract | train"

# --- cnn-finetune ---------------------------------------------------------------------------
ft=("${finetune[@]}" "$work/base" --cut-at flatten --head dense:16,dropout:0.5,dense:10:softmax
    --freeze all --steps-per-epoch 4 --seed 1)
"${ft[@]}" --epochs 2 -o "$work/ft" --json > "$work/ft.json"
for f in model.json weights.safetensors train.json finetune.json class_indices.json history.json checkpoint/latest; do
  [[ -e "$work/ft/$f" ]] || fail "fine-tuning run lacks $f"
done
python3 - "$work" <<'PY' || fail "frozen weights changed, or the run does not record the freezing"
import json, sys
from rd import tensors
d = sys.argv[1]
base, ft = tensors(d + "/base/weights.safetensors"), tensors(d + "/ft/weights.safetensors")
assert ft["conv2d.kernel"] == base["conv2d.kernel"] and ft["conv2d.bias"] == base["conv2d.bias"]
# The new layers' names skip the base's, the cut-off classifier "dense" included.
assert set(ft) == {"conv2d.kernel", "conv2d.bias", "dense_1.kernel", "dense_1.bias", "dense_2.kernel", "dense_2.bias"}, set(ft)
assert ft["dense_1.kernel"][0] == [144, 16], ft["dense_1.kernel"][0]
layers = {l["name"]: l for l in json.load(open(d + "/ft/model.json"))["layers"]}
for n in ("conv2d", "max_pooling2d", "dropout", "flatten"):
    assert layers[n].get("trainable") is False, n
for n in ("dense_1", "dropout_1", "dense_2"):
    assert layers[n].get("trainable", True) is True, n
f = json.load(open(d + "/ft/finetune.json"))
assert f["cut_at"] == "flatten" and f["freeze"] == "all" and f["new_layers"] == ["dense_1", "dropout_1", "dense_2"], f
t = json.load(open(d + "/ft/train.json"))
assert t["data"]["train"] == "fashion-mnist:train" and t["epochs"] == 2, t  # the base run's recipe
h = json.load(open(d + "/ft.json"))
assert h["epochs"] == 2 and h["run_dir"].endswith("/ft"), h
PY
"$bin/cnn-eval" "$work/ft" --data "$data" -q > /dev/null || fail "cnn-eval on a fine-tuning run"

# 2 epochs == 1 epoch + --resume to 2.
"${ft[@]}" --epochs 1 -o "$work/ft1"
"${finetune[@]}" --resume "$work/ft1" --epochs 2
cmp -s "$work/ft/weights.safetensors" "$work/ft1/weights.safetensors" || fail "resume differs from an uninterrupted run"

# Stage 2: the run as the base, no new head, everything from conv2d unfrozen.
"${finetune[@]}" "$work/ft" --unfreeze-from conv2d --learning-rate 1e-4 --epochs 1 -o "$work/ft2"
python3 - "$work" <<'PY' || fail "stage 2"
import json, sys
from rd import tensors
d = sys.argv[1]
a, b = tensors(d + "/ft/weights.safetensors"), tensors(d + "/ft2/weights.safetensors")
assert set(a) == set(b) and a["conv2d.kernel"] != b["conv2d.kernel"]
assert not any(l.get("trainable") is False for l in json.load(open(d + "/ft2/model.json"))["layers"])
t = json.load(open(d + "/ft2/train.json"))
assert t["optimizer"]["learning_rate"] == 1e-4 and t["steps_per_epoch"] == 4, t
PY

# SIGINT: exit 130 with a checkpoint that resumes.
"$bin/cnn-finetune" "$work/base" --cut-at flatten --head dense:10:softmax --freeze all --epochs 500 \
  --steps-per-epoch 50 --seed 1 -q -o "$work/int" & pid=$!
for _ in $(seq 100); do [[ -e "$work/int/train.json" ]] && break; sleep 0.1; done
sleep 0.5
kill -INT $pid
rc=0; wait $pid || rc=$?
[[ $rc -eq 130 ]] || fail "SIGINT exited $rc, expected 130"
[[ -e "$work/int/checkpoint/latest" ]] || fail "no checkpoint after SIGINT"

# --summary: the composed model; the lecture's VGG16 counts (golden text).
for g in "$src"/tests/golden/summary/finetune/*.txt; do
  args=$(head -1 "$g" | sed 's/^# cnn-finetune //')
  eval "\"$bin/cnn-finetune\" $args" > "$work/sum.txt"
  tail -n +2 "$g" | diff -u - "$work/sum.txt" || fail "summary differs from $g"
done
"$bin/cnn-finetune" "$src/configs/models/vgg16_notop.json" --head dense:256,dense:1:sigmoid \
  --freeze all --summary --json > "$work/sum.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert (j['total_params'], j['trainable_params']) == (16812353, 2097665), j" \
  "$work/sum.json" || fail "--summary --json"

# --- bad inputs: exit 3, one line naming the file and the layer or item, nothing written ------
expect_bad() {  # NAME TEXT OUTPUT COMMAND...
  local name=$1 text=$2 out=$3 rc=0; shift 3
  "$@" > "$work/out" 2> "$work/err" || rc=$?
  [[ $rc -eq 3 ]] || fail "$name: exit $rc, expected 3: $(cat "$work/err")"
  grep -qF -- "$text" "$work/err" || fail "$name: '$text' not in: $(cat "$work/err")"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$name: not one line: $(cat "$work/err")"
  [[ ! -e "$out" ]] || fail "$name: left $out behind"
  [[ ! -s "$work/out" ]] || fail "$name: wrote to stdout"
  ! ls -a "$work" | grep -q '^\.\?bad' || fail "$name: left a file behind: $(ls -a "$work")"
}
"$bin/cnn-summary" --json "$tiny" > "$work/tiny-summary.json"
python3 "$src/tests/cli/make_weights.py" "$work/tiny-summary.json" "$work/wrong.safetensors" wrong_shape
python3 "$src/tests/cli/make_weights.py" "$work/tiny-summary.json" "$work/missing.safetensors" missing
echo '[{"type": "Dense", "units": 3,}]' > "$work/broken-head.json"
fb=("$bin/cnn-finetune" "$work/base" --head dense:10:softmax -q -o "$work/bad-run")
expect_bad unknown-layer "$work/base/model.json: --layer: no layer named 'flaten' in model 'tiny_convnet'; did you mean 'flatten'?" \
  "$work/bad.npy" "$bin/cnn-extract-features" "$work/base" --layer flaten --data "$data" -o "$work/bad.npy"
expect_bad extract-weights "layer 'conv2d': tensor 'conv2d.kernel' has shape [3, 3, 1, 5]" "$work/bad.npy" \
  "$bin/cnn-extract-features" "$tiny" --weights "$work/wrong.safetensors" --layer flatten --data "$data" -o "$work/bad.npy"
expect_bad extract-missing "$work/missing.safetensors: layer 'conv2d': tensor 'conv2d.kernel' is missing" "$work/bad.csv" \
  "$bin/cnn-extract-features" "$tiny" --weights "$work/missing.safetensors" --layer flatten --data "$data" -o "$work/bad.csv"
expect_bad extract-no-data "$work/nodata" "$work/bad.cnnrec" \
  "$bin/cnn-extract-features" "$work/base" --layer flatten --data "$work/nodata" -o "$work/bad.cnnrec"
expect_bad extract-pool "layer 'dense': --pool avg needs an output of shape (None, h, w, c), got (None, 10)" "$work/bad.npy" \
  "$bin/cnn-extract-features" "$work/base" --layer dense --pool avg --data "$data" -o "$work/bad.npy"
expect_bad unfreeze-from "$work/base/model.json: --unfreeze-from: no layer named 'conv2d_9'" "$work/bad-run" \
  "${fb[@]}" --unfreeze-from conv2d_9
expect_bad cut-at "$work/base/model.json: --cut-at: no layer named 'flat'" "$work/bad-run" "${fb[@]}" --cut-at flat
expect_bad head-spec "--head: item 1 'dense:ten:softmax': expected a whole number of units >= 1, got 'ten'" "$work/bad-run" \
  "$bin/cnn-finetune" "$work/base" --head dense:ten:softmax -q -o "$work/bad-run"
expect_bad head-file "broken-head.json:1:31: not valid JSON" "$work/bad-run" \
  "$bin/cnn-finetune" "$work/base" --head "$work/broken-head.json" -q -o "$work/bad-run"
expect_bad base-weights "$work/wrong.safetensors@" "$work/bad-run" \
  "$bin/cnn-finetune" "$tiny" --weights "$work/wrong.safetensors" --cut-at flatten --head dense:10:softmax -q -o "$work/bad-run"
grep -qF "layer 'conv2d': tensor 'conv2d.kernel' has shape [3, 3, 1, 5], the model 'tiny_convnet' needs [3, 3, 1, 4]" "$work/err" \
  || fail "base-weights: $(cat "$work/err")"
expect_bad no-weights "no weights for the base" "$work/bad-run" \
  "$bin/cnn-finetune" "$tiny" --head dense:10:softmax -q -o "$work/bad-run"
# Usage errors: exit 2.
rc=0; "$bin/cnn-extract-features" "$work/base" --layer flatten --data "$data" -o "$work/bad.txt" 2> /dev/null || rc=$?
[[ $rc -eq 2 && ! -e "$work/bad.txt" ]] || fail "unknown output extension: exit $rc"
rc=0; "$bin/cnn-finetune" --resume "$work/ft" --head dense:3:softmax 2> /dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "--resume with --head: exit $rc"
echo "transfer: ok"
