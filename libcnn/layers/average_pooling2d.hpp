// AveragePooling2D: the mean of each pool window, per channel (Keras semantics).
//
// Formula: y[oy, ox, c] = (sum over the window's real cells of x[y, x, c]) / (number of real
//   cells); the window covers rows [oy * stride_h - pad_top, + ph) and columns
//   [ox * stride_w - pad_left, + pw). "same" padding cells are excluded from the count, as in
//   TensorFlow, so an edge window with 2 real cells divides by 2.
// JSON keys (Keras defaults): pool_size 2 (int or [ph, pw]); strides null = pool_size (int or
//   [sh, sw]); padding "valid" | "same" ("valid").
// Shapes: [h, w, c] -> [out_h, out_w, c]; valid: (in - pool) / stride + 1, same: ceil(in / stride).
// Forward keeps nothing; backward spreads dy / count over each window's real cells.
// No parameters.
#pragma once

#include "layers/base_pooling2d.hpp"

namespace cnn {

class AveragePooling2D final : public detail::WindowPool2D {
 public:
  AveragePooling2D();
  std::string type() const override;
};

}  // namespace cnn
