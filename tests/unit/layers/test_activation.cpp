// Activation layer: gradients for every activation (softmax over the channel axis),
// accumulation, known values, round trip and configuration errors.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/activation.hpp"
#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Activation", "activation": "tanh"})", {{3, 4, 2}});
CNN_CONFORMANCE_CASE(R"({"type": "Activation", "activation": "softmax"})", {{5}});
CNN_CONFORMANCE_CASE(R"({"type": "Activation", "activation": "elu"})", {{4, 3}});

TEST_CASE("Activation gradients match numerical ones for every activation") {
  for (const auto& act : kernels::act_names()) {
    CAPTURE(act);
    LayerHarness h({{"type", "Activation"}, {"activation", act}}, {{5, 7, 4}});
    Rng rng(1);
    CHECK(check_gradients(h, {random_tensor({3, 5, 7, 4}, rng, -2.0f, 2.0f)}) > 0);
  }
}

TEST_CASE("Activation backward accumulates exactly") {
  for (const char* act : {"softmax", "elu"}) {
    CAPTURE(act);
    LayerHarness h({{"type", "Activation"}, {"activation", act}}, {{3, 3, 5}});
    Rng rng(2);
    check_accumulation(h, {random_tensor({2, 3, 3, 5}, rng)}, false);
  }
}

TEST_CASE("Activation forward by hand") {
  Tensor x;
  ensure_shape(x, {1, 2, 3});  // two rows of three channels
  const float v[] = {-1.0f, 0.5f, 2.0f, 0.0f, 0.0f, std::log(2.0f)};
  std::copy(v, v + 6, x.data());
  LayerHarness relu({{"type", "Activation"}, {"activation", "relu"}}, {{2, 3}});
  const Tensor r = relu.forward({x}, false);
  CHECK(r.data()[0] == 0.0f);
  CHECK(r.data()[1] == 0.5f);
  CHECK(r.data()[2] == 2.0f);
  // Softmax normalises each row over the channels: exp(0), exp(0), exp(log 2) = 1, 1, 2.
  LayerHarness sm({{"type", "Activation"}, {"activation", "softmax"}}, {{2, 3}});
  const Tensor s = sm.forward({x}, false);
  CHECK(s.data()[0] + s.data()[1] + s.data()[2] == doctest::Approx(1.0));
  CHECK(s.data()[3] == doctest::Approx(0.25));
  CHECK(s.data()[4] == doctest::Approx(0.25));
  CHECK(s.data()[5] == doctest::Approx(0.5));
}

TEST_CASE("Activation has no parameters and round-trips") {
  CHECK(count_params({{"type", "Activation"}, {"activation", "relu"}}, {{8, 8, 3}}).first == 0);
  CHECK(check_round_trip({{"type", "Activation"}, {"activation", "tanh"}}).dump() ==
        R"({"type":"Activation","activation":"tanh"})");
}

TEST_CASE("Activation configuration errors name the layer and the field") {
  auto make = [](const json& block) { return configured(block, "activation_4"); };
  std::string m = message_of<ConfigError>([&] { make({{"type", "Activation"}}); });
  INFO(m);
  CHECK(contains_all(m, {"activation_4", "activation", "missing"}));
  m = message_of<ConfigError>([&] { make({{"type", "Activation"}, {"activation", "sigmod"}}); });
  CHECK(contains_all(m, {"activation_4", "activation", "sigmod", "did you mean 'sigmoid'?"}));
  m = message_of<ConfigError>([&] {
    make({{"type", "Activation"}, {"activation", "relu"}, {"alpha", 0.1}});
  });
  CHECK(contains_all(m, {"activation_4", "alpha", "unknown field"}));
}
