// The GEMM entry point against the scalar reference, on awkward sizes and all transpose modes.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/gemm.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

TEST_CASE("gemm equals the reference on awkward sizes") {
  cnn::Rng rng(3);
  const std::size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 127};
  for (auto ta : {Trans::No, Trans::Yes})
    for (auto tb : {Trans::No, Trans::Yes})
      for (std::size_t m : {1, 7, 17})
        for (std::size_t n : sizes)
          for (std::size_t k : {1, 9, 16, 127}) {
            std::vector<float> a(m * k), b(k * n), c(m * n), c_ref(m * n);
            for (auto& v : a) v = rng.uniform(-1, 1);
            for (auto& v : b) v = rng.uniform(-1, 1);
            for (std::size_t i = 0; i < c.size(); ++i) c[i] = c_ref[i] = rng.uniform(-1, 1);
            const std::size_t lda = ta == Trans::No ? k : m, ldb = tb == Trans::No ? n : k;
            gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, c.data(), n);
            ref::gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, c_ref.data(), n);
            for (std::size_t i = 0; i < c.size(); ++i)
              REQUIRE_MESSAGE(std::fabs(c[i] - c_ref[i]) <= 1e-5f * (1.0f + std::sqrt(float(k))),
                              "m=" << m << " n=" << n << " k=" << k << " i=" << i);
          }
}

TEST_CASE("gemm with beta 0 ignores NaN in C") {
  std::vector<float> a{1, 2}, b{3, 4}, c{NAN};
  gemm(Trans::No, Trans::No, 1, 1, 2, 1.0f, a.data(), 2, b.data(), 1, 0.0f, c.data(), 1);
  CHECK(c[0] == 11.0f);
}
