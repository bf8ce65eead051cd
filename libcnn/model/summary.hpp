// Keras-style model summaries: the text model.summary() prints (TensorFlow 2.x layout, as in the
// lecture) and the same facts as JSON.
#pragma once

#include <string>

#include "model/model.hpp"

namespace cnn {

struct SummaryOptions {
  bool show_trainable = false;  // Keras's show_trainable: a "Trainable" column with Y/N
};

// The text of Keras's model.summary(): linear models in the Sequential layout (65 columns,
// Layer (type) / Output Shape / Param #), branching models in the functional layout (98
// columns, with the input layer and a "Connected to" column). Ends with a newline.
std::string summary_text(const Model& model, const SummaryOptions& opt = {});

// {"name", "layers": [{"name", "type", "output_shape": [null, ...], "params",
//  "trainable_params", "trainable", "inputs": [...], "weights": [{"name", "shape"}]}],
//  "total_params", "trainable_params",
//  "non_trainable_params"}.
json_ordered summary_json(const Model& model);

// 1234567 -> "1,234,567".
std::string with_thousands(std::size_t n);

}  // namespace cnn
