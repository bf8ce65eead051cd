// SGEMM for AVX-512 (compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma only here).
//
// Tile 14 x 32: 14 rows x 2 zmm = 28 accumulators + 2 B vectors + 1 broadcast fill the 32 zmm
// registers. Each k step does 28 FMAs for 2 vector loads and 14 broadcasts; Zen 4 retires one
// 512-bit FMA per cycle with a 4-cycle latency, so 28 independent chains hide the latency with
// room to spare, and the loads fit its two load ports.
// KC = 384: the A sliver (14 x 384 floats = 21 KiB) stays in the 32 KiB L1d while B slivers
// stream past it, and the convolutions' K = 9 * 32 = 288 is one block (C is read and written once).
// NC = 512: the packed B panel (384 x 512 floats = 768 KiB) fits the 1 MiB L2 with room for the
// A rows and C tiles passing through. Measured on the Zen 4 against KC 256/512 and NC 256/768/1024:
// KC 256 lost 10-20% on the conv shapes, NC 256 lost 7% on square 1024/2048.
//
// A transposed (the weight gradients: col^T dz, Winograd's V^T E, a Dense layer's x^T dy) runs
// on an 8 x 32 tile instead: op(A)'s 8 values of one k, read in place, are 32 contiguous bytes,
// and a gradient's m (its input channels, 32 to 128 in Winograd's products) is a multiple of 8
// but not of 14, whose 14 + 14 + 4 rows for m = 32 compute a staged 14-row tile for 4. Measured
// on one Zen 5 core, 36 products of m x n x k hot in L2, GFLOP/s (14 x 32 -> 8 x 32): Winograd's
// kernel gradients 32 x 64 x 75 91 -> 162, 64 x 128 x 42 107 -> 169, 128 x 128 x 64 153 -> 183;
// cats_dogs' Dense 6272 x 512 x 20 141 -> 158; im2col's 288 x 64 x 7744 148 -> 148, 576 x 64 x
// 64 178 -> 177. Every element of C gets the same operations in the same order on either tile
// (gemm_impl.hpp), and both read B in the same packed panels: the bits do not change. Not
// taken for A plain: the 8-row tile also won on small m there (Winograd's forward products, 64
// x 128 x 128 150 -> 187), but SqueezeNet's fp32 inference lost 5-10% in 4 alternating rounds.
#define CNN_SIMD_NS avx512
#include "kernels/simd/gemm_impl.hpp"

namespace cnn::kernels::simd {

namespace {

using Wide = avx512::Gemm<xsimd::avx512f, 14, 2, 384, 512>;
using Narrow = avx512::Gemm<xsimd::avx512f, 8, 2, 384, 512>;
static_assert(Wide::NR == Narrow::NR && Wide::kKC == Narrow::kKC && Wide::kNC == Narrow::kNC,
              "the two tiles must cut k alike and read the same packed B panels");

void run(const GemmArgs& g) {
  if (g.ta == Trans::Yes)
    Narrow::run(g);
  else
    Wide::run(g);
}

}  // namespace

const GemmFns& gemm_avx512() {
  static const GemmFns fns{run, Wide::packed_b_floats, Wide::pack_b_all, Wide::pack_b_combined};
  return fns;
}

}  // namespace cnn::kernels::simd
