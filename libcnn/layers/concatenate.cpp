// Concatenate layer: channel-axis concatenation, row by row of the [rows, c] views.
#include "layers/concatenate.hpp"

#include <algorithm>

namespace cnn {

void Concatenate::configure(ConfigReader& cfg) {
  axis_ = cfg.get_int("axis", -1);
  if (axis_ == 0 || axis_ < -1)
    throw cfg.error("axis",
                    "only the last (channel) axis is supported: -1 or its index "
                    "counting the batch axis as 0 (3 for images), got " +
                        std::to_string(axis_));
}

void Concatenate::write_config(json_ordered& out) const { out["axis"] = axis_; }

Shape Concatenate::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() < 2)
    throw shape_error("expected at least 2 inputs, got " + std::to_string(inputs.size()));
  const std::size_t rank = inputs[0].size();
  std::string list;
  for (const auto& s : inputs) list += (list.empty() ? "" : ", ") + shape_str(s, true);
  if (rank == 0) throw shape_error("inputs must have at least one axis; got " + list);
  if (axis_ != -1 && static_cast<std::size_t>(axis_) != rank)
    throw shape_error("axis " + std::to_string(axis_) +
                      " is not supported: only the last (channel) axis is, -1 or " +
                      std::to_string(rank) + " for these inputs " + list);
  channels_.clear();
  out_c_ = 0;
  for (const auto& s : inputs) {
    if (s.size() != rank || !std::equal(s.begin(), s.end() - 1, inputs[0].begin()))
      throw shape_error("inputs must match on all axes but the last; got " + list);
    channels_.push_back(s.back());
    out_c_ += s.back();
  }
  if (out_c_ == 0) throw shape_error("inputs have no channels; got " + list);
  Shape out = inputs[0];
  out.back() = out_c_;
  return out;
}

// x_i [n, ..., c_i] -> y [n, ..., sum c_i]; rows = n * (product of the other axes).
void Concatenate::forward(Context&, Inputs in, Tensor& out) {
  const std::size_t rows = out.size() / out_c_;
  float* y = out.data();
  std::size_t off = 0;
  for (std::size_t k = 0; k < in.size(); ++k) {
    const std::size_t c = channels_[k];
    const float* x = in[k]->data();
    for (std::size_t r = 0; r < rows; ++r)
      std::copy(x + r * c, x + (r + 1) * c, y + r * out_c_ + off);
    off += c;
  }
}

// dy [n, ..., sum c_i] -> dx_i [n, ..., c_i] += dy[..., off_i : off_i + c_i].
void Concatenate::backward(Context&, Inputs, const Tensor&, const Tensor& grad_out,
                           GradInputs grad_in) {
  const std::size_t rows = grad_out.size() / out_c_;
  const float* dy = grad_out.data();
  std::size_t off = 0;
  for (std::size_t k = 0; k < grad_in.size(); ++k) {
    const std::size_t c = channels_[k];
    if (Tensor* g = grad_in[k]) {
      float* dx = g->data();
      for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < c; ++j) dx[r * c + j] += dy[r * out_c_ + off + j];
    }
    off += c;
  }
}

}  // namespace cnn
