// Conv2D: configuration, shape inference, and forward/backward as im2col + GEMM.
#include "layers/conv2d.hpp"

#include <algorithm>

#include "kernels/gemm.hpp"

namespace cnn {

using kernels::Trans;

void Conv2D::configure(ConfigReader& cfg) {
  filters_ = static_cast<std::size_t>(cfg.get_int("filters", std::nullopt, 1));
  kernel_size_ = detail::read_pair(cfg, "kernel_size", std::nullopt, 1);
  strides_ = detail::read_pair(cfg, "strides", detail::Pair{1, 1}, 1);
  padding_ = kernels::padding_from_name(
      cfg.get_choice("padding", std::string("valid"), kernels::padding_names()));
  dilation_ = detail::read_pair(cfg, "dilation_rate", detail::Pair{1, 1}, 1);
  if (std::max(strides_[0], strides_[1]) > 1 && std::max(dilation_[0], dilation_[1]) > 1)
    throw cfg.error("dilation_rate",
                    "dilation_rate " + detail::pair_str(dilation_) +
                        " cannot be combined with strides " + detail::pair_str(strides_) +
                        "; expected strides 1 when dilation_rate > 1 (as Keras requires)");
  activation_ = kernels::act_from_name(
      cfg.get_choice("activation", std::string("linear"), kernels::act_names()));
  use_bias_ = cfg.get_bool("use_bias", true);
  kernel_init_ = init_from_name(
      cfg.get_choice("kernel_initializer", std::string("glorot_uniform"), init_names()));
  bias_init_ =
      init_from_name(cfg.get_choice("bias_initializer", std::string("zeros"), init_names()));
}

void Conv2D::write_config(json_ordered& out) const {
  out["filters"] = filters_;
  out["kernel_size"] = detail::pair_json(kernel_size_);
  out["strides"] = detail::pair_json(strides_);
  out["padding"] = kernels::padding_name(padding_);
  out["dilation_rate"] = detail::pair_json(dilation_);
  out["activation"] = kernels::act_name(activation_);
  out["use_bias"] = use_bias_;
  out["kernel_initializer"] = init_name(kernel_init_);
  out["bias_initializer"] = init_name(bias_init_);
}

Shape Conv2D::infer_shape(const std::vector<Shape>& inputs) {
  if (auto p = detail::image_shape_problem(inputs); !p.empty()) throw shape_error(p);
  const Shape& s = inputs[0];
  const auto wy = kernels::window_1d(s[0], kernel_size_[0], strides_[0], dilation_[0], padding_);
  const auto wx = kernels::window_1d(s[1], kernel_size_[1], strides_[1], dilation_[1], padding_);
  if (!wy || !wx) {
    // Only "valid" padding can fail; report the (clamped) output it would have had.
    auto would = [](std::size_t in, std::size_t k, std::size_t s, std::size_t d) {
      const std::size_t ek = (k - 1) * d + 1;
      return in < ek ? std::size_t{0} : (in - ek) / s + 1;
    };
    const Shape bad{would(s[0], kernel_size_[0], strides_[0], dilation_[0]),
                    would(s[1], kernel_size_[1], strides_[1], dilation_[1]), filters_};
    throw shape_error("input " + shape_str(s) + " is smaller than the " +
                      detail::pair_str(kernel_size_) + " kernel (dilation_rate " +
                      detail::pair_str(dilation_) + ") with 'valid' padding: the output " +
                      shape_str(bad) + " would be below 1x1");
  }
  geo_ = kernels::ConvGeometry{};
  geo_.h = s[0];
  geo_.w = s[1];
  geo_.c = s[2];
  geo_.kh = kernel_size_[0];
  geo_.kw = kernel_size_[1];
  geo_.stride_h = strides_[0];
  geo_.stride_w = strides_[1];
  geo_.dil_h = dilation_[0];
  geo_.dil_w = dilation_[1];
  geo_.pad_top = wy->pad_before;
  geo_.pad_left = wx->pad_before;
  geo_.out_h = wy->out;
  geo_.out_w = wx->out;
  in_shape_ = s;
  out_shape_ = {wy->out, wx->out, filters_};

  params().clear();  // infer_shape declares the parameters afresh
  add_param("kernel", {kernel_size_[0], kernel_size_[1], s[2], filters_}, kernel_init_);
  if (use_bias_) add_param("bias", {filters_}, bias_init_);
  return out_shape_;
}

void Conv2D::forward(Context& /*ctx*/, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  const std::size_t n = x.shape()[0];
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_;
  const std::size_t in_size = numel(in_shape_);
  const float* kernel = params()[0].value;
  const float* bias = use_bias_ ? params()[1].value : nullptr;
  col_.resize(m * k);

  for (std::size_t s = 0; s < n; ++s) {
    float* y = out.data() + s * m * f;
    kernels::im2col(geo_, x.data() + s * in_size, col_.data());
    // Start every output row from the bias and let the GEMM accumulate onto it (beta = 1).
    if (bias)
      for (std::size_t r = 0; r < m; ++r) std::copy(bias, bias + f, y + r * f);
    // y[m, f] (+)= col[m, k] * kernel[k, f]; [m, f] is [out_h, out_w, filters], i.e. NHWC.
    kernels::gemm(Trans::No, Trans::No, m, f, k, 1.0f, col_.data(), k, kernel, f,
                  bias ? 1.0f : 0.0f, y, f);
  }
  // Softmax (if chosen) normalises each row of [n * out_h * out_w, filters]: the channel axis.
  kernels::act_forward(activation_, out.data(), n * m, f);
}

void Conv2D::backward(Context& /*ctx*/, Inputs in, const Tensor& out, const Tensor& grad_out,
                      GradInputs grad_in) {
  const Tensor& x = *in[0];
  if (auto p = detail::batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  if (auto p = detail::batch_problem(grad_out, out_shape_, "output gradient"); !p.empty())
    throw shape_error(p);
  Tensor* gx = grad_in.empty() ? nullptr : grad_in[0];
  if (gx)
    if (auto p = detail::batch_problem(*gx, in_shape_, "input gradient"); !p.empty())
      throw shape_error(p);

  const std::size_t n = x.shape()[0];
  const std::size_t m = geo_.col_rows(), k = geo_.col_cols(), f = filters_;
  const std::size_t in_size = numel(in_shape_);
  Param& kernel = params()[0];
  Param* bias = use_bias_ ? &params()[1] : nullptr;
  const bool want_kernel = wants_param_grads() && kernel.grad;
  const bool want_bias = wants_param_grads() && bias && bias->grad;
  if (!gx && !want_kernel && !want_bias) return;

  dz_.resize(m * f);
  if (want_kernel) {
    col_.resize(m * k);
    dkernel_.assign(k * f, 0.0f);
  }
  if (want_bias) dbias_.assign(f, 0.0f);
  if (gx) {
    dcol_.resize(m * k);
    dx_.resize(in_size);
  }

  for (std::size_t s = 0; s < n; ++s) {
    // dz = dL/dz for this sample, from y and dL/dy: [m, f].
    kernels::act_backward(activation_, out.data() + s * m * f, grad_out.data() + s * m * f,
                          dz_.data(), m, f);
    if (want_kernel) {
      // dkernel[k, f] += col^T[k, m] * dz[m, f]
      kernels::im2col(geo_, x.data() + s * in_size, col_.data());
      kernels::gemm(Trans::Yes, Trans::No, k, f, m, 1.0f, col_.data(), k, dz_.data(), f, 1.0f,
                    dkernel_.data(), f);
    }
    if (want_bias)
      for (std::size_t r = 0; r < m; ++r)
        for (std::size_t j = 0; j < f; ++j) dbias_[j] += dz_[r * f + j];
    if (gx) {
      // dcol[m, k] = dz[m, f] * kernel^T[f, k]; col2im scatters it back onto the input cells.
      kernels::gemm(Trans::No, Trans::Yes, m, k, f, 1.0f, dz_.data(), f, kernel.value, f, 0.0f,
                    dcol_.data(), k);
      std::fill(dx_.begin(), dx_.end(), 0.0f);
      kernels::col2im_add(geo_, dcol_.data(), dx_.data());
      float* g = gx->data() + s * in_size;
      for (std::size_t i = 0; i < in_size; ++i) g[i] += dx_[i];
    }
  }
  if (want_kernel)
    for (std::size_t i = 0; i < k * f; ++i) kernel.grad[i] += dkernel_[i];
  if (want_bias)
    for (std::size_t j = 0; j < f; ++j) bias->grad[j] += dbias_[j];
}

}  // namespace cnn
