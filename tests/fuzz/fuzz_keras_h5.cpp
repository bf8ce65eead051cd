// Keras HDF5 weights, imported onto tests/data/tiny_vgg.json's architecture (the layers
// tests/cli/make_keras_h5.py writes), missing layers allowed so that partial files go deep.
#include "fuzz.hpp"
#include "io/architecture.hpp"
#include "io/keras_h5.hpp"
#include "model/model.hpp"

#ifndef CNN_SOURCE_DIR
#error "CNN_SOURCE_DIR: the build passes the source tree's path"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static cnn::Model model = cnn::io::load_model(CNN_SOURCE_DIR "/tests/data/tiny_vgg.json");
  return cnn::fuzz::run([&] {
    cnn::io::KerasH5Options opt;
    opt.allow_missing = true;
    cnn::io::import_keras_h5(model, cnn::fuzz::as_file(data, size, ".h5"), opt);
  });
}
