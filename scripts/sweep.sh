#!/usr/bin/env bash
# A grid of training runs: every combination of recipe overrides, each a cnn-train run of its
# own (share/sweep.md). Runs as background jobs here, as a list of commands for GNU parallel, or
# as a Slurm job array; cnn-eval --compare DIR/* puts the runs side by side.
#   scripts/sweep.sh [RECIPE.json] -o DIR --grid KEY=V1,V2,... [--grid ...] [MODE] [-- CNN-TRAIN ARGS]
# MODE: --jobs N  run N at a time here (default 1), then print the comparison
#       --print   print one cnn-train command per line (scripts/sweep.sh ... --print | parallel -j 4)
#       --array   write DIR/.sweep/commands and DIR/.sweep/sweep.sbatch, a Slurm job array of them
# KEY is a recipe field as --set takes it (optimizer.learning_rate, batch_size, seed); values are
# separated by commas. Each run's directory is DIR/KEY=V,KEY=V (the fields in --grid order); logs
# and the job files go to DIR/.sweep/, so that DIR/* is the runs alone.
# Environment: BIN, the folder of cnn-train and cnn-eval (default build/bin of this checkout when
# it exists, else the PATH).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${BIN:-} ]]; then
  if [[ -x $root/build/bin/cnn-train ]]; then BIN=$root/build/bin; else BIN=$(dirname "$(command -v cnn-train)"); fi
fi
usage() {
  echo "usage: scripts/sweep.sh [RECIPE.json] -o DIR --grid KEY=V1,V2 [--grid ...] [--jobs N | --print | --array] [-- CNN-TRAIN ARGS]" >&2
  exit 2
}
recipe="" out="" mode=jobs jobs=1 grids=() extra=()
while (($#)); do
  case $1 in
    -o) out=${2:-}; shift 2 || usage ;;
    --grid) grids+=("${2:-}"); shift 2 || usage ;;
    --jobs) jobs=${2:-}; mode=jobs; shift 2 || usage ;;
    --print) mode=print; shift ;;
    --array) mode=array; shift ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "sweep: unknown option $1" >&2; usage ;;
    *) [[ -z $recipe ]] || usage; recipe=$1; shift ;;
  esac
done
[[ -n $out && ${#grids[@]} -gt 0 ]] || usage
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "sweep: --jobs: expected a positive count, got '$jobs'" >&2; exit 2; }
for g in "${grids[@]}"; do
  [[ $g == *=?* && ${g%%=*} != "" ]] || { echo "sweep: --grid: expected KEY=V1,V2,..., got '$g'" >&2; exit 2; }
done

# The combinations, as lists of "KEY=V" separated by newlines, one combination per line (tab
# between fields), in --grid order with the first field varying slowest.
combos=("")
for g in "${grids[@]}"; do
  key=${g%%=*}
  IFS=, read -r -a values <<< "${g#*=}"
  next=()
  for c in "${combos[@]}"; do
    for v in "${values[@]}"; do next+=("${c:+$c	}$key=$v"); done
  done
  combos=("${next[@]}")
done

# One command per combination: cnn-train RECIPE --set KEY=V ... -o DIR/NAME EXTRA.
commands=() dirs=()
for c in "${combos[@]}"; do
  IFS=$'\t' read -r -a fields <<< "$c"
  name=$(IFS=,; echo "${fields[*]}")
  name=${name//\//_}
  cmd=$(printf '%q ' "$BIN/cnn-train")
  [[ -z $recipe ]] || cmd+=$(printf '%q ' "$recipe")
  for f in "${fields[@]}"; do cmd+=$(printf -- '--set %q ' "$f"); done
  cmd+=$(printf -- '-o %q' "$out/$name")
  ((${#extra[@]} == 0)) || cmd+=$(printf ' %q' "${extra[@]}")
  commands+=("$cmd")
  dirs+=("$out/$name")
done

case $mode in
  print)
    printf '%s\n' "${commands[@]}"
    ;;
  array)
    mkdir -p "$out/.sweep"
    printf '%s\n' "${commands[@]}" > "$out/.sweep/commands"
    cat > "$out/.sweep/sweep.sbatch" <<EOF
#!/usr/bin/env bash
#SBATCH --job-name=cnn-sweep
#SBATCH --array=0-$((${#commands[@]} - 1))
#SBATCH --output=$out/.sweep/slurm-%A_%a.log
# One cnn-train run per array task: line SLURM_ARRAY_TASK_ID + 1 of the commands.
set -euo pipefail
eval "\$(sed -n "\$((SLURM_ARRAY_TASK_ID + 1))p" "$out/.sweep/commands")"
EOF
    echo "sweep: ${#commands[@]} runs in $out/.sweep/commands; submit with: sbatch $out/.sweep/sweep.sbatch" >&2
    ;;
  jobs)
    mkdir -p "$out/.sweep"
    failed=0 running=0
    for i in "${!commands[@]}"; do
      if ((running >= jobs)); then
        wait -n || failed=$((failed + 1))
        running=$((running - 1))
      fi
      echo "sweep: ${dirs[$i]}" >&2
      bash -c "${commands[$i]}" > "$out/.sweep/$(basename "${dirs[$i]}").log" 2>&1 &
      running=$((running + 1))
    done
    while ((running > 0)); do
      wait -n || failed=$((failed + 1))
      running=$((running - 1))
    done
    "$BIN/cnn-eval" --compare "${dirs[@]}" || true
    if ((failed)); then
      echo "sweep: $failed of ${#commands[@]} runs failed; their logs are in $out/.sweep/" >&2
      exit 1
    fi
    ;;
esac
