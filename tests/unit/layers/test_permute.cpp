// Permute: gradients, accumulation, the element order, round trip, errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Permute", "dims": [3, 1, 2]})", {{3, 2, 4}});
CNN_CONFORMANCE_CASE(R"({"type": "Permute", "dims": [2, 1]})", {{3, 5}});

TEST_CASE("Permute gradients match numerical ones") {
  LayerHarness h({{"type", "Permute"}, {"dims", {2, 3, 1}}}, {{4, 3, 2}});
  CHECK(h.out_shape == Shape{3, 2, 4});
  Rng rng(1);
  CHECK(check_gradients(h, {random_tensor({2, 4, 3, 2}, rng)}) > 0);
}

TEST_CASE("Permute backward accumulates exactly") {
  LayerHarness h({{"type", "Permute"}, {"dims", {3, 1, 2}}}, {{3, 2, 5}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({2, 3, 2, 5}, rng)}, false);
}

TEST_CASE("Permute [3, 1, 2] takes NHWC to NCHW order, sample by sample") {
  LayerHarness h({{"type", "Permute"}, {"dims", {3, 1, 2}}}, {{2, 3, 4}});
  REQUIRE(h.out_shape == Shape{4, 2, 3});
  Rng rng(3);
  const Tensor x = random_tensor({2, 2, 3, 4}, rng);
  const Tensor y = h.forward({x}, false);
  for (std::size_t n = 0; n < 2; ++n)
    for (std::size_t a = 0; a < 2; ++a)
      for (std::size_t b = 0; b < 3; ++b)
        for (std::size_t c = 0; c < 4; ++c) CHECK(y(n, c, a, b) == x(n, a, b, c));
}

TEST_CASE("Permute has no parameters and round-trips") {
  CHECK(count_params({{"type", "Permute"}, {"dims", {2, 1}}}, {{7, 5}}).first == 0);
  CHECK(check_round_trip({{"type", "Permute"}, {"dims", {3, 1, 2}}}).dump() ==
        R"({"type":"Permute","dims":[3,1,2]})");
}

TEST_CASE("Permute refuses dims that are not a permutation of the sample's axes") {
  for (const auto& dims : {json{{1, 1}}, json{{0, 1}}, json{{1, 2, 3, 4}}, json{{2, 3}}}) {
    const std::string m = message_of<ConfigError>([&] {
      configured({{"type", "Permute"}, {"dims", dims[0]}}, "permute_1");
    });
    INFO(m);
    CHECK(contains_all(m, {"permute_1", "dims"}));
  }
  const std::string m = message_of<ShapeError>([] {
    LayerHarness h({{"type", "Permute"}, {"dims", {2, 1}}}, {{2, 3, 4}});
  });
  CHECK(contains_all(m, {"dims has 2 axes", "(2, 3, 4)"}));
}
