// Keras metrics on a batch of model outputs [n, k] (accuracy, top-k accuracy), a running mean,
// and a confusion matrix with per-class precision / recall / F1 for cnn-eval.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "train/loss.hpp"

namespace cnn::train {

// Every batch metric below takes output [n, k] (ShapeError when not rank 2) and targets as the
// losses do (DataError on a shape mismatch or a bad label), and returns the batch mean in [0, 1]
// (0 for an empty batch). Feed it to a MeanMetric with weight n for the epoch value.

// Keras binary_accuracy: per sample, the fraction of outputs j with (y_j > threshold) == t_j,
// threshold 0.5 for probabilities and 0 for logits (sigmoid(z) > 0.5 iff z > 0). Targets are
// compared exactly, as Keras does: a soft label 0.7 never counts as correct.
double binary_accuracy(const Tensor& output, const Targets& targets, bool from_logits = false);
// Keras categorical_accuracy / sparse_categorical_accuracy: argmax(y) == argmax(t) (dense) or
// == label. Ties go to the first index (tf.argmax). Needs k > 1.
double categorical_accuracy(const Tensor& output, const Targets& targets);
// Keras's "accuracy" string resolved as compile() does: k == 1 -> binary_accuracy; labels ->
// sparse categorical; dense [n, k] targets -> categorical.
double accuracy(const Tensor& output, const Targets& targets, bool from_logits = false);
// Keras top_k_categorical_accuracy / sparse_top_k_categorical_accuracy (tf.math.in_top_k): the
// true class c (label, or argmax of the dense row) counts when fewer than k outputs are strictly
// greater than y_c; so ties at the boundary count as in the top k, and a non-finite y_c never
// does. k >= 1 (cnn::Error otherwise); k >= number of classes always counts (finite y_c).
double top_k_categorical_accuracy(const Tensor& output, const Targets& targets, std::size_t k = 5);

// The predicted class of each row: argmax (first index on ties) for k > 1, y > threshold (0.5, or
// 0 for logits) for k == 1.
std::vector<std::int32_t> predicted_classes(const Tensor& output, bool from_logits = false);

// A running weighted mean (Keras's Mean metric): add(batch_mean, n) per batch.
class MeanMetric {
 public:
  void add(double value, double weight = 1.0) {
    total_ += value * weight;
    count_ += weight;
  }
  // total / count; 0 before anything was added.
  double result() const { return count_ == 0.0 ? 0.0 : total_ / count_; }
  double count() const { return count_; }
  void reset() { total_ = count_ = 0.0; }

 private:
  double total_ = 0.0, count_ = 0.0;
};

// Counts [true class][predicted class] (sklearn's layout: rows are truth, columns predictions).
// Precision, recall and F1 are 0 where undefined, as sklearn with zero_division=0.
class ConfusionMatrix {
 public:
  // num_classes >= 1 (cnn::Error otherwise).
  explicit ConfusionMatrix(std::size_t num_classes);

  std::size_t num_classes() const { return k_; }
  // Both in [0, num_classes) (DataError naming the classes otherwise).
  void add(std::int32_t truth, std::int32_t predicted);
  // Adds a batch: predictions from predicted_classes(output, from_logits), truth from the labels
  // or the argmax of dense rows (y > 0.5 for dense [n, 1]). A k == 1 output needs
  // num_classes == 2, otherwise k == num_classes (ShapeError).
  void add_batch(const Tensor& output, const Targets& targets, bool from_logits = false);
  void reset();

  std::uint64_t count(std::size_t truth, std::size_t predicted) const;
  std::uint64_t total() const { return total_; }
  // Samples whose true class is c (row sum).
  std::uint64_t support(std::size_t c) const;
  // trace / total (0 when empty).
  double accuracy() const;
  // tp / (tp + fp): column c.
  double precision(std::size_t c) const;
  // tp / (tp + fn): row c.
  double recall(std::size_t c) const;
  // 2 tp / (2 tp + fp + fn) (= harmonic mean of precision and recall where both are defined).
  double f1(std::size_t c) const;
  // Unweighted means over classes (sklearn average="macro").
  double macro_precision() const;
  double macro_recall() const;
  double macro_f1() const;

 private:
  std::size_t k_;
  std::vector<std::uint64_t> counts_;  // k_ * k_
  std::uint64_t total_ = 0;
};

}  // namespace cnn::train
