// Winograd F(4x4, 3x3) transforms for avx2 (compiled with -mavx2 -mfma only here).
#define CNN_SIMD_NS avx2
#include "kernels/simd/winograd_impl.hpp"

namespace cnn::kernels::simd {
const WinogradFns& winograd_avx2() { return avx2::Winograd<xsimd::fma3<xsimd::avx2>>::table(); }
}  // namespace cnn::kernels::simd
