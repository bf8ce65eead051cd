// Window geometry (TF valid/same), im2col on a hand-checked case, and col2im as the exact
// adjoint of im2col over strides, dilations and asymmetric padding.
#include <doctest/doctest.h>

#include <vector>

#include "kernels/im2col.hpp"
#include "kernels/window.hpp"
#include "tensor/rng.hpp"

using namespace cnn::kernels;

TEST_CASE("window_1d follows TensorFlow's valid and same rules") {
  // valid: (in - ek) / stride + 1
  CHECK(window_1d(28, 3, 1, 1, Padding::Valid)->out == 26);
  CHECK(window_1d(11, 2, 2, 1, Padding::Valid)->out == 5);
  CHECK(window_1d(7, 3, 1, 2, Padding::Valid)->out == 3);  // ek = 5
  CHECK_FALSE(window_1d(2, 3, 1, 1, Padding::Valid).has_value());
  CHECK_FALSE(window_1d(4, 3, 1, 2, Padding::Valid).has_value());
  // same: out = ceil(in / stride), odd padding cell after.
  const auto a = *window_1d(4, 3, 2, 1, Padding::Same);
  CHECK(a.out == 2);
  CHECK(a.pad_before == 0);
  CHECK(a.pad_after == 1);
  const auto b = *window_1d(5, 4, 1, 1, Padding::Same);
  CHECK(b.out == 5);
  CHECK(b.pad_before == 1);
  CHECK(b.pad_after == 2);
  const auto c = *window_1d(7, 3, 1, 2, Padding::Same);  // ek = 5: pad 2 + 2
  CHECK(c.out == 7);
  CHECK(c.pad_before == 2);
  CHECK(c.pad_after == 2);
  const auto d = *window_1d(6, 1, 3, 1, Padding::Same);  // no padding needed
  CHECK(d.out == 2);
  CHECK(d.pad_before + d.pad_after == 0);
  CHECK(padding_from_name("same") == Padding::Same);
  CHECK(padding_name(Padding::Valid) == "valid");
}

TEST_CASE("im2col lays out (ky, kx, ci) columns per output position, zeros for padding") {
  // 2x2 image, 2 channels, 2x2 kernel, same padding stride 1: pad 0 before, 1 after.
  ConvGeometry g;
  g.h = 2;
  g.w = 2;
  g.c = 2;
  g.kh = 2;
  g.kw = 2;
  g.out_h = 2;
  g.out_w = 2;
  const std::vector<float> in{1, 10, 2, 20, 3, 30, 4, 40};
  std::vector<float> col(g.col_rows() * g.col_cols(), -1.0f);
  im2col(g, in.data(), col.data());
  const std::vector<float> expected{
      1, 10, 2, 20, 3, 30, 4, 40,  // (0, 0)
      2, 20, 0, 0,  4, 40, 0, 0,   // (0, 1): right column is padding
      3, 30, 4, 40, 0, 0,  0, 0,   // (1, 0): bottom row is padding
      4, 40, 0, 0,  0, 0,  0, 0,   // (1, 1)
  };
  CHECK(col == expected);
}

TEST_CASE("col2im_add is the adjoint of im2col") {
  // <im2col(x), c> == <x, col2im(c)> for random x, c checks every index mapping of col2im
  // against im2col's, including dropped padding taps.
  struct G {
    std::size_t h, w, c, kh, kw, sh, sw, dh, dw;
    Padding pad;
  };
  const G cases[] = {
      {7, 5, 3, 3, 3, 1, 1, 1, 1, Padding::Valid}, {7, 5, 3, 3, 2, 2, 2, 1, 1, Padding::Same},
      {6, 7, 2, 4, 4, 3, 2, 1, 1, Padding::Same},  {7, 5, 5, 3, 3, 1, 1, 2, 2, Padding::Same},
      {9, 4, 1, 2, 3, 1, 1, 3, 1, Padding::Valid}, {3, 2, 3, 5, 5, 1, 1, 1, 1, Padding::Same}};
  cnn::Rng rng(17);
  for (const auto& t : cases) {
    const auto geo = conv_geometry(t.h, t.w, t.c, t.kh, t.kw, t.sh, t.sw, t.dh, t.dw, t.pad);
    REQUIRE(geo.has_value());
    const ConvGeometry g = *geo;
    std::vector<float> x(t.h * t.w * t.c), col(g.col_rows() * g.col_cols()), c(col.size());
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : c) v = rng.uniform(-1, 1);
    im2col(g, x.data(), col.data());
    std::vector<float> back(x.size(), 0.0f);
    col2im_add(g, c.data(), back.data());
    double lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < col.size(); ++i) lhs += static_cast<double>(col[i]) * c[i];
    for (std::size_t i = 0; i < x.size(); ++i) rhs += static_cast<double>(x[i]) * back[i];
    CHECK(lhs == doctest::Approx(rhs).epsilon(1e-5));
  }
}
