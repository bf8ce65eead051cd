// Element-wise kernels for AVX2 + FMA (compiled with -mavx2 -mfma only here).
#define CNN_SIMD_NS avx2
#include "kernels/simd/eltwise_impl.hpp"

namespace cnn::kernels::simd {
const EltwiseFns& eltwise_avx2() { return avx2::Eltwise<xsimd::fma3<xsimd::avx2>>::table(); }
}  // namespace cnn::kernels::simd
