#!/usr/bin/env bash
# cnn-summary end to end: golden summaries of every config, --json, exit codes for bad input.
# usage: summary.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"

# Golden text: the lecture's own Keras output for the MNIST convnets; ours for the rest.
for golden in "$src"/tests/golden/summary/*.txt; do
  name=$(basename "$golden" .txt)
  "$bin/cnn-summary" "$src/configs/models/$name.json" > "$work/$name.txt"
  diff -u "$golden" "$work/$name.txt" || fail "summary of $name differs from $golden"
done

# --json: valid JSON, nothing else on stdout, the same totals.
"$bin/cnn-summary" --json "$src/configs/models/cats_dogs.json" > "$work/s.json"
python3 - "$work/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["total_params"] == 3453121, s["total_params"]
assert s["trainable_params"] == 3453121
assert s["layers"][0]["output_shape"] == [None, 148, 148, 32]
PY

# Exit codes: --help 0, bad flag 2, missing or malformed input 3 with the path on stderr.
"$bin/cnn-summary" --help > /dev/null || fail "--help"
"$bin/cnn-summary" --version | grep -q "cnn-summary" || fail "--version"
set +e
"$bin/cnn-summary" --no-such-flag x.json 2> "$work/err"; rc=$?
[[ $rc -eq 2 ]] || fail "bad flag exit $rc"
"$bin/cnn-summary" "$work/missing.json" 2> "$work/err"; rc=$?
[[ $rc -eq 3 ]] || fail "missing file exit $rc"
grep -q "missing.json" "$work/err" || fail "missing file not named"
echo '{"name": "m", "input_shape": [4, 4, 1], "layers": [{"type": "Dens", "units": 3}]}' > "$work/bad.json"
"$bin/cnn-summary" "$work/bad.json" > "$work/out" 2> "$work/err"; rc=$?
[[ $rc -eq 3 ]] || fail "bad layer exit $rc"
grep -q "bad.json: /layers/0/type: unknown layer type 'Dens'" "$work/err" || fail "bad layer message: $(cat "$work/err")"
[[ $(wc -l < "$work/err") -eq 1 ]] || fail "error is not one line"
[[ ! -s "$work/out" ]] || fail "stdout not empty on error"

# Each kind of malformed architecture: exit 3, one line naming the file, the layer and the field.
bad_arch() {  # NAME TEXT JSON
  local name=$1 text=$2 rc=0
  printf '%s\n' "$3" > "$work/$name.json"
  "$bin/cnn-summary" "$work/$name.json" > "$work/out" 2> "$work/err"; rc=$?
  [[ $rc -eq 3 ]] || fail "$name: exit $rc, expected 3"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$name: not one line: $(cat "$work/err")"
  grep -qF "$name.json" "$work/err" || fail "$name: file not named: $(cat "$work/err")"
  grep -qF -- "$text" "$work/err" || fail "$name: '$text' not in: $(cat "$work/err")"
}
head='{"name": "m", "input_shape": [8, 8, 1], "layers": ['
bad_arch not-json "not-json.json:2:1: not valid JSON" '{"name": "m",'
bad_arch unknown-type "/layers/0/type: unknown layer type 'Conv3D'" "$head"'{"type": "Conv3D"}]}'
bad_arch unknown-field "layer 'conv2d': /layers/0/filter: unknown field" "$head"'{"type": "Conv2D", "filter": 4, "filters": 4, "kernel_size": 3}]}'
bad_arch missing-field "layer 'dense': /layers/1/units: missing required field" "$head"'{"type": "Flatten"}, {"type": "Dense"}]}'
bad_arch negative-size "layer 'conv2d': /layers/0/kernel_size" "$head"'{"type": "Conv2D", "filters": 4, "kernel_size": -3}]}'
bad_arch too-small "layer 'conv2d_1': /layers/1:" "$head"'{"type": "Conv2D", "filters": 4, "kernel_size": 5}, {"type": "Conv2D", "filters": 4, "kernel_size": 5}]}'
bad_arch add-shapes "layer 'add': /layers/2:" "$head"'{"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "a"}, {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "b", "inputs": "input_1"}, {"type": "Add", "inputs": ["a", "b"]}]}'
bad_arch no-such-input "layer 'add': /layers/1/inputs: no layer named 'c'" "$head"'{"type": "Conv2D", "filters": 4, "kernel_size": 3, "name": "a"}, {"type": "Add", "inputs": ["a", "c"]}]}'
bad_arch cycle "the inputs form a cycle" "$head"'{"type": "Conv2D", "filters": 1, "kernel_size": 1, "name": "a", "inputs": "b"}, {"type": "Conv2D", "filters": 1, "kernel_size": 1, "name": "b"}]}'
set -e

# --time: one row per layer, FLOPs from the shapes (never the timings: those are only read).
"$bin/cnn-summary" --time --batch 4 --iterations 2 --warmup 0 --threads 1 --json \
  "$src/configs/models/mnist_convnet.json" > "$work/time.json"
python3 - "$work/time.json" <<'PY' || fail "--time JSON"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["batch"] == 4 and p["threads"] == 1 and p["mode"] == "training", p
assert p["precision"] == "fp32", p
names = [l["name"] for l in p["layers"]]
assert names == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "conv2d_2", "flatten", "dense", "dense_1"], names
conv = p["layers"][0]
assert conv["forward_flops"] == 2 * 26 * 26 * 32 * 9 * 1 * 4, conv
assert conv["backward_flops"] == conv["forward_flops"], conv  # weight gradient only: it reads the input
assert p["layers"][2]["backward_flops"] == 2 * p["layers"][2]["forward_flops"]
assert p["layers"][6]["forward_flops"] == 2 * 576 * 64 * 4
assert p["layers"][1]["forward_flops"] == 0
assert all(l["forward_ms"] >= 0 and l["backward_ms"] >= 0 for l in p["layers"])
assert p["images_per_second"] > 0
PY
"$bin/cnn-summary" --time --inference --batch 2 --iterations 1 "$src/configs/models/mnist_convnet.json" > "$work/time.txt"
grep -q "^Inference: .* images/s" "$work/time.txt" || fail "--time text: $(cat "$work/time.txt")"
grep -q "^conv2d_2 (Conv2D) " "$work/time.txt" || fail "--time rows: $(cat "$work/time.txt")"
# --precision bf16: the training passes in mixed precision; inference has no such choice.
"$bin/cnn-summary" --time --precision bf16 --batch 2 --iterations 1 --warmup 0 --json \
  "$src/configs/models/mnist_convnet.json" | python3 -c '
import json, sys
p = json.load(sys.stdin)
assert p["precision"] == "bf16" and p["mode"] == "training", p' || fail "--time --precision bf16"
"$bin/cnn-summary" --time --precision bf16 --batch 2 --iterations 1 "$src/configs/models/mnist_convnet.json" |
  grep -q "training mode, bf16 products" || fail "--precision bf16: the header"
set +e
"$bin/cnn-summary" --time --inference --precision bf16 "$src/configs/models/mnist_convnet.json" 2> "$work/err"
rc=$?
set -e
[[ $rc -eq 2 ]] && grep -q "^cnn-summary: error: --precision bf16 applies to training" "$work/err" || fail "--inference --precision bf16: exit $rc, $(cat "$work/err")"
echo "summary: ok"
