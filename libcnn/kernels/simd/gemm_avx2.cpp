// SGEMM for AVX2 + FMA (compiled with -mavx2 -mfma only here).
//
// Tile 6 x 16: 6 rows x 2 ymm = 12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm
// registers. 12 independent FMA chains cover two FMA pipes x 4 cycles of latency (Haswell to
// Zen 4). KC = 384 and NC = 512 as for AVX-512 (the A sliver, 6 x 384 floats = 9 KiB, stays in
// L1d; the 768 KiB B panel in a 1 MiB L2, or in L3 on parts with a smaller L2).
#define CNN_SIMD_NS avx2
#include "kernels/simd/gemm_impl.hpp"

namespace cnn::kernels::simd {

const GemmFns& gemm_avx2() {
  using G = avx2::Gemm<xsimd::fma3<xsimd::avx2>, 6, 2, 384, 512>;
  static const GemmFns fns{G::run, G::packed_b_floats, G::pack_b_all, G::pack_b_combined};
  return fns;
}

}  // namespace cnn::kernels::simd
