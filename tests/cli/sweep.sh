#!/usr/bin/env bash
# scripts/sweep.sh and cnn-eval --compare: a 2x2 grid of tiny runs as background jobs, the same
# grid as GNU parallel's command list and as a Slurm job array (one task run here as sbatch
# would run it), the comparison table and its JSON, and a run that fails.
# usage: sweep.sh BIN_DIR SOURCE_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
need_data /usr/share/datasets/fashion-mnist
py=/usr/bin/python3
args=(--model "$src/tests/data/tiny_convnet.json" --data fashion-mnist:train
      --validation fashion-mnist:test --validation-steps 2 --batch-size 32 --steps-per-epoch 4
      --epochs 2 --threads 1 -q)
export BIN=$bin
sweep=$src/scripts/sweep.sh

# Background jobs, two at a time: four runs, then the table on stdout.
"$sweep" -o "$work/g" --grid optimizer.learning_rate=0.001,0.0003 --grid seed=1,2 --jobs 2 \
  -- "${args[@]}" > "$work/table" 2> "$work/log" || fail "sweep: $(cat "$work/log")"
for d in "optimizer.learning_rate=0.001,seed=1" "optimizer.learning_rate=0.001,seed=2" \
         "optimizer.learning_rate=0.0003,seed=1" "optimizer.learning_rate=0.0003,seed=2"; do
  [[ -f "$work/g/$d/history.json" ]] || fail "sweep: no run $d"
done
[[ $(wc -l < "$work/table") -eq 5 ]] || fail "sweep: the table: $(cat "$work/table")"
head -1 "$work/table" | grep -q "optimizer.learning_rate  seed  epochs" || fail "table header: $(head -1 "$work/table")"
"$bin/cnn-eval" --compare "$work"/g/* --json > "$work/compare.json"
$py - "$work/compare.json" <<'PY' || fail "cnn-eval --compare --json"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 4, rows
for r in rows:
    # What the grid varied, and nothing else, as the recipe columns.
    assert set(r["recipe"]) == {"optimizer.learning_rate", "seed"}, r["recipe"]
    assert r["epochs"] == 2 and r["final"]["epoch"] == 2, r
    assert "val_accuracy" in r["best"] and r["seconds"] > 0, r
lrs = sorted({r["recipe"]["optimizer.learning_rate"] for r in rows})
assert lrs == [0.0003, 0.001], lrs
PY
# The same seed and settings give the same run: the sweep is the training, reproducible.
cmp -s "$work/g/optimizer.learning_rate=0.001,seed=1/weights.safetensors" \
  <("$bin/cnn-train" "${args[@]}" --set optimizer.learning_rate=0.001 --set seed=1 -o "$work/again" > /dev/null && cat "$work/again/weights.safetensors") ||
  fail "a sweep run differs from the same cnn-train run"

# GNU parallel's input: one command per line.
"$sweep" -o "$work/p" --grid batch_size=16,32 --grid seed=1,2 --print -- "${args[@]}" > "$work/cmds"
[[ $(wc -l < "$work/cmds") -eq 4 ]] || fail "--print: $(cat "$work/cmds")"
bash -c "$(sed -n 3p "$work/cmds")" || fail "a printed command does not run"
[[ -f "$work/p/batch_size=32,seed=1/history.json" ]] || fail "--print: line 3 is not batch_size=32, seed=1"

# A Slurm job array: task 1 run as sbatch would run it.
"$sweep" -o "$work/s" --grid seed=1,2 --array -- "${args[@]}" 2> /dev/null
grep -q "^#SBATCH --array=0-1$" "$work/s/.sweep/sweep.sbatch" || fail "--array: $(cat "$work/s/.sweep/sweep.sbatch")"
SLURM_ARRAY_TASK_ID=1 bash "$work/s/.sweep/sweep.sbatch" || fail "the job array's task 1"
[[ -f "$work/s/seed=2/history.json" && ! -e "$work/s/seed=1" ]] || fail "task 1 is not seed=2"

# A run that fails: the others finish, the sweep exits 1 and says where the logs are.
rc=0
"$sweep" -o "$work/f" --grid optimizer.learning_rate=0.001,fast -- "${args[@]}" > /dev/null 2> "$work/log" || rc=$?
[[ $rc -eq 1 ]] || fail "a failed run: exit $rc"
grep -q "1 of 2 runs failed" "$work/log" || fail "a failed run: $(cat "$work/log")"
[[ -f "$work/f/optimizer.learning_rate=0.001/history.json" ]] || fail "the good run did not finish"
# Bad usage and a directory that is not a run.
rc=0; "$sweep" -o "$work/x" > /dev/null 2>&1 || rc=$?
[[ $rc -eq 2 ]] || fail "no --grid: exit $rc"
rc=0; "$bin/cnn-eval" --compare "$work/g" 2> "$work/err" || rc=$?
[[ $rc -eq 3 ]] && grep -q "no history.json" "$work/err" || fail "--compare of a non-run: exit $rc: $(cat "$work/err")"
echo "sweep: jobs, --print, --array and --compare agree"
