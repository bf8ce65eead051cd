// Element-wise kernels for SSE2 (the x86-64 baseline; no extra flags).
#define CNN_SIMD_NS sse2
#include "kernels/simd/eltwise_impl.hpp"

namespace cnn::kernels::simd {
const EltwiseFns& eltwise_sse2() { return sse2::Eltwise<xsimd::sse2>::table(); }
}  // namespace cnn::kernels::simd
