#!/usr/bin/env bash
# The cost of data-parallel training on this machine (issue #14, the README's "More than one
# machine"): the lecture's MNIST convnet on Fashion-MNIST and the cats-vs-dogs convnet on its
# photos, trained by one process with --threads 2 and by `mpirun -np 2` processes with
# --threads 1 each (and one process with --threads 1 for scale), in alternating runs. Prints the
# median images/s of the second epoch (the first pays for the start-up) over REPEATS runs, and
# the gradient sum's milliseconds per step, during backward and after it (waiting, which
# includes the other process's lag).
# usage: scripts/mpi_bench.sh [BUILD_DIR] [REPEATS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$here/build}/bin" && pwd)
repeats=${2:-3}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpirun=(mpirun --oversubscribe --allow-run-as-root --mca btl self,vader)
cd_train=$here/../shared/data/cats_and_dogs_filtered/train
declare -A args=(
  [mnist]="--model $here/configs/models/mnist_convnet.json --data fashion-mnist:train --batch-size 64 --steps-per-epoch 400"
  [cats_dogs]="--model $here/configs/models/cats_dogs.json --data $cd_train --batch-size 20 --steps-per-epoch 25"
)
# images/s of epoch 2 of run directory $1
rate() {
  "$py" - "$1" << 'EOF'
import json, sys
run = sys.argv[1]
h = json.load(open(run + "/history.json"))
t = json.load(open(run + "/train.json"))
print("%.1f" % (t["steps_per_epoch"] * t["batch_size"] / h[1]["seconds"]))
EOF
}
median() { tr ' ' '\n' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
printf "%-10s %-22s %10s %s\n" model configuration images/s "gradient sum, ms/step (during backward / after)"
for model in mnist cats_dogs; do
  read -r -a a <<< "${args[$model]}"
  declare -A rates=()
  sums=""
  for ((r = 0; r < repeats; r++)); do
    for conf in threads2 np2 threads1; do
      dir=$work/$model-$conf-$r
      case $conf in
        threads2) "$bin/cnn-train" "${a[@]}" --epochs 2 --threads 2 -o "$dir" 2> /dev/null ;;
        threads1) "$bin/cnn-train" "${a[@]}" --epochs 2 --threads 1 -o "$dir" 2> /dev/null ;;
        np2)
          "${mpirun[@]}" -np 2 "$bin/cnn-train" "${a[@]}" --epochs 2 --threads 1 -o "$dir" 2> "$dir.err"
          sums+=$(grep -o "took [0-9.]* ms a step during backward and [0-9.]* ms" "$dir.err" |
            awk '{print $2 "/" $9 " "}')
          ;;
      esac
      rates[$conf]+="$(rate "$dir") "
    done
  done
  printf "%-10s %-22s %10s\n" "$model" "1 process, --threads 2" "$(median <<< "${rates[threads2]}")"
  printf "%-10s %-22s %10s %s\n" "$model" "2 processes x 1 thread" "$(median <<< "${rates[np2]}")" "$sums"
  printf "%-10s %-22s %10s\n" "$model" "1 process, --threads 1" "$(median <<< "${rates[threads1]}")"
  unset rates
done
