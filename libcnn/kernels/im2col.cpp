// Scalar im2col / col2im (the reference of simd/eltwise_impl.hpp, which also copies a kernel
// row's kw taps as one run): one row per output position, copying a run of c contiguous channels
// per kernel tap (NHWC keeps a tap's channels together, so the inner loop is a plain copy).
#include "kernels/im2col.hpp"

#include <algorithm>
#include <cstddef>

#include "kernels/simd/eltwise_simd.hpp"

namespace cnn::kernels {

std::optional<ConvGeometry> conv_geometry(std::size_t h, std::size_t w, std::size_t c,
                                          std::size_t kh, std::size_t kw, std::size_t stride_h,
                                          std::size_t stride_w, std::size_t dil_h,
                                          std::size_t dil_w, Padding padding) {
  const auto wy = window_1d(h, kh, stride_h, dil_h, padding);
  const auto wx = window_1d(w, kw, stride_w, dil_w, padding);
  if (!wy || !wx) return std::nullopt;
  ConvGeometry g;
  g.h = h;
  g.w = w;
  g.c = c;
  g.kh = kh;
  g.kw = kw;
  g.stride_h = stride_h;
  g.stride_w = stride_w;
  g.dil_h = dil_h;
  g.dil_w = dil_w;
  g.pad_top = wy->pad_before;
  g.pad_left = wx->pad_before;
  g.out_h = wy->out;
  g.out_w = wx->out;
  return g;
}

void im2col(const ConvGeometry& g, const float* in, float* col) {
  simd::eltwise_active().im2col(g, in, col);
}

void im2col_window(const ConvGeometry& g, const float* in, std::size_t oy, std::size_t ox,
                   float* dst) {
  const std::size_t c = g.c;
  for (std::size_t ky = 0; ky < g.kh; ++ky) {
    const std::ptrdiff_t iy = source(oy, ky, g.stride_h, g.dil_h, g.pad_top, g.h);
    for (std::size_t kx = 0; kx < g.kw; ++kx, dst += c) {
      const std::ptrdiff_t ix = source(ox, kx, g.stride_w, g.dil_w, g.pad_left, g.w);
      if (iy < 0 || ix < 0) {
        std::fill(dst, dst + c, 0.0f);
      } else {
        const float* src =
            in + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * c;
        std::copy(src, src + c, dst);
      }
    }
  }
}

void col2im_add(const ConvGeometry& g, const float* col, float* img) {
  simd::eltwise_active().col2im_add(g, col, img);
}

namespace ref {

void im2col(const ConvGeometry& g, const float* in, float* col) {
  const std::size_t k = g.col_cols();
  for (std::size_t oy = 0; oy < g.out_h; ++oy)
    for (std::size_t ox = 0; ox < g.out_w; ++ox, col += k) im2col_window(g, in, oy, ox, col);
}

void col2im_add(const ConvGeometry& g, const float* col, float* img) {
  const std::size_t c = g.c;
  const float* src = col;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      for (std::size_t ky = 0; ky < g.kh; ++ky) {
        const std::ptrdiff_t iy = source(oy, ky, g.stride_h, g.dil_h, g.pad_top, g.h);
        for (std::size_t kx = 0; kx < g.kw; ++kx, src += c) {
          const std::ptrdiff_t ix = source(ox, kx, g.stride_w, g.dil_w, g.pad_left, g.w);
          if (iy < 0 || ix < 0) continue;
          float* dst =
              img + (static_cast<std::size_t>(iy) * g.w + static_cast<std::size_t>(ix)) * c;
          for (std::size_t ci = 0; ci < c; ++ci) dst[ci] += src[ci];
        }
      }
    }
  }
}

}  // namespace ref

}  // namespace cnn::kernels
