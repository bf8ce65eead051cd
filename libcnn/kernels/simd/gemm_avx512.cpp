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
#define CNN_SIMD_NS avx512
#include "kernels/simd/gemm_impl.hpp"

namespace cnn::kernels::simd {

const GemmFns& gemm_avx512() {
  using G = avx512::Gemm<xsimd::avx512f, 14, 2, 384, 512>;
  static const GemmFns fns{G::run, G::packed_b_floats, G::pack_b_all, G::pack_b_combined};
  return fns;
}

}  // namespace cnn::kernels::simd
