// MaxPooling2D: the maximum of each pool window, per channel (Keras semantics).
//
// Formula: y[oy, ox, c] = max over the window's real cells (y, x) of x[y, x, c], where the window
//   covers rows [oy * stride_h - pad_top, + ph) and columns [ox * stride_w - pad_left, + pw).
//   "same" padding cells never win (they are ignored, not zeros).
// JSON keys (Keras defaults): pool_size 2 (int or [ph, pw]); strides null = pool_size (int or
//   [sh, sw]); padding "valid" | "same" ("valid").
// Shapes: [h, w, c] -> [out_h, out_w, c]; valid: (in - pool) / stride + 1, same: ceil(in / stride).
// Forward with ctx.training keeps the argmax of every output (first max in scan order on ties);
// backward routes each output gradient to it (recomputing it after an inference forward).
// No parameters.
#pragma once

#include "layers/base_pooling2d.hpp"

namespace cnn {

class MaxPooling2D final : public detail::WindowPool2D {
 public:
  MaxPooling2D();
  std::string type() const override;
};

}  // namespace cnn
