// Winograd F(4x4, 3x3) against the direct convolution (scalar im2col + GEMM in double), for every
// SIMD variant this machine runs: valid and same padding, sizes that cut the last tile row and
// column (1, 3, 7, 15, 16, 17), channel counts that are not multiples of the vector width,
// several blocks of tiles and lanes of sub-blocks (the same bits as one block), the kernel
// gradient's sums in slices, bias with relu, linear and sigmoid; one and two threads give the
// same bits. The size of its error is measured here and stated in winograd.hpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/activation.hpp"
#include "kernels/gemm.hpp"
#include "kernels/im2col.hpp"
#include "kernels/threading.hpp"
#include "kernels/winograd.hpp"
#include "tensor/error.hpp"
#include "tensor/rng.hpp"

using namespace cnn;
using namespace cnn::kernels;

namespace {

// The direct convolution plus bias, before the activation.
std::vector<float> direct(const ConvGeometry& g, std::size_t n, const std::vector<float>& x,
                          const std::vector<float>& kernel, const std::vector<float>& bias,
                          std::size_t out_c) {
  const std::size_t m = g.col_rows(), k = g.col_cols();
  std::vector<float> col(m * k), y(n * m * out_c);
  for (std::size_t s = 0; s < n; ++s) {
    ref::im2col(g, x.data() + s * g.h * g.w * g.c, col.data());
    ref::gemm(Trans::No, Trans::No, m, out_c, k, 1.0f, col.data(), k, kernel.data(), out_c, 0.0f,
              y.data() + s * m * out_c, out_c);
  }
  for (std::size_t i = 0; i < y.size(); ++i) y[i] += bias[i % out_c];
  return y;
}

// compute() on 1 and 2 threads: every value within tol * max(1, scale) of want (the largest
// relative error goes into worst), and the same bits on both.
template <class Compute>
void check_on_threads(const std::vector<float>& want, double scale, double tol, double& worst,
                      const Compute& compute) {
  std::vector<float> first;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    set_num_threads(threads);
    const std::vector<float> got = compute();
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double err = std::fabs(double(got[i]) - want[i]) / std::max(1.0, scale);
      worst = std::max(worst, err);
      REQUIRE(err < tol);
    }
    if (first.empty())
      first = got;
    else
      CHECK(std::memcmp(first.data(), got.data(), got.size() * sizeof(float)) == 0);
  }
}

}  // namespace

TEST_CASE("winograd F(4x4,3x3) equals the direct convolution within 3e-5 of the output's scale") {
  struct Case {
    std::size_t n, h, w, c, f;
    Padding padding;
    std::size_t block;
    Act act;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, Padding::Same, 0, Act::Linear},
      {1, 3, 3, 2, 2, Padding::Valid, 0, Act::Relu},
      {2, 7, 5, 3, 4, Padding::Same, 0, Act::Relu},
      {2, 9, 8, 5, 7, Padding::Valid, 0, Act::Linear},
      {3, 15, 17, 17, 33, Padding::Same, 5, Act::Relu},
      {1, 16, 16, 16, 16, Padding::Same, 0, Act::Relu},
      {2, 17, 7, 33, 20, Padding::Same, 3, Act::Sigmoid},
      {2, 6, 6, 64, 40, Padding::Same, 7, Act::Relu},
      {1, 12, 10, 130, 70, Padding::Valid, 0, Act::Relu},
      // Many tiles in lanes of sub-blocks (3 x 64 tiles, 182 per sub-block); a kernel over the
      // lanes' limit (140 x 130: 2.6 MB transformed) in blocks of 4 tiles.
      {3, 30, 30, 16, 24, Padding::Same, 0, Act::Relu},
      {1, 9, 9, 140, 130, Padding::Same, 4, Act::Linear},
  };
  double worst = 0;
  for (const Case& cs : cases)
    for (Isa isa : supported_isas()) {
      CAPTURE(cs.h);
      CAPTURE(cs.w);
      CAPTURE(cs.c);
      CAPTURE(cs.f);
      CAPTURE(isa_name(isa));
      auto g = conv_geometry(cs.h, cs.w, cs.c, 3, 3, 1, 1, 1, 1, cs.padding);
      REQUIRE(g);
      REQUIRE(winograd_applies(*g));
      Rng rng(cs.h * 31 + cs.c);
      std::vector<float> x(cs.n * cs.h * cs.w * cs.c), kernel(9 * cs.c * cs.f), bias(cs.f);
      for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
      for (auto& v : kernel) v = rng.uniform(-1.0f, 1.0f);
      for (auto& v : bias) v = rng.uniform(-1.0f, 1.0f);
      const std::vector<float> z = direct(*g, cs.n, x, kernel, bias, cs.f);
      std::vector<float> want = z;
      act_forward(cs.act, want.data(), want.size() / cs.f, cs.f);
      double scale = 0;
      for (float v : z) scale = std::max(scale, double(std::fabs(v)));
      check_on_threads(want, scale, 3e-5, worst, [&] {
        WinogradKernel u(isa);
        u.set(kernel.data(), cs.c, cs.f);
        std::vector<float> y(want.size(), -99.0f);
        AlignedVector<float> scratch;
        winograd_conv3x3(*g, cs.n, x.data(), u, bias.data(), cs.act, y.data(), scratch, cs.block);
        return y;
      });
      // All tiles in one block, each step split over the threads: the same bits as lanes of
      // sub-blocks (a GEMM's row does not depend on the rows beside it).
      std::vector<float> one(want.size()), split(want.size());
      {
        WinogradKernel u(isa);
        u.set(kernel.data(), cs.c, cs.f);
        AlignedVector<float> scratch;
        winograd_conv3x3(*g, cs.n, x.data(), u, bias.data(), cs.act, one.data(), scratch,
                         std::size_t{1} << 30);
        winograd_conv3x3(*g, cs.n, x.data(), u, bias.data(), cs.act, split.data(), scratch, 2);
      }
      REQUIRE(std::memcmp(one.data(), split.data(), one.size() * sizeof(float)) == 0);
      // Pixels ldy = f + 3 floats apart (a slice of a Concatenate's channels): the same values
      // (bitwise where the activation is fused: a sigmoid runs by rows then, its vector tails
      // fall elsewhere), and the floats between them untouched.
      WinogradKernel u(isa);
      u.set(kernel.data(), cs.c, cs.f);
      std::vector<float> packed(want.size());
      AlignedVector<float> scratch;
      winograd_conv3x3(*g, cs.n, x.data(), u, bias.data(), cs.act, packed.data(), scratch,
                       cs.block);
      const std::size_t ld = cs.f + 3, pixels = want.size() / cs.f;
      std::vector<float> wide(pixels * ld, -99.0f);
      winograd_conv3x3(*g, cs.n, x.data(), u, bias.data(), cs.act, wide.data(), scratch, cs.block,
                       ld);
      const bool fused = cs.act == Act::Relu || cs.act == Act::Linear;
      for (std::size_t p = 0; p < pixels; ++p)
        for (std::size_t j = 0; j < ld; ++j) {
          const float got = wide[p * ld + j];
          if (j >= cs.f)
            REQUIRE(got == -99.0f);
          else if (fused)
            REQUIRE(got == packed[p * cs.f + j]);
          else
            REQUIRE(std::fabs(got - packed[p * cs.f + j]) <= 1e-6f);
        }
    }
  set_num_threads(0);
  MESSAGE("worst error of Winograd F(4x4,3x3) vs direct, relative to max |output|: " << worst);
}

TEST_CASE("winograd kernel gradient equals col^T dz within 3e-5 of its scale") {
  struct Case {
    std::size_t n, h, w, c, f;
    Padding padding;
    std::size_t block;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 1, Padding::Same, 0},
      {1, 3, 3, 2, 2, Padding::Valid, 0},
      {2, 7, 5, 3, 4, Padding::Same, 0},
      {2, 9, 8, 5, 7, Padding::Valid, 0},
      {3, 15, 17, 17, 33, Padding::Same, 5},
      {1, 16, 16, 16, 16, Padding::Same, 0},
      {2, 17, 7, 33, 20, Padding::Same, 3},
      {1, 12, 10, 70, 130, Padding::Valid, 0},
      // 256 and 320 tiles: summed in two slices, of one sub-block or of 15 and 14 of 9 tiles.
      {4, 30, 30, 5, 7, Padding::Same, 0},
      {4, 30, 30, 5, 7, Padding::Same, 9},
      {5, 33, 31, 16, 24, Padding::Valid, 0},
  };
  double worst = 0;
  for (const Case& cs : cases)
    for (Isa isa : supported_isas()) {
      CAPTURE(cs.h);
      CAPTURE(cs.w);
      CAPTURE(cs.c);
      CAPTURE(cs.f);
      CAPTURE(isa_name(isa));
      auto g = conv_geometry(cs.h, cs.w, cs.c, 3, 3, 1, 1, 1, 1, cs.padding);
      REQUIRE(g);
      const std::size_t m = g->col_rows(), k = g->col_cols();
      Rng rng(cs.w * 17 + cs.f);
      std::vector<float> x(cs.n * cs.h * cs.w * cs.c), dz(cs.n * m * cs.f);
      for (auto& v : x) v = rng.uniform(-1.0f, 1.0f);
      for (auto& v : dz) v = rng.uniform(-1.0f, 1.0f);
      // col^T dz summed over the samples, in double by the reference GEMM, one sample at a time.
      std::vector<float> col(cs.n * m * k), want(k * cs.f);
      for (std::size_t s = 0; s < cs.n; ++s)
        ref::im2col(*g, x.data() + s * cs.h * cs.w * cs.c, col.data() + s * m * k);
      ref::gemm(Trans::Yes, Trans::No, k, cs.f, cs.n * m, 1.0f, col.data(), k, dz.data(), cs.f,
                0.0f, want.data(), cs.f);
      double scale = 0;
      for (float v : want) scale = std::max(scale, double(std::fabs(v)));
      check_on_threads(want, scale, 3e-5, worst, [&] {
        std::vector<float> got(want.size(), -99.0f);
        AlignedVector<float> scratch;
        winograd_kernel_grad(*g, cs.n, x.data(), dz.data(), cs.f, got.data(), scratch, cs.block,
                             isa);
        return got;
      });
    }
  set_num_threads(0);
  MESSAGE(
      "worst error of the Winograd kernel gradient vs col^T dz, relative to max |dW|: " << worst);
}

TEST_CASE("winograd does not apply to strided, dilated or non-3x3 convolutions") {
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 2, 2, 1, 1, Padding::Same)));
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 1, 1, 2, 2, Padding::Same)));
  CHECK_FALSE(winograd_applies(*conv_geometry(8, 8, 1, 5, 5, 1, 1, 1, 1, Padding::Same)));
  CHECK(winograd_applies(*conv_geometry(8, 8, 1, 3, 3, 1, 1, 1, 1, Padding::Valid)));
}

TEST_CASE("winograd pays on outputs its tiles cover closely, or with many channels") {
  // The input gradient's convolution: dz (h x w) padded by 2 on every side, h + 2 x w + 2 out.
  const auto backward = [](std::size_t h, std::size_t w, std::size_t c) {
    ConvGeometry g = *conv_geometry(h, w, c, 3, 3, 1, 1, 1, 1, Padding::Valid);
    g.pad_top = g.pad_left = 2;
    g.out_h = h + 2;
    g.out_w = w + 2;
    return g;
  };
  // VGG16 block1 (150x150 'same', 1.03x) and block5 (9x9, 1.78x, 512 channels).
  CHECK(winograd_pays(*conv_geometry(150, 150, 64, 3, 3, 1, 1, 1, 1, Padding::Same), 64));
  CHECK(winograd_pays(*conv_geometry(9, 9, 512, 3, 3, 1, 1, 1, 1, Padding::Same), 512));
  // The MNIST convnet's conv2d_1 (13x13 -> 11x11, 1.19x), and its input gradient: 11x11 -> 13x13
  // (1.51x) with 64 x 32 channels; conv2d_2 (5x5 -> 3x3, 1.78x, 64 x 64).
  CHECK(winograd_pays(*conv_geometry(13, 13, 32, 3, 3, 1, 1, 1, 1, Padding::Valid), 64));
  CHECK_FALSE(winograd_pays(backward(11, 11, 64), 32));
  CHECK_FALSE(winograd_pays(*conv_geometry(5, 5, 64, 3, 3, 1, 1, 1, 1, Padding::Valid), 64));
  // cats_dogs conv2d_3's input gradient: 15x15 -> 17x17 (1.38x), 128 x 128.
  CHECK(winograd_pays(backward(15, 15, 128), 128));
  // Never past 2x: 5x5 outputs take 2x2 tiles (2.56x).
  CHECK_FALSE(winograd_pays(*conv_geometry(7, 7, 512, 3, 3, 1, 1, 1, 1, Padding::Valid), 512));
}

TEST_CASE("winograd refuses the reference ISA and a kernel of other channels") {
  // The cast: clang reads a lone "WinogradKernel(Isa::Reference)" as a declaration.
  CHECK_THROWS_AS(static_cast<void>(WinogradKernel(Isa::Reference)), Error);
  WinogradKernel u(supported_isas().back());  // a SIMD one even under CNN_KERNELS=reference
  std::vector<float> kernel(9 * 4 * 2, 0.5f), x(5 * 5 * 3), y(25 * 2);
  AlignedVector<float> scratch;
  u.set(kernel.data(), 4, 2);
  auto g = conv_geometry(5, 5, 3, 3, 3, 1, 1, 1, 1, Padding::Same);
  CHECK_THROWS_AS(winograd_conv3x3(*g, 1, x.data(), u, nullptr, Act::Linear, y.data(), scratch),
                  Error);
}

TEST_CASE("winograd's packed kernel positions are the taps' weighted sums, bit for bit") {
  // U_k = sum over taps t of (G[k / 6][t / 3] G[k % 6][t % 3]) g_t, the first term a product and
  // the rest fused multiply-adds in tap order (a multiply and an add on SSE2, which has no FMA).
  // Read back through a product with the identity, which is exact. Shapes with a last sliver
  // of columns cut short, and k blocks of unequal start.
  const double kG[6][3] = {{0.25, 0.0, 0.0},
                           {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                           {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                           {1.0 / 24, 1.0 / 12, 1.0 / 6},
                           {1.0 / 24, -1.0 / 12, 1.0 / 6},
                           {0.0, 0.0, 1.0}};
  struct Shape {
    std::size_t c, f;
  };
  for (const Shape s : {Shape{3, 33}, Shape{17, 45}, Shape{64, 128}, Shape{400, 70}}) {
    CAPTURE(s.c);
    CAPTURE(s.f);
    Rng rng(7);
    std::vector<float> kernel(9 * s.c * s.f);
    for (float& v : kernel) v = rng.uniform(-1.0f, 1.0f);
    std::vector<float> eye(s.c * s.c, 0.0f), got(s.c * s.f);
    for (std::size_t i = 0; i < s.c; ++i) eye[i * s.c + i] = 1.0f;
    for (Isa isa : supported_isas()) {
      if (isa == Isa::Reference) continue;
      CAPTURE(isa_name(isa));
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        WinogradKernel u(isa);
        u.set(kernel.data(), s.c, s.f);
        std::size_t wrong = 0;
        for (std::size_t k = 0; k < 36; ++k) {
          u.position(k).multiply(Trans::No, s.c, 1.0f, eye.data(), s.c, 0.0f, got.data(), s.f);
          float coef[9];
          for (std::size_t t = 0; t < 9; ++t)
            coef[t] = static_cast<float>(kG[k / 6][t / 3] * kG[k % 6][t % 3]);
          for (std::size_t i = 0; i < s.c * s.f; ++i) {
            const std::size_t cf = s.c * s.f;
            float want = coef[0] * kernel[i];
            for (std::size_t t = 1; t < 9; ++t) {
              if (isa == Isa::Sse2) {
                const volatile float product = coef[t] * kernel[t * cf + i];
                want = product + want;
              } else {
                want = std::fma(coef[t], kernel[t * cf + i], want);
              }
            }
            wrong += std::memcmp(&want, &got[i], sizeof(float)) != 0;
          }
        }
        CHECK(wrong == 0);
      }
    }
  }
  set_num_threads(0);
}
