// Winograd F(4x4, 3x3) transforms for avx512 (compiled with the AVX-512 flags only here).
// GCC 12 reports _mm512_undefined_ps() inside avx512fintrin.h (reached through xsimd::max) as
// "may be used uninitialized": the false positive eltwise_avx512.cpp silences too.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define CNN_SIMD_NS avx512
#include "kernels/simd/winograd_impl.hpp"

namespace cnn::kernels::simd {
const WinogradFns& winograd_avx512() { return avx512::Winograd<xsimd::avx512f>::table(); }
}  // namespace cnn::kernels::simd
