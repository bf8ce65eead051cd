// Conv2D: gradients, accumulation, hand-computed and naive-reference forwards, Keras parameter
// counts, config round trip and config/shape errors (STYLE.md §8).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/gemm.hpp"
#include "layers/conv2d.hpp"
#include "layers/spatial_test_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases: smooth
// activations, as a random input puts some pre-activation within the numerical step of relu's
// kink (the cases below check relu).
CNN_CONFORMANCE_CASE(R"({"type": "Conv2D", "filters": 3, "kernel_size": [3, 3], "strides": [2, 2],
                          "padding": "same", "activation": "sigmoid"})",
                     {{7, 6, 2}});
CNN_CONFORMANCE_CASE(R"({"type": "Conv2D", "filters": 4, "kernel_size": [1, 1],
                          "use_bias": false})",
                     {{4, 4, 3}});
CNN_CONFORMANCE_CASE(R"({"type": "Conv2D", "filters": 5, "kernel_size": [3, 3]})", {{10, 10, 4}},
                     true);

namespace {

// A direct 7-loop convolution (no im2col, no GEMM) with TF "same" padding computed here from
// its definition, as the independent oracle of the forward pass. Linear activation.
Tensor naive_conv(const Tensor& x, const float* kernel, const float* bias, std::size_t kh,
                  std::size_t kw, std::size_t filters, std::size_t sh, std::size_t sw,
                  std::size_t dh, std::size_t dw, bool same) {
  const std::size_t n = x.shape()[0], h = x.shape()[1], w = x.shape()[2], c = x.shape()[3];
  const std::size_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
  std::size_t oh, ow;
  long pt = 0, pl = 0;
  if (same) {
    oh = (h + sh - 1) / sh;
    ow = (w + sw - 1) / sw;
    pt = std::max(0L, static_cast<long>((oh - 1) * sh + ekh) - static_cast<long>(h)) / 2;
    pl = std::max(0L, static_cast<long>((ow - 1) * sw + ekw) - static_cast<long>(w)) / 2;
  } else {
    oh = (h - ekh) / sh + 1;
    ow = (w - ekw) / sw + 1;
  }
  Tensor y;
  ensure_shape(y, {n, oh, ow, filters});
  for (std::size_t b = 0; b < n; ++b)
    for (std::size_t oy = 0; oy < oh; ++oy)
      for (std::size_t ox = 0; ox < ow; ++ox)
        for (std::size_t f = 0; f < filters; ++f) {
          double acc = bias ? bias[f] : 0.0;
          for (std::size_t ky = 0; ky < kh; ++ky)
            for (std::size_t kx = 0; kx < kw; ++kx)
              for (std::size_t ci = 0; ci < c; ++ci) {
                const long iy = static_cast<long>(oy * sh + ky * dh) - pt;
                const long ix = static_cast<long>(ox * sw + kx * dw) - pl;
                if (iy < 0 || ix < 0 || iy >= static_cast<long>(h) || ix >= static_cast<long>(w))
                  continue;
                acc += static_cast<double>(x(b, iy, ix, ci)) *
                       kernel[((ky * kw + kx) * c + ci) * filters + f];
              }
          y(b, oy, ox, f) = static_cast<float>(acc);
        }
  return y;
}

}  // namespace

TEST_CASE("Conv2D gradients match central differences") {
  struct Case {
    const char* config;
    Shape in;
    std::size_t batch;
  };
  // Odd sizes, channel counts 3 and 5, non-square kernels, strides 1 and 2, both paddings,
  // dilation 2, and activations with kinks (relu) and curvature (tanh, sigmoid, softmax).
  const Case cases[] = {
      {R"({"filters": 5, "kernel_size": [3, 2]})", {7, 5, 3}, 2},
      {R"({"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
           "activation": "relu"})",
       {7, 5, 3},
       3},
      {R"({"filters": 3, "kernel_size": [2, 3], "strides": [2, 1], "activation": "tanh"})",
       {7, 5, 5},
       2},
      {R"({"filters": 5, "kernel_size": 3, "dilation_rate": 2, "padding": "same",
           "activation": "relu"})",
       {7, 5, 3},
       2},
      {R"({"filters": 2, "kernel_size": [3, 1], "dilation_rate": [2, 1]})", {7, 5, 5}, 2},
      {R"({"filters": 3, "kernel_size": 4, "strides": 2, "padding": "same", "use_bias": false,
           "activation": "sigmoid"})",
       {7, 5, 3},
       2},
      {R"({"filters": 4, "kernel_size": [1, 1], "activation": "softmax",
           "bias_initializer": "glorot_uniform"})",
       {3, 5, 5},
       2},
  };
  for (const auto& c : cases) {
    const std::string config = c.config;
    CAPTURE(config);
    json block = json::parse(c.config);
    block["type"] = "Conv2D";
    LayerHarness h(block, {c.in}, 3);
    Rng rng(21);
    const Tensor x = random_tensor(batch_shape(c.batch, c.in), rng);
    GradCheckOptions opt;  // default step and tolerance
    // A kernel entry feeds every output position, so its +-1e-2 step often carries one of
    // ~70 relu inputs across 0. The default kink filter (the two step sizes disagreeing by 5%)
    // lets such partial crossings through, though they shift the estimate by more than the 1e-3
    // tolerance; treating any disagreement above the tolerance as a kink skips them instead.
    // (With linear activation the same configs pass with every coordinate compared.)
    if (block.value("activation", "") == "relu") opt.kink_ratio = opt.tolerance;
    const std::size_t compared = check_gradients(h, {x}, opt);
    CHECK(compared > 64);
  }
}

TEST_CASE("Conv2D backward accumulates: two calls give exactly twice the gradients") {
  LayerHarness h({{"type", "Conv2D"},
                  {"filters", 4},
                  {"kernel_size", 3},
                  {"strides", 2},
                  {"padding", "same"},
                  {"activation", "relu"},
                  {"bias_initializer", "glorot_uniform"}},
                 {{7, 5, 3}});
  Rng rng(4);
  check_accumulation(h, {random_tensor({2, 7, 5, 3}, rng)}, true);
}

TEST_CASE("Conv2D forward by hand") {
  SUBCASE("2x2 ones kernel over a 3x3 ramp, stride 1, bias 1") {
    LayerHarness h({{"type", "Conv2D"},
                    {"filters", 1},
                    {"kernel_size", 2},
                    {"kernel_initializer", "ones"},
                    {"bias_initializer", "ones"}},
                   {{3, 3, 1}});
    CHECK(h.out_shape == Shape{2, 2, 1});
    const Tensor y = h.forward({make_tensor({1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9})}, false);
    // 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9, each + bias 1.
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{13, 17, 25, 29});
  }
  SUBCASE("constant kernel sums the channels of a single pixel") {
    LayerHarness h(
        {{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 1}, {"kernel_initializer", "ones"}},
        {{1, 1, 3}});
    const Tensor y = h.forward({make_tensor({1, 1, 1, 3}, {0.5f, 2.0f, -1.0f})}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{1.5f, 1.5f});
  }
  SUBCASE("same padding on 4x4 with stride 2 pads only bottom and right") {
    // out = ceil(4 / 2) = 2, pad_total = (2 - 1) * 2 + 3 - 4 = 1: pad_top = 0, pad_bottom = 1.
    LayerHarness h({{"type", "Conv2D"},
                    {"filters", 1},
                    {"kernel_size", 3},
                    {"strides", 2},
                    {"padding", "same"},
                    {"kernel_initializer", "ones"}},
                   {{4, 4, 1}});
    CHECK(h.out_shape == Shape{2, 2, 1});
    std::vector<float> ramp(16);
    for (std::size_t i = 0; i < 16; ++i) ramp[i] = static_cast<float>(i + 1);
    const Tensor y = h.forward({make_tensor({1, 4, 4, 1}, ramp)}, false);
    // rows 0-2 x cols 0-2: 1+2+3+5+6+7+9+10+11 = 54; rows 0-2 x cols 2-3: 3+4+7+8+11+12 = 45;
    // rows 2-3 x cols 0-2: 9+10+11+13+14+15 = 72; rows 2-3 x cols 2-3: 11+12+15+16 = 54.
    // (Symmetric padding would give 14 in the first cell.)
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{54, 45, 72, 54});
  }
  SUBCASE("dilation 2 reads every other cell") {
    LayerHarness h({{"type", "Conv2D"},
                    {"filters", 1},
                    {"kernel_size", 3},
                    {"dilation_rate", 2},
                    {"kernel_initializer", "ones"}},
                   {{5, 5, 1}});
    CHECK(h.out_shape == Shape{1, 1, 1});
    std::vector<float> ramp(25);
    for (std::size_t i = 0; i < 25; ++i) ramp[i] = static_cast<float>(i + 1);
    const Tensor y = h.forward({make_tensor({1, 5, 5, 1}, ramp)}, false);
    // rows and columns 0, 2, 4: (1+3+5) + (11+13+15) + (21+23+25) = 117.
    CHECK(y(0, 0, 0, 0) == 117.0f);
  }
  SUBCASE("relu clips the negative sums") {
    LayerHarness h({{"type", "Conv2D"},
                    {"filters", 1},
                    {"kernel_size", 1},
                    {"kernel_initializer", "ones"},
                    {"activation", "relu"}},
                   {{1, 2, 1}});
    const Tensor y = h.forward({make_tensor({1, 1, 2, 1}, {-2.0f, 3.0f})}, false);
    CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>{0.0f, 3.0f});
  }
}

TEST_CASE("Conv2D forward equals a direct convolution") {
  struct Case {
    std::size_t kh, kw, filters, sh, sw, dh, dw;
    bool same;
    Shape in;
  };
  const Case cases[] = {
      {3, 3, 4, 1, 1, 1, 1, false, {7, 5, 3}}, {3, 2, 5, 2, 2, 1, 1, true, {7, 5, 3}},
      {2, 3, 3, 2, 1, 1, 1, false, {6, 7, 5}}, {3, 3, 2, 1, 1, 2, 2, true, {7, 5, 3}},
      {4, 4, 3, 3, 3, 1, 1, true, {7, 5, 2}},  {1, 1, 6, 1, 1, 1, 1, false, {3, 4, 5}},
      {5, 5, 2, 1, 1, 1, 1, true, {3, 2, 3}},  {3, 1, 2, 1, 1, 3, 1, false, {7, 5, 1}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.kh);
    CAPTURE(c.kw);
    CAPTURE(c.sh);
    CAPTURE(c.dh);
    CAPTURE(c.same);
    const json block = {{"type", "Conv2D"},
                        {"filters", c.filters},
                        {"kernel_size", {c.kh, c.kw}},
                        {"strides", {c.sh, c.sw}},
                        {"dilation_rate", {c.dh, c.dw}},
                        {"padding", c.same ? "same" : "valid"},
                        {"bias_initializer", "glorot_uniform"}};
    LayerHarness h(block, {c.in}, 9);
    Rng rng(13);
    const Tensor x = random_tensor(batch_shape(2, c.in), rng);
    const Tensor y = h.forward({x}, false);
    const Tensor ref = naive_conv(x, h.param("kernel").value, h.param("bias").value, c.kh, c.kw,
                                  c.filters, c.sh, c.sw, c.dh, c.dw, c.same);
    REQUIRE(shape_of(y) == shape_of(ref));
    for (std::size_t i = 0; i < y.size(); ++i)
      REQUIRE_MESSAGE(std::fabs(y.data()[i] - ref.data()[i]) <= 1e-5f, "index " << i);
  }
}

TEST_CASE("Conv2D parameter counts equal Keras's") {
  LayerHarness a({{"type", "Conv2D"}, {"filters", 32}, {"kernel_size", 3}}, {{28, 28, 1}});
  CHECK(a.layer->param_count() == 320);
  CHECK(a.param("kernel").shape == Shape{3, 3, 1, 32});
  CHECK(a.param("bias").shape == Shape{32});
  LayerHarness b({{"type", "Conv2D"}, {"filters", 64}, {"kernel_size", {3, 3}}}, {{13, 13, 32}});
  CHECK(b.layer->param_count() == 18496);
  LayerHarness c({{"type", "Conv2D"}, {"filters", 64}, {"kernel_size", 3}, {"use_bias", false}},
                 {{13, 13, 32}});
  CHECK(c.layer->param_count() == 18432);
  CHECK(c.layer->params().size() == 1);
}

TEST_CASE("Conv2D config round-trips with every default written") {
  const auto full = check_round_trip({{"type", "Conv2D"}, {"filters", 8}, {"kernel_size", 3}});
  CHECK(full.dump() ==
        R"({"type":"Conv2D","filters":8,"kernel_size":[3,3],"strides":[1,1],"padding":"valid",)"
        R"("dilation_rate":[1,1],"activation":"linear","use_bias":true,)"
        R"("kernel_initializer":"glorot_uniform","bias_initializer":"zeros"})");
  check_round_trip({{"type", "Conv2D"},
                    {"filters", 3},
                    {"kernel_size", {5, 1}},
                    {"strides", {2, 1}},
                    {"padding", "same"},
                    {"activation", "relu"},
                    {"use_bias", false},
                    {"kernel_initializer", "he_normal"},
                    {"bias_initializer", "ones"}});
  check_round_trip(
      {{"type", "Conv2D"}, {"filters", 3}, {"kernel_size", 3}, {"dilation_rate", {2, 3}}});
}

TEST_CASE("Conv2D rejects bad configs naming the layer and the field") {
  const Shape in{7, 7, 3};
  CHECK(contains_all(
      config_error({{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 3}, {"filter", 2}}, {in}),
      {"layer 'bad_layer'", "/filter", "unknown field", "did you mean 'filters'?"}));
  CHECK(contains_all(config_error({{"type", "Conv2D"}, {"filters", -4}, {"kernel_size", 3}}, {in}),
                     {"layer 'bad_layer'", "/filters", ">= 1", "-4"}));
  CHECK(contains_all(config_error({{"type", "Conv2D"}, {"kernel_size", 3}}, {in}),
                     {"layer 'bad_layer'", "/filters", "missing required field"}));
  CHECK(contains_all(config_error({{"type", "Conv2D"}, {"filters", 4}}, {in}),
                     {"layer 'bad_layer'", "/kernel_size", "missing required field"}));
  CHECK(contains_all(
      config_error({{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 3}, {"padding", "sme"}},
                   {in}),
      {"layer 'bad_layer'", "/padding", "'sme'", "did you mean 'same'?"}));
  CHECK(contains_all(
      config_error({{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", {3, 0}}}, {in}),
      {"layer 'bad_layer'", "/kernel_size", ">= 1"}));
  CHECK(contains_all(config_error({{"type", "Conv2D"},
                                   {"filters", 4},
                                   {"kernel_size", 3},
                                   {"strides", 2},
                                   {"dilation_rate", 2}},
                                  {in}),
                     {"layer 'bad_layer'", "/dilation_rate", "strides 2x2"}));
  CHECK(contains_all(
      config_error({{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 3}, {"activation", "rleu"}},
                   {in}),
      {"layer 'bad_layer'", "/activation", "did you mean 'relu'?"}));
  CHECK(contains_all(config_error({{"type", "Conv2D"},
                                   {"filters", 4},
                                   {"kernel_size", 3},
                                   {"kernel_initializer", "glorot"}},
                                  {in}),
                     {"layer 'bad_layer'", "/kernel_initializer", "glorot_uniform"}));
  CHECK(contains_all(
      config_error({{"type", "Conv2D"}, {"filters", 4}, {"kernel_size", 3}, {"use_bias", 1}}, {in}),
      {"layer 'bad_layer'", "/use_bias", "true or false"}));
}

TEST_CASE("Conv2D shape errors name the layer and both shapes") {
  CHECK(contains_all(
      shape_error({{"type", "Conv2D"}, {"filters", 8}, {"kernel_size", 3}}, {{2, 2, 1}}),
      {"layer 'bad_layer' (Conv2D)", "(2, 2, 1)", "3x3", "(0, 0, 8)", "1x1"}));
  CHECK(contains_all(
      shape_error({{"type", "Conv2D"}, {"filters", 8}, {"kernel_size", 3}, {"dilation_rate", 2}},
                  {{9, 4, 1}}),
      {"layer 'bad_layer' (Conv2D)", "(9, 4, 1)", "(5, 0, 8)"}));
  CHECK(contains_all(shape_error({{"type", "Conv2D"}, {"filters", 8}, {"kernel_size", 3}}, {{784}}),
                     {"layer 'bad_layer' (Conv2D)", "(784,)", "(height, width, channels)"}));
  // "same" never shrinks below 1x1, even with a kernel larger than the input.
  LayerHarness h(
      {{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 5}, {"padding", "same"}, {"strides", 3}},
      {{2, 2, 1}});
  CHECK(h.out_shape == Shape{1, 1, 2});
}

TEST_CASE("Conv2D forward rejects a tensor of the wrong shape") {
  LayerHarness h({{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 3}}, {{5, 5, 1}});
  Rng rng(1);
  const Tensor x = random_tensor({2, 5, 4, 1}, rng);
  std::vector<const Tensor*> in{&x};
  Tensor y;
  ensure_shape(y, {2, 3, 3, 2});
  CHECK_THROWS_AS(h.layer->forward(h.ctx, in, y), ShapeError);
}

TEST_CASE("Conv2D frozen: no parameter gradients, input gradient still flows") {
  LayerHarness h({{"type", "Conv2D"}, {"filters", 2}, {"kernel_size", 3}, {"trainable", false}},
                 {{5, 5, 2}});
  Rng rng(2);
  const Tensor x = random_tensor({2, 5, 5, 2}, rng);
  const Tensor y = h.forward({x}, true);
  const Tensor dy = random_tensor(shape_of(y), rng);
  h.zero_grads();
  const auto gin = h.backward({x}, y, dy, true);
  CHECK(std::all_of(h.grads.begin(), h.grads.end(), [](float g) { return g == 0.0f; }));
  CHECK(std::any_of(gin[0].begin(), gin[0].end(), [](float g) { return g != 0.0f; }));
}

TEST_CASE("Conv2D over chunks of samples equals the direct convolution and per-sample gradients") {
  // The chunk size comes from a scratch budget; tiny budgets force one sample per GEMM, or
  // chunks of 2-3 samples with a shorter last chunk (batch 7), against the whole batch at once.
  // 1x1 (no im2col), 5x5, stride 2, same padding, channels 3/13/24, batch 1 and 7, and the
  // row-split weight gradient of a small kernel.
  struct Case {
    std::size_t k, filters, stride;
    bool same;
    Shape in;
    std::size_t batch;
    const char* act;
  };
  const Case cases[] = {
      {3, 4, 1, false, {7, 5, 3}, 7, "relu"},
      {1, 5, 1, false, {3, 4, 13}, 7, "relu"},
      {5, 3, 1, true, {6, 7, 3}, 7, "linear"},
      {3, 6, 2, true, {9, 8, 24}, 1, "tanh"},
      {3, 17, 2, false, {15, 16, 3}, 7, "sigmoid"},
      {1, 3, 2, true, {5, 5, 13}, 7, "relu"},
      // 7 * 38 * 38 rows in one chunk: the small kernel's weight gradient is split over rows.
      {3, 4, 1, false, {40, 40, 1}, 7, "linear"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.k);
    CAPTURE(c.stride);
    CAPTURE(c.same);
    CAPTURE(c.batch);
    const json block = {{"type", "Conv2D"},
                        {"filters", c.filters},
                        {"kernel_size", c.k},
                        {"strides", c.stride},
                        {"padding", c.same ? "same" : "valid"},
                        {"activation", c.act},
                        {"bias_initializer", "glorot_uniform"}};
    Rng rng(21);
    const Tensor x = random_tensor(batch_shape(c.batch, c.in), rng);
    // Per-sample bytes of the widest scratch row block, to size budgets of 1, 2 and 3 samples.
    const std::size_t oh =
        c.same ? (c.in[0] + c.stride - 1) / c.stride : (c.in[0] - c.k) / c.stride + 1;
    const std::size_t ow =
        c.same ? (c.in[1] + c.stride - 1) / c.stride : (c.in[1] - c.k) / c.stride + 1;
    const std::size_t per_sample =
        oh * ow * std::max(c.k * c.k * c.in[2], c.filters) * sizeof(float);

    std::vector<Tensor> ys, gxs;
    std::vector<std::vector<float>> gps;
    for (std::size_t budget :
         {per_sample, 2 * per_sample + 1, 3 * per_sample, std::size_t{1} << 30}) {
      Conv2D::set_chunk_budget(budget);
      LayerHarness h(block, {c.in}, 9);
      const Tensor y = h.forward({x}, true);
      Rng r2(5);
      const Tensor dy = random_tensor(shape_of(y), r2);
      h.zero_grads();
      auto gx = h.backward({x}, y, dy, true);
      ys.push_back(y);
      gxs.push_back(gx[0]);
      gps.push_back(h.grads);
      if (budget == per_sample && std::string(c.act) == "linear") {
        const Tensor ref = naive_conv(x, h.param("kernel").value, h.param("bias").value, c.k, c.k,
                                      c.filters, c.stride, c.stride, 1, 1, c.same);
        for (std::size_t i = 0; i < y.size(); ++i)
          REQUIRE(std::fabs(y.data()[i] - ref.data()[i]) <=
                  1e-5f * std::max(1.0f, std::fabs(ref.data()[i])));
      }
    }
    Conv2D::set_chunk_budget(std::size_t{4} << 20);
    auto close = [](const float* a, const float* b, std::size_t n, float tol) {
      for (std::size_t i = 0; i < n; ++i)
        REQUIRE_MESSAGE(std::fabs(a[i] - b[i]) <= tol * std::max(1.0f, std::fabs(b[i])),
                        "index " << i << ": " << a[i] << " vs " << b[i]);
    };
    for (std::size_t v = 1; v < ys.size(); ++v) {
      CAPTURE(v);
      close(ys[v].data(), ys[0].data(), ys[0].size(), 1e-5f);
      close(gxs[v].data(), gxs[0].data(), gxs[0].size(), 1e-5f);
      // Parameter gradients sum up to 10,000 row terms of either sign, grouped differently per
      // chunking (per-chunk partial sums vs one running sum): the cancellation leaves rounding
      // errors of ~1e-5 of the result, so 5e-5 here.
      close(gps[v].data(), gps[0].data(), gps[0].size(), 5e-5f);
    }
  }
}

TEST_CASE("Conv2D Winograd inference sees a kernel changed between calls") {
  // Inference keeps the transformed kernel while the kernel's values stay the same: a change of
  // one value (as an optimizer step or loading weights makes) must reach the next output.
  Conv2D::set_winograd(true);
  const Shape in{8, 8, 16};
  LayerHarness h({{"type", "Conv2D"}, {"filters", 16}, {"kernel_size", 3}, {"padding", "same"}},
                 {in}, 3);
  Rng rng(4);
  const Tensor x = random_tensor(batch_shape(2, in), rng);
  for (int round = 0; round < 3; ++round) {
    CAPTURE(round);
    if (round == 1) h.param("kernel").value[100] += 0.5f;
    if (round == 2) h.param("bias").value[3] -= 0.25f;
    const Tensor y = h.forward({x}, false);
    const Tensor ref =
        naive_conv(x, h.param("kernel").value, h.param("bias").value, 3, 3, 16, 1, 1, 1, 1, true);
    for (std::size_t i = 0; i < y.size(); ++i)
      REQUIRE_MESSAGE(std::fabs(y.data()[i] - ref.data()[i]) <= 2e-5f, "index " << i);
  }
}

TEST_CASE("Conv2D 3x3 stride-1 layers with 16+ channels (Winograd) equal a direct convolution") {
  // 9x8 x 3 samples: Winograd forward and input gradient, kernel gradient by im2col (too few
  // tiles). 33x33 x 8 samples in chunks of 4 (256 or 324 tiles each): the kernel gradient by
  // Winograd too, summed over two chunks. 13x13 'valid' x 30 samples: Winograd forward (11x11
  // outputs in 3x3 tiles), the input gradient by im2col in chunks (its 13x13 outputs take 4x4
  // tiles, 1.51x, too few channels to pay), the kernel gradient by Winograd over the whole batch
  // (270 tiles) first.
  struct Case {
    std::size_t h, w, n, budget;
  };
  for (const Case cs :
       {Case{9, 8, 3, std::size_t{4} << 20}, Case{33, 33, 8, 300000}, Case{13, 13, 30, 300000}})
    for (bool same : {false, true}) {
      std::vector<float> gx_direct, gp_direct;
      for (bool winograd : {false, true}) {
        CAPTURE(cs.h);
        CAPTURE(same);
        CAPTURE(winograd);
        Conv2D::set_winograd(winograd);
        Conv2D::set_chunk_budget(cs.budget);
        const Shape in{cs.h, cs.w, 16};
        LayerHarness h({{"type", "Conv2D"},
                        {"filters", 17},
                        {"kernel_size", 3},
                        {"padding", same ? "same" : "valid"},
                        {"activation", "relu"},
                        {"bias_initializer", "glorot_uniform"}},
                       {in}, 5);
        Rng rng(21);
        const Tensor x = random_tensor(batch_shape(cs.n, in), rng);
        const Tensor y = h.forward({x}, false);
        Tensor ref = naive_conv(x, h.param("kernel").value, h.param("bias").value, 3, 3, 17, 1, 1,
                                1, 1, same);
        for (auto& v : ref) v = std::max(v, 0.0f);
        REQUIRE(shape_of(y) == shape_of(ref));
        for (std::size_t i = 0; i < y.size(); ++i)
          REQUIRE_MESSAGE(std::fabs(y.data()[i] - ref.data()[i]) <= 2e-5f, "index " << i);
        // The input gradient (Winograd: a convolution of dz with the flipped kernel) equals the
        // im2col + GEMM + col2im one, and backward adds into what the gradients held.
        const Tensor gy = random_tensor(shape_of(y), rng);
        h.zero_grads();
        const Tensor gx = h.backward({x}, y, gy, false)[0];
        if (!winograd) {
          gx_direct.assign(gx.begin(), gx.end());
          gp_direct = h.grads;
        } else {
          REQUIRE(gx.size() == gx_direct.size());
          for (std::size_t i = 0; i < gx.size(); ++i)
            REQUIRE_MESSAGE(std::fabs(gx.data()[i] - gx_direct[i]) <=
                                2e-5f * std::max(1.0f, std::fabs(gx_direct[i])),
                            "input gradient index " << i);
          // Kernel and bias gradients, sums over 3 * 7 * 6 to 8 * 33 * 33 outputs: within 3e-5 of
          // their largest magnitude (the bound test_winograd.cpp states for the kernel gradient).
          REQUIRE(h.grads.size() == gp_direct.size());
          float scale = 1.0f;
          for (float v : gp_direct) scale = std::max(scale, std::fabs(v));
          for (std::size_t i = 0; i < h.grads.size(); ++i)
            REQUIRE_MESSAGE(std::fabs(h.grads[i] - gp_direct[i]) <= 3e-5f * scale,
                            "parameter gradient index " << i << ", scale " << scale);
          // No finite-difference check here: F(4x4,3x3)'s rounding (~1e-5 of the outputs' scale)
          // over the 2,000+ outputs of L moves L by more than a 1e-2 step's difference resolves.
          // The gradients are checked numerically on the direct path (above) and equal it here.
          check_accumulation(h, {x}, false);
        }
      }
    }
  Conv2D::set_chunk_budget(std::size_t{4} << 20);
  Conv2D::set_winograd(true);
}

TEST_CASE("Conv2D in bf16: GEMM paths near fp32, Winograd in fp32, and fp32 afterwards as before") {
  // Under Precision::Bf16, forward and backward of: a Winograd layer (3x3 'valid' on 13x13,
  // 16 -> 17 channels; its input gradient by im2col + GEMM, its kernel gradient by Winograd over
  // the whole batch), im2col + GEMM (3x3 stride 2), and 1x1 (48 channels: fewer take the
  // small-k path, which stays float). What a bf16 GEMM computes is within 1% of the largest
  // fp32 value (measured 0.2%: 8-bit operands, errors that partly cancel in the sums) and not
  // equal to it; what Winograd computes is bitwise fp32's (its products stay float: conv2d.cpp
  // kWinogradPrecision). Then fp32 again: bitwise the first fp32 results.
  struct Case {
    const char* what;
    std::size_t kernel, stride, n, h, c;
  };
  for (const Case cs : {Case{"winograd", 3, 1, 30, 13, 16}, Case{"gemm", 3, 2, 4, 9, 16},
                        Case{"1x1", 1, 1, 4, 9, 48}}) {
    CAPTURE(std::string(cs.what));
    const bool winograd = cs.kernel == 3 && cs.stride == 1;
    Conv2D::set_winograd(true);
    const Shape in{cs.h, cs.h, cs.c};
    LayerHarness h({{"type", "Conv2D"},
                    {"filters", 17},
                    {"kernel_size", cs.kernel},
                    {"strides", cs.stride},
                    {"padding", winograd ? "valid" : "same"},
                    {"bias_initializer", "glorot_uniform"}},
                   {in}, 5);
    Rng rng(31);
    const Tensor x = random_tensor(batch_shape(cs.n, in), rng);
    Tensor gy;
    bool have_gy = false;
    // Training mode: a Winograd layer keeps its transformed kernel while the kernel's values
    // stay the same, so one made under bf16 would reach the next fp32 call.
    const auto pass = [&](kernels::Precision p) {
      const kernels::MatmulPrecisionScope scope(p);
      const Tensor y = h.forward({x}, true);
      if (!have_gy) gy = random_tensor(shape_of(y), rng);
      have_gy = true;
      h.zero_grads();
      const Tensor gx = h.backward({x}, y, gy, true)[0];
      return std::vector<std::vector<float>>{{y.begin(), y.end()}, {gx.begin(), gx.end()}, h.grads};
    };
    const auto fp32 = pass(kernels::Precision::Fp32);
    const auto bf16 = pass(kernels::Precision::Bf16);
    const char* names[] = {"output", "input gradient", "parameter gradients"};
    for (std::size_t part = 0; part < 3; ++part) {
      CAPTURE(std::string(names[part]));
      const bool by_gemm = !winograd || part == 1;
      float scale = 0.0f, worst = 0.0f;
      for (float v : fp32[part]) scale = std::max(scale, std::fabs(v));
      for (std::size_t i = 0; i < fp32[part].size(); ++i)
        worst = std::max(worst, std::fabs(bf16[part][i] - fp32[part][i]));
      if (by_gemm) {
        CHECK(worst <= 0.01f * scale);
        CHECK(worst > 0.0f);
      } else {
        CHECK(std::memcmp(bf16[part].data(), fp32[part].data(),
                          fp32[part].size() * sizeof(float)) == 0);
      }
    }
    const auto again = pass(kernels::Precision::Fp32);
    for (std::size_t part = 0; part < 3; ++part)
      CHECK(std::memcmp(again[part].data(), fp32[part].data(), fp32[part].size() * sizeof(float)) ==
            0);
  }
}
