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
#error \
    "define CNN_SIMD_NS (a namespace name unique to the ISA file) before including eltwise_impl.hpp"
#endif

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "kernels/eltwise.hpp"
#include "kernels/im2col.hpp"
#include "kernels/simd/eltwise_simd.hpp"
#include "kernels/simd/fused.hpp"
#include "tensor/aligned.hpp"

namespace cnn::kernels::simd::CNN_SIMD_NS {

template <class Arch>
struct Eltwise {
  using V = xsimd::batch<float, Arch>;
  static constexpr std::size_t W = V::size;

  // x[0, n) <- f(x) for n < W through one padded vector: the tail gets the vector formula too,
  // so an element's value does not depend on where a call's buffer ends (a batch split into
  // other pieces gives the same bits).
  template <class F>
  static void vector_tail(float* x, std::size_t n, const F& f) {
    if (n == 0) return;
    alignas(64) float buf[W] = {};
    std::copy(x, x + n, buf);
    f(V::load_aligned(buf)).store_aligned(buf);
    std::copy(buf, buf + n, x);
  }

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
        const auto f = [&](const V& v) { return one / (one + xsimd::exp(-v)); };
        for (; i < nv; i += W) f(V::load_unaligned(x + i)).store_unaligned(x + i);
        vector_tail(x + i, n - i, f);
        return true;
      }
      case Act::Tanh: {
        const auto f = [](const V& v) { return xsimd::tanh(v); };
        for (; i < nv; i += W) f(V::load_unaligned(x + i)).store_unaligned(x + i);
        vector_tail(x + i, n - i, f);
        return true;
      }
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

  // Rows ldy apart (ldy >= cols).
  static void bias_act_forward(Act a, float* y, const float* bias, std::size_t rows,
                               std::size_t cols, std::size_t ldy) {
    if (!bias) return act_rows(a, y, rows, cols, ldy);
    const std::size_t cv = cols - cols % W;
    if (a == Act::Relu || a == Act::Linear) {
      // One pass: load, add the bias, clamp, store.
      const bool relu = a == Act::Relu;
      const V zero(0.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        float* row = y + r * ldy;
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
      float* row = y + r * ldy;
      std::size_t j = 0;
      for (; j < cv; j += W)
        (V::load_unaligned(row + j) + V::load_unaligned(bias + j)).store_unaligned(row + j);
      for (; j < cols; ++j) row[j] += bias[j];
      act_forward(a, row, 1, cols);
    }
  }

  // act_forward on rows ldy apart: in one call when they are packed, else row by row.
  static void act_rows(Act a, float* y, std::size_t rows, std::size_t cols, std::size_t ldy) {
    if (ldy == cols) return act_forward(a, y, rows, cols);
    for (std::size_t r = 0; r < rows; ++r) act_forward(a, y + r * ldy, 1, cols);
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

  // The window of output (oy, ox) clipped to the input: rows [ys, ye), columns [xs, xe).
  struct Win {
    std::size_t ys, ye, xs, xe;
  };
  static std::size_t clip(std::size_t o, std::size_t stride, std::size_t pad, std::size_t k,
                          std::size_t in) {
    const auto v = static_cast<std::ptrdiff_t>(o * stride + k) - static_cast<std::ptrdiff_t>(pad);
    return static_cast<std::size_t>(
        std::clamp<std::ptrdiff_t>(v, 0, static_cast<std::ptrdiff_t>(in)));
  }
  static Win window(const PoolGeometry& g, std::size_t oy, std::size_t ox) {
    return {clip(oy, g.stride_h, g.pad_top, 0, g.h), clip(oy, g.stride_h, g.pad_top, g.ph, g.h),
            clip(ox, g.stride_w, g.pad_left, 0, g.w), clip(ox, g.stride_w, g.pad_left, g.pw, g.w)};
  }

  // Max pooling, vector lanes along the channels. The winning cell's number in the window (a
  // small integer, exact in a float) rides along in a second vector and is stored converted to
  // integers; strict > keeps the first max on ties, as the reference does.
  static void max_pool_forward(const PoolGeometry& g, const float* in, float* out,
                               std::uint32_t* cell) {
    // Inference wants no cells: its loop is spared the second vector.
    if (cell)
      max_pool_forward_impl<true>(g, in, out, cell);
    else
      max_pool_forward_impl<false>(g, in, out, nullptr);
  }
  template <bool kCells>
  static void max_pool_forward_impl(const PoolGeometry& g, const float* in, float* out,
                                    std::uint32_t* cell) {
    using VI = xsimd::batch<std::int32_t, Arch>;
    static_assert(VI::size == W);
    const std::size_t c = g.c, cv = c - c % W;
    if constexpr (!kCells) {
      // 2x2 windows, stride 2, inside the input (the lecture's pooling): the same comparisons
      // in the same order, without the general window's bookkeeping per cell.
      if (g.ph == 2 && g.pw == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_top == 0 &&
          g.pad_left == 0 && g.dil_h == 1 && g.dil_w == 1 && c == cv) {
        for (std::size_t oy = 0; oy < g.out_h; ++oy)
          for (std::size_t ox = 0; ox < g.out_w; ++ox) {
            const float* p00 = in + (2 * oy * g.w + 2 * ox) * c;
            const float* p10 = p00 + g.w * c;
            float* o = out + (oy * g.out_w + ox) * c;
            for (std::size_t ci = 0; ci < c; ci += W) {
              V best = V::load_unaligned(p00 + ci);
              for (const float* p : {p00 + c, p10, p10 + c})
                best = xsimd::max(V::load_unaligned(p + ci), best);
              best.store_unaligned(o + ci);
            }
          }
        return;
      }
    }
    // Blocks of up to four channel vectors (and their winning cells) ride in registers through
    // the window's cells.
    for (std::size_t oy = 0; oy < g.out_h; ++oy)
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const Win win = window(g, oy, ox);
        float* o = out + (oy * g.out_w + ox) * c;
        std::uint32_t* a = cell ? cell + (oy * g.out_w + ox) * c : nullptr;
        const float* first = in + (win.ys * g.w + win.xs) * c;
        std::size_t ci = 0;
        constexpr std::size_t kBlock = kCells ? 2 : 4;  // with the cells: half the vectors
        for (; ci + kBlock * W <= cv; ci += kBlock * W)
          max_cells<kBlock, kCells>(g, in, win, ci, o, a);
        for (; ci < cv; ci += W) max_cells<1, kCells>(g, in, win, ci, o, a);
        for (; ci < c; ++ci) {
          std::uint32_t q = 0, who = 0;
          float m = first[ci];
          for (std::size_t y = win.ys; y < win.ye; ++y)
            for (std::size_t x = win.xs; x < win.xe; ++x, ++q) {
              const float v = in[(y * g.w + x) * c + ci];
              if (q != 0 && v > m) {
                m = v;
                who = q;
              }
            }
          o[ci] = m;
          if (a) a[ci] = who;
        }
      }
  }

  // The max of window win over channels [ci, ci + NB * W) into o + ci, and with kCells the
  // number of the cell that held it (row by row from 0) into a + ci; strict > keeps the first
  // max on ties.
  template <std::size_t NB, bool kCells>
  static void max_cells(const PoolGeometry& g, const float* in, const Win& win, std::size_t ci,
                        float* o, std::uint32_t* a) {
    using VI = xsimd::batch<std::int32_t, Arch>;
    const std::size_t c = g.c, ww = win.xe - win.xs;
    // The winning cells' numbers ride as the bits of floats (select only moves bits), stored
    // as the integers they are.
    V best[NB], who[NB];
    const float* first = in + (win.ys * g.w + win.xs) * c + ci;
    for (std::size_t j = 0; j < NB; ++j) {
      best[j] = V::load_unaligned(first + j * W);
      who[j] = V(0.0f);
    }
    std::int32_t q = 0;  // the cell's number
    for (std::size_t y = win.ys; y < win.ye; ++y) {
      const float* row = in + (y * g.w + win.xs) * c + ci;
      for (std::size_t x = 0; x < ww; ++x, ++q) {
        if (q == 0) continue;
        for (std::size_t j = 0; j < NB; ++j) {
          const V v = V::load_unaligned(row + x * c + j * W);
          // xsimd::max(v, best) is maxps: v > best ? v : best, the same selection as the
          // compare below, with a 2-cycle step in the chain through the window's cells where a
          // compare and a blend took about twice that.
          if constexpr (kCells)
            who[j] = xsimd::select(v > best[j], V(std::bit_cast<float>(q)), who[j]);
          best[j] = xsimd::max(v, best[j]);
        }
      }
    }
    for (std::size_t j = 0; j < NB; ++j) {
      best[j].store_unaligned(o + ci + j * W);
      if constexpr (kCells)
        xsimd::bitwise_cast<VI>(who[j]).store_unaligned(
            reinterpret_cast<std::int32_t*>(a + ci + j * W));
    }
  }

  // Max pooling backward: every cell of each window adds the output gradient in the lanes where
  // it held the max (a masked add, not a scatter). Cells that did not win are stored back
  // unchanged, so the result is bitwise the reference's.
  static void max_pool_backward_add(const PoolGeometry& g, const float* dy,
                                    const std::uint32_t* cell, float* dx) {
    using VI = xsimd::batch<std::int32_t, Arch>;
    const std::size_t c = g.c, cv = c - c % W;
    for (std::size_t oy = 0; oy < g.out_h; ++oy)
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const Win win = window(g, oy, ox);
        const std::size_t o = (oy * g.out_w + ox) * c, ww = win.xe - win.xs;
        std::size_t ci = 0;
        for (; ci < cv; ci += W) {
          const V d = V::load_unaligned(dy + o + ci);
          // Cell numbers are exact in a float (below 2^24): compare them as floats.
          const V who = xsimd::batch_cast<float>(
              VI::load_unaligned(reinterpret_cast<const std::int32_t*>(cell + o + ci)));
          float q = 0.0f;
          for (std::size_t y = win.ys; y < win.ye; ++y)
            for (std::size_t x = win.xs; x < win.xe; ++x, q += 1.0f) {
              float* p = dx + (y * g.w + x) * c + ci;
              const V v = V::load_unaligned(p);
              xsimd::select(who == V(q), v + d, v).store_unaligned(p);
            }
        }
        for (; ci < c; ++ci) {
          const std::size_t q = cell[o + ci];
          dx[((win.ys + q / ww) * g.w + win.xs + q % ww) * c + ci] += dy[o + ci];
        }
      }
  }

  // max_pool_backward_set (kernels/pooling.hpp): disjoint windows, every cell written.
  static void max_pool_backward_set(const PoolGeometry& g, const float* dy,
                                    const std::uint32_t* cell, float* dx) {
    using VI = xsimd::batch<std::int32_t, Arch>;
    const std::size_t c = g.c, cv = c - c % W;
    const V zero(0.0f);
    for (std::size_t oy = 0; oy < g.out_h; ++oy)
      for (std::size_t ox = 0; ox < g.out_w; ++ox) {
        const Win win = window(g, oy, ox);
        const std::size_t o = (oy * g.out_w + ox) * c;
        std::size_t ci = 0;
        for (; ci < cv; ci += W) {
          const V d = zero + V::load_unaligned(dy + o + ci);
          const V who = xsimd::batch_cast<float>(
              VI::load_unaligned(reinterpret_cast<const std::int32_t*>(cell + o + ci)));
          float q = 0.0f;
          for (std::size_t y = win.ys; y < win.ye; ++y)
            for (std::size_t x = win.xs; x < win.xe; ++x, q += 1.0f)
              xsimd::select(who == V(q), d, zero).store_unaligned(dx + (y * g.w + x) * c + ci);
        }
        for (; ci < c; ++ci) {
          std::uint32_t q = 0;
          for (std::size_t y = win.ys; y < win.ye; ++y)
            for (std::size_t x = win.xs; x < win.xe; ++x, ++q)
              dx[(y * g.w + x) * c + ci] = cell[o + ci] == q ? 0.0f + dy[o + ci] : 0.0f;
        }
      }
  }

  // dst[0, n) = 0, in vector moves (runs here are short: a libc memset call per run of 1-32
  // floats cost more than the fill itself in im2col).
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

  // A run of n floats from src to dst, written in order through the col matrix (so whatever a
  // store puts past dst + n is overwritten by the runs after it). Short runs (a first layer's
  // 3 or 9 floats) are one vector move when a whole vector can be read at src and written at
  // dst inside their buffers; longer ones end with a vector that overlaps the previous one.
  static void copy_run_in_order(const float* src, std::size_t n, float* dst, const float* src_end,
                                const float* dst_end) {
    if (n < W) {
      if (src + W <= src_end && dst + W <= dst_end) {
        V::load_unaligned(src).store_unaligned(dst);
        return;
      }
      for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
      return;
    }
    std::size_t i = 0;
    for (; i + W <= n; i += W) V::load_unaligned(src + i).store_unaligned(dst + i);
    if (i < n) V::load_unaligned(src + n - W).store_unaligned(dst + n - W);
  }

  // im2col, the reference's layout. When the kernel row lies inside the input and dilation_w
  // is 1, its kw taps are kw * c contiguous input floats, copied as one run.
  static void im2col(const ConvGeometry& g, const float* in, float* col) {
    const std::size_t c = g.c, run = g.kw * c;
    const auto h = static_cast<std::ptrdiff_t>(g.h), w = static_cast<std::ptrdiff_t>(g.w);
    const float* const in_end = in + g.h * g.w * c;
    float* const col_end = col + g.out_h * g.out_w * g.kh * run;
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
            copy_run_in_order(row + static_cast<std::size_t>(x0) * c, run, dst, in_end, col_end);
            dst += run;
            continue;
          }
          for (std::size_t kx = 0; kx < g.kw; ++kx, dst += c) {
            const std::ptrdiff_t ix = src_x(g, ox, kx);
            if (ix < 0 || ix >= w)
              zero_run(c, dst);
            else
              copy_run_in_order(row + static_cast<std::size_t>(ix) * c, c, dst, in_end, col_end);
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

  // The rows of small_k_forward's a, read where they lie: row r's k taps are kh runs of `run`
  // floats, the runs `lda` apart, and row r + 1 starts `rs` floats after row r. im2col's col
  // matrix is one run of k per row (rs = run = k); a convolution's windows inside its input are
  // kh runs of kw * c (rs = stride_w * c, lda = dil_h * w * c).
  struct Rows {
    const float* a;
    std::size_t rs, kh, run, lda;
    Rows at(std::size_t r) const { return {a + r * rs, rs, kh, run, lda}; }
  };

  // acc[r] += the products of a's row r with b's columns [j0, j0 + NV * W), tap by tap in order:
  // row r at a.a + (r % PerLine) * a.rs + (r / PerLine) * line (PerLine rows a line); per tap,
  // NV loads of b's row and R broadcasts of a feed R * NV FMAs.
  template <std::size_t R, std::size_t PerLine, std::size_t NV>
  [[gnu::always_inline]] static void small_k_sums(const Rows& a, std::size_t line, const float* b,
                                                  std::size_t f, std::size_t j0, V (&acc)[R][NV]) {
    const float* bt_row = b + j0;
    for (std::size_t ky = 0; ky < a.kh; ++ky) {
      const float* ar = a.a + ky * a.lda;
      for (std::size_t t = 0; t < a.run; ++t, bt_row += f) {
        V bt[NV];
        for (std::size_t j = 0; j < NV; ++j) bt[j] = V::load_unaligned(bt_row + j * W);
        for (std::size_t r = 0; r < R; ++r) {
          const V av(ar[(r % PerLine) * a.rs + (r / PerLine) * line + t]);
          for (std::size_t j = 0; j < NV; ++j) acc[r][j] = fused(av, bt[j], acc[r][j]);
        }
      }
    }
  }

  // small_k_forward: R rows x NV vectors of output columns from j0, accumulators in registers;
  // per tap t, NV loads of b's row and R broadcasts of a feed R * NV FMAs.
  // With start (continue_product): each sum starts from start's value of its row and column
  // (start's rows ldy floats apart) instead of the bias.
  template <std::size_t R, std::size_t NV>
  static void small_k_tile(const Rows& a, const float* b, const float* bias, std::size_t f,
                           std::size_t j0, bool relu, float* y, std::size_t ldy,
                           const float* start) {
    V acc[R][NV];
    for (std::size_t j = 0; j < NV; ++j) {
      const V bv = bias ? V::load_unaligned(bias + j0 + j * W) : V(0.0f);
      for (std::size_t r = 0; r < R; ++r)
        acc[r][j] = start ? V::load_unaligned(start + r * ldy + j0 + j * W) : bv;
    }
    small_k_sums<R, R>(a, 0, b, f, j0, acc);
    const V zero(0.0f);
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t j = 0; j < NV; ++j)
        (relu ? xsimd::select(acc[r][j] > zero, acc[r][j], zero) : acc[r][j])
            .store_unaligned(y + r * ldy + j0 + j * W);
  }

  template <std::size_t R, std::size_t NV = 2>
  static void small_k_rows(const Rows& a, const float* b, const float* bias, std::size_t f,
                           bool relu, float* y, std::size_t ldy, const float* start = nullptr) {
    const std::size_t fv = f - f % W;
    std::size_t j0 = 0;
    if constexpr (NV > 2)
      for (; j0 + NV * W <= fv; j0 += NV * W)
        small_k_tile<R, NV>(a, b, bias, f, j0, relu, y, ldy, start);
    for (; j0 + 2 * W <= fv; j0 += 2 * W)
      small_k_tile<R, 2>(a, b, bias, f, j0, relu, y, ldy, start);
    if (j0 < fv) small_k_tile<R, 1>(a, b, bias, f, j0, relu, y, ldy, start);
    for (std::size_t r = 0; r < R; ++r)
      for (std::size_t j = fv; j < f; ++j) {
        float s = start ? start[r * ldy + j] : bias ? bias[j] : 0.0f;
        std::size_t t = 0;
        for (std::size_t ky = 0; ky < a.kh; ++ky)
          for (std::size_t i = 0; i < a.run; ++i, ++t)
            s = std::fma(a.a[r * a.rs + ky * a.lda + i], b[t * f + j], s);
        y[r * ldy + j] = relu ? (s > 0.0f ? s : 0.0f) : s;
      }
  }

  static void small_k_forward(Act act, const float* a, const float* b, const float* bias,
                              std::size_t rows, std::size_t k, std::size_t f, float* y,
                              std::size_t ldy) {
    const bool relu = act == Act::Relu, act_inline = relu || act == Act::Linear;
    const Rows col{a, k, 1, k, 0};
    std::size_t r = 0;
    for (; r + 4 <= rows; r += 4) small_k_rows<4>(col.at(r), b, bias, f, relu, y + r * ldy, ldy);
    for (; r < rows; ++r) small_k_rows<1>(col.at(r), b, bias, f, relu, y + r * ldy, ldy);
    if (!act_inline) act_rows(act, y, rows, f, ldy);
  }

  // kernels/eltwise.hpp: y = a * b, each sum continued from y (from_y) or from 0, in tiles of
  // 8 rows (4 and 1 at the end) by 2 or 1 vectors of columns.
  static void continue_product(const float* a, std::size_t lda, const float* b, std::size_t rows,
                               std::size_t k, std::size_t f, float* y, std::size_t ldy,
                               bool from_y) {
    const Rows in{a, lda, 1, k, 0};
    const auto start = [&](std::size_t r) { return from_y ? y + r * ldy : nullptr; };
    std::size_t r = 0;
    for (; r + 8 <= rows; r += 8)
      small_k_rows<8>(in.at(r), b, nullptr, f, false, y + r * ldy, ldy, start(r));
    for (; r + 4 <= rows; r += 4)
      small_k_rows<4>(in.at(r), b, nullptr, f, false, y + r * ldy, ldy, start(r));
    for (; r < rows; ++r)
      small_k_rows<1>(in.at(r), b, nullptr, f, false, y + r * ldy, ldy, start(r));
  }

  // small_k_forward over a convolution's windows (kernels/eltwise.hpp), in tiles of R windows
  // of an output row by NV vectors of filters. Windows that lie inside the input are read in
  // place; windows that reach into the padding (and rows of dilation_w > 1) are first copied as
  // im2col would, into col rows. Either way each output is the same sums in the same order as on
  // im2col's rows. With 32 registers (AVX-512) the tiles are 6 x 4 (64 filters or more) or 8 x
  // 2, else 4 x 2; a row's last windows go 4, then 1 at a time. At batch 20 (2 cores, Zen 5),
  // against 4 x 2 everywhere: SqueezeNet's conv1 (3x3 / 2, 3 -> 64, its pooling fused) 3.7 ->
  // 3.1 ms, cats_dogs' first layer (3 -> 32) 3.2 -> 2.9 ms in inference.
  static void small_k_conv(Act act, const ConvGeometry& g, const float* x, const float* b,
                           const float* bias, std::size_t p0, std::size_t count, std::size_t f,
                           float* y, std::size_t ldy) {
    if constexpr (W >= 16) {
      if (f >= 4 * W)
        small_k_conv_tiles<6, 4>(act, g, x, b, bias, p0, count, f, y, ldy);
      else
        small_k_conv_tiles<8, 2>(act, g, x, b, bias, p0, count, f, y, ldy);
    } else {
      small_k_conv_tiles<4, 2>(act, g, x, b, bias, p0, count, f, y, ldy);
    }
  }

  template <std::size_t R, std::size_t NV>
  static void small_k_conv_tiles(Act act, const ConvGeometry& g, const float* x, const float* b,
                                 const float* bias, std::size_t p0, std::size_t count,
                                 std::size_t f, float* y, std::size_t ldy) {
    const bool relu = act == Act::Relu, act_inline = relu || act == Act::Linear;
    const std::size_t k = g.col_cols(), c = g.c;
    float local[R * kSmallK];  // k <= kSmallK (checked by kernels::small_k_conv)
    const Rows col{local, k, 1, k, 0};
    float* yp = y;
    for (std::size_t p = p0, end = p0 + count; p < end;) {
      const std::size_t oy = p / g.out_w, row_end = std::min(end, (oy + 1) * g.out_w);
      // The output columns [lo, hi) of this row whose windows lie inside the input.
      std::size_t lo = 0, hi = 0;
      const std::ptrdiff_t iy = src_y(g, oy, 0);
      if (g.dil_w == 1 && iy >= 0 && src_y(g, oy, g.kh - 1) < static_cast<std::ptrdiff_t>(g.h) &&
          g.w + g.pad_left >= g.kw) {
        lo = (g.pad_left + g.stride_w - 1) / g.stride_w;
        hi = std::min(g.out_w, (g.w + g.pad_left - g.kw) / g.stride_w + 1);
      }
      const Rows in{x + static_cast<std::size_t>(std::max<std::ptrdiff_t>(iy, 0)) * g.w * c,
                    g.stride_w * c, g.kh, g.kw * c, g.dil_h * g.w * c};
      for (std::size_t ox = p - oy * g.out_w, ox_end = row_end - oy * g.out_w; ox < ox_end;) {
        // R windows at a time, then 4, then one by one at the row's end.
        const std::size_t r = ox + R <= ox_end ? R : ox + 4 <= ox_end ? 4 : 1;
        Rows a = col;
        if (ox >= lo && ox + r <= hi) {
          a = in;
          a.a += (ox * g.stride_w - g.pad_left) * c;
        } else {
          for (std::size_t i = 0; i < r; ++i) im2col_window(g, x, oy, ox + i, local + i * k);
        }
        if (r == R)
          small_k_rows<R, NV>(a, b, bias, f, relu, yp, ldy);
        else if (r == 4)
          small_k_rows<4>(a, b, bias, f, relu, yp, ldy);
        else
          small_k_rows<1>(a, b, bias, f, relu, yp, ldy);
        yp += r * ldy;
        ox += r;
      }
      p = row_end;
    }
    if (!act_inline) act_rows(act, y, count, f, ldy);
  }

  // small_k_conv_pool2 (kernels/eltwise.hpp): tiles of 2 output rows (lines `line` floats apart)
  // x 2P windows by NV vectors of filters from j0, P pooled pixels (valid of them stored). Each
  // output is small_k_tile's sums in its order and its activation; each pooled pixel the
  // pooling's maxps chain over (0, 0), (0, 1), (1, 0), (1, 1), as max_pool_forward runs it.
  template <std::size_t P, std::size_t NV>
  static void small_k_pool2_tile(const Rows& a, std::size_t line, const float* b, const float* bias,
                                 std::size_t f, std::size_t j0, bool relu, float* y,
                                 std::size_t ldy, std::size_t valid) {
    constexpr std::size_t R = 4 * P;  // windows: 2P of line 0, then 2P of line 1
    V acc[R][NV];
    for (std::size_t j = 0; j < NV; ++j) {
      const V bv = bias ? V::load_unaligned(bias + j0 + j * W) : V(0.0f);
      for (std::size_t r = 0; r < R; ++r) acc[r][j] = bv;
    }
    small_k_sums<R, 2 * P>(a, line, b, f, j0, acc);
    const V zero(0.0f);
    const auto out = [&](std::size_t r, std::size_t j) {
      return relu ? xsimd::select(acc[r][j] > zero, acc[r][j], zero) : acc[r][j];
    };
    for (std::size_t p = 0; p < P && p < valid; ++p)
      for (std::size_t j = 0; j < NV; ++j) {
        V best = out(2 * p, j);
        for (std::size_t r : {2 * p + 1, 2 * P + 2 * p, 2 * P + 2 * p + 1})
          best = xsimd::max(out(r, j), best);
        best.store_unaligned(y + p * ldy + j0 + j * W);
      }
  }

  // One tile of P pooled pixels (valid of them) over all f filters: NV = 2 vectors at a time,
  // then 1, then the columns past the last vector one by one (small_k_rows' scalar sums).
  template <std::size_t P>
  static void small_k_pool2_pixels(const Rows& a, std::size_t line, const float* b,
                                   const float* bias, std::size_t f, bool relu, float* y,
                                   std::size_t ldy, std::size_t valid) {
    const std::size_t fv = f - f % W;
    std::size_t j0 = 0;
    for (; j0 + 2 * W <= fv; j0 += 2 * W)
      small_k_pool2_tile<P, 2>(a, line, b, bias, f, j0, relu, y, ldy, valid);
    if (j0 < fv) small_k_pool2_tile<P, 1>(a, line, b, bias, f, j0, relu, y, ldy, valid);
    for (std::size_t p = 0; p < valid; ++p)
      for (std::size_t j = fv; j < f; ++j) {
        float best = 0.0f;
        for (std::size_t cell = 0; cell < 4; ++cell) {
          const float* w = a.a + (2 * p + cell % 2) * a.rs + cell / 2 * line;
          float s = bias ? bias[j] : 0.0f;
          std::size_t t = 0;
          for (std::size_t ky = 0; ky < a.kh; ++ky)
            for (std::size_t i = 0; i < a.run; ++i, ++t)
              s = std::fma(w[ky * a.lda + i], b[t * f + j], s);
          const float v = relu ? (s > 0.0f ? s : 0.0f) : s;
          best = cell == 0 || v > best ? v : best;
        }
        y[p * ldy + j] = best;
      }
  }

  static void small_k_conv_pool2(Act act, const ConvGeometry& g, const float* x, const float* b,
                                 const float* bias, std::size_t py0, std::size_t py1, std::size_t f,
                                 float* y, std::size_t ldy) {
    constexpr std::size_t P = W >= 16 ? 3 : 1;  // 24 or 8 accumulators (NV = 2)
    const bool relu = act == Act::Relu;
    const std::size_t c = g.c, pw = g.out_w / 2;
    for (std::size_t py = py0; py < py1; ++py, y += pw * ldy) {
      // Output rows 2py and 2py + 1: their windows lie inside the input (no padding).
      const Rows in{x + 2 * py * g.stride_h * g.w * c, g.stride_w * c, g.kh, g.kw * c,
                    g.dil_h * g.w * c};
      const std::size_t line = g.stride_h * g.w * c;
      for (std::size_t px = 0; px < pw;) {
        Rows a = in;
        a.a += 2 * px * g.stride_w * c;
        if (px + P <= pw) {
          small_k_pool2_pixels<P>(a, line, b, bias, f, relu, y + px * ldy, ldy, P);
          px += P;
        } else {  // the row's last pixels one at a time
          small_k_pool2_pixels<1>(a, line, b, bias, f, relu, y + px * ldy, ldy, 1);
          ++px;
        }
      }
    }
  }

  // The rows of small_k_weight_grad's a as a grid: row p (p = p0, p0 + 1, ...; oy = p / out_w,
  // ox = p % out_w) starts at a + oy * row_step + ox * rs, and its tap t = (ky, kx, ci) lies
  // ky * lda + kx * xstep + ci floats further. im2col's col matrix: rs = k, one grid row (out_w
  // as large as the rows), taps one run (kw = 1, c = k). A convolution's windows in a sample
  // whose padding is part of it: rs = stride_w * c, row_step = stride_h * width * c, lda = dil_h
  // * width * c, xstep = dil_w * c.
  struct Grid {
    const float* a;
    std::size_t rs, row_step, out_w, lda, xstep, kw, c;
    std::size_t tap(std::size_t t) const { return t / (kw * c) * lda + t / c % kw * xstep + t % c; }
    const float* row(std::size_t p) const { return a + p / out_w * row_step + p % out_w * rs; }
  };
  static Grid col_grid(const float* a, std::size_t rows, std::size_t k) {
    return {a, k, 0, std::max<std::size_t>(rows, 1), 0, 0, 1, k};
  }

  // small_k_weight_grad: TB taps x NV vectors of columns from (t0, j0), accumulators in
  // registers over all the rows [p0, p0 + rows) of the grid; dz is formed per row from y and dy
  // (relu or linear).
  template <std::size_t TB, std::size_t NV>
  static void small_k_grad_tile(const Grid& a, std::size_t p0, const float* y, const float* dy,
                                std::size_t rows, std::size_t f, std::size_t t0, std::size_t j0,
                                bool relu, float* db, float* dbias) {
    V acc[TB][NV], bacc[NV];
    std::size_t off[TB];  // where tap t0 + t lies from a row's start
    for (std::size_t t = 0; t < TB; ++t) {
      off[t] = a.tap(t0 + t);
      for (std::size_t j = 0; j < NV; ++j)
        acc[t][j] = V::load_unaligned(db + (t0 + t) * f + j0 + j * W);
    }
    for (std::size_t j = 0; j < NV; ++j)
      bacc[j] = dbias ? V::load_unaligned(dbias + j0 + j * W) : V(0.0f);
    const V zero(0.0f);
    std::size_t ox = p0 % a.out_w;
    const float* ar = a.row(p0);
    for (std::size_t r = 0; r < rows; ++r) {
      V dz[NV];
      for (std::size_t j = 0; j < NV; ++j) {
        const std::size_t i = r * f + j0 + j * W;
        dz[j] = V::load_unaligned(dy + i);
        if (relu) dz[j] = xsimd::select(V::load_unaligned(y + i) > zero, dz[j], zero);
        if (dbias) bacc[j] += dz[j];
      }
      for (std::size_t t = 0; t < TB; ++t) {
        const V av(ar[off[t]]);
        for (std::size_t j = 0; j < NV; ++j) acc[t][j] = fused(av, dz[j], acc[t][j]);
      }
      if (++ox == a.out_w) {
        ox = 0;
        ar = a.row(p0 + r + 1);
      } else {
        ar += a.rs;
      }
    }
    for (std::size_t t = 0; t < TB; ++t)
      for (std::size_t j = 0; j < NV; ++j)
        acc[t][j].store_unaligned(db + (t0 + t) * f + j0 + j * W);
    if (dbias)
      for (std::size_t j = 0; j < NV; ++j) bacc[j].store_unaligned(dbias + j0 + j * W);
  }

  // The widest tap block: 8 taps x 2 vectors of accumulators fit the 32 AVX-512 registers; the
  // 16 of AVX2 and SSE2 hold 4 x 2 (with dz and the bias sums beside them).
  static constexpr std::size_t kMaxTaps = W >= 16 ? 8 : 4;

  template <std::size_t NV, std::size_t TB = kMaxTaps>
  static void small_k_grad_taps(std::size_t tb, const Grid& a, std::size_t p0, const float* y,
                                const float* dy, std::size_t rows, std::size_t f, std::size_t t0,
                                std::size_t j0, bool relu, float* db, float* dbias) {
    if constexpr (TB > 1)
      if (tb < TB)
        return small_k_grad_taps<NV, TB - 1>(tb, a, p0, y, dy, rows, f, t0, j0, relu, db, dbias);
    small_k_grad_tile<TB, NV>(a, p0, y, dy, rows, f, t0, j0, relu, db, dbias);
  }

  // small_k_weight_grad over the grid's rows [p0, p0 + rows) (relu: dz from y and dy; else dy
  // is dz), k taps.
  static void small_k_grad_rows(bool relu, const Grid& a, std::size_t p0, std::size_t k,
                                const float* y, const float* dy, std::size_t rows, std::size_t f,
                                float* db, float* dbias) {
    const std::size_t fv = f - f % W;
    for (std::size_t j0 = 0; j0 < fv;) {
      const std::size_t nv = j0 + 2 * W <= fv ? 2 : 1;
      for (std::size_t t0 = 0; t0 < k; t0 += kMaxTaps) {
        const std::size_t tb = std::min(kMaxTaps, k - t0);
        // The bias sums ride along with the first tap block only.
        float* bias = t0 == 0 ? dbias : nullptr;
        if (nv == 2)
          small_k_grad_taps<2>(tb, a, p0, y, dy, rows, f, t0, j0, relu, db, bias);
        else
          small_k_grad_taps<1>(tb, a, p0, y, dy, rows, f, t0, j0, relu, db, bias);
      }
      j0 += nv * W;
    }
    for (std::size_t j = fv; j < f; ++j) {
      auto dz = [&](std::size_t r) {
        const std::size_t i = r * f + j;
        return relu && !(y[i] > 0.0f) ? 0.0f : dy[i];
      };
      for (std::size_t t = 0; t < k; ++t) {
        const std::size_t off = a.tap(t);
        float s = db[t * f + j];
        for (std::size_t r = 0; r < rows; ++r) s = std::fma(a.row(p0 + r)[off], dz(r), s);
        db[t * f + j] = s;
      }
      if (dbias) {
        float s = dbias[j];
        for (std::size_t r = 0; r < rows; ++r) s += dz(r);
        dbias[j] = s;
      }
    }
  }

  static void small_k_weight_grad(Act act, const float* a, const float* y, const float* dy,
                                  std::size_t rows, std::size_t k, std::size_t f, float* db,
                                  float* dbias) {
    if (y && act != Act::Relu && act != Act::Linear)
      return ref::small_k_weight_grad(act, a, y, dy, rows, k, f, db, dbias);
    small_k_grad_rows(y && act == Act::Relu, col_grid(a, rows, k), 0, k, y, dy, rows, f, db, dbias);
  }

  // small_k_weight_grad over a convolution's windows (kernels/eltwise.hpp), read in the sample:
  // in x itself when every window lies inside it, else in a copy with the padding written out
  // (this thread's, the sample's size plus the padding).
  static void small_k_conv_weight_grad(Act act, const ConvGeometry& g, const float* x,
                                       const float* y, const float* dy, std::size_t p0,
                                       std::size_t count, std::size_t f, float* db, float* dbias) {
    const bool relu = y && act == Act::Relu;  // kernels::small_k_conv_weight_grad checked act
    const std::size_t c = g.c;
    // The extent the windows cover, from the top-left padding corner.
    const std::size_t hp = (g.out_h - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1;
    const std::size_t wp = (g.out_w - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1;
    const float* xp = x;
    std::size_t width = g.w;
    if (g.pad_top || g.pad_left || hp > g.h || wp > g.w) {
      thread_local AlignedVector<float> padded;
      padded.assign(hp * wp * c, 0.0f);
      const std::size_t rows = hp > g.pad_top ? std::min(g.h, hp - g.pad_top) : 0;
      const std::size_t cols = wp > g.pad_left ? std::min(g.w, wp - g.pad_left) : 0;
      for (std::size_t iy = 0; iy < rows; ++iy)
        std::copy_n(x + iy * g.w * c, cols * c,
                    padded.data() + ((iy + g.pad_top) * wp + g.pad_left) * c);
      xp = padded.data();
      width = wp;
    }
    const Grid grid{
        xp, g.stride_w * c, g.stride_h * width * c, g.out_w, g.dil_h * width * c, g.dil_w * c, g.kw,
        c};
    small_k_grad_rows(relu, grid, p0, g.col_cols(), y, dy, count, f, db, dbias);
  }

  static const EltwiseFns& table() {
    static const EltwiseFns t{act_forward,
                              act_backward,
                              bias_act_forward,
                              sum_rows_add,
                              add_to,
                              max_pool_forward,
                              max_pool_backward_add,
                              max_pool_backward_set,
                              im2col,
                              col2im_add,
                              small_k_forward,
                              small_k_conv,
                              small_k_conv_pool2,
                              small_k_weight_grad,
                              small_k_conv_weight_grad,
                              continue_product};
    return t;
  }
};

}  // namespace cnn::kernels::simd::CNN_SIMD_NS
