// GlobalMaxPooling2D: the maximum over all positions, per channel (Keras semantics).
//
// Formula: y[c] = max over (y, x) of x[y, x, c].
// JSON keys (Keras defaults): keepdims false.
// Shapes: [h, w, c] -> [c], or [1, 1, c] with keepdims.
// Forward with ctx.training keeps the argmax per channel (first max in scan order on ties);
// backward routes dy[c] to it (recomputing it after an inference forward). No parameters.
#pragma once

#include "layers/base_pooling2d.hpp"

namespace cnn {

class GlobalMaxPooling2D final : public detail::GlobalPool2D {
 public:
  GlobalMaxPooling2D();
  std::string type() const override;
};

}  // namespace cnn
