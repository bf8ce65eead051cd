// The fit loop: epochs of training steps over a dataset, validation, learning-rate schedule,
// early stopping, checkpoints after every epoch (and on interruption), exact resume.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/batcher.hpp"
#include "data/dataset.hpp"
#include "train/schedule.hpp"
#include "train/trainer.hpp"

namespace cnn::train {

// One row of the history (history.json / history.csv).
struct EpochRecord {
  std::size_t epoch = 0;  // from 1, as Keras prints it
  double loss = 0, accuracy = 0;
  std::optional<double> top_k;
  std::optional<double> val_loss, val_accuracy, val_top_k;
  double learning_rate = 0;
  double seconds = 0;
  std::size_t skipped_images = 0;  // bad images left out of the data (--on-bad-image skip)
};
json_ordered to_json(const EpochRecord& r);
EpochRecord epoch_record_from_json(const json& j);

// Progress within an epoch, for progress bars.
struct StepProgress {
  std::size_t epoch = 0, epochs = 0;  // epoch from 1
  std::size_t step = 0, steps = 0;    // batches done in this epoch, batches per epoch
  double loss = 0, accuracy = 0;      // running means over the epoch
  double seconds = 0;                 // since the epoch started
};

struct FitOptions {
  std::size_t epochs = 1;
  std::size_t batch_size = 32;
  std::optional<std::size_t> steps_per_epoch, validation_steps;
  bool shuffle = true;
  std::uint64_t seed = 0;
  std::size_t threads = 1;                 // data decoding threads
  std::size_t skipped_images = 0;          // recorded in every epoch's history row
  std::optional<ScheduleConfig> schedule;  // none: the optimizer's constant learning rate
  std::optional<EarlyStoppingConfig> early_stopping;
  // When > 0 and the model has trainable BatchNormalization layers: after each epoch's training
  // and before its validation, this many training-mode forwards over training batches (a
  // shuffle of its own, seeded by seed and epoch; no backward, no weight change) replace their
  // moving statistics by the plain average of the batches' statistics (PyTorch's update_bn).
  // The moving averages lag behind weights that move every step; this re-estimates them for
  // the weights the epoch ends with. Dropout draws from a generator of its own, so the weights
  // train exactly as without it.
  std::size_t recalibrate_bn = 0;
  // Data-parallel over several processes: BatchNormalization normalises with the statistics of
  // the whole batch, summed over the processes in every training forward and backward, instead
  // of each process's part's (PyTorch's SyncBatchNorm). Every batch must then give each process
  // at least one sample (ConfigError otherwise).
  bool sync_bn = false;
  std::string recipe_file;                  // names the recipe in schedule/early-stopping errors
  std::string run_dir;                      // checkpoints go to run_dir/checkpoint
  bool resume = false;                      // continue from run_dir's latest checkpoint
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT): finish the step, checkpoint
  std::function<void(const StepProgress&)> on_step;
  // After each epoch, with the history so far (its last record is the new epoch).
  std::function<void(const std::vector<EpochRecord>&)> on_epoch;
};

struct FitResult {
  std::vector<EpochRecord> history;
  // Data-parallel training over several processes: the steps trained, and the seconds of them
  // spent on the gradient sum while backward ran (overlapped) and after it (waiting).
  std::size_t parallel_steps = 0;
  double sum_overlap_s = 0, sum_wait_s = 0;
  bool interrupted = false;
  std::optional<std::size_t> stopped_early_at;  // epoch (from 1)
  std::optional<std::size_t> best_epoch;        // early stopping's best (from 1)
  bool restored_best = false;
};

// The learning-rate schedule and early stopping that options describe. Throws ConfigError
// (naming the recipe and field) for a bad config or a monitor the loop does not log: loss,
// accuracy, lr, their val_ forms with validation data, top_k_accuracy when measured.
struct Callbacks {
  std::unique_ptr<LrSchedule> schedule;
  std::optional<EarlyStopping> early_stopping;
};
Callbacks make_callbacks(const FitOptions& options, double learning_rate, bool has_validation,
                         bool has_top_k);

// Trains; validation (if given) after every epoch. Throws what the data, the trainer or the
// checkpoint writer throw; a schedule or early-stopping monitor that is not logged (e.g.
// val_loss without validation data) is a ConfigError before any work.
FitResult fit(Model& model, Trainer& trainer, const data::Dataset& train,
              const data::Dataset* validation, const FitOptions& options);

// Loss/accuracy of a model over a dataset (inference mode), batched in dataset order. With
// shard, in a job of several processes (dist::Comm), each process evaluates its contiguous range
// of the batches (on_batch sees only those) and every process returns the whole set's sums,
// added batch by batch in order: the same bits as one process.
PassStats evaluate(Trainer& trainer, const data::Dataset& dataset, std::size_t batch_size,
                   std::size_t threads, std::optional<std::size_t> steps = std::nullopt,
                   const std::function<void(const data::Batch&, const Tensor&)>& on_batch = {},
                   bool shard = false);

// The first parameter ("<layer>.<param>") holding a NaN or an infinity, in the weights or, with
// gradients set, in the gradient arena; nullopt when all are finite.
std::optional<std::string> first_nonfinite_param(Model& model, bool gradients = false);

}  // namespace cnn::train
