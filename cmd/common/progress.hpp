// Progress on stderr: a Keras-like bar with ETA when stderr is a terminal, one line per epoch
// otherwise; nothing with --quiet.
#pragma once

#include <chrono>
#include <string>

#include "train/fit.hpp"
#include "train/run.hpp"

namespace cnn::cmd {

class Progress {
 public:
  explicit Progress(bool quiet);
  void info(const std::string& line);
  void step(const train::StepProgress& p);
  void epoch(const train::EpochRecord& r, std::size_t epochs);

 private:
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point last_draw_{};
  std::size_t shown_epoch_ = 0;
};

// What cnn-train and cnn-finetune print with --json: run_dir, epochs, interrupted, the last
// epoch's metrics, stopped_early_at / best_epoch when set, skipped_images.
json_ordered training_result_json(const train::RunResult& result);

// "loss: 0.3412 - accuracy: 0.8791 - val_loss: ..." for an epoch record.
std::string metrics_text(const train::EpochRecord& r);

}  // namespace cnn::cmd
