#!/usr/bin/env bash
# cnn-augment end to end on a few real photos: previews to a folder, record streams (seeded,
# thread-independent, read by cnn-train and cnn-eval), the pipe to cnn-train, a reader closing
# the pipe early (exit 0, no error), inline augmentation in cnn-train, and bad settings.
# usage: augment.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data "$src/../shared/data/cats_and_dogs_filtered"
aug="$bin/cnn-augment"
lecture="$src/configs/augment/lecture.json"
tiny="$src/tests/data/tiny_photos.json"
photos="$src/../shared/data/cats_and_dogs_filtered/train"
mkdir -p "$work/photos/cats" "$work/photos/dogs"
cp "$photos"/cats/cat.{0,1,2}.jpg "$work/photos/cats/"
cp "$photos"/dogs/dog.{0,1,2}.jpg "$work/photos/dogs/"

# --help and a bad flag.
"$aug" --help > /dev/null || fail "--help"
rc=0; "$aug" "$work/photos" --no-such-flag 2> /dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "a bad flag exited $rc, expected 2"

# Previews: N images per source image, in both formats; --json on stdout only.
"$aug" "$work/photos" --config "$lecture" --target-size 40 48 --save-to-dir "$work/png" \
  --save-prefix aug --count 3 --seed 1 -q --json > "$work/png.json"
[[ $(ls "$work/png" | wc -l) -eq 18 ]] || fail "expected 18 png files, got $(ls "$work/png")"
[[ -e "$work/png/aug_5_2.png" ]] || fail "aug_5_2.png missing: $(ls "$work/png")"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['images']==18 and j['sources']==6 and j['shape']==[40,48,3], j" \
  "$work/png.json" || fail "--json: $(cat "$work/png.json")"
"$aug" "$work/photos" --config "$lecture" --target-size 40 48 --save-to-dir "$work/jpg" \
  --save-format jpeg --count 2 -q
[[ $(ls "$work/jpg"/*.jpeg | wc -l) -eq 12 ]] || fail "expected 12 jpeg files"
head -c 3 "$work/jpg/_0_0.jpeg" | od -An -tx1 | grep -q "ff d8 ff" || fail "not a JPEG"

# Exact mode: a horizontal flip twice is the original (uint8 records, source order).
stream_of() { "$aug" "$work/photos" --target-size 16 16 --stream --epochs 1 --no-shuffle \
  --dtype uint8 -q "$@"; }
stream_of > "$work/plain.cnnrec"
stream_of --transform '{"flip_horizontal": true}' > "$work/flip.cnnrec"
cmp -s "$work/plain.cnnrec" "$work/flip.cnnrec" && fail "the flip changed nothing"
python3 - "$work/plain.cnnrec" "$work/flip.cnnrec" <<'PY' || fail "the flip is not exact"
import json, struct, sys
def read(p):
    b = open(p, "rb").read()
    assert b[:8] == b"\x89CNNREC\n", b[:8]
    n = struct.unpack("<I", b[12:16])[0]
    h = json.loads(b[16:16 + n])
    H, W, C = h["shape"]
    size = 4 + H * W * C
    recs = [b[16 + n + i * size:16 + n + (i + 1) * size] for i in range(h["count"])]
    return h, recs
h, a = read(sys.argv[1])
_, f = read(sys.argv[2])
H, W, C = h["shape"]
assert len(a) == 6 and h["classes"] == ["cats", "dogs"], h
for ra, rf in zip(a, f):
    assert ra[:4] == rf[:4]
    for r in range(H):
        for c in range(W):
            i, j = 4 + (r * W + c) * C, 4 + (r * W + W - 1 - c) * C
            assert ra[i:i + C] == rf[j:j + C]
PY

# Streams: same seed, same bytes, for 1 and 2 threads.
"$aug" "$work/photos" --config "$lecture" --target-size 24 24 --stream --epochs 2 --seed 4 \
  --threads 1 -q --output "$work/s1.cnnrec"
"$aug" "$work/photos" --config "$lecture" --target-size 24 24 --stream --epochs 2 --seed 4 \
  --threads 2 -q > "$work/s2.cnnrec"
cmp -s "$work/s1.cnnrec" "$work/s2.cnnrec" || fail "same seed, different streams"
# Through a symlink, the stream replaces the file it points at and the link stays (issue #17).
: > "$work/target.cnnrec" && ln -s target.cnnrec "$work/link.cnnrec"
"$aug" "$work/photos" --config "$lecture" --target-size 24 24 --stream --epochs 2 --seed 4 \
  --threads 1 -q --output "$work/link.cnnrec"
[[ -L "$work/link.cnnrec" ]] && cmp -s "$work/target.cnnrec" "$work/s1.cnnrec" ||
  fail "a stream written through a symlink replaced the link"

# The pipeline: cnn-augment | cnn-train --data -, then cnn-eval reads a stream file.
"$aug" "$work/photos" --config "$lecture" --target-size 24 24 --stream --epochs 2 --seed 4 -q \
  | "$bin/cnn-train" --model "$tiny" --data - --epochs 2 --batch-size 4 --seed 1 --threads 2 -q \
      -o "$work/run" --json > "$work/train.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['epochs']==2 and j['loss']>0, j" \
  "$work/train.json" || fail "cnn-train --data -: $(cat "$work/train.json")"
"$bin/cnn-eval" "$work/run" --data "$work/s1.cnnrec" --json > "$work/eval.json"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['samples']==12, j" \
  "$work/eval.json" || fail "cnn-eval on a stream: $(cat "$work/eval.json")"

# An endless stream into cnn-train: --steps-per-epoch bounds what is read, then the pipe closes.
"$aug" "$work/photos" --config "$lecture" --target-size 24 24 --stream -q 2> "$work/endless.err" \
  | "$bin/cnn-train" --model "$tiny" --data - --epochs 2 --steps-per-epoch 3 --batch-size 4 -q \
      -o "$work/run2"
[[ ! -s "$work/endless.err" ]] || fail "endless stream: $(cat "$work/endless.err")"

# The reader closes the pipe early: exit 0 and no error message.
set +o pipefail
"$aug" "$work/photos" --target-size 24 24 --stream 2> "$work/head.err" | head -c 1000 > /dev/null
rc=${PIPESTATUS[0]}
set -o pipefail
[[ $rc -eq 0 ]] || fail "cnn-augment | head exited $rc: $(cat "$work/head.err")"
grep -qi error "$work/head.err" && fail "cnn-augment | head printed: $(cat "$work/head.err")"

# Inline augmentation in cnn-train; train.json keeps the settings.
"$bin/cnn-train" --model "$tiny" --data "$work/photos" --augment "$lecture" --epochs 1 \
  --batch-size 4 --seed 1 -q -o "$work/inline"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['augment']['rotation_range']==40, j['augment']" \
  "$work/inline/train.json" || fail "train.json lacks the augment settings"

# Bad settings: exit 3, one line naming the field.
expect_bad() {  # FIELD ARGS...
  local field=$1 rc=0; shift
  "$aug" "$work/photos" --save-to-dir "$work/bad" "$@" > "$work/out" 2> "$work/err" || rc=$?
  [[ $rc -eq 3 ]] || fail "$field: exit $rc, expected 3: $(cat "$work/err")"
  grep -qF -- "$field" "$work/err" || fail "$field not in: $(cat "$work/err")"
  [[ $(wc -l < "$work/err") -eq 1 ]] || fail "$field: not one line: $(cat "$work/err")"
}
expect_bad /rotation_range --rotation-range -5
expect_bad /width_shift_range --width-shift-range -0.2
expect_bad /zoom_range --zoom-range 1.5
expect_bad /zoom_range --zoom-range '[0, 1]'
expect_bad /fill_mode --fill-mode mirror
expect_bad /brightness_range --brightness-range '[1.2, 0.8]'
expect_bad /unknown_key --set unknown_key=1
expect_bad "$work/nope" --config "$work/nope"
rc=0; "$aug" "$work/nothing-here" --save-to-dir "$work/bad" 2> "$work/err" || rc=$?
[[ $rc -eq 3 ]] || fail "missing source exited $rc"
rc=0; "$aug" "$work/photos" 2> /dev/null || rc=$?
[[ $rc -eq 2 ]] || fail "no output chosen exited $rc, expected 2"
echo "augment.sh: ok"
