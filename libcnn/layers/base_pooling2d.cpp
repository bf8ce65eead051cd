// Shared pooling machinery: window/global configuration, shape inference, forward/backward.
#include "layers/base_pooling2d.hpp"

#include <algorithm>
#include <vector>

#include "kernels/activation.hpp"
#include "kernels/eltwise.hpp"
#include "kernels/threading.hpp"

namespace cnn::detail {

void Pool2D::set_geometry(const Shape& in_shape, const Shape& out_shape,
                          const kernels::PoolGeometry& geo) {
  in_shape_ = in_shape;
  out_shape_ = out_shape;
  geo_ = geo;
  argmax_batch_.reset();
}

void Pool2D::compute_argmax(const Tensor& x, std::size_t n) {
  const std::size_t in_size = geo_.in_size(), out_size = geo_.out_size();
  argmax_.resize(n * out_size);
  pooled_.resize(n * out_size);
  kernels::parallel_for(0, n, [&](std::size_t s) {
    kernels::max_pool_forward(geo_, x.data() + s * in_size, pooled_.data() + s * out_size,
                              argmax_.data() + s * out_size);
  });
}

void Pool2D::pool_sample(const float* in, float* out) const {
  pool_sample(in, out, geo_.c, geo_.c);
}

bool Pool2D::band_pools() const {
  // Every window starts inside the input (ceil mode's last ones may end past it).
  return geo_.pad_top == 0 && geo_.pad_left == 0 && geo_.dil_h == 1 && geo_.dil_w == 1 &&
         geo_.out_h > 0 && (geo_.out_h - 1) * geo_.stride_h < geo_.h &&
         (geo_.out_w - 1) * geo_.stride_w < geo_.w;
}

void Pool2D::pool_band(const float* band, std::size_t rows, float* out) const {
  pool_band(band, rows, out, geo_.c, geo_.c);
}

void Pool2D::pool_with(const kernels::PoolGeometry& g, const float* in, float* out,
                       std::size_t ldy) const {
  const auto pool = [&](float* o) {
    if (mode_ == PoolMode::Average)
      kernels::avg_pool_forward(g, in, o);
    else
      kernels::max_pool_forward(g, in, o, nullptr);
  };
  if (ldy == g.c) return pool(out);
  thread_local AlignedVector<float> packed;
  const std::size_t pixels = g.out_h * g.out_w;
  packed.resize(pixels * g.c);
  pool(packed.data());
  for (std::size_t p = 0; p < pixels; ++p) std::copy_n(packed.data() + p * g.c, g.c, out + p * ldy);
}

void Pool2D::pool_sample(const float* in, float* out, std::size_t channels, std::size_t ldy) const {
  kernels::PoolGeometry g = geo_;
  g.c = channels;
  pool_with(g, in, out, ldy);
}

void Pool2D::pool_band(const float* band, std::size_t rows, float* out, std::size_t channels,
                       std::size_t ldy, std::size_t out_rows) const {
  kernels::PoolGeometry g = geo_;
  g.c = channels;
  g.h = rows;
  g.out_h = out_rows;
  pool_with(g, band, out, ldy);
}

void Pool2D::forward(Context& ctx, Inputs in, Tensor& out) {
  const Tensor& x = *in[0];
  if (auto p = batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
  const std::size_t n = x.shape()[0];
  const std::size_t in_size = geo_.in_size(), out_size = geo_.out_size();
  argmax_batch_.reset();
  // Samples are independent: one task each, so the result does not depend on the thread count.
  if (mode_ == PoolMode::Average) {
    kernels::parallel_for(0, n, [&](std::size_t s) {
      kernels::avg_pool_forward(geo_, x.data() + s * in_size, out.data() + s * out_size);
    });
    return;
  }
  if (ctx.training) argmax_.resize(n * out_size);
  kernels::parallel_for(0, n, [&](std::size_t s) {
    kernels::max_pool_forward(geo_, x.data() + s * in_size, out.data() + s * out_size,
                              ctx.training ? argmax_.data() + s * out_size : nullptr);
  });
  if (ctx.training) argmax_batch_ = n;
}

void Pool2D::backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                      GradInputs grad_in) {
  Tensor* gx = grad_in.empty() ? nullptr : grad_in[0];
  if (!gx) return;
  const Tensor& x = *in[0];
  if (auto p = batch_problem(x, in_shape_, "input"); !p.empty()) throw shape_error(p);
  if (auto p = batch_problem(grad_out, out_shape_, "output gradient"); !p.empty())
    throw shape_error(p);
  if (auto p = batch_problem(*gx, in_shape_, "input gradient"); !p.empty()) throw shape_error(p);
  const std::size_t n = x.shape()[0];
  // The relu before this max pooling, applied here (Context::relu_grad_in): a window's output is
  // its winning cell, so the winner's relu cut it exactly where the output is not > 0, and that
  // window's gradient goes nowhere. Each sample's masked gradient is made as it is used.
  const bool relu = ctx.relu_grad_in && mode_ == PoolMode::Max;
  if (relu) {
    if (auto p = batch_problem(out, out_shape_, "output"); !p.empty()) throw shape_error(p);
    masked_.resize(n * geo_.out_size());
  }
  const std::size_t in_size = geo_.in_size(), out_size = geo_.out_size();
  if (mode_ == PoolMode::Max && argmax_batch_ != n) compute_argmax(x, n);

  // Windows that do not overlap (stride >= pool size, or a single window along an axis) send at
  // most one value to each input cell, so adding it straight into the gradient gives exactly g + (0
  // + d), the same as summing the sample's gradient in scratch first. Overlapping windows sum in
  // per-sample scratch and add the total once, so that two backward calls still give exactly twice
  // one call.
  const bool disjoint = kernels::pool_windows_disjoint(geo_);
  if (!disjoint) dx_.resize(n * in_size);
  const bool unzeroed = ctx.grad_in_unzeroed;
  // The lecture's pooling (max, windows the stride apart from the corner) into a gradient this
  // layer zeroes, where a sample's gradient is larger than L2: each window's cells written in
  // one pass, and only the cells past the last windows zeroed apart, instead of zeroing all,
  // then adding into the winners (cats_dogs' first pooling at batch 20: 2.3 -> 1.6 ms). A
  // smaller one (MNIST's, 86 KB) is zeroed in cache faster than the scattered stores fetch it.
  constexpr std::size_t kSetBytes = std::size_t{512} << 10;
  const bool set = unzeroed && disjoint && mode_ == PoolMode::Max && geo_.pad_top == 0 &&
                   geo_.pad_left == 0 && geo_.stride_h == geo_.ph && geo_.stride_w == geo_.pw &&
                   geo_.dil_h == 1 && geo_.dil_w == 1 && geo_.out_h * geo_.ph <= geo_.h &&
                   geo_.out_w * geo_.pw <= geo_.w && in_size * sizeof(float) >= kSetBytes;
  kernels::parallel_for(0, n, [&](std::size_t s) {
    const float* dy = grad_out.data() + s * out_size;
    if (relu) {
      float* m = masked_.data() + s * out_size;
      kernels::act_backward(kernels::Act::Relu, out.data() + s * out_size, dy, m, 1, out_size);
      dy = m;
    }
    float* g = gx->data() + s * in_size;
    if (set) {
      const std::size_t c = geo_.c, rows = geo_.out_h * geo_.ph, cols = geo_.out_w * geo_.pw;
      for (std::size_t y = 0; y < rows; ++y)
        std::fill(g + (y * geo_.w + cols) * c, g + (y + 1) * geo_.w * c, 0.0f);
      std::fill(g + rows * geo_.w * c, g + in_size, 0.0f);
      kernels::max_pool_backward_set(geo_, dy, argmax_.data() + s * out_size, g);
      return;
    }
    if (unzeroed) std::fill(g, g + in_size, 0.0f);
    float* d = g;
    if (!disjoint) {
      d = dx_.data() + s * in_size;
      std::fill(d, d + in_size, 0.0f);
    }
    if (mode_ == PoolMode::Max)
      kernels::max_pool_backward_add(geo_, dy, argmax_.data() + s * out_size, d);
    else
      kernels::avg_pool_backward_add(geo_, dy, d);
    if (!disjoint) kernels::add_to(d, in_size, g);
  });
}

void WindowPool2D::configure(ConfigReader& cfg) {
  pool_size_ = read_pair(cfg, "pool_size", Pair{2, 2}, 1);
  // Keras writes "strides": null for the default, which means the pool size.
  const json* strides = cfg.get_raw("strides");
  strides_ = strides == nullptr || strides->is_null() ? pool_size_
                                                      : read_pair(cfg, "strides", std::nullopt, 1);
  dilation_ = read_pair(cfg, "dilation_rate", Pair{1, 1}, 1);
  const json* padding = cfg.get_raw("padding");
  pads_.reset();
  padding_ = kernels::Padding::Valid;
  if (padding != nullptr && padding->is_array()) {
    // [[top, bottom], [left, right]]: explicit cells, each smaller than the window.
    std::array<Pair, 2> p{};
    bool ok = padding->size() == 2;
    for (std::size_t a = 0; ok && a < 2; ++a) {
      const json& side = (*padding)[a];
      ok = side.is_array() && side.size() == 2;
      for (std::size_t k = 0; ok && k < 2; ++k) {
        ok = side[k].is_number_integer() && side[k].get<long>() >= 0;
        if (ok) p[a][k] = side[k].get<std::size_t>();
      }
      const std::size_t extent = (pool_size_[a] - 1) * dilation_[a] + 1;
      if (ok && (p[a][0] >= extent || p[a][1] >= extent))
        throw cfg.error("padding", "explicit padding must be smaller than the window (" +
                                       std::to_string(extent) + ") on each side");
    }
    if (!ok)
      throw cfg.error("padding",
                      "expected \"valid\", \"same\" or [[top, bottom], [left, right]] with "
                      "integers >= 0");
    pads_ = p;
  } else {
    padding_ = kernels::padding_from_name(
        cfg.get_choice("padding", std::string("valid"), kernels::padding_names()));
  }
  ceil_mode_ = cfg.get_bool("ceil_mode", false);
  if (ceil_mode_ && padding_ != kernels::Padding::Valid)
    throw cfg.error("ceil_mode",
                    "ceil_mode needs padding 'valid' (with 'same' the output size is "
                    "already rounded up)");
}

void WindowPool2D::write_config(json_ordered& out) const {
  out["pool_size"] = pair_json(pool_size_);
  out["strides"] = pair_json(strides_);
  if (pads_)
    out["padding"] = {{(*pads_)[0][0], (*pads_)[0][1]}, {(*pads_)[1][0], (*pads_)[1][1]}};
  else
    out["padding"] = kernels::padding_name(padding_);
  if (dilation_ != Pair{1, 1}) out["dilation_rate"] = pair_json(dilation_);
  if (ceil_mode_) out["ceil_mode"] = true;
}

Shape WindowPool2D::infer_shape(const std::vector<Shape>& inputs) {
  if (auto p = image_shape_problem(inputs); !p.empty()) throw shape_error(p);
  const Shape& s = inputs[0];
  const Pair extent{(pool_size_[0] - 1) * dilation_[0] + 1, (pool_size_[1] - 1) * dilation_[1] + 1};
  std::array<std::optional<kernels::Window1D>, 2> win;
  for (std::size_t a = 0; a < 2; ++a) {
    if (!pads_) {
      win[a] = kernels::window_1d(s[a], pool_size_[a], strides_[a], dilation_[a], padding_);
    } else if (s[a] + (*pads_)[a][0] + (*pads_)[a][1] >= extent[a]) {
      const std::size_t padded = s[a] + (*pads_)[a][0] + (*pads_)[a][1];
      win[a] =
          kernels::Window1D{(padded - extent[a]) / strides_[a] + 1, (*pads_)[a][0], (*pads_)[a][1]};
    }
    if (ceil_mode_ && win[a]) {
      // Round up instead of down; the last window must start inside the input or the padding
      // before it (PyTorch, ONNX).
      const std::size_t before = win[a]->pad_before, stride = strides_[a];
      const std::size_t span = s[a] + before + (pads_ ? (*pads_)[a][1] : 0) - extent[a];
      std::size_t out = (span + stride - 1) / stride + 1;
      if ((out - 1) * stride >= s[a] + before) --out;
      win[a]->out = out;
    }
  }
  const auto& wy = win[0];
  const auto& wx = win[1];
  if (!wy || !wx) {
    Shape bad{0, 0, s[2]};
    for (std::size_t a = 0; a < 2; ++a) {
      const std::size_t padded = s[a] + (pads_ ? (*pads_)[a][0] + (*pads_)[a][1] : 0);
      bad[a] = padded < extent[a] ? 0 : (padded - extent[a]) / strides_[a] + 1;
    }
    throw shape_error("input " + shape_str(s) + " is smaller than the " + pair_str(extent) +
                      " pool window" + (pads_ ? " with its padding" : " with 'valid' padding") +
                      ": the output " + shape_str(bad) + " would be below 1x1");
  }
  kernels::PoolGeometry g;
  g.h = s[0];
  g.w = s[1];
  g.c = s[2];
  g.ph = pool_size_[0];
  g.pw = pool_size_[1];
  g.stride_h = strides_[0];
  g.stride_w = strides_[1];
  g.pad_top = wy->pad_before;
  g.pad_left = wx->pad_before;
  g.out_h = wy->out;
  g.out_w = wx->out;
  g.dil_h = dilation_[0];
  g.dil_w = dilation_[1];
  const Shape out{wy->out, wx->out, s[2]};
  set_geometry(s, out, g);
  return out;
}

void GlobalPool2D::configure(ConfigReader& cfg) { keepdims_ = cfg.get_bool("keepdims", false); }

void GlobalPool2D::write_config(json_ordered& out) const { out["keepdims"] = keepdims_; }

Shape GlobalPool2D::infer_shape(const std::vector<Shape>& inputs) {
  if (auto p = image_shape_problem(inputs); !p.empty()) throw shape_error(p);
  const Shape& s = inputs[0];
  kernels::PoolGeometry g;
  g.h = s[0];
  g.w = s[1];
  g.c = s[2];
  g.ph = s[0];
  g.pw = s[1];
  g.out_h = 1;
  g.out_w = 1;
  const Shape out = keepdims_ ? Shape{1, 1, s[2]} : Shape{s[2]};
  set_geometry(s, out, g);
  return out;
}

}  // namespace cnn::detail
