// Add: gradients with three inputs, accumulation, known sums, round trip, shape errors.
#include <doctest/doctest.h>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "Add"})", {{4, 3, 2}, {4, 3, 2}});

TEST_CASE("Add gradients match numerical ones with three inputs") {
  LayerHarness h({{"type", "Add"}}, {{5, 7, 4}, {5, 7, 4}, {5, 7, 4}});
  Rng rng(1);
  std::vector<Tensor> x;
  for (int i = 0; i < 3; ++i) x.push_back(random_tensor({3, 5, 7, 4}, rng));
  CHECK(check_gradients(h, x) > 0);
}

TEST_CASE("Add backward accumulates exactly") {
  LayerHarness h({{"type", "Add"}}, {{3, 3, 2}, {3, 3, 2}});
  Rng rng(2);
  check_accumulation(h, {random_tensor({2, 3, 3, 2}, rng), random_tensor({2, 3, 3, 2}, rng)},
                     false);
}

TEST_CASE("Add forward by hand, and a skipped input gradient") {
  LayerHarness h({{"type", "Add"}}, {{2}, {2}, {2}});
  std::vector<Tensor> x(3);
  const float v[3][2] = {{1.0f, 2.0f}, {10.0f, 20.0f}, {100.0f, 200.0f}};
  for (int i = 0; i < 3; ++i) {
    ensure_shape(x[i], {1, 2});
    x[i].data()[0] = v[i][0];
    x[i].data()[1] = v[i][1];
  }
  const Tensor y = h.forward(x, false);
  CHECK(y.data()[0] == 111.0f);
  CHECK(y.data()[1] == 222.0f);

  // A nullptr gradient slot (an input that needs no gradient) is skipped.
  Tensor g0, g2;
  ensure_shape(g0, {1, 2});
  ensure_shape(g2, {1, 2});
  std::fill(g0.begin(), g0.end(), 1.0f);
  std::fill(g2.begin(), g2.end(), 0.0f);
  Tensor dy;
  ensure_shape(dy, {1, 2});
  dy.data()[0] = 3.0f;
  dy.data()[1] = -4.0f;
  std::vector<const Tensor*> in{&x[0], &x[1], &x[2]};
  std::vector<Tensor*> gin{&g0, nullptr, &g2};
  h.layer->backward(h.ctx, in, y, dy, gin);
  CHECK(g0.data()[0] == 4.0f);  // 1 + 3: added, not overwritten
  CHECK(g0.data()[1] == -3.0f);
  CHECK(g2.data()[0] == 3.0f);
  CHECK(g2.data()[1] == -4.0f);
}

TEST_CASE("Add has no parameters, takes 2+ inputs and round-trips") {
  CHECK(count_params({{"type", "Add"}}, {{4, 4, 8}, {4, 4, 8}}).first == 0);
  auto layer = configured({{"type", "Add"}});
  CHECK(layer->min_inputs() == 2);
  CHECK(layer->max_inputs() >= 64);
  CHECK(check_round_trip({{"type", "Add"}}).dump() == R"({"type":"Add"})");
}

TEST_CASE("Add shape and configuration errors") {
  auto layer = configured({{"type", "Add"}}, "add_2");
  std::string m = message_of<ShapeError>([&] {
    layer->infer_shape({{4, 4, 3}, {4, 4, 3}, {4, 4, 2}});
  });
  INFO(m);
  CHECK(contains_all(m, {"add_2", "Add", "same shape",
                         "(None, 4, 4, 3), (None, 4, 4, 3), "
                         "(None, 4, 4, 2)"}));
  m = message_of<ShapeError>([&] { layer->infer_shape({{4, 4, 3}}); });
  CHECK(contains_all(m, {"add_2", "at least 2 inputs", "got 1"}));
  m = message_of<ConfigError>([&] { configured({{"type", "Add"}, {"axis", 1}}, "add_2"); });
  CHECK(contains_all(m, {"add_2", "axis", "unknown field"}));
}
