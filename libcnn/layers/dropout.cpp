// Dropout layer: inverted dropout with the mask drawn from the context RNG.
#include "layers/dropout.hpp"

#include <algorithm>

namespace cnn {

void Dropout::configure(ConfigReader& cfg) {
  const double rate = cfg.get_number("rate", std::nullopt);
  if (!(rate >= 0.0 && rate < 1.0))
    throw cfg.error("rate", "expected a number >= 0 and < 1, got " + json(rate).dump());
  rate_ = rate;
  scale_ = static_cast<float>(1.0 / (1.0 - rate_));
  if (const json* seed = cfg.get_raw("seed"); seed && !seed->is_null())
    throw cfg.error("seed", "a per-layer seed is not supported, got " + json_brief(*seed) +
                                "; all randomness comes from the run's --seed");
}

void Dropout::write_config(json_ordered& out) const { out["rate"] = rate_; }

Shape Dropout::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  return inputs[0];
}

// x [n, ...] -> y [n, ...].
void Dropout::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  const float* xp = x.data();
  float* y = out.data();
  if (!ctx.training) {
    std::copy(xp, xp + x.size(), y);
    return;
  }
  if (!ctx.rng) throw Error("layer '" + name() + "' (Dropout): training needs ctx.rng");
  ensure_shape(mask_, shape_of(x));
  float* m = mask_.data();
  const float rate = static_cast<float>(rate_);
  for (std::size_t i = 0; i < x.size(); ++i) {
    // uniform() has 24 random bits, so u >= rate keeps with probability 1 - rate (to 2^-24).
    m[i] = ctx.rng->uniform() >= rate ? scale_ : 0.0f;
    y[i] = xp[i] * m[i];
  }
}

// dy [n, ...] -> dx [n, ...] += dy * mask (training) or dy (inference).
void Dropout::backward(Context& ctx, Inputs in, const Tensor&, const Tensor& grad_out,
                       GradInputs grad_in) {
  if (grad_in.empty() || !grad_in[0]) return;
  float* dx = grad_in[0]->data();
  const float* dy = grad_out.data();
  const std::size_t n = grad_out.size();
  if (!ctx.training) {
    for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i];
    return;
  }
  if (shape_of(mask_) != shape_of(*in[0]))
    throw Error("layer '" + name() + "' (Dropout): training backward without a training forward");
  const float* m = mask_.data();
  for (std::size_t i = 0; i < n; ++i) dx[i] += dy[i] * m[i];
}

}  // namespace cnn
