// Flatten: gradients, accumulation, memory order, no parameters, round trip, errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Flatten"})", {{3, 2, 2}});

TEST_CASE("Flatten gradients match numerical ones") {
  LayerHarness h({{"type", "Flatten"}}, {{5, 7, 2}});
  CHECK(h.out_shape == Shape{70});
  Rng rng(1);
  CHECK(check_gradients(h, {random_tensor({3, 5, 7, 2}, rng)}) > 0);
}

TEST_CASE("Flatten backward accumulates exactly") {
  LayerHarness h({{"type", "Flatten"}}, {{3, 3, 2}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({2, 3, 3, 2}, rng)}, false);
}

TEST_CASE("Flatten keeps NHWC memory order") {
  LayerHarness h({{"type", "Flatten"}}, {{1, 2, 2}});
  Tensor x;
  ensure_shape(x, {2, 1, 2, 2});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i);
  const Tensor y = h.forward({x}, false);
  REQUIRE(shape_of(y) == Shape{2, 4});
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y.data()[i] == static_cast<float>(i));
  // (n=1, h=0, w=1, c=0) is the second sample's third value.
  CHECK(y(1, 2) == x(1, 0, 1, 0));
}

TEST_CASE("Flatten has no parameters and round-trips") {
  CHECK(count_params({{"type", "Flatten"}}, {{7, 7, 64}}).first == 0);
  CHECK(check_round_trip({{"type", "Flatten"}}).dump() == R"({"type":"Flatten"})");
}

TEST_CASE("Flatten rejects unknown keys") {
  const std::string m = message_of<ConfigError>([] {
    configured({{"type", "Flatten"}, {"units", 3}}, "flatten_2");
  });
  INFO(m);
  CHECK(contains_all(m, {"flatten_2", "units", "unknown field"}));
}
