// MaxPooling2D: gradients (stored and recomputed argmax), accumulation, hand-computed forwards
// including same padding and ties, parameter count, config round trip and errors (STYLE.md §8).
#include <doctest/doctest.h>

#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "MaxPooling2D", "pool_size": [2, 2]})", {{4, 5, 2}});

TEST_CASE("MaxPooling2D gradients match central differences") {
  // Valid and same padding, strides 1 and 2, overlapping and non-square windows, odd sizes.
  // Inputs are distinct values 0.05 apart, so the 1e-2 step never changes a window's argmax.
  const char* configs[] = {
      R"({})",
      R"({"pool_size": 3, "strides": 2, "padding": "same"})",
      R"({"pool_size": [2, 3], "strides": [1, 2], "padding": "same"})",
      R"({"pool_size": 3, "strides": 1})",
      R"({"pool_size": [3, 2], "strides": null, "padding": "same"})",
  };
  for (const char* config : configs) {
    for (bool training : {false, true}) {
      const std::string config_text = config;
      CAPTURE(config_text);
      CAPTURE(training);
      json block = json::parse(config);
      block["type"] = "MaxPooling2D";
      LayerHarness h(block, {{7, 5, 3}});
      Rng rng(8);
      GradCheckOptions opt;
      opt.training = training;  // true: argmax stored by forward; false: recomputed by backward
      const std::size_t compared = check_gradients(h, {distinct_tensor({2, 7, 5, 3}, rng)}, opt);
      CHECK(compared == 64);
    }
  }
}

TEST_CASE("MaxPooling2D backward accumulates: two calls give exactly twice the gradients") {
  Rng rng(4);
  for (bool training : {false, true}) {
    // Overlapping windows (stride 1 < pool 3) send several gradients to one input cell.
    LayerHarness h({{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 1}}, {{7, 5, 5}});
    check_accumulation(h, {distinct_tensor({2, 7, 5, 5}, rng)}, training);
  }
}

TEST_CASE("MaxPooling2D forward by hand") {
  SUBCASE("2x2 windows over a 4x4 image, two channels") {
    LayerHarness h({{"type", "MaxPooling2D"}}, {{4, 4, 2}});
    CHECK(h.out_shape == Shape{2, 2, 2});
    std::vector<float> v(32);
    for (std::size_t i = 0; i < 16; ++i) {
      v[2 * i] = static_cast<float>(i);       // channel 0: a ramp, max at each bottom-right
      v[2 * i + 1] = -static_cast<float>(i);  // channel 1: max at each top-left
    }
    const Tensor y = h.forward({make_tensor({1, 4, 4, 2}, v)}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) ==
          std::vector<float>{5, 0, 7, -2, 13, -8, 15, -10});
  }
  SUBCASE("same padding ignores the padded cells, even when every value is negative") {
    // 3x3, pool 2, stride 2: out 2x2, pad_total 1 -> one padded row at the bottom and one
    // padded column at the right; padding taking part as zeros would give 0 on the edges.
    LayerHarness h({{"type", "MaxPooling2D"}, {"padding", "same"}}, {{3, 3, 1}});
    CHECK(h.out_shape == Shape{2, 2, 1});
    const Tensor y =
        h.forward({make_tensor({1, 3, 3, 1}, {-9, -8, -7, -6, -5, -4, -3, -2, -1})}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{-5, -4, -2, -1});
  }
  SUBCASE("a tie sends the gradient to the first maximum in scan order") {
    LayerHarness h({{"type", "MaxPooling2D"}}, {{2, 2, 1}});
    const Tensor x = make_tensor({1, 2, 2, 1}, {1, 3, 3, 3});
    for (bool training : {false, true}) {
      const Tensor y = h.forward({x}, training);
      CHECK(y(0, 0, 0, 0) == 3.0f);
      const auto g = h.backward({x}, y, make_tensor({1, 1, 1, 1}, {2.0f}), training);
      CHECK(std::vector<float>(g[0].begin(), g[0].end()) == std::vector<float>{0, 2, 0, 0});
    }
  }
}

TEST_CASE("MaxPooling2D backward after an inference forward ignores an older training argmax") {
  // Grad-CAM style: a training forward on a, then an inference forward and backward on b.
  LayerHarness h({{"type", "MaxPooling2D"}}, {{2, 2, 1}});
  const Tensor a = make_tensor({1, 2, 2, 1}, {9, 0, 0, 0});
  const Tensor b = make_tensor({1, 2, 2, 1}, {0, 0, 0, 9});
  h.forward({a}, true);
  const Tensor y = h.forward({b}, false);
  const auto g = h.backward({b}, y, make_tensor({1, 1, 1, 1}, {1.0f}), false);
  CHECK(std::vector<float>(g[0].begin(), g[0].end()) == std::vector<float>{0, 0, 0, 1});
}

TEST_CASE("MaxPooling2D has no parameters") {
  LayerHarness h({{"type", "MaxPooling2D"}, {"pool_size", 2}}, {{26, 26, 32}});
  CHECK(h.layer->param_count() == 0);
  CHECK(h.out_shape == Shape{13, 13, 32});
}

TEST_CASE("MaxPooling2D config round-trips with every default written") {
  const auto full = check_round_trip({{"type", "MaxPooling2D"}});
  CHECK(full.dump() ==
        R"({"type":"MaxPooling2D","pool_size":[2,2],"strides":[2,2],"padding":"valid"})");
  // Keras writes "strides": null for the default.
  CHECK(check_round_trip({{"type", "MaxPooling2D"}, {"pool_size", {3, 2}}, {"strides", nullptr}})
            .dump() ==
        R"({"type":"MaxPooling2D","pool_size":[3,2],"strides":[3,2],"padding":"valid"})");
  check_round_trip(
      {{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 1}, {"padding", "same"}});
}

TEST_CASE("MaxPooling2D rejects bad configs naming the layer and the field") {
  const Shape in{6, 6, 3};
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"pool", 2}}, {in}),
                     {"layer 'bad_layer'", "/pool", "unknown field", "pool_size"}));
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"padding", "vaild"}}, {in}),
                     {"layer 'bad_layer'", "/padding", "did you mean 'valid'?"}));
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"pool_size", 0}}, {in}),
                     {"layer 'bad_layer'", "/pool_size", ">= 1"}));
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"strides", -1}}, {in}),
                     {"layer 'bad_layer'", "/strides", ">= 1"}));
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"strides", "2"}}, {in}),
                     {"layer 'bad_layer'", "/strides", "integer"}));
  CHECK(contains_all(shape_error({{"type", "MaxPooling2D"}, {"pool_size", 3}}, {{2, 4, 3}}),
                     {"layer 'bad_layer' (MaxPooling2D)", "(2, 4, 3)", "3x3", "(0, 1, 3)", "1x1"}));
  CHECK(contains_all(shape_error({{"type", "MaxPooling2D"}}, {{4, 4}}),
                     {"layer 'bad_layer' (MaxPooling2D)", "(4, 4)"}));
}

TEST_CASE("MaxPooling2D ceil_mode rounds the output size up, as PyTorch and ONNX do") {
  // SqueezeNet's 3x3 stride-2 pools: 112 -> 56 with ceil (55 with floor); 111 -> 55 either way.
  LayerHarness a({{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 2}, {"ceil_mode", true}},
                 {{112, 112, 1}});
  CHECK(a.out_shape == Shape{56, 56, 1});
  LayerHarness b({{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 2}, {"ceil_mode", true}},
                 {{111, 111, 1}});
  CHECK(b.out_shape == Shape{55, 55, 1});
  // The last window must start inside the input: in 5, pool 2, stride 4 -> windows at 0 and 4
  // (ceil((5-2)/4)+1 = 2); in 4, pool 1, stride 3 -> 0 and 3; in 3, pool 2, stride 2 -> 0 and 2.
  LayerHarness c({{"type", "MaxPooling2D"}, {"pool_size", 2}, {"strides", 2}, {"ceil_mode", true}},
                 {{3, 3, 1}});
  CHECK(c.out_shape == Shape{2, 2, 1});
  // The overhanging windows pool only their real cells, even when all are negative.
  const Tensor y =
      c.forward({make_tensor({1, 3, 3, 1}, {-9, -8, -7, -6, -5, -4, -3, -2, -1})}, false);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{-5, -4, -2, -1});
  // Round trip writes the key only when true; 'same' padding with ceil_mode is refused.
  const auto written = check_round_trip(
      {{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 2}, {"ceil_mode", true}});
  CHECK(written.at("ceil_mode") == true);
  CHECK_FALSE(written_config({{"type", "MaxPooling2D"}}).contains("ceil_mode"));
  CHECK(contains_all(
      config_error({{"type", "MaxPooling2D"}, {"padding", "same"}, {"ceil_mode", true}},
                   {{4, 4, 1}}),
      {"ceil_mode", "valid"}));
}

TEST_CASE("MaxPooling2D ceil_mode gradients match central differences") {
  for (bool training : {false, true}) {
    LayerHarness h(
        {{"type", "MaxPooling2D"}, {"pool_size", 3}, {"strides", 2}, {"ceil_mode", true}},
        {{8, 6, 2}});
    CHECK(h.out_shape == Shape{4, 3, 2});
    Rng rng(3);
    GradCheckOptions opt;
    opt.training = training;
    CHECK(check_gradients(h, {distinct_tensor({2, 8, 6, 2}, rng)}, opt) > 0);
  }
}

CNN_CONFORMANCE_CASE(R"({"type": "MaxPooling2D", "pool_size": [3, 2], "strides": [2, 1],
                        "padding": [[2, 0], [1, 1]], "dilation_rate": [1, 2]})",
                     {{6, 7, 2}});

TEST_CASE("MaxPooling2D explicit padding and dilation: by hand, gradients, round trip") {
  // 4x4 input, pool 2x2 dilated 2 (taps 0 and 2), stride 1, padding 1 before and 0 after each
  // axis: out = (4 + 1 - 3) / 1 + 1 = 3. Window (0, 0) starts at (-1, -1): its real taps are the
  // rows and columns 1 (tap 1 of each axis), so it is x[1][1].
  LayerHarness h({{"type", "MaxPooling2D"},
                  {"pool_size", 2},
                  {"strides", 1},
                  {"padding", {{1, 0}, {1, 0}}},
                  {"dilation_rate", 2}},
                 {{4, 4, 1}});
  REQUIRE(h.out_shape == Shape{3, 3, 1});
  std::vector<float> v(16);
  for (std::size_t i = 0; i < 16; ++i) v[i] = static_cast<float>((i * 7) % 16) - 8.0f;
  const Tensor y = h.forward({make_tensor({1, 4, 4, 1}, v)}, false);
  auto at = [&](long r, long c) { return v[static_cast<std::size_t>(r * 4 + c)]; };
  for (long oy = 0; oy < 3; ++oy)
    for (long ox = 0; ox < 3; ++ox) {
      float want = -1e30f;
      for (long ty = 0; ty < 2; ++ty)
        for (long tx = 0; tx < 2; ++tx) {
          const long r = oy - 1 + 2 * ty, c = ox - 1 + 2 * tx;
          if (r >= 0 && r < 4 && c >= 0 && c < 4) want = std::max(want, at(r, c));
        }
      CHECK(y(0, static_cast<std::size_t>(oy), static_cast<std::size_t>(ox), 0) == want);
    }
  for (bool training : {false, true}) {
    Rng rng(4);
    GradCheckOptions opt;
    opt.training = training;
    CHECK(check_gradients(h, {distinct_tensor({2, 4, 4, 1}, rng)}, opt) > 0);
  }
  Rng rng(5);
  check_accumulation(h, {distinct_tensor({2, 4, 4, 1}, rng)}, true);
  const auto written = check_round_trip(
      {{"type", "MaxPooling2D"}, {"padding", {{2, 0}, {1, 1}}}, {"dilation_rate", {2, 1}}});
  CHECK(written.at("padding") == json_ordered{{2, 0}, {1, 1}});
  CHECK(written.at("dilation_rate") == json_ordered{2, 1});
  CHECK_FALSE(written_config({{"type", "MaxPooling2D"}}).contains("dilation_rate"));
  // Padding as wide as the window would make windows of padding alone.
  CHECK(contains_all(
      config_error({{"type", "MaxPooling2D"}, {"pool_size", 2}, {"padding", {{2, 0}, {0, 0}}}},
                   {{4, 4, 1}}),
      {"padding", "smaller than the window"}));
  CHECK(contains_all(config_error({{"type", "MaxPooling2D"}, {"padding", {{1, 0}}}}, {{4, 4, 1}}),
                     {"padding", "[[top, bottom], [left, right]]"}));
}
