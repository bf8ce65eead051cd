#!/usr/bin/env bash
# Installs the Debian packages cnn builds, tests and runs with (Debian 12).
#   scripts/install-deps.sh          install what is missing (apt-get; sudo when not root)
#   scripts/install-deps.sh --check  exit 1 (listing them) if any package is missing
#   --bench (with either form)       also the reference side of `make bench`: PyTorch and
#                                    OpenBLAS (not needed to build or test, so not in CI)
#   --fuzz (with either form)        also clang and libFuzzer, for `make test-sanitize` and
#                                    `make fuzz` (the sanitizer build is clang's)
set -euo pipefail

check=0
bench=0
fuzz=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --bench) bench=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "usage: scripts/install-deps.sh [--check] [--bench] [--fuzz]" >&2; exit 2 ;;
  esac
done

packages=(
  g++ cmake make pkg-config           # the build
  nlohmann-json3-dev                  # JSON: architectures, recipes, safetensors headers
  libcli11-dev                        # command-line parsing of the cnn-* programs
  libxtensor-dev libxsimd-dev         # tensors and SIMD kernels
  libturbojpeg0-dev                   # JPEG decoding of photo datasets
  zlib1g-dev libpng-dev               # gzipped IDX files (MNIST); PNG images read and written
  libfreetype-dev                     # cnn-visualize: anti-aliased text in the figures (FreeType)
  fonts-dejavu-core                   # cnn-visualize: the figures' font, DejaVu Sans, read at run time
  doctest-dev                         # unit tests
  dataset-fashion-mnist               # the built-in default dataset
  python3                             # end-to-end test helpers
  chromium                            # cnn-visualize report: the test renders the page headless
  libonnx-dev libprotobuf-dev         # cnn-import onnx: the ONNX protobuf classes and their runtime
  libhdf5-dev                         # cnn-import keras-h5: Keras HDF5 weights (HDF5 C API)
  libzip-dev                          # cnn-import keras: Keras 3 .keras archives (zip files)
  openmpi-bin libopenmpi-dev          # more than one machine: mpirun, and MPI for libcnn/dist
  python3-h5py python3-numpy          # tests/cli/import.sh writes Keras .h5 and checks weights
  python3-onnx                        # tests/cli/export.sh: the ONNX checker on exported files
  help2man                            # man pages of the programs, made from their --help
  jq                                  # the docs' examples pipe --json output through it (docs.sh)
  dpkg-dev                            # make deb: dpkg-shlibdeps finds the package's dependencies
  clang-format-14                     # scripts/format.sh: the C++ style, checked by .ci/run
)
# Node.js runs the tests' independent references from npm (below); a Node.js installed otherwise
# (NodeSource brings its own npm) is used as it is.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if ((bench)); then
  packages+=(
    python3-torch python3-numpy       # the PyTorch reference of make bench (scripts/bench_torch.py)
    libopenblas-dev                   # OpenBLAS's cblas_sgemm, timed next to ours by bench_gemm
    libopenblas0-openmp               # OpenBLAS as PyTorch's BLAS (OpenMP, as PyTorch's threads)
    libtcmalloc-minimal4              # tcmalloc, preloaded into PyTorch: its best configuration
  )
fi
if ((fuzz)); then
  packages+=(
    clang-14                          # the sanitizer and fuzzing build (tests/fuzz, make fuzz)
    libclang-rt-14-dev                # libFuzzer and the sanitizer runtimes of clang 14
  )
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

# npm packages, into build-npm/ (ignored by git): independent implementations the tests compare
# with. TensorFlow.js: a pure-JavaScript port of Keras's layers and JSON format (tests/keras).
# ONNX Runtime for Node.js (its CPU binaries ship inside the package): runs what cnn-export
# onnx writes (tests/onnx).
# --ignore-scripts: nothing runs at install time.
npm_dir="$(cd "$(dirname "$0")/.." && pwd)/build-npm"
npm_packages=("@tensorflow/tfjs@4.22.0" "onnxruntime-node@1.31.1")
npm_missing() {
  local p name version
  for p in "${npm_packages[@]}"; do
    name=${p%@*} version=${p##*@}
    [[ -f "$npm_dir/node_modules/$name/package.json" ]] &&
      grep -q "\"version\": \"$version\"" "$npm_dir/node_modules/$name/package.json" ||
      return 0
  done
  return 1
}
install_npm() {
  if ! command -v npm >/dev/null; then
    echo "deps: npm is absent; the tests that compare with TensorFlow.js and ONNX Runtime will be skipped" >&2
    return 0
  fi
  echo "deps: npm install ${npm_packages[*]} into $npm_dir" >&2
  mkdir -p "$npm_dir"
  [[ -f "$npm_dir/package.json" ]] || echo '{"private": true}' > "$npm_dir/package.json"
  npm install --prefix "$npm_dir" --ignore-scripts --no-audit --no-fund --loglevel=error \
    "${npm_packages[@]}" >&2 ||
    echo "deps: npm install failed; the tests that compare with TensorFlow.js and ONNX Runtime will be skipped" >&2
}

if ((check)); then
  if ((${#missing[@]})); then
    echo "missing packages: ${missing[*]}" >&2
    exit 1
  fi
  if command -v npm >/dev/null && npm_missing; then
    echo "missing npm packages: ${npm_packages[*]} (in $npm_dir)" >&2
    exit 1
  fi
  exit 0
fi

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages installed" >&2
  if npm_missing; then install_npm; fi
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: run as root or install sudo" >&2; exit 1; }
  sudo=(sudo)
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q || echo "deps: apt-get update failed; trying the cached lists" >&2
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
if npm_missing; then install_npm; fi
