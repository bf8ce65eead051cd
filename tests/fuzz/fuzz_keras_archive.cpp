// A Keras 3 .keras archive (a zip read with libzip): config.json parsed and converted, the layer
// groups of its weights derived, model.weights.h5 copied out to a temporary file (read by the
// keras_h5 target's code, not here: libhdf5 runs in a child process and is fuzzed there).
#include <string>

#include "fuzz.hpp"
#include "io/keras_archive.hpp"
#include "io/keras_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const std::string path = cnn::fuzz::as_file(data, size, ".keras");
    const cnn::io::KerasArchive archive(path);
    (void)cnn::io::keras3_weight_groups(archive.config());
    const cnn::io::KerasModel k = cnn::io::keras_architecture(archive.config(), path);
    const cnn::Model m = cnn::Model::from_json(cnn::json(k.imported.architecture), path);
    cnn::io::check_softmax_axes(m, k, path);
  });
}
