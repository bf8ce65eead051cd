// One training or evaluation step of a model: forward, loss, zero grads, backward, weight decay,
// optimizer step (the train_gpt2.c loop). Cross-entropy is computed from logits when the model
// ends in sigmoid/softmax: the trainer's forward and backward stop before that activation
// (Context::logits), and the loss is a stage of its own; the model itself is not changed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dist/grad_sync.hpp"
#include "kernels/gemm.hpp"
#include "model/model.hpp"
#include "train/loss.hpp"
#include "train/optimizer.hpp"

namespace cnn::train {

struct TrainerOptions {
  std::string loss = "sparse_categorical_crossentropy";
  OptimizerConfig optimizer = RmspropConfig{};
  double weight_decay = 0.0;         // L2 (Keras l2(lambda)) on every trainable "kernel"
  std::vector<float> class_weights;  // per class; empty: all 1
  std::size_t top_k = 0;             // also measure top-k accuracy when k > 0
  // The matrix products of train_step's forward and backward (Bf16: mixed precision, as
  // accelerators train: bfloat16 operands, float sums; the loss, normalisation statistics, the
  // weights and the optimizer stay float). Evaluation and prediction always run in Fp32.
  kernels::Precision precision = kernels::Precision::Fp32;
};

// Sums over the samples of a pass; means come from dividing by samples.
struct PassStats {
  double loss_sum = 0.0;  // sum over samples of the (weighted) loss, L2 penalty included
  double correct = 0.0;   // sum over samples of accuracy
  double top_k_correct = 0.0;
  std::size_t samples = 0;
  void add(const PassStats& o);
  double loss() const { return samples ? loss_sum / double(samples) : 0.0; }
  double accuracy() const { return samples ? correct / double(samples) : 0.0; }
  double top_k() const { return samples ? top_k_correct / double(samples) : 0.0; }
};

class Trainer {
 public:
  // model must outlive the trainer. Throws ConfigError for a bad optimizer config or a loss that
  // does not fit the model's output (e.g. binary cross-entropy on 10 outputs).
  Trainer(Model& model, const TrainerOptions& options, std::uint64_t seed);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // x [n, ...input], labels [n] class indices. Updates the weights; returns the batch's sums.
  // In data-parallel training (set_data_parallel) x and labels are this process's part of a
  // batch of batch_samples samples (n may be 0): its loss gradient is weighted n /
  // batch_samples, the gradients are summed over the processes while backward runs, and every
  // process applies the same step; the sums returned are this process's.
  PassStats train_step(const Tensor& x, std::span<const std::int32_t> labels,
                       std::size_t first_sample = 0, std::size_t batch_samples = 0);
  // Data-parallel training over comm's processes (nothing changes with one process). Call once,
  // before training. sync_batch_statistics: BatchNormalization over the whole batch
  // (Context::sum_over_processes).
  void set_data_parallel(dist::Comm& comm, bool sync_batch_statistics = false);
  // The gradient sum's timing (nullptr unless data-parallel over several processes).
  const dist::GradientSync* gradient_sync() const { return sync_.get(); }
  // Inference-mode forward and loss; probabilities (if given) receives the model's real output
  // (after the final sigmoid/softmax).
  PassStats eval_step(const Tensor& x, std::span<const std::int32_t> labels,
                      Tensor* probabilities = nullptr, std::size_t first_sample = 0);
  // Probabilities only (no labels), inference mode.
  void predict(const Tensor& x, Tensor& probabilities);

  Optimizer& optimizer() { return *optimizer_; }
  Rng& rng() { return rng_; }
  const Loss& loss() const { return loss_; }
  std::size_t top_k() const { return top_k_; }
  // The arena ranges the optimizer updates (trainable parameters of trainable layers).
  std::span<const Range> trainable_ranges() const { return trainable_; }

 private:
  PassStats measure(const Tensor& out, std::span<const std::int32_t> labels,
                    std::size_t first_sample, Tensor* grad);
  void to_probabilities(const Tensor& out, Tensor& probabilities) const;

  Model& model_;
  Loss loss_;
  std::unique_ptr<Optimizer> optimizer_;
  std::optional<kernels::Act> final_act_;  // the output's activation, when the loss takes logits
  std::size_t last_ = 0;
  double weight_decay_ = 0.0;
  std::vector<float> class_weights_, sample_weights_;
  std::size_t top_k_ = 0;
  kernels::Precision precision_ = kernels::Precision::Fp32;
  std::vector<Range> trainable_, kernels_;
  Rng rng_;
  Context ctx_;
  Tensor grad_out_;
  std::unique_ptr<dist::GradientSync> sync_;
  std::vector<std::size_t> ready_offset_;  // node i done: gradients from this offset are final
};

}  // namespace cnn::train
