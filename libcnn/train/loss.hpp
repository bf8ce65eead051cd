// Losses of Keras (binary/categorical/sparse categorical cross-entropy, mse) on a batch of model
// outputs [n, k]: the weighted batch mean (double accumulation) and dL/d(output) for that mean.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace cnn::train {

// Keras's fuzz factor (keras.backend.epsilon()): probabilities are clipped to [eps, 1 - eps].
inline constexpr float kEpsilon = 1e-7f;

// The targets of a batch: either a dense float tensor [n, k] (one-hot rows, binary 0/1 or soft
// labels, regression values) or integer class labels [n].
//
// Labels stand for dense rows where a loss needs them: with k > 1 outputs label c is the one-hot
// row e_c (c must be in [0, k)); with k == 1 it is the value c itself (c must be 0 or 1).
// first_sample is the index of the batch's first sample in its dataset; error messages add it,
// so "sample 1203" names the dataset's sample, not the batch position. Targets is a view: the
// tensor or labels must outlive it.
class Targets {
 public:
  explicit Targets(const Tensor& dense, std::size_t first_sample = 0)
      : dense_(&dense), first_sample_(first_sample) {}
  explicit Targets(std::span<const std::int32_t> labels, std::size_t first_sample = 0)
      : labels_(labels), first_sample_(first_sample) {}

  bool is_sparse() const { return dense_ == nullptr; }
  const Tensor& dense() const { return *dense_; }
  std::span<const std::int32_t> labels() const { return labels_; }
  std::size_t first_sample() const { return first_sample_; }
  // Number of samples (rows of dense, or labels).
  std::size_t size() const;

 private:
  const Tensor* dense_ = nullptr;
  std::span<const std::int32_t> labels_;
  std::size_t first_sample_ = 0;
};

// Throws DataError("sample <first_sample + i>", ...) for the first label outside [0, k) (k > 1)
// or outside {0, 1} (k == 1).
void validate_labels(std::span<const std::int32_t> labels, std::size_t k,
                     std::size_t first_sample = 0);

enum class LossType {
  BinaryCrossentropy,
  CategoricalCrossentropy,
  SparseCategoricalCrossentropy,
  MeanSquaredError
};

// The Keras names: binary_crossentropy, categorical_crossentropy,
// sparse_categorical_crossentropy, mse.
const std::vector<std::string>& loss_names();
// Throws cnn::Error listing the names and the nearest one ("did you mean") when unknown.
LossType loss_from_name(const std::string& name);
std::string loss_name(LossType type);

// Every loss below:
//   output         [n, k] (rank 2; ShapeError otherwise): probabilities, or logits with from_logits
//   targets        dense [n, k] (same shape as output) or labels [n]; DataError on a mismatch or
//                  an out-of-range label/target, naming the sample
//   sample_weights empty (all 1) or n values, e.g. class weights looked up per label
//   grad_output    when not null, resized to output's shape and overwritten with dL/d(output)
// returns L = sum_i(w_i * l_i) / n, Keras's "sum over batch size" reduction (0 for n == 0), where
// l_i is the per-sample loss below, averaged over the k outputs where Keras averages (bce, mse).
//
// binary_crossentropy, per output j (l_i is the mean over j):
//   probabilities: p' = clip(p, eps, 1 - eps);
//     l = -(t * log(p' + eps) + (1 - t) * log(1 - p' + eps))
//     (Keras 2.x backend: clipped AND eps added inside the logs). d/dp is zero where clip is active
//     (p < eps or p > 1 - eps), as TF's clip_by_value gradient: a confidently wrong sigmoid output
//     gives a finite loss of about 15.4 and no gradient.
//   logits z (stable softplus form): l = max(z, 0) - z * t + log1p(exp(-|z|));
//     dl/dz = sigmoid(z) - t.
// categorical_crossentropy (targets t_j >= 0, usually one-hot; l_i is the sum over j):
//   probabilities: q = p / sum(p) (Keras renormalises), q' = clip(q, eps, 1 - eps),
//     l = -sum_j t_j * log(q'_j); the gradient flows through the normalisation, and not through
//     clipped entries. For a softmax output the renormalisation changes nothing downstream.
//   logits z (log-sum-exp): l = sum_j t_j * (lse(z) - z_j); dl/dz_j = softmax(z)_j * sum(t) - t_j.
// sparse_categorical_crossentropy: categorical_crossentropy with the one-hot row of each label
//   (labels only). Keras clips before normalising on this path; the two agree exactly unless
//   some probability is below 1e-7, and here sparse and categorical results are identical.
// mse: l = mean_j (y_j - t_j)^2; dl/dy_j = 2 * (y_j - t_j) / k. No from_logits.
double binary_crossentropy(const Tensor& output, const Targets& targets, Tensor* grad_output,
                           bool from_logits = false, std::span<const float> sample_weights = {});
double categorical_crossentropy(const Tensor& output, const Targets& targets, Tensor* grad_output,
                                bool from_logits = false,
                                std::span<const float> sample_weights = {});
double sparse_categorical_crossentropy(const Tensor& output, const Targets& targets,
                                       Tensor* grad_output, bool from_logits = false,
                                       std::span<const float> sample_weights = {});
double mean_squared_error(const Tensor& output, const Targets& targets, Tensor* grad_output,
                          std::span<const float> sample_weights = {});

// A configured loss for the fit loop: type + from_logits, callable on batches.
class Loss {
 public:
  // from_logits with mse throws cnn::Error.
  explicit Loss(LossType type, bool from_logits = false);
  // loss_from_name(name), then as above.
  static Loss from_name(const std::string& name, bool from_logits = false);

  LossType type() const { return type_; }
  std::string name() const { return loss_name(type_); }
  bool from_logits() const { return from_logits_; }

  // The loss of the batch (see the functions above); grad_output may be null (evaluation).
  double operator()(const Tensor& output, const Targets& targets, Tensor* grad_output,
                    std::span<const float> sample_weights = {}) const;

 private:
  LossType type_;
  bool from_logits_;
};

}  // namespace cnn::train
