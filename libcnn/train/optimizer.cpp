// SGD, RMSprop and Adam over flat arenas (tf.keras 2.x formulas, see the header), their
// configuration from JSON, checkpoint state, and L2 penalties.
#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "kernels/threading.hpp"
#include "tensor/error.hpp"

namespace cnn::train {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string range_str(const Range& r) {
  return "[" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
}

void check_ranges(const char* what, std::span<const Range> ranges, std::size_t n) {
  std::size_t prev_end = 0;
  for (const Range& r : ranges) {
    if (r.begin > r.end || r.end > n)
      throw Error(std::string(what) + ": range " + range_str(r) + " is not within the arena [0, " +
                  std::to_string(n) + ")");
    if (r.begin < prev_end)
      throw Error(std::string(what) + ": range " + range_str(r) +
                  " overlaps or precedes the previous one; pass normalize_ranges(...)");
    prev_end = r.end;
  }
}

// Keras's own checks, as sentences ("RMSprop: rho must be in [0, 1], got 1.5").
void require(bool ok, const std::string& type, const std::string& field,
             const std::string& expected, double got) {
  if (!ok) throw Error(type + ": " + field + " must be " + expected + ", got " + num(got));
}

void check_lr(const std::string& type, double lr) {
  require(std::isfinite(lr) && lr >= 0.0, type, "learning_rate", "a finite number >= 0", lr);
}

void check_unit(const std::string& type, const std::string& field, double v, bool open_top) {
  const bool ok = v >= 0.0 && (open_top ? v < 1.0 : v <= 1.0);
  require(ok, type, field, open_top ? "in [0, 1)" : "in [0, 1]", v);
}

void check_epsilon(const std::string& type, double eps) {
  require(std::isfinite(eps) && eps >= 0.0, type, "epsilon", "a finite number >= 0", eps);
}

// ConfigReader numbers with readable range errors ("expected a number in [0, 1), got 1").
double read_number(ConfigReader& r, const std::string& key, double def, double lo, double hi,
                   bool open_top) {
  const double v = r.get_number(key, def);
  const bool ok = v >= lo && (open_top ? v < hi : v <= hi);
  if (!ok) {
    std::string expected;
    if (hi == 1e300)
      expected = "a number >= " + num(lo);
    else
      expected = "a number in [" + num(lo) + ", " + num(hi) + (open_top ? ")" : "]");
    throw r.error(key, "expected " + expected + ", got " + num(v));
  }
  return v;
}

}  // namespace

std::vector<Range> normalize_ranges(std::vector<Range> ranges) {
  std::erase_if(ranges, [](const Range& r) { return r.end <= r.begin; });
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  std::vector<Range> out;
  for (const Range& r : ranges) {
    if (!out.empty() && r.begin <= out.back().end)
      out.back().end = std::max(out.back().end, r.end);
    else
      out.push_back(r);
  }
  return out;
}

// ---------------------------------------------------------------- Optimizer

Optimizer::Optimizer(double learning_rate, std::vector<std::string> slot_names)
    : lr_(learning_rate) {
  for (auto& name : slot_names) slots_.emplace(std::move(name), std::vector<float>{});
}

void Optimizer::set_learning_rate(double lr) {
  check_lr(type(), lr);
  lr_ = lr;
}

std::vector<std::string> Optimizer::slot_names() const {
  std::vector<std::string> names;
  for (const auto& [name, buffer] : slots_) names.push_back(name);
  return names;
}

void Optimizer::step(float* values, const float* grads, std::size_t n,
                     std::span<const Range> trainable) {
  check_ranges("optimizer step", trainable, n);
  for (auto& [name, buffer] : slots_) {
    if (buffer.empty() && n > 0) buffer.assign(n, 0.0f);
    if (buffer.size() != n)
      throw Error("optimizer state '" + name + "' holds " + std::to_string(buffer.size()) +
                  " values but the parameter arena has " + std::to_string(n));
  }
  prepare_step();
  // Every value updates independently: ranges are cut into fixed pieces over the threads (the
  // result does not depend on the split). 8,192 values per piece keep small layers on one.
  constexpr std::size_t kPiece = 8192;
  for (const Range& r : trainable) {
    const std::size_t pieces = (r.end - r.begin + kPiece - 1) / kPiece;
    kernels::parallel_for(0, pieces, [&](std::size_t p) {
      const std::size_t b = r.begin + p * kPiece;
      update(values, grads, b, std::min(r.end, b + kPiece));
    });
  }
  ++iterations_;
}

void Optimizer::load_state(const OptimizerState& slots, std::int64_t iterations, std::size_t n,
                           const std::string& source) {
  const auto names = slot_names();
  std::string list;
  for (const auto& s : names) list += (list.empty() ? "" : ", ") + s;
  if (list.empty()) list = "none";
  for (const auto& [name, buffer] : slots) {
    if (!slots_.count(name))
      throw FormatError(source, std::nullopt,
                        "optimizer state '" + name + "' does not belong to " + type() +
                            " with this configuration; expected buffers: " + list);
    if (buffer.size() != n)
      throw FormatError(source, std::nullopt,
                        "optimizer state '" + name + "': expected " + std::to_string(n) +
                            " values (the model's parameter count), got " +
                            std::to_string(buffer.size()));
  }
  for (const auto& name : names)
    if (!slots.count(name))
      throw FormatError(source, std::nullopt,
                        "optimizer state '" + name + "' is missing; " + type() +
                            " with this configuration keeps: " + list);
  if (iterations < 0)
    throw FormatError(
        source, std::nullopt,
        "optimizer iterations: expected a count >= 0, got " + std::to_string(iterations));
  for (const auto& [name, buffer] : slots) slots_[name] = buffer;
  iterations_ = iterations;
}

// ---------------------------------------------------------------- SGD

namespace {
std::vector<std::string> sgd_slots(const SgdConfig& c) {
  if (c.momentum > 0.0) return {"sgd.momentum"};
  return {};
}
}  // namespace

SGD::SGD(const SgdConfig& config)
    : Optimizer(config.learning_rate, sgd_slots(config)), config_(config) {
  check_lr("SGD", config.learning_rate);
  check_unit("SGD", "momentum", config.momentum, false);
}

json_ordered SGD::to_json() const {
  json_ordered j;
  j["type"] = type();
  j["learning_rate"] = config_.learning_rate;
  j["momentum"] = config_.momentum;
  j["nesterov"] = config_.nesterov;
  return j;
}

void SGD::update(float* w, const float* g, std::size_t begin, std::size_t end) {
  const float lr = static_cast<float>(learning_rate());
  if (config_.momentum == 0.0) {
    for (std::size_t i = begin; i < end; ++i) w[i] -= lr * g[i];
    return;
  }
  const float mu = static_cast<float>(config_.momentum);
  float* v = slot("sgd.momentum");
  if (config_.nesterov) {
    for (std::size_t i = begin; i < end; ++i) {
      v[i] = v[i] * mu - lr * g[i];
      w[i] += v[i] * mu - lr * g[i];
    }
  } else {
    for (std::size_t i = begin; i < end; ++i) {
      v[i] = v[i] * mu - lr * g[i];
      w[i] += v[i];
    }
  }
}

// ---------------------------------------------------------------- RMSprop

namespace {
std::vector<std::string> rmsprop_slots(const RmspropConfig& c) {
  std::vector<std::string> s = {"rmsprop.ms"};
  if (c.momentum > 0.0) s.push_back("rmsprop.momentum");
  if (c.centered) s.push_back("rmsprop.mg");
  return s;
}
}  // namespace

RMSprop::RMSprop(const RmspropConfig& config)
    : Optimizer(config.learning_rate, rmsprop_slots(config)), config_(config) {
  check_lr("RMSprop", config.learning_rate);
  check_unit("RMSprop", "rho", config.rho, false);
  check_unit("RMSprop", "momentum", config.momentum, false);
  check_epsilon("RMSprop", config.epsilon);
}

json_ordered RMSprop::to_json() const {
  json_ordered j;
  j["type"] = type();
  j["learning_rate"] = config_.learning_rate;
  j["rho"] = config_.rho;
  j["momentum"] = config_.momentum;
  j["epsilon"] = config_.epsilon;
  j["centered"] = config_.centered;
  return j;
}

void RMSprop::update(float* w, const float* g, std::size_t begin, std::size_t end) {
  const float lr = static_cast<float>(learning_rate());
  const float rho = static_cast<float>(config_.rho);
  const float one_minus_rho = 1.0f - rho;
  const float eps = static_cast<float>(config_.epsilon);
  float* ms = slot("rmsprop.ms");
  float* mg = config_.centered ? slot("rmsprop.mg") : nullptr;
  for (std::size_t i = begin; i < end; ++i) {
    ms[i] = rho * ms[i] + one_minus_rho * g[i] * g[i];
  }
  if (config_.momentum == 0.0) {
    // optimizer_v2's Python path: epsilon added after the square root.
    for (std::size_t i = begin; i < end; ++i) {
      float d = ms[i];
      if (mg) {
        mg[i] = rho * mg[i] + one_minus_rho * g[i];
        d -= mg[i] * mg[i];
      }
      w[i] -= lr * g[i] / (std::sqrt(d) + eps);
    }
    return;
  }
  // The fused ApplyRMSProp / ApplyCenteredRMSProp kernels: epsilon inside the square root.
  const float mu = static_cast<float>(config_.momentum);
  float* mom = slot("rmsprop.momentum");
  for (std::size_t i = begin; i < end; ++i) {
    float d = ms[i];
    if (mg) {
      mg[i] = rho * mg[i] + one_minus_rho * g[i];
      d -= mg[i] * mg[i];
    }
    mom[i] = mu * mom[i] + lr * g[i] / std::sqrt(d + eps);
    w[i] -= mom[i];
  }
}

// ---------------------------------------------------------------- Adam

namespace {
std::vector<std::string> adam_slots(const AdamConfig& c) {
  std::vector<std::string> s = {"adam.m", "adam.v"};
  if (c.amsgrad) s.push_back("adam.vhat");
  return s;
}
}  // namespace

Adam::Adam(const AdamConfig& config)
    : Optimizer(config.learning_rate, adam_slots(config)), config_(config) {
  check_lr("Adam", config.learning_rate);
  check_unit("Adam", "beta_1", config.beta_1, true);
  check_unit("Adam", "beta_2", config.beta_2, true);
  check_epsilon("Adam", config.epsilon);
}

json_ordered Adam::to_json() const {
  json_ordered j;
  j["type"] = type();
  j["learning_rate"] = config_.learning_rate;
  j["beta_1"] = config_.beta_1;
  j["beta_2"] = config_.beta_2;
  j["epsilon"] = config_.epsilon;
  j["amsgrad"] = config_.amsgrad;
  return j;
}

void Adam::prepare_step() {
  const double t = static_cast<double>(iterations() + 1);
  const double b1_power = std::pow(config_.beta_1, t);
  const double b2_power = std::pow(config_.beta_2, t);
  lr_t_ = static_cast<float>(learning_rate() * std::sqrt(1.0 - b2_power) / (1.0 - b1_power));
}

void Adam::update(float* w, const float* g, std::size_t begin, std::size_t end) {
  const float one_minus_b1 = 1.0f - static_cast<float>(config_.beta_1);
  const float one_minus_b2 = 1.0f - static_cast<float>(config_.beta_2);
  const float eps = static_cast<float>(config_.epsilon);
  float* m = slot("adam.m");
  float* v = slot("adam.v");
  float* vhat = config_.amsgrad ? slot("adam.vhat") : nullptr;
  for (std::size_t i = begin; i < end; ++i) {
    // TF's CPU kernel form of m = b1 m + (1 - b1) g: one multiply fewer, same value.
    m[i] += (g[i] - m[i]) * one_minus_b1;
    v[i] += (g[i] * g[i] - v[i]) * one_minus_b2;
    float denom_v = v[i];
    if (vhat) {
      vhat[i] = std::max(vhat[i], v[i]);
      denom_v = vhat[i];
    }
    w[i] -= lr_t_ * m[i] / (std::sqrt(denom_v) + eps);
  }
}

// ---------------------------------------------------------------- construction from JSON

const std::vector<std::string>& optimizer_types() {
  static const std::vector<std::string> types = {"Adam", "RMSprop", "SGD"};
  return types;
}

OptimizerConfig parse_optimizer(const json& cfg, const std::string& file,
                                const std::string& pointer) {
  ConfigReader r(cfg, file, pointer, "");
  const std::string type = r.get_choice("type", std::nullopt, optimizer_types());
  OptimizerConfig config;
  if (type == "SGD") {
    SgdConfig c;
    c.learning_rate = read_number(r, "learning_rate", c.learning_rate, 0.0, 1e300, false);
    c.momentum = read_number(r, "momentum", c.momentum, 0.0, 1.0, false);
    c.nesterov = r.get_bool("nesterov", c.nesterov);
    config = c;
  } else if (type == "RMSprop") {
    RmspropConfig c;
    c.learning_rate = read_number(r, "learning_rate", c.learning_rate, 0.0, 1e300, false);
    c.rho = read_number(r, "rho", c.rho, 0.0, 1.0, false);
    c.momentum = read_number(r, "momentum", c.momentum, 0.0, 1.0, false);
    c.epsilon = read_number(r, "epsilon", c.epsilon, 0.0, 1e300, false);
    c.centered = r.get_bool("centered", c.centered);
    config = c;
  } else {
    AdamConfig c;
    c.learning_rate = read_number(r, "learning_rate", c.learning_rate, 0.0, 1e300, false);
    c.beta_1 = read_number(r, "beta_1", c.beta_1, 0.0, 1.0, true);
    c.beta_2 = read_number(r, "beta_2", c.beta_2, 0.0, 1.0, true);
    c.epsilon = read_number(r, "epsilon", c.epsilon, 0.0, 1e300, false);
    c.amsgrad = r.get_bool("amsgrad", c.amsgrad);
    config = c;
  }
  r.finish();
  return config;
}

double learning_rate_of(const OptimizerConfig& config) {
  return std::visit([](const auto& c) { return c.learning_rate; }, config);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config) {
  struct Make {
    std::unique_ptr<Optimizer> operator()(const SgdConfig& c) { return std::make_unique<SGD>(c); }
    std::unique_ptr<Optimizer> operator()(const RmspropConfig& c) {
      return std::make_unique<RMSprop>(c);
    }
    std::unique_ptr<Optimizer> operator()(const AdamConfig& c) { return std::make_unique<Adam>(c); }
  };
  return std::visit(Make{}, config);
}

std::unique_ptr<Optimizer> make_optimizer(const json& cfg, const std::string& file,
                                          const std::string& pointer) {
  return make_optimizer(parse_optimizer(cfg, file, pointer));
}

// ---------------------------------------------------------------- L2

double l2_penalty(const float* values, std::size_t n, std::span<const Range> ranges,
                  double lambda) {
  check_ranges("l2_penalty", ranges, n);
  require(std::isfinite(lambda) && lambda >= 0.0, "l2", "lambda", "a finite number >= 0", lambda);
  double s = 0.0;
  for (const Range& r : ranges)
    for (std::size_t i = r.begin; i < r.end; ++i)
      s += static_cast<double>(values[i]) * static_cast<double>(values[i]);
  return lambda * s;
}

void add_l2_gradient(const float* values, float* grads, std::size_t n,
                     std::span<const Range> ranges, double lambda) {
  check_ranges("add_l2_gradient", ranges, n);
  require(std::isfinite(lambda) && lambda >= 0.0, "l2", "lambda", "a finite number >= 0", lambda);
  const float two_lambda = static_cast<float>(2.0 * lambda);
  for (const Range& r : ranges)
    for (std::size_t i = r.begin; i < r.end; ++i) grads[i] += two_lambda * values[i];
}

}  // namespace cnn::train
