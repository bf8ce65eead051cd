// The Winograd F(4x4, 3x3) transforms' body, a template on the xsimd architecture, instantiated
// by simd/winograd_<isa>.cpp (the only files compiled with ISA flags). Vectors run along the
// channels (NHWC: a pixel's channels are contiguous); the channels past the last whole vector
// get the same formulas on scalars. The formulas (kernels/winograd.hpp has the matrices):
//   input, each row then each column of the 6x6 tile d:
//     t0 = 4 d0 - 5 d2 + d4            t3 = -2 (d1 - d3) + d4 - d2
//     t1 = -4 (d1 + d2) + d3 + d4      t4 =  2 (d1 - d3) + d4 - d2
//     t2 =  4 (d1 - d2) + d4 - d3      t5 = 4 d1 - 5 d3 + d5
//   output, each row then each column of the 6x6 products m:
//     y0 = m0 + (m1 + m2) + (m3 + m4)   y2 = (m1 + m2) + 4 (m3 + m4)
//     y1 = (m1 - m2) + 2 (m3 - m4)      y3 = (m1 - m2) + 8 (m3 - m4) + m5
//   output gradient (A dz A^T, the kernel gradient's), each row then each column of the 4x4 dz:
//     e0 = z0                         e3 = (z0 + 4 z2) + 2 (z1 + 4 z3)
//     e1 = (z0 + z2) + (z1 + z3)      e4 = (z0 + 4 z2) - 2 (z1 + 4 z3)
//     e2 = (z0 + z2) - (z1 + z3)      e5 = z3
// As in gemm_impl.hpp, everything sits in a namespace named by CNN_SIMD_NS.
#pragma once

#ifndef CNN_SIMD_NS
#error \
    "define CNN_SIMD_NS (a namespace name unique to the ISA file) before including winograd_impl.hpp"
#endif

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <xsimd/xsimd.hpp>

#include "kernels/simd/fused.hpp"
#include "kernels/simd/winograd_simd.hpp"

namespace cnn::kernels::simd::CNN_SIMD_NS {

template <class Arch>
struct Winograd {
  using V = xsimd::batch<float, Arch>;
  static constexpr std::size_t W = V::size;

  // Whether the vectors' multiply-add is one fused operation on this ISA (fused.hpp; SSE2 has
  // no FMA: xsimd multiplies, rounds, then adds).
  static constexpr bool kFused = !std::is_same_v<Arch, xsimd::sse2>;

  // a * b + c, fused where the vectors' is (the channels past the last whole vector then get
  // the value a vector lane would). Callers still cut ranges at places that do not depend on
  // the thread count, so that no value's path (vector or scalar) does.
  template <class T>
  static T fma(T a, T b, T c) {
    if constexpr (!std::is_same_v<T, float>)
      return fused(a, b, c);
    else if constexpr (kFused)
      return std::fma(a, b, c);
    else
      return a * b + c;
  }

  template <class T>
  static void in1d(T d0, T d1, T d2, T d3, T d4, T d5, T* t) {
    const T four(4.0f), five(-5.0f), two(2.0f);
    const T d13 = d1 - d3, d42 = d4 - d2;
    t[0] = fma(four, d0, fma(five, d2, d4));
    t[1] = (d3 + d4) - four * (d1 + d2);
    t[2] = fma(four, d1 - d2, d4 - d3);
    t[3] = d42 - two * d13;
    t[4] = fma(two, d13, d42);
    t[5] = fma(four, d1, fma(five, d3, d5));
  }

  template <class T>
  static void out1d(T m0, T m1, T m2, T m3, T m4, T m5, T* y) {
    const T a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    y[0] = m0 + a + c;
    y[1] = fma(T(2.0f), d, b);
    y[2] = fma(T(4.0f), c, a);
    y[3] = fma(T(8.0f), d, b + m5);
  }

  template <class T>
  static void grad1d(T z0, T z1, T z2, T z3, T* e) {
    const T four(4.0f), two(2.0f);
    const T even = z0 + z2, odd = z1 + z3;
    const T even4 = fma(four, z2, z0), odd4 = fma(four, z3, z1);
    e[0] = z0;
    e[1] = even + odd;
    e[2] = even - odd;
    e[3] = fma(two, odd4, even4);
    e[4] = even4 - two * odd4;
    e[5] = z3;
  }

  template <class T, class Load, class Store>
  static void grad_one(const Load& load, const Store& store) {
    T t[4][6];
    for (int i = 0; i < 4; ++i)
      grad1d(load(4 * i), load(4 * i + 1), load(4 * i + 2), load(4 * i + 3), t[i]);
    for (int j = 0; j < 6; ++j) {
      T col[6];
      grad1d(t[0][j], t[1][j], t[2][j], t[3][j], col);
      for (int i = 0; i < 6; ++i) store(6 * i + j, col[i]);
    }
  }

  static void grad_tile(const float* const* src, std::size_t f, float* m, std::size_t ms) {
    std::size_t ch = 0;
    for (; ch + W <= f; ch += W)
      grad_one<V>([&](int p) { return V::load_unaligned(src[p] + ch); },
                  [&](int k, V x) { x.store_unaligned(m + k * ms + ch); });
    for (; ch < f; ++ch)
      grad_one<float>([&](int p) { return src[p][ch]; },
                      [&](int k, float x) { m[k * ms + ch] = x; });
  }

  template <class T, class Load, class Store>
  static void input_one(const Load& load, const Store& store) {
    T t[6][6];
    for (int i = 0; i < 6; ++i)
      in1d(load(6 * i), load(6 * i + 1), load(6 * i + 2), load(6 * i + 3), load(6 * i + 4),
           load(6 * i + 5), t[i]);
    for (int j = 0; j < 6; ++j) {
      T col[6];
      in1d(t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j], col);
      for (int i = 0; i < 6; ++i) store(6 * i + j, col[i]);
    }
  }

  static void input_tile(const float* const* src, std::size_t c, float* v, std::size_t vs) {
    std::size_t ch = 0;
    for (; ch + W <= c; ch += W)
      input_one<V>([&](int p) { return V::load_unaligned(src[p] + ch); },
                   [&](int k, V x) { x.store_unaligned(v + k * vs + ch); });
    for (; ch < c; ++ch)
      input_one<float>([&](int p) { return src[p][ch]; },
                       [&](int k, float x) { v[k * vs + ch] = x; });
  }

  template <class T, class Load, class Store>
  static void output_one(const Load& load, const Store& store) {
    T a[6][4];
    for (int i = 0; i < 6; ++i)
      out1d(load(6 * i), load(6 * i + 1), load(6 * i + 2), load(6 * i + 3), load(6 * i + 4),
            load(6 * i + 5), a[i]);
    for (int j = 0; j < 4; ++j) {
      T col[4];
      out1d(a[0][j], a[1][j], a[2][j], a[3][j], a[4][j], a[5][j], col);
      for (int i = 0; i < 4; ++i) store(4 * i + j, col[i]);
    }
  }

  static void output_tile(const float* m, std::size_t ms, std::size_t f, const float* bias,
                          bool relu, float* const* dst) {
    std::size_t ch = 0;
    for (; ch + W <= f; ch += W) {
      const V b = bias ? V::load_unaligned(bias + ch) : V(0.0f);
      output_one<V>([&](int k) { return V::load_unaligned(m + k * ms + ch); },
                    [&](int p, V y) {
                      if (!dst[p]) return;
                      y += b;
                      if (relu) y = xsimd::max(y, V(0.0f));
                      y.store_unaligned(dst[p] + ch);
                    });
    }
    for (; ch < f; ++ch) {
      const float b = bias ? bias[ch] : 0.0f;
      output_one<float>([&](int k) { return m[k * ms + ch]; },
                        [&](int p, float y) {
                          if (!dst[p]) return;
                          y += b;
                          if (relu) y = y > 0.0f ? y : 0.0f;
                          dst[p][ch] = y;
                        });
    }
  }

  static void combine(const float* g, std::size_t stride, const float* coef, std::size_t terms,
                      std::size_t n, float* u) {
    std::size_t i = 0;
    for (; i + W <= n; i += W) {
      V acc = V(coef[0]) * V::load_unaligned(g + i);
      for (std::size_t j = 1; j < terms; ++j)
        acc = fused(V(coef[j]), V::load_unaligned(g + j * stride + i), acc);
      acc.store_unaligned(u + i);
    }
    for (; i < n; ++i) {
      float acc = coef[0] * g[i];
      for (std::size_t j = 1; j < terms; ++j) acc = fma(coef[j], g[j * stride + i], acc);
      u[i] = acc;
    }
  }

  static const WinogradFns& table() {
    static const WinogradFns fns{input_tile, output_tile, grad_tile, combine};
    return fns;
  }
};

}  // namespace cnn::kernels::simd::CNN_SIMD_NS
