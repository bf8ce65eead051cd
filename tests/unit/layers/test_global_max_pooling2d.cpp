// GlobalMaxPooling2D: gradients (stored and recomputed argmax), accumulation, hand-computed
// forward with keepdims and ties, parameter count, config round trip and errors (STYLE.md §8).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "GlobalMaxPooling2D"})", {{4, 4, 3}});

TEST_CASE("GlobalMaxPooling2D gradients match central differences") {
  for (bool keepdims : {false, true})
    for (bool training : {false, true}) {
      CAPTURE(keepdims);
      CAPTURE(training);
      LayerHarness h({{"type", "GlobalMaxPooling2D"}, {"keepdims", keepdims}}, {{7, 5, 3}});
      Rng rng(8);
      GradCheckOptions opt;
      opt.training = training;
      CHECK(check_gradients(h, {distinct_tensor({3, 7, 5, 3}, rng)}, opt) == 64);
    }
}

TEST_CASE("GlobalMaxPooling2D backward accumulates: two calls give exactly twice the gradients") {
  LayerHarness h({{"type", "GlobalMaxPooling2D"}}, {{7, 5, 5}});
  Rng rng(4);
  check_accumulation(h, {distinct_tensor({2, 7, 5, 5}, rng)}, true);
}

TEST_CASE("GlobalMaxPooling2D forward by hand") {
  // [2, 2, 2]: channel 0 = 1, 4, -2, 3; channel 1 = -5, -1, -1, -7 (a tie at -1).
  const Tensor x = make_tensor({1, 2, 2, 2}, {1, -5, 4, -1, -2, -1, 3, -7});
  LayerHarness flat({{"type", "GlobalMaxPooling2D"}}, {{2, 2, 2}});
  CHECK(flat.out_shape == Shape{2});
  const Tensor y = flat.forward({x}, false);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{4, -1});
  // The tie at -1 routes to the first one in scan order, position (0, 1).
  const auto g = flat.backward({x}, y, make_tensor({1, 2}, {10, 20}), false);
  CHECK(std::vector<float>(g[0].begin(), g[0].end()) ==
        std::vector<float>{0, 0, 10, 20, 0, 0, 0, 0});

  LayerHarness kept({{"type", "GlobalMaxPooling2D"}, {"keepdims", true}}, {{2, 2, 2}});
  CHECK(kept.out_shape == Shape{1, 1, 2});
  const Tensor yk = kept.forward({x}, true);
  CHECK(std::vector<float>(yk.begin(), yk.end()) == std::vector<float>{4, -1});
}

TEST_CASE("GlobalMaxPooling2D has no parameters") {
  LayerHarness h({{"type", "GlobalMaxPooling2D"}}, {{7, 7, 512}});
  CHECK(h.layer->param_count() == 0);
}

TEST_CASE("GlobalMaxPooling2D config round-trips with every default written") {
  CHECK(check_round_trip({{"type", "GlobalMaxPooling2D"}}).dump() ==
        R"({"type":"GlobalMaxPooling2D","keepdims":false})");
  check_round_trip({{"type", "GlobalMaxPooling2D"}, {"keepdims", true}});
}

TEST_CASE("GlobalMaxPooling2D rejects bad configs naming the layer and the field") {
  CHECK(contains_all(config_error({{"type", "GlobalMaxPooling2D"}, {"keepdim", true}}, {{4, 4, 3}}),
                     {"layer 'bad_layer'", "/keepdim", "did you mean 'keepdims'?"}));
  CHECK(
      contains_all(config_error({{"type", "GlobalMaxPooling2D"}, {"keepdims", "yes"}}, {{4, 4, 3}}),
                   {"layer 'bad_layer'", "/keepdims", "true or false"}));
  CHECK(contains_all(shape_error({{"type", "GlobalMaxPooling2D"}}, {{16}}),
                     {"layer 'bad_layer' (GlobalMaxPooling2D)", "(16,)"}));
}
