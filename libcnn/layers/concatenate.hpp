// Concatenate: joins k >= 2 inputs along the last (channel) axis, as Inception branches are
// merged: y[..., off_i : off_i + c_i] = x_i[...], off_i = c_0 + ... + c_{i-1}.
//
// Keys: axis (default -1). Only the last axis is supported: -1, or its index in Keras's
// batch-including numbering (3 for [h, w, c] images, 1 for [features] vectors). Other values are
// a ConfigError when they can never be the last axis (0, < -1), else a ShapeError once the input
// rank is known.
// Shapes: [..., c_i] with all dims but the last equal -> [..., sum c_i]; else a ShapeError listing
// the shapes. Params: none. Forward keeps nothing.
// Backward: dx_i += the slice of dy that x_i filled.
#pragma once

#include <limits>

#include "layers/layer.hpp"

namespace cnn {

class Concatenate : public Layer {
 public:
  std::string type() const override { return "Concatenate"; }
  std::size_t min_inputs() const override { return 2; }
  std::size_t max_inputs() const override { return std::numeric_limits<std::size_t>::max(); }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  long axis_ = -1;
  std::vector<std::size_t> channels_;  // c_i per input
  std::size_t out_c_ = 0;              // sum of channels_
};

}  // namespace cnn
