// Dropout: inverted dropout. In training, each element is kept with probability 1 - rate and
// scaled by 1 / (1 - rate), so the expected output equals the input and inference is the identity.
//
// Keys: rate (required, 0 <= rate < 1). Keras's per-layer "seed" is not supported: all
// randomness comes from ctx.rng (seeded from --seed), so "seed": null is accepted (Keras's
// to_json writes it) and any other seed is a ConfigError. write_config writes only "rate".
//
// Shapes: any -> the same. Params: none.
// Forward (ctx.training): draws one ctx.rng->uniform() per element in memory order; element i
// is kept when u_i >= rate. Keeps the mask (0 or 1 / (1 - rate) per element) for backward.
// Forward (inference): y = x, keeps nothing.
// Backward: dx += dy * mask in training, dx += dy in inference.
#pragma once

#include "layers/layer.hpp"

namespace cnn {

class Dropout : public Layer {
 public:
  std::string type() const override { return "Dropout"; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  // Throws cnn::Error when training without ctx.rng.
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  bool copies_input_in_inference() const override { return true; }
  // Throws cnn::Error when called in training mode without a training forward first.
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  double rate_ = 0.0;
  float scale_ = 1.0f;  // 1 / (1 - rate), rounded once
  Tensor mask_;         // [n, ...]: 0 or scale_, from the last training forward
};

}  // namespace cnn
