// The per-ISA GEMM entry points (simd/gemm_<isa>.cpp), called by kernels/gemm.cpp. Internal.
#pragma once

#include <cstddef>

#include "kernels/gemm.hpp"

namespace cnn::kernels::simd {

// The arguments of kernels::gemm, in one place.
struct GemmArgs {
  Trans ta, tb;
  std::size_t m, n, k;
  float alpha;
  const float* a;
  std::size_t lda;
  const float* b;
  std::size_t ldb;
  float beta;
  float* c;
  std::size_t ldc;
};

void gemm_sse2(const GemmArgs& g);
void gemm_avx2(const GemmArgs& g);
void gemm_avx512(const GemmArgs& g);

}  // namespace cnn::kernels::simd
