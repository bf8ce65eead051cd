#!/usr/bin/env bash
# What a model expects as input travels with it (issue #18 §1): a run trained on Fashion-MNIST
# (pixels scaled by 1/255 by the dataset) records that in its model.json, and cnn-eval --images
# on the same pictures written as PNG files, cnn-visualize cam, cnn-extract-features and
# cnn-eval --data all give the same numbers. Also the Rescaling layer in a model file, the
# record stream's declared rescale, and --rescale overriding the model's with a note.
# usage: preprocessing.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data "$src/../shared/data/cats_and_dogs_filtered" /usr/share/datasets/fashion-mnist
cd "$work"
tiny="$src/tests/data/tiny_convnet.json"

"$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32 --steps-per-epoch 30 \
  --epochs 1 --seed 3 --threads 2 -q -o run
python3 - <<'PY' || fail "model.json does not record the data's rescale"
import json
p = json.load(open("run/model.json"))["preprocessing"]
assert abs(p["rescale"] - 1 / 255) < 1e-9 and p["interpolation"] == "nearest", p
PY

# The first 20 test images as 8-bit grayscale PNG files, and as an IDX slice.
python3 - "$src" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/cli")
import rd
rd.fashion_test_slice("slice-images", "slice-labels", 20)
b = open("slice-images", "rb").read()[16:]
for i in range(20):
    rd.png_gray("img%02d.png" % i, 28, 28, b[i * 784:(i + 1) * 784])
PY

"$bin/cnn-eval" run --data idx:slice-images,slice-labels --predictions data.json -q > /dev/null
"$bin/cnn-eval" run --images img*.png --json -q > images.json
python3 - <<'PY' || fail "cnn-eval --images differs from --data on the same pictures"
import json
d = json.load(open("data.json"))
i = json.load(open("images.json"))["predictions"]
assert len(d) == len(i) == 20
worst = 0
for a, b in zip(d, i):  # both list the classes in output order (their names may differ)
    for v, w in zip(a["probabilities"].values(), b["probabilities"].values()):
        worst = max(worst, abs(v - w))
assert worst <= 1e-6, worst
# Not trivially equal: a trained model's probabilities are not all 0 and 1.
assert any(0.01 < v < 0.99 for p in d for v in p["probabilities"].values())
PY

# Grad-CAM reports the same probability for its class.
"$bin/cnn-visualize" cam run img00.png -o cam -q > /dev/null
python3 - <<'PY' || fail "cam's probability differs from cnn-eval's"
import json
d = json.load(open("images.json"))["predictions"][0]["probabilities"]
c = json.load(open("cam/predictions.json"))
assert len(c["top5"]) == 5
for e in c["top5"]:
    assert abs(e["probability"] - d[e["name"]]) <= 1e-6, (e, d)
PY

# --rescale on one command still works, and says what it overrides.
"$bin/cnn-eval" run --images img00.png --rescale 1 > /dev/null 2> note.txt
grep -q "overrides the model's rescale" note.txt || fail "--rescale did not say what it overrides: $(cat note.txt)"

# A Rescaling layer in the architecture: the same model, the scaling as a layer, raw pixels in.
python3 - "$src" <<'PY'
import json, sys
m = json.load(open("run/model.json"))
del m["preprocessing"]
m["layers"].insert(0, {"type": "Rescaling", "name": "rescaling", "scale": 1 / 255, "offset": 0.0})
json.dump(m, open("rescaling.json", "w"))
PY
"$bin/cnn-eval" rescaling.json --weights run/weights.safetensors --data idx:slice-images,slice-labels \
  --rescale 1 --predictions layer.json -q > /dev/null
python3 - <<'PY' || fail "a Rescaling layer differs from the recorded preprocessing"
import json
d, l = json.load(open("data.json")), json.load(open("layer.json"))
worst = max(abs(v - w) for a, b in zip(d, l)
            for v, w in zip(a["probabilities"].values(), b["probabilities"].values()))
assert worst <= 1e-6, worst
PY
"$bin/cnn-summary" rescaling.json | grep -q "rescaling (Rescaling)" || fail "summary lacks the Rescaling layer"

# A record stream declares its rescale (raw pixels in the records); cnn-train records it, so the
# run reads photos as the stream's reader did.
photos="$src/../shared/data/cats_and_dogs_filtered/train"
mkdir -p photos/cats photos/dogs
cp "$photos"/cats/cat.{0,1}.jpg photos/cats/
cp "$photos"/dogs/dog.{0,1}.jpg photos/dogs/
"$bin/cnn-augment" photos --rescale 0.00392156862745098 --horizontal-flip --stream --epochs 2 \
  --target-size 20 20 -o aug.cnnrec -q
python3 - "$src" <<'PY' || fail "the stream does not declare its rescale, or scaled its values"
import json, struct, sys
sys.path.insert(0, sys.argv[1] + "/tests/cli")
import rd
b = open("aug.cnnrec", "rb").read()
n = struct.unpack("<I", b[12:16])[0]
h = json.loads(b[16:16 + n])
assert abs(h["rescale"] - 1 / 255) < 1e-7, h
_, recs = rd.records("aug.cnnrec")
assert len(recs) == 8 and max(max(x) for _, x in recs) > 2, "values were scaled in the stream"
PY
cat > photo_model.json <<'JSON'
{"name": "photo", "input_shape": [20, 20, 3], "layers": [
  {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
  {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]}
JSON
"$bin/cnn-train" --model photo_model.json --data aug.cnnrec --epochs 1 --batch-size 4 -q -o srun
python3 - <<'PY' || fail "a run trained on a declared-rescale stream does not record it"
import json
p = json.load(open("srun/model.json"))["preprocessing"]
assert abs(p["rescale"] - 1 / 255) < 1e-7, p
PY
echo "preprocessing: ok"
