// Permute layer: a gather through a per-sample offset table built once from the shapes.
#include "layers/permute.hpp"

#include <algorithm>

namespace cnn {

void Permute::configure(ConfigReader& cfg) {
  const std::vector<long> dims = cfg.get_int_list("dims", std::nullopt, 1);
  if (dims.empty() || dims.size() > 3)
    throw cfg.error("dims", "expected 1 to 3 axes (the sample's, counted from 1), got " +
                                std::to_string(dims.size()));
  std::vector<bool> seen(dims.size(), false);
  axes_.clear();
  for (long d : dims) {
    if (d < 1 || static_cast<std::size_t>(d) > dims.size() || seen[static_cast<std::size_t>(d - 1)])
      throw cfg.error("dims", "expected a permutation of 1.." + std::to_string(dims.size()) +
                                  " (each axis once; the batch axis 0 never moves)");
    seen[static_cast<std::size_t>(d - 1)] = true;
    axes_.push_back(static_cast<std::size_t>(d - 1));
  }
}

void Permute::write_config(json_ordered& out) const {
  json_ordered dims = json_ordered::array();
  for (auto a : axes_) dims.push_back(a + 1);
  out["dims"] = dims;
}

Shape Permute::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  const Shape& in = inputs[0];
  if (in.size() != axes_.size())
    throw shape_error("dims has " + std::to_string(axes_.size()) + " axes, the input " +
                      shape_str(in) + " has " + std::to_string(in.size()));
  const std::size_t r = in.size();
  Shape out(r);
  for (std::size_t i = 0; i < r; ++i) out[i] = in[axes_[i]];
  // Input strides, then for each output index (row-major over out) the input offset.
  std::vector<std::size_t> stride(r, 1);
  for (std::size_t k = r; k-- > 1;) stride[k - 1] = stride[k] * in[k];
  source_.assign(numel(in), 0);
  std::vector<std::size_t> idx(r, 0);
  for (std::size_t o = 0; o < source_.size(); ++o) {
    std::size_t src = 0;
    for (std::size_t i = 0; i < r; ++i) src += idx[i] * stride[axes_[i]];
    source_[o] = src;
    for (std::size_t i = r; i-- > 0;) {
      if (++idx[i] < out[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

void Permute::forward(Context&, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  const std::size_t per = source_.size(), n = per ? x.size() / per : 0;
  for (std::size_t s = 0; s < n; ++s) {
    const float* xs = x.data() + s * per;
    float* ys = out.data() + s * per;
    for (std::size_t o = 0; o < per; ++o) ys[o] = xs[source_[o]];
  }
}

void Permute::backward(Context&, Inputs, const Tensor&, const Tensor& grad_out,
                       GradInputs grad_in) {
  if (grad_in.empty() || !grad_in[0]) return;
  const std::size_t per = source_.size(), n = per ? grad_out.size() / per : 0;
  for (std::size_t s = 0; s < n; ++s) {
    const float* dy = grad_out.data() + s * per;
    float* dx = grad_in[0]->data() + s * per;
    for (std::size_t o = 0; o < per; ++o) dx[source_[o]] += dy[o];
  }
}

}  // namespace cnn
