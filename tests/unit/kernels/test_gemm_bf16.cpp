// The GEMM in Precision::Bf16, on every ISA this machine runs (the native AVX512_BF16 kernel
// where the CPU has it, the rounded copies on the float path elsewhere, the scalar reference
// under them), against double-precision sums.
//
// Error bounds, per element, with S = |alpha| sum_p |A(i, p)| |B(p, j)|:
//   - against the double sum of the rounded operands' products: k 2^-23 S + 2^-23 |beta c|
//     (the products are exact in float; what is left are k float additions, the alpha scaling
//     and the beta term, each rounded once);
//   - against the double sum of the unrounded operands' products: (2^-7 + 2^-14 + k 2^-23) S +
//     2^-23 |beta c| (each operand is off by at most 2^-8 of itself after rounding).
// And bitwise: the rounding is bf16_bits's on every path (a product with an identity matrix
// reads the rounded operands back), results do not depend on the thread count, and a packed
// B multiplies as gemm() does.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "isa_test_util.hpp"
#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

namespace {

using cnn::test::ThreadsGuard;
// Every ISA to test: the reference and the SIMD variants.
std::vector<Isa> all_isas() { return cnn::test::reference_and_simd_isas(); }

std::string name_of(Isa isa) {
  return isa_name(isa) + (native_bf16(isa) ? " (native bf16)" : " (rounded copies)");
}

float from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

struct Problem {
  Trans ta, tb;
  std::size_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  std::vector<float> a, b, c0;
};

Problem make(cnn::Rng& rng, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k,
             std::size_t pad, float alpha, float beta) {
  Problem p{ta, tb, m, n, k, 0, 0, 0, alpha, beta, {}, {}, {}};
  p.lda = (ta == Trans::No ? k : m) + pad;
  p.ldb = (tb == Trans::No ? n : k) + pad;
  p.ldc = n + pad;
  p.a.resize((ta == Trans::No ? m : k) * p.lda);
  p.b.resize((tb == Trans::No ? k : n) * p.ldb);
  p.c0.resize(m * p.ldc);
  for (auto& v : p.a) v = rng.uniform(-1, 1);
  for (auto& v : p.b) v = rng.uniform(-1, 1);
  for (auto& v : p.c0)
    v = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : rng.uniform(-1, 1);
  return p;
}

float op_a(const Problem& p, std::size_t i, std::size_t q) {
  return p.ta == Trans::No ? p.a[i * p.lda + q] : p.a[q * p.lda + i];
}
float op_b(const Problem& p, std::size_t q, std::size_t j) {
  return p.tb == Trans::No ? p.b[q * p.ldb + j] : p.b[j * p.ldb + q];
}

std::vector<float> run(Isa isa, const Problem& p) {
  std::vector<float> c = p.c0;
  gemm_for(isa, p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta,
           c.data(), p.ldc);
  return c;
}

// The largest error of got against both double sums, as a fraction of the bound it must keep
// (<= 1 passes), and the padding untouched; "" or what is wrong.
struct Verdict {
  double rounded = 0.0, unrounded = 0.0;  // worst error / bound
  std::string bad;
};

Verdict judge(const Problem& p, const std::vector<float>& got) {
  Verdict v;
  const double u = std::ldexp(1.0, -23);
  for (std::size_t i = 0; i < p.m; ++i)
    for (std::size_t j = 0; j < p.ldc; ++j) {
      const std::size_t at = i * p.ldc + j;
      if (j >= p.n) {
        if (bits_of(got[at]) != bits_of(p.c0[at])) v.bad = "wrote padding";
        continue;
      }
      double exact = 0.0, rounded = 0.0, s = 0.0;
      for (std::size_t q = 0; q < p.k; ++q) {
        const float a = op_a(p, i, q), b = op_b(p, q, j);
        exact += double(a) * b;
        rounded += double(bf16_round(a)) * bf16_round(b);
        s += std::fabs(double(a) * b);
      }
      s *= std::fabs(p.alpha);
      const double old = p.beta == 0.0f ? 0.0 : double(p.beta) * p.c0[at];
      const double tail = u * std::fabs(old) + 1e-30;
      const double r_bound = double(p.k) * u * s + tail;
      const double e_bound =
          (std::ldexp(1.0, -7) + std::ldexp(1.0, -14) + double(p.k) * u) * s + tail;
      const double r_err = std::fabs(got[at] - (p.alpha * rounded + old));
      const double e_err = std::fabs(got[at] - (p.alpha * exact + old));
      if (!(r_err <= r_bound) || !(e_err <= e_bound))
        v.bad = "i=" + std::to_string(i) + " j=" + std::to_string(j) + " got " +
                std::to_string(got[at]) + " want " + std::to_string(p.alpha * rounded + old);
      v.rounded = std::max(v.rounded, r_err / r_bound);
      v.unrounded = std::max(v.unrounded, e_err / e_bound);
    }
  return v;
}

std::string describe(const std::string& isa, const Problem& p) {
  return isa + " ta=" + (p.ta == Trans::Yes ? "T" : "N") +
         " tb=" + (p.tb == Trans::Yes ? "T" : "N") + " m=" + std::to_string(p.m) +
         " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k) +
         " alpha=" + std::to_string(p.alpha) + " beta=" + std::to_string(p.beta);
}

}  // namespace

TEST_CASE("bf16_bits rounds to nearest even, flushes subnormals and keeps NaNs quiet") {
  struct Case {
    std::uint32_t in;
    std::uint16_t out;
  };
  // The values vcvtne2ps2bf16 gave on an AVX512_BF16 machine (Zen 5) for these inputs.
  const Case cases[] = {
      {0x3f800000, 0x3f80},  // 1
      {0x3f808000, 0x3f80},  // a tie, to the even 1
      {0x3f818000, 0x3f82},  // a tie, up to the even
      {0x3f807fff, 0x3f80},  // below the tie
      {0x3f808001, 0x3f81},  // above it
      {0x00000001, 0x0000},  // subnormals become zeros of their sign
      {0x007fffff, 0x0000}, {0x80000001, 0x8000},
      {0x00800000, 0x0080},                        // the smallest normal stays
      {0x7f7fffff, 0x7f80},                        // the largest float rounds up to infinity
      {0x7f800000, 0x7f80},                        // infinity
      {0xff800000, 0xff80}, {0x7f800001, 0x7fc0},  // a signalling NaN comes out quiet
      {0xff800001, 0xffc0}, {0x7fc00001, 0x7fc0},
  };
  for (const Case& c : cases) {
    CAPTURE(c.in);
    CHECK(bf16_bits(from_bits(c.in)) == c.out);
  }
  CHECK(bf16_value(0x3f80) == 1.0f);
  CHECK(bf16_round(1.00390625f) == 1.0f);  // 1 + 2^-8: a tie
  CHECK(bf16_round(1.01171875f) == 1.015625f);
}

TEST_CASE("gemm in bf16: a product with the identity reads back the rounded operands, bitwise") {
  // Random bit patterns (finite: infinities times the identity's zeros would be NaN), subnormals
  // and ties among them: C = op(A) I = bf16(op(A)), and C = I op(B) = bf16(op(B)), exactly,
  // whatever path rounds them (the native packers' vector conversion included).
  MatmulPrecisionScope bf16(Precision::Bf16);
  cnn::Rng rng(21);
  const std::size_t m = 30, k = 70;  // large enough to be packed (m n k > 32^3)
  std::vector<float> x(m * k), eye(k * k, 0.0f);
  for (std::size_t i = 0; i < k; ++i) eye[i * k + i] = 1.0f;
  for (std::size_t i = 0; i < x.size(); ++i) {
    std::uint32_t u = static_cast<std::uint32_t>(rng.uniform(0, 1) * 4294967295.0);
    if (i % 7 == 0) u &= 0x807fffffu;                        // a subnormal
    if (i % 7 == 1) u = (u & 0xffff0000u) | 0x8000u;         // a tie
    if ((u & 0x7f800000u) >= 0x7f000000u) u &= 0xbfffffffu;  // nothing that rounds to infinity
    x[i] = from_bits(u);
  }
  std::vector<float> xt(k * m);  // x transposed
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t q = 0; q < k; ++q) xt[q * m + i] = x[i * k + q];
  for (Isa isa : all_isas()) {
    CAPTURE(name_of(isa));
    for (auto t : {Trans::No, Trans::Yes}) {
      const float* src = t == Trans::No ? x.data() : xt.data();
      const std::size_t ld = t == Trans::No ? k : m;
      std::vector<float> c(m * k);
      gemm_for(isa, t, Trans::No, m, k, k, 1.0f, src, ld, eye.data(), k, 0.0f, c.data(), k);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < m * k; ++i)
        wrong +=
            bits_of(c[i]) != bits_of(bf16_round(x[i])) && !(c[i] == 0 && bf16_round(x[i]) == 0);
      CHECK_MESSAGE(wrong == 0, "A transposed: " << (t == Trans::Yes));
      // C [m, k] = I [m, m] op(B), op(B) = x [m, k] (given as xt when transposed).
      std::vector<float> eye_m(m * m, 0.0f);
      for (std::size_t i = 0; i < m; ++i) eye_m[i * m + i] = 1.0f;
      std::vector<float> d(m * k);
      gemm_for(isa, Trans::No, t, m, k, m, 1.0f, eye_m.data(), m,
               t == Trans::No ? x.data() : xt.data(), t == Trans::No ? k : m, 0.0f, d.data(), k);
      wrong = 0;
      for (std::size_t i = 0; i < m * k; ++i)
        wrong +=
            bits_of(d[i]) != bits_of(bf16_round(x[i])) && !(d[i] == 0 && bf16_round(x[i]) == 0);
      CHECK_MESSAGE(wrong == 0, "B transposed: " << (t == Trans::Yes));
    }
  }
}

TEST_CASE("gemm in bf16: every ISA within the stated bounds, on small, odd and blocked shapes") {
  ThreadsGuard guard;
  set_num_threads(2);
  MatmulPrecisionScope bf16(Precision::Bf16);
  cnn::Rng rng(22);
  struct Case {
    std::size_t m, n, k, pad;
  };
  const Case cases[] = {
      {1, 1, 1, 0},       {2, 17, 9, 1},    {7, 16, 15, 0},  // small: rounded copies everywhere
      {15, 33, 31, 0},    {29, 64, 288, 3},                  // odd k; a conv shape
      {300, 257, 129, 0},                                    // threaded, ragged everywhere
      {61, 600, 1601, 5},                                    // k in 3 blocks, 2 column panels
      {10, 700, 320, 0},                                     // threaded over columns
  };
  const float ab[][2] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -2.0f}, {-1.5f, 0.25f}};
  std::size_t count = 0;
  double worst_r = 0.0, worst_e = 0.0;
  for (const Case& cs : cases)
    for (auto ta : {Trans::No, Trans::Yes})
      for (auto tb : {Trans::No, Trans::Yes}) {
        const float* alpha_beta = ab[count++ % 4];
        const Problem p = make(rng, ta, tb, cs.m, cs.n, cs.k, cs.pad, alpha_beta[0], alpha_beta[1]);
        for (Isa isa : all_isas()) {
          const Verdict v = judge(p, run(isa, p));
          REQUIRE_MESSAGE(v.bad.empty(), describe(name_of(isa), p) << ": " << v.bad);
          worst_r = std::max(worst_r, v.rounded);
          worst_e = std::max(worst_e, v.unrounded);
        }
      }
  MESSAGE("bf16 gemm: worst error / bound " << worst_r << " (rounded operands), " << worst_e
                                            << " (float operands)");
  // The products are of the rounded operands: the float GEMM's result is outside the first bound
  // (it errs by about sqrt(k) 2^-9 |A||B| against the rounded sum).
  const Problem p = make(rng, Trans::No, Trans::No, 64, 64, 288, 0, 1.0f, 0.0f);
  set_matmul_precision(Precision::Fp32);
  const Verdict as_float = judge(p, run(active_isa(), p));
  set_matmul_precision(Precision::Bf16);
  CHECK(!as_float.bad.empty());
  CHECK(as_float.rounded > 4.0);  // measured 19
  MESSAGE("the float GEMM against the rounded operands: error / bound " << as_float.rounded);
}

TEST_CASE("gemm in bf16: bitwise the same for 1, 2 and 3 threads; PackedB multiplies as gemm") {
  ThreadsGuard guard;
  MatmulPrecisionScope bf16(Precision::Bf16);
  cnn::Rng rng(23);
  struct Case {
    Trans ta, tb;
    std::size_t m, n, k;
  };
  const Case cases[] = {
      {Trans::No, Trans::No, 1000, 64, 288},  // a conv forward
      {Trans::Yes, Trans::No, 288, 64, 901},  // a weight gradient, odd k
      {Trans::No, Trans::Yes, 9, 1100, 250},  // split over columns
      {Trans::Yes, Trans::Yes, 130, 520, 1601},
  };
  for (const Case& cs : cases) {
    const Problem p = make(rng, cs.ta, cs.tb, cs.m, cs.n, cs.k, 1, 1.0f, 0.5f);
    for (Isa isa : all_isas()) {
      set_num_threads(1);
      const std::vector<float> one = run(isa, p);
      for (int t : {2, 3}) {
        set_num_threads(t);
        const std::vector<float> many = run(isa, p);
        REQUIRE_MESSAGE(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0,
                        describe(name_of(isa), p) << ": 1 vs " << t << " threads");
        PackedB packed(isa);
        packed.pack(p.tb, p.k, p.n, p.b.data(), p.ldb);
        CHECK(packed.precision() == Precision::Bf16);
        std::vector<float> c = p.c0;
        {
          // The packing's precision travels with it.
          MatmulPrecisionScope back(Precision::Fp32);
          packed.multiply(p.ta, p.m, p.alpha, p.a.data(), p.lda, p.beta, c.data(), p.ldc);
        }
        REQUIRE_MESSAGE(std::memcmp(one.data(), c.data(), c.size() * sizeof(float)) == 0,
                        describe(name_of(isa), p) << ": packed, " << t << " threads");
      }
    }
  }
  CHECK(matmul_precision() == Precision::Bf16);
}

TEST_CASE("PackedB::pack_combined in bf16: the float sums of the taps, rounded, bitwise") {
  // Nine taps [k, n] with random coefficients for 5 outputs; read back through the identity.
  ThreadsGuard guard;
  MatmulPrecisionScope bf16(Precision::Bf16);
  cnn::Rng rng(24);
  const std::size_t k = 37, n = 45, outs = 5;  // odd k: a half pair at the end
  std::vector<float> taps(9 * k * n), coef(9 * outs), eye(k * k, 0.0f);
  for (auto& v : taps) v = rng.uniform(-1, 1);
  for (auto& v : coef) v = rng.uniform(-1, 1);
  for (std::size_t i = 0; i < k; ++i) eye[i * k + i] = 1.0f;
  for (Isa isa : all_isas()) {
    if (isa == Isa::Reference) continue;  // PackedB's combination is the SIMD packers'
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      std::vector<PackedB> packed(outs, PackedB(isa));
      std::vector<PackedB*> dst;
      for (auto& p : packed) dst.push_back(&p);
      PackedB::pack_combined(k, n, taps.data(), n, k * n, coef.data(), dst.data(), outs);
      for (std::size_t o = 0; o < outs; ++o) {
        std::vector<float> c(k * n);
        packed[o].multiply(Trans::No, k, 1.0f, eye.data(), k, 0.0f, c.data(), n);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < k * n; ++i) {
          float acc = coef[9 * o] * taps[i];
          for (std::size_t t = 1; t < 9; ++t)
            acc = std::fma(coef[9 * o + t], taps[t * k * n + i], acc);
          wrong += bits_of(c[i]) != bits_of(bf16_round(acc));
        }
        REQUIRE_MESSAGE(wrong == 0, name_of(isa) << " output " << o << ", " << threads
                                                 << " threads: " << wrong << " values differ");
      }
    }
  }
}

TEST_CASE("MatmulPrecisionScope puts back the precision before it") {
  CHECK(matmul_precision() == Precision::Fp32);
  {
    MatmulPrecisionScope outer(Precision::Bf16);
    CHECK(matmul_precision() == Precision::Bf16);
    {
      MatmulPrecisionScope inner(Precision::Fp32);
      CHECK(matmul_precision() == Precision::Fp32);
    }
    CHECK(matmul_precision() == Precision::Bf16);
  }
  CHECK(matmul_precision() == Precision::Fp32);
  CHECK(std::string(precision_name(Precision::Bf16)) == "bf16");
}
