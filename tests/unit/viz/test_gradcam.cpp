// Grad-CAM of a model whose last conv layer and head are set by hand highlights the region the
// explained class depends on; resizing and superimposing.
#include <doctest/doctest.h>

#include <algorithm>

#include "viz/colormap.hpp"
#include "viz/gradcam.hpp"
#include "viz_test_util.hpp"

using namespace cnn;
using namespace cnn::viz;
using cnn::test::model_from;
using cnn::test::set_param;

TEST_CASE("viz: Grad-CAM highlights the region that drives the class") {
  // Two input channels; a 1x1 Conv2D passes them through (identity kernel, ReLU); global
  // average pooling; Dense 2 -> softmax with an identity kernel: class k's logit is the mean of
  // conv channel k. Channel 0 is bright in the top-left quarter, channel 1 in the bottom-right.
  Model m = model_from(R"({"name": "cam", "input_shape": [6, 6, 2], "layers": [
    {"type": "Conv2D", "name": "conv", "filters": 2, "kernel_size": [1, 1], "activation": "relu"},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dense", "name": "head", "units": 2, "activation": "softmax"}]})");
  set_param(m, "conv.kernel", {1, 0, 0, 1});
  set_param(m, "conv.bias", {0, 0});
  set_param(m, "head.kernel", {1, 0, 0, 1});
  set_param(m, "head.bias", {0, 0});
  for (std::size_t i = 0; i < m.size(); ++i) m.set_trainable(i, false);
  std::vector<float> xs(6 * 6 * 2, 0.0f);
  for (std::size_t y = 0; y < 6; ++y)
    for (std::size_t x = 0; x < 6; ++x) {
      if (y < 3 && x < 3) xs[(y * 6 + x) * 2 + 0] = 1.0f + 0.1f * static_cast<float>(x);
      if (y >= 3 && x >= 3) xs[(y * 6 + x) * 2 + 1] = 3.0f;  // class 1 wins the prediction
    }
  const Tensor x = cnn::test::tensor({1, 6, 6, 2}, xs);

  const CamResult predicted = grad_cam(m, x, 0, std::nullopt);
  CHECK(predicted.class_index == 1);
  CHECK(predicted.probabilities[1] > predicted.probabilities[0]);
  for (std::size_t y = 0; y < 6; ++y)
    for (std::size_t xx = 0; xx < 6; ++xx)
      CHECK(predicted.heatmap[y * 6 + xx] == doctest::Approx(y >= 3 && xx >= 3 ? 1.0 : 0.0));

  const CamResult zero = grad_cam(m, x, 0, 0);
  CHECK(zero.class_index == 0);
  // alpha = (1/36, -1/36 with the softmax off: d(z0)/dA1 = 0) -> the heatmap is channel 0 / max.
  for (std::size_t y = 0; y < 6; ++y)
    for (std::size_t xx = 0; xx < 6; ++xx) {
      const float want = y < 3 && xx < 3 ? (1.0f + 0.1f * static_cast<float>(xx)) / 1.2f : 0.0f;
      CHECK(zero.heatmap[y * 6 + xx] == doctest::Approx(want).epsilon(1e-5));
    }
  // The softmax is back after Grad-CAM.
  Context ctx;
  const Tensor& p = m.forward(ctx, x);
  CHECK(p.data()[0] + p.data()[1] == doctest::Approx(1.0));
  CHECK_THROWS_AS(grad_cam(m, x, 0, 2), ConfigError);
}

TEST_CASE("viz: Grad-CAM of one sigmoid output explains class 0 with the negated logit") {
  Model m = model_from(R"({"name": "bin", "input_shape": [4, 4, 1], "layers": [
    {"type": "Conv2D", "name": "conv", "filters": 2, "kernel_size": [1, 1], "activation": "relu"},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dense", "name": "head", "units": 1, "activation": "sigmoid"}]})");
  // Channel 0 = relu(x), channel 1 = relu(-x); the logit is mean(ch0) - mean(ch1).
  set_param(m, "conv.kernel", {1, -1});
  set_param(m, "conv.bias", {0, 0});
  set_param(m, "head.kernel", {1, -1});
  set_param(m, "head.bias", {0});
  std::vector<float> xs(16, 0.0f);
  xs[0] = 2.0f;    // positive evidence at (0, 0)
  xs[15] = -1.0f;  // negative evidence at (3, 3)
  const Tensor x = cnn::test::tensor({1, 4, 4, 1}, xs);
  const CamResult one = grad_cam(m, x, 0, 1);
  CHECK(one.probabilities.size() == 2);
  CHECK(one.heatmap[0] == doctest::Approx(1.0));
  CHECK(one.heatmap[15] == doctest::Approx(0.0));
  const CamResult zero = grad_cam(m, x, 0, 0);
  CHECK(zero.heatmap[15] == doctest::Approx(1.0));
  CHECK(zero.heatmap[0] == doctest::Approx(0.0));
}

TEST_CASE("viz: bilinear resize and superimposing at 0.4 opacity") {
  const std::vector<float> src = {0, 1};
  const auto r = resize_bilinear(src, 1, 2, 1, 4);
  // Centres at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  CHECK(r[0] == doctest::Approx(0.0));
  CHECK(r[1] == doctest::Approx(0.25));
  CHECK(r[2] == doctest::Approx(0.75));
  CHECK(r[3] == doctest::Approx(1.0));
  io::Image photo(1, 2, 3);
  std::fill(photo.data.begin(), photo.data.end(), 100);
  const io::Image s = superimpose(photo, {1.0f}, 1, 1, 0.4f);
  const Rgb hot = jet(1.0f);
  CHECK(s.at(0, 1, 0) == static_cast<std::uint8_t>(std::lround(0.6 * 100 + 0.4 * hot.r)));
  CHECK(s.at(0, 1, 2) == static_cast<std::uint8_t>(std::lround(0.6 * 100 + 0.4 * hot.b)));
}
