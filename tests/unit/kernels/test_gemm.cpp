// The GEMM against the scalar reference, for every ISA variant this machine runs, on awkward
// sizes, all transpose modes, padded strides and alpha/beta combinations; thread-count
// independence; and the thread pool under it.
//
// Tolerance: |ours - ref| <= 1e-6 * (sqrt(k) * |alpha| * sum_p |a_ip| |b_pj| + |beta * c_ij| +
// 1e-30). The reference sums in double, ours in float with fused multiply-adds (k blocks, then
// alpha * acc + beta * c): the rounding errors of k float additions grow like sqrt(k) * eps times
// the sum of magnitudes (eps = 1.2e-7; 1e-6 leaves a factor 8 of margin), plus one rounding of
// the beta term.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/threading.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

namespace {

struct Problem {
  Trans ta, tb;
  std::size_t m, n, k, lda, ldb, ldc;
  float alpha, beta;
  std::vector<float> a, b, c0;  // c0: C before the call (NaN where beta = 0)
};

// Row length of each operand plus pad extra elements of stride.
Problem make_problem(cnn::Rng& rng, Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k,
                     std::size_t pad, float alpha, float beta) {
  Problem p{ta, tb, m, n, k, 0, 0, 0, alpha, beta, {}, {}, {}};
  const std::size_t a_rows = ta == Trans::No ? m : k, a_cols = ta == Trans::No ? k : m;
  const std::size_t b_rows = tb == Trans::No ? k : n, b_cols = tb == Trans::No ? n : k;
  p.lda = a_cols + pad;
  p.ldb = b_cols + pad;
  p.ldc = n + pad;
  p.a.resize(a_rows * p.lda);
  p.b.resize(b_rows * p.ldb);
  p.c0.resize(m * p.ldc);
  for (auto& v : p.a) v = rng.uniform(-1, 1);
  for (auto& v : p.b) v = rng.uniform(-1, 1);
  for (auto& v : p.c0)
    v = beta == 0.0f ? std::numeric_limits<float>::quiet_NaN() : rng.uniform(-1, 1);
  return p;
}

std::vector<float> run(Isa isa, const Problem& p) {
  std::vector<float> c = p.c0;
  gemm_for(isa, p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta,
           c.data(), p.ldc);
  return c;
}

// What C must be: ref::gemm's result and, per element, the tolerance stated at the top.
struct Expected {
  std::vector<float> c;
  std::vector<double> tol;
};

Expected expect(const Problem& p) {
  Expected e{p.c0, std::vector<double>(p.c0.size(), 0.0)};
  ref::gemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta,
            e.c.data(), p.ldc);
  for (std::size_t i = 0; i < p.m; ++i)
    for (std::size_t j = 0; j < p.n; ++j) {
      double mag = 0.0;
      for (std::size_t q = 0; q < p.k; ++q) {
        const float av = p.ta == Trans::No ? p.a[i * p.lda + q] : p.a[q * p.lda + i];
        const float bv = p.tb == Trans::No ? p.b[q * p.ldb + j] : p.b[j * p.ldb + q];
        mag += std::fabs(double(av) * bv);
      }
      const std::size_t idx = i * p.ldc + j;
      const double old = p.beta == 0.0f ? 0.0 : std::fabs(double(p.beta) * p.c0[idx]);
      e.tol[idx] = 1e-6 * (std::sqrt(double(p.k)) * std::fabs(p.alpha) * mag + old) + 1e-30;
    }
  return e;
}

// Checks every element of C, and that the padding between rows is untouched; one assertion per
// problem, naming the first bad element.
void check_against(const Problem& p, const Expected& e, const std::vector<float>& got,
                   const std::string& what) {
  std::string bad;
  for (std::size_t i = 0; i < p.m && bad.empty(); ++i)
    for (std::size_t j = 0; j < p.ldc && bad.empty(); ++j) {
      const std::size_t idx = i * p.ldc + j;
      if (j >= p.n) {  // padding: must keep its old value, bit for bit
        if (std::memcmp(&got[idx], &p.c0[idx], sizeof(float)) != 0)
          bad = "wrote padding at i=" + std::to_string(i) + " j=" + std::to_string(j);
      } else if (!(std::fabs(double(got[idx]) - e.c[idx]) <= e.tol[idx])) {
        bad = "i=" + std::to_string(i) + " j=" + std::to_string(j) + ": got " +
              std::to_string(got[idx]) + ", ref " + std::to_string(e.c[idx]) + ", tol " +
              std::to_string(e.tol[idx]);
      }
    }
  REQUIRE_MESSAGE(bad.empty(), what << ": " << bad);
}

std::string describe(Isa isa, const Problem& p) {
  return isa_name(isa) + " ta=" + (p.ta == Trans::Yes ? "T" : "N") +
         " tb=" + (p.tb == Trans::Yes ? "T" : "N") + " m=" + std::to_string(p.m) +
         " n=" + std::to_string(p.n) + " k=" + std::to_string(p.k) +
         " lda=" + std::to_string(p.lda) + " ldb=" + std::to_string(p.ldb) +
         " ldc=" + std::to_string(p.ldc) + " alpha=" + std::to_string(p.alpha) +
         " beta=" + std::to_string(p.beta);
}

struct AlphaBeta {
  float alpha, beta;
};
const AlphaBeta kAlphaBeta[] = {{1.0f, 0.0f}, {1.0f, 1.0f}, {0.5f, -2.0f}, {-1.5f, 0.25f}};

// Restores the default thread count when a test ends, even on failure.
struct ThreadsGuard {
  ~ThreadsGuard() { set_num_threads(0); }
};

}  // namespace

TEST_CASE("gemm: the machine has SIMD variants and gemm() is the active one") {
  const auto& isas = supported_isas();
  REQUIRE(!isas.empty());  // x86-64 always has SSE2
  MESSAGE("gemm variants on this machine: " << [&] {
    std::string s;
    for (auto isa : isas) s += isa_name(isa) + " ";
    return s + "(active: " + isa_name(active_isa()) + ")";
  }());
  cnn::Rng rng(5);
  const Problem p = make_problem(rng, Trans::No, Trans::Yes, 33, 45, 70, 1, 1.0f, 0.5f);
  std::vector<float> c = p.c0;
  gemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta, c.data(),
       p.ldc);
  const std::vector<float> want = run(active_isa(), p);
  CHECK(std::memcmp(c.data(), want.data(), c.size() * sizeof(float)) == 0);
  // Isa::Reference is ref::gemm.
  std::vector<float> r = p.c0;
  ref::gemm(p.ta, p.tb, p.m, p.n, p.k, p.alpha, p.a.data(), p.lda, p.b.data(), p.ldb, p.beta,
            r.data(), p.ldc);
  const std::vector<float> via = run(Isa::Reference, p);
  CHECK(std::memcmp(r.data(), via.data(), r.size() * sizeof(float)) == 0);
}

TEST_CASE("gemm: every ISA equals the reference on sizes 1..127 in m, n, k, all transposes") {
  // Every (m, n, k) in {1, 7, 8, 9, 15, 16, 17, 127}^3 for each transpose pair: the vector tails
  // (n mod 4/8/16), partial MR-row tiles (m mod 4/6/14), the small path and the packed path.
  // Strides alternate between tight and padded by 3; alpha/beta cycle through four pairs.
  cnn::Rng rng(3);
  const std::size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 127};
  std::size_t count = 0;
  for (auto ta : {Trans::No, Trans::Yes})
    for (auto tb : {Trans::No, Trans::Yes})
      for (std::size_t m : sizes)
        for (std::size_t n : sizes)
          for (std::size_t k : sizes) {
            const AlphaBeta ab = kAlphaBeta[count % 4];
            const Problem p =
                make_problem(rng, ta, tb, m, n, k, count / 4 % 2 ? 3 : 0, ab.alpha, ab.beta);
            ++count;
            const Expected want = expect(p);
            for (Isa isa : supported_isas()) check_against(p, want, run(isa, p), describe(isa, p));
          }
}

TEST_CASE("gemm: every ISA equals the reference on larger shapes (several blocks, threads)") {
  ThreadsGuard guard;
  set_num_threads(2);
  cnn::Rng rng(11);
  struct Case {
    std::size_t m, n, k, pad;
  };
  const Case cases[] = {
      {300, 257, 129, 0},  // threaded over rows; ragged in every dimension
      {61, 600, 800, 5},   // k in 3 blocks, n in 2 panels (NC = 512)
      {10, 700, 320, 0},   // fewer row tiles than threads: threaded over columns
      {64, 64, 200, 56},   // lda = 256 floats (1 KiB) when A is not transposed: read in place
      {30, 40, 100, 924},  // lda = 1024 floats (4 KiB): A packed (AVX-512), read in place (AVX2)
      {2100, 16, 70, 2},   // many rows, narrow B: rows cut into 4 blocks per thread
  };
  for (const Case& cs : cases)
    for (auto ta : {Trans::No, Trans::Yes})
      for (auto tb : {Trans::No, Trans::Yes}) {
        const AlphaBeta ab = kAlphaBeta[(cs.m + std::size_t(ta) * 2 + std::size_t(tb)) % 4];
        const Problem p = make_problem(rng, ta, tb, cs.m, cs.n, cs.k, cs.pad, ab.alpha, ab.beta);
        const Expected want = expect(p);
        for (Isa isa : supported_isas()) check_against(p, want, run(isa, p), describe(isa, p));
      }
}

TEST_CASE("gemm: results are bitwise identical for 1, 2 and 3 threads") {
  ThreadsGuard guard;
  cnn::Rng rng(7);
  struct Case {
    Trans ta, tb;
    std::size_t m, n, k;
  };
  const Case cases[] = {
      {Trans::No, Trans::No, 300, 257, 129},
      {Trans::No, Trans::No, 1000, 64, 288},  // a conv forward shape
      {Trans::Yes, Trans::No, 288, 64, 900},  // a weight gradient: long k, never split
      {Trans::No, Trans::Yes, 9, 1100, 250},  // split over columns
      {Trans::Yes, Trans::No, 2100, 16, 70},  // 4 row blocks per thread, claimed dynamically
      {Trans::Yes, Trans::Yes, 130, 520, 400},
  };
  for (const Case& cs : cases) {
    const Problem p = make_problem(rng, cs.ta, cs.tb, cs.m, cs.n, cs.k, 1, 1.0f, 0.5f);
    for (Isa isa : supported_isas()) {
      set_num_threads(1);
      const std::vector<float> one = run(isa, p);
      for (int t : {2, 3}) {
        set_num_threads(t);
        const std::vector<float> many = run(isa, p);
        REQUIRE_MESSAGE(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0,
                        describe(isa, p) << " differs between 1 and " << t << " threads");
      }
    }
  }
}

TEST_CASE("gemm: a narrow C (one vector wide) is bitwise the same columns of a wider one") {
  // n = 4, 8, 16 (one vector of SSE2, AVX2, AVX-512: the narrow micro-kernel), against the same
  // A times B with 37 more columns: every element of C is the same operations in the same order
  // however wide C is. All transposes, beta 0 and 0.5, A read in place and packed (lda padded).
  cnn::Rng rng(17);
  for (Isa isa : supported_isas())
    for (std::size_t n : {4, 8, 16})
      for (auto ta : {Trans::No, Trans::Yes})
        for (auto tb : {Trans::No, Trans::Yes})
          for (float beta : {0.0f, 0.5f})
            for (std::size_t pad : {0, 3}) {
              const std::size_t m = 14 * 9 + 5, k = 150, wide = n + 37;
              const Problem w = make_problem(rng, ta, tb, m, wide, k, pad, 1.0f, beta);
              Problem p = w;  // the first n columns of B and C
              p.n = n;
              const std::vector<float> cw = run(isa, w), c = run(isa, p);
              bool same = true;
              for (std::size_t i = 0; i < m; ++i)
                same = same && std::memcmp(c.data() + i * p.ldc, cw.data() + i * w.ldc,
                                           n * sizeof(float)) == 0;
              REQUIRE_MESSAGE(same, describe(isa, p) << " differs from the first " << n
                                                     << " columns of n = " << wide);
            }
}

TEST_CASE("gemm: a transposed A gives the bits of the same A transposed beforehand") {
  // AVX-512 multiplies a transposed A on a tile of other rows than an untransposed one
  // (gemm_avx512.cpp); every element of C must still get the same operations in the same order.
  // m around both tiles' row counts (8 and 14) and Winograd's kernel gradients (32 to 128), k
  // of one block and of two (k = 500: two k blocks of 250), B plain and transposed, beta 0 and
  // 0.5, 1 and 2 threads. Every product is large enough for the tiles (m * n * k > 32^3): the
  // small ones skip them, and there a B^T with A plain sums along k by vectors.
  ThreadsGuard guard;
  cnn::Rng rng(23);
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    for (Isa isa : supported_isas())
      for (std::size_t m : {8, 14, 20, 32, 37, 64, 100, 128, 300})
        for (std::size_t n : {16, 64, 70})
          for (std::size_t k : {300, 500})
            for (auto tb : {Trans::No, Trans::Yes})
              for (float beta : {0.0f, 0.5f}) {
                const Problem t = make_problem(rng, Trans::Yes, tb, m, n, k, 0, 1.0f, beta);
                Problem p = t;  // A [m, k] = the transpose of t's [k, m]
                p.ta = Trans::No;
                p.lda = k;
                for (std::size_t i = 0; i < m; ++i)
                  for (std::size_t q = 0; q < k; ++q) p.a[i * k + q] = t.a[q * t.lda + i];
                const std::vector<float> ct = run(isa, t), cn = run(isa, p);
                REQUIRE_MESSAGE(std::memcmp(ct.data(), cn.data(), ct.size() * sizeof(float)) == 0,
                                describe(isa, t) << " differs from A transposed beforehand, "
                                                 << threads << " threads");
              }
  }
}

TEST_CASE(
    "PackedB: every ISA's packed product equals gemm bitwise, and the reference on small sizes") {
  ThreadsGuard guard;
  cnn::Rng rng(13);
  struct Case {
    std::size_t m, n, k, pad;
  };
  // Packed path shapes (several k blocks and NC panels, a ragged last panel, column splits) and
  // small ones that gemm() computes unpacked (compared with the reference's tolerance instead).
  const Case big[] = {{61, 600, 800, 5}, {10, 700, 320, 0}, {300, 257, 129, 3}, {37, 1100, 64, 0}};
  const Case small[] = {{1, 1, 1, 0}, {2, 17, 9, 1}, {7, 16, 15, 0}, {16, 7, 127, 2}};
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    for (auto ta : {Trans::No, Trans::Yes})
      for (auto tb : {Trans::No, Trans::Yes})
        for (Isa isa : supported_isas()) {
          // C after packing B and multiplying.
          const auto packed_run = [&](const Problem& p) {
            PackedB packed(isa);
            packed.pack(p.tb, p.k, p.n, p.b.data(), p.ldb);
            std::vector<float> c = p.c0;
            packed.multiply(p.ta, p.m, p.alpha, p.a.data(), p.lda, p.beta, c.data(), p.ldc);
            return c;
          };
          for (const Case& cs : big) {
            const Problem p = make_problem(rng, ta, tb, cs.m, cs.n, cs.k, cs.pad, 1.0f, 0.5f);
            const std::vector<float> c = packed_run(p), want = run(isa, p);
            REQUIRE_MESSAGE(std::memcmp(c.data(), want.data(), c.size() * sizeof(float)) == 0,
                            describe(isa, p) << " packed, " << threads << " threads");
          }
          for (const Case& cs : small) {
            const Problem p = make_problem(rng, ta, tb, cs.m, cs.n, cs.k, cs.pad, 1.0f, 0.0f);
            check_against(p, expect(p), packed_run(p), describe(isa, p) + " packed");
          }
        }
  }
}

TEST_CASE("gemm with beta 0 ignores NaN in C, k = 0 scales C, m = 0 or n = 0 does nothing") {
  for (Isa isa : supported_isas()) {
    CAPTURE(isa_name(isa));
    std::vector<float> a{1, 2}, b{3, 4}, c{NAN};
    gemm_for(isa, Trans::No, Trans::No, 1, 1, 2, 1.0f, a.data(), 2, b.data(), 1, 0.0f, c.data(), 1);
    CHECK(c[0] == 11.0f);
    std::vector<float> c2{1, NAN, 3, 4};
    gemm_for(isa, Trans::No, Trans::No, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 0.0f, c2.data(),
             2);
    CHECK(c2 == std::vector<float>{0, 0, 0, 0});
    std::vector<float> c3{1, 2, 3, 4};
    gemm_for(isa, Trans::No, Trans::No, 2, 2, 0, 1.0f, a.data(), 1, b.data(), 2, 2.0f, c3.data(),
             2);
    CHECK(c3 == std::vector<float>{2, 4, 6, 8});
    gemm_for(isa, Trans::No, Trans::No, 0, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c3.data(),
             2);
    gemm_for(isa, Trans::No, Trans::No, 2, 0, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c3.data(),
             2);
    CHECK(c3 == std::vector<float>{2, 4, 6, 8});
  }
}

TEST_CASE("parallel_for visits every index exactly once, in static contiguous chunks") {
  ThreadsGuard guard;
  for (int threads : {1, 2, 3, 5}) {
    set_num_threads(threads);
    CHECK(num_threads() == threads);
    for (std::size_t len : {0, 1, 2, 3, 7, 100, 1001}) {
      const std::size_t begin = 5;
      std::vector<std::atomic<int>> hits(len);
      parallel_for(begin, begin + len, [&](std::size_t i) { hits[i - begin].fetch_add(1); });
      std::size_t once = 0;
      for (auto& h : hits) once += h.load() == 1;
      REQUIRE_MESSAGE(once == len, "threads=" << threads << " len=" << len);
      // The (lo, hi) form gets chunk t = [len*t/T, len*(t+1)/T), whatever the timing.
      std::vector<std::size_t> lo_of(len, 0), hi_of(len, 0);
      parallel_for(begin, begin + len, [&](std::size_t lo, std::size_t hi) {
        for (std::size_t i = lo; i < hi; ++i) {
          lo_of[i - begin] = lo - begin;
          hi_of[i - begin] = hi - begin;
        }
      });
      const std::size_t T = static_cast<std::size_t>(threads);
      bool static_chunks = true;
      for (std::size_t t = 0; t < T; ++t)
        for (std::size_t i = len * t / T; i < len * (t + 1) / T; ++i)
          static_chunks &= lo_of[i] == len * t / T && hi_of[i] == len * (t + 1) / T;
      REQUIRE_MESSAGE(static_chunks, "threads=" << threads << " len=" << len);
    }
  }
}

TEST_CASE("parallel_for rethrows a task's exception in the caller and stays usable") {
  ThreadsGuard guard;
  set_num_threads(3);
  std::atomic<int> ran{0};
  auto failing = [&](std::size_t i) {
    ran.fetch_add(1);
    if (i == 40) throw std::runtime_error("index 40 failed");
    if (i == 90) throw std::logic_error("index 90 failed");
  };
  // Both chunk 1 (33..65) and chunk 2 (66..99) throw: the lowest chunk's exception wins, and
  // every chunk runs to its end or its throw.
  CHECK_THROWS_WITH_AS(parallel_for(0, 100, failing), "index 40 failed", std::runtime_error);
  CHECK(ran.load() == 33 + 8 + 25);
  std::atomic<int> sum{0};
  parallel_for(0, 10, [&](std::size_t i) { sum.fetch_add(static_cast<int>(i)); });
  CHECK(sum.load() == 45);
}

TEST_CASE("parallel_for nests (inner loops run inline) and set_num_threads checks its argument") {
  ThreadsGuard guard;
  set_num_threads(2);
  std::vector<std::atomic<int>> hits(6 * 7);
  parallel_for(0, 6, [&](std::size_t i) {
    parallel_for(0, 7, [&](std::size_t j) { hits[i * 7 + j].fetch_add(1); });
  });
  for (auto& h : hits) CHECK(h.load() == 1);
  CHECK_THROWS_AS(set_num_threads(-1), cnn::Error);
  CHECK_THROWS_AS(parallel_for(0, 2, [](std::size_t) { set_num_threads(1); }), cnn::Error);
  set_num_threads(0);
  CHECK(num_threads() >= 1);
}
