// Dense: gradients for every activation, accumulation, a hand-computed forward, Keras parameter
// counts, JSON round trip and configuration errors.
#include <doctest/doctest.h>

#include "kernels/activation.hpp"
#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Dense", "units": 4, "activation": "tanh"})", {{6}});

namespace {

// Random bias values, so the bias actually matters in the checks (its initialiser is zeros).
void randomise(LayerHarness& h, const std::string& param, std::uint64_t seed) {
  Rng rng(seed);
  Param& p = h.param(param);
  for (std::size_t i = 0; i < p.size(); ++i) p.value[i] = rng.uniform(-0.5f, 0.5f);
}

}  // namespace

TEST_CASE("Dense gradients match numerical ones for every activation") {
  for (const auto& act : kernels::act_names()) {
    CAPTURE(act);
    LayerHarness h({{"type", "Dense"}, {"units", 5}, {"activation", act}}, {{7}});
    randomise(h, "bias", 3);
    Rng rng(4);
    const std::size_t n = check_gradients(h, {random_tensor({3, 7}, rng)});
    CHECK(n > 0);
  }
}

TEST_CASE("Dense gradients without bias and with more inputs than one dW block") {
  // 130 inputs: two full 64-row blocks of dW and a tail of 2.
  LayerHarness h({{"type", "Dense"}, {"units", 3}, {"use_bias", false}, {"activation", "tanh"}},
                 {{130}});
  CHECK(h.layer->params().size() == 1);
  Rng rng(5);
  GradCheckOptions opt;
  opt.max_coords = 400;  // every kernel coordinate, tail rows included
  CHECK(check_gradients(h, {random_tensor({3, 130}, rng)}, opt) > 390);
}

TEST_CASE("Dense backward accumulates exactly") {
  LayerHarness h({{"type", "Dense"}, {"units", 6}, {"activation", "sigmoid"}}, {{70}});
  randomise(h, "bias", 6);
  Rng rng(7);
  check_accumulation(h, {random_tensor({5, 70}, rng)}, true);
}

TEST_CASE("Dense at a small batch (transposed products) gives the rows of a large one, bitwise") {
  // Below 128 rows, with 256K weights or more, y and dx come as W^T x^T and W dz^T (dense.cpp):
  // the same products in the same order as x W and dz W^T, which the 130-row batch takes. (At 1 or
  // 2 rows, or under 32^3 multiply-adds, the GEMM takes its small path, which rounds otherwise.)
  LayerHarness h({{"type", "Dense"}, {"units", 128}, {"activation", "relu"}}, {{2100}});
  randomise(h, "bias", 8);
  Rng rng(9);
  const Tensor x = random_tensor({130, 2100}, rng), g = random_tensor({130, 128}, rng);
  const Tensor y = h.forward({x}, true);
  const Tensor dx = h.backward({x}, y, g, true)[0];
  for (std::size_t rows : {4, 20, 127}) {
    CAPTURE(rows);
    Tensor xs = random_tensor({rows, 2100}, rng), gs = random_tensor({rows, 128}, rng);
    std::copy(x.begin(), x.begin() + rows * 2100, xs.begin());
    std::copy(g.begin(), g.begin() + rows * 128, gs.begin());
    const Tensor ys = h.forward({xs}, true);
    const Tensor dxs = h.backward({xs}, ys, gs, true)[0];
    for (std::size_t i = 0; i < rows * 128; ++i) REQUIRE(ys.data()[i] == y.data()[i]);
    for (std::size_t i = 0; i < rows * 2100; ++i) REQUIRE(dxs.data()[i] == dx.data()[i]);
  }
}

TEST_CASE("Dense forward by hand: 2 -> 1") {
  LayerHarness h({{"type", "Dense"}, {"units", 1}}, {{2}});
  h.param("kernel").value[0] = 2.0f;
  h.param("kernel").value[1] = 3.0f;
  h.param("bias").value[0] = 0.5f;
  Tensor x;
  ensure_shape(x, {2, 2});
  x.data()[0] = 1.0f;  // sample 0: [1, -1]
  x.data()[1] = -1.0f;
  x.data()[2] = 1.0f;  // sample 1: [1, 1]
  x.data()[3] = 1.0f;
  const Tensor y = h.forward({x}, false);
  REQUIRE(shape_of(y) == Shape{2, 1});
  CHECK(y.data()[0] == -0.5f);  // 2 - 3 + 0.5
  CHECK(y.data()[1] == 5.5f);   // 2 + 3 + 0.5

  LayerHarness r({{"type", "Dense"}, {"units", 1}, {"activation", "relu"}}, {{2}});
  r.param("kernel").value[0] = 2.0f;
  r.param("kernel").value[1] = 3.0f;
  r.param("bias").value[0] = 0.5f;
  const Tensor yr = r.forward({x}, false);
  CHECK(yr.data()[0] == 0.0f);
  CHECK(yr.data()[1] == 5.5f);
}

TEST_CASE("Dense parameter counts match Keras") {
  CHECK(count_params({{"type", "Dense"}, {"units", 64}}, {{576}}).first == 36928);
  CHECK(count_params({{"type", "Dense"}, {"units", 10}}, {{64}}).first == 650);
  CHECK(count_params({{"type", "Dense"}, {"units", 512}}, {{8192}}).first == 4194816);
  CHECK(count_params({{"type", "Dense"}, {"units", 10}, {"use_bias", false}}, {{64}}).first == 640);
  CHECK(count_params({{"type", "Dense"}, {"units", 10}}, {{64}}).second == 0);
  auto layer = configured({{"type", "Dense"}, {"units", 10}});
  layer->infer_shape({{64}});
  REQUIRE(layer->params().size() == 2);
  CHECK(layer->params()[0].name == "kernel");
  CHECK(layer->params()[0].shape == Shape{64, 10});
  CHECK(layer->params()[1].name == "bias");
  CHECK(layer->params()[1].shape == Shape{10});
}

TEST_CASE("Dense JSON round trip writes every key") {
  const auto d = check_round_trip({{"type", "Dense"}, {"units", 3}});
  CHECK(d.dump() == R"({"type":"Dense","units":3,"activation":"linear","use_bias":true,)"
                    R"("kernel_initializer":"glorot_uniform","bias_initializer":"zeros"})");
  const auto c = check_round_trip({{"type", "Dense"},
                                   {"units", 10},
                                   {"activation", "softmax"},
                                   {"use_bias", false},
                                   {"kernel_initializer", "he_normal"},
                                   {"bias_initializer", "ones"}});
  CHECK(c.dump() == R"({"type":"Dense","units":10,"activation":"softmax","use_bias":false,)"
                    R"("kernel_initializer":"he_normal","bias_initializer":"ones"})");
}

TEST_CASE("Dense configuration errors name the layer and the field") {
  auto make = [](const json& block) { return configured(block, "dense_3"); };
  std::string m = message_of<ConfigError>([&] { make({{"type", "Dense"}, {"units", 0}}); });
  INFO(m);
  CHECK(contains_all(m, {"dense_3", "units", ">= 1", "got 0"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dense"}}); });
  CHECK(contains_all(m, {"dense_3", "units", "missing"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dense"}, {"units", 2}, {"unitz", 3}}); });
  CHECK(contains_all(m, {"dense_3", "unitz", "unknown field"}));
  m = message_of<ConfigError>([&] {
    make({{"type", "Dense"}, {"units", 2}, {"activation", "rleu"}});
  });
  CHECK(contains_all(m, {"dense_3", "activation", "rleu", "did you mean 'relu'?"}));
  m = message_of<ConfigError>([&] {
    make({{"type", "Dense"}, {"units", 2}, {"kernel_initializer", "glorot"}});
  });
  CHECK(contains_all(m, {"dense_3", "kernel_initializer", "glorot"}));
}

TEST_CASE("Dense on a rank-3 input is a ShapeError suggesting Flatten") {
  auto layer = configured({{"type", "Dense"}, {"units", 4}}, "dense_9");
  const std::string m = message_of<ShapeError>([&] { layer->infer_shape({{5, 5, 3}}); });
  INFO(m);
  CHECK(contains_all(m, {"dense_9", "Dense", "(None, 5, 5, 3)", "Flatten"}));
}
