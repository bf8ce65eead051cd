// Int8 inference of a layer whose work is one matrix product with its kernel [k, n]: Conv2D by
// im2col (or 1x1) and Dense, once cnn-quantize has calibrated it (share/cnn-quantize.md).
//
// The layer's JSON then has "quantization": {"input_scale": s, "input_zero_point": z}: its input
// x is read as the unsigned bytes q = clamp(round(x * (1 / s)) + z, 0, 255) (x ~ s (q - z)). Its
// kernel
// is quantized per output column, symmetrically: w_scale[j] = max over p of |w(p, j)| / 127 and
// B(p, j) = round(w(p, j) / w_scale[j]) in [-127, 127] (rounding half to even). cnn-quantize
// stores the kernel as w_scale[j] * B(p, j), in float, so that a quantized model's weights file
// is an ordinary one (every program reads it, and the float path computes the quantized
// weights' model); quantizing those values again gives the same B (w_scale within a rounding).
// The output is
// kernels::qgemm's epilogue: y = act(a_scale w_scale[j] (sum_p q B - z colsum[j]) + bias[j]).
//
// Only an output-only inference forward (cnn-eval, cnn-extract-features, predictions) takes the
// int8 path; training, gradients and intermediate activations (cnn-visualize) run in float on
// the stored weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/qgemm.hpp"
#include "tensor/config.hpp"

namespace cnn::detail {

struct QuantConfig {
  float input_scale = 1.0f;
  std::int32_t input_zero_point = 0;
};

// The "quantization" key of cfg, if present. Throws ConfigError for a bad value.
std::optional<QuantConfig> read_quantization(ConfigReader& cfg);
void write_quantization(const std::optional<QuantConfig>& q, json_ordered& out);

// The int8 form of kernel [k, n] (rows n apart): q [k, n] and scale [n] as described above
// (scale 1 for a column of zeros; a NaN becomes 0).
void quantize_kernel(const float* w, std::size_t k, std::size_t n, std::int8_t* q, float* scale);

// Whether output-only inference takes the int8 path of quantized layers (default on;
// CNN_INT8=0 at start-up or set_int8(false) keeps float: for comparisons).
bool int8_enabled();
void set_int8(bool enabled);

// An int8 convolution's input, written already quantized by the layer before it (Context::
// quantized_output): kernels::qconv's padded layout of a batch.
struct QuantizedInput {
  kernels::ConvGeometry geometry;  // the reading convolution's
  float scale = 1.0f;
  std::int32_t zero_point = 0;
  std::uint8_t* data = nullptr;  // kernels::qconv_input_bytes(geometry, batch), padding written
  std::size_t batch = 0;
  bool filled = false;  // set by the writer when every row is in
};

class QuantizedProduct {
 public:
  // The packed int8 kernel, made again only when the kernel's values change. direct: the
  // convolution, when it runs by conv (conv_fits; its kernel then gets a row for each channel
  // qconv adds). version: the model's parameters' version (Context::params_version; 0: none):
  // the same non-zero version at the same address spares comparing the values.
  void prepare(const float* kernel, std::size_t k, std::size_t n, const QuantConfig& q,
               const kernels::ConvGeometry* direct = nullptr, std::uint64_t version = 0);
  // y [m, n] (rows ldy apart) = the epilogue of the quantized a [m, k] (rows lda apart) times the
  // kernel, + bias (may be null), relu when asked. Threads over rows.
  void run(std::size_t m, const float* a, std::size_t lda, const float* bias, bool relu, float* y,
           std::size_t ldy);
  // The same for a already quantized (bytes, rows lda apart).
  void run(std::size_t m, const std::uint8_t* a, std::size_t lda, const float* bias, bool relu,
           float* y, std::size_t ldy) const;
  // x [rows, cols] (rows ldx apart) quantized with the layer's input scale into dst.
  void quantize(const float* x, std::size_t rows, std::size_t cols, std::size_t ldx,
                std::uint8_t* dst) const;
  // The convolution g of n samples x [n, h, w, c] by kernels::qconv, where it fits (conv_fits):
  // x quantized into qx (kernels::qconv_input_bytes(g, n) bytes; x null: qx holds it already),
  // y [n * out_h * out_w, n()] the epilogue's floats, rows ldy apart (0: n()).
  bool conv_fits(const kernels::ConvGeometry& g) const { return kernels::qconv_fits(g, packed_); }
  void conv(const kernels::ConvGeometry& g, std::size_t n, const float* x, const float* bias,
            bool relu, std::uint8_t* qx, float* y, std::size_t ldy = 0) const;
  // Its two steps: x into qx; output rows [oy0, oy1) of one quantized sample into y (rows n()
  // apart), on the calling thread.
  void quantize_conv_input(const kernels::ConvGeometry& g, std::size_t n, const float* x,
                           std::uint8_t* qx) const;
  void conv_rows(const kernels::ConvGeometry& g, const std::uint8_t* sample, const float* bias,
                 bool relu, float* y, std::size_t oy0, std::size_t oy1) const;
  // The same with a 2x2 / 2 max pooling after it (kernels::qconv_pool2_rows): pooled rows
  // [py0, py1) into y, pixels ldy floats apart.
  void conv_pool2_rows(const kernels::ConvGeometry& g, const std::uint8_t* sample,
                       const float* bias, bool relu, float* y, std::size_t ldy, std::size_t py0,
                       std::size_t py1) const;
  std::uint8_t zero_point() const { return static_cast<std::uint8_t>(q_.input_zero_point); }
  const QuantConfig& config() const { return q_; }
  std::size_t k() const { return packed_.k(); }

 private:
  kernels::QEpilogue epilogue(const float* bias, bool relu, float* y, std::size_t ldy) const;

  QuantConfig q_;
  kernels::PackedQB packed_;
  std::vector<float> scale_;       // input_scale * w_scale[j]
  std::vector<float> kernel_;      // the values packed_ was made from
  const float* source_ = nullptr;  // ... read from here, at the parameters' version_
  std::uint64_t version_ = 0;
  std::vector<std::uint8_t> input_;  // the quantized a
};

}  // namespace cnn::detail
