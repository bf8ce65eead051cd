// Concatenate: gradients with 2- and 3-channel inputs, accumulation, known values, the axis
// spellings, round trip and shape errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Concatenate"})", {{3, 3, 2}, {3, 3, 5}});

TEST_CASE("Concatenate gradients match numerical ones") {
  LayerHarness h({{"type", "Concatenate"}}, {{5, 7, 2}, {5, 7, 3}});
  CHECK(h.out_shape == Shape{5, 7, 5});
  Rng rng(1);
  CHECK(check_gradients(h, {random_tensor({3, 5, 7, 2}, rng), random_tensor({3, 5, 7, 3}, rng)}) >
        0);
  LayerHarness v({{"type", "Concatenate"}, {"axis", 1}}, {{2}, {3}, {1}});
  CHECK(v.out_shape == Shape{6});
  CHECK(check_gradients(v, {random_tensor({3, 2}, rng), random_tensor({3, 3}, rng),
                            random_tensor({3, 1}, rng)}) > 0);
}

TEST_CASE("Concatenate backward accumulates exactly") {
  LayerHarness h({{"type", "Concatenate"}, {"axis", 3}}, {{3, 3, 2}, {3, 3, 3}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({2, 3, 3, 2}, rng), random_tensor({2, 3, 3, 3}, rng)},
                     false);
}

TEST_CASE("Concatenate forward by hand") {
  LayerHarness h({{"type", "Concatenate"}}, {{2, 2}, {2, 1}});
  Tensor a, b;
  ensure_shape(a, {1, 2, 2});
  ensure_shape(b, {1, 2, 1});
  const float av[] = {1, 2, 3, 4}, bv[] = {10, 20};
  std::copy(av, av + 4, a.data());
  std::copy(bv, bv + 2, b.data());
  const Tensor y = h.forward({a, b}, false);
  REQUIRE(shape_of(y) == Shape{1, 2, 3});
  const float want[] = {1, 2, 10, 3, 4, 20};
  for (std::size_t i = 0; i < 6; ++i) CHECK(y.data()[i] == want[i]);
}

TEST_CASE("Concatenate has no parameters and round-trips") {
  CHECK(count_params({{"type", "Concatenate"}}, {{4, 4, 8}, {4, 4, 8}}).first == 0);
  CHECK(check_round_trip({{"type", "Concatenate"}}).dump() ==
        R"({"type":"Concatenate","axis":-1})");
  CHECK(check_round_trip({{"type", "Concatenate"}, {"axis", 3}}).dump() ==
        R"({"type":"Concatenate","axis":3})");
}

TEST_CASE("Concatenate shape and configuration errors") {
  auto layer = configured({{"type", "Concatenate"}}, "concatenate_1");
  std::string m = message_of<ShapeError>([&] { layer->infer_shape({{4, 4, 3}, {5, 4, 2}}); });
  INFO(m);
  CHECK(contains_all(m, {"concatenate_1", "Concatenate", "all axes but the last",
                         "(None, 4, 4, 3), (None, 5, 4, 2)"}));
  m = message_of<ShapeError>([&] { layer->infer_shape({{4, 4, 3}, {4, 3}}); });
  CHECK(contains_all(m, {"concatenate_1", "(None, 4, 4, 3), (None, 4, 3)"}));
  m = message_of<ShapeError>([&] { layer->infer_shape({{4, 4, 3}}); });
  CHECK(contains_all(m, {"concatenate_1", "at least 2 inputs"}));

  auto axis2 = configured({{"type", "Concatenate"}, {"axis", 2}}, "concatenate_1");
  m = message_of<ShapeError>([&] { axis2->infer_shape({{4, 4, 3}, {4, 4, 2}}); });
  CHECK(contains_all(m, {"concatenate_1", "axis 2", "last (channel) axis", "-1 or 3"}));

  m = message_of<ConfigError>([&] {
    configured({{"type", "Concatenate"}, {"axis", 0}}, "concatenate_1");
  });
  CHECK(contains_all(m, {"concatenate_1", "axis", "got 0"}));
  m = message_of<ConfigError>([&] {
    configured({{"type", "Concatenate"}, {"axis", -2}}, "concatenate_1");
  });
  CHECK(contains_all(m, {"concatenate_1", "axis", "got -2"}));
  m = message_of<ConfigError>([&] {
    configured({{"type", "Concatenate"}, {"axes", 3}}, "concatenate_1");
  });
  CHECK(contains_all(m, {"concatenate_1", "axes", "unknown field"}));
}
