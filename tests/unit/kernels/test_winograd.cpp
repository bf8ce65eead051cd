// Winograd F(2x2, 3x3) against the direct convolution (scalar im2col + GEMM in double): valid
// and same padding, odd sizes (a last tile row/column cut off), several blocks of tiles, one
// and two threads; and the size of its error, stated in winograd.hpp.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernels/gemm.hpp"
#include "kernels/im2col.hpp"
#include "kernels/threading.hpp"
#include "kernels/winograd.hpp"
#include "tensor/rng.hpp"

using namespace cnn;
using namespace cnn::kernels;

namespace {

std::vector<float> direct(const ConvGeometry& g, std::size_t n, const std::vector<float>& x,
                          const std::vector<float>& kernel, std::size_t out_c) {
  const std::size_t m = g.col_rows(), k = g.col_cols();
  std::vector<float> col(m * k), y(n * m * out_c);
  for (std::size_t s = 0; s < n; ++s) {
    ref::im2col(g, x.data() + s * g.h * g.w * g.c, col.data());
    ref::gemm(Trans::No, Trans::No, m, out_c, k, 1.0f, col.data(), k, kernel.data(), out_c, 0.0f,
              y.data() + s * m * out_c, out_c);
  }
  return y;
}

}  // namespace

TEST_CASE("winograd F(2x2,3x3) equals the direct convolution within 1e-5 relative") {
  struct Case {
    std::size_t n, h, w, c, f;
    Padding padding;
    std::size_t block;
  };
  const Case cases[] = {
      {1, 4, 4, 1, 1, Padding::Valid, 0},    {2, 7, 5, 3, 4, Padding::Same, 0},
      {2, 9, 8, 5, 7, Padding::Valid, 0},    {3, 11, 13, 16, 8, Padding::Same, 5},
      {1, 3, 3, 2, 2, Padding::Same, 0},     {2, 6, 6, 32, 24, Padding::Same, 7},
  };
  double worst = 0;
  for (const Case& cs : cases) {
    for (int threads : {1, 2}) {
      CAPTURE(cs.h);
      CAPTURE(cs.w);
      CAPTURE(threads);
      set_num_threads(threads);
      auto g = conv_geometry(cs.h, cs.w, cs.c, 3, 3, 1, 1, 1, 1, cs.padding);
      REQUIRE(g);
      REQUIRE(winograd_applies(*g));
      Rng rng(cs.h * 31 + cs.c);
      std::vector<float> x(cs.n * cs.h * cs.w * cs.c), kernel(9 * cs.c * cs.f);
      for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
      for (auto& v : kernel) v = rng.uniform(-1.0f, 1.0f);
      const auto want = direct(*g, cs.n, x, kernel, cs.f);
      std::vector<float> u(16 * cs.c * cs.f), y(want.size(), -99.0f), scratch;
      winograd_kernel_transform(kernel.data(), cs.c, cs.f, u.data());
      winograd_conv3x3(*g, cs.n, x.data(), u.data(), cs.f, y.data(), scratch, cs.block);
      double scale = 0;
      for (float v : want) scale = std::max(scale, double(std::fabs(v)));
      for (std::size_t i = 0; i < y.size(); ++i) {
        const double err = std::fabs(double(y[i]) - want[i]) / std::max(1.0, scale);
        worst = std::max(worst, err);
        REQUIRE(err < 1e-5);
      }
    }
  }
  set_num_threads(0);
  MESSAGE("worst relative error of Winograd F(2x2,3x3) vs direct: " << worst);
}

TEST_CASE("winograd does not apply to strided, dilated or non-3x3 convolutions") {
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 2, 2, 1, 1, Padding::Same)));
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 1, 1, 2, 2, Padding::Same)));
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 5, 5, 1, 1, 1, 1, Padding::Same)));
  CHECK(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 1, 1, 1, 1, Padding::Valid)));
}
