#!/usr/bin/env bash
# cnn-quantize end to end: a convnet trained briefly on Fashion-MNIST, quantized to int8 on
# calibration data, agrees with the float model on >= 99% of the test set and loses at most 0.5
# points of accuracy; the result is a run directory cnn-eval, cnn-extract-features, cnn-visualize
# and cnn-summary read; bad inputs exit 3 with one line and leave nothing behind.
# usage: quantize.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
py=/usr/bin/python3  # Debian's, with numpy (a pyenv shim on PATH may lack it)
"$bin/cnn-train" --model "$src/configs/models/mnist_convnet.json" --data fashion-mnist:train \
  --batch-size 64 --steps-per-epoch 150 --epochs 1 --seed 2 --threads 2 -q -o "$work/f32"
"$bin/cnn-quantize" "$work/f32" --calibrate fashion-mnist:train --samples 500 --threads 2 \
  -o "$work/int8" --json > "$work/q.json" 2> "$work/q.err" || fail "cnn-quantize: $(cat "$work/q.err")"
for f in model.json weights.safetensors quantization.json train.json class_indices.json history.json; do
  [[ -e "$work/int8/$f" ]] || fail "the quantized run lacks $f"
done
python3 - "$work/q.json" "$work/int8" <<'PY' || fail "the quantization report or model.json"
import json, sys
q = json.load(open(sys.argv[1]))
by = {l["name"]: l for l in q["layers"]}
assert q["samples"] == 500 and q["method"] == "minmax", q
# Every layer int8, the thin first one (3x3 on 1 channel) too: its taps packed 4 to a quad.
for name in ("conv2d", "conv2d_1", "conv2d_2", "dense", "dense_1"):
    assert by[name]["int8"] and by[name]["input_zero_point"] == 0 and by[name]["input_scale"] > 0, by[name]
model = json.load(open(sys.argv[2] + "/model.json"))
keys = {l["name"]: l.get("quantization") for l in model["layers"]}
assert keys["conv2d"]["input_scale"] == by["conv2d"]["input_scale"], keys
assert keys["dense"]["input_scale"] == by["dense"]["input_scale"], keys
PY
grep -q "conv2d_1 *Conv2D *int8" "$work/q.err" || fail "no per-layer lines on stderr: $(cat "$work/q.err")"

# A first layer on 3 channels (photos) with a 5x5 kernel is int8: its windows are read in place
# with the channels padded to 4 (a thin 3x3 one too, at stride 1: below).
# A 1x1 convolution with 8 filters after it stays float: quantizing its input would cost more.
PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 python3 - "$work" <<'PY'
import json, random, struct, sys
import rd
w = sys.argv[1]
random.seed(3)
arch = {"name": "rgb", "input_shape": [12, 12, 3], "layers": [
    {"type": "Conv2D", "filters": 40, "kernel_size": 5, "padding": "same", "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Conv2D", "filters": 8, "kernel_size": 1, "activation": "relu"},
    {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]}
json.dump(arch, open(w + "/rgb.json", "w"))
shapes = {"conv2d.kernel": [5, 5, 3, 40], "conv2d.bias": [40], "conv2d_1.kernel": [1, 1, 40, 8],
          "conv2d_1.bias": [8], "dense.kernel": [288, 2], "dense.bias": [2]}
tensors = {}
for name, shape in shapes.items():
    n = 1
    for d in shape: n *= d
    tensors[name] = (shape, struct.pack(f"<{n}f", *(random.uniform(-0.5, 0.5) for _ in range(n))))
rd.write_tensors(w + "/rgb.safetensors", tensors)
rd.write_records(w + "/rgb.cnnrec", {"shape": [12, 12, 3], "dtype": "uint8", "label": "int32",
                                      "classes": ["a", "b"], "class_mode": "sparse", "count": 64},
                 [(i % 2, bytes(random.randrange(256) for _ in range(432))) for i in range(64)])
PY
"$bin/cnn-quantize" "$work/rgb.json" --weights "$work/rgb.safetensors" --calibrate "$work/rgb.cnnrec" \
  --samples 0 -o "$work/rgb8" --json -q > "$work/rgb.q.json" || fail "cnn-quantize on a 3-channel model"
python3 - "$work/rgb.q.json" <<'PY' || fail "the 3-channel first layer is not int8"
import json, sys
by = {l["name"]: l for l in json.load(open(sys.argv[1]))["layers"]}
assert by["conv2d"]["int8"] and by["dense"]["int8"], by
assert not by["conv2d_1"]["int8"] and "fewer than 48 filters" in by["conv2d_1"]["reason"], by
PY
"$bin/cnn-eval" "$work/rgb8" --data "$work/rgb.cnnrec" --json -q --threads 2 > /dev/null \
  || fail "cnn-eval of the 3-channel int8 model"

# A thin 3x3 first layer (k = 27) on 3 channels: int8 at stride 1 (its 4-byte pixels 3/4 full),
# float at stride 2 (int8 would gain little there and cost agreement).
for stride in 1 2; do
  PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 python3 - "$work" "$stride" <<'PY'
import json, random, struct, sys
import rd
w, stride = sys.argv[1], int(sys.argv[2])
random.seed(4)
out = 10 if stride == 1 else 5
json.dump({"name": "thin", "input_shape": [12, 12, 3], "layers": [
    {"type": "Conv2D", "filters": 16, "kernel_size": 3, "strides": stride, "activation": "relu"},
    {"type": "Flatten"}, {"type": "Dense", "units": 2, "activation": "softmax"}]},
    open(f"{w}/thin{stride}.json", "w"))
shapes = {"conv2d.kernel": [3, 3, 3, 16], "conv2d.bias": [16], "dense.kernel": [out * out * 16, 2],
          "dense.bias": [2]}
tensors = {}
for name, shape in shapes.items():
    n = 1
    for d in shape: n *= d
    tensors[name] = (shape, struct.pack(f"<{n}f", *(random.uniform(-0.5, 0.5) for _ in range(n))))
rd.write_tensors(f"{w}/thin{stride}.safetensors", tensors)
PY
  "$bin/cnn-quantize" "$work/thin$stride.json" --weights "$work/thin$stride.safetensors" \
    --calibrate "$work/rgb.cnnrec" --samples 0 -o "$work/thin$stride-8" --json -q \
    > "$work/thin$stride.q.json" || fail "cnn-quantize on a thin 3x3 first layer, stride $stride"
  python3 - "$work/thin$stride.q.json" "$stride" <<'PY' || fail "the thin 3x3 first layer at stride $stride"
import json, sys
c = {l["name"]: l for l in json.load(open(sys.argv[1]))["layers"]}["conv2d"]
assert c["int8"] if sys.argv[2] == "1" else not c["int8"] and "strided thin" in c["reason"], c
PY
done
"$bin/cnn-eval" "$work/thin1-8" --data "$work/rgb.cnnrec" --json -q --threads 2 > /dev/null \
  || fail "cnn-eval of the int8 thin first layer"

# Bias correction: the first int8 layer reads the model's input, so over the calibration data
# the mean of its outputs (before relu) with the kernel on the int8 grid and the corrected bias
# is that of the float layer (numpy, from the files; the 'same' padding's zero taps included).
# Without it the bias is the source's and the mean moves.
"$bin/cnn-quantize" "$work/rgb.json" --weights "$work/rgb.safetensors" --calibrate "$work/rgb.cnnrec" \
  --samples 0 --rescale 0.0125 --no-bias-correction -o "$work/rgb8n" --json -q > "$work/rgb.qn.json" \
  || fail "cnn-quantize --no-bias-correction"
"$bin/cnn-quantize" "$work/rgb.json" --weights "$work/rgb.safetensors" --calibrate "$work/rgb.cnnrec" \
  --samples 0 --rescale 0.0125 -o "$work/rgb8c" --json -q > "$work/rgb.qc.json" \
  || fail "cnn-quantize with bias correction"
PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 "$py" - "$work" <<'PY' || fail "bias correction"
import json, sys
import numpy as np
import rd
w = sys.argv[1]
def tensors(path):
    return {k: np.frombuffer(raw, "<f4").reshape(shape) for k, (shape, raw) in rd.tensors(path).items()}
head, recs = rd.records(w + "/rgb.cnnrec")
assert head["dtype"] == "uint8" and len(recs) == 64, head
x = np.array([v for _, v in recs], np.float64).reshape(64, 12, 12, 3) * 0.0125
xp = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
def mean_out(t):
    k, b = t["conv2d.kernel"].astype(np.float64), t["conv2d.bias"].astype(np.float64)
    y = sum(xp[:, i:i + 12, j:j + 12, :] @ k[i, j] for i in range(5) for j in range(5)) + b
    return y.mean(axis=(0, 1, 2))
src, off, on = (tensors(w + f) for f in ("/rgb.safetensors", "/rgb8n/weights.safetensors",
                                         "/rgb8c/weights.safetensors"))
assert np.array_equal(off["conv2d.kernel"], on["conv2d.kernel"])
assert not np.array_equal(src["conv2d.kernel"], on["conv2d.kernel"])
assert np.array_equal(off["conv2d.bias"], src["conv2d.bias"])
want = mean_out(src)
moved, kept = np.abs(mean_out(off) - want).max(), np.abs(mean_out(on) - want).max()
assert kept < 1e-5 and moved > 100 * kept, (moved, kept)
qc, qn = (json.load(open(w + f)) for f in ("/rgb.qc.json", "/rgb.qn.json"))
assert qc["bias_correction"] is True and qn["bias_correction"] is False, (qc, qn)
c = {l["name"]: l for l in qc["layers"]}
shift = np.abs(on["conv2d.bias"].astype(np.float64) - src["conv2d.bias"]).max()
assert abs(c["conv2d"]["bias_shift"] - shift) < 1e-6 and c["dense"]["bias_shift"] > 0, c
assert all("bias_shift" not in l for l in qn["layers"]), qn
assert "bias_shift" not in c["conv2d_1"], c  # float
print(f"bias correction: mean output moved {moved:.3g} without, {kept:.3g} with", file=sys.stderr)
PY

# Agreement and accuracy on the whole test set.
"$bin/cnn-eval" "$work/f32" --data fashion-mnist:test --predictions "$work/p32.csv" --json -q --threads 2 > "$work/e32.json"
"$bin/cnn-eval" "$work/int8" --data fashion-mnist:test --predictions "$work/p8.csv" --json -q --threads 2 > "$work/e8.json"
python3 - "$work" <<'PY' || fail "int8 does not agree with float"
import csv, json, sys
w = sys.argv[1]
a = list(csv.DictReader(open(w + "/p32.csv")))
b = list(csv.DictReader(open(w + "/p8.csv")))
agree = sum(x["predicted"] == y["predicted"] for x, y in zip(a, b)) / len(a)
acc32 = json.load(open(w + "/e32.json"))["accuracy"]
acc8 = json.load(open(w + "/e8.json"))["accuracy"]
print(f"int8 vs float: top-1 agreement {agree:.4f}, accuracy {acc8:.4f} vs {acc32:.4f}", file=sys.stderr)
assert len(a) == len(b) == 10000 and agree >= 0.99 and acc32 - acc8 <= 0.005, (agree, acc32, acc8)
PY

# Equalization (--equalize 0.5): conv2d's outputs are divided by the reported per-channel scales
# and conv2d_1's kernel rows multiplied by them (the same float function); so conv2d_1's for
# conv2d_2 and dense's for dense_1. conv2d_2 feeds Flatten and dense_1 is the output: left alone.
# numpy checks the weights against the source's; the result still agrees with float.
"$bin/cnn-quantize" "$work/f32" --calibrate fashion-mnist:train --samples 500 --threads 2 --equalize 0.5 \
  -o "$work/int8e" --json -q > "$work/qe.json" || fail "cnn-quantize --equalize"
"$bin/cnn-eval" "$work/int8e" --data fashion-mnist:test --predictions "$work/pe.csv" --json -q --threads 2 > "$work/ee.json"
PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 "$py" - "$work" <<'PY' || fail "equalization"
import csv, json, sys
import numpy as np
import rd
w = sys.argv[1]
def tensors(path):
    return {k: np.frombuffer(raw, "<f4").reshape(shape).astype(np.float64)
            for k, (shape, raw) in rd.tensors(path).items()}
src, out = tensors(w + "/f32/weights.safetensors"), tensors(w + "/int8e/weights.safetensors")
q = json.load(open(w + "/qe.json"))
assert q["equalize"] == 0.5, q
lay = {l["name"]: l for l in q["layers"]}
s0, s1, sd = (np.array(lay[n]["equalize_scale"]) for n in ("conv2d", "conv2d_1", "dense"))
assert all("equalize_scale" not in lay[n] for n in ("conv2d_2", "dense_1")), lay
assert s0.shape == (32,) and s1.shape == sd.shape == (64,), (s0, s1, sd)
assert (s0 > 0).all() and s0.std() > 0.05, s0
# int8 layers hold their kernels on the grid: within half a step of each column of the source
# with rows times the readers' scales and columns divided by their own.
def near_grid(stored, want):
    step = np.abs(want).reshape(-1, want.shape[-1]).max(axis=0) / 127
    return (np.abs(stored - want) <= step / 2 * (1 + 1e-5) + 1e-7).all()
k1, k2 = src["conv2d_1.kernel"], src["conv2d_2.kernel"]
assert near_grid(out["conv2d.kernel"], src["conv2d.kernel"] / s0), "conv2d"
assert near_grid(out["conv2d_1.kernel"], k1 * s0[None, None, :, None] / s1), "conv2d_1"
assert not near_grid(out["conv2d_1.kernel"], k1), "conv2d_1 unchanged"
assert near_grid(out["conv2d_2.kernel"], k2 * s1[None, None, :, None]), "conv2d_2"
assert near_grid(out["dense.kernel"], src["dense.kernel"] / sd), "dense"
assert near_grid(out["dense_1.kernel"], src["dense_1.kernel"] * sd[:, None]), "dense_1"
a = list(csv.DictReader(open(w + "/p32.csv")))
b = list(csv.DictReader(open(w + "/pe.csv")))
agree = sum(x["predicted"] == y["predicted"] for x, y in zip(a, b)) / len(a)
acc32, acce = (json.load(open(w + f))["accuracy"] for f in ("/e32.json", "/ee.json"))
print(f"equalized int8 vs float: top-1 agreement {agree:.4f}, accuracy {acce:.4f} vs {acc32:.4f}",
      file=sys.stderr)
assert agree >= 0.99 and acc32 - acce <= 0.005, (agree, acc32, acce)
PY
# Through a separate relu Activation and ZeroPadding2D the scales reach the next convolution
# too; a sigmoid Activation stops them (it does not commute with a scale).
PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 "$py" - "$work" <<'PY'
import json, sys
import numpy as np
import rd
w = sys.argv[1]
rng = np.random.default_rng(5)
layers = [{"type": "Conv2D", "filters": 16, "kernel_size": 3},
          {"type": "Activation", "activation": "relu"}, {"type": "ZeroPadding2D", "padding": 1},
          {"type": "Conv2D", "filters": 16, "kernel_size": 3},
          {"type": "Activation", "activation": "sigmoid"},
          {"type": "Conv2D", "filters": 8, "kernel_size": 3},
          {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 2, "activation": "softmax"}]
json.dump({"name": "act", "input_shape": [8, 8, 4], "layers": layers}, open(w + "/act.json", "w"))
shapes = {"conv2d.kernel": [3, 3, 4, 16], "conv2d.bias": [16], "conv2d_1.kernel": [3, 3, 16, 16],
          "conv2d_1.bias": [16], "conv2d_2.kernel": [3, 3, 16, 8], "conv2d_2.bias": [8],
          "dense.kernel": [8, 2], "dense.bias": [2]}
rd.write_tensors(w + "/act.safetensors",
                 {name: (shape, rng.uniform(-0.5, 0.5, shape).astype("<f4").tobytes())
                  for name, shape in shapes.items()})
# Channel 0 spans 0-255, the others less: ranges that equalization evens out.
rd.write_records(w + "/act.cnnrec", {"shape": [8, 8, 4], "dtype": "uint8", "label": "int32",
                                      "classes": ["a", "b"], "class_mode": "sparse", "count": 32},
                 [(i % 2, (rng.integers(0, 256, (8, 8, 4)) * np.array([1, 0.5, 0.1, 0.02]))
                   .astype(np.uint8).tobytes()) for i in range(32)])
PY
"$bin/cnn-quantize" "$work/act.json" --weights "$work/act.safetensors" --calibrate "$work/act.cnnrec" \
  --samples 0 --equalize 0.5 -o "$work/act8" --json -q > "$work/act.q.json" || fail "cnn-quantize --equalize (act)"
python3 - "$work/act.q.json" <<'PY' || fail "equalization through Activation and ZeroPadding2D"
import json, sys
by = {l["name"]: l for l in json.load(open(sys.argv[1]))["layers"]}
assert by["conv2d"]["int8"] and by["conv2d_1"]["int8"] and by["conv2d_2"]["int8"], by
assert len(by["conv2d"]["equalize_scale"]) == 16, by["conv2d"]
assert "equalize_scale" not in by["conv2d_1"], by["conv2d_1"]  # read through a sigmoid
assert len(by["conv2d_2"]["equalize_scale"]) == 8, by["conv2d_2"]  # GAP, then an int8 Dense
PY

rc=0; "$bin/cnn-quantize" "$work/f32" --calibrate fashion-mnist:train --equalize 1.5 -o "$work/bad" -q 2> "$work/bad.err" || rc=$?
[ "$rc" = 2 ] && [ ! -e "$work/bad" ] || fail "--equalize 1.5: exit $rc, $(cat "$work/bad.err")"

# CNN_INT8=0 runs the same run in float (its weights on the int8 grid): another result.
CNN_INT8=0 "$bin/cnn-eval" "$work/int8" --data fashion-mnist:test --predictions "$work/pw.csv" -q --threads 2 > /dev/null
! cmp -s "$work/p8.csv" "$work/pw.csv" || fail "CNN_INT8=0 gave the int8 predictions"

# The other programs read it.
"$bin/cnn-extract-features" "$work/int8" --layer dense --data fashion-mnist:test -o "$work/feats.npy" -q --threads 2 \
  || fail "cnn-extract-features on the quantized run"
"$bin/cnn-summary" "$work/int8/model.json" > "$work/summary.txt" || fail "cnn-summary on the quantized run"
grep -q "Total params: 93,322" "$work/summary.txt" || fail "summary: $(cat "$work/summary.txt")"
PYTHONPATH="$src/tests/cli" PYTHONDONTWRITEBYTECODE=1 python3 - "$work/img.png" <<'PY'
import sys
import rd
rd.png_gray(sys.argv[1], 28, 28, bytes((x * 9 + y * 5) % 256 for y in range(28) for x in range(28)))
PY
"$bin/cnn-visualize" activations "$work/int8" "$work/img.png" --layers conv2d_1 -o "$work/act.png" -q \
  > /dev/null || fail "cnn-visualize on the quantized run"

# Bad inputs: exit 3, one line, nothing written.
expect_bad() {  # NAME TEXT ARGS...
  local name=$1 text=$2 rc=0; shift 2
  "$bin/cnn-quantize" "$@" > "$work/out" 2> "$work/err" || rc=$?
  [[ $rc -eq 3 ]] || fail "$name: exit $rc, expected 3: $(cat "$work/err")"
  grep -qF -- "$text" "$work/err" || fail "$name: '$text' not in: $(cat "$work/err")"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$name: not one line: $(cat "$work/err")"
  [[ ! -s "$work/out" ]] || fail "$name: wrote to stdout"
}
expect_bad exists "already exists" "$work/f32" --calibrate fashion-mnist:train -o "$work/int8"
expect_bad missing-run "$work/nope" "$work/nope" --calibrate fashion-mnist:train -o "$work/q2"
expect_bad unknown-layer "no layer named 'dens'" "$work/f32" --calibrate fashion-mnist:train --keep-float dens -o "$work/q3"
expect_bad bad-data "$work/nodata" "$work/f32" --calibrate "$work/nodata" -o "$work/q4"
cp -r "$work/f32" "$work/nan"
python3 - "$work/nan/weights.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
start = json.loads(data[8:8 + n])["dense.kernel"]["data_offsets"][0]
data[8 + n + start:8 + n + start + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
PY
expect_bad nan-weights "only finite weights can be quantized" "$work/nan" --calibrate fashion-mnist:train -o "$work/q6"
for d in q2 q3 q4 q6; do [[ ! -e "$work/$d" ]] || fail "$d: left a directory"; done
[[ -z $(ls -A "$work" | grep '^\.tmp-') ]] || fail "left a temporary folder"
rc=0; "$bin/cnn-quantize" "$work/f32" --calibrate fashion-mnist:train --method median -o "$work/q5" 2> "$work/err" || rc=$?
[[ $rc -eq 2 ]] || fail "--method median: exit $rc, expected 2"
echo "quantize: ok"
