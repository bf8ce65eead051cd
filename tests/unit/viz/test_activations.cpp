// Activation tiles of a model with known weights equal its layer outputs, normalised per
// channel as documented (min-max; constant channels 0), in viridis; and the kernel tiles.
#include <doctest/doctest.h>

#include "viz/activations.hpp"
#include "viz/colormap.hpp"
#include "viz_test_util.hpp"

using namespace cnn;
using namespace cnn::viz;
using cnn::test::model_from;
using cnn::test::set_param;

TEST_CASE("viz: colour maps are matplotlib's") {
  CHECK(viridis(0) == Rgb{68, 1, 84});
  CHECK(viridis(255) == Rgb{253, 231, 37});
  CHECK(viridis(128) == Rgb{33, 145, 140});
  CHECK(jet(0.0f) == Rgb{0, 0, 128});
  CHECK(jet(1.0f) == Rgb{128, 0, 0});
  CHECK(jet(0.5f) == Rgb{123, 255, 123});
  CHECK(to_index(0.5f) == 128);
  CHECK(to_index(-1.0f) == 0);
  CHECK(to_index(2.0f) == 255);
}

TEST_CASE("viz: per-channel min-max normalisation, constant channels are 0") {
  // 1 x 3 pixels, 2 channels: channel 0 = 2, 4, 8; channel 1 constant 5.
  const float a[] = {2, 5, 4, 5, 8, 5};
  const auto n = normalise_channels(a, 1, 3, 2);
  REQUIRE(n.size() == 6);
  CHECK(n[0] == doctest::Approx(0.0));
  CHECK(n[1] == doctest::Approx(2.0 / 6.0));
  CHECK(n[2] == doctest::Approx(1.0));
  CHECK(n[3] == 0.0f);
  CHECK(n[4] == 0.0f);
  CHECK(n[5] == 0.0f);
}

TEST_CASE("viz: activation tiles equal the layer outputs normalised") {
  // Conv2D 1x1 with kernel (1, -2, 0) and bias (0, 3, 5): channel 0 = x, channel 1 = 3 - 2x,
  // channel 2 = 5 (constant).
  Model m = model_from(R"({"name": "t", "input_shape": [3, 4, 1], "layers": [
    {"type": "Conv2D", "name": "c", "filters": 3, "kernel_size": [1, 1]},
    {"type": "Flatten"}]})");
  set_param(m, "c.kernel", {1, -2, 0});
  set_param(m, "c.bias", {0, 3, 5});
  std::vector<float> xs(12);
  for (std::size_t i = 0; i < 12; ++i) xs[i] = static_cast<float>((i * 7) % 12) - 3.0f;
  const Tensor x = cnn::test::tensor({1, 3, 4, 1}, xs);
  Context ctx;
  m.forward(ctx, x);
  const float lo = -3, hi = 8;
  auto expected = [&](std::size_t k, std::size_t p) -> float {
    if (k == 0) return (xs[p] - lo) / (hi - lo);
    if (k == 1) return (hi - xs[p]) / (hi - lo);  // 3 - 2x: min at x = hi
    return 0.0f;
  };
  const auto norm = normalise_channels(m.output_of(0).data(), 3, 4, 3);
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t p = 0; p < 12; ++p)
      CHECK(norm[k * 12 + p] == doctest::Approx(expected(k, p)).epsilon(1e-6));

  const LayerPicture pic = activation_picture(m, 0, 16, 48);
  const GridLayout& g = pic.layout;
  CHECK(g.cols == 3);
  CHECK(g.scale == 12);  // the longer side (4) enlarged to 48 pixels
  REQUIRE(pic.image.c == 3);
  for (std::size_t k = 0; k < 3; ++k)
    for (std::size_t y = 0; y < 3; ++y)
      for (std::size_t xx = 0; xx < 4; ++xx) {
        const Rgb want = viridis(to_index(expected(k, y * 4 + xx)));
        // The centre of the enlarged pixel.
        const std::size_t py = g.y(k) + y * g.scale + g.scale / 2,
                          px = g.x(k) + xx * g.scale + g.scale / 2;
        const Rgb got{pic.image.at(py, px, 0), pic.image.at(py, px, 1), pic.image.at(py, px, 2)};
        CHECK(got == want);
      }
  // A layer without an (h, w, c) output is refused, naming it.
  CHECK_THROWS_WITH_AS(activation_picture(m, 1), doctest::Contains("flatten"), ShapeError);
  CHECK(spatial_layers(m) == std::vector<std::size_t>{0});
}

TEST_CASE("viz: kernel tiles are the weights min-max normalised per filter") {
  Model m = model_from(R"({"name": "t", "input_shape": [4, 4, 1], "layers": [
    {"type": "Conv2D", "name": "c", "filters": 2, "kernel_size": [1, 2]}]})");
  // kernel [1, 2, 1, 2]: filter 0 = (0, 1), filter 1 = (3, 3) (constant: black).
  set_param(m, "c.kernel", {0, 3, 1, 3});
  const LayerPicture pic = kernels_picture(m, 0, 24);
  const GridLayout& g = pic.layout;
  REQUIRE(g.scale == 12);
  auto grey = [&](std::size_t k, std::size_t x) {
    return pic.image.at(g.y(k) + 6, g.x(k) + x * 12 + 6, 0);
  };
  CHECK(grey(0, 0) == 0);
  CHECK(grey(0, 1) == 255);
  CHECK(grey(1, 0) == 0);
  CHECK(grey(1, 1) == 0);
}
