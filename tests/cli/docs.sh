#!/usr/bin/env bash
# The docs are executed: every fenced ```sh block of README.md and share/*.md runs here, so a
# documented command that fails fails the build. Each file's blocks run in order, in one fresh
# directory laid out like the repository root (configs/, share/, scripts/, tests/, build/bin, and
# a ../shared/data), with the programs first in PATH, under `set -e -o pipefail`.
#
# Small settings, not a test mode: the commands run verbatim, but
#  - cnn-train and cnn-finetune are the shims in tests/cli/docs_shims, which cap the epochs (a
#    resume: one more than the run has), steps, validation steps, batch size and re-estimation
#    batches, then exec the real program; cnn-visualize's shim caps --steps of gradient ascent;
#  - ../shared/data/cats_and_dogs_filtered and cats_and_dogs_test hold a few of the real photos
#    (the same paths, a subset); the other data sets are the real ones;
#  - mpirun may run as root with more processes than cores (Open MPI's environment says so);
#  - inputs a reader would have at hand (photos/, photo.jpg, ..., VGG16 weights, runs made
#    earlier in another page) are made by setup_for below before a file's blocks run.
# usage: docs.sh BIN_DIR SOURCE_DIR [FILE.md ...]   (default: README.md and share/*.md)
set -euo pipefail
bin=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
shift 2
if [[ ! -d $src/../shared/data ]]; then
  echo "SKIPPED: $src/../shared/data is absent; the documented commands read it" >&2
  exit 77
fi
shared=$(cd "$src/../shared" && pwd)
root=$(mktemp -d -p /dev/shm 2> /dev/null || mktemp -d)  # the runs write ~1 GB of weights
[[ -n ${CNN_DOCS_KEEP:-} ]] && echo "docs: keeping $root" >&2 || trap 'rm -rf "$root"' EXIT
py=/usr/bin/python3   # Debian's, with numpy and h5py (a pyenv shim on PATH may lack them)

# Blocks not run, by file and first line, and why. Keep this list short.
skip_reason() {  # FILE FIRST_LINE
  case "$1|$2" in
    "README.md|make demo"*) echo "make demo/make test: the full 5-epoch training, and this test itself" ;;
    "README.md|make bench"*) echo "make bench installs PyTorch and times for minutes" ;;
    "README.md|make fuzz"*) echo "make fuzz builds with clang and fuzzes for minutes (CI runs it)" ;;
    "share/zoo.md|make zoo"*) echo "tests/cli/zoo.sh runs scripts/zoo.sh itself" ;;
    "README.md|make install"*) echo "make install/deb write to the system; tests/cli/install.sh does the same into a scratch prefix" ;;
    "share/library.md|cmake -S examples"*) echo "builds against an installed cnn; tests/cli/install.sh does the same into a scratch prefix" ;;
    "README.md|g++ my_tool.cpp"*) echo "a user's own program; tests/cli/install.sh builds one the same way" ;;
    *) return 1 ;;
  esac
}

# The programs: the shims where there is one, else the real binary.
mkdir -p "$root/bin"
for prog in "$bin"/cnn-*; do
  name=$(basename "$prog")
  if [[ -e "$src/tests/cli/docs_shims/$name" ]]; then
    ln -s "$src/tests/cli/docs_shims/$name" "$root/bin/$name"
  else
    ln -s "$prog" "$root/bin/$name"
  fi
done
export CNN_DOCS_REAL_BIN=$bin
export PATH="$root/bin:$PATH"
# mpirun as root (CI) and with more processes than cores, over shared memory: what a reader
# would pass as --allow-run-as-root --oversubscribe, given in Open MPI's environment instead.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader

# ../shared/data: the real data sets, the photo folders cut down to a few photos per class.
mkdir -p "$root/shared/data"
for d in "$shared"/data/*; do
  case $(basename "$d") in
    cats_and_dogs_filtered|cats_and_dogs_test) ;;
    *) ln -s "$d" "$root/shared/data/" ;;
  esac
done
subset() {  # FROM TO N [EXTRA FILE...]: the first N photos of each class, and the extra ones
  local from=$1 to=$2 n=$3 cls f; shift 3
  for cls in cats dogs; do
    mkdir -p "$to/$cls"
    for f in $(ls "$from/$cls" | sort -V | head -n "$n"); do ln -s "$from/$cls/$f" "$to/$cls/$f"; done
  done
  for f in "$@"; do ln -sf "$from/$f" "$to/$f"; done
}
cd_data=$shared/data/cats_and_dogs_filtered
subset "$cd_data/train" "$root/shared/data/cats_and_dogs_filtered/train" 5
subset "$cd_data/validation" "$root/shared/data/cats_and_dogs_filtered/validation" 3 cats/cat.2000.jpg
subset "$shared/data/cats_and_dogs_test/test" "$root/shared/data/cats_and_dogs_test/test" 3

# What every page may assume a reader has: photos, a folder of them in class folders.
common_fixtures() {
  mkdir -p photos/cats photos/dogs
  cp "$cd_data"/validation/cats/cat.2000.jpg "$cd_data"/validation/cats/cat.2001.jpg photos/cats/
  cp "$cd_data"/validation/dogs/dog.2000.jpg "$cd_data"/validation/dogs/dog.2001.jpg photos/dogs/
  cp "$cd_data/validation/cats/cat.2002.jpg" photo.jpg
  cp "$cd_data/validation/cats/cat.2003.jpg" photo1.jpg
  cp "$cd_data/validation/dogs/dog.2003.jpg" photo2.jpg
}
quiet() { "$@" -q > /dev/null; }
vgg16_safetensors() {  # VGG16's base with made-up weights, as if converted earlier
  cnn-summary configs/models/vgg16_notop.json --json > vgg16.summary.json
  "$py" "$src/tests/cli/make_weights.py" vgg16.summary.json "$1" good
  rm vgg16.summary.json
}
vgg16_h5() {  # Keras's VGG16 notop HDF5 file in its layout (Keras 2 names), zero weights
  "$py" - "$1" <<'EOF'
import json, sys, subprocess
import h5py, numpy as np
summary = json.loads(subprocess.run(["cnn-summary", "configs/models/vgg16_notop.json", "--json"],
                                    check=True, capture_output=True).stdout)
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["layer_names"] = np.array([l["name"].encode() for l in summary["layers"]])
    f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.2.4"
    for l in summary["layers"]:
        g = f.create_group(l["name"])
        names = [f"{l['name']}/{w['name'].split('.')[-1]}:0" for w in l["weights"]]
        g.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.array([])
        for n, w in zip(names, l["weights"]):
            g.create_dataset(n, data=np.zeros(w["shape"], dtype="<f4"))
EOF
}

keras_files() {  # a small Keras model: my_model.json + my_weights.h5, and as TensorFlow.js
  "$py" - <<'EOF'
import json, os
import h5py, numpy as np
layers = [
    ("Conv2D", {"name": "conv", "batch_input_shape": [None, 8, 8, 1], "filters": 4,
                "kernel_size": [3, 3], "activation": "relu", "data_format": "channels_last",
                "kernel_regularizer": None, "dtype": "float32"},
     {"kernel": (3, 3, 1, 4), "bias": (4,)}),
    ("MaxPooling2D", {"name": "pool", "pool_size": [2, 2]}, {}),
    ("Flatten", {"name": "flat"}, {}),
    ("Dense", {"name": "out", "units": 3, "activation": "softmax"},
     {"kernel": (36, 3), "bias": (3,)}),
]
topology = {"class_name": "Sequential", "config": {"name": "small", "layers": [
    {"class_name": c, "config": cfg} for c, cfg, _ in layers]}}
json.dump(topology, open("my_model.json", "w"))
rng = np.random.default_rng(0)
weights = {f"{cfg['name']}/{p}": rng.uniform(-1, 1, shape).astype("<f4")
           for _, cfg, ps in layers for p, shape in ps.items()}
with h5py.File("my_weights.h5", "w") as f:
    f.attrs["layer_names"] = np.array([cfg["name"].encode() for _, cfg, _ in layers])
    for _, cfg, ps in layers:
        g = f.create_group(cfg["name"])
        names = [f"{cfg['name']}/{p}:0" for p in ps]
        g.attrs["weight_names"] = np.array([n.encode() for n in names]) if names else np.array([])
        for n in names:
            g.create_dataset(n, data=weights[n[:-2]])
os.makedirs("tfjs_model", exist_ok=True)
open("tfjs_model/weights.bin", "wb").write(b"".join(w.tobytes() for w in weights.values()))
json.dump({"modelTopology": topology, "weightsManifest": [{"paths": ["weights.bin"], "weights": [
    {"name": n, "shape": list(w.shape), "dtype": "float32"} for n, w in weights.items()]}]},
    open("tfjs_model/model.json", "w"))
EOF
}

# Inputs a page uses that an earlier page (or the reader) made.
setup_for() {
  case $1 in
    share/cnn-eval.md)
      quiet cnn-train configs/train/mnist_convnet.json -o runs/fmnist
      quiet cnn-train configs/train/mnist_convnet.json -o runs/ci
      quiet cnn-train configs/train/cats_dogs.json -o runs/cats ;;
    share/cnn-extract-features.md)
      quiet cnn-import npy ../shared/data/squeezenet1.1/weights --model configs/models/squeezenet1_1.json \
        --map configs/import/squeezenet1_1_npy_map.json -o runs/squeezenet
      vgg16_safetensors vgg16_notop.safetensors ;;
    share/cnn-finetune.md)
      vgg16_safetensors vgg16_notop.safetensors ;;
    share/cnn-visualize.md)
      quiet cnn-import npy ../shared/data/squeezenet1.1/weights --model configs/models/squeezenet1_1.json \
        --map configs/import/squeezenet1_1_npy_map.json -o models/squeezenet1_1
      quiet cnn-train configs/train/cats_dogs.json -o runs/cats
      quiet cnn-train configs/train/cats_dogs.json --augment configs/augment/lecture.json -o runs/cats_aug ;;
    share/cnn-export.md)
      quiet cnn-train configs/train/mnist_convnet.json -o runs/fmnist
      quiet cnn-import npy ../shared/data/squeezenet1.1/weights --model configs/models/squeezenet1_1.json \
        --map configs/import/squeezenet1_1_npy_map.json -o models/squeezenet1_1 ;;
    share/weights.md)  # its sh block reads what its Python block writes from runs/mnist
      quiet cnn-train configs/train/mnist_convnet.json -o runs/mnist
      extract python "$src/$1" | grep -v $'^\036' | "$py" - > /dev/null ;;
    README.md|share/cnn-import.md)
      vgg16_h5 vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
      keras_files ;;
  esac
}

# extract LANG FILE: the file's ```LANG blocks, each as "\x1eLINE_NUMBER" and its lines.
extract() {
  awk -v lang="$1" '
    /^```/ { if (inside) { inside = 0; next }
             if ($0 == "```" lang) { inside = 1; printf "\036%d\n", NR; next } }
    inside { print }' "$2"
}

# run_file FILE: its sh blocks in order, in one fresh directory; returns the number that failed.
failed=0 ran=0 skipped=0
run_file() {
  local file=$1 work n=0 line block_start="" first
  work="$root/$(echo "$file" | tr / _)"
  mkdir -p "$work" "$work/build"
  for d in configs share scripts tests; do ln -s "$src/$d" "$work/$d"; done
  ln -s "$root/bin" "$work/build/bin"
  # ../shared from the work directory is $root/shared: the layout next to a clone.
  local t0=$SECONDS
  (cd "$work" && common_fixtures && setup_for "$file") > "$work.setup.log" 2>&1 || {
    echo "FAIL: $file: setting up its inputs failed:" >&2; sed 's/^/    /' "$work.setup.log" >&2
    failed=$((failed + 1)); return; }
  echo "docs: $file: setup $((SECONDS - t0)) s" >&2
  mkdir -p "$root/blocks"
  extract sh "$src/$file" | awk -v out="$root/blocks/$(echo "$file" | tr / _)" '
    /^\036/ { n++; f = sprintf("%s.%03d.sh", out, n); printf "# line %s\n", substr($0, 2) > f; next }
    { print >> f }'
  for blk in "$root/blocks/$(echo "$file" | tr / _)".*.sh; do
    [[ -e $blk ]] || continue
    line=$(head -n 1 "$blk" | sed 's/# line //')
    first=$(sed -n 2p "$blk")
    if reason=$(skip_reason "$file" "$first"); then
      echo "docs: skipped $file:$line ($first): $reason" >&2
      skipped=$((skipped + 1)); continue
    fi
    ran=$((ran + 1)) t0=$SECONDS
    if ! (cd "$work" && bash -c 'set -eo pipefail
         trap '\''echo "command failed (exit $?): $BASH_COMMAND" >&2'\'' ERR
         source "$1"' _ "$blk") > "$blk.out" 2> "$blk.err" < /dev/null; then
      echo "FAIL: $file:$line, the block starting \"$first\":" >&2
      tail -n 20 "$blk.err" | sed 's/^/    /' >&2
      failed=$((failed + 1))
      return  # later blocks of the page may need this one's output
    fi
    echo "docs: $file:$line: $((SECONDS - t0)) s" >&2
  done
}

if [[ $# -gt 0 ]]; then files=("$@"); else
  files=(README.md)
  for f in "$src"/share/*.md; do files+=("share/$(basename "$f")"); done
fi
start=$SECONDS
for f in "${files[@]}"; do
  t=$SECONDS
  run_file "$f"
  echo "docs: $f: $((SECONDS - t)) s" >&2
done
echo "docs: $ran blocks run, $skipped skipped, $failed failed ($((SECONDS - start)) s)" >&2
[[ $failed -eq 0 ]]
