// Learning-rate schedules and early stopping (Keras semantics, see the header), their JSON
// configuration and checkpoint state.
#include "train/schedule.hpp"

#include <climits>
#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>

#include "tensor/error.hpp"

namespace cnn::train {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// JSON has no infinity or NaN: those are written as strings.
json_ordered number_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double read_state_number(ConfigReader& r, const std::string& key) {
  const json* v = r.get_raw(key);
  if (!v) throw r.error(key, "missing required field");
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    const auto s = v->get<std::string>();
    if (s == "inf") return kInf;
    if (s == "-inf") return -kInf;
    if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
  }
  throw r.error(key, "expected a number (or \"inf\", \"-inf\", \"nan\"), got " + json_brief(*v));
}

double read_number(ConfigReader& r, const std::string& key, std::optional<double> def, double lo,
                   double hi, bool open_bottom, bool open_top) {
  const double v = r.get_number(key, def);
  const bool ok = (open_bottom ? v > lo : v >= lo) && (open_top ? v < hi : v <= hi);
  if (!ok) {
    std::string expected;
    if (hi == kInf)
      expected = std::string("a number ") + (open_bottom ? "> " : ">= ") + num(lo);
    else
      expected = std::string("a number in ") + (open_bottom ? "(" : "[") + num(lo) + ", " +
                 num(hi) + (open_top ? ")" : "]");
    throw r.error(key, "expected " + expected + ", got " + num(v));
  }
  return v;
}

void require(bool ok, const std::string& what, const std::string& field,
             const std::string& expected, const std::string& got) {
  if (!ok) throw Error(what + ": " + field + " must be " + expected + ", got " + got);
}

MonitorMode resolve_mode(const std::string& what, const std::string& mode, bool auto_is_max) {
  if (mode == "min") return MonitorMode::Min;
  if (mode == "max") return MonitorMode::Max;
  require(mode == "auto", what, "mode", "auto, min or max", "'" + mode + "'");
  return auto_is_max ? MonitorMode::Max : MonitorMode::Min;
}

double monitor_value(const EpochLogs& logs, const std::string& monitor, const std::string& file,
                     const std::string& pointer) {
  const auto it = logs.find(monitor);
  if (it != logs.end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [name, value] : logs) names.push_back(name);
  throw ConfigError(
      file, pointer + "/monitor", "",
      "metric '" + monitor + "' is not in this epoch's logs; " +
          (names.empty() ? std::string("nothing was logged") : choices_hint(monitor, names)));
}

// ---------------------------------------------------------------- stateless schedules

class ConstantSchedule final : public LrSchedule {
 public:
  explicit ConstantSchedule(double lr) : lr_(lr) {}
  std::string type() const override { return "constant"; }
  double learning_rate(std::int64_t, std::int64_t) const override { return lr_; }
  json_ordered to_json() const override {
    json_ordered j;
    j["type"] = type();
    j["initial_learning_rate"] = lr_;
    return j;
  }

 private:
  double lr_;
};

class StepSchedule final : public LrSchedule {
 public:
  StepSchedule(double lr, double factor, std::int64_t every)
      : lr_(lr), factor_(factor), every_(every) {}
  std::string type() const override { return "step"; }
  double learning_rate(std::int64_t, std::int64_t epoch) const override {
    return lr_ * std::pow(factor_, static_cast<double>(epoch / every_));
  }
  json_ordered to_json() const override {
    json_ordered j;
    j["type"] = type();
    j["initial_learning_rate"] = lr_;
    j["factor"] = factor_;
    j["every_epochs"] = every_;
    return j;
  }

 private:
  double lr_, factor_;
  std::int64_t every_;
};

class ExponentialSchedule final : public LrSchedule {
 public:
  ExponentialSchedule(double lr, std::int64_t decay_steps, double decay_rate, bool staircase)
      : lr_(lr), decay_steps_(decay_steps), decay_rate_(decay_rate), staircase_(staircase) {}
  std::string type() const override { return "exponential"; }
  double learning_rate(std::int64_t step, std::int64_t) const override {
    double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
    if (staircase_) p = std::floor(p);
    return lr_ * std::pow(decay_rate_, p);
  }
  json_ordered to_json() const override {
    json_ordered j;
    j["type"] = type();
    j["initial_learning_rate"] = lr_;
    j["decay_steps"] = decay_steps_;
    j["decay_rate"] = decay_rate_;
    j["staircase"] = staircase_;
    return j;
  }

 private:
  double lr_;
  std::int64_t decay_steps_;
  double decay_rate_;
  bool staircase_;
};

class CosineSchedule final : public LrSchedule {
 public:
  CosineSchedule(double lr, std::int64_t decay_steps, double alpha)
      : lr_(lr), decay_steps_(decay_steps), alpha_(alpha) {}
  std::string type() const override { return "cosine"; }
  double learning_rate(std::int64_t step, std::int64_t) const override {
    const double s = static_cast<double>(std::min(step, decay_steps_));
    const double cosine =
        0.5 * (1.0 + std::cos(std::numbers::pi * s / static_cast<double>(decay_steps_)));
    return lr_ * ((1.0 - alpha_) * cosine + alpha_);
  }
  json_ordered to_json() const override {
    json_ordered j;
    j["type"] = type();
    j["initial_learning_rate"] = lr_;
    j["decay_steps"] = decay_steps_;
    j["alpha"] = alpha_;
    return j;
  }

 private:
  double lr_;
  std::int64_t decay_steps_;
  double alpha_;
};

}  // namespace

// ---------------------------------------------------------------- LrSchedule

void LrSchedule::on_epoch_end(std::int64_t, const EpochLogs&) {}

json_ordered LrSchedule::state_to_json() const { return json_ordered::object(); }

void LrSchedule::load_state(const json& state, const std::string& file,
                            const std::string& pointer) {
  ConfigReader r(state, file, pointer, "");
  r.finish();  // a stateless schedule has no fields
}

const std::vector<std::string>& schedule_types() {
  static const std::vector<std::string> types = {"constant", "cosine", "exponential",
                                                 "reduce_on_plateau", "step"};
  return types;
}

ScheduleConfig parse_schedule(const json& cfg, const std::string& file,
                              const std::string& pointer) {
  ConfigReader r(cfg, file, pointer, "");
  const std::string type = r.get_choice("type", std::nullopt, schedule_types());
  ScheduleConfig s;
  if (const json* v = r.get_raw("initial_learning_rate"); v && !v->is_null())
    s.initial_learning_rate =
        read_number(r, "initial_learning_rate", std::nullopt, 0.0, kInf, false, false);
  if (type == "constant") {
    s.kind = ConstantScheduleConfig{};
  } else if (type == "step") {
    StepScheduleConfig c;
    c.factor = read_number(r, "factor", std::nullopt, 0.0, 1.0, true, false);
    c.every_epochs = r.get_int("every_epochs", std::nullopt, 1);
    s.kind = c;
  } else if (type == "exponential") {
    ExponentialScheduleConfig c;
    c.decay_steps = r.get_int("decay_steps", std::nullopt, 1);
    c.decay_rate = read_number(r, "decay_rate", std::nullopt, 0.0, kInf, true, false);
    c.staircase = r.get_bool("staircase", false);
    s.kind = c;
  } else if (type == "cosine") {
    CosineScheduleConfig c;
    c.decay_steps = r.get_int("decay_steps", std::nullopt, 1);
    c.alpha = read_number(r, "alpha", 0.0, 0.0, 1.0, false, false);
    s.kind = c;
  } else {
    PlateauConfig c;
    c.monitor = r.get_string("monitor", c.monitor);
    if (c.monitor.empty()) throw r.error("monitor", "expected a metric name, got \"\"");
    c.factor = read_number(r, "factor", c.factor, 0.0, 1.0, false, true);
    c.patience = r.get_int("patience", c.patience, 0);
    c.mode = r.get_choice("mode", c.mode, {"auto", "min", "max"});
    c.min_delta = read_number(r, "min_delta", c.min_delta, 0.0, kInf, false, false);
    c.cooldown = r.get_int("cooldown", c.cooldown, 0);
    c.min_lr = read_number(r, "min_lr", c.min_lr, 0.0, kInf, false, false);
    s.kind = c;
  }
  r.finish();
  return s;
}

std::unique_ptr<LrSchedule> make_schedule(const ScheduleConfig& config, double default_lr,
                                          const std::string& file, const std::string& pointer) {
  const double lr = config.initial_learning_rate.value_or(default_lr);
  struct Make {
    double lr;
    const std::string &file, &pointer;
    std::unique_ptr<LrSchedule> operator()(const ConstantScheduleConfig&) const {
      return std::make_unique<ConstantSchedule>(lr);
    }
    std::unique_ptr<LrSchedule> operator()(const StepScheduleConfig& c) const {
      return std::make_unique<StepSchedule>(lr, c.factor, c.every_epochs);
    }
    std::unique_ptr<LrSchedule> operator()(const ExponentialScheduleConfig& c) const {
      return std::make_unique<ExponentialSchedule>(lr, c.decay_steps, c.decay_rate, c.staircase);
    }
    std::unique_ptr<LrSchedule> operator()(const CosineScheduleConfig& c) const {
      return std::make_unique<CosineSchedule>(lr, c.decay_steps, c.alpha);
    }
    std::unique_ptr<LrSchedule> operator()(PlateauConfig c) const {
      c.initial_learning_rate = lr;
      return std::make_unique<ReduceLrOnPlateau>(c, file, pointer);
    }
  };
  return std::visit(Make{lr, file, pointer}, config.kind);
}

std::unique_ptr<LrSchedule> make_schedule(const json& cfg, double default_lr,
                                          const std::string& file, const std::string& pointer) {
  return make_schedule(parse_schedule(cfg, file, pointer), default_lr, file, pointer);
}

// ---------------------------------------------------------------- ReduceLrOnPlateau

ReduceLrOnPlateau::ReduceLrOnPlateau(const PlateauConfig& config, std::string file,
                                     std::string pointer)
    : config_(config), file_(std::move(file)), pointer_(std::move(pointer)) {
  const std::string what = "reduce_on_plateau";
  require(std::isfinite(config.initial_learning_rate) && config.initial_learning_rate >= 0.0, what,
          "initial_learning_rate", "a finite number >= 0", num(config.initial_learning_rate));
  require(config.factor >= 0.0 && config.factor < 1.0, what, "factor", "in [0, 1)",
          num(config.factor));
  require(config.patience >= 0, what, "patience", ">= 0", std::to_string(config.patience));
  require(config.cooldown >= 0, what, "cooldown", ">= 0", std::to_string(config.cooldown));
  require(config.min_lr >= 0.0, what, "min_lr", ">= 0", num(config.min_lr));
  mode_ = resolve_mode(what, config.mode, config.monitor.find("acc") != std::string::npos);
  lr_ = static_cast<float>(config.initial_learning_rate);
  best_ = mode_ == MonitorMode::Min ? kInf : -kInf;
}

double ReduceLrOnPlateau::learning_rate(std::int64_t, std::int64_t) const { return lr_; }

void ReduceLrOnPlateau::on_epoch_end(std::int64_t, const EpochLogs& logs) {
  const double current = monitor_value(logs, config_.monitor, file_, pointer_);
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  const bool better = mode_ == MonitorMode::Min ? current < best_ - config_.min_delta
                                                : current > best_ + config_.min_delta;
  if (better) {
    best_ = current;
    wait_ = 0;
  } else if (cooldown_counter_ == 0) {
    ++wait_;
    if (wait_ >= config_.patience && static_cast<float>(lr_) > static_cast<float>(config_.min_lr)) {
      // Keras reads the float32 variable, scales in double, and stores float32 again.
      const double new_lr = std::max(lr_ * config_.factor, config_.min_lr);
      lr_ = static_cast<float>(new_lr);
      cooldown_counter_ = config_.cooldown;
      wait_ = 0;
    }
  }
}

json_ordered ReduceLrOnPlateau::to_json() const {
  json_ordered j;
  j["type"] = type();
  j["initial_learning_rate"] = config_.initial_learning_rate;
  j["monitor"] = config_.monitor;
  j["factor"] = config_.factor;
  j["patience"] = config_.patience;
  j["mode"] = config_.mode;
  j["min_delta"] = config_.min_delta;
  j["cooldown"] = config_.cooldown;
  j["min_lr"] = config_.min_lr;
  return j;
}

json_ordered ReduceLrOnPlateau::state_to_json() const {
  json_ordered j;
  j["learning_rate"] = lr_;
  j["best"] = number_json(best_);
  j["wait"] = wait_;
  j["cooldown_counter"] = cooldown_counter_;
  return j;
}

void ReduceLrOnPlateau::load_state(const json& state, const std::string& file,
                                   const std::string& pointer) {
  ConfigReader r(state, file, pointer, "");
  const double lr = read_number(r, "learning_rate", std::nullopt, 0.0, kInf, false, false);
  const double best = read_state_number(r, "best");
  const long wait = r.get_int("wait", std::nullopt, 0);
  const long cooldown = r.get_int("cooldown_counter", std::nullopt, 0);
  r.finish();
  lr_ = static_cast<float>(lr);
  best_ = best;
  wait_ = wait;
  cooldown_counter_ = cooldown;
}

// ---------------------------------------------------------------- EarlyStopping

EarlyStopping::EarlyStopping(const EarlyStoppingConfig& config, std::string file,
                             std::string pointer)
    : config_(config), file_(std::move(file)), pointer_(std::move(pointer)) {
  const std::string what = "EarlyStopping";
  require(std::isfinite(config.min_delta), what, "min_delta", "finite", num(config.min_delta));
  require(config.patience >= 0, what, "patience", ">= 0", std::to_string(config.patience));
  const std::string& m = config.monitor;
  mode_ = resolve_mode(what, config.mode,
                       m.ends_with("acc") || m.ends_with("accuracy") || m.ends_with("auc"));
  min_delta_ =
      mode_ == MonitorMode::Max ? std::fabs(config.min_delta) : -std::fabs(config.min_delta);
  best_ = mode_ == MonitorMode::Min ? kInf : -kInf;
}

EarlyStoppingConfig parse_early_stopping(const json& cfg, const std::string& file,
                                         const std::string& pointer) {
  ConfigReader r(cfg, file, pointer, "");
  EarlyStoppingConfig c;
  c.monitor = r.get_string("monitor", c.monitor);
  if (c.monitor.empty()) throw r.error("monitor", "expected a metric name, got \"\"");
  c.min_delta = r.get_number("min_delta", c.min_delta);
  c.patience = r.get_int("patience", c.patience, 0);
  c.mode = r.get_choice("mode", c.mode, {"auto", "min", "max"});
  if (const json* b = r.get_raw("baseline"); b && !b->is_null()) {
    if (!b->is_number())
      throw r.error("baseline", "expected a number or null, got " + json_brief(*b));
    c.baseline = b->get<double>();
  }
  c.restore_best_weights = r.get_bool("restore_best_weights", c.restore_best_weights);
  r.finish();
  return c;
}

EarlyStopping EarlyStopping::from_json(const json& cfg, const std::string& file,
                                       const std::string& pointer) {
  return EarlyStopping(parse_early_stopping(cfg, file, pointer), file, pointer);
}

json_ordered EarlyStopping::to_json() const {
  json_ordered j;
  j["monitor"] = config_.monitor;
  j["min_delta"] = config_.min_delta;
  j["patience"] = config_.patience;
  j["mode"] = config_.mode;
  j["baseline"] = config_.baseline ? json_ordered(*config_.baseline) : json_ordered(nullptr);
  j["restore_best_weights"] = config_.restore_best_weights;
  return j;
}

bool EarlyStopping::improves(double a, double b) const {
  return mode_ == MonitorMode::Min ? a - min_delta_ < b : a - min_delta_ > b;
}

EarlyStopping::Decision EarlyStopping::on_epoch_end(std::int64_t epoch, const EpochLogs& logs) {
  const double current = monitor_value(logs, config_.monitor, file_, pointer_);
  Decision d;
  if (config_.restore_best_weights && !has_best_weights_) {
    // Keras keeps the first epoch's weights in case no epoch ever improves.
    d.keep_weights = true;
    has_best_weights_ = true;
  }
  ++wait_;
  if (improves(current, best_)) {
    best_ = current;
    best_epoch_ = epoch;
    d.improved = true;
    d.keep_weights = config_.restore_best_weights;
    // Only a value that beats both the previous best and the baseline restarts the wait.
    if (!config_.baseline || improves(current, *config_.baseline)) wait_ = 0;
    return d;  // an improving epoch never stops training (Keras >= 2.12; see the header)
  }
  if (wait_ >= config_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    d.stop = true;
    d.restore_weights = config_.restore_best_weights && has_best_weights_;
  }
  return d;
}

json_ordered EarlyStopping::state_to_json() const {
  json_ordered j;
  j["wait"] = wait_;
  j["best"] = number_json(best_);
  j["best_epoch"] = best_epoch_;
  j["stopped_epoch"] = stopped_epoch_ ? json_ordered(*stopped_epoch_) : json_ordered(nullptr);
  j["has_best_weights"] = has_best_weights_;
  return j;
}

void EarlyStopping::load_state(const json& state, const std::string& file,
                               const std::string& pointer) {
  ConfigReader r(state, file, pointer, "");
  const long wait = r.get_int("wait", std::nullopt, 0);
  const double best = read_state_number(r, "best");
  const long best_epoch = r.get_int("best_epoch", std::nullopt, 0);
  std::optional<std::int64_t> stopped;
  if (const json* s = r.get_raw("stopped_epoch"); s && !s->is_null()) {
    if (!s->is_number_integer() || s->get<long>() < 0)
      throw r.error("stopped_epoch", "expected an epoch >= 0 or null, got " + json_brief(*s));
    stopped = s->get<long>();
  }
  const bool has_best = r.get_bool("has_best_weights", std::nullopt);
  r.finish();
  wait_ = wait;
  best_ = best;
  best_epoch_ = best_epoch;
  stopped_epoch_ = stopped;
  has_best_weights_ = has_best;
}

}  // namespace cnn::train
