// Flatten layer: a copy, since row-major NHWC memory is already in Keras's flattened order.
#include "layers/flatten.hpp"

#include <algorithm>

#include "kernels/eltwise.hpp"

namespace cnn {

void Flatten::configure(ConfigReader&) {}

void Flatten::write_config(json_ordered&) const {}

Shape Flatten::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  return {numel(inputs[0])};
}

// x [n, ...] -> y [n, numel(...)]: the same numbers in the same order.
void Flatten::forward(Context&, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  std::copy(x.data(), x.data() + x.size(), out.data());
}

// dy [n, numel] -> dx [n, ...] += dy.
void Flatten::backward(Context&, Inputs, const Tensor&, const Tensor& grad_out,
                       GradInputs grad_in) {
  if (grad_in.empty() || !grad_in[0]) return;
  kernels::add_to(grad_out.data(), grad_out.size(), grad_in[0]->data());
}

}  // namespace cnn
