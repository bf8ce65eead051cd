#!/usr/bin/env bash
# Hostile files and resources bounded before they are spent (issue #17), each a case that failed
# before its fix: sizes declared by small files (a gzip bomb of an IDX file, a record stream that
# declares huge records, a model of 600M parameters in cnn-summary, activations past the budget),
# --max-memory, Keras HDF5 files that reach outside themselves or crash libhdf5, record-stream
# headers without their required fields. Every refusal: exit 3, one sentence, bounded time and memory.
# usage: hostile.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
cd "$work"
py=/usr/bin/python3

# expect_refusal CODE PATTERN MAX_RSS_MB CMD...: CMD exits CODE within 60 s, stderr is one line
# matching PATTERN, and the process peaked below MAX_RSS_MB of resident memory.
expect_refusal() {
  local code=$1 pattern=$2 max_mb=$3
  shift 3
  local rc=0
  timeout 60 /usr/bin/time -f "%M" -o rss "$@" > out 2> err || rc=$?
  [[ $rc -eq $code ]] || fail "$* exited $rc, expected $code: $(cat err)"
  [[ $(wc -l < err) -eq 1 ]] || fail "$*: not one line: $(cat err)"
  grep -q -- "$pattern" err || fail "$*: expected '$pattern' in: $(cat err)"
  local kb
  kb=$(tail -1 rss)
  ((kb < max_mb * 1024)) || fail "$*: peaked at $((kb / 1024)) MB (at most $max_mb MB expected)"
}

# A small trained run to read data with.
"$bin/cnn-train" --model "$src/tests/data/tiny_convnet.json" --data fashion-mnist:train --epochs 1 \
  --steps-per-epoch 1 --batch-size 8 --threads 1 -q -o run

# ---- IDX: a gzip bomb (a 10-image header, then 256 MiB of zeros in ~250 KB) stops at the size
# the header declares; a header declaring 931 GiB is refused before inflating.
$py - <<'PY'
import gzip, struct, zlib
hdr = struct.pack(">IIII", 0x803, 10, 28, 28)
c = zlib.compressobj(9, zlib.DEFLATED, 31)
with open("bomb.gz", "wb") as f:
    f.write(c.compress(hdr + bytes(10 * 784)))
    for _ in range(256):
        f.write(c.compress(bytes(1 << 20)))
    f.write(c.flush())
open("huge.gz", "wb").write(gzip.compress(struct.pack(">IIII", 0x803, 1000000, 1000, 1000)))
open("labels", "wb").write(struct.pack(">II", 0x801, 10) + bytes(10))
PY
(( $(stat -c %s bomb.gz) < 400000 )) || fail "the gzip bomb is not small"
expect_refusal 3 "decompresses to more than the 7856 bytes the IDX header's dimensions declare" 150 \
  "$bin/cnn-eval" run --data idx:bomb.gz,labels -q
expect_refusal 3 "huge.gz: the decompressed IDX data its header declares needs 931 GiB, more than the memory budget of 1.0 GiB" 150 \
  "$bin/cnn-eval" run --data idx:huge.gz,labels -q --max-memory 1G

# ---- Record streams: declared sizes against the file and the budget, before allocating.
$py - <<'PY'
import json, struct
def stream(path, header, body=b""):
    h = json.dumps(header).encode()
    open(path, "wb").write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(h)) + h + body)
base = {"dtype": "uint8", "label": "int32", "classes": ["a", "b"], "class_mode": "binary"}
stream("over.cnnrec", dict(base, shape=[30000, 30000, 3], count=1))
stream("big.cnnrec", dict(base, shape=[20000, 20000, 3], count=1), struct.pack("<i", 0) + bytes(100))
stream("many.cnnrec", dict(base, shape=[2, 2, 1], count=3), (struct.pack("<i", 1) + bytes(4)) * 4)
for field in ("label", "class_mode"):
    h = dict(base, shape=[2, 2, 1], count=1)
    del h[field]
    stream("no_%s.cnnrec" % field, h, struct.pack("<i", 0) + bytes(4))
PY
(( $(stat -c %s over.cnnrec) < 300 )) || fail "over.cnnrec is not small"
eval_rec=("$bin/cnn-eval" run -q --data)
expect_refusal 3 "has more than 2^31 values per sample" 100 "${eval_rec[@]}" over.cnnrec
expect_refusal 3 "record 0 is truncated: 104 of 1200000004 bytes" 100 "${eval_rec[@]}" big.cnnrec
expect_refusal 3 "bytes after the 3 records the header announces" 100 "${eval_rec[@]}" many.cnnrec
# Through a pipe the file size is unknown: the budget bounds one record.
rc=0; cat big.cnnrec | timeout 60 "$bin/cnn-eval" run -q --data - \
  --max-memory 512M 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "one record of shape (20000, 20000, 3) needs 1.1 GiB, more than the memory budget of 512 MiB" err ||
  fail "a huge record through a pipe: $rc $(cat err)"
expect_refusal 3 "header: missing required field (field 'label')" 100 "${eval_rec[@]}" no_label.cnnrec
expect_refusal 3 "header: missing required field (field 'class_mode')" 100 "${eval_rec[@]}" no_class_mode.cnnrec

# ---- Models: 600M parameters cost address space, not memory, in cnn-summary; the budget
# refuses them, and activations past it, naming the number.
cat > dense.json <<'JSON'
{"name": "big", "input_shape": [1000], "layers": [{"type": "Dense", "name": "d", "units": 600000}]}
JSON
timeout 60 /usr/bin/time -f "%M" -o rss "$bin/cnn-summary" dense.json > out 2> err || fail "summary of 600M parameters: $(cat err)"
grep -q "Total params: 600,600,000" out || fail "summary total: $(cat out)"
(( $(tail -1 rss) < 200 * 1024 )) || fail "cnn-summary of 600M parameters peaked at $(( $(tail -1 rss) / 1024 )) MB"
expect_refusal 3 "model 'big': 600600000 parameters and their gradients needs 4.5 GiB, more than the memory budget of 1.0 GiB" 100 \
  "$bin/cnn-summary" dense.json --max-memory 1G
cat > wide.json <<'JSON'
{"name": "wide", "input_shape": [4096, 4096, 3],
 "layers": [{"type": "Conv2D", "name": "c", "filters": 64, "kernel_size": 3, "padding": "same"}]}
JSON
expect_refusal 3 "model 'wide': the layers' outputs and gradients for a batch of 2 needs 17 GiB, more than the memory budget of 1.0 GiB" 100 \
  "$bin/cnn-summary" wide.json --time --batch-size 2 --max-memory 1G
# A layer whose scratch dwarfs its activations: im2col of a 31x31 kernel over 256 channels
# is 16 GiB for one 128x128 sample whose output is 64 KiB.
cat > im2col.json <<'JSON'
{"name": "im2col", "input_shape": [128, 128, 256],
 "layers": [{"type": "Conv2D", "name": "c", "filters": 1, "kernel_size": 31, "padding": "same"}]}
JSON
expect_refusal 3 "layer 'c': the im2col matrix needs 15 GiB, more than the memory budget of 1.0 GiB" 200 \
  "$bin/cnn-summary" im2col.json --time --inference --batch-size 1 --max-memory 1G
rc=0; "$bin/cnn-summary" dense.json --max-memory lots 2> err || rc=$?
[[ $rc -eq 2 ]] && grep -q "^cnn-summary: error: --max-memory: expected a size such as 512M or 8G, got 'lots'$" err ||
  fail "--max-memory lots: $rc $(cat err)"

# ---- Graph algorithms stay linear: a chain of 100,000 layers written in reverse order (each
# naming its input) builds and prints in seconds (172 s before), and a cycle through all of
# them is named in one short sentence.
$py - <<'PY'
import json
n = 100000
layers = [{"type": "Activation", "activation": "relu", "name": "l%d" % i,
           "inputs": "l%d" % (i - 1) if i else "input_1"} for i in reversed(range(n))]
json.dump({"name": "chain", "input_shape": [4], "output": "l%d" % (n - 1), "layers": layers},
          open("chain.json", "w"))
layers[-1]["inputs"] = "l%d" % (n - 1)
json.dump({"name": "ring", "input_shape": [4], "output": "l%d" % (n - 1), "layers": layers},
          open("ring.json", "w"))
PY
timeout 60 "$bin/cnn-summary" chain.json > out 2> err || fail "100k-layer chain: $? $(cat err)"
grep -q "Total params: 0" out || fail "100k-layer chain summary"
expect_refusal 3 "the inputs form a cycle: l99999 -> l0 -> l1 -> l2 -> l3 -> l4 -> ... (99989 more) -> l99994 -> l99995 -> l99996 -> l99997 -> l99998 -> l99999$" 500 \
  "$bin/cnn-summary" ring.json

# ---- Keras HDF5: external links, external storage and virtual datasets would copy another
# file of the machine into the weights; each is refused and nothing is written.
for mode in external-link external-storage virtual; do
  $py "$src/tests/cli/make_keras_h5.py" write "$mode.h5" "$mode"
  case $mode in
    external-link) want="'/fc1/fc1/bias:0' is an external link to another file" ;;
    external-storage) want="dataset '/fc1/fc1/bias:0' keeps its data in external files" ;;
    virtual) want="dataset '/fc1/fc1/bias:0' is a virtual dataset" ;;
  esac
  expect_refusal 3 "$want" 200 "$bin/cnn-import" keras-h5 "$mode.h5" --model "$src/tests/data/tiny_vgg.json" -o "out-$mode"
  [[ ! -e out-$mode ]] || fail "$mode: an output was written"
done

# ---- Keras HDF5: libhdf5 reads in a child process with bounded memory and CPU time. A file
# that crashes it (a fuzz finding: a segmentation fault inside libhdf5, an overlapping memcpy
# under AddressSanitizer) is refused in one sentence; a FIFO is not opened at all.
expect_refusal 3 "segv-in-libhdf5.h5: libhdf5 .* while reading the file (in a separate process); the file is damaged or hostile" 200 \
  "$bin/cnn-import" keras-h5 "$src/tests/corpus/keras_h5/segv-in-libhdf5.h5" --model "$src/tests/data/tiny_vgg.json" -o out-segv
[[ ! -e out-segv ]] || fail "segv: an output was written"
mkfifo fifo.h5
expect_refusal 3 "fifo.h5: is not a regular file" 100 \
  "$bin/cnn-import" keras-h5 fifo.h5 --model "$src/tests/data/tiny_vgg.json" -o out-fifo

# ---- Two writers of one run directory: the second is refused (exit 1) and told who holds it;
# the first goes on undisturbed.
train=("$bin/cnn-train" --model "$src/tests/data/tiny_convnet.json" --data fashion-mnist:train
       --batch-size 8 --seed 1 --threads 1 -q)
"${train[@]}" --epochs 1000 --steps-per-epoch 100 -o busy 2> first.err &
first=$!
for _ in $(seq 600); do [[ -s busy/.lock ]] && break; sleep 0.1; done
[[ -s busy/.lock ]] || fail "no lock file in the run directory: $(cat first.err)"
rc=0; "${train[@]}" --epochs 1 --steps-per-epoch 1 -o busy --overwrite 2> err || rc=$?
[[ $rc -eq 1 ]] && grep -q "busy: the run directory is in use by cnn-train (pid $first on " err ||
  fail "a second writer of a run directory: $rc $(cat err)"
[[ $(wc -l < err) -eq 1 ]] || fail "not one line: $(cat err)"
rc=0; "$bin/cnn-train" --resume busy -q 2> err || rc=$?
[[ $rc -ne 0 ]] || fail "--resume of a run in progress succeeded"
kill -INT $first
rc=0; wait $first || rc=$?
[[ $rc -eq 130 ]] || fail "the first run, interrupted, exited $rc: $(cat first.err)"
"$bin/cnn-train" --resume busy --epochs 1 -q 2> err || true  # the lock is free again: no "in use"
! grep -q "in use" err || fail "the lock outlived its run: $(cat err)"

echo "hostile: ok"
