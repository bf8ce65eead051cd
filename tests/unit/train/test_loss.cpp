// Losses: gradients against central differences (probabilities and logits, with sample weights),
// known values, stability at huge logits, Keras's clipping, sparse == categorical, bad inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "layer_harness.hpp"
#include "tensor/error.hpp"
#include "train/loss.hpp"

using cnn::Shape;
using cnn::Tensor;
using namespace cnn::train;

namespace {

Tensor make(std::size_t n, std::size_t k, const std::vector<float>& v) {
  Tensor t;
  cnn::ensure_shape(t, {n, k});
  REQUIRE(v.size() == n * k);
  std::copy(v.begin(), v.end(), t.begin());
  return t;
}

// Rows of softmax(random logits): probabilities well inside (eps, 1 - eps).
Tensor random_probabilities(std::size_t n, std::size_t k, cnn::Rng& rng) {
  Tensor t = cnn::test::random_tensor({n, k}, rng, -1.5f, 1.5f);
  for (std::size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += std::exp(t(i, j));
    for (std::size_t j = 0; j < k; ++j) t(i, j) = static_cast<float>(std::exp(t(i, j)) / s);
  }
  return t;
}

using LossFn = std::function<double(const Tensor&, Tensor*)>;

// Every element of the analytic gradient against central differences of the loss itself. The
// loss is accumulated in double, so a step smaller than caffe's 1e-2 is accurate, and it keeps
// p +- step inside (0, 1) for the probabilities used here; the tolerance is STYLE.md's 1e-3.
void check_gradient(const LossFn& f, Tensor y, double step = 1e-3) {
  Tensor grad;
  f(y, &grad);
  REQUIRE(cnn::shape_of(grad) == cnn::shape_of(y));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const float x = y.data()[i];
    const float xp = static_cast<float>(x + step), xm = static_cast<float>(x - step);
    y.data()[i] = xp;
    const double lp = f(y, nullptr);
    y.data()[i] = xm;
    const double lm = f(y, nullptr);
    y.data()[i] = x;
    const double numeric = (lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm));
    const double analytic = grad.data()[i];
    INFO("element " << i << ": analytic " << analytic << ", numeric " << numeric);
    CHECK(std::fabs(analytic - numeric) <=
          1e-3 * std::max({1.0, std::fabs(analytic), std::fabs(numeric)}));
  }
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("cross-entropy gradients match central differences, with and without logits/weights") {
  cnn::Rng rng(3);
  const std::size_t n = 3, k = 4;
  const std::vector<std::int32_t> labels{2, 0, 3};
  const std::vector<float> weights{0.5f, 2.0f, 1.25f};
  Tensor one_hot = make(n, k, std::vector<float>(n * k, 0.0f));
  for (std::size_t i = 0; i < n; ++i) one_hot(i, static_cast<std::size_t>(labels[i])) = 1.0f;
  Tensor soft = random_probabilities(n, k, rng);  // soft targets in [0, 1]

  for (const bool logits : {false, true}) {
    for (const bool weighted : {false, true}) {
      CAPTURE(logits);
      CAPTURE(weighted);
      const std::span<const float> w =
          weighted ? std::span<const float>(weights) : std::span<const float>();
      const Tensor y = logits ? cnn::test::random_tensor({n, k}, rng, -3.0f, 3.0f)
                              : random_probabilities(n, k, rng);
      check_gradient(
          [&](const Tensor& o, Tensor* g) {
            return categorical_crossentropy(o, Targets(one_hot), g, logits, w);
          },
          y);
      check_gradient(
          [&](const Tensor& o, Tensor* g) {
            return categorical_crossentropy(o, Targets(soft), g, logits, w);
          },
          y);
      check_gradient(
          [&](const Tensor& o, Tensor* g) {
            return sparse_categorical_crossentropy(o, Targets(labels), g, logits, w);
          },
          y);
      // Binary: independent sigmoid units, probabilities in (0.05, 0.95).
      const Tensor yb = logits ? cnn::test::random_tensor({n, k}, rng, -3.0f, 3.0f)
                               : cnn::test::random_tensor({n, k}, rng, 0.05f, 0.95f);
      check_gradient([&](const Tensor& o,
                         Tensor* g) { return binary_crossentropy(o, Targets(soft), g, logits, w); },
                     yb);
      const std::vector<std::int32_t> bin{1, 0, 1};
      check_gradient([&](const Tensor& o,
                         Tensor* g) { return binary_crossentropy(o, Targets(bin), g, logits, w); },
                     logits ? cnn::test::random_tensor({n, 1}, rng, -3.0f, 3.0f)
                            : cnn::test::random_tensor({n, 1}, rng, 0.05f, 0.95f));
    }
  }
}

TEST_CASE("mse gradient matches central differences, with weights") {
  cnn::Rng rng(4);
  const Tensor t = cnn::test::random_tensor({3, 5}, rng);
  const std::vector<float> weights{1.0f, 0.0f, 3.0f};
  check_gradient(
      [&](const Tensor& o, Tensor* g) { return mean_squared_error(o, Targets(t), g, weights); },
      cnn::test::random_tensor({3, 5}, rng));
  check_gradient([&](const Tensor& o, Tensor* g) { return mean_squared_error(o, Targets(t), g); },
                 cnn::test::random_tensor({3, 5}, rng));
}

TEST_CASE("losses give hand-computed values") {
  const double e = kEpsilon;
  // Binary, two samples, one unit: -(log(0.8 + e) + log(1 - 0.4 + e)) / 2.
  const Tensor p = make(2, 1, {0.8f, 0.4f});
  const Tensor t = make(2, 1, {1.0f, 0.0f});
  Tensor g;
  const double l = binary_crossentropy(p, Targets(t), &g);
  const double p0 = 0.8f, p1 = 0.4f;
  CHECK(l == doctest::Approx(-(std::log(p0 + e) + std::log(1.0 - p1 + e)) / 2.0));
  CHECK(g(0, 0) == doctest::Approx(-1.0 / (p0 + e) / 2.0));
  CHECK(g(1, 0) == doctest::Approx(1.0 / (1.0 - p1 + e) / 2.0));

  // Categorical: -log(0.7) for a normalised row; weighted: (2 * -log(0.7) + 0 * ...) / 2.
  const Tensor q = make(2, 3, {0.2f, 0.7f, 0.1f, 0.5f, 0.25f, 0.25f});
  const std::vector<std::int32_t> labels{1, 2};
  const std::vector<float> w{2.0f, 0.0f};
  const double lq = categorical_crossentropy(q, Targets(labels), &g, false, w);
  CHECK(lq == doctest::Approx(2.0 * -std::log(static_cast<double>(0.7f)) / 2.0));
  CHECK(g(1, 0) == 0.0f);  // zero weight, zero gradient
  // Unnormalised probabilities are renormalised first (Keras).
  const Tensor q2 = make(1, 2, {1.0f, 3.0f});
  const std::vector<std::int32_t> l1{1};
  CHECK(categorical_crossentropy(q2, Targets(l1), nullptr) == doctest::Approx(-std::log(0.75)));

  // Logits: log(1 + e^-2) for z = [0, 2], label 1; gradient softmax - onehot.
  const Tensor z = make(1, 2, {0.0f, 2.0f});
  const double lz = sparse_categorical_crossentropy(z, Targets(l1), &g, true);
  CHECK(lz == doctest::Approx(std::log1p(std::exp(-2.0))));
  CHECK(g(0, 0) == doctest::Approx(1.0 / (1.0 + std::exp(2.0))));
  CHECK(g(0, 1) == doctest::Approx(1.0 / (1.0 + std::exp(-2.0)) - 1.0));

  // mse: mean over outputs of squared differences, mean over samples.
  const Tensor y = make(2, 2, {1.0f, 2.0f, 0.0f, 0.0f});
  const Tensor ty = make(2, 2, {0.0f, 0.0f, 0.0f, 3.0f});
  CHECK(mean_squared_error(y, Targets(ty), &g) == doctest::Approx(((1.0 + 4.0) / 2 + 9.0 / 2) / 2));
  CHECK(g(1, 1) == doctest::Approx(2.0 * -3.0 / 2 / 2));

  // The Loss object dispatches to the same functions.
  const Loss loss = Loss::from_name("sparse_categorical_crossentropy", true);
  CHECK(loss(z, Targets(l1), nullptr) == lz);
  CHECK(loss.name() == "sparse_categorical_crossentropy");
  CHECK(binary_crossentropy(make(0, 1, {}), Targets(std::span<const std::int32_t>()), &g) == 0.0);
}

TEST_CASE("from_logits stays finite and exact at logits of +-1000") {
  Tensor g;
  // Binary: right with full confidence -> 0; wrong -> 1000 per unit.
  const Tensor z = make(1, 2, {1000.0f, -1000.0f});
  const Tensor right = make(1, 2, {1.0f, 0.0f}), wrong = make(1, 2, {0.0f, 1.0f});
  CHECK(binary_crossentropy(z, Targets(right), &g, true) == 0.0);
  CHECK(g(0, 0) == 0.0f);
  CHECK(g(0, 1) == 0.0f);
  CHECK(binary_crossentropy(z, Targets(wrong), &g, true) == doctest::Approx(1000.0));
  CHECK(g(0, 0) == doctest::Approx(0.5));  // (sigmoid(1000) - 0) / k
  CHECK(g(0, 1) == doctest::Approx(-0.5));

  // Categorical: lse([1000, -1000, 0]) = 1000.
  const Tensor zc = make(2, 3, {1000.0f, -1000.0f, 0.0f, 1000.0f, -1000.0f, 0.0f});
  const std::vector<std::int32_t> labels{0, 1};
  const double l = sparse_categorical_crossentropy(zc, Targets(labels), &g, true);
  CHECK(l == doctest::Approx((0.0 + 2000.0) / 2.0));
  for (float v : g) CHECK(std::isfinite(v));
  CHECK(g(0, 0) == 0.0f);
  CHECK(g(1, 0) == doctest::Approx(0.5));
  CHECK(g(1, 1) == doctest::Approx(-0.5));
  CHECK(g(1, 2) == doctest::Approx(0.0));
}

TEST_CASE("probabilities are clipped to [eps, 1 - eps] as Keras does") {
  Tensor g;
  const double e = kEpsilon;
  // p = 0 for a positive: log(eps + eps); clip is active, so no gradient flows.
  const Tensor p0 = make(1, 1, {0.0f});
  const std::vector<std::int32_t> one{1}, zero{0};
  const double l0 = binary_crossentropy(p0, Targets(one), &g);
  CHECK(std::isfinite(l0));
  CHECK(l0 == doctest::Approx(-std::log(2.0 * e)));
  CHECK(g(0, 0) == 0.0f);
  // p = 1 for a negative: clipped to float(1 - eps).
  const Tensor p1 = make(1, 1, {1.0f});
  const double hi = 1.0f - kEpsilon;
  CHECK(binary_crossentropy(p1, Targets(zero), &g) == doctest::Approx(-std::log(1.0 - hi + e)));
  CHECK(g(0, 0) == 0.0f);
  // Categorical with probability 0 on the true class: -log(eps), no gradient.
  const Tensor q = make(1, 3, {0.0f, 1.0f, 0.0f});
  const double lq = categorical_crossentropy(q, Targets(zero), &g);
  CHECK(lq == doctest::Approx(-std::log(e)));
  for (float v : g) CHECK(v == 0.0f);
}

TEST_CASE("sparse and categorical cross-entropy give identical results") {
  cnn::Rng rng(8);
  const std::size_t n = 5, k = 7;
  const std::vector<std::int32_t> labels{6, 0, 3, 3, 1};
  const std::vector<float> w{1.0f, 0.5f, 2.0f, 1.0f, 3.0f};
  Tensor one_hot = make(n, k, std::vector<float>(n * k, 0.0f));
  for (std::size_t i = 0; i < n; ++i) one_hot(i, static_cast<std::size_t>(labels[i])) = 1.0f;
  for (const bool logits : {false, true}) {
    const Tensor y = logits ? cnn::test::random_tensor({n, k}, rng, -4.0f, 4.0f)
                            : random_probabilities(n, k, rng);
    Tensor gs, gc, gl;
    const double ls = sparse_categorical_crossentropy(y, Targets(labels), &gs, logits, w);
    const double lc = categorical_crossentropy(y, Targets(one_hot), &gc, logits, w);
    const double ll = categorical_crossentropy(y, Targets(labels), &gl, logits, w);
    CHECK(ls == lc);
    CHECK(ls == ll);
    CHECK(gs == gc);
    CHECK(gs == gl);
  }
}

TEST_CASE("bad targets, labels, weights and names are reported") {
  const Tensor y = make(3, 4, std::vector<float>(12, 0.25f));
  const std::vector<std::int32_t> bad{1, 2, 4};
  CHECK_THROWS_AS(sparse_categorical_crossentropy(y, Targets(bad), nullptr), cnn::DataError);
  CHECK(message_of([&] { sparse_categorical_crossentropy(y, Targets(bad, 100), nullptr); }) ==
        "sample 102: label 4 is out of range; expected a class id in [0, 4)");
  const std::vector<std::int32_t> neg{-1, 0, 0};
  CHECK(message_of([&] {
          categorical_crossentropy(y, Targets(neg), nullptr);
        }).starts_with("sample 0: label -1 is out of range"));
  const std::vector<std::int32_t> two{0, 2};
  const Tensor yb = make(2, 1, {0.5f, 0.5f});
  CHECK(message_of([&] { binary_crossentropy(yb, Targets(two), nullptr); }) ==
        "sample 1: label 2 is out of range; expected 0 or 1 (one output unit)");
  const Tensor tb = make(2, 1, {0.0f, 1.5f});
  CHECK(message_of([&] {
          binary_crossentropy(yb, Targets(tb), nullptr);
        }).find("sample 1: target 1.5") != std::string::npos);

  const std::vector<std::int32_t> short_labels{0, 1};
  CHECK_THROWS_AS(sparse_categorical_crossentropy(y, Targets(short_labels), nullptr),
                  cnn::DataError);
  const Tensor wrong_shape = make(3, 3, std::vector<float>(9, 0.0f));
  CHECK(message_of([&] { categorical_crossentropy(y, Targets(wrong_shape), nullptr); }) ==
        "targets: shape (3, 3) does not match the model output (3, 4)");
  CHECK_THROWS_AS(sparse_categorical_crossentropy(y, Targets(y), nullptr), cnn::DataError);
  const std::vector<float> w2{1.0f, 1.0f};
  const std::vector<std::int32_t> ok{0, 1, 2};
  CHECK(message_of([&] { categorical_crossentropy(y, Targets(ok), nullptr, false, w2); }) ==
        "sample weights: expected 3 values, got 2");
  Tensor rank3;
  cnn::ensure_shape(rank3, {3, 2, 2});
  CHECK_THROWS_AS(categorical_crossentropy(rank3, Targets(ok), nullptr), cnn::ShapeError);

  CHECK(message_of([] {
          loss_from_name("categorical_crossentropi");
        }).find("did you mean 'categorical_crossentropy'?") != std::string::npos);
  CHECK(loss_from_name("mse") == LossType::MeanSquaredError);
  CHECK_THROWS_AS(Loss(LossType::MeanSquaredError, true), cnn::Error);
}
