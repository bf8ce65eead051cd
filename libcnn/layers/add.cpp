// Add layer: element-wise sum of equally shaped inputs.
#include "layers/add.hpp"

#include <algorithm>

namespace cnn {
namespace {

std::string shape_list(const std::vector<Shape>& shapes) {
  std::string s;
  for (const auto& sh : shapes) s += (s.empty() ? "" : ", ") + shape_str(sh, true);
  return s;
}

}  // namespace

void Add::configure(ConfigReader&) {}

void Add::write_config(json_ordered&) const {}

Shape Add::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() < 2)
    throw shape_error("expected at least 2 inputs, got " + std::to_string(inputs.size()));
  for (const auto& s : inputs)
    if (s != inputs[0])
      throw shape_error("all inputs must have the same shape; got " + shape_list(inputs));
  return inputs[0];
}

// x_i [n, ...] -> y [n, ...] = sum_i x_i, summed in input order.
void Add::forward(Context&, Inputs in, Tensor& out) {
  float* y = out.data();
  const std::size_t n = out.size();
  std::copy(in[0]->data(), in[0]->data() + n, y);
  for (std::size_t k = 1; k < in.size(); ++k) {
    const float* x = in[k]->data();
    for (std::size_t i = 0; i < n; ++i) y[i] += x[i];
  }
}

// dy [n, ...] -> dx_i += dy.
void Add::backward(Context&, Inputs, const Tensor&, const Tensor& grad_out, GradInputs grad_in) {
  const float* dy = grad_out.data();
  for (Tensor* g : grad_in) {
    if (!g) continue;
    float* dx = g->data();
    for (std::size_t i = 0; i < grad_out.size(); ++i) dx[i] += dy[i];
  }
}

}  // namespace cnn
