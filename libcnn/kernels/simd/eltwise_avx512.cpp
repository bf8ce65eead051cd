// Element-wise kernels for AVX-512 (compiled with the AVX-512 flags only here).
// GCC 12 reports _mm512_undefined_ps() inside avx512fintrin.h (reached through xsimd::exp and
// xsimd::tanh) as "may be used uninitialized": a known false positive of the intrinsic headers
// (the value is a don't-care pass-through operand). Silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define CNN_SIMD_NS avx512
#include "kernels/simd/eltwise_impl.hpp"

namespace cnn::kernels::simd {
const EltwiseFns& eltwise_avx512() { return avx512::Eltwise<xsimd::avx512f>::table(); }
}  // namespace cnn::kernels::simd
