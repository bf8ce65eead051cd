// Optimizers: three steps against the documented formulas computed here in double, Keras's own
// docstring examples, epsilon placement in RMSprop, frozen ranges, L2, state round trips, and
// configuration errors.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "tensor/error.hpp"
#include "train/optimizer.hpp"

using namespace cnn::train;
using cnn::json;

namespace {

// The toy problem: g_i = w_i - c_i (loss sum (w - c)^2 / 2), so gradients follow the weights.
const std::vector<double> kStart{1.0, -2.0, 0.5, 3.0};
const std::vector<double> kCentre{0.2, 0.1, -0.3, 0.0};

std::vector<double> grad_of(const std::vector<double>& w) {
  std::vector<double> g(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) g[i] = w[i] - kCentre[i];
  return g;
}

// Runs `steps` steps of opt on the toy problem over the given trainable ranges.
std::vector<float> run(Optimizer& opt, int steps, const std::vector<Range>& ranges,
                       std::vector<float> w = {}) {
  if (w.empty()) w.assign(kStart.begin(), kStart.end());
  for (int s = 0; s < steps; ++s) {
    const auto gd = grad_of(std::vector<double>(w.begin(), w.end()));
    const std::vector<float> g(gd.begin(), gd.end());
    opt.step(w.data(), g.data(), w.size(), ranges);
  }
  return w;
}

const std::vector<Range> kAll{{0, 4}};

// The reference: per-element update rule in double, applied for `steps` steps.
using Rule = std::function<void(std::size_t i, int t, double& w, double g)>;
std::vector<double> reference(int steps, const Rule& rule) {
  std::vector<double> w = kStart;
  for (int t = 1; t <= steps; ++t) {
    const auto g = grad_of(w);
    for (std::size_t i = 0; i < w.size(); ++i) rule(i, t, w[i], g[i]);
  }
  return w;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == doctest::Approx(want[i]).epsilon(2e-6));
  }
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("SGD: plain, momentum and nesterov for 3 steps") {
  SGD plain(SgdConfig{0.1, 0.0, false});
  check_close(run(plain, 3, kAll),
              reference(3, [](std::size_t, int, double& w, double g) { w -= 0.1 * g; }));
  CHECK(plain.slot_names().empty());
  CHECK(plain.iterations() == 3);

  for (const bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    SGD opt(SgdConfig{0.1, 0.9, nesterov});
    std::vector<double> v(4, 0.0);
    check_close(run(opt, 3, kAll), reference(3, [&](std::size_t i, int, double& w, double g) {
                  v[i] = 0.9 * v[i] - 0.1 * g;
                  w += nesterov ? 0.9 * v[i] - 0.1 * g : v[i];
                }));
    CHECK(opt.slot_names() == std::vector<std::string>{"sgd.momentum"});
  }

  // Keras docstring: SGD(0.1) on var = 1, loss var^2 / 2 -> 0.9; with momentum 0.9 the second
  // step is 0.18 long.
  SGD doc(SgdConfig{0.1, 0.9, false});
  std::vector<float> w{1.0f};
  std::vector<float> g{1.0f};
  doc.step(w.data(), g.data(), 1, std::vector<Range>{{0, 1}});
  CHECK(w[0] == doctest::Approx(0.9));
  g[0] = w[0];
  doc.step(w.data(), g.data(), 1, std::vector<Range>{{0, 1}});
  CHECK(0.9 - w[0] == doctest::Approx(0.18));
}

TEST_CASE("RMSprop: epsilon outside the sqrt without momentum, inside with it (TF 2.9/2.10)") {
  // A large epsilon makes the placement visible.
  const double lr = 0.01, rho = 0.9, eps = 0.1;
  for (const bool centered : {false, true}) {
    CAPTURE(centered);
    RMSprop opt(RmspropConfig{lr, rho, 0.0, eps, centered});
    std::vector<double> ms(4, 0.0), mg(4, 0.0);
    check_close(run(opt, 3, kAll), reference(3, [&](std::size_t i, int, double& w, double g) {
                  ms[i] = rho * ms[i] + (1 - rho) * g * g;
                  mg[i] = rho * mg[i] + (1 - rho) * g;
                  const double d = centered ? ms[i] - mg[i] * mg[i] : ms[i];
                  w -= lr * g / (std::sqrt(d) + eps);
                }));

    const double mu = 0.5;
    RMSprop mom(RmspropConfig{lr, rho, mu, eps, centered});
    std::vector<double> ms2(4, 0.0), mg2(4, 0.0), m(4, 0.0);
    check_close(run(mom, 3, kAll), reference(3, [&](std::size_t i, int, double& w, double g) {
                  ms2[i] = rho * ms2[i] + (1 - rho) * g * g;
                  mg2[i] = rho * mg2[i] + (1 - rho) * g;
                  const double d = centered ? ms2[i] - mg2[i] * mg2[i] : ms2[i];
                  m[i] = mu * m[i] + lr * g / std::sqrt(d + eps);
                  w -= m[i];
                }));
  }
  // And the two placements really differ here: the first step of each path.
  RMSprop a(RmspropConfig{lr, rho, 0.0, eps, false});
  const auto wa = run(a, 1, kAll);
  const double g0 = kStart[0] - kCentre[0], ms0 = (1 - rho) * g0 * g0;
  CHECK(wa[0] == doctest::Approx(kStart[0] - lr * g0 / (std::sqrt(ms0) + eps)));
  CHECK(wa[0] != doctest::Approx(kStart[0] - lr * g0 / std::sqrt(ms0 + eps)));

  // Keras docstring: RMSprop(0.1) on var = 10, loss var^2 / 2 -> 9.683772 after one step.
  RMSprop doc(RmspropConfig{0.1, 0.9, 0.0, 1e-7, false});
  std::vector<float> w{10.0f}, g{10.0f};
  doc.step(w.data(), g.data(), 1, std::vector<Range>{{0, 1}});
  CHECK(w[0] == doctest::Approx(9.683772));
  CHECK(RMSprop(RmspropConfig{0.1, 0.9, 0.5, 1e-7, true}).slot_names() ==
        std::vector<std::string>{"rmsprop.mg", "rmsprop.momentum", "rmsprop.ms"});
}

TEST_CASE("Adam: bias correction and amsgrad for 3 steps") {
  const double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-7;
  for (const bool amsgrad : {false, true}) {
    CAPTURE(amsgrad);
    Adam opt(AdamConfig{lr, b1, b2, eps, amsgrad});
    std::vector<double> m(4, 0.0), v(4, 0.0), vhat(4, 0.0);
    check_close(run(opt, 3, kAll), reference(3, [&](std::size_t i, int t, double& w, double g) {
                  const double lr_t = lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t));
                  m[i] = b1 * m[i] + (1 - b1) * g;
                  v[i] = b2 * v[i] + (1 - b2) * g * g;
                  vhat[i] = std::max(vhat[i], v[i]);
                  w -= lr_t * m[i] / (std::sqrt(amsgrad ? vhat[i] : v[i]) + eps);
                }));
  }
  // Keras docstring: Adam(0.1) on var = 10, loss var^2 / 2 -> 9.9 (first step is lr * sign(g)).
  Adam doc(AdamConfig{0.1, 0.9, 0.999, 1e-7, false});
  std::vector<float> w{10.0f}, g{10.0f};
  doc.step(w.data(), g.data(), 1, std::vector<Range>{{0, 1}});
  CHECK(w[0] == doctest::Approx(9.9));
}

TEST_CASE("frozen elements never move, even with momentum and weight decay") {
  const std::vector<Range> trainable{{0, 2}, {3, 4}};  // element 2 is frozen
  std::vector<std::unique_ptr<Optimizer>> opts;
  opts.push_back(std::make_unique<SGD>(SgdConfig{0.1, 0.9, true}));
  opts.push_back(std::make_unique<RMSprop>(RmspropConfig{0.1, 0.9, 0.9, 1e-7, true}));
  opts.push_back(std::make_unique<Adam>(AdamConfig{}));
  for (auto& opt : opts) {
    CAPTURE(opt->type());
    std::vector<float> w(kStart.begin(), kStart.end());
    for (int s = 0; s < 3; ++s) {
      std::vector<float> g{0.5f, -0.5f, 7.0f, 1.0f};
      add_l2_gradient(w.data(), g.data(), w.size(), kAll, 0.01);
      opt->step(w.data(), g.data(), w.size(), trainable);
    }
    CHECK(w[2] == static_cast<float>(kStart[2]));
    CHECK(w[0] != static_cast<float>(kStart[0]));
    CHECK(w[3] != static_cast<float>(kStart[3]));
    for (const auto& [name, buffer] : opt->state()) CHECK(buffer[2] == 0.0f);
  }
  // A step with nothing trainable changes nothing but the count.
  SGD sgd(SgdConfig{0.1, 0.0, false});
  std::vector<float> w{1.0f}, g{1.0f};
  sgd.step(w.data(), g.data(), 1, {});
  CHECK(w[0] == 1.0f);
  CHECK(sgd.iterations() == 1);
}

TEST_CASE("L2 weight decay: penalty lambda * sum(w^2), gradient 2 * lambda * w") {
  const std::vector<float> w{1.0f, -2.0f, 3.0f, 4.0f};
  const std::vector<Range> kernels{{1, 3}};
  CHECK(l2_penalty(w.data(), w.size(), kernels, 0.01) == doctest::Approx(0.01 * (4.0 + 9.0)));
  CHECK(l2_penalty(w.data(), w.size(), kAll, 0.5) == doctest::Approx(0.5 * 30.0));
  std::vector<float> g{1.0f, 1.0f, 1.0f, 1.0f};
  add_l2_gradient(w.data(), g.data(), w.size(), kernels, 0.01);
  CHECK(g == std::vector<float>{1.0f, 1.0f - 0.04f, 1.0f + 0.06f, 1.0f});
  // With plain SGD, decay shrinks the weight by lr * 2 * lambda * w.
  SGD sgd(SgdConfig{0.5, 0.0, false});
  std::vector<float> v{2.0f}, gz{0.0f};
  add_l2_gradient(v.data(), gz.data(), 1, std::vector<Range>{{0, 1}}, 0.1);
  sgd.step(v.data(), gz.data(), 1, std::vector<Range>{{0, 1}});
  CHECK(v[0] == doctest::Approx(2.0 - 0.5 * 2 * 0.1 * 2.0));
  CHECK_THROWS_AS(l2_penalty(w.data(), w.size(), std::vector<Range>{{2, 5}}, 0.1), cnn::Error);
  CHECK_THROWS_AS(l2_penalty(w.data(), w.size(), kAll, -1.0), cnn::Error);
}

TEST_CASE("optimizer state round trip continues exactly like an uninterrupted run") {
  const std::vector<json> configs = {
      json::parse(R"({"type": "SGD", "learning_rate": 0.05, "momentum": 0.8, "nesterov": true})"),
      json::parse(
          R"({"type": "RMSprop", "learning_rate": 0.01, "momentum": 0.3, "centered": true})"),
      json::parse(R"({"type": "Adam", "learning_rate": 0.02, "amsgrad": true})")};
  for (const auto& cfg : configs) {
    CAPTURE(cfg.dump());
    auto straight = make_optimizer(cfg);
    const auto w4 = run(*straight, 4, kAll);

    auto first = make_optimizer(cfg);
    first->set_learning_rate(first->learning_rate());
    const auto w2 = run(*first, 2, kAll);
    // The checkpoint: config JSON, slot buffers, iteration count.
    const json saved_config = json::parse(first->to_json().dump());
    const OptimizerState saved_state = first->state();
    auto resumed = make_optimizer(saved_config, "train.json", "/optimizer");
    CHECK(resumed->to_json() == first->to_json());
    resumed->load_state(saved_state, first->iterations(), 4, "checkpoint/optimizer.safetensors");
    CHECK(resumed->iterations() == 2);
    CHECK(run(*resumed, 2, kAll, w2) == w4);  // bit-identical
  }
}

TEST_CASE("restoring state of the wrong size, name or type is a FormatError sentence") {
  Adam adam;
  OptimizerState s{{"adam.m", std::vector<float>(3)}, {"adam.v", std::vector<float>(4)}};
  CHECK(message_of([&] { adam.load_state(s, 2, 4, "ck/opt.safetensors"); }) ==
        "ck/opt.safetensors: optimizer state 'adam.m': expected 4 values (the model's "
        "parameter count), got 3");
  CHECK_THROWS_AS(adam.load_state(s, 2, 4, "x"), cnn::FormatError);
  OptimizerState missing{{"adam.m", std::vector<float>(4)}};
  CHECK(message_of([&] { adam.load_state(missing, 2, 4, "x"); }) ==
        "x: optimizer state 'adam.v' is missing; Adam with this configuration keeps: adam.m, "
        "adam.v");
  OptimizerState rms{{"rmsprop.ms", std::vector<float>(4)}};
  CHECK(message_of([&] {
          adam.load_state(rms, 2, 4, "x");
        }).find("'rmsprop.ms' does not belong to Adam") != std::string::npos);
  OptimizerState good{{"adam.m", std::vector<float>(4)}, {"adam.v", std::vector<float>(4)}};
  CHECK_THROWS_AS(adam.load_state(good, -1, 4, "x"), cnn::FormatError);
  // The arena must not change size between steps.
  std::vector<float> w(4, 1.0f), g(4, 1.0f);
  adam.step(w.data(), g.data(), 4, kAll);
  CHECK_THROWS_AS(adam.step(w.data(), g.data(), 3, std::vector<Range>{{0, 3}}), cnn::Error);
  // Ranges out of the arena or out of order.
  CHECK_THROWS_AS(adam.step(w.data(), g.data(), 4, std::vector<Range>{{0, 5}}), cnn::Error);
  CHECK_THROWS_AS(adam.step(w.data(), g.data(), 4, std::vector<Range>{{2, 4}, {0, 1}}), cnn::Error);
  CHECK_THROWS_AS(adam.set_learning_rate(-1e-3), cnn::Error);
}

TEST_CASE("normalize_ranges sorts and merges") {
  CHECK(normalize_ranges({{5, 7}, {0, 2}, {2, 3}, {4, 4}, {6, 9}}) ==
        std::vector<Range>{{0, 3}, {5, 9}});
}

TEST_CASE("optimizer configs: Keras defaults, to_json writes every field, errors name the field") {
  auto rms = make_optimizer(json::parse(R"({"type": "RMSprop", "learning_rate": 1e-4})"));
  CHECK(rms->type() == "RMSprop");
  CHECK(rms->learning_rate() == 1e-4);
  CHECK(rms->to_json().dump() ==
        R"({"type":"RMSprop","learning_rate":0.0001,"rho":0.9,"momentum":0.0,"epsilon":1e-07,)"
        R"("centered":false})");
  CHECK(make_optimizer(json::parse(R"({"type": "SGD"})"))->to_json().dump() ==
        R"({"type":"SGD","learning_rate":0.01,"momentum":0.0,"nesterov":false})");
  CHECK(make_optimizer(json::parse(R"({"type": "Adam"})"))->to_json().dump() ==
        R"({"type":"Adam","learning_rate":0.001,"beta_1":0.9,"beta_2":0.999,"epsilon":1e-07,)"
        R"("amsgrad":false})");

  auto err = [](const char* text) {
    return message_of([&] { make_optimizer(json::parse(text), "train.json", "/optimizer"); });
  };
  CHECK(err(R"({"type": "RMSProp"})") ==
        "train.json: /optimizer/type: unknown value 'RMSProp'; expected one of Adam, RMSprop, "
        "SGD (did you mean 'RMSprop'?)");
  CHECK(err(R"({"type": "Adam", "learning_rate": -0.001})") ==
        "train.json: /optimizer/learning_rate: expected a number >= 0, got -0.001");
  CHECK(err(R"({"type": "SGD", "learning_rat": 0.1})")
            .starts_with("train.json: /optimizer/learning_rat: unknown field;"));
  CHECK(err(R"({"type": "SGD", "learning_rat": 0.1})").find("did you mean 'learning_rate'?") !=
        std::string::npos);
  CHECK(err(R"({"type": "SGD", "momentum": 1.5})") ==
        "train.json: /optimizer/momentum: expected a number in [0, 1], got 1.5");
  CHECK(err(R"({"type": "Adam", "beta_1": 1})") ==
        "train.json: /optimizer/beta_1: expected a number in [0, 1), got 1");
  CHECK(err(R"({"learning_rate": 0.1})") == "train.json: /optimizer/type: missing required field");
  CHECK(err(R"("adam")").find("expected a JSON object") != std::string::npos);
  CHECK_THROWS_AS(make_optimizer(json::parse(R"({"type": "RMSprop", "centered": 1})")),
                  cnn::ConfigError);
  CHECK_THROWS_AS(SGD(SgdConfig{-0.1, 0.0, false}), cnn::Error);
}
