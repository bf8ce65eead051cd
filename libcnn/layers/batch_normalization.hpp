// BatchNormalization over the last (channel) axis, with Keras's training/inference/frozen modes.
//
//   y = gamma * (x - mean) * rstd + beta,   rstd = 1 / sqrt(var + epsilon)
//
// epsilon sits inside the square root, added to the variance (as in Keras and TensorFlow), so a
// constant channel (var = 0) gives a finite rstd instead of a division by zero.
//
// Keys (Keras names and defaults):
//   axis                          -1; only the last axis is supported: -1, or its index counting
//                                 the batch axis as 0 (3 for [h, w, c] images, 1 for vectors);
//                                 a list of one such int (older Keras's to_json) is accepted
//   momentum                      0.99, in [0, 1]
//   epsilon                       0.001, > 0
//   center                        true (adds beta)
//   scale                         true (multiplies by gamma)
//   beta_initializer              "zeros"
//   gamma_initializer             "ones"
//   moving_mean_initializer       "zeros"
//   moving_variance_initializer   "ones"
//
// Shapes: [..., c] -> the same. Statistics are over every axis but the last: (n, h, w) for
// images, n for vectors; m = numel / c values per channel.
// Params, in this order: "gamma" [c] (only if scale), "beta" [c] (only if center),
// "moving_mean" [c], "moving_variance" [c]. The moving statistics are non-trainable (updated in
// forward, never by gradients) but count as parameters, as in Keras: BN on 32 channels has 128
// parameters, 64 of them non-trainable.
//
// Modes:
// - Training (ctx.training and trainable()): normalise with the batch mean and the biased batch
//   variance (divided by m), then update
//     moving_mean     = moving_mean * momentum     + mean * (1 - momentum)
//     moving_variance = moving_variance * momentum + var * m / (m - 1) * (1 - momentum)
//   i.e. the moving variance tracks the UNBIASED batch variance, as TensorFlow's fused kernel
//   (which Keras uses for NHWC) and PyTorch do; with m = 1 there is no unbiased estimate and the
//   biased one (0) is used. The updates are computed in double and rounded once.
//   Forward keeps mean [c] and rstd [c] for backward (the llm.c layernorm approach); backward is
//   the full batch-norm gradient, with xhat = (x - mean) * rstd and sums over the m values:
//     dbeta  += sum dy;   dgamma += sum dy * xhat
//     dx     += gamma * rstd * (dy - sum(dy) / m - xhat * sum(dy * xhat) / m)
// - Inference (not ctx.training), or a frozen layer (trainable() == false, the Keras >= 2.1
//   semantics that fine-tuning relies on): normalise with the moving statistics and update
//   nothing. The layer is then a per-channel affine map, and backward is
//     dx += dy * gamma * rstd_moving;  dgamma += sum dy * xhat; dbeta += sum dy
//   (parameter gradients only when trainable()). Forward keeps nothing in this mode.
// Sums (mean, variance, the backward reductions) are accumulated in double.
#pragma once

#include <optional>

#include "layers/layer.hpp"

namespace cnn {

class BatchNormalization : public Layer {
 public:
  std::string type() const override { return "BatchNormalization"; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  // Throws ShapeError for a rank-0 input or an axis that is not the input's last.
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  // The moving mean and variance; the momentum replaces the configured one while set.
  bool has_running_statistics() const override { return true; }
  void set_statistics_momentum(std::optional<double> momentum) override {
    momentum_override_ = momentum;
  }
  // In training mode, throws cnn::Error when no training forward came first.
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

 private:
  bool uses_batch_stats(const Context& ctx) const { return ctx.training && trainable(); }
  // Parameter pointers; gamma and beta are nullptr when scale / center are off.
  Param* gamma();
  Param* beta();
  Param& moving_mean();
  Param& moving_variance();

  long axis_ = -1;
  double momentum_ = 0.99;
  std::optional<double> momentum_override_;
  double epsilon_ = 1e-3;
  bool center_ = true;
  bool scale_ = true;
  Init beta_init_ = Init::Zeros;
  Init gamma_init_ = Init::Ones;
  Init moving_mean_init_ = Init::Zeros;
  Init moving_variance_init_ = Init::Ones;
  std::size_t c_ = 0;

  Tensor mean_, rstd_;              // [c], kept by a training forward
  std::vector<double> sum_, sum2_;  // [c] per-channel accumulators (scratch)
  double rows_ = 0;                 // rows the last training forward's statistics are over
  std::vector<float> mu_, a_, b_;   // [c] forward's y = (x - mu) * a + b (scratch)
  std::vector<float> rstd_moving_;  // [c] 1 / sqrt(moving_variance + epsilon) (scratch)
};

}  // namespace cnn
