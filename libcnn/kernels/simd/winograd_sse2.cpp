// Winograd F(4x4, 3x3) transforms for sse2 (the x86-64 baseline; no extra flags).
#define CNN_SIMD_NS sse2
#include "kernels/simd/winograd_impl.hpp"

namespace cnn::kernels::simd {
const WinogradFns& winograd_sse2() { return sse2::Winograd<xsimd::sse2>::table(); }
}  // namespace cnn::kernels::simd
