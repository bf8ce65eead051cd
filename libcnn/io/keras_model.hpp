// Keras models in: the architecture of a Keras model -- model.to_json() of Keras 2 (Sequential,
// Model, Functional; inbound_nodes as nested lists) or Keras 3 (module / registered_name,
// inbound_nodes as {"args": [keras tensors]}), or the modelTopology of a TensorFlow.js layers
// model -- as this project's architecture JSON; and a TensorFlow.js layers model (model.json
// with its weightsManifest and binary shards) with its weights.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "io/import.hpp"
#include "tensor/config.hpp"

namespace cnn::io {

// The architecture JSON (share/architecture.md) of a Keras model's JSON. Layers map to the
// layer of the same Keras class (Convolution2D, MaxPool2D, AvgPool2D and GlobalAvgPool2D
// too); ReLU, Softmax and LeakyReLU become Activation layers when their options are ones
// this project computes. Keys that do not change the computation are dropped (dtype,
// data_format "channels_last", null regularizers, constraints, a Dropout seed: randomness comes
// from the run's --seed), object-form initializers become their names (VarianceScaling by its
// scale, mode and distribution; one with no equivalent is dropped, with a note, as it matters
// only when training from scratch). An unsupported layer or option -- a class with no layer
// here, channels_first, a regularizer, a shared layer, a nested model, several inputs or
// outputs -- is a ConfigError naming file, the JSON pointer and the layer. The notes say what
// was changed on the way.
struct KerasModel {
  ImportedModel imported;  // the architecture, the notes, and (TensorFlow.js) the weights
  // Softmax layers with a positive Keras axis (the batch axis counted as 0): the axis must be
  // the last of the layer's input, which the model knows once built (check_softmax_axes).
  std::vector<std::pair<std::string, long>> softmax_axes;
};
KerasModel keras_architecture(const json& keras, const std::string& file);

// Throws ConfigError naming file and the layer when a Softmax layer's axis is not the last.
void check_softmax_axes(const Model& model, const KerasModel& keras, const std::string& file);

// Where Keras 3 keeps each layer's variables in a .keras archive's model.weights.h5, for the
// layers of a Keras model config (config.json): our layer name (as keras_architecture names it)
// -> "layers/<class in snake case>", with "_1", "_2", ... for the second and later layers of a
// class in the model's order (Keras 3's saving_lib addresses layers by class, not by name).
std::map<std::string, std::string> keras3_weight_groups(const json& keras);

// Keras's initializer classes and this project's names for them ({"GlorotUniform",
// "glorot_uniform"}, ...): the importer's map, and the exporter's in the other direction.
const std::vector<std::pair<std::string, std::string>>& keras_initializer_classes();

// Whether j is a TensorFlow.js layers model (an object with "modelTopology").
bool is_tfjs_model(const json& j);

// A TensorFlow.js layers model: model_json, read from path, with modelTopology and
// weightsManifest, its float32 weight shards beside it. Throws InputError for unreadable files,
// FormatError naming the file for shards of the wrong size or weights that are not float32, and
// ConfigError as keras_architecture.
KerasModel import_tfjs_model(const json& model_json, const std::string& path);

}  // namespace cnn::io
