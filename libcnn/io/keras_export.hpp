// Keras export (cnn-export keras-h5): a model's weights in Keras 2's save_weights() HDF5 layout
// (root attribute layer_names; per layer a group with attribute weight_names such as
// "conv2d/kernel:0" and the datasets at /conv2d/conv2d/kernel:0), written with the HDF5 C API,
// and its architecture as Keras 2's model.to_json() text (a Functional model), so that a Keras
// user rebuilds the model with model_from_json + load_weights. cnn-import keras reads both back.
#pragma once

#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::io {

// The model as Keras 2's model.to_json() would write it. Layers here that Keras lacks as such
// become the Keras layers that compute them: the declared preprocessing a Rescaling layer after
// the input, a leaky_relu activation fused into a Conv2D/Dense a LeakyReLU layer after it.
// Throws ConfigError naming source (the architecture file), the JSON pointer and the layer for
// what Keras cannot express: pooling with explicit padding, dilation or ceil_mode (not Keras
// keys), and a BGR channel order in the preprocessing. notes (when given) receives what was
// rewritten.
json_ordered keras_model_json(const Model& model, const std::string& source,
                              std::vector<std::string>* notes = nullptr);

struct KerasExportResult {
  std::size_t layers = 0, tensors = 0;  // layers in layer_names; weight datasets
  std::vector<std::string> notes;
};

// Writes the weights to h5_path and, when json_path is not empty, keras_model_json to json_path,
// each through a temporary file renamed into place (nothing is left behind on failure). The
// architecture is converted first, so a model Keras cannot express writes nothing. Throws Error
// as keras_model_json does, and IoError when a file cannot be written.
KerasExportResult export_keras(const Model& model, const std::string& source,
                               const std::string& h5_path, const std::string& json_path);

}  // namespace cnn::io
