// Portable GEMM used until the xsimd micro-kernel lands (issue #4): loops ordered so the inner
// one runs along contiguous rows of B and C, which compilers vectorise. Transposed operands are
// handled by choosing the loop order, not by copying.
#include "kernels/gemm.hpp"

#include <algorithm>
#include <vector>

namespace cnn::kernels {

void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    float* crow = c + i * ldc;
    if (beta == 0.0f)
      std::fill(crow, crow + n, 0.0f);
    else if (beta != 1.0f)
      for (std::size_t j = 0; j < n; ++j) crow[j] *= beta;
  }
  if (tb == Trans::No) {
    // C[i, :] += alpha * A[i, p] * B[p, :]
    for (std::size_t i = 0; i < m; ++i) {
      float* crow = c + i * ldc;
      for (std::size_t p = 0; p < k; ++p) {
        const float av = alpha * (ta == Trans::No ? a[i * lda + p] : a[p * lda + i]);
        const float* brow = b + p * ldb;
        for (std::size_t j = 0; j < n; ++j) crow[j] += av * brow[j];
      }
    }
  } else {
    // C[i, j] += alpha * dot(A[i, :], B[j, :]); A rows are contiguous when not transposed.
    std::vector<float> arow(k);
    for (std::size_t i = 0; i < m; ++i) {
      for (std::size_t p = 0; p < k; ++p) arow[p] = ta == Trans::No ? a[i * lda + p] : a[p * lda + i];
      float* crow = c + i * ldc;
      for (std::size_t j = 0; j < n; ++j) {
        const float* brow = b + j * ldb;
        float acc = 0.0f;
        for (std::size_t p = 0; p < k; ++p) acc += arow[p] * brow[p];
        crow[j] += alpha * acc;
      }
    }
  }
}

}  // namespace cnn::kernels
