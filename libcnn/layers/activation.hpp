// Activation: y = act(x) element-wise; softmax normalises over the last (channel) axis.
//
// Keys: activation (required; one of kernels::act_names(): linear, relu, sigmoid, softmax, tanh,
// elu, leaky_relu).
// Shapes: any -> the same. Params: none.
// Forward keeps nothing: backward reads the output y, since every activation's derivative is
// written in terms of its output. Backward: dx += act'(y) * dy (softmax: its Jacobian applied).
#pragma once

#include "kernels/activation.hpp"
#include "layers/layer.hpp"

namespace cnn {

class Activation : public Layer {
 public:
  std::string type() const override { return "Activation"; }
  std::optional<kernels::Act> activation() const override { return act_; }
  void set_activation(kernels::Act a) override { act_ = a; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  kernels::Act act_ = kernels::Act::Linear;
  std::size_t channels_ = 1;  // size of the last axis: the softmax row length
  Tensor dz_;                 // scratch [n, ...] for act_backward
};

}  // namespace cnn
