// The GEMM entry points: route to the instruction set chosen once by dispatch.cpp. The bodies
// are in simd/gemm_impl.hpp, instantiated per ISA in simd/gemm_<isa>.cpp.
#include "kernels/gemm.hpp"

#include <algorithm>
#include <atomic>
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
  require_isa(isa, "gemm");
  return variant(isa);
}

std::atomic<Precision> g_precision{Precision::Fp32};

// isa's bfloat16 GEMM on the CPU's own instructions, or null.
const simd::GemmFns* bf16_variant(Isa isa) {
  return isa == Isa::Avx512 ? simd::gemm_avx512_bf16() : nullptr;
}

// Every float of [data, data + count) rounded to bfloat16, in place.
void round_all(float* data, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) data[i] = bf16_round(data[i]);
}

// The product in Bf16 by the float path: op(A) (and op(B) unless packed, where the packing
// rounded it) rounded into copies of this thread's.
void run_rounded(const simd::GemmFns& fns, simd::GemmArgs g) {
  thread_local AlignedVector<float> ra, rb;
  // op(X) [rows, cols] rounded into out, row-major; X is that transposed when t is Yes.
  const auto rounded = [](Trans t, std::size_t rows, std::size_t cols, const float* x,
                          std::size_t ld, AlignedVector<float>& out) {
    out.resize(rows * cols);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < cols; ++c)
        out[r * cols + c] = bf16_round(t == Trans::No ? x[r * ld + c] : x[c * ld + r]);
    return out.data();
  };
  g.a = rounded(g.ta, g.m, g.k, g.a, g.lda, ra);
  g.ta = Trans::No;
  g.lda = g.k;
  if (!g.bp) {
    g.b = rounded(g.tb, g.k, g.n, g.b, g.ldb, rb);
    g.tb = Trans::No;
    g.ldb = g.n;
  }
  fns.run(g);
}

// The product on isa in precision: the float GEMM, the native bfloat16 one (packed_native: a
// packed B is in its format), or the float GEMM on rounded copies.
void run(Isa isa, Precision precision, const simd::GemmArgs& g, bool packed_native = false) {
  const simd::GemmFns& fns = variant(isa);
  if (precision == Precision::Fp32) return fns.run(g);
  const simd::GemmFns* native = bf16_variant(isa);
  // Products the float path computes unpacked (gemm_impl.hpp small()) are rounded copies here
  // too: packing would cost more than they do.
  const bool small = g.m <= 2 || g.m * g.n * g.k <= 32 * 32 * 32;
  if (g.bp ? packed_native : native && !small) return native->run(g);
  run_rounded(fns, g);
}

}  // namespace

namespace simd {

void run_tiled(
    const GemmArgs& g, std::size_t mr, std::size_t nr, std::size_t serial_below,
    const std::function<void(std::size_t, std::size_t, std::size_t, std::size_t)>& block) {
  const auto ceil_div = [](std::size_t a, std::size_t b) { return (a + b - 1) / b; };
  const std::size_t mt = ceil_div(g.m, mr), nt = ceil_div(g.n, nr);
  const std::size_t threads =
      g.m * g.n * g.k < serial_below ? 1 : static_cast<std::size_t>(num_threads());
  std::size_t tm = std::min(threads, mt);
  const std::size_t tn = std::min(threads / tm, nt);
  if (tm * tn <= 1) return block(0, g.m, 0, g.n);
  // Blocks are claimed from a counter, so a thread that is done (or a caller whose worker has
  // not been scheduled yet, on a busy machine) takes the blocks left. Where B is small next to
  // A (the conv shapes) rows are cut 4x finer: each block packs its own copy of B, which costs
  // little there.
  if (tn == 1 && mt >= 16 * tm && 16 * tm * g.n <= g.m) tm *= 4;
  const std::size_t blocks = tm * tn;
  std::atomic<std::size_t> next{0};
  parallel_for(0, threads, [&](std::size_t) {
    for (std::size_t t; (t = next.fetch_add(1, std::memory_order_relaxed)) < blocks;) {
      const std::size_t r = t / tn, s = t % tn;
      const std::size_t m0 = mt * r / tm * mr, m1 = std::min(mt * (r + 1) / tm * mr, g.m);
      const std::size_t n0 = nt * s / tn * nr, n1 = std::min(nt * (s + 1) / tn * nr, g.n);
      if (m0 < m1 && n0 < n1) block(m0, m1, n0, n1);
    }
  });
}

void scale_c(const GemmArgs& g) {
  for (std::size_t i = 0; i < g.m; ++i)
    for (std::size_t j = 0; j < g.n; ++j) {
      float* c = g.c + i * g.ldc + j;
      *c = g.beta == 0.0f ? 0.0f : g.beta * *c;
    }
}

}  // namespace simd

Precision matmul_precision() { return g_precision.load(std::memory_order_relaxed); }

void set_matmul_precision(Precision precision) {
  g_precision.store(precision, std::memory_order_relaxed);
}

const char* precision_name(Precision precision) {
  return precision == Precision::Bf16 ? "bf16" : "fp32";
}

std::uint16_t bf16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0) return static_cast<std::uint16_t>((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float bf16_value(std::uint16_t bits) {
  const std::uint32_t u = std::uint32_t{bits} << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

bool native_bf16(Isa isa) { return isa_runs(isa) && bf16_variant(isa) != nullptr; }

void gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
          const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
          std::size_t ldc) {
  static const Isa isa = active_isa();
  run(isa, matmul_precision(), {ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

void gemm_for(Isa isa, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
              const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
              float* c, std::size_t ldc) {
  checked(isa);
  run(isa, matmul_precision(), {ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc});
}

PackedB::PackedB(Isa isa) : isa_(isa) { checked(isa); }

std::size_t PackedB::floats(Isa isa, std::size_t k, std::size_t n) {
  // The float packing is the larger: a bfloat16 one holds pairs of k in a float's place.
  return checked(isa).packed_b_floats(k, n);
}

void PackedB::use_storage(float* storage) {
  storage_ = storage;
  if (storage_) decltype(data_)().swap(data_);
}

float* PackedB::prepare(std::size_t k, std::size_t n) {
  k_ = k;
  n_ = n;
  precision_ = matmul_precision();
  if (storage_) return storage_;
  data_.resize(variant(isa_).packed_b_floats(k, n));
  return data_.data();
}

namespace {
// The packing functions for precision: the native bfloat16 ones, or the float ones (whose
// result is then rounded in place for Bf16).
const simd::GemmFns& packer(Isa isa, Precision precision) {
  const simd::GemmFns* native = precision == Precision::Bf16 ? bf16_variant(isa) : nullptr;
  return native ? *native : variant(isa);
}
}  // namespace

void PackedB::pack(Trans tb, std::size_t k, std::size_t n, const float* b, std::size_t ldb) {
  float* dst = prepare(k, n);
  const simd::GemmFns& fns = packer(isa_, precision_);
  fns.pack_b(tb, k, n, b, ldb, dst);
  if (precision_ == Precision::Bf16 && &fns == &variant(isa_))
    round_all(dst, fns.packed_b_floats(k, n));
}

void PackedB::pack_combined(std::size_t k, std::size_t n, const float* b, std::size_t ldb,
                            std::size_t tap_stride, const float* coef, PackedB* const* dst,
                            std::size_t outs) {
  if (outs == 0) return;
  const Isa isa = dst[0]->isa_;
  std::vector<float*> out(outs);
  for (std::size_t o = 0; o < outs; ++o) {
    if (dst[o]->isa_ != isa)
      throw Error("gemm: packing into matrices of different instruction sets");
    out[o] = dst[o]->prepare(k, n);
  }
  const Precision precision = dst[0]->precision_;
  const simd::GemmFns& fns = packer(isa, precision);
  const bool round = precision == Precision::Bf16 && &fns == &variant(isa);
  // Rows are independent; each thread writes its own rows of every output (the bfloat16 packer
  // widens ranges to whole pairs of rows itself).
  parallel_for(0, k, [&](std::size_t p0, std::size_t p1) {
    fns.pack_b_combined(k, n, b, ldb, tap_stride, coef, out.data(), outs, p0, p1);
  });
  if (round) {
    const std::size_t floats = fns.packed_b_floats(k, n);
    parallel_for(0, outs, [&](std::size_t o) { round_all(out[o], floats); });
  }
}

void PackedB::multiply(Trans ta, std::size_t m, float alpha, const float* a, std::size_t lda,
                       float beta, float* c, std::size_t ldc) const {
  simd::GemmArgs g{ta, Trans::No, m, n_, k_, alpha, a, lda, nullptr, 0, beta, c, ldc};
  g.bp = storage_ ? storage_ : data_.data();
  run(isa_, precision_, g, precision_ == Precision::Bf16 && bf16_variant(isa_) != nullptr);
}

}  // namespace cnn::kernels
