// Dense layer: GEMM forward and backward with bias and a fused activation.
#include "layers/dense.hpp"

#include <algorithm>

#include "kernels/eltwise.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"

namespace cnn {
namespace {
// Rows of dW computed per GEMM call in backward (see there); bounds the scratch to
// kDwBlock * units floats however wide the input is.
constexpr std::size_t kDwBlock = 64;

// Batches below kTransposedRows rows, with weights of kTransposedWeights floats or more, take y
// and dx as transposed products: y^T = W^T x^T and dx^T = W dz^T, then transposed into place.
// The GEMM reads its A operand in place and packs B, so the weights (by far the larger operand
// at a small batch) go as A and are read once, not packed. cats_dogs' 6272 -> 512 at batch 20,
// ms, 2 threads, 4 rounds alternating with the build before (cnn-summary --time): forward
// 1.33-1.36 -> 0.96-1.02, backward 3.7-3.9 -> 2.1-2.5. Weights that fit in L2 pack cheaply:
// the MNIST convnet's 576 -> 64 forward went 0.030 -> 0.043 ms transposed. The same bits: each
// element is the same products summed in the same order (the k blocks depend on k alone).
constexpr std::size_t kTransposedRows = 128, kTransposedWeights = std::size_t{256} << 10;

// dst[i, j] (+)= src[j, i] for src [cols, rows], dst [rows, cols], a block at a time.
void transpose(const float* src, std::size_t rows, std::size_t cols, float* dst, bool add) {
  constexpr std::size_t kB = 32;
  kernels::parallel_for(0, (cols + kB - 1) / kB, [&](std::size_t b) {
    const std::size_t j0 = b * kB, j1 = std::min(cols, j0 + kB);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = j0; j < j1; ++j) {
        if (add)
          dst[i * cols + j] += src[j * rows + i];
        else
          dst[i * cols + j] = src[j * rows + i];
      }
  });
}
}  // namespace

void Dense::configure(ConfigReader& cfg) {
  units_ = static_cast<std::size_t>(cfg.get_int("units", std::nullopt, 1));
  act_ = kernels::act_from_name(cfg.get_choice("activation", "linear", kernels::act_names()));
  use_bias_ = cfg.get_bool("use_bias", true);
  kernel_init_ =
      init_from_name(cfg.get_choice("kernel_initializer", "glorot_uniform", init_names()));
  bias_init_ = init_from_name(cfg.get_choice("bias_initializer", "zeros", init_names()));
  quant_ = detail::read_quantization(cfg);
}

void Dense::write_config(json_ordered& out) const {
  out["units"] = units_;
  out["activation"] = kernels::act_name(act_);
  out["use_bias"] = use_bias_;
  out["kernel_initializer"] = init_name(kernel_init_);
  out["bias_initializer"] = init_name(bias_init_);
  detail::write_quantization(quant_, out);
}

Shape Dense::infer_shape(const std::vector<Shape>& inputs) {
  if (inputs.size() != 1)
    throw shape_error("expected 1 input, got " + std::to_string(inputs.size()));
  const Shape& s = inputs[0];
  if (s.size() != 1)
    throw shape_error("expected a rank-1 input (features), got " + shape_str(s, true) +
                      "; add a Flatten layer before this Dense layer (Keras would apply Dense "
                      "to the last axis; cnn requires Flatten)");
  in_ = s[0];
  params().clear();
  add_param("kernel", {in_, units_}, kernel_init_);
  if (use_bias_) add_param("bias", {units_}, bias_init_);
  return {units_};
}

bool Dense::transposed(std::size_t n) const {
  return n < kTransposedRows && in_ * units_ >= kTransposedWeights;
}

// x [n, in] -> y [n, units]: y = act(x . W + b).
void Dense::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  const std::size_t n = x.shape()[0];
  const float* w = params()[0].value;
  float* y = out.data();
  const kernels::Act act = act_for(ctx, act_);
  if (quant_ && ctx.output_only && !ctx.training && detail::int8_enabled()) {
    if (!qprod_) qprod_ = std::make_unique<detail::QuantizedProduct>();
    qprod_->prepare(w, in_, units_, *quant_, nullptr, ctx.params_version);
    qprod_->run(n, x.data(), in_, use_bias_ ? params()[1].value : nullptr,
                act == kernels::Act::Relu, y, units_);
    if (act != kernels::Act::Linear && act != kernels::Act::Relu)
      kernels::act_forward(act, y, n, units_);
    return;
  }
  if (transposed(n)) {
    ensure_shape(yt_, {units_, n});
    kernels::gemm(kernels::Trans::Yes, kernels::Trans::Yes, units_, n, in_, 1.0f, w, units_,
                  x.data(), in_, 0.0f, yt_.data(), n);
    transpose(yt_.data(), n, units_, y, false);
  } else {
    kernels::gemm(kernels::Trans::No, kernels::Trans::No, n, units_, in_, 1.0f, x.data(), in_, w,
                  units_, 0.0f, y, units_);
  }
  // Bias and activation in one pass over y.
  kernels::bias_act_forward(act, y, use_bias_ ? params()[1].value : nullptr, n, units_);
}

// x [n, in], y [n, units], dy [n, units]; adds into dx [n, in], dW [in, units], db [units].
//
// The products are computed into zeroed scratch and then added, rather than with GEMM's
// beta = 1: the portable GEMM adds each term into C in turn, so accumulating straight into a
// non-zero gradient rounds differently from computing it alone, and two backward calls would
// not give exactly twice one call (STYLE.md §8.2). Adding a finished product keeps it exact.
void Dense::backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                     GradInputs grad_in) {
  const Tensor& x = *in[0];
  const std::size_t n = x.shape()[0];
  ensure_shape(dz_, {n, units_});
  kernels::act_backward(act_for(ctx, act_), out.data(), grad_out.data(), dz_.data(), n, units_);
  const float* dz = dz_.data();

  Param& kernel = params()[0];
  if (wants_param_grads() && kernel.grad) {
    // dW[i0:i0+rows, :] = x[:, i0:i0+rows]^T . dZ, one block of rows at a time.
    ensure_shape(dw_block_, {std::min(kDwBlock, in_), units_});
    for (std::size_t i0 = 0; i0 < in_; i0 += kDwBlock) {
      const std::size_t rows = std::min(kDwBlock, in_ - i0);
      kernels::gemm(kernels::Trans::Yes, kernels::Trans::No, rows, units_, n, 1.0f, x.data() + i0,
                    in_, dz, units_, 0.0f, dw_block_.data(), units_);
      kernels::add_to(dw_block_.data(), rows * units_, kernel.grad + i0 * units_);
    }
  }
  if (use_bias_ && wants_param_grads() && params()[1].grad) {
    float* db = params()[1].grad;
    for (std::size_t j = 0; j < units_; ++j) {
      double s = 0.0;
      for (std::size_t i = 0; i < n; ++i) s += dz[i * units_ + j];
      db[j] += static_cast<float>(s);
    }
  }
  if (!grad_in.empty() && grad_in[0]) {
    // dx = dZ . W^T (at a small batch as dx^T = W . dZ^T, added transposed).
    if (transposed(n)) {
      ensure_shape(dx_, {in_, n});
      kernels::gemm(kernels::Trans::No, kernels::Trans::Yes, in_, n, units_, 1.0f, kernel.value,
                    units_, dz, units_, 0.0f, dx_.data(), n);
      transpose(dx_.data(), n, in_, grad_in[0]->data(), true);
    } else {
      ensure_shape(dx_, {n, in_});
      kernels::gemm(kernels::Trans::No, kernels::Trans::Yes, n, in_, units_, 1.0f, dz, units_,
                    kernel.value, units_, 0.0f, dx_.data(), in_);
      kernels::add_to(dx_.data(), n * in_, grad_in[0]->data());
    }
  }
}

}  // namespace cnn
