// Dropout: gradients through the kept mask, accumulation, the drop fraction and exact scaling,
// identity at inference, round trip and configuration errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Dropout", "rate": 0.3})", {{4, 4, 2}}, true);

TEST_CASE("Dropout gradients match numerical ones in training and inference") {
  // The harness reseeds the context RNG before every forward, so the mask repeats.
  LayerHarness h({{"type", "Dropout"}, {"rate", 0.3}}, {{5, 7, 2}});
  Rng rng(1);
  const Tensor x = random_tensor({3, 5, 7, 2}, rng);
  GradCheckOptions opt;
  opt.training = true;
  CHECK(check_gradients(h, {x}, opt) > 0);
  CHECK(check_gradients(h, {x}) > 0);
}

TEST_CASE("Dropout backward accumulates exactly") {
  LayerHarness h({{"type", "Dropout"}, {"rate", 0.5}}, {{4, 3}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({3, 4, 3}, rng)}, true);
  check_accumulation(h, {random_tensor({3, 4, 3}, rng)}, false);
}

TEST_CASE("Dropout drops about rate of the values and scales the rest exactly") {
  const double rate = 0.3;
  LayerHarness h({{"type", "Dropout"}, {"rate", rate}}, {{100, 100}});
  Rng rng(3);
  const Tensor x = random_tensor({4, 100, 100}, rng, 0.5f, 1.5f);  // never 0
  const Tensor y = h.forward({x}, true);
  const float scale = static_cast<float>(1.0 / (1.0 - rate));
  std::size_t zeroed = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (y.data()[i] == 0.0f)
      ++zeroed;
    else
      REQUIRE(y.data()[i] == x.data()[i] * scale);
  }
  // 40000 Bernoulli(0.3) draws: the standard deviation of the fraction is 0.0023.
  CHECK(static_cast<double>(zeroed) / static_cast<double>(x.size()) ==
        doctest::Approx(rate).epsilon(0.04));

  // The gradient goes through the same mask.
  Tensor dy;
  ensure_shape(dy, shape_of(y));
  std::fill(dy.begin(), dy.end(), 1.0f);
  const auto dx = h.backward({x}, y, dy, true);
  for (std::size_t i = 0; i < x.size(); ++i)
    REQUIRE(dx[0].data()[i] == (y.data()[i] == 0.0f ? 0.0f : scale));

  // Same seed, same mask; another seed, another mask.
  CHECK(h.forward({x}, true) == y);
  CHECK(h.forward({x}, true, 99) != y);
}

TEST_CASE("Dropout is the identity at inference and for rate 0") {
  LayerHarness h({{"type", "Dropout"}, {"rate", 0.5}}, {{6}});
  Rng rng(4);
  const Tensor x = random_tensor({5, 6}, rng);
  CHECK(h.forward({x}, false) == x);
  LayerHarness z({{"type", "Dropout"}, {"rate", 0}}, {{6}});
  CHECK(z.forward({x}, true) == x);
}

TEST_CASE("Dropout has no parameters and round-trips") {
  CHECK(count_params({{"type", "Dropout"}, {"rate", 0.5}}, {{128}}).first == 0);
  CHECK(check_round_trip({{"type", "Dropout"}, {"rate", 0.25}}).dump() ==
        R"({"type":"Dropout","rate":0.25})");
  // Keras's to_json writes "seed": null; it means "no seed of its own", which is what we do.
  CHECK(check_round_trip({{"type", "Dropout"}, {"rate", 0.5}, {"seed", nullptr}}).dump() ==
        R"({"type":"Dropout","rate":0.5})");
}

TEST_CASE("Dropout configuration errors name the layer and the field") {
  auto make = [](const json& block) { return configured(block, "dropout_1"); };
  std::string m = message_of<ConfigError>([&] { make({{"type", "Dropout"}, {"rate", 1.5}}); });
  INFO(m);
  CHECK(contains_all(m, {"dropout_1", "rate", "< 1", "1.5"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dropout"}, {"rate", 1}}); });
  CHECK(contains_all(m, {"dropout_1", "rate", "< 1"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dropout"}, {"rate", -0.1}}); });
  CHECK(contains_all(m, {"dropout_1", "rate", ">= 0"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dropout"}}); });
  CHECK(contains_all(m, {"dropout_1", "rate", "missing"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dropout"}, {"rate", 0.5}, {"seed", 42}}); });
  CHECK(contains_all(m, {"dropout_1", "seed", "not supported", "--seed"}));
  m = message_of<ConfigError>([&] { make({{"type", "Dropout"}, {"rate", 0.5}, {"rat", 1}}); });
  CHECK(contains_all(m, {"dropout_1", "rat", "unknown field"}));
}
