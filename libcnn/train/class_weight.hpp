// Class weights (Keras fit(class_weight=...)): "auto" (sklearn's "balanced"), a JSON object or
// list of per-class weights, and the per-sample weights the losses take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::train {

// Number of samples of each class c in [0, num_classes); DataError naming the sample for a label
// outside that range.
std::vector<std::size_t> class_counts(std::span<const std::int32_t> labels,
                                      std::size_t num_classes);

// sklearn compute_class_weight("balanced"): w_c = n_samples / (n_classes * count_c), so every
// class carries the same total weight. A class with no samples throws DataError naming it (as
// sklearn refuses); num_classes >= 1.
std::vector<float> balanced_class_weights(std::span<const std::int32_t> labels,
                                          std::size_t num_classes);

// Reads class weights from JSON:
//   "auto"                    balanced_class_weights(labels, num_classes)
//   {"0": 1.0, "1": 2.5}      keys are the class ids 0 .. num_classes-1, all present (Keras
//                             requires keys 0 .. max); values finite and >= 0
//   [1.0, 2.5]                one value per class
// Anything else throws ConfigError naming file and pointer (the JSON pointer of v).
std::vector<float> class_weights_from_json(const json& v, std::span<const std::int32_t> labels,
                                           std::size_t num_classes, const std::string& file = {},
                                           const std::string& pointer = {});

// w_i = class_weights[labels[i]]: the sample_weights argument of the losses. DataError naming the
// sample for a label outside [0, class_weights.size()); first_sample offsets the named index.
std::vector<float> sample_weights(std::span<const std::int32_t> labels,
                                  std::span<const float> class_weights,
                                  std::size_t first_sample = 0);

}  // namespace cnn::train
