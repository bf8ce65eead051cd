// Flatten: [n, d1, d2, ...] -> [n, d1 * d2 * ...]. NHWC tensors are row-major, so this is a copy
// in memory order (the same order Keras's channels-last Flatten produces).
//
// Keys: none.
// Shapes: any per-sample shape -> [numel]. Params: none. Forward keeps nothing.
// Backward: dx += dy, reshaped back.
#pragma once

#include "layers/layer.hpp"

namespace cnn {

class Flatten : public Layer {
 public:
  std::string type() const override { return "Flatten"; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  bool copies_input_in_inference() const override { return true; }
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;
};

}  // namespace cnn
