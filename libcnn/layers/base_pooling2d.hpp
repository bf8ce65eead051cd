// The shared machinery of the four 2-D pooling layers (MaxPooling2D, AveragePooling2D,
// GlobalMaxPooling2D, GlobalAveragePooling2D), as Keras shares it in BasePooling /
// BaseGlobalPooling. These bases are not layer types themselves and are not registered.
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "kernels/pooling.hpp"
#include "kernels/window.hpp"
#include "layers/layer.hpp"
#include "layers/spatial_common.hpp"
#include "tensor/aligned.hpp"

namespace cnn::detail {

enum class PoolMode { Max, Average };

// Forward/backward of a pooling layer over the geometry that the subclass's infer_shape sets.
//   max:     y = max of the window's real cells, per channel. Forward with ctx.training keeps
//            the argmax of every output (the first max in scan order on ties) for backward;
//            backward after an inference forward recomputes it from the input.
//   average: y = mean of the window's real cells (padding excluded from the count); nothing
//            is kept.
// Pooling has no parameters.
class Pool2D : public Layer {
 public:
  // in[0]: [n, h, w, c]; out: [n, ...out_shape_] (out_h * out_w * c elements per sample).
  void forward(Context& ctx, Inputs in, Tensor& out) override;
  // Adds dL/dx into *grad_in[0] when set.
  void backward(Context& ctx, Inputs in, const Tensor& out, const Tensor& grad_out,
                GradInputs grad_in) override;

  bool zeroes_grad_input() const override { return true; }
  bool masks_relu_grad_input() const override { return mode_ == PoolMode::Max; }
  PoolMode mode() const { return mode_; }
  const kernels::PoolGeometry& geometry() const { return geo_; }
  // Pools one sample: in [h, w, c] -> out [out_h, out_w, c] (inference; nothing kept).
  void pool_sample(const float* in, float* out) const;
  // Pools the rows of one output row, for pooling without padding or dilation (band_pools):
  // band [rows, w, c], the input rows py * stride_h ... of a sample (rows: ph, or fewer where a
  // ceil-mode window passes the last row) -> out [out_w, c], the same values as pool_sample's
  // row py.
  bool band_pools() const;
  void pool_band(const float* band, std::size_t rows, float* out) const;
  // The same for `channels` of the layer's channels (a Concatenate's part, pooled apart: pooling
  // acts on each channel alone), out's pixels ldy floats apart (the pooled Concatenate's
  // channels; out starts at the part's first one).
  void pool_sample(const float* in, float* out, std::size_t channels, std::size_t ldy) const;
  // With out_rows, the output rows py ... py + out_rows - 1 from the band of their input rows.
  void pool_band(const float* band, std::size_t rows, float* out, std::size_t channels,
                 std::size_t ldy, std::size_t out_rows = 1) const;

 protected:
  explicit Pool2D(PoolMode mode) : mode_(mode) {}
  // For subclasses' infer_shape: records the sample shapes and the window geometry.
  void set_geometry(const Shape& in_shape, const Shape& out_shape,
                    const kernels::PoolGeometry& geo);

 private:
  // Pools with geometry g (the layer's, narrowed to a slice or a band) from in into out, whose
  // pixels lie ldy floats apart (g.c of them each): through this thread's packed copy when ldy
  // is wider.
  void pool_with(const kernels::PoolGeometry& g, const float* in, float* out,
                 std::size_t ldy) const;
  // argmax_ for n samples, from max_pool_forward on in.
  void compute_argmax(const Tensor& x, std::size_t n);

  PoolMode mode_;
  Shape in_shape_, out_shape_;
  kernels::PoolGeometry geo_;
  // Max pooling: argmax_ [n, out_h, out_w, c] (the winning cell's number in its clipped window,
  // see kernels::max_pool_forward), valid for
  // argmax_batch_ samples when set by a training forward.
  AlignedVector<std::uint32_t> argmax_;
  std::optional<std::size_t> argmax_batch_;
  // Scratch: pooled_ [n, out_h, out_w, c] (recomputing the argmax), dx_ [n, h, w, c] (only for
  // overlapping windows: each sample's input gradient, summed here and added once so two
  // backward calls give exactly twice one).
  AlignedVector<float> pooled_, dx_;
  // Context::relu_grad_in: grad_out [n, out_h, out_w, c] with 0 where the output is not > 0.
  AlignedVector<float> masked_;
};

// MaxPooling2D / AveragePooling2D.
// JSON keys (Keras defaults): pool_size 2 (int or [ph, pw]); strides = pool_size (int,
// [sh, sw], or null meaning pool_size); padding "valid" | "same" ("valid"; TensorFlow's same:
// out = ceil(in / stride), the odd padding cell at the bottom/right); ceil_mode false (true:
// PyTorch/ONNX ceil rounding with valid padding, out = ceil((in - pool) / stride) + 1, less one
// if the last window would start past the input; windows that hang over the bottom/right edge
// pool their real cells only, as "same" padding does -- what imported models such as SqueezeNet
// need; not a Keras key, written only when true).
// Two keys that are not Keras's, for models imported from ONNX, written only when set:
//   padding [[top, bottom], [left, right]] -- explicit cells before and after each axis, each
//     smaller than the window, ignored by max and not counted by the average (as "same"'s are);
//     out = floor((in + before + after - window) / stride) + 1 (with ceil_mode: rounded up,
//     less one if the last window would start in the padding after the input);
//   dilation_rate (int or [dh, dw], default 1) -- window tap t reads offset t * dilation; the
//     window's extent (pool - 1) * dilation + 1 replaces the pool size in the sizes above.
// Shapes: [h, w, c] -> [out_h, out_w, c] (kernels::window_1d); a valid pooling whose output
// would be below 1x1 is a ShapeError.
class WindowPool2D : public Pool2D {
 public:
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;

 protected:
  using Pool2D::Pool2D;

 private:
  Pair pool_size_{2, 2}, strides_{2, 2}, dilation_{1, 1};
  kernels::Padding padding_ = kernels::Padding::Valid;
  // Explicit padding: [axis][before, after]; unset for valid/same.
  std::optional<std::array<Pair, 2>> pads_;
  bool ceil_mode_ = false;
};

// GlobalMaxPooling2D / GlobalAveragePooling2D: one window covering the whole image.
// JSON keys (Keras defaults): keepdims false.
// Shapes: [h, w, c] -> [c], or [1, 1, c] with keepdims (the same memory either way).
class GlobalPool2D : public Pool2D {
 public:
  void configure(ConfigReader& cfg) override;
  void write_config(json_ordered& out) const override;
  Shape infer_shape(const std::vector<Shape>& inputs) override;

 protected:
  using Pool2D::Pool2D;

 private:
  bool keepdims_ = false;
};

}  // namespace cnn::detail
