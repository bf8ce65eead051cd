#!/usr/bin/env bash
# The installed toolchain (issue #13). cmake --install into a scratch prefix gives programs that
# run from there, man pages, bash completion, the configs under share/cnn and the docs; a program
# outside this tree builds against the installed libcnn with find_package(cnn) (static and
# shared; and libcnn_import, which alone needs protobuf and HDF5) and with pkg-config;
# examples/classify.cpp, built against the install, names the class of a photo; and make deb's
# package (cpack) holds the same files, names the libraries it needs, runs from an unpacked
# tree, and apt can resolve it on this machine.
# usage: install.sh BIN_DIR SOURCE_DIR BUILD_DIR
set -euo pipefail
source "$(dirname "$0")/common.sh"
build=$3
programs=(cnn-augment cnn-eval cnn-export cnn-extract-features cnn-finetune cnn-import cnn-quantize cnn-summary cnn-train
          cnn-visualize)

# ---- cmake --install
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log" ||
  fail "cmake --install: $(tail -5 "$work/install.log")"
for p in "${programs[@]}"; do
  [[ -x $prefix/bin/$p ]] || fail "$p is not installed in bin/"
  [[ $("$prefix/bin/$p" --version) == "$p "[0-9]* ]] || fail "$p --version"
  [[ -f $prefix/share/bash-completion/completions/$p ]] || fail "no bash completion for $p"
  if command -v help2man > /dev/null; then
    page=$prefix/share/man/man1/$p.1.gz
    [[ -f $page ]] || fail "no man page $page"
    zcat "$page" > "$work/page"
    grep -q "^\.TH $(tr a-z A-Z <<< "$p")" "$work/page" || fail "$page is not a man page"
    grep -q "^\.SH OPTIONS" "$work/page" || fail "$page lacks the options"
  fi
done
"$prefix/bin/cnn-summary" "$prefix/share/cnn/models/mnist_convnet.json" > "$work/summary"
grep -q "Total params: 93,322" "$work/summary" || fail "the installed cnn-summary on the installed configs"
[[ -f $prefix/share/cnn/train/mnist_convnet.json && -f $prefix/share/doc/cnn/limits.md ]] ||
  fail "configs or docs missing"
[[ -f $prefix/include/cnn/model/model.hpp && -f $prefix/include/cnn/tensor/tensor.hpp ]] ||
  fail "headers missing"
libdir=$(dirname "$(find "$prefix" -name libcnn.a | head -1)")
[[ -f $libdir/libcnn.a && -L $libdir/libcnn.so && -f $libdir/libcnn_import.a &&
   -L $libdir/libcnn_import.so && -f $libdir/pkgconfig/cnn.pc && -f $libdir/pkgconfig/cnn-import.pc &&
   -f $libdir/cmake/cnn/cnnConfig.cmake ]] || fail "libraries, .pc files or the CMake package missing"
# The core does not bring the importers' protobuf, ONNX or HDF5 with it; libcnn_import does.
readelf -d "$libdir/libcnn.so" > "$work/needed"
! grep -E "NEEDED.*(protobuf|onnx|hdf5)" "$work/needed" || fail "libcnn.so needs an importer's library"
readelf -d "$libdir/libcnn_import.so" > "$work/needed"
grep -q "NEEDED.*libcnn\.so" "$work/needed" && grep -q "NEEDED.*hdf5" "$work/needed" ||
  fail "libcnn_import.so does not need libcnn.so and libhdf5: $(grep NEEDED "$work/needed")"

# ---- bash completion: options and subcommands come from the installed programs' --help
complete_line() {  # complete_line WORD...: COMPREPLY for the last word
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _cnn_complete
  echo " ${COMPREPLY[*]} "
}
(
  PATH=$prefix/bin:$PATH
  # shellcheck source=/dev/null
  source "$prefix/share/bash-completion/completions/cnn-train"
  [[ $(complete_line cnn-train --epo) == *" --epochs "* ]] || fail "completion: cnn-train --epo"
  [[ $(complete_line cnn-visualize ca) == " cam " ]] || fail "completion: cnn-visualize ca"
  [[ $(complete_line cnn-import onnx --soft) == " --softmax " ]] || fail "completion: cnn-import onnx --soft"
) || exit 1

# ---- a program outside the tree, built against the installed libcnn
mkdir "$work/consumer"
cat > "$work/consumer/consumer.cpp" <<'CPP'
// Builds a model from an architecture file with the installed libcnn and prints its size.
#include <cnn/io/architecture.hpp>
#include <cnn/model/model.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const cnn::Model model = cnn::io::load_model(argv[1]);
  std::cout << model.param_count() << "\n";
}
CPP
cat > "$work/consumer/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(consumer CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(cnn 0.1 REQUIRED)
add_executable(with_static consumer.cpp)
target_link_libraries(with_static PRIVATE cnn::cnn)
add_executable(with_shared consumer.cpp)
target_link_libraries(with_shared PRIVATE cnn::cnn_shared)
add_executable(importer importer.cpp)
target_link_libraries(importer PRIVATE cnn::import_shared)
CMAKE
cat > "$work/consumer/importer.cpp" <<'CPP'
// Imports an ONNX model with the installed libcnn_import and prints its parameter count.
#include <cnn/io/import.hpp>
#include <cnn/io/onnx_import.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const cnn::io::ImportedModel imported = cnn::io::import_onnx(argv[1], {});
  std::cout << cnn::io::build_imported(imported, argv[1]).param_count() << "\n";
}
CPP
cmake -S "$work/consumer" -B "$work/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/consumer.log" 2>&1 || fail "find_package(cnn): $(tail -20 "$work/consumer.log")"
cmake --build "$work/consumer/build" -j 2 >> "$work/consumer.log" 2>&1 ||
  fail "building against cnn::cnn: $(tail -20 "$work/consumer.log")"
model=$prefix/share/cnn/models/mnist_convnet.json
[[ $("$work/consumer/build/with_static" "$model") == 93322 ]] || fail "the consumer linked statically"
[[ $("$work/consumer/build/with_shared" "$model") == 93322 ]] || fail "the consumer linked to libcnn.so"
onnx=$src/../shared/data/onnx-mnist/model.onnx
if [[ -f $onnx ]]; then
  [[ $("$work/consumer/build/importer" "$onnx") =~ ^[0-9]+$ ]] || fail "the consumer of cnn::import_shared"
else
  echo "install: $onnx is absent; the consumer of cnn::import_shared built but not run" >&2
fi
ldd "$work/consumer/build/with_shared" > "$work/ldd"
grep -q "libcnn.so" "$work/ldd" || fail "with_shared does not use libcnn.so"
export PKG_CONFIG_PATH=$libdir/pkgconfig
# shellcheck disable=SC2046
g++ -O1 -c "$work/consumer/consumer.cpp" -o "$work/consumer.o" $(pkg-config --cflags cnn) ||
  fail "pkg-config --cflags cnn"
# shellcheck disable=SC2046
g++ "$work/consumer.o" -o "$work/pc_shared" $(pkg-config --libs cnn) -Wl,-rpath,"$libdir" ||
  fail "pkg-config --libs cnn"
# shellcheck disable=SC2046
g++ "$work/consumer.o" -o "$work/pc_static" -Wl,-Bstatic -lcnn -Wl,-Bdynamic \
  $(pkg-config --static --libs cnn | sed 's/-lcnn//') || fail "pkg-config --static --libs cnn"
[[ $("$work/pc_shared" "$model") == 93322 && $("$work/pc_static" "$model") == 93322 ]] ||
  fail "the pkg-config consumers"

# ---- examples/classify.cpp against the installed package: SqueezeNet imported by the installed
# cnn-import from the installed configs, then one photo classified by the library
cmake -S "$src/examples" -B "$work/examples" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/examples.log" 2>&1 &&
  cmake --build "$work/examples" -j 2 >> "$work/examples.log" 2>&1 ||
  fail "building examples/ against the installed cnn: $(tail -20 "$work/examples.log")"
squeezenet=$src/../shared/data/squeezenet1.1
if [[ -d $squeezenet ]]; then
  "$prefix/bin/cnn-import" npy "$squeezenet/weights" -q -o "$work/squeezenet" \
    --model "$prefix/share/cnn/models/squeezenet1_1.json" --classes "$squeezenet/synset.txt" \
    --map "$prefix/share/cnn/import/squeezenet1_1_npy_map.json" || fail "the installed cnn-import"
  photos=$src/../shared/data/coral-imagenet-test
  out=$("$work/examples/classify" "$work/squeezenet" "$photos/parrot.jpg")
  [[ $out == "macaw"$'\t'0.9* ]] || fail "examples/classify on parrot.jpg: '$out'"
  rc=0
  "$work/examples/classify" "$work/squeezenet" "$work/missing.jpg" 2> "$work/err" || rc=$?
  [[ $rc == 3 && $(wc -l < "$work/err") == 1 ]] || fail "examples/classify on a missing file: $rc $(cat "$work/err")"
else
  echo "install: $squeezenet is absent; examples/classify built but not run" >&2
fi

# ---- make deb's package
if command -v cpack > /dev/null && command -v dpkg-shlibdeps > /dev/null; then
  (cd "$build" && cpack -B "$work/deb") > "$work/cpack.log" 2>&1 || fail "cpack: $(tail -20 "$work/cpack.log")"
  deb=$(ls "$work"/deb/cnn_*.deb)
  depends=$(dpkg-deb -f "$deb" Depends)
  for need in libturbojpeg0 libhdf5 libprotobuf libfreetype6 libpng16 fonts-dejavu-core; do
    [[ $depends == *"$need"* ]] || fail "the package does not depend on $need: $depends"
  done
  dpkg-deb -c "$deb" > "$work/contents"
  for f in usr/bin/cnn-train usr/share/man/man1/cnn-train.1.gz usr/include/cnn/model/model.hpp \
           usr/share/cnn/models/mnist_convnet.json usr/share/bash-completion/completions/cnn-eval; do
    grep -q " \./$f\$" "$work/contents" || fail "the package lacks /$f"
  done
  dpkg -x "$deb" "$work/root"
  "$work/root/usr/bin/cnn-summary" "$work/root/usr/share/cnn/models/mnist_convnet.json" > "$work/summary"
  grep -q "Total params: 93,322" "$work/summary" || fail "the unpacked package's cnn-summary"
  if command -v apt-get > /dev/null; then
    apt-get install -s "$deb" > "$work/apt.log" 2>&1 ||
      fail "apt-get cannot resolve the package's dependencies: $(tail -5 "$work/apt.log")"
  fi
fi
echo "install: ok"
