// The element-wise kernels' body, a template on the xsimd architecture, instantiated by
// simd/eltwise_<isa>.cpp (the only files compiled with ISA flags). Vector loop, then a scalar
// tail that applies the same formula to the remaining elements.
//
// Each vectorised function computes every element with the same operations as kernels/ref (the
// scalar code in activation.cpp, pooling.cpp, eltwise.cpp): relu/linear/leaky_relu forward and
// backward, sigmoid backward, bias adds, row sums (summed over rows in order, lanes run along
// columns) and max pooling give bitwise the reference's results. Sigmoid and tanh forward use
// xsimd's exp and tanh, which differ from libm by a few ulp, and tanh backward's 1 - y*y may be
// fused into one FMA where the ISA has it (tests allow 1e-6 * max(1, |ref|)). Softmax and elu
// are the reference's (they are not on the hot path of the lecture's nets).
//
// As in gemm_impl.hpp, everything sits in a namespace named by CNN_SIMD_NS so that helpers
// compiled with different ISA flags are different symbols.
#pragma once

#ifndef CNN_SIMD_NS
#error "define CNN_SIMD_NS (a namespace name unique to the ISA file) before including eltwise_impl.hpp"
#endif

#include <algorithm>
#include <cstddef>
#include <xsimd/xsimd.hpp>

#include "kernels/eltwise.hpp"
#include "kernels/im2col.hpp"
#include "kernels/simd/eltwise_simd.hpp"

namespace cnn::kernels::simd::CNN_SIMD_NS {

template <class Arch>
struct Eltwise {
  using V = xsimd::batch<float, Arch>;
  static constexpr std::size_t W = V::size;

  // x <- act(x) over n elements, for the activations with a vector formula; false otherwise.
  static bool act_inplace(Act a, float* x, std::size_t n) {
    std::size_t i = 0;
    const std::size_t nv = n - n % W;
    switch (a) {
      case Act::Linear:
        return true;
      case Act::Relu: {
        const V zero(0.0f);
        for (; i < nv; i += W) {
          const V v = V::load_unaligned(x + i);
          xsimd::select(v > zero, v, zero).store_unaligned(x + i);
        }
        for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        return true;
      }
      case Act::LeakyRelu: {
        const V zero(0.0f), alpha(kLeakyReluAlpha);
        for (; i < nv; i += W) {
          const V v = V::load_unaligned(x + i);
          xsimd::select(v > zero, v, alpha * v).store_unaligned(x + i);
        }
        for (; i < n; ++i) x[i] = x[i] > 0.0f ? x[i] : kLeakyReluAlpha * x[i];
        return true;
      }
      case Act::Sigmoid: {
        // 1 / (1 + exp(-x)): exp(-x) overflows to inf for x < -88 and the result is then 0
        // (the reference gives a denormal there), never NaN.
        const V one(1.0f);
        for (; i < nv; i += W) {
          const V v = V::load_unaligned(x + i);
          (one / (one + xsimd::exp(-v))).store_unaligned(x + i);
        }
        if (i < n) ref::act_forward(a, x + i, 1, n - i);
        return true;
      }
      case Act::Tanh:
        for (; i < nv; i += W) xsimd::tanh(V::load_unaligned(x + i)).store_unaligned(x + i);
        if (i < n) ref::act_forward(a, x + i, 1, n - i);
        return true;
      default:
        return false;
    }
  }

  static void act_forward(Act a, float* x, std::size_t rows, std::size_t cols) {
    if (!act_inplace(a, x, rows * cols)) ref::act_forward(a, x, rows, cols);
  }

  static void act_backward(Act a, const float* y, const float* dy, float* dz, std::size_t rows,
                           std::size_t cols) {
    const std::size_t n = rows * cols, nv = n - n % W;
    std::size_t i = 0;
    const V zero(0.0f), one(1.0f);
    switch (a) {
      case Act::Relu:
        for (; i < nv; i += W) {
          const V yv = V::load_unaligned(y + i), g = V::load_unaligned(dy + i);
          xsimd::select(yv > zero, g, zero).store_unaligned(dz + i);
        }
        for (; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        return;
      case Act::LeakyRelu: {
        const V alpha(kLeakyReluAlpha);
        for (; i < nv; i += W) {
          const V yv = V::load_unaligned(y + i), g = V::load_unaligned(dy + i);
          xsimd::select(yv > zero, g, alpha * g).store_unaligned(dz + i);
        }
        for (; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : kLeakyReluAlpha * dy[i];
        return;
      }
      case Act::Sigmoid:
        // (dy * y) * (1 - y), the reference's order.
        for (; i < nv; i += W) {
          const V yv = V::load_unaligned(y + i), g = V::load_unaligned(dy + i);
          (g * yv * (one - yv)).store_unaligned(dz + i);
        }
        for (; i < n; ++i) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
      case Act::Tanh:
        for (; i < nv; i += W) {
          const V yv = V::load_unaligned(y + i), g = V::load_unaligned(dy + i);
          (g * (one - yv * yv)).store_unaligned(dz + i);
        }
        for (; i < n; ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
      default:
        ref::act_backward(a, y, dy, dz, rows, cols);
        return;
    }
  }

  static void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows,
                               std::size_t cols) {
    if (!bias) return act_forward(a, y, rows, cols);
    const std::size_t cv = cols - cols % W;
    if (a == Act::Relu || a == Act::Linear) {
      // One pass: load, add the bias, clamp, store.
      const bool relu = a == Act::Relu;
      const V zero(0.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        float* row = y + r * cols;
        std::size_t j = 0;
        for (; j < cv; j += W) {
          const V v = V::load_unaligned(row + j) + V::load_unaligned(bias + j);
          (relu ? xsimd::select(v > zero, v, zero) : v).store_unaligned(row + j);
        }
        for (; j < cols; ++j) {
          const float v = row[j] + bias[j];
          row[j] = relu ? (v > 0.0f ? v : 0.0f) : v;
        }
      }
      return;
    }
    // Other activations: add the bias a row at a time and apply the activation to the row while
    // it is in L1 (softmax works on whole rows anyway).
    for (std::size_t r = 0; r < rows; ++r) {
      float* row = y + r * cols;
      std::size_t j = 0;
      for (; j < cv; j += W)
        (V::load_unaligned(row + j) + V::load_unaligned(bias + j)).store_unaligned(row + j);
      for (; j < cols; ++j) row[j] += bias[j];
      act_forward(a, row, 1, cols);
    }
  }

  static void sum_rows_add(const float* x, std::size_t rows, std::size_t cols, float* acc) {
    const std::size_t cv = cols - cols % W;
    std::size_t j = 0;
    for (; j < cv; j += W) {
      V s = V::load_unaligned(acc + j);
      for (std::size_t r = 0; r < rows; ++r) s += V::load_unaligned(x + r * cols + j);
      s.store_unaligned(acc + j);
    }
    for (; j < cols; ++j) {
      float s = acc[j];
      for (std::size_t r = 0; r < rows; ++r) s += x[r * cols + j];
      acc[j] = s;
    }
  }

  static void add_to(const float* src, std::size_t n, float* dst) {
    const std::size_t nv = n - n % W;
    std::size_t i = 0;
    for (; i < nv; i += W)
      (V::load_unaligned(dst + i) + V::load_unaligned(src + i)).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] += src[i];
  }

  // Max pooling, vector lanes along the channels. The winning cell's number in the window (a
  // small integer, exact in a float) rides along in a second vector, and is turned into the flat
  // argmax afterwards; strict > keeps the first max on ties, as the reference does.
  static void max_pool_forward(const PoolGeometry& g, const float* in, float* out,
                               std::size_t* argmax) {
    const std::size_t c = g.c, cv = c - c % W;
    alignas(64) float cell_no[W];
    constexpr std::size_t kMaxCells = 64;
    std::size_t cell_base[kMaxCells];
    for (std::size_t oy = 0; oy < g.out_h; ++oy) {
      const auto y0 = std::clamp<std::ptrdiff_t>(
          static_cast<std::ptrdiff_t>(oy * g.stride_h) - static_cast<std::ptrdiff_t>(g.pad_top), 0,
          static_cast<std::ptrdiff_t>(g.h));
      const auto y1 = std::clamp<std::ptrdiff_t>(
          static_cast<std::ptrdiff_t>(oy * g.stride_h + g.ph) -
              static_cast<std::ptrdiff_t>(g.pad_top),
          0, static_cast<std::ptrdiff_t>(g.h));
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const auto x0 = std::clamp<std::ptrdiff_t>(
            static_cast<std::ptrdiff_t>(ox * g.stride_w) - static_cast<std::ptrdiff_t>(g.pad_left),
            0, static_cast<std::ptrdiff_t>(g.w));
        const auto x1 = std::clamp<std::ptrdiff_t>(
            static_cast<std::ptrdiff_t>(ox * g.stride_w + g.pw) -
                static_cast<std::ptrdiff_t>(g.pad_left),
            0, static_cast<std::ptrdiff_t>(g.w));
        const auto ys = static_cast<std::size_t>(y0), ye = static_cast<std::size_t>(y1);
        const auto xs = static_cast<std::size_t>(x0), xe = static_cast<std::size_t>(x1);
        const std::size_t ww = xe - xs;
        float* o = out + (oy * g.out_w + ox) * c;
        std::size_t* a = argmax ? argmax + (oy * g.out_w + ox) * c : nullptr;
        // Flat index of window cell q (row-major over the clipped window): from a table for the
        // usual small windows (a division per lane cost as much as the max itself).
        const std::size_t cells = (ye - ys) * ww;
        if (a && cells <= kMaxCells)
          for (std::size_t q = 0; q < cells; ++q) cell_base[q] = ((ys + q / ww) * g.w + xs + q % ww) * c;
        auto base_of = [&](std::size_t q) {
          return cells <= kMaxCells ? cell_base[q] : ((ys + q / ww) * g.w + xs + q % ww) * c;
        };
        std::size_t ci = 0;
        for (; ci < cv; ci += W) {
          V best = V::load_unaligned(in + (ys * g.w + xs) * c + ci);
          V who(0.0f);
          std::size_t q = 0;
          for (std::size_t y = ys; y < ye; ++y)
            for (std::size_t x = xs; x < xe; ++x, ++q) {
              if (q == 0) continue;
              const V v = V::load_unaligned(in + (y * g.w + x) * c + ci);
              const auto gt = v > best;
              best = xsimd::select(gt, v, best);
              who = xsimd::select(gt, V(static_cast<float>(q)), who);
            }
          best.store_unaligned(o + ci);
          if (a) {
            who.store_aligned(cell_no);
            for (std::size_t l = 0; l < W; ++l)
              a[ci + l] = base_of(static_cast<std::size_t>(cell_no[l])) + ci + l;
          }
        }
        for (; ci < c; ++ci) {
          std::size_t q = 0, win = 0;
          float m = in[(ys * g.w + xs) * c + ci];
          for (std::size_t y = ys; y < ye; ++y)
            for (std::size_t x = xs; x < xe; ++x, ++q) {
              const float v = in[(y * g.w + x) * c + ci];
              if (q != 0 && v > m) {
                m = v;
                win = q;
              }
            }
          o[ci] = m;
          if (a) a[ci] = base_of(win) + ci;
        }
      }
    }
  }

  // dst[0, n) = src[0, n), in vector moves (runs here are short: a libc memmove call per run
  // of 1-32 floats cost more than the copy itself in im2col).
  static void copy_run(const float* src, std::size_t n, float* dst) {
    std::size_t i = 0;
    for (; i + W <= n; i += W) V::load_unaligned(src + i).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] = src[i];
  }
  static void zero_run(std::size_t n, float* dst) {
    std::size_t i = 0;
    for (; i + W <= n; i += W) V(0.0f).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] = 0.0f;
  }

  // Input column of output column ox and tap kx (may be negative or >= w: padding).
  static std::ptrdiff_t src_x(const ConvGeometry& g, std::size_t ox, std::size_t kx) {
    return static_cast<std::ptrdiff_t>(ox * g.stride_w + kx * g.dil_w) -
           static_cast<std::ptrdiff_t>(g.pad_left);
  }
  static std::ptrdiff_t src_y(const ConvGeometry& g, std::size_t oy, std::size_t ky) {
    return static_cast<std::ptrdiff_t>(oy * g.stride_h + ky * g.dil_h) -
           static_cast<std::ptrdiff_t>(g.pad_top);
  }

  // im2col, the reference's layout. When the kernel row lies inside the input and dilation_w
  // is 1, its kw taps are kw * c contiguous input floats, copied as one run.
  static void im2col(const ConvGeometry& g, const float* in, float* col) {
    const std::size_t c = g.c, run = g.kw * c;
    const auto h = static_cast<std::ptrdiff_t>(g.h), w = static_cast<std::ptrdiff_t>(g.w);
    float* dst = col;
    for (std::size_t oy = 0; oy < g.out_h; ++oy)
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const std::ptrdiff_t x0 = src_x(g, ox, 0), xl = src_x(g, ox, g.kw - 1);
        const bool whole = g.dil_w == 1 && x0 >= 0 && xl < w;
        for (std::size_t ky = 0; ky < g.kh; ++ky) {
          const std::ptrdiff_t iy = src_y(g, oy, ky);
          if (iy < 0 || iy >= h) {
            zero_run(run, dst);
            dst += run;
            continue;
          }
          const float* row = in + static_cast<std::size_t>(iy) * g.w * c;
          if (whole) {
            copy_run(row + static_cast<std::size_t>(x0) * c, run, dst);
            dst += run;
            continue;
          }
          for (std::size_t kx = 0; kx < g.kw; ++kx, dst += c) {
            const std::ptrdiff_t ix = src_x(g, ox, kx);
            if (ix < 0 || ix >= w)
              zero_run(c, dst);
            else
              copy_run(row + static_cast<std::size_t>(ix) * c, c, dst);
          }
        }
      }
  }

  // col2im_add, the reference's order of additions (output positions in order, then taps).
  static void col2im_add(const ConvGeometry& g, const float* col, float* img) {
    const std::size_t c = g.c, run = g.kw * c;
    const auto h = static_cast<std::ptrdiff_t>(g.h), w = static_cast<std::ptrdiff_t>(g.w);
    const float* src = col;
    for (std::size_t oy = 0; oy < g.out_h; ++oy)
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const std::ptrdiff_t x0 = src_x(g, ox, 0), xl = src_x(g, ox, g.kw - 1);
        const bool whole = g.dil_w == 1 && x0 >= 0 && xl < w;
        for (std::size_t ky = 0; ky < g.kh; ++ky) {
          const std::ptrdiff_t iy = src_y(g, oy, ky);
          if (iy < 0 || iy >= h) {
            src += run;
            continue;
          }
          float* row = img + static_cast<std::size_t>(iy) * g.w * c;
          if (whole) {
            add_to(src, run, row + static_cast<std::size_t>(x0) * c);
            src += run;
            continue;
          }
          for (std::size_t kx = 0; kx < g.kw; ++kx, src += c) {
            const std::ptrdiff_t ix = src_x(g, ox, kx);
            if (ix >= 0 && ix < w) add_to(src, c, row + static_cast<std::size_t>(ix) * c);
          }
        }
      }
  }

  static const EltwiseFns& table() {
    static const EltwiseFns t{act_forward,  act_backward,     bias_act_forward,
                              sum_rows_add, add_to,           max_pool_forward,
                              [](const PoolGeometry& g, const float* dy, const std::size_t* am,
                                 float* dx) {
                                // A scatter: no vector form worth having here.
                                const std::size_t n = g.out_size();
                                for (std::size_t i = 0; i < n; ++i) dx[am[i]] += dy[i];
                              },
                              im2col,       col2im_add};
    return t;
  }
};

}  // namespace cnn::kernels::simd::CNN_SIMD_NS
