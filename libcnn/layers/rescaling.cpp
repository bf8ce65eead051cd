// Rescaling layer: y = x * scale + offset, per channel.
#include "layers/rescaling.hpp"

#include <cmath>

namespace cnn {
namespace {

std::vector<double> read_factor(ConfigReader& cfg, const std::string& key,
                                std::optional<double> def) {
  const json* raw = cfg.get_raw(key);
  if (!raw) {
    if (!def) return {cfg.get_number(key, std::nullopt)};  // throws "missing"
    return {*def};
  }
  std::vector<double> v;
  if (raw->is_number()) {
    v.push_back(raw->get<double>());
  } else if (raw->is_array() && !raw->empty()) {
    for (const auto& e : *raw) {
      if (!e.is_number()) break;
      v.push_back(e.get<double>());
    }
    if (v.size() != raw->size()) v.clear();
  }
  if (v.empty())
    throw cfg.error(
        key, "expected a number or a list of numbers (one per channel), got " + json_brief(*raw));
  for (double d : v)
    if (!std::isfinite(d) || std::fabs(d) > 3.0e38)
      throw cfg.error(key, "expected finite float32 numbers, got " + json_brief(*raw));
  return v;
}

void write_factor(json_ordered& out, const char* key, const std::vector<double>& v) {
  if (v.size() == 1)
    out[key] = v[0];
  else
    out[key] = v;
}

}  // namespace

void Rescaling::configure(ConfigReader& cfg) {
  scale_ = read_factor(cfg, "scale", std::nullopt);
  offset_ = read_factor(cfg, "offset", 0.0);
}

void Rescaling::write_config(json_ordered& out) const {
  write_factor(out, "scale", scale_);
  write_factor(out, "offset", offset_);
}

Shape Rescaling::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  const Shape& s = inputs[0];
  const std::size_t c = s.empty() ? 1 : s.back();
  for (const auto* v : {&scale_, &offset_})
    if (v->size() != 1 && v->size() != c)
      throw shape_error("scale and offset need one value or one per channel (" + std::to_string(c) +
                        " in input " + shape_str(s) + "), got " + std::to_string(v->size()));
  scale_c_.assign(c, 0.0f);
  offset_c_.assign(c, 0.0f);
  for (std::size_t k = 0; k < c; ++k) {
    scale_c_[k] = static_cast<float>(scale_.size() == 1 ? scale_[0] : scale_[k]);
    offset_c_[k] = static_cast<float>(offset_.size() == 1 ? offset_[0] : offset_[k]);
  }
  return s;
}

// x [n, ..., c] -> y [n, ..., c].
void Rescaling::forward(Context&, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  const std::size_t c = scale_c_.size(), n = x.size();
  const float* xp = x.data();
  float* y = out.data();
  for (std::size_t i = 0; i < n; i += c)
    for (std::size_t k = 0; k < c; ++k) y[i + k] = xp[i + k] * scale_c_[k] + offset_c_[k];
}

// dy [n, ..., c] -> dx [n, ..., c] += dy * scale.
void Rescaling::backward(Context&, Inputs, const Tensor&, const Tensor& grad_out,
                         GradInputs grad_in) {
  if (grad_in.empty() || !grad_in[0]) return;
  const std::size_t c = scale_c_.size(), n = grad_out.size();
  const float* dy = grad_out.data();
  float* dx = grad_in[0]->data();
  for (std::size_t i = 0; i < n; i += c)
    for (std::size_t k = 0; k < c; ++k) dx[i + k] += dy[i + k] * scale_c_[k];
}

}  // namespace cnn
