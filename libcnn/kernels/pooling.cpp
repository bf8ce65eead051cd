// Scalar pooling kernels (max pooling's are the reference of simd/eltwise_impl.hpp). Each output
// position clips its window to the input once, then walks the window's cells with the c channels of
// a cell as the contiguous inner loop.
#include "kernels/pooling.hpp"

#include <algorithm>
#include <cstddef>

#include "kernels/simd/eltwise_simd.hpp"

namespace cnn::kernels {
namespace {

// The real cells [begin, end) of window o along one axis (padding clipped away).
struct Range {
  std::size_t begin, end;
};

inline Range clip(std::size_t o, std::size_t stride, std::size_t pad, std::size_t k,
                  std::size_t in) {
  const auto start = static_cast<std::ptrdiff_t>(o * stride) - static_cast<std::ptrdiff_t>(pad);
  const auto stop = start + static_cast<std::ptrdiff_t>(k);
  const auto n = static_cast<std::ptrdiff_t>(in);
  return {static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(start, 0, n)),
          static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(stop, 0, n))};
}

}  // namespace

void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell) {
  simd::eltwise_active().max_pool_forward(g, in, out, cell);
}

void max_pool_backward_add(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx) {
  simd::eltwise_active().max_pool_backward_add(g, dy, cell, dx);
}

namespace ref {

void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.w);
      float* o = out + (oy * g.out_w + ox) * c;
      std::uint32_t* a = cell ? cell + (oy * g.out_w + ox) * c : nullptr;
      std::uint32_t q = 0;
      for (std::size_t y = ry.begin; y < ry.end; ++y) {
        for (std::size_t x = rx.begin; x < rx.end; ++x, ++q) {
          const float* v = in + (y * g.w + x) * c;
          // The first real cell seeds the max (so -inf inputs still get a cell); later cells
          // replace it only when strictly greater, which keeps the first max on ties.
          for (std::size_t ci = 0; ci < c; ++ci) {
            if (q == 0 || v[ci] > o[ci]) {
              o[ci] = v[ci];
              if (a) a[ci] = q;
            }
          }
        }
      }
    }
  }
}

void max_pool_backward_add(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.w);
      const std::size_t o = (oy * g.out_w + ox) * c, ww = rx.end - rx.begin;
      for (std::size_t ci = 0; ci < c; ++ci) {
        const std::size_t q = cell[o + ci];
        const std::size_t y = ry.begin + q / ww, x = rx.begin + q % ww;
        dx[(y * g.w + x) * c + ci] += dy[o + ci];
      }
    }
  }
}

}  // namespace ref

void avg_pool_forward(const PoolGeometry& g, const float* in, float* out) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.w);
      float* o = out + (oy * g.out_w + ox) * c;
      std::fill(o, o + c, 0.0f);
      for (std::size_t y = ry.begin; y < ry.end; ++y) {
        for (std::size_t x = rx.begin; x < rx.end; ++x) {
          const float* cell = in + (y * g.w + x) * c;
          for (std::size_t ci = 0; ci < c; ++ci) o[ci] += cell[ci];
        }
      }
      // Divide (not multiply by a reciprocal) to round as TensorFlow does.
      const auto count = static_cast<float>((ry.end - ry.begin) * (rx.end - rx.begin));
      for (std::size_t ci = 0; ci < c; ++ci) o[ci] /= count;
    }
  }
}

void avg_pool_backward_add(const PoolGeometry& g, const float* dy, float* dx) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.w);
      const float* d = dy + (oy * g.out_w + ox) * c;
      const auto count = static_cast<float>((ry.end - ry.begin) * (rx.end - rx.begin));
      for (std::size_t y = ry.begin; y < ry.end; ++y) {
        for (std::size_t x = rx.begin; x < rx.end; ++x) {
          float* cell = dx + (y * g.w + x) * c;
          for (std::size_t ci = 0; ci < c; ++ci) cell[ci] += d[ci] / count;
        }
      }
    }
  }
}

}  // namespace cnn::kernels
