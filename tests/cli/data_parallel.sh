#!/usr/bin/env bash
# More than one process (issue #14): data-parallel cnn-train and sharded cnn-eval,
# cnn-extract-features and cnn-augment under mpirun on this machine, against one process.
#   - one process under mpirun is bit-identical to no mpirun;
#   - 2 and 4 processes train the weights one process trains, to float summation order (the
#     parts of a batch of 63: 32/31 and 16/16/16/15, and of the last batch of 11), with
#     augmentation; a rerun with the same count is bit-identical;
#   - --sync-bn with 2 and 4 processes trains a BatchNormalization model as one process does,
#     and per-process statistics (the default) do not;
#   - evaluation, features and augmented images are identical to one process's, byte for byte;
#   - SIGTERM to one process mid-epoch ends every process with 130 and a checkpoint; --resume
#     refuses another process count and, with the same one, ends with the weights of a run never
#     interrupted (dropout and BatchNormalization: every process's generator and statistics);
#   - SIGKILL of one process ends the job within seconds, and --resume continues it.
# Skipped when the build has no MPI or mpirun is absent.
# usage: data_parallel.sh BIN_DIR SOURCE_DIR BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
build=$3
py=/usr/bin/python3
if ! grep -q "^CNN_MPI:BOOL=ON" "$build/CMakeCache.txt" || ! command -v mpirun > /dev/null; then
  echo "SKIPPED: this build has no MPI (CNN_MPI) or mpirun is absent (scripts/install-deps.sh installs Open MPI)" >&2
  exit 77
fi
need_data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
mpirun=(timeout 300 mpirun --oversubscribe --allow-run-as-root --mca btl self,vader)
diff_py=$src/tests/mpi/weights_diff.py
cd "$work"
"$py" -c "import sys; sys.path.insert(0, '$src/tests/cli'); import rd; rd.fashion_test_slice('img', 'lab', 200)"

# --- training: 1, 2 and 4 processes ---
echo '{"rotation_range": 15, "width_shift_range": 0.1, "zoom_range": 0.1}' > aug.json
train=("$bin/cnn-train" --model "$src/configs/models/mnist_convnet.json" --data idx:img,lab
  --optimizer sgd --learning-rate 0.005 --batch-size 63 --epochs 2 --augment aug.json
  --threads 1 --seed 3 -q)
"${train[@]}" -o one
"${mpirun[@]}" -np 1 "${train[@]}" -o np1
cmp one/weights.safetensors np1/weights.safetensors || fail "mpirun -np 1 differs from one process"
for np in 2 4; do
  "${mpirun[@]}" -np "$np" "${train[@]}" -o "np$np" 2> err || fail "mpirun -np $np cnn-train: $(cat err)"
  [[ ! -s err ]] || fail "mpirun -np $np cnn-train -q wrote on stderr: $(cat err)"
  d=$("$py" "$diff_py" one/weights.safetensors "np$np/weights.safetensors" --bound 1e-5) ||
    fail "$np processes trained other weights than one: $d"
  echo "cnn-train, $np processes vs one: largest relative difference $d"
done
"${mpirun[@]}" -np 2 "${train[@]}" -o np2again
cmp np2/weights.safetensors np2again/weights.safetensors || fail "a rerun with 2 processes differs"
# epoch, loss, accuracy, lr (the seconds differ)
[[ $(cut -d, -f1-4 np2/history.csv) == "$(cut -d, -f1-4 np2again/history.csv)" ]] ||
  fail "a rerun's history differs: $(cat np2/history.csv np2again/history.csv)"
[[ $(ls np2) == "$(ls one)" ]] || fail "the run directories hold other files: $(ls np2)"

# --- BatchNormalization: per process by default, over the whole batch with --sync-bn ---
cat > bn.json << 'EOF'
{"name": "bn", "input_shape": [28, 28, 1], "layers": [
  {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "use_bias": false},
  {"type": "BatchNormalization"}, {"type": "Activation", "activation": "relu"},
  {"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}
EOF
bn=("$bin/cnn-train" --model bn.json --data idx:img,lab --optimizer sgd --learning-rate 0.005
  --batch-size 63 --epochs 1 --threads 1 --seed 3 -q)
"${bn[@]}" -o bn1
"${bn[@]}" --sync-bn -o bn1s
cmp bn1/weights.safetensors bn1s/weights.safetensors || fail "--sync-bn changed one process's run"
for np in 2 4; do
  "${mpirun[@]}" -np "$np" "${bn[@]}" --sync-bn -o "bn${np}s"
  d=$("$py" "$diff_py" bn1/weights.safetensors "bn${np}s/weights.safetensors" --bound 1e-5) ||
    fail "--sync-bn with $np processes trained other weights than one process: $d"
  "${mpirun[@]}" -np "$np" "${bn[@]}" -o "bn$np"
  ! p=$("$py" "$diff_py" bn1/weights.safetensors "bn$np/weights.safetensors" --bound 1e-3) ||
    fail "per-process BatchNormalization with $np processes is one process's: $p"
  echo "BatchNormalization, $np processes vs one: --sync-bn $d, per process $p"
done
rc=0
"${mpirun[@]}" -np 2 "$bin/cnn-train" --model bn.json --data idx:img,lab --batch-size 1 --sync-bn \
  -q -o bn_small 2> err || rc=$?
[[ $rc == 3 ]] && grep -q "leaves some without any" err || fail "--sync-bn with a batch of 1: exit $rc, $(cat err)"

# --- sharded inference: identical to one process ---
"$bin/cnn-eval" one --data idx:img,lab --json --predictions p1.csv --threads 1 > e1.json
"${mpirun[@]}" -np 3 "$bin/cnn-eval" one --data idx:img,lab --json --predictions p3.csv \
  --threads 1 > e3.json
cmp e1.json e3.json || fail "cnn-eval with 3 processes: other metrics: $(cat e3.json)"
cmp p1.csv p3.csv || fail "cnn-eval with 3 processes: other predictions"
"$bin/cnn-extract-features" one --layer dense --data idx:img,lab -o f1.npy -q
"${mpirun[@]}" -np 3 "$bin/cnn-extract-features" one --layer dense --data idx:img,lab -o f3.npy -q
cmp f1.npy f3.npy && cmp f1.labels.npy f3.labels.npy || fail "features with 3 processes differ"
"${mpirun[@]}" -np 2 "$bin/cnn-extract-features" one --layer conv2d_2 --pool avg --data idx:img,lab \
  -o - -q > f2.cnnrec
"$bin/cnn-extract-features" one --layer conv2d_2 --pool avg --data idx:img,lab -o - -q | cmp - f2.cnnrec ||
  fail "a record stream of features with 2 processes differs"
"$bin/cnn-augment" idx:img,lab --config aug.json --save-to-dir a1 --save-format png --count 2 -q
"${mpirun[@]}" -np 3 "$bin/cnn-augment" idx:img,lab --config aug.json --save-to-dir a3 \
  --save-format png --count 2 -q
diff -r a1 a3 > /dev/null || fail "cnn-augment --save-to-dir with 3 processes made other images"
rc=0
"${mpirun[@]}" -np 2 "$bin/cnn-augment" idx:img,lab --stream --epochs 1 > /dev/null 2> err || rc=$?
[[ $rc == 2 ]] && grep -q "a stream is written by one process" err ||
  fail "cnn-augment --stream under mpirun: exit $rc, $(cat err)"
echo "cnn-eval, cnn-extract-features, cnn-augment: 2 and 3 processes give one process's bytes"

# --- stopping one process, and resuming ---
cat > tiny.json << 'EOF'
{"name": "tiny", "input_shape": [28, 28, 1], "layers": [
  {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2},
  {"type": "BatchNormalization"}, {"type": "Activation", "activation": "relu"},
  {"type": "Flatten"}, {"type": "Dropout", "rate": 0.3},
  {"type": "Dense", "units": 10, "activation": "softmax"}]}
EOF
long=("$bin/cnn-train" --model tiny.json --data idx:img,lab --batch-size 8 --epochs 40 --threads 1
  --seed 4)
# The process of rank $2 of the mpirun job whose pid is $1 (each rank has its rank in its
# environment).
rank_pid() {
  local p
  for p in $(pgrep -P "$1"); do
    if tr '\0' '\n' < "/proc/$p/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"
      return
    fi
  done
}
# Starts `long` with 2 processes into $1, waits for its first checkpoint, sends $2 to rank 1;
# leaves the exit code in rc and the seconds from the signal to the job's end in took.
signal_rank1() {
  "${mpirun[@]}" -np 2 "${long[@]}" -o "$1" > "$1.out" 2> "$1.err" &
  local job=$! waited=0
  until [[ -e $1/checkpoint/latest ]]; do
    sleep 0.1
    waited=$((waited + 1))
    ((waited < 600)) || fail "no checkpoint after 60 s: $(cat "$1.err")"
  done
  local mpirun_pid
  mpirun_pid=$(pgrep -P "$job" -x mpirun || echo "$job")
  local target
  target=$(rank_pid "$mpirun_pid" 1)
  [[ -n $target ]] || fail "rank 1 of the job was not found"
  local t0=$SECONDS
  kill "-$2" "$target"
  rc=0
  wait "$job" || rc=$?
  took=$((SECONDS - t0))
}
"${mpirun[@]}" -np 2 "${long[@]}" -o whole -q
signal_rank1 stopped TERM
[[ $rc == 130 ]] || fail "SIGTERM to rank 1: exit $rc, expected 130: $(cat stopped.err)"
grep -q "interrupted: checkpoint written; continue with cnn-train --resume stopped" stopped.err ||
  fail "SIGTERM to rank 1: $(cat stopped.err)"
[[ ! -e stopped/weights.safetensors ]] || fail "an interrupted run wrote final weights"
rc=0
"$bin/cnn-train" --resume stopped -q 2> err || rc=$?
[[ $rc == 3 ]] && grep -q "trained by 2 processes and this job has 1; resume it with mpirun -np 2" err ||
  fail "resuming 2 processes' run with one: exit $rc, $(cat err)"
"${mpirun[@]}" -np 2 "$bin/cnn-train" --resume stopped -q --threads 1
cmp whole/weights.safetensors stopped/weights.safetensors ||
  fail "stopped and resumed with 2 processes: other weights than a run never stopped"
echo "SIGTERM to one process: exit 130 after $took s, resumed to the uninterrupted weights"
signal_rank1 killed KILL
[[ $rc != 0 ]] || fail "SIGKILL of rank 1: the job exited 0"
((took <= 15)) || fail "SIGKILL of rank 1: the job took $took s to end"
grep -q "exited on signal 9" killed.err || fail "SIGKILL of rank 1: $(cat killed.err)"
"${mpirun[@]}" -np 2 "$bin/cnn-train" --resume killed -q --threads 1
cmp whole/weights.safetensors killed/weights.safetensors ||
  fail "killed and resumed with 2 processes: other weights than a run never stopped"
echo "SIGKILL of one process: the job ended after $took s (exit $rc), resumed to the uninterrupted weights"
