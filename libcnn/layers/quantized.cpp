// Int8 inference of Conv2D and Dense (see quantized.hpp).
#include "layers/quantized.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/threading.hpp"

namespace cnn::detail {
namespace {

bool int8_from_environment() {
  const char* v = std::getenv("CNN_INT8");
  return !(v && std::string(v) == "0");
}
std::atomic<bool> g_int8{int8_from_environment()};

}  // namespace

bool int8_enabled() { return g_int8; }
void set_int8(bool enabled) { g_int8 = enabled; }

std::optional<QuantConfig> read_quantization(ConfigReader& cfg) {
  const json* raw = cfg.get_raw("quantization");
  if (!raw || raw->is_null()) return std::nullopt;
  if (!raw->is_object())
    throw cfg.error("quantization",
                    "expected an object {\"input_scale\": S, \"input_zero_point\": Z}, got " +
                        json_brief(*raw));
  ConfigReader q(*raw, cfg.file(), cfg.pointer() + "/quantization", cfg.layer());
  QuantConfig c;
  c.input_scale = static_cast<float>(q.get_number("input_scale", std::nullopt, 1e-30, 1e30));
  c.input_zero_point = static_cast<std::int32_t>(q.get_int("input_zero_point", 0, 0, 255));
  q.finish();
  return c;
}

void write_quantization(const std::optional<QuantConfig>& q, json_ordered& out) {
  if (!q) return;
  out["quantization"] = {{"input_scale", q->input_scale},
                         {"input_zero_point", q->input_zero_point}};
}

void quantize_kernel(const float* w, std::size_t k, std::size_t n, std::int8_t* q, float* scale) {
  for (std::size_t j = 0; j < n; ++j) {
    float top = 0.0f;
    for (std::size_t p = 0; p < k; ++p) top = std::max(top, std::fabs(w[p * n + j]));
    scale[j] = top > 0.0f ? top / 127.0f : 1.0f;
  }
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t j = 0; j < n; ++j) {
      const float r = std::nearbyint(w[p * n + j] / scale[j]);
      q[p * n + j] = r == r ? static_cast<std::int8_t>(std::clamp(r, -127.0f, 127.0f)) : 0;
    }
}

void QuantizedProduct::prepare(const float* kernel, std::size_t k, std::size_t n,
                               const QuantConfig& q, const kernels::ConvGeometry* direct,
                               std::uint64_t version) {
  // The direct convolution's kernel has a row per padded channel (kernels::qconv_channels), or
  // per packed tap (kernels::qconv_packs_taps).
  const std::size_t packed_k = direct ? kernels::qconv_k(*direct) : k;
  const bool widen = packed_k != k;
  const bool same_shape = kernel_.size() == k * n && packed_.n() == n && packed_.k() == packed_k &&
                          q.input_scale == q_.input_scale &&
                          q.input_zero_point == q_.input_zero_point;
  // (A Dense kernel of 6272 x 512 took 3% of an inference pass to compare.)
  const bool same_version = version != 0 && version == version_ && kernel == source_;
  source_ = kernel;
  version_ = version;
  if (same_shape &&
      (same_version || std::memcmp(kernel_.data(), kernel, k * n * sizeof(float)) == 0))
    return;
  q_ = q;
  kernel_.assign(kernel, kernel + k * n);
  std::vector<float> wide;
  if (widen) {
    wide.resize(packed_k * n);
    kernels::pad_kernel_channels(*direct, kernel, n, wide.data());
    kernel = wide.data();
  }
  // Zero rows change no column's largest magnitude: the same integers, and zeros.
  std::vector<std::int8_t> b(packed_k * n);
  std::vector<float> w_scale(n);
  quantize_kernel(kernel, packed_k, n, b.data(), w_scale.data());
  packed_.pack(packed_k, n, b.data(), n);
  scale_.resize(n);
  for (std::size_t j = 0; j < n; ++j) scale_[j] = q.input_scale * w_scale[j];
}

void QuantizedProduct::run(std::size_t m, const float* a, std::size_t lda, const float* bias,
                           bool relu, float* y, std::size_t ldy) {
  const std::size_t k = packed_.k();
  input_.resize(m * k);
  quantize(a, m, k, lda, input_.data());
  run(m, input_.data(), k, bias, relu, y, ldy);
}

void QuantizedProduct::quantize(const float* x, std::size_t rows, std::size_t cols, std::size_t ldx,
                                std::uint8_t* dst) const {
  kernels::quantize_u8(x, rows, cols, ldx, q_.input_scale, q_.input_zero_point, dst);
}

kernels::QEpilogue QuantizedProduct::epilogue(const float* bias, bool relu, float* y,
                                              std::size_t ldy) const {
  kernels::QEpilogue ep;
  ep.scale = scale_.data();
  ep.bias = bias;
  ep.zero_point = q_.input_zero_point;
  ep.relu = relu;
  ep.y = y;
  ep.ldy = ldy;
  return ep;
}

void QuantizedProduct::run(std::size_t m, const std::uint8_t* a, std::size_t lda, const float* bias,
                           bool relu, float* y, std::size_t ldy) const {
  kernels::qgemm(m, a, lda, packed_, epilogue(bias, relu, y, ldy));
}

void QuantizedProduct::conv(const kernels::ConvGeometry& g, std::size_t n, const float* x,
                            const float* bias, bool relu, std::uint8_t* qx, float* y,
                            std::size_t ldy) const {
  if (x) quantize_conv_input(g, n, x, qx);
  kernels::qconv(g, n, qx, packed_, epilogue(bias, relu, y, ldy ? ldy : packed_.n()));
}

void QuantizedProduct::quantize_conv_input(const kernels::ConvGeometry& g, std::size_t n,
                                           const float* x, std::uint8_t* qx) const {
  kernels::quantize_conv_input(g, n, x, q_.input_scale, q_.input_zero_point, qx, packed_.isa());
}

void QuantizedProduct::conv_rows(const kernels::ConvGeometry& g, const std::uint8_t* sample,
                                 const float* bias, bool relu, float* y, std::size_t oy0,
                                 std::size_t oy1) const {
  kernels::qconv_rows(g, sample, packed_, epilogue(bias, relu, y, packed_.n()), oy0, oy1);
}

void QuantizedProduct::conv_pool2_rows(const kernels::ConvGeometry& g, const std::uint8_t* sample,
                                       const float* bias, bool relu, float* y, std::size_t ldy,
                                       std::size_t py0, std::size_t py1) const {
  kernels::qconv_pool2_rows(g, sample, packed_, epilogue(bias, relu, y, ldy), py0, py1);
}

}  // namespace cnn::detail
