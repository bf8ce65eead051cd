// Gradient ascent in input space: the chosen filter's mean activation rises at every step on a
// fixed seed, results repeat and do not depend on batching; deprocess numerics; truncation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "tensor/rng.hpp"
#include "viz/ascent.hpp"
#include "viz_test_util.hpp"

using namespace cnn;
using namespace cnn::viz;
using cnn::test::model_from;

namespace {

Model small_convnet() {
  Model m = model_from(R"({"name": "s", "input_shape": [12, 12, 3], "layers": [
    {"type": "Conv2D", "name": "c1", "filters": 6, "kernel_size": [3, 3], "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": [2, 2]},
    {"type": "Conv2D", "name": "c2", "filters": 4, "kernel_size": [3, 3], "activation": "elu"},
    {"type": "Flatten"},
    {"type": "Dense", "units": 3, "activation": "softmax"}]})");
  Rng rng(3);
  m.init_params(rng);
  // Positive biases keep the ReLUs of c1 alive on the grey start image (c2's ELU never dies).
  for (auto& p : m.named_params())
    if (p.param->name == "bias") std::fill(p.param->value, p.param->value + p.param->size(), 0.05f);
  return m;
}

}  // namespace

TEST_CASE("viz: gradient ascent raises the filter's mean activation at every step") {
  Model m = small_convnet();
  AscentOptions o;
  o.layer = *m.find("c2");
  o.first = 0;
  o.last = 4;
  o.steps = 20;
  o.rescale = 1.0f / 255.0f;
  o.seed = 7;
  const AscentResult r = gradient_ascent(m, o);
  REQUIRE(r.filters == std::vector<std::size_t>{0, 1, 2, 3});
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& t = r.objective[k];
    REQUIRE(t.size() == 21);
    for (std::size_t s = 1; s < t.size(); ++s)
      CHECK_MESSAGE(t[s] > t[s - 1], "filter " << k << " step " << s);
    CHECK(r.images[k].h == 12);
    CHECK(r.images[k].c == 3);
  }
  // Same seed: the same pictures whatever the batch size, up to rounding (another batch size
  // gives the GEMMs other shapes, so other SIMD edge paths: bit-identical in the Release build,
  // not in the sanitizer build).
  o.batch = 3;
  const AscentResult again = gradient_ascent(m, o);
  for (std::size_t k = 0; k < 4; ++k) {
    REQUIRE(again.images[k].data.size() == r.images[k].data.size());
    int worst = 0;
    for (std::size_t i = 0; i < r.images[k].data.size(); ++i)
      worst = std::max(worst, std::abs(int(again.images[k].data[i]) - int(r.images[k].data[i])));
    CHECK(worst <= 1);
    REQUIRE(again.objective[k].size() == r.objective[k].size());
    for (std::size_t s = 0; s < r.objective[k].size(); ++s)
      CHECK(again.objective[k][s] == doctest::Approx(r.objective[k][s]).epsilon(1e-4));
  }
}

TEST_CASE("viz: gradient ascent on a larger input through a truncated model") {
  Model m = small_convnet();
  const Model t = truncate_at(m, *m.find("c2"), 20);
  CHECK(t.size() == 3);  // c1, pooling, c2: Flatten and Dense are dropped
  CHECK(t.input_shape() == Shape{20, 20, 3});
  AscentOptions o;
  o.layer = *m.find("c2");
  o.first = 1;
  o.last = 2;
  o.steps = 5;
  o.size = 20;
  o.rescale = 1.0f / 255.0f;
  const AscentResult r = gradient_ascent(m, o);
  REQUIRE(r.images.size() == 1);
  CHECK(r.images[0].h == 20);
  CHECK(r.objective[0].back() > r.objective[0].front());
  // Not a Conv2D layer: refused, naming it.
  o.layer = 1;
  CHECK_THROWS_WITH_AS(gradient_ascent(m, o), doctest::Contains("max_pooling2d"), ConfigError);
  // An empty range.
  o.layer = *m.find("c2");
  o.first = 4;
  o.last = 8;
  CHECK_THROWS_AS(gradient_ascent(m, o), ConfigError);
}

TEST_CASE("viz: deprocess is the lecture's") {
  // mean 2, std sqrt(2/3): x -> (x - 2) / (std + 1e-5) * 0.1 + 0.5, clipped, * 255, truncated.
  const std::vector<float> x = {1, 2, 3};
  const io::Image img = deprocess(x, 1, 3, 1);
  const double sd = std::sqrt(2.0 / 3.0) + 1e-5;
  CHECK(img.data[0] == static_cast<std::uint8_t>((0.5 - 0.1 / sd) * 255));
  CHECK(img.data[1] == 127);
  CHECK(img.data[2] == static_cast<std::uint8_t>((0.5 + 0.1 / sd) * 255));
  // Far outliers clip at 0 and 255.
  std::vector<float> far(100, 0.0f);
  far[0] = -1000;
  far[99] = 1000;
  const io::Image c = deprocess(far, 1, 100, 1);  // std 141: +-1000 lands outside [0, 1]
  CHECK(c.data[0] == 0);
  CHECK(c.data[99] == 255);
  CHECK(c.data[50] == 127);
}
