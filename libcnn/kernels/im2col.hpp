// im2col / col2im for 2-D convolution on one NHWC sample: they turn a convolution into one GEMM,
// col [out_h * out_w, kh * kw * c] times kernel [kh * kw * c, filters] = output [out_h, out_w,
// filters], which is already NHWC.
#pragma once

#include <cstddef>
#include <optional>

#include "kernels/window.hpp"

namespace cnn::kernels {

// The geometry of a convolution over one sample [h, w, c]. Output position (oy, ox) and kernel
// tap (ky, kx) read input row iy = oy * stride_h + ky * dil_h - pad_top and column
// ix = ox * stride_w + kx * dil_w - pad_left; taps outside the input read zero (padding).
// The caller fills out_h/out_w (see window.hpp) so that every window lies within the padding.
struct ConvGeometry {
  std::size_t h = 0, w = 0, c = 0;
  std::size_t kh = 1, kw = 1;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t dil_h = 1, dil_w = 1;
  std::size_t pad_top = 0, pad_left = 0;
  std::size_t out_h = 0, out_w = 0;

  std::size_t col_rows() const { return out_h * out_w; }
  // Columns are ordered (ky, kx, ci), the order of a Keras kernel [kh, kw, in_c, filters].
  std::size_t col_cols() const { return kh * kw * c; }
};

// Input coordinate of output position o and kernel tap t along one axis (the rule above), or -1
// when it falls in the padding. Signed arithmetic because padding makes the first taps negative.
inline std::ptrdiff_t source(std::size_t o, std::size_t t, std::size_t stride, std::size_t dilation,
                             std::size_t pad, std::size_t in) {
  const auto i =
      static_cast<std::ptrdiff_t>(o * stride + t * dilation) - static_cast<std::ptrdiff_t>(pad);
  return i >= 0 && i < static_cast<std::ptrdiff_t>(in) ? i : -1;
}

// The geometry of a convolution with the given padding (window.hpp's output sizes and padding
// along each axis), or nullopt when "valid" padding leaves no output.
std::optional<ConvGeometry> conv_geometry(std::size_t h, std::size_t w, std::size_t c,
                                          std::size_t kh, std::size_t kw, std::size_t stride_h,
                                          std::size_t stride_w, std::size_t dil_h,
                                          std::size_t dil_w, Padding padding);

// in: [h, w, c]; col: [out_h * out_w, kh * kw * c], fully overwritten (padding taps get 0).
void im2col(const ConvGeometry& g, const float* in, float* col);

// One row of im2col(g, in): the window of output pixel (oy, ox), kh * kw * c floats (padding
// taps 0). Scalar: for the few windows that reach into the padding.
void im2col_window(const ConvGeometry& g, const float* in, std::size_t oy, std::size_t ox,
                   float* dst);

// The adjoint of im2col: img[h, w, c] += the sum of the col entries that im2col would read from
// each input cell; entries of padding taps are dropped. col: [out_h * out_w, kh * kw * c].
void col2im_add(const ConvGeometry& g, const float* col, float* img);

namespace ref {
// The scalar oracles of im2col / col2im_add.
void im2col(const ConvGeometry& g, const float* in, float* col);
void col2im_add(const ConvGeometry& g, const float* col, float* img);
}  // namespace ref

}  // namespace cnn::kernels
