// A Keras model's JSON (model.to_json() of Keras 2 or 3, a TensorFlow.js model.json's
// topology): converted to an architecture, which is then built.
#include <string>

#include "fuzz.hpp"
#include "io/keras_model.hpp"
#include "tensor/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return cnn::fuzz::run([&] {
    const cnn::json j =
        cnn::parse_json(std::string(reinterpret_cast<const char*>(data), size), "fuzz.json");
    const cnn::io::KerasModel k = cnn::io::keras_architecture(j, "fuzz.json");
    const cnn::Model m = cnn::Model::from_json(cnn::json(k.imported.architecture), "fuzz.json");
    cnn::io::check_softmax_axes(m, k, "fuzz.json");
  });
}
