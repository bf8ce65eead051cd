// The per-ISA GEMM entry points (simd/gemm_<isa>.cpp), called by kernels/gemm.cpp. Internal.
#pragma once

#include <cstddef>
#include <functional>

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

// One ISA's GEMM: the product, the size of a packed op(B) [k, n] in floats, and the packings.
struct GemmFns {
  void (*run)(const GemmArgs&);
  std::size_t (*packed_b_floats)(std::size_t k, std::size_t n);
  void (*pack_b)(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                 float* dst);
  // Rows [p0, p1) of outs packed weighted sums of nine [k, n] matrices (Gemm::pack_b_combined).
  void (*pack_b_combined)(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                          std::size_t tap_stride, const float* coef, float* const* dst,
                          std::size_t outs, std::size_t p0, std::size_t p1);
};

// How the GEMMs split C over the threads (kernels/gemm.cpp, compiled for the baseline ISA so that
// every variant shares one copy): below `serial_below` multiply-adds, block(0, m, 0, n) on the
// calling thread; else blocks of whole MR x NR tiles (rows first, columns when there are fewer
// row tiles than threads; rows 4x finer where B is small next to A), claimed from a counter by
// the threads. Each block is computed by one thread, so the result does not depend on which.
void run_tiled(const GemmArgs& g, std::size_t mr, std::size_t nr, std::size_t serial_below,
               const std::function<void(std::size_t m0, std::size_t m1, std::size_t n0,
                                        std::size_t n1)>& block);

// C = beta * C (beta = 0: zeros, whatever C held): the product when k = 0.
void scale_c(const GemmArgs& g);

// The bfloat16 GEMM on AVX512_BF16 (simd/gemm_bf16_avx512.cpp): the same functions, operands
// rounded to bfloat16 on the way into the packed panels (Precision::Bf16). A packed op(B) is
// pairs of k (two bfloat16 per float's place), so packed_b_floats is about half the fp32 one.
// Null when the CPU lacks AVX512_BF16 or the build has no such file.
const GemmFns* gemm_avx512_bf16();

const GemmFns& gemm_sse2();
const GemmFns& gemm_avx2();
const GemmFns& gemm_avx512();

}  // namespace cnn::kernels::simd
