// The GEMM entry points: route to the instruction set chosen once by dispatch.cpp. The bodies
// are in simd/gemm_impl.hpp, instantiated per ISA in simd/gemm_<isa>.cpp.
#include "kernels/gemm.hpp"

#include <algorithm>

#include "kernels/simd/gemm_simd.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {
namespace {

using Fn = void (*)(const simd::GemmArgs&);

void ref_entry(const simd::GemmArgs& g) {
  ref::gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
}

Fn variant(Isa isa) {
  switch (isa) {
    case Isa::Reference: return ref_entry;
    case Isa::Sse2: return simd::gemm_sse2;
    case Isa::Avx2: return simd::gemm_avx2;
    case Isa::Avx512: return simd::gemm_avx512;
  }
  return ref_entry;
}

}  // namespace

void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  static const Fn fn = variant(active_isa());
  fn({ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

void gemm_for(Isa isa, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k,
              float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
              float beta, float* c, std::size_t ldc) {
  const auto& isas = supported_isas();
  if (isa != Isa::Reference && std::find(isas.begin(), isas.end(), isa) == isas.end())
    throw Error("gemm: instruction set " + isa_name(isa) + " is not supported by this CPU");
  variant(isa)({ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

}  // namespace cnn::kernels
