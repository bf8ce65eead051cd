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
  // Not null: op(B) packed beforehand by the same ISA's pack_b (b, ldb and tb are then unused).
  const float* bp = nullptr;
};

// One ISA's GEMM: the product, the size of a packed op(B) [k, n] in floats, and the packing.
struct GemmFns {
  void (*run)(const GemmArgs&);
  std::size_t (*packed_b_floats)(std::size_t k, std::size_t n);
  void (*pack_b)(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                 float* dst);
};

const GemmFns& gemm_sse2();
const GemmFns& gemm_avx2();
const GemmFns& gemm_avx512();

}  // namespace cnn::kernels::simd
