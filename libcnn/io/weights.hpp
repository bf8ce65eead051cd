// Model weights as safetensors (DESIGN.md "Weights"): tensors "<layer>.<param>" in Keras
// layouts, metadata recording the format version and the architecture. Loading matches tensors
// to parameters by name, never by position.
#pragma once

#include <string>
#include <vector>

#include "model/model.hpp"

namespace cnn::io {

inline constexpr const char* kWeightsFormat = "cnn-weights";
inline constexpr int kWeightsFormatVersion = 1;

// Writes every parameter of model (trainable or not) atomically.
void save_weights(Model& model, const std::string& path);

// Loads path into model. Every parameter must be present with dtype F32 and the shape the
// architecture gives, and every tensor must belong to a parameter; otherwise FormatError naming
// the file and the tensor. A file written by a newer format version is refused.
void load_weights(Model& model, const std::string& path);

// What a partial load did: parameters copied from the file, parameters left as initialised
// (not in the file), and tensors of the file that no parameter took.
struct PartialLoad {
  std::vector<std::string> loaded, initialised, unused;
};

// Copies the tensors whose names match parameters (fine-tuning, new heads). A matching name with
// the wrong shape is still an error: it names the layer, the parameter, both shapes, and
// suggests renaming the layer.
PartialLoad load_weights_partial(Model& model, const std::string& path);

}  // namespace cnn::io
