// The GEMM entry points: route to the instruction set chosen once by dispatch.cpp. The bodies
// are in simd/gemm_impl.hpp, instantiated per ISA in simd/gemm_<isa>.cpp.
#include "kernels/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/simd/gemm_simd.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"

namespace cnn::kernels {
namespace {

void ref_run(const simd::GemmArgs& g) {
  // A packed B of the reference is op(B) itself, row-major [k, n].
  if (g.bp)
    ref::gemm(g.ta, Trans::No, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.bp, g.n, g.beta, g.c, g.ldc);
  else
    ref::gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, g.a, g.lda, g.b, g.ldb, g.beta, g.c, g.ldc);
}

std::size_t ref_packed_b_floats(std::size_t k, std::size_t n) { return k * n; }

void ref_pack_b(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                float* dst) {
  for (std::size_t p = 0; p < k; ++p)
    for (std::size_t j = 0; j < n; ++j)
      dst[p * n + j] = tb == Trans::No ? b[p * ldb + j] : b[j * ldb + p];
}

void ref_pack_b_combined(std::size_t /*k*/, std::size_t n, const float* b, std::size_t ldb,
                         std::size_t tap_stride, const float* coef, float* const* dst,
                         std::size_t outs, std::size_t p0, std::size_t p1) {
  for (std::size_t o = 0; o < outs; ++o)
    for (std::size_t p = p0; p < p1; ++p)
      for (std::size_t j = 0; j < n; ++j) {
        const float* g = b + p * ldb + j;
        float acc = coef[9 * o] * g[0];
        for (std::size_t t = 1; t < 9; ++t) acc = std::fma(coef[9 * o + t], g[t * tap_stride], acc);
        dst[o][p * n + j] = acc;
      }
}

const simd::GemmFns& variant(Isa isa) {
  static const simd::GemmFns ref{ref_run, ref_packed_b_floats, ref_pack_b, ref_pack_b_combined};
  switch (isa) {
    case Isa::Reference:
      return ref;
    case Isa::Sse2:
      return simd::gemm_sse2();
    case Isa::Avx2:
      return simd::gemm_avx2();
    case Isa::Avx512:
      return simd::gemm_avx512();
  }
  return ref;
}

const simd::GemmFns& checked(Isa isa) {
  const auto& isas = supported_isas();
  if (isa != Isa::Reference && std::find(isas.begin(), isas.end(), isa) == isas.end())
    throw Error("gemm: instruction set " + isa_name(isa) + " is not supported by this CPU");
  return variant(isa);
}

const simd::GemmFns& active() {
  static const simd::GemmFns& fns = variant(active_isa());
  return fns;
}

}  // namespace

void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  active().run({ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

void gemm_for(Isa isa, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
              const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
              float* c, std::size_t ldc) {
  checked(isa).run({ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

PackedB::PackedB(Isa isa) : isa_(isa) { checked(isa); }

std::size_t PackedB::floats(Isa isa, std::size_t k, std::size_t n) {
  return checked(isa).packed_b_floats(k, n);
}

void PackedB::use_storage(float* storage) {
  storage_ = storage;
  if (storage_) decltype(data_)().swap(data_);
}

float* PackedB::prepare(std::size_t k, std::size_t n) {
  k_ = k;
  n_ = n;
  if (storage_) return storage_;
  data_.resize(variant(isa_).packed_b_floats(k, n));
  return data_.data();
}

void PackedB::pack(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb) {
  variant(isa_).pack_b(tb, k, n, b, ldb, prepare(k, n));
}

void PackedB::pack_combined(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                            std::size_t tap_stride, const float* coef, PackedB* const* dst,
                            std::size_t outs) {
  if (outs == 0) return;
  const Isa isa = dst[0]->isa_;
  const simd::GemmFns& fns = variant(isa);
  std::vector<float*> out(outs);
  for (std::size_t o = 0; o < outs; ++o) {
    if (dst[o]->isa_ != isa)
      throw Error("gemm: packing into matrices of different instruction sets");
    out[o] = dst[o]->prepare(k, n);
  }
  // Rows are independent; each thread writes its own rows of every output.
  parallel_for(0, k, [&](std::size_t p0, std::size_t p1) {
    fns.pack_b_combined(k, n, b, ldb, tap_stride, coef, out.data(), outs, p0, p1);
  });
}

void PackedB::multiply(Trans ta, std::size_t m, float alpha, const float* a, std::size_t lda,
                       float beta, float* c, std::size_t ldc) const {
  simd::GemmArgs g{ta, Trans::No, m, n_, k_, alpha, a, lda, nullptr, 0, beta, c, ldc};
  g.bp = storage_ ? storage_ : data_.data();
  variant(isa_).run(g);
}

}  // namespace cnn::kernels
