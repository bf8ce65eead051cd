// GlobalAveragePooling2D: the mean over all positions, per channel (Keras semantics).
//
// Formula: y[c] = (sum over (y, x) of x[y, x, c]) / (h * w).
// JSON keys (Keras defaults): keepdims false.
// Shapes: [h, w, c] -> [c], or [1, 1, c] with keepdims.
// Forward keeps nothing; backward adds dy[c] / (h * w) to every position. No parameters.
#pragma once

#include "layers/base_pooling2d.hpp"

namespace cnn {

class GlobalAveragePooling2D final : public detail::GlobalPool2D {
 public:
  GlobalAveragePooling2D();
  std::string type() const override;
};

}  // namespace cnn
