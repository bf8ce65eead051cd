// ZeroPadding2D: padding forms, shape inference, and the row copies of forward/backward.
#include "layers/zero_padding2d.hpp"

#include <algorithm>

#include "layers/spatial_common.hpp"

namespace cnn {

void ZeroPadding2D::configure(ConfigReader& cfg) {
  const json* v = cfg.get_raw("padding");
  if (v == nullptr) {
    top_ = bottom_ = left_ = right_ = 1;
    return;
  }
  auto bad = [&] {
    return cfg.error("padding",
                     "expected an integer, [rows, cols] or [[top, bottom], [left, right]] of "
                     "integers from 0 to 2147483648, got " +
                         json_brief(*v));
  };
  auto count = [&](const json& e) {
    // Capped (share/limits.md) so that top + h + bottom cannot wrap around.
    if (!e.is_number_integer() || e.get<long>() < 0 || e.get<long>() > ConfigReader::kMaxSizeValue)
      throw bad();
    return static_cast<std::size_t>(e.get<long>());
  };
  if (!v->is_array()) {
    top_ = bottom_ = left_ = right_ = count(*v);
    return;
  }
  if (v->size() != 2) throw bad();
  const json& rows = v->at(0);
  const json& cols = v->at(1);
  if (rows.is_array() != cols.is_array()) throw bad();
  if (!rows.is_array()) {
    top_ = bottom_ = count(rows);
    left_ = right_ = count(cols);
    return;
  }
  if (rows.size() != 2 || cols.size() != 2) throw bad();
  top_ = count(rows.at(0));
  bottom_ = count(rows.at(1));
  left_ = count(cols.at(0));
  right_ = count(cols.at(1));
}

void ZeroPadding2D::write_config(json_ordered& out) const {
  out["padding"] = json_ordered::array(
      {json_ordered::array({top_, bottom_}), json_ordered::array({left_, right_})});
}

Shape ZeroPadding2D::infer_shape(const std::vector<Shape>& inputs) {
  if (auto p = detail::image_shape_problem(inputs); !p.empty()) throw shape_error(p);
  in_shape_ = inputs[0];
  out_shape_ = {top_ + in_shape_[0] + bottom_, left_ + in_shape_[1] + right_, in_shape_[2]};
  return out_shape_;
}

void ZeroPadding2D::forward(Context& /*ctx*/, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  const std::size_t n = x.shape()[0];
  const std::size_t h = in_shape_[0], w = in_shape_[1], c = in_shape_[2];
  const std::size_t ow = out_shape_[1];
  const std::size_t in_size = numel(in_shape_), out_size = numel(out_shape_);
  std::fill(out.begin(), out.end(), 0.0f);
  for (std::size_t s = 0; s < n; ++s) {
    for (std::size_t i = 0; i < h; ++i) {
      // One input row [w, c] is contiguous, and so is its place in the output row.
      const float* src = x.data() + s * in_size + i * w * c;
      float* dst = out.data() + s * out_size + ((top_ + i) * ow + left_) * c;
      std::copy(src, src + w * c, dst);
    }
  }
}

void ZeroPadding2D::backward(Context& /*ctx*/, Inputs in, const Tensor& /*out*/,
                             const Tensor& grad_out, GradInputs grad_in) {
  Tensor* gx = grad_in.empty() ? nullptr : grad_in[0];
  if (!gx) return;
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(grad_out, out_shape_, "output gradient"); !p.empty())
    throw shape_error(p);
  if (auto p = detail::batch_problem(*gx, in_shape_, "input gradient"); !p.empty())
    throw shape_error(p);
  const std::size_t n = x.shape()[0];
  const std::size_t h = in_shape_[0], w = in_shape_[1], c = in_shape_[2];
  const std::size_t ow = out_shape_[1];
  const std::size_t in_size = numel(in_shape_), out_size = numel(out_shape_);
  for (std::size_t s = 0; s < n; ++s) {
    for (std::size_t i = 0; i < h; ++i) {
      const float* src = grad_out.data() + s * out_size + ((top_ + i) * ow + left_) * c;
      float* dst = gx->data() + s * in_size + i * w * c;
      for (std::size_t j = 0; j < w * c; ++j) dst[j] += src[j];
    }
  }
}

}  // namespace cnn
