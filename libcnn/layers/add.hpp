// Add: y = x_0 + x_1 + ... + x_{k-1}, element-wise, for k >= 2 inputs of one shape (the merge of
// a residual connection).
//
// Keys: none. Shapes: k equal shapes -> that shape; any difference is a ShapeError listing all
// of them (no broadcasting). Params: none. Forward keeps nothing.
// Backward: dx_i += dy for every input i.
#pragma once

#include <limits>

#include "layers/layer.hpp"

namespace cnn {

class Add : public Layer {
 public:
  std::string type() const override { return "Add"; }
  std::size_t min_inputs() const override { return 2; }
  std::size_t max_inputs() const override { return std::numeric_limits<std::size_t>::max(); }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;
};

}  // namespace cnn
