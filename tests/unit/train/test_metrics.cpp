// Metrics on hand cases: Keras's documented examples, argmax ties, the binary threshold (for
// probabilities and logits), in_top_k ties, and a 3-class confusion matrix checked against sklearn.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tensor/error.hpp"
#include "train/metrics.hpp"

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

}  // namespace

TEST_CASE("accuracies reproduce Keras's documented examples") {
  const Tensor y = make(2, 3, {0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0.0f});
  const Tensor t = make(2, 3, {0, 0, 1, 0, 1, 0});
  CHECK(categorical_accuracy(y, Targets(t)) == 0.5);
  CHECK(top_k_categorical_accuracy(y, Targets(t), 1) == 0.5);
  CHECK(top_k_categorical_accuracy(y, Targets(t), 2) == 1.0);
  const Tensor ys = make(2, 3, {0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0.0f});
  const std::vector<std::int32_t> labels{2, 1};
  CHECK(categorical_accuracy(ys, Targets(labels)) == 0.5);
  CHECK(accuracy(ys, Targets(labels)) == 0.5);
  const Tensor yb = make(4, 1, {0.98f, 1.0f, 0.0f, 0.6f});
  const Tensor tb = make(4, 1, {1, 1, 0, 0});
  CHECK(binary_accuracy(yb, Targets(tb)) == 0.75);
  CHECK(accuracy(yb, Targets(tb)) == 0.75);
}

TEST_CASE("argmax ties go to the first index, the binary threshold is strict") {
  const Tensor y = make(2, 3, {0.4f, 0.4f, 0.2f, 0.1f, 0.45f, 0.45f});
  const std::vector<std::int32_t> first{0, 1}, second{1, 2};
  CHECK(categorical_accuracy(y, Targets(first)) == 1.0);
  CHECK(categorical_accuracy(y, Targets(second)) == 0.0);
  CHECK(predicted_classes(y) == std::vector<std::int32_t>{0, 1});

  // 0.5 is not > 0.5, so it predicts 0.
  const Tensor p = make(3, 1, {0.5f, 0.51f, 0.2f});
  const std::vector<std::int32_t> labels{1, 1, 0};
  CHECK(binary_accuracy(p, Targets(labels)) == doctest::Approx(2.0 / 3.0));
  // Logits: threshold 0.
  const Tensor z = make(3, 1, {0.0f, 0.01f, -1.0f});
  CHECK(binary_accuracy(z, Targets(labels), true) == doctest::Approx(2.0 / 3.0));
  CHECK(accuracy(z, Targets(labels), true) == doctest::Approx(2.0 / 3.0));
  CHECK(binary_accuracy(z, Targets(labels), false) == doctest::Approx(1.0 / 3.0));
  CHECK(predicted_classes(z, true) == std::vector<std::int32_t>{0, 1, 0});
  // Multi-unit binary accuracy averages over units; soft targets never match.
  const Tensor pm = make(1, 4, {0.9f, 0.1f, 0.7f, 0.2f});
  const Tensor tm = make(1, 4, {1.0f, 0.0f, 0.0f, 0.7f});
  CHECK(binary_accuracy(pm, Targets(tm)) == 0.5);
}

TEST_CASE("top-k follows in_top_k: ties at the boundary count, non-finite never") {
  const Tensor y = make(1, 4, {0.1f, 0.5f, 0.2f, 0.2f});
  auto top = [&](std::int32_t label, std::size_t k) {
    const std::vector<std::int32_t> l{label};
    return top_k_categorical_accuracy(y, Targets(l), k);
  };
  CHECK(top(1, 1) == 1.0);
  CHECK(top(2, 1) == 0.0);
  CHECK(top(2, 2) == 1.0);
  CHECK(top(3, 2) == 1.0);  // tied with class 2 across the boundary: both are in the top 2
  CHECK(top(0, 3) == 0.0);
  CHECK(top(0, 4) == 1.0);
  CHECK(top(0, 5) == 1.0);  // default k=5 >= classes
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor yn = make(1, 3, {nan, 0.2f, 0.3f});
  const std::vector<std::int32_t> l0{0};
  CHECK(top_k_categorical_accuracy(yn, Targets(l0), 3) == 0.0);
  CHECK_THROWS_AS(top_k_categorical_accuracy(y, Targets(l0), 0), cnn::Error);
}

TEST_CASE("confusion matrix, precision, recall and F1 match sklearn on a 3-class case") {
  // sklearn: y_true = [0, 1, 2, 0, 1, 2], y_pred = [0, 2, 1, 0, 0, 1]
  //   precision = [2/3, 0, 0], recall = [1, 0, 0], f1 = [0.8, 0, 0], macro f1 = 0.2667
  ConfusionMatrix m(3);
  const std::vector<std::int32_t> truth{0, 1, 2, 0, 1, 2}, pred{0, 2, 1, 0, 0, 1};
  for (std::size_t i = 0; i < truth.size(); ++i) m.add(truth[i], pred[i]);
  const std::vector<std::vector<std::uint64_t>> expected{{2, 0, 0}, {1, 0, 1}, {0, 2, 0}};
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 3; ++c) CHECK(m.count(r, c) == expected[r][c]);
  CHECK(m.total() == 6);
  CHECK(m.support(1) == 2);
  CHECK(m.accuracy() == doctest::Approx(2.0 / 6.0));
  CHECK(m.precision(0) == doctest::Approx(2.0 / 3.0));
  CHECK(m.precision(1) == 0.0);
  CHECK(m.recall(0) == 1.0);
  CHECK(m.recall(2) == 0.0);
  CHECK(m.f1(0) == doctest::Approx(0.8));
  CHECK(m.f1(1) == 0.0);
  CHECK(m.macro_precision() == doctest::Approx(2.0 / 9.0));
  CHECK(m.macro_recall() == doctest::Approx(1.0 / 3.0));
  CHECK(m.macro_f1() == doctest::Approx(0.8 / 3.0));

  // A class never seen nor predicted: 0 everywhere (zero_division=0), not NaN.
  ConfusionMatrix e(4);
  e.add(0, 0);
  e.add(1, 0);
  CHECK(e.precision(3) == 0.0);
  CHECK(e.recall(3) == 0.0);
  CHECK(e.f1(3) == 0.0);
  CHECK(e.precision(0) == 0.5);
  CHECK_THROWS_AS(e.add(4, 0), cnn::DataError);

  // Batches of model outputs: argmax for k > 1, threshold for one unit.
  ConfusionMatrix b(3);
  const Tensor y = make(3, 3, {0.7f, 0.2f, 0.1f, 0.1f, 0.1f, 0.8f, 0.3f, 0.3f, 0.4f});
  const std::vector<std::int32_t> labels{0, 1, 2};
  b.add_batch(y, Targets(labels));
  CHECK(b.count(0, 0) == 1);
  CHECK(b.count(1, 2) == 1);
  CHECK(b.count(2, 2) == 1);
  ConfusionMatrix bin(2);
  const Tensor z = make(3, 1, {2.0f, -1.0f, 0.5f});
  const Tensor tz = make(3, 1, {1.0f, 1.0f, 0.0f});
  bin.add_batch(z, Targets(tz), true);
  CHECK(bin.count(1, 1) == 1);
  CHECK(bin.count(1, 0) == 1);
  CHECK(bin.count(0, 1) == 1);
  CHECK_THROWS_AS(b.add_batch(z, Targets(tz)), cnn::ShapeError);
  b.reset();
  CHECK(b.total() == 0);
}

TEST_CASE("the running mean weights batches by their size") {
  MeanMetric m;
  CHECK(m.result() == 0.0);
  m.add(0.5, 2);
  m.add(1.0, 1);
  CHECK(m.result() == doctest::Approx(2.0 / 3.0));
  m.reset();
  CHECK(m.count() == 0.0);
}

TEST_CASE("metrics reject bad labels and shapes") {
  const Tensor y = make(2, 3, {0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0.0f});
  const std::vector<std::int32_t> bad{0, 3};
  CHECK_THROWS_AS(categorical_accuracy(y, Targets(bad)), cnn::DataError);
  const Tensor one = make(2, 1, {0.1f, 0.6f});
  const std::vector<std::int32_t> ok{0, 1};
  CHECK_THROWS_AS(categorical_accuracy(one, Targets(ok)), cnn::ShapeError);
}
