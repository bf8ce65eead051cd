// Scalar reference GEMM: the oracle the fast paths are tested against.
#include "kernels/gemm.hpp"

namespace cnn::kernels::ref {

void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (std::size_t p = 0; p < k; ++p) {
        const float av = ta == Trans::No ? a[i * lda + p] : a[p * lda + i];
        const float bv = tb == Trans::No ? b[p * ldb + j] : b[j * ldb + p];
        acc += static_cast<double>(av) * bv;
      }
      float& cv = c[i * ldc + j];
      cv = static_cast<float>(alpha * acc + (beta == 0.0f ? 0.0 : static_cast<double>(beta) * cv));
    }
  }
}

}  // namespace cnn::kernels::ref
