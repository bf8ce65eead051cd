// Keras losses: per-row loss and gradient in double, weighted "sum over batch size" reduction.
#include "train/loss.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "tensor/config.hpp"
#include "tensor/error.hpp"
#include "tensor/names.hpp"

namespace cnn::train {
namespace {

std::string sample_name(std::size_t i) { return "sample " + std::to_string(i); }

std::string number_str(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

struct BatchDims {
  std::size_t n = 0, k = 0;
};

BatchDims check_shapes(LossType type, const Tensor& output, const Targets& targets,
                       std::span<const float> sample_weights) {
  const Shape shape = shape_of(output);
  if (shape.size() != 2)
    throw ShapeError(loss_name(type),
                     "expected a model output of shape [n, k], got " + shape_str(shape), "loss");
  BatchDims d{shape[0], shape[1]};
  if (targets.is_sparse()) {
    if (targets.labels().size() != d.n)
      throw DataError("targets", "expected " + std::to_string(d.n) +
                                     " labels (one per output row), got " +
                                     std::to_string(targets.labels().size()));
  } else {
    if (type == LossType::SparseCategoricalCrossentropy)
      throw DataError("targets",
                      "sparse_categorical_crossentropy needs integer class labels, got a dense "
                      "tensor " +
                          shape_str(shape_of(targets.dense())));
    if (shape_of(targets.dense()) != shape)
      throw DataError("targets", "shape " + shape_str(shape_of(targets.dense())) +
                                     " does not match the model output " + shape_str(shape));
  }
  if (!sample_weights.empty() && sample_weights.size() != d.n)
    throw DataError("sample weights", "expected " + std::to_string(d.n) + " values, got " +
                                          std::to_string(sample_weights.size()));
  return d;
}

// Dense targets must be finite; cross-entropies also need them in range.
void check_dense_targets(LossType type, const Targets& targets, const BatchDims& d) {
  const float* t = targets.dense().data();
  for (std::size_t i = 0; i < d.n; ++i) {
    for (std::size_t j = 0; j < d.k; ++j) {
      const float v = t[i * d.k + j];
      bool ok = std::isfinite(v);
      std::string expected = "a finite value";
      if (type == LossType::BinaryCrossentropy) {
        ok = ok && v >= 0.0f && v <= 1.0f;
        expected = "a value in [0, 1]";
      } else if (type == LossType::CategoricalCrossentropy) {
        ok = ok && v >= 0.0f;
        expected = "a value >= 0";
      }
      if (!ok)
        throw DataError(sample_name(targets.first_sample() + i),
                        "target " + number_str(v) + " at output " + std::to_string(j) +
                            " is out of range for " + loss_name(type) + "; expected " + expected);
    }
  }
}

// Row i of the targets as dense values (one-hot or the label itself for labels).
void target_row(const Targets& targets, std::size_t i, std::size_t k, std::vector<double>& row) {
  row.assign(k, 0.0);
  if (targets.is_sparse()) {
    const auto label = targets.labels()[i];
    if (k == 1)
      row[0] = static_cast<double>(label);
    else
      row[static_cast<std::size_t>(label)] = 1.0;
  } else {
    const float* t = targets.dense().data() + i * k;
    for (std::size_t j = 0; j < k; ++j) row[j] = t[j];
  }
}

double sigmoid(double z) {
  // Two branches so exp never overflows: for z >= 0, exp(-z) <= 1.
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

// Per-row loss and dl/d(output row) (unscaled by weights and 1/n).
double bce_row(const float* y, const std::vector<double>& t, bool from_logits, double* g) {
  const std::size_t k = t.size();
  double l = 0.0;
  for (std::size_t j = 0; j < k; ++j) {
    if (from_logits) {
      const double z = y[j];
      l += std::max(z, 0.0) - z * t[j] + std::log1p(std::exp(-std::fabs(z)));
      g[j] = (sigmoid(z) - t[j]) / static_cast<double>(k);
    } else {
      // Clip in float as TF does on float32 tensors: the bounds are float(eps), float(1 - eps).
      const float lo = kEpsilon, hi = 1.0f - kEpsilon;
      const bool in_range = y[j] >= lo && y[j] <= hi;
      const double p = std::clamp(y[j], lo, hi);
      const double e = kEpsilon;
      l -= t[j] * std::log(p + e) + (1.0 - t[j]) * std::log(1.0 - p + e);
      g[j] = in_range ? (-t[j] / (p + e) + (1.0 - t[j]) / (1.0 - p + e)) / static_cast<double>(k)
                      : 0.0;
    }
  }
  return l / static_cast<double>(k);
}

double cce_row(const float* y, const std::vector<double>& t, bool from_logits, double* g) {
  const std::size_t k = t.size();
  double l = 0.0;
  if (from_logits) {
    // log-sum-exp with the maximum subtracted: exp never overflows, the largest term is 1.
    double m = y[0];
    for (std::size_t j = 1; j < k; ++j) m = std::max(m, static_cast<double>(y[j]));
    double s = 0.0;
    for (std::size_t j = 0; j < k; ++j) s += std::exp(y[j] - m);
    const double lse = m + std::log(s);
    double tsum = 0.0;
    for (std::size_t j = 0; j < k; ++j) {
      tsum += t[j];
      if (t[j] != 0.0) l += t[j] * (lse - y[j]);
    }
    for (std::size_t j = 0; j < k; ++j) g[j] = std::exp(y[j] - lse) * tsum - t[j];
    return l;
  }
  double s = 0.0;
  for (std::size_t j = 0; j < k; ++j) s += y[j];
  // q = p / s; d l/d q_j = -t_j / q_j where q_j is not clipped; d q_j/d p_i = (delta_ij - q_j) / s.
  double gq_dot_q = 0.0;
  for (std::size_t j = 0; j < k; ++j) {
    const double q = y[j] / s;
    const double lo = kEpsilon, hi = 1.0 - static_cast<double>(kEpsilon);
    const double qc = std::clamp(q, lo, hi);
    if (t[j] != 0.0) l -= t[j] * std::log(qc);
    g[j] = (q >= lo && q <= hi && t[j] != 0.0) ? -t[j] / q : 0.0;
    gq_dot_q += g[j] * q;
  }
  for (std::size_t j = 0; j < k; ++j) g[j] = (g[j] - gq_dot_q) / s;
  return l;
}

double mse_row(const float* y, const std::vector<double>& t, double* g) {
  const std::size_t k = t.size();
  double l = 0.0;
  for (std::size_t j = 0; j < k; ++j) {
    const double d = y[j] - t[j];
    l += d * d;
    g[j] = 2.0 * d / static_cast<double>(k);
  }
  return l / static_cast<double>(k);
}

double compute(LossType type, bool from_logits, const Tensor& output, const Targets& targets,
               Tensor* grad_output, std::span<const float> sample_weights) {
  if (type == LossType::MeanSquaredError && from_logits)
    throw Error("loss 'mse' has no from_logits mode");
  const BatchDims d = check_shapes(type, output, targets, sample_weights);
  if (targets.is_sparse())
    validate_labels(targets.labels(), d.k, targets.first_sample());
  else
    check_dense_targets(type, targets, d);
  if (grad_output) ensure_shape(*grad_output, shape_of(output));
  if (d.n == 0) return 0.0;  // Keras divides with divide_no_nan: an empty batch has loss 0

  const double inv_n = 1.0 / static_cast<double>(d.n);
  std::vector<double> t, g(d.k);
  double total = 0.0;
  for (std::size_t i = 0; i < d.n; ++i) {
    target_row(targets, i, d.k, t);
    const float* y = output.data() + i * d.k;
    double l = 0.0;
    switch (type) {
      case LossType::BinaryCrossentropy:
        l = bce_row(y, t, from_logits, g.data());
        break;
      case LossType::CategoricalCrossentropy:
      case LossType::SparseCategoricalCrossentropy:
        l = cce_row(y, t, from_logits, g.data());
        break;
      case LossType::MeanSquaredError:
        l = mse_row(y, t, g.data());
        break;
    }
    const double w = sample_weights.empty() ? 1.0 : static_cast<double>(sample_weights[i]);
    total += w * l;
    if (grad_output) {
      float* dy = grad_output->data() + i * d.k;
      for (std::size_t j = 0; j < d.k; ++j) dy[j] = static_cast<float>(w * g[j] * inv_n);
    }
  }
  return total * inv_n;
}

}  // namespace

std::size_t Targets::size() const {
  if (dense_) return dense_->dimension() == 0 ? 0 : dense_->shape()[0];
  return labels_.size();
}

void validate_labels(std::span<const std::int32_t> labels, std::size_t k,
                     std::size_t first_sample) {
  const long hi = k == 1 ? 2 : static_cast<long>(k);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= 0 && labels[i] < hi) continue;
    const std::string expected =
        k == 1 ? "0 or 1 (one output unit)" : "a class id in [0, " + std::to_string(k) + ")";
    throw DataError(sample_name(first_sample + i), "label " + std::to_string(labels[i]) +
                                                       " is out of range; expected " + expected);
  }
}

namespace {
constexpr Named<LossType> kLosses[] = {
    {LossType::BinaryCrossentropy, "binary_crossentropy"},
    {LossType::CategoricalCrossentropy, "categorical_crossentropy"},
    {LossType::SparseCategoricalCrossentropy, "sparse_categorical_crossentropy"},
    {LossType::MeanSquaredError, "mse"},
};
}  // namespace

const std::vector<std::string>& loss_names() {
  static const std::vector<std::string> names = names_of(kLosses);
  return names;
}

LossType loss_from_name(const std::string& name) {
  if (const auto t = value_named(kLosses, name)) return *t;
  throw Error("unknown loss '" + name + "'; " + choices_hint(name, loss_names()));
}

std::string loss_name(LossType type) { return name_of(kLosses, type); }

double binary_crossentropy(const Tensor& output, const Targets& targets, Tensor* grad_output,
                           bool from_logits, std::span<const float> sample_weights) {
  return compute(LossType::BinaryCrossentropy, from_logits, output, targets, grad_output,
                 sample_weights);
}

double categorical_crossentropy(const Tensor& output, const Targets& targets, Tensor* grad_output,
                                bool from_logits, std::span<const float> sample_weights) {
  return compute(LossType::CategoricalCrossentropy, from_logits, output, targets, grad_output,
                 sample_weights);
}

double sparse_categorical_crossentropy(const Tensor& output, const Targets& targets,
                                       Tensor* grad_output, bool from_logits,
                                       std::span<const float> sample_weights) {
  return compute(LossType::SparseCategoricalCrossentropy, from_logits, output, targets, grad_output,
                 sample_weights);
}

double mean_squared_error(const Tensor& output, const Targets& targets, Tensor* grad_output,
                          std::span<const float> sample_weights) {
  return compute(LossType::MeanSquaredError, false, output, targets, grad_output, sample_weights);
}

Loss::Loss(LossType type, bool from_logits) : type_(type), from_logits_(from_logits) {
  if (type_ == LossType::MeanSquaredError && from_logits_)
    throw Error("loss 'mse' has no from_logits mode");
}

Loss Loss::from_name(const std::string& name, bool from_logits) {
  return Loss(loss_from_name(name), from_logits);
}

double Loss::operator()(const Tensor& output, const Targets& targets, Tensor* grad_output,
                        std::span<const float> sample_weights) const {
  return compute(type_, from_logits_, output, targets, grad_output, sample_weights);
}

}  // namespace cnn::train
