// GlobalAveragePooling2D: gradients, accumulation, hand-computed forward with keepdims,
// parameter count, config round trip and errors (STYLE.md §8).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "GlobalAveragePooling2D"})", {{4, 4, 3}});

TEST_CASE("GlobalAveragePooling2D gradients match central differences") {
  for (bool keepdims : {false, true}) {
    CAPTURE(keepdims);
    LayerHarness h({{"type", "GlobalAveragePooling2D"}, {"keepdims", keepdims}}, {{7, 5, 3}});
    Rng rng(8);
    CHECK(check_gradients(h, {random_tensor({3, 7, 5, 3}, rng)}) == 64);
  }
}

TEST_CASE("GlobalAveragePooling2D backward accumulates: two calls give exactly twice") {
  LayerHarness h({{"type", "GlobalAveragePooling2D"}}, {{7, 5, 5}});
  Rng rng(4);
  check_accumulation(h, {random_tensor({2, 7, 5, 5}, rng)}, true);
}

TEST_CASE("GlobalAveragePooling2D forward by hand") {
  // [2, 2, 2]: channel 0 = 1, 2, 3, 6 (mean 3); channel 1 = -4, 0, 0, 0 (mean -1).
  const Tensor x = make_tensor({2, 2, 2, 2}, {1, -4, 2, 0, 3, 0, 6, 0,  //
                                              0, 0, 0, 0, 0, 0, 4, 8});
  LayerHarness flat({{"type", "GlobalAveragePooling2D"}}, {{2, 2, 2}});
  CHECK(flat.out_shape == Shape{2});
  const Tensor y = flat.forward({x}, false);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{3, -1, 1, 2});
  const auto g = flat.backward({x}, y, make_tensor({2, 2}, {4, 8, 0, 0}), false);
  CHECK(std::vector<float>(g[0].begin(), g[0].begin() + 8) ==
        std::vector<float>{1, 2, 1, 2, 1, 2, 1, 2});

  LayerHarness kept({{"type", "GlobalAveragePooling2D"}, {"keepdims", true}}, {{2, 2, 2}});
  CHECK(kept.out_shape == Shape{1, 1, 2});
  const Tensor yk = kept.forward({x}, false);
  CHECK(std::vector<float>(yk.begin(), yk.end()) == std::vector<float>{3, -1, 1, 2});
}

TEST_CASE("GlobalAveragePooling2D has no parameters") {
  LayerHarness h({{"type", "GlobalAveragePooling2D"}}, {{7, 7, 512}});
  CHECK(h.layer->param_count() == 0);
  CHECK(h.out_shape == Shape{512});
}

TEST_CASE("GlobalAveragePooling2D config round-trips with every default written") {
  CHECK(check_round_trip({{"type", "GlobalAveragePooling2D"}}).dump() ==
        R"({"type":"GlobalAveragePooling2D","keepdims":false})");
  check_round_trip({{"type", "GlobalAveragePooling2D"}, {"keepdims", true}});
}

TEST_CASE("GlobalAveragePooling2D rejects bad configs naming the layer and the field") {
  CHECK(contains_all(
      config_error({{"type", "GlobalAveragePooling2D"}, {"data_fromat", 1}}, {{4, 4, 3}}),
      {"layer 'bad_layer'", "/data_fromat", "unknown field"}));
  CHECK(
      contains_all(config_error({{"type", "GlobalAveragePooling2D"}, {"keepdims", 1}}, {{4, 4, 3}}),
                   {"layer 'bad_layer'", "/keepdims", "true or false"}));
  CHECK(contains_all(shape_error({{"type", "GlobalAveragePooling2D"}}, {{4, 4, 3, 1}}),
                     {"layer 'bad_layer' (GlobalAveragePooling2D)", "(4, 4, 3, 1)"}));
}
