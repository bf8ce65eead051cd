// Learning-rate schedules (constant, step, Keras ExponentialDecay / CosineDecay /
// ReduceLROnPlateau) and Keras EarlyStopping, configured from JSON, with state that survives a
// checkpoint. The fit loop asks a schedule for the rate before each step and calls the epoch-end
// hooks with the epoch's logs.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::train {

// One epoch's results by Keras log name: "loss", "accuracy", "val_loss", "val_accuracy", ...
using EpochLogs = std::map<std::string, double>;

// Whether a monitored quantity improves downwards or upwards.
enum class MonitorMode { Min, Max };

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;

  // "constant", "step", "exponential", "cosine", "reduce_on_plateau" (also the JSON "type").
  virtual std::string type() const = 0;
  // The learning rate for the optimizer step numbered `step` (0-based: the optimizer's
  // iterations() before that step) in epoch `epoch` (0-based).
  virtual double learning_rate(std::int64_t step, std::int64_t epoch) const = 0;
  // The epoch-end hook, with that epoch's logs; only reduce_on_plateau acts on it.
  virtual void on_epoch_end(std::int64_t epoch, const EpochLogs& logs);
  // The logged value on_epoch_end watches, if any (checked against what the loop logs).
  virtual std::optional<std::string> monitored() const { return std::nullopt; }
  // {"type": ..., every field with its value}; make_schedule(to_json()) rebuilds the schedule.
  virtual json_ordered to_json() const = 0;
  // The mutable state, for checkpoints ({} for the stateless schedules), and its restore:
  // load_state(state_to_json()) on a schedule of the same config continues identically. Bad
  // state throws ConfigError naming file and field.
  virtual json_ordered state_to_json() const;
  virtual void load_state(const json& state, const std::string& file = {},
                          const std::string& pointer = {});
};

// The schedule type names.
const std::vector<std::string>& schedule_types();

// A schedule's settings, validated (parse_schedule) and not yet bound to a learning rate. The
// types and their fields (Keras names and defaults); every type also takes
// "initial_learning_rate", by default the optimizer's learning_rate:
//
//   constant            lr = initial_learning_rate
//   step                lr = initial_learning_rate * factor^floor(epoch / every_epochs)
//                       factor (required, in (0, 1]), every_epochs (required, >= 1)
//   exponential         Keras ExponentialDecay: p = step / decay_steps (floor(p) with staircase)
//                       lr = initial_learning_rate * decay_rate^p
//                       decay_steps (required, >= 1), decay_rate (required, > 0), staircase false
//   cosine              Keras CosineDecay: s = min(step, decay_steps)
//                       lr = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s /
//                       decay_steps)) + alpha); ends at alpha * initial_learning_rate
//                       decay_steps (required, >= 1), alpha 0.0 (in [0, 1])
//   reduce_on_plateau   Keras ReduceLROnPlateau, see ReduceLrOnPlateau below
struct ConstantScheduleConfig {};
struct StepScheduleConfig {
  double factor = 0.5;
  std::int64_t every_epochs = 1;
};
struct ExponentialScheduleConfig {
  std::int64_t decay_steps = 1;
  double decay_rate = 1.0;
  bool staircase = false;
};
struct CosineScheduleConfig {
  std::int64_t decay_steps = 1;
  double alpha = 0.0;
};
struct PlateauConfig {
  double initial_learning_rate = 0.001;
  std::string monitor = "val_loss";
  double factor = 0.1;  // in [0, 1) (Keras rejects factor >= 1)
  std::int64_t patience = 10;
  std::string mode = "auto";  // auto | min | max
  double min_delta = 1e-4;
  std::int64_t cooldown = 0;
  double min_lr = 0.0;
};
struct ScheduleConfig {
  std::optional<double> initial_learning_rate;  // PlateauConfig's own is replaced by this
  std::variant<ConstantScheduleConfig, StepScheduleConfig, ExponentialScheduleConfig,
               CosineScheduleConfig, PlateauConfig>
      kind;
};

// Reads a schedule's JSON ({"type": ..., fields}). Unknown types (with "did you mean"), unknown
// keys, missing required fields and bad values throw ConfigError naming file and field.
ScheduleConfig parse_schedule(const json& cfg, const std::string& file = {},
                              const std::string& pointer = {});

// The schedule the settings describe, starting from initial_learning_rate or else default_lr;
// file and pointer name the config in errors raised at epoch end (a monitor not logged).
std::unique_ptr<LrSchedule> make_schedule(const ScheduleConfig& config, double default_lr,
                                          const std::string& file = {},
                                          const std::string& pointer = {});
// make_schedule(parse_schedule(cfg, file, pointer), default_lr, file, pointer).
std::unique_ptr<LrSchedule> make_schedule(const json& cfg, double default_lr,
                                          const std::string& file = {},
                                          const std::string& pointer = {});

// Keras ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=10, mode="auto",
// min_delta=1e-4, cooldown=0, min_lr=0). At each epoch end, with current = logs[monitor]:
//   if cooling down: cooldown_counter -= 1; wait = 0
//   if current improves on best (min: current < best - min_delta; max: current > best +
//   min_delta): best = current; wait = 0
//   else if not cooling down: wait += 1; when wait >= patience and lr > min_lr (compared in
//   float32): lr = max(lr * factor, min_lr); cooldown_counter = cooldown; wait = 0
// mode "auto" is max when the monitor name contains "acc", min otherwise (as Keras). The rate is
// kept in float32 like Keras's learning-rate variable. A monitor missing from the logs throws
// ConfigError naming the field and the logged names (Keras only warns; here a run that cannot
// do what its recipe says stops early, and the loop can check monitor() up front).

class ReduceLrOnPlateau final : public LrSchedule {
 public:
  // file and pointer name the config in errors raised at epoch end. Bad values throw cnn::Error.
  explicit ReduceLrOnPlateau(const PlateauConfig& config = PlateauConfig{}, std::string file = {},
                             std::string pointer = {});

  std::string type() const override { return "reduce_on_plateau"; }
  double learning_rate(std::int64_t step, std::int64_t epoch) const override;
  void on_epoch_end(std::int64_t epoch, const EpochLogs& logs) override;
  json_ordered to_json() const override;
  json_ordered state_to_json() const override;
  void load_state(const json& state, const std::string& file = {},
                  const std::string& pointer = {}) override;

  const std::string& monitor() const { return config_.monitor; }
  std::optional<std::string> monitored() const override { return config_.monitor; }
  MonitorMode mode() const { return mode_; }
  double best() const { return best_; }
  std::int64_t wait() const { return wait_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }

 private:
  PlateauConfig config_;
  std::string file_, pointer_;
  MonitorMode mode_;
  double lr_;
  double best_;
  std::int64_t wait_ = 0, cooldown_counter_ = 0;
};

// Keras EarlyStopping(monitor="val_loss", min_delta=0, patience=0, mode="auto", baseline=None,
// restore_best_weights=False), as in TF 2.9/2.10. At each epoch end, with current =
// logs[monitor] and improves(a, b) = a + |min_delta| < b (min) or a - |min_delta| > b (max):
//   wait += 1
//   if improves(current, best): best = current; best_epoch = epoch;
//       if no baseline or improves(current, baseline): wait = 0
//       done (no stop on an improving epoch)
//   if wait >= patience and epoch > 0: stop (stopped_epoch = epoch)
// "done" is the one departure from TF 2.9/2.10: there the stop test also ran after an
// improvement, so the default patience=0 stopped every run after its second epoch
// (keras-team/keras#17305, fixed in Keras 2.12 by returning early, as here).
// mode "auto" is max when the monitor ends in "acc", "accuracy" or "auc", min otherwise.
// The loop keeps the weights copy; the decision tells it when to take and when to restore it.
// A monitor missing from the logs throws ConfigError as for ReduceLrOnPlateau.
struct EarlyStoppingConfig {
  std::string monitor = "val_loss";
  double min_delta = 0.0;  // its absolute value is used, as Keras does
  std::int64_t patience = 0;
  std::string mode = "auto";  // auto | min | max
  std::optional<double> baseline;
  bool restore_best_weights = false;
};

// Fields as in EarlyStoppingConfig (Keras names); unknown keys and bad values throw ConfigError
// naming file and field.
EarlyStoppingConfig parse_early_stopping(const json& cfg, const std::string& file = {},
                                         const std::string& pointer = {});

class EarlyStopping {
 public:
  struct Decision {
    bool improved = false;         // this epoch is the new best
    bool keep_weights = false;     // restore_best_weights: copy the current weights as the best
    bool stop = false;             // stop training after this epoch
    bool restore_weights = false;  // stop and restore_best_weights: load the kept copy
  };

  explicit EarlyStopping(const EarlyStoppingConfig& config = EarlyStoppingConfig{},
                         std::string file = {}, std::string pointer = {});
  // EarlyStopping(parse_early_stopping(cfg, file, pointer), file, pointer).
  static EarlyStopping from_json(const json& cfg, const std::string& file = {},
                                 const std::string& pointer = {});
  json_ordered to_json() const;

  Decision on_epoch_end(std::int64_t epoch, const EpochLogs& logs);

  const EarlyStoppingConfig& config() const { return config_; }
  MonitorMode mode() const { return mode_; }
  double best() const { return best_; }
  // The epoch of the best value so far (0 before any).
  std::int64_t best_epoch() const { return best_epoch_; }
  std::int64_t wait() const { return wait_; }
  std::optional<std::int64_t> stopped_epoch() const { return stopped_epoch_; }

  // {"wait", "best", "best_epoch", "stopped_epoch", "has_best_weights"}; non-finite numbers are
  // written as the strings "inf", "-inf", "nan" (JSON has no infinity).
  json_ordered state_to_json() const;
  void load_state(const json& state, const std::string& file = {}, const std::string& pointer = {});

 private:
  bool improves(double a, double b) const;
  EarlyStoppingConfig config_;
  std::string file_, pointer_;
  MonitorMode mode_;
  double min_delta_;  // signed as Keras: +|min_delta| for max, -|min_delta| for min
  double best_;
  std::int64_t best_epoch_ = 0, wait_ = 0;
  std::optional<std::int64_t> stopped_epoch_;
  bool has_best_weights_ = false;
};

}  // namespace cnn::train
