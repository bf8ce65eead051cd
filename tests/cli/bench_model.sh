#!/usr/bin/env bash
# bench_model (the C++ side of make bench) still runs: 2 training steps and 2 inference forwards
# of mnist_convnet on random batches print the JSON bench.py reads, and check mode writes the
# outputs the PyTorch comparison reads. No timing is asserted (STYLE.md §8): only shapes of output.
# usage: bench_model.sh BENCH_MODEL SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
bench=$1
model="$src/configs/models/mnist_convnet.json"

for mode in train infer; do
  "$bench" "$model" --mode "$mode" --batch 4 --steps 2 --warmup 0 --runs 1 --data-batches 1 \
    --threads 1 -q > "$work/$mode.json" || fail "$mode: exit $?"
  python3 - "$work/$mode.json" "$mode" <<'PY' || fail "$mode: bad JSON: $(cat "$work/$mode.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["mode"] == sys.argv[2] and d["params"] == 93322, d
assert len(d["images_per_s"]) == 1 and d["images_per_s"][0] > 0, d
assert d["peak_rss_kib"] > 0, d
assert ("loss_last" in d) == (sys.argv[2] == "train"), d
PY
done

# Check mode: a fixed input (and labels) in, weights and outputs out, by name.
python3 - "$work/x.safetensors" <<'PY'
import json, struct, sys
vals = [((i % 13) / 13.0) for i in range(2 * 28 * 28)]
labels = [3.0, 7.0]
header = {"input": {"dtype": "F32", "shape": [2, 28, 28, 1], "data_offsets": [0, 4 * len(vals)]},
          "labels": {"dtype": "F32", "shape": [2],
                     "data_offsets": [4 * len(vals), 4 * len(vals) + 8]}}
text = json.dumps(header).encode()
text += b" " * (-(8 + len(text)) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text
            + struct.pack("<%df" % (len(vals) + 2), *vals, *labels))
PY
"$bench" "$model" --mode check --threads 1 --save-weights "$work/w.safetensors" \
  --check-input "$work/x.safetensors" --check-output "$work/y.safetensors" > "$work/check.json" \
  || fail "check: exit $?"
python3 - "$work/check.json" "$work/y.safetensors" "$work/w.safetensors" <<'PY' || fail "check mode"
import json, struct, sys
d = json.load(open(sys.argv[1]))
assert d["params"] == 93322 and d["first_step_loss"] > 0, d
def header(path):
    with open(path, "rb") as f:
        return json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
y = header(sys.argv[2])
assert y["output"]["shape"] == [2, 10] and y["output_after_step"]["shape"] == [2, 10], y
assert header(sys.argv[3])["conv2d.kernel"]["shape"] == [3, 3, 1, 32]
PY

# A bad flag is a usage error; a missing model is bad input.
rc=0; "$bench" "$model" --bogus > /dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "bad flag: exit $rc, expected 2"
rc=0; "$bench" "$work/none.json" > /dev/null 2>&1 || rc=$?
[[ $rc -eq 3 ]] || fail "missing model: exit $rc, expected 3"
echo "bench_model: ok"
