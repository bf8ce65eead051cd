// Trainer: the training step and the evaluation step, with the loss from logits where the model
// ends in the matching activation.
#include "train/trainer.hpp"

#include <algorithm>
#include <utility>

#include "train/class_weight.hpp"
#include "train/metrics.hpp"

namespace cnn::train {

void PassStats::add(const PassStats& o) {
  loss_sum += o.loss_sum;
  correct += o.correct;
  top_k_correct += o.top_k_correct;
  samples += o.samples;
}

Trainer::Trainer(Model& model, const TrainerOptions& options, std::uint64_t seed)
    : model_(model),
      loss_(loss_from_name(options.loss)),
      optimizer_(make_optimizer(options.optimizer)),
      weight_decay_(options.weight_decay),
      class_weights_(options.class_weights),
      top_k_(options.top_k),
      precision_(options.precision),
      rng_(seed) {
  last_ = model.size() - 1;
  const Shape& out = model.output_shape();
  if (out.size() != 1)
    throw ShapeError(model.layer(last_).name(),
                     "the model's output must be a vector of class scores, got " +
                         shape_str(out, true) +
                         "; add Flatten or GlobalAveragePooling2D and Dense");
  const std::size_t k = out[0];
  const LossType t = loss_.type();
  if (t == LossType::BinaryCrossentropy && k != 1)
    throw ShapeError(model.layer(last_).name(),
                     "binary_crossentropy needs one output unit, got " + std::to_string(k) +
                         "; use sparse_categorical_crossentropy or Dense(1, sigmoid)");
  if ((t == LossType::CategoricalCrossentropy || t == LossType::SparseCategoricalCrossentropy) &&
      k < 2)
    throw ShapeError(model.layer(last_).name(),
                     loss_.name() + " needs one output per class, got " + std::to_string(k) +
                         "; use binary_crossentropy for a single sigmoid unit");
  // Cross-entropy from logits when the model ends in the matching activation.
  const auto act = model.layer(last_).activation();
  const bool softmax_ce =
      act == kernels::Act::Softmax &&
      (t == LossType::CategoricalCrossentropy || t == LossType::SparseCategoricalCrossentropy);
  const bool sigmoid_ce = act == kernels::Act::Sigmoid && t == LossType::BinaryCrossentropy;
  if (softmax_ce || sigmoid_ce) {
    final_act_ = act;  // the model's forward stops before it (Context::logits)
    loss_ = Loss(t, true);
  }
  // What the optimizer updates, and the kernels weight decay applies to.
  for (const auto& np : model.named_params()) {
    if (!np.layer->trainable() || !np.param->trainable) continue;
    const std::size_t b = static_cast<std::size_t>(np.param->value - model.values());
    trainable_.push_back({b, b + np.param->size()});
    if (np.param->name == "kernel") kernels_.push_back({b, b + np.param->size()});
  }
  trainable_ = normalize_ranges(trainable_);
  kernels_ = normalize_ranges(kernels_);
  ctx_.rng = &rng_;
  ctx_.logits = final_act_.has_value();
}

Trainer::~Trainer() = default;

PassStats Trainer::measure(const Tensor& out, std::span<const std::int32_t> labels,
                           std::size_t first_sample, Tensor* grad) {
  const Targets targets(labels, first_sample);
  std::span<const float> weights;
  // Class weights apply to the training loss only, as Keras's class_weight does.
  if (!class_weights_.empty() && grad) {
    sample_weights_ = sample_weights(labels, class_weights_, first_sample);
    weights = sample_weights_;
  }
  PassStats s;
  s.samples = labels.size();
  const double n = double(labels.size());
  double loss = loss_(out, targets, grad, weights);
  if (weight_decay_ > 0)
    loss += l2_penalty(std::as_const(model_).values(), model_.arena_size(), kernels_,
                       weight_decay_);  // a read: the parameters keep their version
  s.loss_sum = loss * n;
  if (loss_.type() != LossType::MeanSquaredError) {
    s.correct = accuracy(out, targets, loss_.from_logits()) * n;
    if (top_k_ > 0 && out.shape()[1] > 1)
      s.top_k_correct = top_k_categorical_accuracy(out, targets, top_k_) * n;
  }
  return s;
}

void Trainer::set_data_parallel(dist::Comm& comm, bool sync_batch_statistics) {
  if (!comm.parallel() || sync_) return;
  if (sync_batch_statistics)
    ctx_.sum_over_processes = [&comm](double* v, std::size_t n) { comm.allreduce_sum(v, n); };
  // The arena is in node order, and backward runs the nodes backwards: once node i is done,
  // the gradients of node i and every later node are final.
  // ready_offset_[i]: the first parameter of node i or of any later node.
  const float* base = std::as_const(model_).values();
  ready_offset_.assign(model_.size(), model_.arena_size());
  for (std::size_t i = model_.size(); i-- > 0;) {
    if (i + 1 < model_.size()) ready_offset_[i] = ready_offset_[i + 1];
    for (const Param& p : model_.node(i).layer->params())
      ready_offset_[i] = std::min(ready_offset_[i], static_cast<std::size_t>(p.value - base));
  }
  std::vector<std::pair<std::size_t, std::size_t>> ranges;
  for (const Range& r : trainable_) ranges.emplace_back(r.begin, r.end);
  sync_ = std::make_unique<dist::GradientSync>(comm, std::move(ranges));
  ctx_.after_node_backward = [this](std::size_t i) { sync_->ready_from(ready_offset_[i]); };
}

PassStats Trainer::train_step(const Tensor& x, std::span<const std::int32_t> labels,
                              std::size_t first_sample, std::size_t batch_samples) {
  ctx_.training = true;
  const std::size_t n = labels.size();
  const std::size_t total = batch_samples ? batch_samples : n;
  PassStats s;
  if (sync_) sync_->begin(model_.grads());
  if (n > 0) {
    const kernels::MatmulPrecisionScope precision(precision_);
    const Tensor& out = model_.forward(ctx_, x);
    ensure_shape(grad_out_, shape_of(out));
    s = measure(out, labels, first_sample, &grad_out_);
    // The loss is the mean over the whole batch: this part's mean weighs n / total.
    if (total != n) {
      const float w = static_cast<float>(double(n) / double(total));
      for (float& g : grad_out_) g *= w;
    }
    model_.zero_grads();
    model_.backward(ctx_, x, grad_out_);
  } else {
    model_.zero_grads();  // a part with no samples adds nothing to the sum
  }
  if (sync_) sync_->finish();
  if (weight_decay_ > 0)
    add_l2_gradient(std::as_const(model_).values(), model_.grads(), model_.arena_size(), kernels_,
                    weight_decay_);
  optimizer_->step(model_.values(), model_.grads(), model_.arena_size(), trainable_);
  return s;
}

void Trainer::to_probabilities(const Tensor& out, Tensor& probabilities) const {
  ensure_shape(probabilities, shape_of(out));
  std::copy(out.begin(), out.end(), probabilities.begin());
  if (final_act_)
    kernels::act_forward(*final_act_, probabilities.data(), out.shape()[0], out.shape()[1]);
}

PassStats Trainer::eval_step(const Tensor& x, std::span<const std::int32_t> labels,
                             Tensor* probabilities, std::size_t first_sample) {
  ctx_.training = false;
  ctx_.output_only = true;  // only the output is read
  const Tensor& out = model_.forward(ctx_, x);
  const PassStats s = measure(out, labels, first_sample, nullptr);
  if (probabilities) to_probabilities(out, *probabilities);
  return s;
}

void Trainer::predict(const Tensor& x, Tensor& probabilities) {
  ctx_.training = false;
  ctx_.output_only = true;
  to_probabilities(model_.forward(ctx_, x), probabilities);
}

}  // namespace cnn::train
