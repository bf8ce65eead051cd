#!/usr/bin/env bash
# Inference memory (issue #15): cnn-summary --memory's plan, and the peak resident memory of
# cnn-eval on VGG16 at batch 20 against that plan. Without the plan (every output kept) the
# peak is 288 MiB higher, with every Winograd kernel kept 186 MiB, with Winograd's tile blocks
# outside the plan 75 MiB, and the bound below fails.
set -euo pipefail
source "$(dirname "$0")/common.sh"
py=/usr/bin/python3

# The plan of VGG16's base at 150x150, batch 20: block1's two outputs (115,200,000 bytes each)
# and block1_conv2's scratch are the most alive at once, and the buffer is no larger.
"$bin/cnn-summary" --memory --batch-size 20 --json "$src/configs/models/vgg16_notop.json" \
  > "$work/vgg.json"
"$py" - "$work/vgg.json" <<'PY' || fail "--memory JSON of vgg16_notop"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["batch"] == 20
block1_conv2 = p["layers"][1]
assert p["buffer_bytes"] == 2 * 115200000 + block1_conv2["scratch_bytes"] == p["live_peak_bytes"], p
assert p["param_bytes"] == 14714688 * 4
sizes = [l["bytes"] for l in p["layers"]]
assert p["training_output_bytes"] == sum(sizes)
assert p["layers"][0]["bytes"] == 115200000 and p["layers"][0]["first_step"] == 0
assert p["layers"][-1]["last_step"] == len(sizes)  # the output: read after the pass
# Winograd F(4x4,3x3) runs every layer but the first, and takes 36 values for every 9 of a 3x3
# kernel. At batch 20 every layer has 128 tiles or more (block5: 9 per sample), so each makes
# its kernel on every forward, in its scratch: in the buffer, with its tile blocks, at its step.
assert p["derived_bytes"] == 0, p["derived_bytes"]
convs = [l for l in p["layers"][1:] if l["type"] == "Conv2D"]
assert [l["name"] for l in p["layers"] if l["scratch_bytes"]] == [l["name"] for l in convs]
assert convs[-1]["scratch_bytes"] > 36 * 4 * 512 * 512
for i, l in enumerate(p["layers"]):  # no output alive at its step overlaps it
    if l["scratch_bytes"]:
        lo, hi = l["scratch_offset"], l["scratch_offset"] + l["scratch_bytes"]
        assert hi <= p["buffer_bytes"]
        for o in p["layers"]:
            if o["first_step"] <= i <= o["last_step"]:
                assert o["offset"] + o["bytes"] <= lo or hi <= o["offset"], (l, o)
assert p["total_bytes"] == p["param_bytes"] + p["buffer_bytes"]
PY
# At batch 1, blocks 3-5 (100, 25 and 9 tiles) keep theirs.
"$bin/cnn-summary" --memory --batch-size 1 --json "$src/configs/models/vgg16_notop.json" \
  > "$work/vgg1.json"
"$py" - "$work/vgg1.json" <<'PY' || fail "--memory JSON of vgg16_notop at batch 1"
import json, sys
p = json.load(open(sys.argv[1]))
assert p["derived_bytes"] == sum(36 * 4 * c * f for c, f in
    [(128, 256), (256, 256), (256, 256), (256, 512)] + [(512, 512)] * 5), p["derived_bytes"]
assert p["total_bytes"] == p["param_bytes"] + p["buffer_bytes"] + p["derived_bytes"]
PY
# The lecture's MNIST convnet: the first convolution runs fused with its pooling (no output).
"$bin/cnn-summary" --memory --batch 64 --json "$src/configs/models/mnist_convnet.json" > "$work/m.json"
"$py" - "$work/m.json" <<'PY' || fail "--memory JSON of mnist_convnet"
import json, sys
p = json.load(open(sys.argv[1]))
first = p["layers"][0]
assert first["fused"] and first["bytes"] == 0 and "offset" not in first, first
assert p["layers"][1]["first_step"] == 0
# conv2d_1's scratch (Winograd's tile blocks) and the outputs alive with it are the peak.
assert p["buffer_bytes"] == p["live_peak_bytes"], p
scratch = p["layers"][2]["scratch_bytes"]
assert scratch and p["buffer_bytes"] < p["training_output_bytes"] + scratch, p
PY
"$bin/cnn-summary" --memory --batch-size 20 "$src/configs/models/vgg16_notop.json" > "$work/vgg.txt"
grep -q "^Outputs and scratch, planned buffer (peak): 226.20 MB" "$work/vgg.txt" || fail "--memory text: $(cat "$work/vgg.txt")"
grep -q "^block1_conv2 (Conv2D) .* 109.86 MB .*109.86-219.73 MB .*1-2" "$work/vgg.txt" ||
  fail "--memory rows: $(cat "$work/vgg.txt")"
set +e
"$bin/cnn-summary" --memory --time "$src/configs/models/vgg16_notop.json" 2> "$work/err"; rc=$?
set -e
[[ $rc -eq 2 ]] || fail "--memory --time: exit $rc"

# cnn-eval: VGG16's base with a head, made-up weights, 40 photos at batch 20.
photos=$src/../shared/data/cats_and_dogs_filtered/validation
need_data "$photos/cats" "$photos/dogs"
for c in cats dogs; do
  mkdir -p "$work/photos/$c"
  mapfile -t files < <(find "$photos/$c" -name '*.jpg' | sort)
  ln -s "${files[@]:0:20}" "$work/photos/$c/"
done
"$py" - "$src/configs/models/vgg16_notop.json" "$work/vgg16_head.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["name"] = "vgg16_head"
m["layers"] += [{"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1, "activation": "sigmoid"}]
json.dump(m, open(sys.argv[2], "w"))
PY
"$bin/cnn-summary" --json "$work/vgg16_head.json" > "$work/head.summary.json"
"$py" "$src/tests/cli/make_weights.py" "$work/head.summary.json" "$work/w.safetensors" good
"$bin/cnn-summary" --memory --batch-size 20 --json "$work/vgg16_head.json" > "$work/head.json"
# The peak resident memory of the process (getrusage of the waited-for child), against the plan's
# total (parameters, outputs and the layers' scratch) plus 80 MiB for the program and the decoded
# photos: measured 304 MiB against 284. Winograd's tile blocks outside the plan would add 75 MiB,
# kept Winograd kernels 186 MiB, and fail it. CNN_CHECK_PARAMS_VERSION is off: it keeps a copy of
# every kernel.
"$py" - "$bin/cnn-eval" "$work" <<'PY' || fail "cnn-eval's peak memory"
import json, os, resource, subprocess, sys
cnn_eval, work = sys.argv[1], sys.argv[2]
env = {k: v for k, v in os.environ.items() if k != "CNN_CHECK_PARAMS_VERSION"}
out = subprocess.run([cnn_eval, f"{work}/vgg16_head.json", "--weights", f"{work}/w.safetensors",
                      "--data", f"{work}/photos", "--batch-size", "20", "--target-size", "150",
                      "150", "--threads", "2", "--json", "-q"], env=env, check=True,
                     stdout=subprocess.PIPE, text=True).stdout
assert json.loads(out)["samples"] == 40
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
plan = json.load(open(f"{work}/head.json"))
bound = plan["total_bytes"] + 80 * 2**20
kept = plan["param_bytes"] + plan["training_output_bytes"] + plan["derived_bytes"]
print(f"cnn-eval VGG16 batch 20: peak RSS {peak / 2**20:.0f} MiB; plan {plan['total_bytes'] / 2**20:.0f}"
      f" MiB, bound {bound / 2**20:.0f} MiB; every output kept: {kept / 2**20:.0f} MiB + scratch")
assert peak <= bound, f"peak {peak} > {bound}"
PY
echo "memory: ok"
