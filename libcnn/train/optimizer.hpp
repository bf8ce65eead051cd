// Optimizers with the semantics and defaults of tf.keras 2.x (optimizer_v2, as in TF 2.9/2.10):
// SGD, RMSprop, Adam as flat loops over the model's parameter and gradient arenas, updating only
// the trainable ranges; their state (slot buffers + iterations) for checkpoints; L2 penalties.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "tensor/config.hpp"

namespace cnn::train {

// Elements [begin, end) of the parameter arena.
struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  bool operator==(const Range&) const = default;
};

// Sorted by begin, overlapping or touching ranges merged, empty ones dropped.
std::vector<Range> normalize_ranges(std::vector<Range> ranges);

// Slot buffers by name ("rmsprop.ms", "adam.m", ...): one float per arena element each.
using OptimizerState = std::map<std::string, std::vector<float>>;

// The base of the optimizers. One call to step() is one Keras apply_gradients():
//   for every element i inside the trainable ranges: update(w[i], g[i], slots[i]); iterations += 1
// Elements outside the ranges (frozen layers, moving statistics) are never read or written, nor
// is their slot state, so they stay put whatever their gradient, momentum or weight decay.
// Per-element maths runs in float, as TF's kernels do on float32 variables.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // The Keras class name: "SGD", "RMSprop", "Adam" (also the JSON "type").
  virtual std::string type() const = 0;
  // {"type": ..., "learning_rate": <configured>, every other field with its value}; fed back to
  // make_optimizer() it builds the same optimizer (with fresh state).
  virtual json_ordered to_json() const = 0;

  // The learning rate of the next step: the configured one until a schedule sets another.
  double learning_rate() const { return lr_; }
  // lr finite and >= 0 (cnn::Error otherwise). Schedules call this before each step.
  void set_learning_rate(double lr);

  // Steps done so far (Keras optimizer.iterations); Adam's bias correction uses t = iterations + 1.
  std::int64_t iterations() const { return iterations_; }

  // values, grads: the arenas (n floats each). trainable: sorted, disjoint ranges within [0, n)
  // (normalize_ranges makes them so; cnn::Error otherwise). The slot buffers are allocated (zeros)
  // on the first step; later steps need the same n (cnn::Error otherwise).
  void step(float* values, const float* grads, std::size_t n, std::span<const Range> trainable);

  // The names of the slot buffers this configuration keeps, e.g. {"rmsprop.ms"}.
  std::vector<std::string> slot_names() const;
  // The slot buffers (empty before the first step or load_state) for checkpoints.
  OptimizerState& state() { return slots_; }
  const OptimizerState& state() const { return slots_; }
  // Restores a checkpoint: exactly the slot_names() buffers, each of n values (the arena size),
  // and iterations >= 0. Throws FormatError(source, ...) naming the buffer, expected and got.
  void load_state(const OptimizerState& slots, std::int64_t iterations, std::size_t n,
                  const std::string& source);

 protected:
  Optimizer(double learning_rate, std::vector<std::string> slot_names);
  // Once per step before update(): per-step coefficients (Adam's bias correction).
  virtual void prepare_step() {}
  // Updates elements [begin, end) of w from g and the slots.
  virtual void update(float* w, const float* g, std::size_t begin, std::size_t end) = 0;
  float* slot(const std::string& name) { return slots_.at(name).data(); }

 private:
  double lr_;
  std::int64_t iterations_ = 0;
  OptimizerState slots_;
};

// tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.0, nesterov=False).
//   momentum == 0:  w = w - lr * g                              (ResourceApplyGradientDescent)
//   momentum > 0:   v = momentum * v - lr * g                   (ResourceApplyKerasMomentum,
//                   w = w + v                    (plain)          slot "sgd.momentum", v0 = 0)
//                   w = w + momentum * v - lr * g   (nesterov, with the new v)
struct SgdConfig {
  double learning_rate = 0.01;
  double momentum = 0.0;  // in [0, 1]
  bool nesterov = false;
};

class SGD final : public Optimizer {
 public:
  explicit SGD(const SgdConfig& config = SgdConfig{});
  std::string type() const override { return "SGD"; }
  json_ordered to_json() const override;
  const SgdConfig& config() const { return config_; }

 private:
  void update(float* w, const float* g, std::size_t begin, std::size_t end) override;
  SgdConfig config_;
};

// tf.keras.optimizers.RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
// centered=False), keras/optimizers/optimizer_v2/rmsprop.py as shipped with TF 2.9/2.10. That
// file takes two paths, and epsilon sits in a different place on each:
//   always:          ms = rho * ms + (1 - rho) * g^2            (slot "rmsprop.ms", ms0 = 0)
//   centered:        mg = rho * mg + (1 - rho) * g              (slot "rmsprop.mg", mg0 = 0)
//                    d  = ms - mg^2                 (otherwise d = ms)
//   momentum == 0:   w = w - lr * g / (sqrt(d) + epsilon)       (Python code: eps OUTSIDE sqrt)
//   momentum > 0:    mom = momentum * mom + lr * g / sqrt(d + epsilon)   (slot "rmsprop.momentum")
//                    w = w - mom        (ResourceApply[Centered]RMSProp kernel: eps INSIDE sqrt)
// The newer Keras optimizer (TF 2.11+) always puts epsilon inside the sqrt; this is the older one.
struct RmspropConfig {
  double learning_rate = 0.001;
  double rho = 0.9;       // in [0, 1]
  double momentum = 0.0;  // in [0, 1]
  double epsilon = 1e-7;  // >= 0
  bool centered = false;
};

class RMSprop final : public Optimizer {
 public:
  explicit RMSprop(const RmspropConfig& config = RmspropConfig{});
  std::string type() const override { return "RMSprop"; }
  json_ordered to_json() const override;
  const RmspropConfig& config() const { return config_; }

 private:
  void update(float* w, const float* g, std::size_t begin, std::size_t end) override;
  RmspropConfig config_;
};

// tf.keras.optimizers.Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
// amsgrad=False) (ResourceApplyAdam): with t = iterations + 1,
//   lr_t = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//   m = beta_1 * m + (1 - beta_1) * g                            (slot "adam.m", m0 = 0)
//   v = beta_2 * v + (1 - beta_2) * g^2                          (slot "adam.v", v0 = 0)
//   w = w - lr_t * m / (sqrt(v) + epsilon)     epsilon is the paper's "epsilon hat", outside sqrt
// amsgrad: vhat = max(vhat, v) (slot "adam.vhat") replaces v in the last line.
struct AdamConfig {
  double learning_rate = 0.001;
  double beta_1 = 0.9;    // in [0, 1)
  double beta_2 = 0.999;  // in [0, 1)
  double epsilon = 1e-7;  // >= 0
  bool amsgrad = false;
};

class Adam final : public Optimizer {
 public:
  explicit Adam(const AdamConfig& config = AdamConfig{});
  std::string type() const override { return "Adam"; }
  json_ordered to_json() const override;
  const AdamConfig& config() const { return config_; }

 private:
  void prepare_step() override;
  void update(float* w, const float* g, std::size_t begin, std::size_t end) override;
  AdamConfig config_;
  float lr_t_ = 0.0f;
};

// The optimizer type names: Adam, RMSprop, SGD.
const std::vector<std::string>& optimizer_types();

// One optimizer's settings, validated: which optimizer is the alternative held.
using OptimizerConfig = std::variant<SgdConfig, RmspropConfig, AdamConfig>;

// Reads {"type": "RMSprop", "learning_rate": 1e-4, ...}: Keras field names and defaults; unknown
// types (with "did you mean"), unknown keys and out-of-range values throw ConfigError naming
// file and field (pointer is the JSON pointer of cfg in file).
OptimizerConfig parse_optimizer(const json& cfg, const std::string& file = {},
                                const std::string& pointer = {});
double learning_rate_of(const OptimizerConfig& config);

// The optimizer the settings describe, with fresh state.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config);
// make_optimizer(parse_optimizer(cfg, file, pointer)).
std::unique_ptr<Optimizer> make_optimizer(const json& cfg, const std::string& file = {},
                                          const std::string& pointer = {});

// L2 regularisation as Keras's kernel_regularizer=l2(lambda), on the ranges the caller marks
// (e.g. the kernels of some layers):
//   penalty added to the reported loss:  lambda * sum(w^2)         (double accumulation)
//   gradient added after backward:       g += 2 * lambda * w
// Call add_l2_gradient between backward and step: momentum and Adam then see the regularised
// gradient, as in Keras. Ranges must lie within [0, n) (cnn::Error otherwise); lambda >= 0.
double l2_penalty(const float* values, std::size_t n, std::span<const Range> ranges, double lambda);
void add_l2_gradient(const float* values, float* grads, std::size_t n,
                     std::span<const Range> ranges, double lambda);

}  // namespace cnn::train
