// ZeroPadding2D: gradients, accumulation, hand-computed forward for each padding form,
// parameter count, config round trip and errors (STYLE.md §8).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "ZeroPadding2D", "padding": [1, 2]})", {{3, 3, 2}});

TEST_CASE("ZeroPadding2D gradients match central differences") {
  const char* configs[] = {R"({})", R"({"padding": [2, 0]})", R"({"padding": [[0, 2], [3, 1]]})"};
  for (const char* config : configs) {
    const std::string config_text = config;
    CAPTURE(config_text);
    json block = json::parse(config);
    block["type"] = "ZeroPadding2D";
    LayerHarness h(block, {{7, 5, 3}});
    Rng rng(8);
    CHECK(check_gradients(h, {random_tensor({2, 7, 5, 3}, rng)}) == 64);
  }
}

TEST_CASE("ZeroPadding2D backward accumulates: two calls give exactly twice the gradients") {
  LayerHarness h({{"type", "ZeroPadding2D"}, {"padding", {{1, 2}, {0, 3}}}}, {{7, 5, 5}});
  Rng rng(4);
  check_accumulation(h, {random_tensor({2, 7, 5, 5}, rng)}, true);
}

TEST_CASE("ZeroPadding2D forward by hand") {
  const Tensor x = make_tensor({1, 2, 2, 1}, {1, 2, 3, 4});
  SUBCASE("default: one cell on every side") {
    LayerHarness h({{"type", "ZeroPadding2D"}}, {{2, 2, 1}});
    CHECK(h.out_shape == Shape{4, 4, 1});
    const Tensor y = h.forward({x}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) ==
          std::vector<float>{0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0});
  }
  SUBCASE("[rows, cols] pads each axis symmetrically") {
    LayerHarness h({{"type", "ZeroPadding2D"}, {"padding", {0, 1}}}, {{2, 2, 1}});
    CHECK(h.out_shape == Shape{2, 4, 1});
    const Tensor y = h.forward({x}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{0, 1, 2, 0, 0, 3, 4, 0});
  }
  SUBCASE("[[top, bottom], [left, right]], two channels") {
    LayerHarness h({{"type", "ZeroPadding2D"}, {"padding", {{1, 0}, {0, 1}}}}, {{1, 1, 2}});
    CHECK(h.out_shape == Shape{2, 2, 2});
    const Tensor y = h.forward({make_tensor({1, 1, 1, 2}, {5, 6})}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{0, 0, 0, 0, 5, 6, 0, 0});
  }
}

TEST_CASE("ZeroPadding2D has no parameters") {
  LayerHarness h({{"type", "ZeroPadding2D"}, {"padding", 3}}, {{224, 224, 3}});
  CHECK(h.layer->param_count() == 0);
  CHECK(h.out_shape == Shape{230, 230, 3});
}

TEST_CASE("ZeroPadding2D config round-trips with every default written") {
  CHECK(check_round_trip({{"type", "ZeroPadding2D"}}).dump() ==
        R"({"type":"ZeroPadding2D","padding":[[1,1],[1,1]]})");
  CHECK(check_round_trip({{"type", "ZeroPadding2D"}, {"padding", {2, 3}}}).dump() ==
        R"({"type":"ZeroPadding2D","padding":[[2,2],[3,3]]})");
  check_round_trip({{"type", "ZeroPadding2D"}, {"padding", {{0, 1}, {2, 3}}}});
}

TEST_CASE("ZeroPadding2D rejects bad configs naming the layer and the field") {
  const Shape in{4, 4, 3};
  const json bad[] = {-1,
                      "same",
                      json::array({1, 2, 3}),
                      json::array({json::array({1, 2}), 3}),
                      json::array({json::array({1}), json::array({2, 3})}),
                      json::array({json::array({1, -2}), json::array({2, 3})}),
                      1.5};
  for (const auto& padding : bad) {
    CAPTURE(padding.dump());
    CHECK(contains_all(config_error({{"type", "ZeroPadding2D"}, {"padding", padding}}, {in}),
                       {"layer 'bad_layer'", "/padding", "[[top, bottom], [left, right]]"}));
  }
  CHECK(contains_all(config_error({{"type", "ZeroPadding2D"}, {"pading", 1}}, {in}),
                     {"layer 'bad_layer'", "/pading", "did you mean 'padding'?"}));
  CHECK(contains_all(shape_error({{"type", "ZeroPadding2D"}}, {{4, 0, 3}}),
                     {"layer 'bad_layer' (ZeroPadding2D)", "(4, 0, 3)"}));
}
