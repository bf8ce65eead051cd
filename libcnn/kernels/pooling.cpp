// Scalar pooling kernels (max pooling's are the reference of simd/eltwise_impl.hpp). Each output
// position clips its window to the input once, then walks the window's cells with the c channels of
// a cell as the contiguous inner loop.
#include "kernels/pooling.hpp"

#include <algorithm>
#include <cstddef>

#include "kernels/simd/eltwise_simd.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {
namespace {

// The real cells of window o along one axis (padding clipped away): taps t in [0, count) read
// input position begin + t * step.
struct Range {
  std::size_t begin, count, step;
  std::size_t at(std::size_t t) const { return begin + t * step; }
};

inline Range clip(std::size_t o, std::size_t stride, std::size_t pad, std::size_t k,
                  std::size_t dil, std::size_t in) {
  const auto start = static_cast<std::ptrdiff_t>(o * stride) - static_cast<std::ptrdiff_t>(pad);
  const auto d = static_cast<std::ptrdiff_t>(dil), n = static_cast<std::ptrdiff_t>(in);
  const auto kk = static_cast<std::ptrdiff_t>(k);
  // The first tap at or after 0 and the first at or after the end.
  const std::ptrdiff_t first = start >= 0 ? 0 : std::min(kk, (-start + d - 1) / d);
  const std::ptrdiff_t stop = n - start <= 0 ? 0 : std::min(kk, (n - start + d - 1) / d);
  const std::ptrdiff_t count = std::max<std::ptrdiff_t>(stop - first, 0);
  return {static_cast<std::size_t>(count > 0 ? start + first * d : 0),
          static_cast<std::size_t>(count), dil};
}

inline bool dilated(const PoolGeometry& g) { return g.dil_h > 1 || g.dil_w > 1; }

}  // namespace

void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell) {
  if (dilated(g)) return ref::max_pool_forward(g, in, out, cell);
  simd::eltwise_active().max_pool_forward(g, in, out, cell);
}

void max_pool_backward_add(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx) {
  if (dilated(g)) return ref::max_pool_backward_add(g, dy, cell, dx);
  simd::eltwise_active().max_pool_backward_add(g, dy, cell, dx);
}

bool pool_windows_disjoint(const PoolGeometry& g) {
  return (g.stride_h >= (g.ph - 1) * g.dil_h + 1 || g.out_h == 1) &&
         (g.stride_w >= (g.pw - 1) * g.dil_w + 1 || g.out_w == 1);
}

void max_pool_backward_set(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx) {
  if (!pool_windows_disjoint(g))
    throw Error("max_pool_backward_set: the windows overlap; use max_pool_backward_add");
  if (dilated(g)) return ref::max_pool_backward_set(g, dy, cell, dx);
  simd::eltwise_active().max_pool_backward_set(g, dy, cell, dx);
}

namespace ref {

void max_pool_backward_set(const PoolGeometry& g, const float* dy, const std::uint32_t* cell,
                           float* dx) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.dil_h, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.dil_w, g.w);
      const std::size_t o = (oy * g.out_w + ox) * c;
      std::uint32_t q = 0;
      for (std::size_t ty = 0; ty < ry.count; ++ty)
        for (std::size_t tx = 0; tx < rx.count; ++tx, ++q) {
          float* d = dx + (ry.at(ty) * g.w + rx.at(tx)) * c;
          for (std::size_t ci = 0; ci < c; ++ci)
            d[ci] = cell[o + ci] == q ? 0.0f + dy[o + ci] : 0.0f;
        }
    }
  }
}

void max_pool_forward(const PoolGeometry& g, const float* in, float* out, std::uint32_t* cell) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.dil_h, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.dil_w, g.w);
      float* o = out + (oy * g.out_w + ox) * c;
      std::uint32_t* a = cell ? cell + (oy * g.out_w + ox) * c : nullptr;
      std::uint32_t q = 0;
      for (std::size_t ty = 0; ty < ry.count; ++ty) {
        for (std::size_t tx = 0; tx < rx.count; ++tx, ++q) {
          const float* v = in + (ry.at(ty) * g.w + rx.at(tx)) * c;
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
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.dil_h, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.dil_w, g.w);
      const std::size_t o = (oy * g.out_w + ox) * c, ww = rx.count;
      for (std::size_t ci = 0; ci < c; ++ci) {
        const std::size_t q = cell[o + ci];
        const std::size_t y = ry.at(q / ww), x = rx.at(q % ww);
        dx[(y * g.w + x) * c + ci] += dy[o + ci];
      }
    }
  }
}

}  // namespace ref

void avg_pool_forward(const PoolGeometry& g, const float* in, float* out) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.dil_h, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.dil_w, g.w);
      float* o = out + (oy * g.out_w + ox) * c;
      std::fill(o, o + c, 0.0f);
      for (std::size_t ty = 0; ty < ry.count; ++ty) {
        for (std::size_t tx = 0; tx < rx.count; ++tx) {
          const float* cell = in + (ry.at(ty) * g.w + rx.at(tx)) * c;
          for (std::size_t ci = 0; ci < c; ++ci) o[ci] += cell[ci];
        }
      }
      // Divide (not multiply by a reciprocal) to round as TensorFlow does.
      const auto count = static_cast<float>(ry.count * rx.count);
      for (std::size_t ci = 0; ci < c; ++ci) o[ci] /= count;
    }
  }
}

void avg_pool_backward_add(const PoolGeometry& g, const float* dy, float* dx) {
  const std::size_t c = g.c;
  for (std::size_t oy = 0; oy < g.out_h; ++oy) {
    const Range ry = clip(oy, g.stride_h, g.pad_top, g.ph, g.dil_h, g.h);
    for (std::size_t ox = 0; ox < g.out_w; ++ox) {
      const Range rx = clip(ox, g.stride_w, g.pad_left, g.pw, g.dil_w, g.w);
      const float* d = dy + (oy * g.out_w + ox) * c;
      const auto count = static_cast<float>(ry.count * rx.count);
      for (std::size_t ty = 0; ty < ry.count; ++ty) {
        for (std::size_t tx = 0; tx < rx.count; ++tx) {
          float* cell = dx + (ry.at(ty) * g.w + rx.at(tx)) * c;
          for (std::size_t ci = 0; ci < c; ++ci) cell[ci] += d[ci] / count;
        }
      }
    }
  }
}

}  // namespace cnn::kernels
