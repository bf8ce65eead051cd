// a * b + c in one rounding for the vectors of the ISA files (simd/*_impl.hpp), in the
// namespace their CNN_SIMD_NS names. xsimd 9's avx512f has no fma of its own: its generic one
// is a * b + c, which GCC contracts into one vfmadd but clang leaves a multiply, a rounding and
// an add. _mm512_fmadd_ps makes the AVX-512 kernels' sums the same in every build (and the
// same as the scalar tails' std::fma); AVX2's xsimd::fma is vfmadd already, SSE2 has none.
#pragma once

#ifndef CNN_SIMD_NS
#error "define CNN_SIMD_NS (a namespace name unique to the ISA file) before including fused.hpp"
#endif

#include <immintrin.h>

#include <type_traits>
#include <xsimd/xsimd.hpp>

namespace cnn::kernels::simd::CNN_SIMD_NS {

template <class V>
inline V fused(const V& a, const V& b, const V& c) {
  if constexpr (std::is_same_v<V, xsimd::batch<float, xsimd::avx512f>>)
    return _mm512_fmadd_ps(a, b, c);
  else
    return xsimd::fma(a, b, c);
}

}  // namespace cnn::kernels::simd::CNN_SIMD_NS
