// BatchNormalization: gradients in training, inference and frozen modes, accumulation, known
// outputs, the moving-statistics update, Keras parameter counts, round trip and errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <thread>

#include "other_layers_util.hpp"

using namespace cnn;
using namespace cnn::test;

// The registry-wide checks of the layer contract (test_conformance.cpp) on these cases.
CNN_CONFORMANCE_CASE(R"({"type": "BatchNormalization"})", {{3, 3, 4}}, true);
CNN_CONFORMANCE_CASE(R"({"type": "BatchNormalization", "epsilon": 0.01})", {{3, 3, 4}});

namespace {

void fill(LayerHarness& h, const std::string& param, float lo, float hi, std::uint64_t seed) {
  Rng rng(seed);
  Param& p = h.param(param);
  for (std::size_t i = 0; i < p.size(); ++i) p.value[i] = rng.uniform(lo, hi);
}

// Non-trivial gamma, beta and moving statistics.
void randomise(LayerHarness& h) {
  fill(h, "gamma", 0.5f, 1.5f, 1);
  fill(h, "beta", -0.5f, 0.5f, 2);
  fill(h, "moving_mean", -0.3f, 0.3f, 3);
  fill(h, "moving_variance", 0.5f, 2.0f, 4);
}

Tensor tensor_of(const Shape& shape, const std::vector<float>& v) {
  Tensor t;
  ensure_shape(t, shape);
  REQUIRE(t.size() == v.size());
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

}  // namespace

TEST_CASE("BatchNormalization gradients in training mode") {
  GradCheckOptions opt;
  opt.training = true;
  SUBCASE("images, batch 3, odd spatial sizes") {
    LayerHarness h({{"type", "BatchNormalization"}}, {{5, 7, 4}});
    randomise(h);
    Rng rng(5);
    CHECK(check_gradients(h, {random_tensor({3, 5, 7, 4}, rng)}, opt) > 0);
  }
  SUBCASE("vectors, batch 4") {
    LayerHarness h({{"type", "BatchNormalization"}}, {{6}});
    randomise(h);
    Rng rng(6);
    // Step halved to 5e-3: with only m = 4 values per channel, a 1e-2 move of one value shifts
    // the batch mean and variance themselves, and the central difference's truncation error
    // (step^2 * L''') reached 3.4e-3 (analytic 0.07801, numeric 0.07458 at input[2]). At 5e-3 it
    // falls 4x, under the unchanged 1e-3 tolerance; the larger image batch passes at 1e-2.
    opt.step = 5e-3;
    CHECK(check_gradients(h, {random_tensor({4, 6}, rng)}, opt) > 0);
  }
  SUBCASE("without gamma and beta") {
    LayerHarness h({{"type", "BatchNormalization"}, {"center", false}, {"scale", false}},
                   {{3, 3, 5}});
    Rng rng(7);
    CHECK(check_gradients(h, {random_tensor({3, 3, 3, 5}, rng)}, opt) > 0);
  }
}

TEST_CASE("BatchNormalization gradients with moving statistics") {
  Rng rng(8);
  const Tensor x = random_tensor({3, 5, 3, 4}, rng);
  SUBCASE("inference, trainable: input, gamma and beta") {
    LayerHarness h({{"type", "BatchNormalization"}}, {{5, 3, 4}});
    randomise(h);
    CHECK(check_gradients(h, {x}) > 0);
  }
  SUBCASE("frozen layer in a training step: input only, no parameter gradients") {
    LayerHarness h({{"type", "BatchNormalization"}, {"trainable", false}}, {{5, 3, 4}});
    randomise(h);
    GradCheckOptions opt;
    opt.training = true;
    CHECK(check_gradients(h, {x}, opt) > 0);
    for (float g : h.grads) CHECK(g == 0.0f);
  }
}

TEST_CASE("BatchNormalization backward accumulates exactly") {
  LayerHarness h({{"type", "BatchNormalization"}}, {{3, 3, 5}});
  randomise(h);
  Rng rng(9);
  const Tensor x = random_tensor({2, 3, 3, 5}, rng);
  check_accumulation(h, {x}, true);
  check_accumulation(h, {x}, false);
}

TEST_CASE("BatchNormalization forward by hand on a known batch") {
  // One channel, batch [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
  LayerHarness h({{"type", "BatchNormalization"}}, {{1}});
  h.param("gamma").value[0] = 2.0f;
  h.param("beta").value[0] = 0.5f;
  const Tensor x = tensor_of({4, 1}, {1, 2, 3, 4});
  const Tensor y = h.forward({x}, true);
  for (std::size_t i = 0; i < 4; ++i)
    CHECK(y.data()[i] ==
          doctest::Approx(2.0 * (x.data()[i] - 2.5) / std::sqrt(1.25 + 1e-3) + 0.5).epsilon(1e-6));

  // Two channels of an image batch [2, 1, 2, 2]: statistics over n, h, w per channel.
  // Channel 0 holds 1, 3, 5, 7 (mean 4, variance 5); channel 1 is constant 3 (variance 0:
  // epsilon keeps it finite and it normalises to beta = 0).
  LayerHarness img({{"type", "BatchNormalization"}}, {{1, 2, 2}});
  const Tensor xi = tensor_of({2, 1, 2, 2}, {1, 3, 3, 3, 5, 3, 7, 3});
  const Tensor yi = img.forward({xi}, true);
  const float want0[] = {1, 3, 5, 7};
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(yi.data()[2 * k] == doctest::Approx((want0[k] - 4.0) / std::sqrt(5.0 + 1e-3)));
    CHECK(yi.data()[2 * k + 1] == 0.0f);
  }
}

TEST_CASE("BatchNormalization inference uses the moving statistics") {
  LayerHarness h({{"type", "BatchNormalization"}}, {{2}});
  h.param("moving_mean").value[0] = 0.5f;
  h.param("moving_mean").value[1] = -1.0f;
  h.param("moving_variance").value[0] = 4.0f;
  h.param("moving_variance").value[1] = 0.25f;
  h.param("gamma").value[1] = 3.0f;
  h.param("beta").value[1] = 1.0f;
  const Tensor x = tensor_of({2, 2}, {1.5f, 0.0f, -0.5f, -2.0f});
  const Tensor y = h.forward({x}, false);
  CHECK(y.data()[0] == doctest::Approx(1.0 / std::sqrt(4.001)));
  CHECK(y.data()[1] == doctest::Approx(3.0 * 1.0 / std::sqrt(0.251) + 1.0));
  CHECK(y.data()[2] == doctest::Approx(-1.0 / std::sqrt(4.001)));
  CHECK(y.data()[3] == doctest::Approx(3.0 * -1.0 / std::sqrt(0.251) + 1.0));
  // A frozen layer behaves the same in a training step.
  LayerHarness f({{"type", "BatchNormalization"}, {"trainable", false}}, {{2}});
  for (const char* p : {"gamma", "beta", "moving_mean", "moving_variance"})
    std::copy(h.param(p).value, h.param(p).value + 2, f.param(p).value);
  CHECK(f.forward({x}, true) == y);
}

TEST_CASE("BatchNormalization updates the moving statistics in training only") {
  const std::size_t rows = 4, c = 6;
  LayerHarness h({{"type", "BatchNormalization"}}, {{c}});
  Rng rng(10);
  const Tensor x = random_tensor({rows, c}, rng, 0.0f, 2.0f);
  h.forward({x}, true);
  const float* mm = h.param("moving_mean").value;
  const float* mv = h.param("moving_variance").value;
  std::vector<float> mm1(mm, mm + c), mv1(mv, mv + c);
  for (std::size_t j = 0; j < c; ++j) {
    CAPTURE(j);
    double mean = 0.0, ss = 0.0;
    for (std::size_t r = 0; r < rows; ++r) mean += x.data()[r * c + j];
    mean /= static_cast<double>(rows);
    for (std::size_t r = 0; r < rows; ++r) {
      const double d = x.data()[r * c + j] - mean;
      ss += d * d;
    }
    // From moving_mean = 0: 0 * 0.99 + mean * (1 - 0.99), rounded once.
    CHECK(mm[j] == static_cast<float>(0.0 * 0.99 + mean * (1.0 - 0.99)));
    CHECK(mm[j] == doctest::Approx(0.01 * mean).epsilon(1e-6));
    // From moving_variance = 1, with the unbiased variance ss / (rows - 1), not ss / rows.
    CHECK(mv[j] == doctest::Approx(0.99 + 0.01 * ss / (rows - 1)).epsilon(1e-7));
    CHECK(mv[j] != doctest::Approx(0.99 + 0.01 * ss / rows).epsilon(1e-7));
  }
  // Inference and a frozen layer leave them alone.
  h.forward({x}, false);
  CHECK(std::vector<float>(mm, mm + c) == mm1);
  CHECK(std::vector<float>(mv, mv + c) == mv1);
  h.layer->set_trainable(false);
  h.forward({x}, true);
  CHECK(std::vector<float>(mm, mm + c) == mm1);
  CHECK(std::vector<float>(mv, mv + c) == mv1);
  // A second training step on the same batch (mean = mm1 / 0.01) moves them on by momentum:
  // 0.99 * mm1 + 0.01 * mean = 1.99 * mm1.
  h.layer->set_trainable(true);
  h.forward({x}, true);
  for (std::size_t j = 0; j < c; ++j) CHECK(mm[j] == doctest::Approx(1.99 * mm1[j]).epsilon(1e-5));
}

TEST_CASE("BatchNormalization parameter counts and order match Keras") {
  const auto [all, frozen] = count_params({{"type", "BatchNormalization"}}, {{13, 13, 32}});
  CHECK(all == 128);
  CHECK(frozen == 64);
  CHECK(count_params({{"type", "BatchNormalization"}, {"center", false}, {"scale", false}},
                     {{32}}) == std::pair<std::size_t, std::size_t>{64, 64});
  auto layer = configured({{"type", "BatchNormalization"}, {"scale", false}});
  layer->infer_shape({{8}});
  std::vector<std::string> names;
  for (const auto& p : layer->params()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"beta", "moving_mean", "moving_variance"});
  auto full = configured({{"type", "BatchNormalization"}});
  full->infer_shape({{4, 4, 8}});
  names.clear();
  for (const auto& p : full->params()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"gamma", "beta", "moving_mean", "moving_variance"});
  CHECK(full->params()[0].trainable);
  CHECK(!full->params()[3].trainable);
  CHECK(full->params()[3].init == Init::Ones);
}

TEST_CASE("BatchNormalization JSON round trip writes every key") {
  CHECK(check_round_trip({{"type", "BatchNormalization"}}).dump() ==
        R"({"type":"BatchNormalization","axis":-1,"momentum":0.99,"epsilon":0.001,)"
        R"("center":true,"scale":true,"beta_initializer":"zeros","gamma_initializer":"ones",)"
        R"("moving_mean_initializer":"zeros","moving_variance_initializer":"ones"})");
  // Older Keras writes axis as a one-element list.
  const auto j = check_round_trip({{"type", "BatchNormalization"},
                                   {"axis", {3}},
                                   {"momentum", 0.9},
                                   {"epsilon", 1e-5},
                                   {"center", false},
                                   {"gamma_initializer", "he_normal"}});
  CHECK(j.dump() == R"({"type":"BatchNormalization","axis":3,"momentum":0.9,"epsilon":1e-05,)"
                    R"("center":false,"scale":true,"beta_initializer":"zeros",)"
                    R"("gamma_initializer":"he_normal","moving_mean_initializer":"zeros",)"
                    R"("moving_variance_initializer":"ones"})");
}

TEST_CASE("BatchNormalization configuration and shape errors") {
  auto make = [](const json& block) { return configured(block, "batch_normalization_2"); };
  std::string m = message_of<ConfigError>([&] {
    make({{"type", "BatchNormalization"}, {"axis", 0}});
  });
  INFO(m);
  CHECK(contains_all(m, {"batch_normalization_2", "axis", "last (channel) axis", "got 0"}));
  m = message_of<ConfigError>([&] { make({{"type", "BatchNormalization"}, {"axis", "c"}}); });
  CHECK(contains_all(m, {"batch_normalization_2", "axis", "integer"}));
  m = message_of<ConfigError>([&] { make({{"type", "BatchNormalization"}, {"momentum", 1.5}}); });
  CHECK(contains_all(m, {"batch_normalization_2", "momentum", "1.5"}));
  m = message_of<ConfigError>([&] { make({{"type", "BatchNormalization"}, {"epsilon", 0}}); });
  CHECK(contains_all(m, {"batch_normalization_2", "epsilon", "> 0"}));
  m = message_of<ConfigError>([&] {
    make({{"type", "BatchNormalization"}, {"gamma_initializer", "onse"}});
  });
  CHECK(contains_all(m, {"batch_normalization_2", "gamma_initializer", "did you mean 'ones'?"}));
  m = message_of<ConfigError>([&] { make({{"type", "BatchNormalization"}, {"momentun", 0.9}}); });
  CHECK(contains_all(m, {"batch_normalization_2", "momentun", "did you mean 'momentum'?"}));

  auto axis1 = make({{"type", "BatchNormalization"}, {"axis", 1}});
  m = message_of<ShapeError>([&] { axis1->infer_shape({{8, 8, 16}}); });
  CHECK(contains_all(m, {"batch_normalization_2", "axis 1", "-1 or 3", "(None, 8, 8, 16)"}));
  // axis 1 is the last axis of a vector input.
  CHECK(axis1->infer_shape({{16}}) == Shape{16});
}

namespace {

// Two parts of a batch, each in a thread of its own as each would be in a process of its own,
// summing what they share (Context::sum_over_processes) through a barrier: part 0's values plus
// part 1's, in that order, as dist::Comm adds them.
struct TwoParts {
  std::barrier<> meet{2};
  std::vector<double> slot[2];
  void sum(int part, double* v, std::size_t n) {
    slot[part].assign(v, v + n);
    meet.arrive_and_wait();
    for (std::size_t i = 0; i < n; ++i) v[i] = slot[0][i] + slot[1][i];
    meet.arrive_and_wait();
  }
};

Tensor rows_of(const Tensor& t, std::size_t first, std::size_t count) {
  Shape s = shape_of(t);
  const std::size_t per = t.size() / s[0];
  s[0] = count;
  Tensor out;
  ensure_shape(out, s);
  std::copy(t.data() + first * per, t.data() + (first + count) * per, out.data());
  return out;
}

void check_close(const float* got, const float* want, std::size_t n, const char* what) {
  for (std::size_t i = 0; i < n; ++i) {
    CAPTURE(what);
    CAPTURE(i);
    CHECK(std::fabs(got[i] - want[i]) <= 1e-5 * std::max(1.0f, std::fabs(want[i])));
  }
}

}  // namespace

TEST_CASE(
    "BatchNormalization with statistics shared by two parts of a batch is the whole batch's") {
  // cnn-train --sync-bn: a batch of 5 split 2 + 3 between two processes normalises, and
  // backpropagates, as one batch of 5 does; each part's parameter gradients are its share (the
  // gradient sum over processes adds them); the moving statistics are the whole batch's.
  LayerHarness whole({{"type", "BatchNormalization"}}, {{3, 3, 4}});
  LayerHarness a({{"type", "BatchNormalization"}}, {{3, 3, 4}});
  LayerHarness b({{"type", "BatchNormalization"}}, {{3, 3, 4}});
  for (LayerHarness* h : {&whole, &a, &b}) {
    randomise(*h);
    h->zero_grads();
  }
  Rng rng(21);
  const Tensor x = random_tensor({5, 3, 3, 4}, rng, -1.0f, 2.0f);
  const Tensor dy = random_tensor({5, 3, 3, 4}, rng);
  const Tensor y = whole.forward({x}, true);
  const Tensor dx = whole.backward({x}, y, dy, true).at(0);

  TwoParts parts;
  a.ctx.sum_over_processes = [&](double* v, std::size_t n) { parts.sum(0, v, n); };
  b.ctx.sum_over_processes = [&](double* v, std::size_t n) { parts.sum(1, v, n); };
  const Tensor xa = rows_of(x, 0, 2), xb = rows_of(x, 2, 3);
  const Tensor dya = rows_of(dy, 0, 2), dyb = rows_of(dy, 2, 3);
  Tensor yb, dxb;
  std::thread other([&] {
    yb = b.forward({xb}, true);
    dxb = b.backward({xb}, yb, dyb, true).at(0);
  });
  const Tensor ya = a.forward({xa}, true);
  const Tensor dxa = a.backward({xa}, ya, dya, true).at(0);
  other.join();

  const std::size_t per = 3 * 3 * 4;
  check_close(ya.data(), y.data(), 2 * per, "y, part 0");
  check_close(yb.data(), y.data() + 2 * per, 3 * per, "y, part 1");
  check_close(dxa.data(), dx.data(), 2 * per, "dx, part 0");
  check_close(dxb.data(), dx.data() + 2 * per, 3 * per, "dx, part 1");
  for (const char* p : {"gamma", "beta"}) {
    std::vector<float> sum(4);
    for (std::size_t j = 0; j < 4; ++j) sum[j] = a.param(p).grad[j] + b.param(p).grad[j];
    check_close(sum.data(), whole.param(p).grad, 4, p);
  }
  for (const char* p : {"moving_mean", "moving_variance"}) {
    check_close(a.param(p).value, whole.param(p).value, 4, p);
    check_close(b.param(p).value, whole.param(p).value, 4, p);
  }
  // Without sharing, each part normalises with its own statistics: not the whole batch's.
  LayerHarness alone({{"type", "BatchNormalization"}}, {{3, 3, 4}});
  randomise(alone);
  const Tensor own = alone.forward({xa}, true);
  double apart = 0;
  for (std::size_t i = 0; i < own.size(); ++i)
    apart = std::max(apart, double(std::fabs(own.data()[i] - y.data()[i])));
  CHECK(apart > 1e-2);
}
