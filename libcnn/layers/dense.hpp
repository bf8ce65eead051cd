// Dense: the fully connected layer, y = act(x . kernel + bias), on flattened feature vectors.
//
// Keys (Keras names and defaults):
//   units               required, >= 1
//   activation          "linear"; one of kernels::act_names()
//   use_bias            true
//   kernel_initializer  "glorot_uniform"
//   bias_initializer    "zeros"
//   quantization        absent, or {"input_scale": s, "input_zero_point": z}: int8 inference
//                       (layers/quantized.hpp), set by cnn-quantize
//
// Shapes: input [n, in] (per sample: rank 1, [in]); output [n, units].
// Params: "kernel" [in, units] (Keras layout), "bias" [units] when use_bias.
//
// Keras applies Dense to the last axis of a higher-rank input ([h, w, c] -> [h, w, units]).
// cnn requires a rank-1 input instead: a rank-2+ input is a ShapeError that suggests a Flatten
// layer, because the image models this project targets always flatten first, and a silent
// per-pixel Dense is more often a missing Flatten than an intent.
//
// Forward keeps nothing: backward reads x (the input) and y (the output), since every
// activation's derivative is written in terms of its output.
// Backward (dZ = act'(y) * dy):  dW += x^T . dZ;  db += sum over the batch of dZ;
// dx += dZ . W^T.
#pragma once

#include <memory>
#include <optional>

#include "kernels/activation.hpp"
#include "layers/layer.hpp"
#include "layers/quantized.hpp"

namespace cnn {

class Dense : public Layer {
 public:
  std::string type() const override { return "Dense"; }
  std::optional<kernels::Act> activation() const override { return act_; }
  void set_activation(kernels::Act a) override { act_ = a; }
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  // [in] -> [units]; throws ShapeError for any other rank (suggesting Flatten).
  Shape infer_shape(const std::vector<Shape>& inputs) override;
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;
  // in * units.
  double forward_macs() const override { return static_cast<double>(in_ * units_); }

 private:
  std::size_t units_ = 0;
  std::size_t in_ = 0;
  kernels::Act act_ = kernels::Act::Linear;
  bool use_bias_ = true;
  Init kernel_init_ = Init::GlorotUniform;
  Init bias_init_ = Init::Zeros;
  std::optional<detail::QuantConfig> quant_;  // int8 inference (layers/quantized.hpp)
  std::unique_ptr<detail::QuantizedProduct> qprod_;
  // Whether a batch of n takes the transposed products (dense.cpp).
  bool transposed(std::size_t n) const;
  // Scratch reused across calls: dZ [n, units], a block of dW rows [<= kBlock, units], dx [n, in]
  // (or [in, n], and yt_ [units, n]: the transposed products of a small batch, dense.cpp).
  Tensor dz_, dw_block_, dx_, yt_;
};

}  // namespace cnn
