#!/usr/bin/env bash
# Keras habits accepted and one spelling per idea (issue #18 §4, §5, §6): optimizer names in any
# case and as a plain string, "lr", did-you-mean for flags, layer-name prefixes, class synonyms,
# -o / --batch-size / --pool defaults / exit codes shared by the programs, and prediction as
# users expect it (folders, quoted patterns, --top-k).
# usage: habits.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
cd "$work"
tiny="$src/tests/data/tiny_convnet.json"
train=("$bin/cnn-train" --model "$tiny" --data fashion-mnist:train --batch-size 32
       --steps-per-epoch 3 --epochs 1 --seed 3 --threads 2)

# Optimizer names as Keras takes them.
"${train[@]}" --optimizer adam -q -o o1 || fail "--optimizer adam"
python3 -c "import json; o=json.load(open('o1/train.json'))['optimizer']; assert o['type'].lower()=='adam', o" \
  || fail "train.json optimizer"
cat > r.json <<JSON
{"model": "$tiny", "data": {"train": "fashion-mnist:train"}, "optimizer": "rmsprop",
 "batch_size": 16, "steps_per_epoch": 2, "epochs": 1}
JSON
"$bin/cnn-train" r.json -q -o o2 || fail '"optimizer": "rmsprop"'
cat > lr.json <<JSON
{"model": "$tiny", "data": {"train": "fashion-mnist:train"},
 "optimizer": {"type": "SGD", "lr": 0.5}, "batch_size": 16, "steps_per_epoch": 2, "epochs": 1}
JSON
"$bin/cnn-train" lr.json -o o3 > /dev/null 2> err || fail '"lr": $(cat err)'
grep -q "old name of learning_rate" err || fail "no note about lr: $(cat err)"
python3 -c "import json; h=json.load(open('o3/history.json')); assert h[0]['lr']==0.5, h" || fail "lr not used"

# Misspelled flags: exit 2 and the flag meant.
for pair in "--lr:--learning-rate" "--learning_rate:--learning-rate" "--batch_size:--batch-size" "--epoch:--epochs"; do
  bad=${pair%%:*} good=${pair#*:}
  rc=0; "${train[@]}" "$bad" 0.1 -o o4 2> err || rc=$?
  [[ $rc -eq 2 ]] && grep -q "did you mean $good?" err || fail "$bad: $rc $(cat err)"
done

# Layer names: a prefix suggests the layer it begins (the last of them, a block's output).
rc=0; "$bin/cnn-extract-features" o1 --layer max_pool --data fashion-mnist:test -o f.npy 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "did you mean 'max_pooling2d'" err || fail "layer prefix: $rc $(cat err)"

# One spelling: --batch-size in cnn-summary, -o in cnn-augment, flatten as --pool's default,
# a bad -o extension exits 2 everywhere.
"$bin/cnn-summary" --time --batch-size 2 --iterations 1 --warmup 0 "$tiny" > /dev/null || fail "summary --batch-size"
python3 - "$src" <<'PY'
import sys
sys.path.insert(0, sys.argv[1] + "/tests/cli")
import rd
rd.fashion_test_slice("img", "lab", 10)
PY
"$bin/cnn-extract-features" o1 --layer max_pooling2d --data idx:img,lab -o f.npy -q
python3 - "$src" <<'PY' || fail "--pool does not default to flatten"
import json
m = json.load(open("f.meta.json"))
assert m["pool"] == "flatten" and len(m["shape"]) == 1, m
PY
rc=0; "$bin/cnn-extract-features" o1 --layer dense --data idx:img,lab -o f.txt 2> err || rc=$?
[[ $rc -eq 2 ]] || fail "extract bad -o extension exited $rc"
rc=0; "$bin/cnn-visualize" curves o1 -o c.txt 2> err || rc=$?
[[ $rc -eq 2 ]] || fail "visualize curves bad -o extension exited $rc: $(cat err)"
rc=0; "$bin/cnn-visualize" report o1 -o r.txt 2> err || rc=$?
[[ $rc -eq 2 ]] || fail "visualize report bad -o extension exited $rc: $(cat err)"

# Class names: a comma-separated synonym, a prefix, any case.
python3 - <<'PY'
names = ["tench", "goldfish", "tabby, tabby cat", "tiger cat", "Persian cat", "a", "b", "c", "d", "e"]
open("classes.txt", "w").write("\n".join(names) + "\n")
PY
python3 - "$src" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[1] + "/tests/cli")
import rd
b = open("img", "rb").read()[16:]
os.makedirs("pics/sub", exist_ok=True)
for i, path in enumerate(["pics/b.png", "pics/a.png", "pics/sub/c.png"]):
    rd.png_gray(path, 28, 28, b[i * 784:(i + 1) * 784])
PY
for q in tabby TABBY "tabby cat" persian; do
  "$bin/cnn-visualize" cam o1 pics/a.png --classes classes.txt --class "$q" -o "cam" -q > /dev/null \
    || fail "--class '$q'"
  want=2; [[ $q == persian ]] && want=4
  python3 -c "import json,sys; c=json.load(open('cam/predictions.json'))['class']; assert c['index']==$want, c" \
    || fail "--class '$q' picked the wrong class"
  rm -r cam
done
printf 'x\n' >> classes.txt
rc=0; "$bin/cnn-visualize" cam o1 pics/a.png --classes classes.txt -o cam -q 2> err > /dev/null || rc=$?
[[ $rc -eq 3 ]] && grep -q "11 class names" err || fail "11 names for 10 outputs: $rc $(cat err)"

# Prediction: a folder (recursive, sorted), a quoted pattern, --top-k as CSV and JSON.
"$bin/cnn-eval" o1 --images pics -q > folder.csv
python3 - <<'PY' || fail "--images FOLDER: $(cat folder.csv)"
import csv
rows = list(csv.reader(open("folder.csv")))
assert [r[0] for r in rows[1:]] == ["pics/a.png", "pics/b.png", "pics/sub/c.png"], rows
PY
"$bin/cnn-eval" o1 --images 'pics/*.png' --top-k 3 -q > top.csv
python3 - <<'PY' || fail "--top-k CSV: $(cat top.csv)"
import csv
rows = list(csv.reader(open("top.csv")))
assert rows[0] == ["file", "label", "class_1", "probability_1", "class_2", "probability_2", "class_3", "probability_3"], rows[0]
assert [r[0] for r in rows[1:]] == ["pics/a.png", "pics/b.png"]
p = [float(x) for x in rows[1][3::2]]
assert p == sorted(p, reverse=True) and 0 < p[0] <= 1
PY
"$bin/cnn-eval" o1 --images pics --top-k 2 --json -q > top.json
python3 -c "import json; p=json.load(open('top.json'))['predictions']; assert len(p)==3 and len(p[0]['top_k'])==2" \
  || fail "--top-k JSON"
rc=0; "$bin/cnn-eval" o1 --images 'nothing/*.png' -q 2> err || rc=$?
[[ $rc -eq 3 ]] && grep -q "no file matches" err || fail "empty pattern: $rc $(cat err)"
# The recipe flags' one table (cmd/common/recipe_flags.cpp) and share/cnn-train.md's flags table
# agree: every flag in it is documented with its value name and recipe field, and both programs
# that train offer every flag.
python3 - "$src/cmd/common/recipe_flags.cpp" "$src/share/cnn-train.md" <<'PY' || fail "recipe flags and share/cnn-train.md disagree"
import re, sys
table = re.findall(r'\{"(--[a-z-]+)", "([^"]*)", "([a-z_.]+)", K::(\w+)', open(sys.argv[1]).read())
assert len(table) >= 20, table
doc = open(sys.argv[2]).read()
for flag, value, field, kind in table:
    shown = f"`{flag} {value}`" if value else f"`{flag}`"
    want = {"Off": f"`{field}: false`", "On": f"`{field}: true`"}.get(kind, f"`{field}`")
    row = re.search(r"^\| " + re.escape(shown) + r" \| " + re.escape(want) + r" \|", doc, re.M)
    assert row, f"share/cnn-train.md has no row | {shown} | {want} |"
PY
for program in cnn-train cnn-finetune; do
  "$bin/$program" --help > "$work/help"
  for flag in $(grep -o '{"--[a-z-]*"' "$src/cmd/common/recipe_flags.cpp" | tr -d '{"'); do
    grep -q -- "$flag" "$work/help" || fail "$program --help lacks $flag"
  done
done
echo "habits: ok"
