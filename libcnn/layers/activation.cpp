// Activation layer: the activation kernels applied to a whole tensor, rows along the last axis.
#include "layers/activation.hpp"

#include <algorithm>

namespace cnn {

void Activation::configure(ConfigReader& cfg) {
  act_ = kernels::act_from_name(cfg.get_choice("activation", std::nullopt, kernels::act_names()));
}

void Activation::write_config(json_ordered& out) const {
  out["activation"] = kernels::act_name(act_);
}

Shape Activation::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  channels_ = inputs[0].empty() ? 1 : inputs[0].back();
  if (channels_ == 0) throw shape_error("input " + shape_str(inputs[0], true) + " is empty");
  return inputs[0];
}

// x [n, ..., c] -> y [n, ..., c], treated as [n * ..., c] rows.
void Activation::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  std::copy(x.data(), x.data() + x.size(), out.data());
  kernels::act_forward(act_for(ctx, act_), out.data(), out.size() / channels_, channels_);
}

// y, dy [n, ..., c] -> dx += act'(y) * dy.
void Activation::backward(Context& ctx, Inputs, const Tensor& out, const Tensor& grad_out,
                          GradInputs grad_in) {
  if (grad_in.empty() || !grad_in[0]) return;
  ensure_shape(dz_, shape_of(out));
  kernels::act_backward(act_for(ctx, act_), out.data(), grad_out.data(), dz_.data(),
                        out.size() / channels_, channels_);
  float* dx = grad_in[0]->data();
  const float* dz = dz_.data();
  for (std::size_t i = 0; i < dz_.size(); ++i) dx[i] += dz[i];
}

}  // namespace cnn
