// Rescaling: gradients, accumulation, a hand-computed forward with one and per-channel factors,
// no parameters, round trip and configuration errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Rescaling", "scale": 0.5, "offset": 1.0})", {{3, 3, 2}});

TEST_CASE("Rescaling gradients match numerical ones") {
  LayerHarness h({{"type", "Rescaling"}, {"scale", {0.5, -2.0, 3.0}}, {"offset", 1.0}},
                 {{5, 3, 3}});
  Rng rng(1);
  CHECK(check_gradients(h, {random_tensor({2, 5, 3, 3}, rng)}) > 0);
  LayerHarness one({{"type", "Rescaling"}, {"scale", 0.25}}, {{7}});
  CHECK(check_gradients(one, {random_tensor({3, 7}, rng)}) > 0);
}

TEST_CASE("Rescaling backward accumulates exactly") {
  LayerHarness h({{"type", "Rescaling"}, {"scale", 1.5}, {"offset", -1}}, {{4, 3}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({3, 4, 3}, rng)}, false);
}

TEST_CASE("Rescaling computes x * scale + offset per channel") {
  LayerHarness h({{"type", "Rescaling"}, {"scale", {2.0, 0.5}}, {"offset", {1.0, -1.0}}},
                 {{1, 2, 2}});
  Tensor x;
  ensure_shape(x, {1, 1, 2, 2});
  const float in[] = {3, 4, -1, 10};
  std::copy(in, in + 4, x.data());
  const Tensor y = h.forward({x}, false);
  CHECK(y.data()[0] == 7.0f);   // 3 * 2 + 1
  CHECK(y.data()[1] == 1.0f);   // 4 * 0.5 - 1
  CHECK(y.data()[2] == -1.0f);  // -1 * 2 + 1
  CHECK(y.data()[3] == 4.0f);   // 10 * 0.5 - 1
  // Keras's 1/255 on a pixel: the float product, as x * scale in float32.
  LayerHarness px({{"type", "Rescaling"}, {"scale", 1.0 / 255}}, {{1}});
  Tensor p;
  ensure_shape(p, {1, 1});
  p.data()[0] = 200.0f;
  CHECK(px.forward({p}, false).data()[0] == 200.0f * static_cast<float>(1.0 / 255));
}

TEST_CASE("Rescaling has no parameters and round-trips") {
  CHECK(count_params({{"type", "Rescaling"}, {"scale", 0.5}}, {{28, 28, 1}}).first == 0);
  CHECK(check_round_trip({{"type", "Rescaling"}, {"scale", 0.5}}).dump() ==
        R"({"type":"Rescaling","scale":0.5,"offset":0.0})");
  CHECK(check_round_trip({{"type", "Rescaling"}, {"scale", {1, 2, 3}}, {"offset", -1}}).dump() ==
        R"({"type":"Rescaling","scale":[1.0,2.0,3.0],"offset":-1.0})");
}

TEST_CASE("Rescaling configuration errors name the layer and the field") {
  auto make = [](const json& block) { return configured(block, "rescaling"); };
  std::string m = message_of<ConfigError>([&] { make({{"type", "Rescaling"}}); });
  CHECK(contains_all(m, {"rescaling", "scale", "missing"}));
  m = message_of<ConfigError>([&] { make({{"type", "Rescaling"}, {"scale", "big"}}); });
  CHECK(contains_all(m, {"rescaling", "scale", "number"}));
  m = message_of<ConfigError>([&] { make({{"type", "Rescaling"}, {"scale", json::array()}}); });
  CHECK(contains_all(m, {"rescaling", "scale", "list"}));
  m = message_of<ConfigError>([&] {
    make({{"type", "Rescaling"}, {"scale", 1}, {"offset", {1, "a"}}});
  });
  CHECK(contains_all(m, {"rescaling", "offset"}));
  m = message_of<ConfigError>([&] { make({{"type", "Rescaling"}, {"scale", 1}, {"scal", 1}}); });
  CHECK(contains_all(m, {"rescaling", "scal", "unknown field"}));
  auto layer = make({{"type", "Rescaling"}, {"scale", {1, 2}}});
  m = message_of<ShapeError>([&] { layer->infer_shape({{4, 4, 3}}); });
  CHECK(contains_all(m, {"rescaling", "one per channel", "3"}));
}
