// SGEMM for baseline x86-64 (SSE2, no ISA flags): the fallback for CPUs without AVX2.
//
// Tile 4 x 8: 4 rows x 2 xmm = 8 accumulators + 2 B vectors + 1 broadcast + the product
// temporary (SSE2 has no FMA: xsimd::fma is a multiply then an add) of the 16 xmm registers.
// KC = 256, NC = 512 as for the wider ISAs (the slivers are smaller, so they fit more easily).
#define CNN_SIMD_NS sse2
#include "kernels/simd/gemm_impl.hpp"

namespace cnn::kernels::simd {

const GemmFns& gemm_sse2() {
  using G = sse2::Gemm<xsimd::sse2, 4, 2, 256, 512>;
  static const GemmFns fns{G::run, G::packed_b_floats, G::pack_b_all, G::pack_b_combined};
  return fns;
}

}  // namespace cnn::kernels::simd
