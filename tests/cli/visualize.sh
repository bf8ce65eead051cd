#!/usr/bin/env bash
# cnn-visualize end to end on a tiny trained run: every subcommand writes its files and prints
# them (a JSON list with --json), and bad inputs exit 3 (unknown layer, a layer that is not
# Conv2D, an unreadable image), an unwritable output exits 1, all with one sentence and no
# partial output. The report renders in headless Chromium when `chromium` is installed.
# usage: visualize.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
viz="$bin/cnn-visualize"
cd "$work"

"$viz" --help > /dev/null || fail "--help"
for sub in curves kernels activations filters cam filterbank report; do
  "$viz" "$sub" --help | grep -q "Example" || fail "$sub --help has no example"
done
rc=0; "$viz" curves --no-such-flag > /dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "a bad flag exited $rc, expected 2"
rc=0; "$viz" > /dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no subcommand exited $rc, expected 2"

# A tiny run with validation history.
"$bin/cnn-train" --model "$src/tests/data/tiny_convnet.json" --data fashion-mnist:train \
  --validation fashion-mnist:test --validation-steps 2 --batch-size 32 --steps-per-epoch 4 \
  --epochs 3 --seed 3 --threads 2 -q -o run
# A 28 x 28 grayscale picture (binary PGM): a bright bar on black.
python3 - <<'PY'
px = bytes(255 if 9 < x < 19 and 4 < y < 24 else 0 for y in range(28) for x in range(28))
open("bar.pgm", "wb").write(b"P5\n28 28\n255\n" + px)
PY

is_png() { [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$1 is not a PNG"; }

# curves: SVG with raw and smoothed polylines of 3 points; PNG; --json list.
out=$("$viz" curves run -o curves.svg --smooth 0.8)
[[ $out == curves.svg ]] || fail "curves printed '$out'"
[[ $(grep -c '<polyline class="raw"' curves.svg) -eq 4 ]] || fail "curves.svg: expected 4 raw polylines"
[[ $(grep -c '<polyline class="smoothed"' curves.svg) -eq 4 ]] || fail "curves.svg: expected 4 smoothed polylines"
"$viz" curves run run/history.json -o curves.png --json > curves.json
python3 -c "import json,sys; assert json.load(open('curves.json')) == ['curves.png']" || fail "curves --json: $(cat curves.json)"
is_png curves.png

# kernels, activations (folder and one PNG), filters, cam, filterbank.
"$viz" kernels run -o kernels.png > /dev/null && is_png kernels.png
"$viz" activations run bar.pgm -o acts > acts.txt
[[ $(wc -l < acts.txt) -eq 3 ]] || fail "activations: expected 3 layer pictures: $(cat acts.txt)"
for f in conv2d max_pooling2d dropout; do is_png "acts/$f.png"; done
"$viz" activations run bar.pgm --layers conv2d -o one.png > /dev/null && is_png one.png
"$viz" filters run --layer conv2d --filters 0:2 --steps 5 --size 40 -q -o filters.png > /dev/null && is_png filters.png
"$viz" cam run bar.pgm --class 3 -q -o cam --json > cam.json
python3 -c "
import json
files = json.load(open('cam.json'))
assert files == ['cam/heatmap.png', 'cam/superimposed.png', 'cam/predictions.json'], files
p = json.load(open('cam/predictions.json'))
assert p['class']['index'] == 3 and len(p['top5']) == 5, p
" || fail "cam --json: $(cat cam.json)"
for k in sobel prewitt haar gabor; do
  "$viz" filterbank bar.pgm --kernel "$k" -o "fb-$k.png" > /dev/null && is_png "fb-$k.png"
done
printf -- '-1 2 -1\n-1 2 -1\n-1 2 -1\n' > line.txt
"$viz" filterbank bar.pgm --kernel line.txt -o fb-file.png > /dev/null && is_png fb-file.png

# Bad inputs: exit 3, one line naming the problem, nothing written.
expect() {  # CODE TEXT OUTPUT ARGS...
  local code=$1 text=$2 output=$3 rc=0; shift 3
  "$viz" "$@" > out.txt 2> err.txt || rc=$?
  [[ $rc -eq $code ]] || fail "$*: exit $rc, expected $code: $(cat err.txt)"
  grep -qF -- "$text" err.txt || fail "$*: '$text' not in: $(cat err.txt)"
  [[ $(wc -l < err.txt) -eq 1 ]] || fail "$*: not one line: $(cat err.txt)"
  [[ ! -s out.txt ]] || fail "$*: wrote to stdout"
  [[ ! -e $output ]] || fail "$*: left $output behind"
}
expect 3 "conv2d_9" bad1.png filters run --layer conv2d_9 -o bad1.png
expect 3 "is MaxPooling2D" bad2.png filters run --layer max_pooling2d -o bad2.png
expect 3 "is Dense" bad3 cam run bar.pgm --layer dense -o bad3
printf 'not an image' > broken.jpg
expect 3 "broken.jpg" bad4 cam run broken.jpg -o bad4
expect 3 "missing.png" bad5 activations run missing.png -o bad5
expect 3 "missing.png" bad6.png filterbank missing.png -o bad6.png
expect 3 "nope" bad7.png curves run --metrics nope -o bad7.png
expect 3 "no layer is named 'dens'" bad8 activations run bar.pgm --layers dens -o bad8
printf 'a file' > file.txt
expect 1 "file.txt" file.txt/k.png kernels run -o file.txt/k.png
expect 1 "file.txt" file.txt/cam cam run bar.pgm -o file.txt/cam
[[ $(cat file.txt) == "a file" ]] || fail "a file was overwritten"

png_size() { python3 -c "import struct,sys; print(*struct.unpack('>II', open(sys.argv[1],'rb').read()[16:24]))" "$1"; }
# filterbank: a grid of --cols columns; the 28 x 28 input enlarged 7x (to at least 192 pixels).
"$viz" filterbank bar.pgm --kernel gabor --orientations 8 --cols 4 -o fb-4.png > /dev/null
"$viz" filterbank bar.pgm --kernel gabor --orientations 8 --cols 2 -o fb-2.png > /dev/null
read -r w4 h4 < <(png_size fb-4.png)
read -r w2 h2 < <(png_size fb-2.png)
((w4 >= 4 * 196 && w2 < w4 && h2 > h4)) || fail "filterbank --cols: 4 columns ${w4}x${h4}, 2 columns ${w2}x${h2}"

# Figure text needs DejaVu Sans: without it, PNG figures fail in one sentence naming the Debian
# package (exit 1, nothing written); SVG names the font family and needs no file.
CNN_FONT=/nonexistent/font.ttf expect 1 "fonts-dejavu-core" nofont.png curves run -o nofont.png
CNN_FONT=/nonexistent/font.ttf expect 1 "fonts-dejavu-core" nofont2.png filterbank bar.pgm -o nofont2.png
CNN_FONT=/nonexistent/font.ttf "$viz" curves run -o nofont.svg > /dev/null || fail "curves .svg needs the font file"
grep -q 'font-family="DejaVu Sans, sans-serif"' nofont.svg || fail "curves.svg does not name DejaVu Sans"
ls -A | grep -q '\.tmp\.' && fail "temporary files left behind: $(ls -A)"

# report: one self-contained HTML page.
"$viz" report run --data fashion-mnist:test --samples 4 --cams 2 -q -o report.html > /dev/null
grep -q '<svg' report.html || fail "report: no inline SVG curves"
grep -q 'data:image/png;base64,' report.html || fail "report: no inline images"
grep -q 'Confusion matrix' report.html || fail "report: no confusion matrix"
grep -q "Trainable params: 1,490" report.html || fail "report: the summary is not the trained model's"
grep -Eq '(src|href)="https?:' report.html && fail "report: refers to the network"
# The curves fit the page: a viewBox and the page's width, no fixed pixel width.
grep -Eq '<svg [^>]*width="100%"[^>]*viewBox=' report.html || fail "report: the curves do not scale to the window"
grep -Eq '<svg [^>]*width="[0-9.]+(px)?"' report.html && fail "report: an SVG has a fixed pixel width"
if command -v chromium > /dev/null; then
  chromium --headless --no-sandbox --disable-gpu --screenshot="$work/report-shot.png" \
    --window-size=1200,2000 "file://$work/report.html" > chromium.log 2>&1 || fail "chromium failed: $(tail -5 chromium.log)"
  is_png report-shot.png
  chromium --headless --no-sandbox --disable-gpu --dump-dom "file://$work/report.html" 2> /dev/null \
    | grep -q "Confusion matrix" || fail "chromium did not parse the report"
else
  echo "notice: chromium is not installed; the report's render check is skipped"
fi

# A feature-vector model (input [8], as a Dense head on extracted features), trained one epoch
# with validation on a record stream: the report evaluates it and says why there are no
# pictures; the one-epoch validation series shows as a marker in curves and in the report.
python3 - <<'PY'
import json, random, struct
random.seed(1)
head = json.dumps({"shape": [8], "dtype": "float32", "label": "int32", "classes": ["neg", "pos"],
                   "class_mode": "binary", "count": 60}).encode()
recs = b""
for i in range(60):
    x = [random.uniform(-1, 1) for _ in range(8)]
    recs += struct.pack("<i8f", int(x[0] > 0), *x)
open("feats.cnnrec", "wb").write(b"\x89CNNREC\n" + struct.pack("<II", 1, len(head)) + head + recs)
json.dump({"name": "head8", "input_shape": [8], "layers": [
    {"type": "Dense", "units": 4, "activation": "relu"},
    {"type": "Dense", "units": 1, "activation": "sigmoid"}]}, open("head8.json", "w"))
PY
"$bin/cnn-train" --model head8.json --data feats.cnnrec --validation feats.cnnrec --epochs 1 \
  --batch-size 20 --seed 1 -q -o head-run
rc=0; "$viz" report head-run -o head.html > /dev/null 2> head.err || rc=$?
[[ $rc -eq 0 ]] || fail "report on a feature-vector model exited $rc: $(cat head.err)"
grep -q 'Confusion matrix' head.html || fail "feature report: no evaluation"
grep -q 'not an image' head.html || fail "feature report: no note on the missing pictures"
grep -q 'data-split="validation"' head.html || fail "feature report: no validation curve"
grep -Eq '<rect class="marker"[^>]*data-split="validation"' head.html \
  || fail "feature report: the one-epoch validation series has no marker"
"$viz" curves head-run -o head-curves.svg > /dev/null
[[ $(grep -Ec '<rect class="marker"[^>]*data-split="validation"' head-curves.svg) -eq 2 ]] \
  || fail "curves: expected one validation marker per metric"
"$viz" curves head-run -o head-curves.png > /dev/null && is_png head-curves.png
echo "visualize: all checks passed"
