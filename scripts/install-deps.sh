#!/usr/bin/env bash
# Installs the Debian packages cnn builds, tests and runs with (Debian 12).
#   scripts/install-deps.sh          install what is missing (apt-get; sudo when not root)
#   scripts/install-deps.sh --check  exit 1 (listing them) if any package is missing
set -euo pipefail

packages=(
  g++ cmake make pkg-config           # the build
  nlohmann-json3-dev                  # JSON: architectures, recipes, safetensors headers
  libcli11-dev                        # command-line parsing of the cnn-* programs
  libxtensor-dev libxsimd-dev         # tensors and SIMD kernels
  libturbojpeg0-dev                   # JPEG decoding of photo datasets
  zlib1g-dev libpng-dev               # gzipped IDX files (MNIST); PNG images read and written
  doctest-dev                         # unit tests
  dataset-fashion-mnist               # the built-in default dataset
  python3                             # end-to-end test helpers
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if [[ "${1:-}" == "--check" ]]; then
  if ((${#missing[@]})); then
    echo "missing packages: ${missing[*]}" >&2
    exit 1
  fi
  exit 0
fi

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages installed" >&2
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
