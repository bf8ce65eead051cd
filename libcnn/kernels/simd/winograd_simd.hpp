// The per-ISA Winograd F(4x4, 3x3) transforms (simd/winograd_<isa>.cpp), reached through
// kernels/winograd.hpp. Internal; the reference versions are in kernels/winograd.cpp.
#pragma once

#include <cstddef>

#include "kernels/dispatch.hpp"

namespace cnn::kernels::simd {

struct WinogradFns {
  // One tile, all channels: src[6 * i + j] is the input pixel (i, j) of the 6x6 tile (c floats,
  // zeros for padding); writes the 36 transformed values of channel ch to v[k * vstride + ch].
  void (*input_tile)(const float* const* src, std::size_t c, float* v, std::size_t vstride);
  // One tile, all f channels: m[k * mstride + ch] are the 36 products of channel ch; writes the
  // 4x4 outputs to dst[4 * i + j] (skipped where null: cut off at the bottom/right edge), plus
  // bias (if not null), then relu if asked.
  void (*output_tile)(const float* m, std::size_t mstride, std::size_t f, const float* bias,
                      bool relu, float* const* dst);
  // The kernel gradient's transform of an output gradient tile: src[4 * i + j] is dz at (i, j)
  // of the 4x4 block (f floats, zeros past the edge); writes (A dz A^T)'s 36 values of channel
  // ch to m[k * mstride + ch].
  void (*grad_tile)(const float* const* src, std::size_t f, float* m, std::size_t mstride);
  // u[i] = sum over j < terms of coef[j] * g[j * stride + i] for i < n, j in order (a tile
  // position of the transformed kernel from the 9 taps, or a tap of the kernel gradient from
  // the 36 positions).
  void (*combine)(const float* g, std::size_t stride, const float* coef, std::size_t terms,
                  std::size_t n, float* u);
};

const WinogradFns& winograd_sse2();
const WinogradFns& winograd_avx2();
const WinogradFns& winograd_avx512();

}  // namespace cnn::kernels::simd
