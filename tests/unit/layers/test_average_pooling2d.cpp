// AveragePooling2D: gradients, accumulation, hand-computed forwards (same padding averages only
// real cells), parameter count, config round trip and errors (STYLE.md §8).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "AveragePooling2D", "pool_size": [2, 2]})", {{5, 5, 3}});
CNN_CONFORMANCE_CASE(R"({"type": "AveragePooling2D", "pool_size": [3, 3], "strides": [2, 2],
                          "padding": "same"})",
                     {{6, 5, 2}});

TEST_CASE("AveragePooling2D gradients match central differences") {
  const char* configs[] = {
      R"({})",
      R"({"pool_size": 3, "strides": 2, "padding": "same"})",
      R"({"pool_size": [2, 3], "strides": [1, 2], "padding": "same"})",
      R"({"pool_size": 3, "strides": 1})",
      R"({"pool_size": [3, 2], "padding": "same"})",
  };
  for (const char* config : configs) {
    const std::string config_text = config;
    CAPTURE(config_text);
    json block = json::parse(config);
    block["type"] = "AveragePooling2D";
    LayerHarness h(block, {{7, 5, 3}});
    Rng rng(8);
    CHECK(check_gradients(h, {random_tensor({2, 7, 5, 3}, rng)}) == 64);
  }
}

TEST_CASE("AveragePooling2D backward accumulates: two calls give exactly twice the gradients") {
  LayerHarness h(
      {{"type", "AveragePooling2D"}, {"pool_size", 3}, {"strides", 1}, {"padding", "same"}},
      {{7, 5, 5}});
  Rng rng(4);
  check_accumulation(h, {random_tensor({2, 7, 5, 5}, rng)}, true);
}

TEST_CASE("AveragePooling2D forward by hand") {
  SUBCASE("2x2 windows over a 4x4 ramp") {
    LayerHarness h({{"type", "AveragePooling2D"}}, {{4, 4, 1}});
    std::vector<float> v(16);
    for (std::size_t i = 0; i < 16; ++i) v[i] = static_cast<float>(i);
    const Tensor y = h.forward({make_tensor({1, 4, 4, 1}, v)}, false);
    // (0+1+4+5)/4, (2+3+6+7)/4, (8+9+12+13)/4, (10+11+14+15)/4
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  }
  SUBCASE("same padding divides by the real cells only") {
    // 3x3, pool 2, stride 2: one padded row at the bottom, one padded column at the right.
    LayerHarness h({{"type", "AveragePooling2D"}, {"padding", "same"}}, {{3, 3, 1}});
    CHECK(h.out_shape == Shape{2, 2, 1});
    const Tensor x = make_tensor({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor y = h.forward({x}, false);
    // (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9/1 -- not (3+6)/4 as zero padding would give.
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{3.0f, 4.5f, 7.5f, 9.0f});
    // Backward spreads each dy over the same real cells: dy = 1 everywhere.
    const auto g = h.backward({x}, y, make_tensor({1, 2, 2, 1}, {1, 1, 1, 1}), false);
    CHECK(std::vector<float>(g[0].begin(), g[0].end()) ==
          std::vector<float>{0.25f, 0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 1.0f});
  }
}

TEST_CASE("AveragePooling2D has no parameters") {
  LayerHarness h({{"type", "AveragePooling2D"}, {"pool_size", 3}, {"strides", 2}}, {{11, 11, 64}});
  CHECK(h.layer->param_count() == 0);
  CHECK(h.out_shape == Shape{5, 5, 64});
}

TEST_CASE("AveragePooling2D config round-trips with every default written") {
  CHECK(check_round_trip({{"type", "AveragePooling2D"}, {"pool_size", 3}}).dump() ==
        R"({"type":"AveragePooling2D","pool_size":[3,3],"strides":[3,3],"padding":"valid"})");
  check_round_trip({{"type", "AveragePooling2D"},
                    {"pool_size", {2, 3}},
                    {"strides", {1, 2}},
                    {"padding", "same"}});
}

TEST_CASE("AveragePooling2D rejects bad configs naming the layer and the field") {
  const Shape in{6, 6, 3};
  CHECK(contains_all(config_error({{"type", "AveragePooling2D"}, {"stride", 2}}, {in}),
                     {"layer 'bad_layer'", "/stride", "unknown field", "did you mean 'strides'?"}));
  CHECK(contains_all(config_error({{"type", "AveragePooling2D"}, {"padding", "SAME "}}, {in}),
                     {"layer 'bad_layer'", "/padding", "valid, same"}));
  CHECK(contains_all(config_error({{"type", "AveragePooling2D"}, {"pool_size", {2, 2, 2}}}, {in}),
                     {"layer 'bad_layer'", "/pool_size", "list of 2"}));
  CHECK(contains_all(shape_error({{"type", "AveragePooling2D"}, {"pool_size", {1, 7}}}, {in}),
                     {"layer 'bad_layer' (AveragePooling2D)", "(6, 6, 3)", "1x7", "(6, 0, 3)"}));
}

TEST_CASE("AveragePooling2D ceil_mode: overhanging windows average their real cells") {
  LayerHarness h(
      {{"type", "AveragePooling2D"}, {"pool_size", 2}, {"strides", 2}, {"ceil_mode", true}},
      {{3, 3, 1}});
  CHECK(h.out_shape == Shape{2, 2, 1});
  const Tensor y = h.forward({make_tensor({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, false);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{3, 4.5f, 7.5f, 9});
  Rng rng(5);
  CHECK(check_gradients(h, {distinct_tensor({2, 3, 3, 1}, rng)}, GradCheckOptions{}) > 0);
}

CNN_CONFORMANCE_CASE(R"({"type": "AveragePooling2D", "pool_size": 2, "strides": 2,
                        "padding": [[1, 1], [0, 1]], "ceil_mode": true})",
                     {{5, 4, 2}});

TEST_CASE("AveragePooling2D explicit padding: padding cells are not counted") {
  // 3x3 input, pool 2, stride 2, padding [[1, 0], [1, 0]]: out 2x2; window (0, 0) holds only
  // x[0][0], window (1, 1) the four cells x[1..2][1..2].
  LayerHarness h({{"type", "AveragePooling2D"},
                  {"pool_size", 2},
                  {"strides", 2},
                  {"padding", {{1, 0}, {1, 0}}}},
                 {{3, 3, 1}});
  REQUIRE(h.out_shape == Shape{2, 2, 1});
  const Tensor y = h.forward({make_tensor({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, false);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{1, 2.5f, 5.5f, 7});
  Rng rng(6);
  CHECK(check_gradients(h, {distinct_tensor({2, 3, 3, 1}, rng)}, GradCheckOptions{}) > 0);
  LayerHarness d(
      {{"type", "AveragePooling2D"}, {"pool_size", 2}, {"strides", 1}, {"dilation_rate", 2}},
      {{5, 5, 2}});
  CHECK(d.out_shape == Shape{3, 3, 2});
  CHECK(check_gradients(d, {distinct_tensor({2, 5, 5, 2}, rng)}, GradCheckOptions{}) > 0);
}
