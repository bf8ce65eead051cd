// Matrix multiply on row-major float buffers: C = alpha * op(A) * op(B) + beta * C, where
// op(X) is X or its transpose. op(A) is [m, k], op(B) is [k, n], C is [m, n]; lda/ldb/ldc are
// row strides in elements. beta = 0 ignores C's old contents (even NaN); beta = 1 accumulates.
#pragma once

#include <cstddef>

#include "kernels/dispatch.hpp"

namespace cnn::kernels {

enum class Trans { No, Yes };

// The entry point layers call: the variant of active_isa() (dispatch.hpp). Packed, cache-blocked
// and threaded over output blocks (kernels/simd/gemm_impl.hpp); for a given ISA the result is
// bitwise the same for any num_threads().
void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);

// One ISA's variant, for tests and benchmarks. Throws cnn::Error when isa is not in
// supported_isas() (Isa::Reference is always accepted: ref::gemm).
void gemm_for(Isa isa, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k,
              float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
              float beta, float* c, std::size_t ldc);

namespace ref {
// The scalar oracle: plain loops, summing over k in order, in double per output element.
void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc);
}  // namespace ref

}  // namespace cnn::kernels
