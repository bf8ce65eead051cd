// Keras accuracy metrics, a running mean and a confusion matrix.
#include "train/metrics.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/error.hpp"

namespace cnn::train {
namespace {

struct Dims {
  std::size_t n = 0, k = 0;
};

Dims check(const char* metric, const Tensor& output, const Targets& targets) {
  const Shape shape = shape_of(output);
  if (shape.size() != 2)
    throw ShapeError(metric, "expected a model output of shape [n, k], got " + shape_str(shape),
                     "metric");
  Dims d{shape[0], shape[1]};
  if (targets.is_sparse()) {
    if (targets.labels().size() != d.n)
      throw DataError("targets", "expected " + std::to_string(d.n) +
                                     " labels (one per output row), got " +
                                     std::to_string(targets.labels().size()));
    validate_labels(targets.labels(), d.k, targets.first_sample());
  } else if (shape_of(targets.dense()) != shape) {
    throw DataError("targets", "shape " + shape_str(shape_of(targets.dense())) +
                                   " does not match the model output " + shape_str(shape));
  }
  return d;
}

// First index of the maximum (tf.argmax's tie rule).
std::size_t argmax(const float* y, std::size_t k) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < k; ++j)
    if (y[j] > y[best]) best = j;
  return best;
}

std::size_t true_class(const Targets& targets, std::size_t i, std::size_t k) {
  if (targets.is_sparse()) return static_cast<std::size_t>(targets.labels()[i]);
  return argmax(targets.dense().data() + i * k, k);
}

}  // namespace

double binary_accuracy(const Tensor& output, const Targets& targets, bool from_logits) {
  const Dims d = check("binary_accuracy", output, targets);
  if (d.n == 0) return 0.0;
  const float threshold = from_logits ? 0.0f : 0.5f;
  double total = 0.0;
  for (std::size_t i = 0; i < d.n; ++i) {
    const float* y = output.data() + i * d.k;
    std::size_t correct = 0;
    for (std::size_t j = 0; j < d.k; ++j) {
      const float predicted = y[j] > threshold ? 1.0f : 0.0f;
      float t = 0.0f;
      if (!targets.is_sparse())
        t = targets.dense().data()[i * d.k + j];
      else if (d.k == 1)
        t = static_cast<float>(targets.labels()[i]);
      else
        t = static_cast<std::size_t>(targets.labels()[i]) == j ? 1.0f : 0.0f;
      if (predicted == t) ++correct;
    }
    total += static_cast<double>(correct) / static_cast<double>(d.k);
  }
  return total / static_cast<double>(d.n);
}

double categorical_accuracy(const Tensor& output, const Targets& targets) {
  const Dims d = check("categorical_accuracy", output, targets);
  if (d.k < 2)
    throw ShapeError("categorical_accuracy",
                     "needs an output with k >= 2 classes, got " + shape_str(shape_of(output)),
                     "metric");
  if (d.n == 0) return 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.n; ++i)
    if (argmax(output.data() + i * d.k, d.k) == true_class(targets, i, d.k)) ++correct;
  return static_cast<double>(correct) / static_cast<double>(d.n);
}

double accuracy(const Tensor& output, const Targets& targets, bool from_logits) {
  const Shape shape = shape_of(output);
  if (shape.size() == 2 && shape[1] == 1) return binary_accuracy(output, targets, from_logits);
  return categorical_accuracy(output, targets);
}

double top_k_categorical_accuracy(const Tensor& output, const Targets& targets, std::size_t k) {
  if (k == 0) throw Error("top_k_categorical_accuracy: k must be >= 1, got 0");
  const Dims d = check("top_k_categorical_accuracy", output, targets);
  if (d.n == 0) return 0.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < d.n; ++i) {
    const float* y = output.data() + i * d.k;
    const float yc = y[true_class(targets, i, d.k)];
    if (!std::isfinite(yc)) continue;
    std::size_t greater = 0;
    for (std::size_t j = 0; j < d.k; ++j)
      if (y[j] > yc) ++greater;
    if (greater < k) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(d.n);
}

std::vector<std::int32_t> predicted_classes(const Tensor& output, bool from_logits) {
  const Shape shape = shape_of(output);
  if (shape.size() != 2)
    throw ShapeError("predictions",
                     "expected a model output of shape [n, k], got " + shape_str(shape), "metric");
  const std::size_t n = shape[0], k = shape[1];
  std::vector<std::int32_t> out(n);
  const float threshold = from_logits ? 0.0f : 0.5f;
  for (std::size_t i = 0; i < n; ++i) {
    const float* y = output.data() + i * k;
    out[i] = k == 1 ? (y[0] > threshold ? 1 : 0) : static_cast<std::int32_t>(argmax(y, k));
  }
  return out;
}

ConfusionMatrix::ConfusionMatrix(std::size_t num_classes)
    : k_(num_classes), counts_(num_classes * num_classes, 0) {
  if (num_classes == 0) throw Error("confusion matrix: needs at least 1 class, got 0");
}

void ConfusionMatrix::add(std::int32_t truth, std::int32_t predicted) {
  const auto k = static_cast<std::int64_t>(k_);
  if (truth < 0 || truth >= k || predicted < 0 || predicted >= k)
    throw DataError("confusion matrix", "class pair (true " + std::to_string(truth) +
                                            ", predicted " + std::to_string(predicted) +
                                            ") is out of range; expected class ids in [0, " +
                                            std::to_string(k_) + ")");
  ++counts_[static_cast<std::size_t>(truth) * k_ + static_cast<std::size_t>(predicted)];
  ++total_;
}

void ConfusionMatrix::add_batch(const Tensor& output, const Targets& targets, bool from_logits) {
  const Dims d = check("confusion_matrix", output, targets);
  const std::size_t classes = d.k == 1 ? 2 : d.k;
  if (classes != k_)
    throw ShapeError("confusion_matrix",
                     "the model output " + shape_str(shape_of(output)) + " has " +
                         std::to_string(classes) + " classes, the matrix has " + std::to_string(k_),
                     "metric");
  const auto predicted = predicted_classes(output, from_logits);
  for (std::size_t i = 0; i < d.n; ++i) {
    std::int32_t truth = 0;
    if (targets.is_sparse())
      truth = targets.labels()[i];
    else if (d.k == 1)
      truth = targets.dense().data()[i] > 0.5f ? 1 : 0;
    else
      truth = static_cast<std::int32_t>(argmax(targets.dense().data() + i * d.k, d.k));
    add(truth, predicted[i]);
  }
}

void ConfusionMatrix::reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
}

std::uint64_t ConfusionMatrix::count(std::size_t truth, std::size_t predicted) const {
  return counts_.at(truth * k_ + predicted);
}

std::uint64_t ConfusionMatrix::support(std::size_t c) const {
  std::uint64_t s = 0;
  for (std::size_t j = 0; j < k_; ++j) s += count(c, j);
  return s;
}

double ConfusionMatrix::accuracy() const {
  if (total_ == 0) return 0.0;
  std::uint64_t trace = 0;
  for (std::size_t c = 0; c < k_; ++c) trace += count(c, c);
  return static_cast<double>(trace) / static_cast<double>(total_);
}

double ConfusionMatrix::precision(std::size_t c) const {
  std::uint64_t predicted = 0;
  for (std::size_t r = 0; r < k_; ++r) predicted += count(r, c);
  return predicted == 0 ? 0.0 : static_cast<double>(count(c, c)) / static_cast<double>(predicted);
}

double ConfusionMatrix::recall(std::size_t c) const {
  const std::uint64_t s = support(c);
  return s == 0 ? 0.0 : static_cast<double>(count(c, c)) / static_cast<double>(s);
}

double ConfusionMatrix::f1(std::size_t c) const {
  std::uint64_t predicted = 0;
  for (std::size_t r = 0; r < k_; ++r) predicted += count(r, c);
  const std::uint64_t tp = count(c, c);
  // 2tp + fp + fn = predicted + support.
  const std::uint64_t denom = predicted + support(c);
  return denom == 0 ? 0.0 : 2.0 * static_cast<double>(tp) / static_cast<double>(denom);
}

double ConfusionMatrix::macro_precision() const {
  double s = 0.0;
  for (std::size_t c = 0; c < k_; ++c) s += precision(c);
  return s / static_cast<double>(k_);
}

double ConfusionMatrix::macro_recall() const {
  double s = 0.0;
  for (std::size_t c = 0; c < k_; ++c) s += recall(c);
  return s / static_cast<double>(k_);
}

double ConfusionMatrix::macro_f1() const {
  double s = 0.0;
  for (std::size_t c = 0; c < k_; ++c) s += f1(c);
  return s / static_cast<double>(k_);
}

}  // namespace cnn::train
