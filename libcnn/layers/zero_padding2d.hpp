// ZeroPadding2D: adds rows and columns of zeros around each image (Keras semantics).
//
// Formula: y[top + i, left + j, c] = x[i, j, c]; every other y cell is 0.
// JSON keys (Keras defaults): padding 1, given as an int p (p on all four sides), [ph, pw]
//   (ph rows at top and bottom, pw columns at left and right), or [[top, bottom], [left,
//   right]]; all >= 0. write_config always writes the last form, as Keras's get_config does.
// Shapes: [h, w, c] -> [top + h + bottom, left + w + right, c].
// Forward keeps nothing; backward adds the interior of dy to dx. No parameters.
#pragma once

#include <array>

#include "layers/layer.hpp"

namespace cnn {

class ZeroPadding2D final : public Layer {
 public:
  std::string type() const override { return "ZeroPadding2D"; }
  // Throws ConfigError naming the layer and "padding".
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  // Throws ShapeError unless the input is [h, w, c].
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  // in[0]: [n, h, w, c]; out: [n, top + h + bottom, left + w + right, c].
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  // Adds dL/dx (the interior of grad_out) into *grad_in[0] when set.
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  std::size_t top_ = 1, bottom_ = 1, left_ = 1, right_ = 1;
  Shape in_shape_, out_shape_;
};

}  // namespace cnn
